/* 8 threads allocate blocks (malloc, calloc, memalign), fill them with a pattern naming
 * their owner, and pass half of them to the next thread in a ring, which checks the
 * pattern, sometimes reallocs (checking the kept prefix) and frees. Thread 0 also
 * forks now and then; each child allocates and exits. Prints "ok <allocated> <freed>"
 * when nothing was lost or corrupted. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 8
#define BLOCKS 20000
#define QUEUE 1024

struct block { unsigned char *p; size_t size; unsigned char tag; };
struct queue { pthread_mutex_t lock; struct block items[QUEUE]; int head, len; };

static struct queue queues[THREADS];
static long allocated[THREADS], freed[THREADS], corrupted, forks_failed;
static int done[THREADS];

static void fill(struct block *b) { for (size_t i = 0; i < b->size; i++) b->p[i] = (unsigned char)(b->tag + i); }
static int intact(const struct block *b, size_t n) {
    for (size_t i = 0; i < n; i++) if (b->p[i] != (unsigned char)(b->tag + i)) return 0;
    return 1;
}
static int push(struct queue *q, struct block b) {
    pthread_mutex_lock(&q->lock);
    int ok = q->len < QUEUE;
    if (ok) q->items[(q->head + q->len++) % QUEUE] = b;
    pthread_mutex_unlock(&q->lock);
    return ok;
}
static int pop(struct queue *q, struct block *b) {
    pthread_mutex_lock(&q->lock);
    int ok = q->len > 0;
    if (ok) { *b = q->items[q->head]; q->head = (q->head + 1) % QUEUE; q->len--; }
    pthread_mutex_unlock(&q->lock);
    return ok;
}
static void release(int t, struct block *b, unsigned *seed) {
    if (!intact(b, b->size)) __atomic_add_fetch(&corrupted, 1, __ATOMIC_RELAXED);
    if (rand_r(seed) % 4 == 0) {
        size_t n = 1 + rand_r(seed) % 5000, kept = n < b->size ? n : b->size;
        b->p = realloc(b->p, n);
        if (!b->p || !intact(b, kept)) { __atomic_add_fetch(&corrupted, 1, __ATOMIC_RELAXED); return; }
    }
    free(b->p);
    freed[t]++;
}

static void *worker(void *arg) {
    int t = (int)(intptr_t)arg;
    unsigned seed = 12345u + (unsigned)t;
    struct queue *next = &queues[(t + 1) % THREADS], *mine = &queues[t];
    struct block b;
    for (int i = 0; i < BLOCKS; i++) {
        size_t size = 1 + rand_r(&seed) % 3000;
        int kind = rand_r(&seed) % 10;
        unsigned char *p = kind == 0 ? calloc(1, size) : kind == 1 ? memalign(64, size) : malloc(size);
        if (!p) { __atomic_add_fetch(&corrupted, 1, __ATOMIC_RELAXED); continue; }
        allocated[t]++;
        struct block nb = { p, size, (unsigned char)(t * 37 + i) };
        fill(&nb);
        if (i % 2 == 0 && push(next, nb)) {
        } else {
            release(t, &nb, &seed);
        }
        while (pop(mine, &b)) release(t, &b, &seed);
        if (t == 0 && i % 2000 == 0) {
            pid_t pid = fork();
            if (pid == 0) {
                char *c = malloc(10000);
                memset(c, 1, 10000);
                free(c);
                _exit(0);
            }
            int status = 0;
            waitpid(pid, &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) __atomic_add_fetch(&forks_failed, 1, __ATOMIC_RELAXED);
        }
    }
    __atomic_store_n(&done[t], 1, __ATOMIC_RELEASE);
    /* Keep draining until the previous thread is done and our queue is empty. */
    int prev = (t + THREADS - 1) % THREADS;
    for (;;) {
        int finished = __atomic_load_n(&done[prev], __ATOMIC_ACQUIRE);
        while (pop(mine, &b)) release(t, &b, &seed);
        if (finished) { while (pop(mine, &b)) release(t, &b, &seed); break; }
        sched_yield();
    }
    return NULL;
}

int main(void) {
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_mutex_init(&queues[t].lock, NULL);
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    long a = 0, f = 0;
    for (int t = 0; t < THREADS; t++) { a += allocated[t]; f += freed[t]; }
    int ok = a == f && corrupted == 0 && forks_failed == 0 && a == (long)THREADS * BLOCKS;
    printf("%s %ld %ld corrupted=%ld forks_failed=%ld\n", ok ? "ok" : "failed", a, f, corrupted, forks_failed);
    return !ok;
}
