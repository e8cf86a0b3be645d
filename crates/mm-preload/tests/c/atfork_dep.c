/* A shared library whose constructor registers fork handlers that allocate. Its
 * constructor runs before the preload library's, so its handlers are registered
 * first: its prepare handler then runs *after* ours (reverse order), while we hold
 * our lock across fork, and its child/parent handlers run *before* ours release it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int atfork_dep_calls;

static void touch_heap(void) {
    char *p = malloc(100);
    memset(p, 1, 100);
    p = realloc(p, 5000);
    free(p);
    atfork_dep_calls++;
}

static void prepare(void) { touch_heap(); }
static void parent(void) { touch_heap(); }
static void child(void) { touch_heap(); }

__attribute__((constructor)) static void register_handlers(void) {
    pthread_atfork(prepare, parent, child);
}
