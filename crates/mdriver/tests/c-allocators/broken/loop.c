/* loop.c: a broken fixture of mmlab's tests. A bump allocator whose small-block path
 * searches a size class that a typo never lets it leave: mm_malloc of fewer than 16
 * bytes never returns. The driver stops it at --timeout and races on. */
#include <string.h>

#include "mm.h"
#include "memlib.h"

team_t team = {"broken", "Endless Loop", "loop@mmlab", "", ""};

static volatile size_t probes;

int mm_init(void)
{
    return 0;
}

void *mm_malloc(size_t size)
{
    size_t total = 8 + ((size + 7) & ~(size_t)7);
    char *p;

    for (size_t class = 0; size < 16 && class < 1; class *= 2) /* the flaw: 0 * 2 */
        probes++;
    if ((p = mem_sbrk((int)total)) == (void *)-1)
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
    if ((moved = mm_malloc(size)) == NULL)
        return NULL;
    old = ((size_t *)ptr)[-1];
    memcpy(moved, ptr, old < size ? old : size);
    return moved;
}
