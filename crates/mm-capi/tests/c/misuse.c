/* Misuse of the classic interface, one kind per argument (as the preload library's
 * tests/c/misuse.c does for malloc):
 *   d  frees a block twice
 *   1  frees a pointer one byte into a block (misaligned)
 *   o  overwrites the 8 bytes below a payload (where the strategies keep their
 *      headers) and frees the block
 *   s, g, m  free a pointer that mm_malloc never returned: on the stack, in a global,
 *      in a page of its own from mmap
 *   c  corrupts the heap behind the allocator's back (writes over a freed block and
 *      the word below it, as a use after free does), then allocates: the allocator
 *      trips over its own metadata
 * Without an argument: correct use, which prints "fine". */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include "memlib.h"
#include "mm.h"

static char global[64];

int main(int argc, char **argv) {
    mem_init();
    if (mm_init() != 0) return 2;
    char *keep = mm_malloc(64);
    char *p = mm_malloc(100);
    char *after = mm_malloc(100);
    char stack[64];
    strcpy(keep, "fine");
    switch (argc > 1 ? argv[1][0] : 0) {
    case 'd': mm_free(p); mm_free(p); break;
    case '1': mm_free(p + 1); break;
    case 'o': memset(p - 8, 0x41, 8); mm_free(p); break;
    case 's': mm_free(stack); break;
    case 'g': mm_free(global); break;
    case 'm': {
        char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED) return 2;
        mm_free(page);
        break;
    }
    case 'c': {
        mm_free(p);
        memset(p - 8, 0x7f, 24);
        char *q = mm_malloc(100);
        char *r = mm_malloc(300);
        printf("%p %p\n", (void *)q, (void *)r);
        break;
    }
    }
    puts(keep);
    mm_free(after);
    return 0;
}
