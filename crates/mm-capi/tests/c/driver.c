/* A small malloc-lab driver in C, written only against mm.h and memlib.h: it runs
 * three rounds (reset, init, allocate, check, realloc, free) and checks each block is
 * aligned, inside [mem_heap_lo, mem_heap_hi], and keeps its bytes. It prints one line
 * per check and exits non-zero on the first failure. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "memlib.h"
#include "mm.h"

#define N 200

static int failures = 0;

static void check(int ok, const char *what) {
    if (!ok) {
        printf("FAIL %s\n", what);
        failures++;
    }
}

static int inside(void *p, size_t size) {
    char *lo = mem_heap_lo(), *hi = mem_heap_hi();
    return (char *)p >= lo && (char *)p + size - 1 <= hi;
}

int main(void) {
    /* The classic driver prints the team an mm.c defines: libmm defines one. */
    check(team.teamname[0] != '\0' && team.name1[0] != '\0' && team.id1[0] != '\0', "team is filled in");
    check(team.name2[0] == '\0' && team.id2[0] == '\0', "a team of one");
    printf("team %s: %s (%s)\n", team.teamname, team.name1, team.id1);
    mem_init();
    for (int round = 0; round < 3; round++) {
        void *blocks[N];
        size_t sizes[N];
        mem_reset_brk();
        check(mm_init() == 0, "mm_init");
        for (int i = 0; i < N; i++) {
            sizes[i] = 1 + (size_t)((i * 7919 + round * 31) % 2000);
            blocks[i] = mm_malloc(sizes[i]);
            check(blocks[i] != NULL, "mm_malloc returns a block");
            check(((uintptr_t)blocks[i] % 16) == 0, "payloads are 16-byte aligned");
            check(inside(blocks[i], sizes[i]), "blocks lie inside the heap");
            memset(blocks[i], i & 0xff, sizes[i]);
        }
        for (int i = 0; i < N; i += 2) {
            mm_free(blocks[i]);
            blocks[i] = NULL;
        }
        for (int i = 1; i < N; i += 2) {
            size_t grown = sizes[i] * 2 + 10;
            unsigned char *q = mm_realloc(blocks[i], grown);
            check(q != NULL, "mm_realloc grows");
            for (size_t k = 0; k < sizes[i]; k++) {
                if (q[k] != (unsigned char)(i & 0xff)) {
                    check(0, "mm_realloc keeps the bytes");
                    break;
                }
            }
            blocks[i] = q;
        }
        for (int i = 1; i < N; i += 2) mm_free(blocks[i]);
        check(mm_realloc(NULL, 64) != NULL, "mm_realloc(NULL, n) allocates");
        printf("round %d: heap %zu bytes\n", round, mem_heapsize());
    }
    errno = 0;
    check(mem_sbrk(-1) == (void *)-1 && errno == ENOMEM, "mem_sbrk(-1) fails with ENOMEM");
    check(mem_pagesize() == 4096, "mem_pagesize");
    mem_deinit();
    printf(failures ? "FAILED\n" : "ok\n");
    return failures != 0;
}
