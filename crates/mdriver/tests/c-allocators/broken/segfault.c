/* segfault.c: a broken fixture of mmlab's tests. A bump allocator that, on free,
 * pushes the block onto a free list whose head it follows without checking for NULL:
 * the first mm_free dereferences a null pointer and dies of SIGSEGV. The driver
 * reports the signal, the function and the op, and races on. */
#include <string.h>

#include "mm.h"
#include "memlib.h"

team_t team = {"broken", "Segmentation Fault", "segfault@mmlab", "", ""};

struct node {
    struct node *next;
};

static struct node *free_list;

int mm_init(void)
{
    free_list = NULL;
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
    if (ptr == NULL)
        return;
    /* the flaw: the list's head is NULL until something is on it */
    ((struct node *)ptr)->next = free_list->next;
    free_list->next = ptr;
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
