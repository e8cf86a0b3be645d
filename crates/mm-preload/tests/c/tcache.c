/* The thread caches under LD_PRELOAD. Prints "ok" when every part passed:
 *   1. alone first: the process allocates with one thread (the lock runs without
 *      atomics), then starts the others;
 *   2. four threads exit holding cached blocks: while they wait, the caches hold
 *      something (and no more than four caps); once joined, nothing;
 *   3. two pairs of threads pass every block they allocate to their partner, both
 *      ways, at a high rate; callocs of recycled blocks read as zeros;
 *   4. malloc_trim gives this thread's cache back (1), then has nothing to give (0);
 *   5. fork while threads churn: the child allocates, its copy of the other threads'
 *      caches is returned (after malloc_trim it holds nothing), and it exits cleanly.
 * mmlab_cache_held_bytes is found with dlsym; under glibc (no such function) those
 * checks are skipped, so the program also runs as its own reference. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP (128 << 10)
#define MAX_CACHED 1024
#define QUEUE 256

static size_t (*held_fn)(void);
static long held(void) { return held_fn ? (long)held_fn() : -1; }
static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); failures++; } } while (0)

static uint64_t next(uint64_t *x) { *x ^= *x << 13; *x ^= *x >> 7; *x ^= *x << 17; return *x; }

static void fill(unsigned char *p, size_t n, unsigned char tag) { for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(tag + i); }
static int intact(const unsigned char *p, size_t n, unsigned char tag) {
    for (size_t i = 0; i < n; i++) if (p[i] != (unsigned char)(tag + i)) return 0;
    return 1;
}

/* ---- 2. threads that exit holding cached blocks ---- */
static pthread_barrier_t freed, leave;
static void *hold_and_exit(void *arg) {
    uint64_t x = 77 + (uintptr_t)arg;
    unsigned char *b[300];
    for (int i = 0; i < 300; i++) { size_t n = 1 + next(&x) % MAX_CACHED; b[i] = malloc(n); fill(b[i], n, (unsigned char)i); }
    for (int i = 0; i < 300; i++) free(b[i]);
    pthread_barrier_wait(&freed);
    pthread_barrier_wait(&leave);
    return NULL;
}

/* ---- 3. blocks crossing threads both ways ---- */
struct block { unsigned char *p; size_t n; unsigned char tag; };
struct queue { pthread_mutex_t lock; struct block items[QUEUE]; int head, len, closed; };
static struct queue queues[4];
static long corrupted, dirty;

static int put(struct queue *q, struct block b) {
    pthread_mutex_lock(&q->lock);
    int ok = q->len < QUEUE;
    if (ok) q->items[(q->head + q->len++) % QUEUE] = b;
    pthread_mutex_unlock(&q->lock);
    return ok;
}
static int take(struct queue *q, struct block *b, int *closed) {
    pthread_mutex_lock(&q->lock);
    int ok = q->len > 0;
    if (ok) { *b = q->items[q->head]; q->head = (q->head + 1) % QUEUE; q->len--; }
    *closed = q->closed;
    pthread_mutex_unlock(&q->lock);
    return ok;
}
static void release(struct block *b) {
    if (!intact(b->p, b->n, b->tag)) __atomic_add_fetch(&corrupted, 1, __ATOMIC_RELAXED);
    free(b->p);
}
static void *cross(void *arg) {
    int me = (int)(uintptr_t)arg, partner = me ^ 1;
    uint64_t x = 1000 + me;
    struct block b;
    int closed;
    for (int i = 0; i < 100000; i++) {
        size_t n = 1 + next(&x) % (MAX_CACHED + 100);
        if (i % 7 == 0) {
            unsigned char *z = calloc(1, n);
            for (size_t k = 0; k < n; k++) if (z[k]) { __atomic_add_fetch(&dirty, 1, __ATOMIC_RELAXED); break; }
            free(z);
        }
        struct block mine = { malloc(n), n, (unsigned char)(i ^ me) };
        fill(mine.p, n, mine.tag);
        while (!put(&queues[partner], mine))
            if (take(&queues[me], &b, &closed)) release(&b);
        while (take(&queues[me], &b, &closed)) release(&b);
    }
    pthread_mutex_lock(&queues[partner].lock);
    queues[partner].closed = 1;
    pthread_mutex_unlock(&queues[partner].lock);
    for (;;) {
        if (take(&queues[me], &b, &closed)) release(&b);
        else if (closed) break;
    }
    return NULL;
}

/* ---- 5. fork while threads churn ---- */
static volatile int stop;
static void *churn(void *arg) {
    uint64_t x = 5 + (uintptr_t)arg;
    unsigned char *live[64] = {0};
    while (!stop) {
        int k = (int)(next(&x) % 64);
        free(live[k]);
        size_t n = 1 + next(&x) % MAX_CACHED;
        live[k] = malloc(n);
        fill(live[k], n, 1);
    }
    for (int k = 0; k < 64; k++) free(live[k]);
    return NULL;
}

int main(void) {
    held_fn = (size_t (*)(void))dlsym(RTLD_DEFAULT, "mmlab_cache_held_bytes");

    /* 1. alone first */
    unsigned char *early[2000];
    for (int i = 0; i < 2000; i++) { early[i] = malloc(1 + i % 1500); fill(early[i], 1 + i % 1500, (unsigned char)i); }
    for (int i = 0; i < 2000; i += 2) free(early[i]);

    /* 2 */
    pthread_t t[4];
    pthread_barrier_init(&freed, NULL, 5);
    pthread_barrier_init(&leave, NULL, 5);
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, hold_and_exit, (void *)(uintptr_t)i);
    pthread_barrier_wait(&freed);
    long h = held();
    CHECK(h != 0 && h <= 4L * CAP + CAP, "held while the threads wait: %ld", h);
    pthread_barrier_wait(&leave);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    h = held();
    /* This thread's own cache may hold blocks of part 1: flush it first. */
    malloc_trim(0);
    h = held();
    CHECK(h <= 0, "held after the threads exited: %ld", h);

    /* 3 */
    for (int i = 0; i < 4; i++) pthread_mutex_init(&queues[i].lock, NULL);
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, cross, (void *)(uintptr_t)i);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    CHECK(corrupted == 0, "%ld blocks corrupted crossing threads", corrupted);
    CHECK(dirty == 0, "%ld callocs were not zero", dirty);
    for (int i = 1; i < 2000; i += 2) { CHECK(intact(early[i], 1 + i % 1500, (unsigned char)i), "early block %d", i); free(early[i]); }

    /* 4 */
    void *p = malloc(100);
    free(p);
    if (held_fn) {
        CHECK(malloc_trim(0) == 1, "malloc_trim with a cached block");
        CHECK(malloc_trim(0) == 0, "malloc_trim with nothing cached");
        CHECK(held() == 0, "held after malloc_trim: %ld", held());
    }

    /* 5 */
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)i);
    for (int round = 0; round < 20; round++) {
        usleep(2000);
        pid_t pid = fork();
        if (pid == 0) {
            int ok = 1;
            for (int i = 0; i < 1000; i++) {
                unsigned char *q = calloc(1, 1 + i % 2000);
                for (int k = 0; k < 1 + i % 2000; k++) ok &= q[k] == 0;
                fill(q, 1 + i % 2000, 3);
                free(q);
            }
            if (held_fn) { malloc_trim(0); ok &= held() == 0; }
            _exit(ok ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork round %d: child failed", round);
    }
    stop = 1;
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);

    if (failures) return 1;
    puts("ok");
    return 0;
}
