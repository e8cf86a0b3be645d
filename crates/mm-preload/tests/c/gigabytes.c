/* Issue 11's first reproduction: five 1 GiB blocks, never touched (so they cost no
 * memory), freed side by side around a small live block. Merged, they would exceed
 * the 4 GiB a 32-bit block header can hold; segregated fits used to wrap the size and
 * abort. glibc prints "ok", and so must every strategy (one whose heap cannot hold all
 * five returns NULL for some, which is its right). Then the freed space must be usable
 * again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    void *b[5];
    int held = 0;
    for (int i = 0; i < 5; i++) {
        b[i] = malloc(1ul << 30);
        held += b[i] != NULL;
    }
    char *keep = malloc(64);
    strcpy(keep, "ok");
    for (int i = 0; i < 5; i++) free(b[i]);
    int again = 0;
    for (int i = 0; i < 5; i++) {
        b[i] = malloc(1ul << 30);
        again += b[i] != NULL;
    }
    for (int i = 0; i < 5; i++) free(b[i]);
    if (again < held) printf("only %d of the %d blocks fit again\n", again, held);
    puts(keep);
    free(keep);
    return 0;
}
