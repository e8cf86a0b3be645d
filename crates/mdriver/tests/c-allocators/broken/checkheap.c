/* checkheap.c: a broken fixture of mmlab's tests. A correct bump allocator with a
 * heap checker that finds fault once three blocks are live (as a checker with a wrong
 * invariant would): the race is correct without --check-heap, and with it, the
 * checker's non-zero result after the third allocation is the error. */
#include <string.h>

#include "mm.h"
#include "memlib.h"

team_t team = {"broken", "Heap Checker", "checkheap@mmlab", "", ""};

static int live;

int mm_init(void)
{
    live = 0;
    return 0;
}

void *mm_malloc(size_t size)
{
    size_t total = 8 + ((size + 7) & ~(size_t)7);
    char *p = mem_sbrk((int)total);

    if (p == (void *)-1)
        return NULL;
    *(size_t *)p = size;
    live++;
    return p + 8;
}

void mm_free(void *ptr)
{
    if (ptr)
        live--;
}

void *mm_realloc(void *ptr, size_t size)
{
    char *moved;
    size_t old;

    if (ptr == NULL)
        return mm_malloc(size);
    if (size == 0) {
        mm_free(ptr);
        return NULL;
    }
    if ((moved = mm_malloc(size)) == NULL)
        return NULL;
    old = ((size_t *)ptr)[-1];
    memcpy(moved, ptr, old < size ? old : size);
    mm_free(ptr);
    return moved;
}

/* 0 when the heap is consistent; the flaw: "at most two blocks are ever live". */
int mm_checkheap(int verbose)
{
    (void)verbose;
    return live > 2 ? 2 : 0;
}
