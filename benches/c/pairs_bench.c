/* malloc/free pairs, as issue 15 describes them: each thread keeps 256 live blocks of
 * 16 to 528 bytes, and repeatedly frees a random one and allocates a new one of a
 * random size in its place (writing its first byte, as a program would). Prints the
 * total pairs per second over all threads.
 *
 *   pairs_bench THREADS [PAIRS_PER_THREAD]
 *
 * Run it under LD_PRELOAD=<a malloc>.so to measure that malloc; `just pairs` runs the
 * table of docs/preload.md. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define LIVE 256

static long pairs = 20000000;

static void *worker(void *arg) {
    uint64_t x = 0x9E3779B97F4A7C15ull ^ (uintptr_t)arg;
    unsigned char *live[LIVE];
    for (int i = 0; i < LIVE; i++) live[i] = malloc(16 + i * 2);
    for (long n = 0; n < pairs; n++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        unsigned slot = (unsigned)(x % LIVE);
        size_t size = 16 + (size_t)((x >> 16) % 513);
        free(live[slot]);
        live[slot] = malloc(size);
        live[slot][0] = (unsigned char)n;
    }
    for (int i = 0; i < LIVE; i++) free(live[i]);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2) pairs = atol(argv[2]);
    pthread_t t[256];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%d threads: %.1f M pairs/s\n", threads, threads * (double)pairs / s / 1e6);
    return 0;
}
