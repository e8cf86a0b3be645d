/* overlap.c: a broken fixture of mmlab's tests. A bump allocator (every block gets
 * fresh heap; a size word in front of each payload), except that the second block it
 * hands out starts 8 bytes into the first: the driver reports the overlap. */
#include <string.h>

#include "mm.h"
#include "memlib.h"

team_t team = {"broken", "Overlapping Blocks", "overlap@mmlab", "", ""};

static int mallocs;
static char *first;

int mm_init(void)
{
    mallocs = 0;
    first = NULL;
    return 0;
}

void *mm_malloc(size_t size)
{
    size_t total = 8 + ((size + 7) & ~(size_t)7);
    char *p;

    if (++mallocs == 2)
        return first + 8; /* the flaw */
    if ((p = mem_sbrk((int)total)) == (void *)-1)
        return NULL;
    *(size_t *)p = size;
    if (mallocs == 1)
        first = p + 8;
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
