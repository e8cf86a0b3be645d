/* Misuse a malloc must catch, one kind per argument:
 *   d  frees a block twice
 *   1  frees a pointer one byte into a block (misaligned)
 *   i  frees a pointer into the middle of a block (aligned)
 *   o  overwrites the 8 bytes below a payload (where the strategies keep their
 *      headers) and frees the block
 *   s, g, m  free a pointer that malloc never returned: on the stack, in a global, in
 *      a page of its own from mmap
 *   c  corrupts the heap behind the allocator's back (writes over a freed block and
 *      the word below it, as a use after free does), then allocates: the allocator
 *      trips over its own metadata. The blocks are larger than the thread caches
 *      keep, between live neighbours, and malloc_trim (a no-op for this purpose under
 *      glibc) first hands the freed one from the thread's list of deferred frees to
 *      the strategy, so that the write lands on the strategy's metadata
 * Without an argument: correct use, which prints "fine". */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static char global[64];

int main(int argc, char **argv) {
    char *keep = malloc(64);
    char *p = malloc(100);
    char *after = malloc(100);
    char stack[64];
    strcpy(keep, "fine");
    switch (argc > 1 ? argv[1][0] : 0) {
    case 'd': free(p); free(p); break;
    case '1': free(p + 1); break;
    case 'i': free(p + 16); break;
    case 'o': memset(p - 8, 0x41, 8); free(p); break;
    case 's': free(stack); break;
    case 'g': free(global); break;
    case 'm': {
        char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED) return 2;
        free(page);
        break;
    }
    case 'c': {
        char *big = malloc(2000), *guard = malloc(2000);
        free(big);
        malloc_trim(0);
        memset(big - 8, 0x7f, 24);
        char *q = malloc(2000);
        char *r = malloc(300);
        free(guard);
        printf("%p %p\n", (void *)q, (void *)r);
        break;
    }
    }
    puts(keep);
    free(after);
    return 0;
}
