/* syntax.c: a broken fixture of mmlab's tests. It does not compile (a missing
 * semicolon): the driver shows the compiler's message and reports the allocator
 * failed on every trace, and races on. */
#include "mm.h"
#include "memlib.h"

team_t team = {"broken", "Syntax Error", "syntax@mmlab", "", ""};

int mm_init(void)
{
    return 0 /* the flaw */
}

void *mm_malloc(size_t size)
{
    return mem_sbrk((int)size);
}

void mm_free(void *ptr)
{
    (void)ptr;
}

void *mm_realloc(void *ptr, size_t size)
{
    (void)ptr;
    return mm_malloc(size);
}
