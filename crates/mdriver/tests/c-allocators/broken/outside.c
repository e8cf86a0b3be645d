/* outside.c: a broken fixture of mmlab's tests. A bump allocator that asks mem_sbrk
 * for the header only and hands out the payload behind it, past the break: a program
 * writing to the block, or the allocator writing a footer, would write outside the
 * heap. The driver reports the first block as not inside the heap. */
#include <string.h>

#include "mm.h"
#include "memlib.h"

team_t team = {"broken", "Outside The Heap", "outside@mmlab", "", ""};

int mm_init(void)
{
    return 0;
}

void *mm_malloc(size_t size)
{
    char *p = mem_sbrk(8); /* the flaw: the payload's bytes are never asked for */

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
    (void)ptr;
    return size ? mm_malloc(size) : NULL;
}
