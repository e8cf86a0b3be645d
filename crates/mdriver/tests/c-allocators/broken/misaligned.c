/* misaligned.c: a broken fixture of mmlab's tests. A bump allocator whose payloads
 * sit 4 bytes past the 8-byte alignment (a 12-byte header where 8 or 16 was meant):
 * the driver reports the first block as misaligned. */
#include <string.h>

#include "mm.h"
#include "memlib.h"

team_t team = {"broken", "Misaligned Payloads", "misaligned@mmlab", "", ""};

#define HEADER 12 /* the flaw: not a multiple of 8 */

int mm_init(void)
{
    return 0;
}

void *mm_malloc(size_t size)
{
    size_t total = HEADER + ((size + 7) & ~(size_t)7) + 4;
    char *p = mem_sbrk((int)total);

    if (p == (void *)-1)
        return NULL;
    *(size_t *)p = size;
    return p + HEADER;
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
    old = *(size_t *)((char *)ptr - HEADER);
    memcpy(moved, ptr, old < size ? old : size);
    return moved;
}
