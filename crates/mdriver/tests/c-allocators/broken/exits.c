/* exits.c: a broken fixture of mmlab's tests. mm_init gives up and calls exit(3), as
 * student code sometimes does on an "impossible" state: the driver reports the exit
 * status and races on. */
#include <stdio.h>
#include <stdlib.h>

#include "mm.h"
#include "memlib.h"

team_t team = {"broken", "Calls Exit", "exits@mmlab", "", ""};

int mm_init(void)
{
    fprintf(stderr, "exits.c: mm_init: giving up\n");
    exit(3); /* the flaw */
}

void *mm_malloc(size_t size)
{
    (void)size;
    return NULL;
}

void mm_free(void *ptr)
{
    (void)ptr;
}

void *mm_realloc(void *ptr, size_t size)
{
    (void)ptr;
    (void)size;
    return NULL;
}
