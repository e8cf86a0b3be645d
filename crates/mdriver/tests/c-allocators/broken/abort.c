/* abort.c: a broken fixture of mmlab's tests. A bump allocator with an assertion on
 * an assumption that does not hold (that realloc never grows a block past 64 bytes):
 * the assertion fails, prints its message and aborts. The driver reports SIGABRT with
 * what the allocator printed. */
#include <assert.h>
#include <string.h>

#include "mm.h"
#include "memlib.h"

team_t team = {"broken", "Failed Assertion", "abort@mmlab", "", ""};

int mm_init(void)
{
    return 0;
}

void *mm_malloc(size_t size)
{
    size_t total = 8 + ((size + 7) & ~(size_t)7);
    char *p = mem_sbrk((int)total);

    if (p == (void *)-1)
        return NULL;
    *(size_t *)p = size;
    return p + 8;
}

void mm_free(void *ptr)
{
    (void)ptr;
}

void *mm_realloc(void *ptr, size_t size)
{
    char *moved;
    size_t old;

    if (ptr == NULL)
        return mm_malloc(size);
    if (size == 0)
        return NULL;
    assert(size <= 64 && "blocks never grow past 64 bytes"); /* the flaw */
    if ((moved = mm_malloc(size)) == NULL)
        return NULL;
    old = ((size_t *)ptr)[-1];
    memcpy(moved, ptr, old < size ? old : size);
    return moved;
}
