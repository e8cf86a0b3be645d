/* The C library's malloc contract, checked from C. Run under LD_PRELOAD with the
 * preload library; prints one line per failed check and "ok N" at the end. (Against
 * glibc before 2.38 one check fails: it accepts aligned_alloc(24, ...).) */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Failed reallocs leave the old block valid; GCC 12 cannot know that statically. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

static int failures, checks;

/* Sizes the compiler cannot see, so that it does not reject the impossible requests. */
static volatile size_t huge = SIZE_MAX - 8, half = SIZE_MAX / 2, quarter = SIZE_MAX / 4,
                       two33 = (size_t)1 << 33;

#define CHECK(cond)                                                        \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            printf("FAIL line %d: %s\n", __LINE__, #cond);                 \
        }                                                                  \
    } while (0)

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static void *churn(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *live[64] = {0};
    size_t sizes[64] = {0};
    for (int i = 0; i < 20000; i++) {
        int k = rand_r(&seed) % 64;
        if (live[k]) {
            unsigned char *b = live[k];
            for (size_t j = 0; j < sizes[k]; j++)
                if (b[j] != (unsigned char)(k + j)) return (void *)1;
            free(live[k]);
        }
        sizes[k] = 1 + rand_r(&seed) % 2000;
        live[k] = malloc(sizes[k]);
        if (!live[k]) return (void *)1;
        for (size_t j = 0; j < sizes[k]; j++) ((unsigned char *)live[k])[j] = (unsigned char)(k + j);
    }
    for (int k = 0; k < 64; k++) free(live[k]);
    return NULL;
}

/* errno must survive free() and successful allocations, even under contention
 * (POSIX.1-2024 for free; what glibc does for both). */
static void *keeps_errno(void *arg) {
    (void)arg;
    long changed = 0;
    for (int i = 0; i < 20000; i++) {
        errno = 1234;
        void *p = malloc(1 + i % 500);
        changed += errno != 1234;
        errno = 4321;
        free(p);
        changed += errno != 4321;
    }
    return (void *)changed;
}

int main(void) {
    /* malloc: 16-byte alignment, distinct non-null results for 0 bytes. */
    void *a = malloc(0), *b = malloc(0);
    CHECK(a && b && a != b);
    free(a);
    free(b);
    for (size_t n = 1; n < 5000; n += 97) {
        char *p = malloc(n);
        CHECK(p && aligned_to(p, 16));
        CHECK(malloc_usable_size(p) >= n);
        memset(p, 0x5a, n);
        free(p);
    }
    CHECK(malloc_usable_size(NULL) == 0);
    free(NULL);

    /* Exhaustion and overflow: null with ENOMEM, never a short block. */
    errno = 0;
    CHECK(malloc(huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(half, 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(two33, two33) == NULL && errno == ENOMEM);
    char *keep = malloc(32);
    strcpy(keep, "still here");
    errno = 0;
    CHECK(reallocarray(keep, quarter, 8) == NULL && errno == ENOMEM);
    CHECK(strcmp(keep, "still here") == 0);
    errno = 0;
    CHECK(realloc(keep, huge) == NULL && errno == ENOMEM);
    CHECK(strcmp(keep, "still here") == 0);

    /* calloc zeroes, even memory that was used before. */
    char *dirty = malloc(4096);
    memset(dirty, 0xff, 4096);
    free(dirty);
    unsigned char *z = calloc(512, 8);
    int zero = 1;
    for (int i = 0; i < 4096; i++) zero &= z[i] == 0;
    CHECK(zero);
    free(z);

    /* realloc keeps the bytes; realloc(NULL, n) allocates; realloc(p, 0) frees. */
    char *r = realloc(NULL, 10);
    CHECK(r != NULL);
    memcpy(r, "0123456789", 10);
    r = realloc(r, 100000);
    CHECK(r && memcmp(r, "0123456789", 10) == 0 && aligned_to(r, 16));
    r = realloc(r, 5);
    CHECK(r && memcmp(r, "01234", 5) == 0);
    r = reallocarray(r, 100, 10);
    CHECK(r && memcmp(r, "01234", 5) == 0 && malloc_usable_size(r) >= 1000);
    CHECK(realloc(r, 0) == NULL);

    /* The aligned family. */
    void *p = NULL;
    CHECK(posix_memalign(&p, 3, 16) == EINVAL && p == NULL);
    CHECK(posix_memalign(&p, 4, 16) == EINVAL && p == NULL);
    for (size_t align = 8; align <= 1 << 16; align <<= 1) {
        CHECK(posix_memalign(&p, align, 100) == 0 && p && aligned_to(p, align));
        CHECK(malloc_usable_size(p) >= 100);
        memset(p, 1, 100);
        void *q = aligned_alloc(align, 3 * align);
        CHECK(q && aligned_to(q, align));
        void *m = memalign(align, 7);
        CHECK(m && aligned_to(m, align));
        p = realloc(p, 300);
        CHECK(p && ((unsigned char *)p)[99] == 1);
        free(p);
        free(q);
        free(m);
    }
    errno = 0;
    CHECK(aligned_alloc(24, 48) == NULL && errno == EINVAL);
    void *m = memalign(24, 10); /* rounded up to 32, as glibc does */
    CHECK(m && aligned_to(m, 32));
    free(m);
    long page = sysconf(_SC_PAGESIZE);
    void *v = valloc(10);
    CHECK(v && aligned_to(v, page));
    free(v);
    void *pv = pvalloc(page + 1);
    CHECK(pv && aligned_to(pv, page) && malloc_usable_size(pv) >= (size_t)(2 * page));
    free(pv);
    errno = 0;
    CHECK(memalign(64, huge - 92) == NULL && errno == ENOMEM);

    /* Threads, then fork while they run: the child's heap works. */
    pthread_t threads[4];
    for (int t = 0; t < 4; t++) pthread_create(&threads[t], NULL, churn, (void *)(uintptr_t)(t + 1));
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *c = malloc(1000);
            memset(c, 7, 1000);
            free(c);
            _exit(churn((void *)99) == NULL ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int t = 0; t < 4; t++) {
        void *ret = (void *)1;
        pthread_join(threads[t], &ret);
        CHECK(ret == NULL);
    }

    /* errno under contention. */
    pthread_t keepers[4];
    for (int t = 0; t < 4; t++) pthread_create(&keepers[t], NULL, keeps_errno, NULL);
    for (int t = 0; t < 4; t++) {
        void *changed = (void *)1;
        pthread_join(keepers[t], &changed);
        CHECK(changed == NULL);
    }
    /* posix_memalign reports failure by its return value and leaves errno alone. */
    errno = 77;
    CHECK(posix_memalign(&p, 64, huge) == ENOMEM && errno == 77);
    /* memalign with alignment 0 or 1 is malloc; an aligned payload carved from inside
     * its block can be grown and shrunk. */
    void *m0 = memalign(0, 40), *m1 = memalign(1, 40);
    CHECK(m0 && m1 && aligned_to(m0, 16) && aligned_to(m1, 16));
    free(m0);
    free(m1);
    for (int i = 0; i < 8; i++) {
        unsigned char *a = memalign(256, 24 + i);
        memset(a, 0x3c, 24 + i);
        a = realloc(a, 3000 + i);
        int kept = 1;
        for (int j = 0; j < 24 + i; j++) kept &= a[j] == 0x3c;
        CHECK(kept && malloc_usable_size(a) >= (size_t)(3000 + i));
        free(a);
    }

    printf("%s %d\n", failures ? "failed" : "ok", checks);
    return failures != 0;
}
