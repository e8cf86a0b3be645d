/* fork() while threads allocate, in a program linked to a library whose fork
 * handlers allocate (atfork_dep.c). Prints "ok" when every child ran and exited
 * cleanly and every handler ran. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern int atfork_dep_calls;

static void *churn(void *arg) {
    (void)arg;
    for (int i = 0; i < 30000; i++) {
        char *p = malloc(1 + i % 3000);
        p[0] = 1;
        free(p);
    }
    return NULL;
}

int main(void) {
    pthread_t threads[3];
    for (int t = 0; t < 3; t++) pthread_create(&threads[t], NULL, churn, NULL);
    int bad = 0;
    for (int i = 0; i < 10; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char *p = malloc(4000);
            memset(p, 2, 4000);
            free(p);
            _exit(atfork_dep_calls == 2 * i + 2 ? 0 : 1); /* its prepare and child ran */
        }
        int status = 0;
        waitpid(pid, &status, 0);
        bad += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int t = 0; t < 3; t++) pthread_join(threads[t], NULL);
    printf("%s %d %d\n", bad || atfork_dep_calls != 20 ? "failed" : "ok", bad, atfork_dep_calls);
    return bad != 0;
}
