/* missing.c: a broken fixture of mmlab's tests. It compiles, but defines no
 * mm_realloc: the driver names what is missing and reports the allocator failed. */
#include "mm.h"
#include "memlib.h"

team_t team = {"broken", "Missing Function", "missing@mmlab", "", ""};

int mm_init(void)
{
    return 0;
}

void *mm_malloc(size_t size)
{
    char *p = mem_sbrk((int)((size + 7) & ~(size_t)7));
    return p == (void *)-1 ? NULL : p;
}

void mm_free(void *ptr)
{
    (void)ptr;
}
