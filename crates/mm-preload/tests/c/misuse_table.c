/* One heap misuse per run, named by argv[1] (with a byte count in argv[2] for the
 * overflows): the rows of the misuse table in docs/reliability.md, which the test
 * `the_misuse_table` in real_programs.rs runs under glibc and under every build of the
 * preload library. A run that reaches the end prints "survived"; a double free whose
 * block is then handed out twice prints "same block twice". Any other outcome is the
 * allocator's: an abort with a message, or a crash. Without an argument: correct use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/mman.h>

static char global_buffer[64];

/* Where results go, so that the compiler keeps every call. */
static void *volatile sink;

/* Keeps the compiler from proving anything about the pointers we misuse. */
static void *opaque(void *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "none";
    size_t bytes = argc > 2 ? (size_t)atoi(argv[2]) : 8;
    char *keep = malloc(64);
    char *p = malloc(40);
    char *n = malloc(40);
    char *guard = malloc(40);
    strcpy(keep, "fine");
    if (!strcmp(what, "double-free")) {
        free(p);
        free(opaque(p));
        char *a = malloc(40), *b = malloc(40);
        if (a == b) puts("same block twice");
    } else if (!strcmp(what, "free-interior-1")) {
        free(opaque(p + 1));
    } else if (!strcmp(what, "free-interior-16")) {
        free(opaque(p + 16));
    } else if (!strcmp(what, "free-stack")) {
        char buffer[64];
        free(opaque(buffer + 16));
    } else if (!strcmp(what, "free-global")) {
        free(opaque(global_buffer + 16));
    } else if (!strcmp(what, "free-mmap")) {
        char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        free(opaque(page + 16));
    } else if (!strcmp(what, "realloc-freed")) {
        free(p);
        char *q = realloc(opaque(p), 100);
        if (q) memset(q, 1, 100);
    } else if (!strcmp(what, "write-after-free")) {
        /* The freed block's first bytes are its list links in most allocators: make
         * them point far away (9 GiB above a 32-bit link's base, as issue 11 did). */
        free(n);
        unsigned int far[2] = {0x48000000u, 0x48000000u};
        memcpy(opaque(n), far, sizeof far);
        sink = malloc(40);
        sink = malloc(40);
    } else if (!strcmp(what, "overflow-into-free")) {
        /* 0x5a has bit 3 set, which no header of a 16-byte-aligned size has: the
         * overflow always changes what it overwrites. */
        free(n);
        memset(p + malloc_usable_size(p), 0x5a, bytes);
        sink = malloc(20);
        sink = malloc(20);
        free(p);
    } else if (!strcmp(what, "overflow-into-used")) {
        memset(p + malloc_usable_size(p), 0x5a, bytes);
        free(p);
        free(n);
    } else if (!strcmp(what, "header-below")) {
        memset(p - 8, 0x41, 8);
        free(p);
    } else if (strcmp(what, "none")) {
        fprintf(stderr, "unknown misuse %s\n", what);
        return 2;
    }
    free(guard);
    char *after = malloc(100);
    memset(after, 2, 100);
    free(after);
    if (strcmp(keep, "fine")) puts("a live block changed");
    puts("survived");
    return 0;
}
