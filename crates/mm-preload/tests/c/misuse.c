/* Misuse a hardened build must catch: `d` frees a block twice, `i` frees a pointer
 * into the middle of a block, `o` overwrites the 8 bytes below a payload (where the
 * strategies keep their headers) and frees it. Without an argument: correct use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    char *keep = malloc(64);
    char *p = malloc(100);
    strcpy(keep, "fine");
    if (argc > 1 && argv[1][0] == 'd') { free(p); free(p); }
    if (argc > 1 && argv[1][0] == 'i') { free(p + 16); }
    if (argc > 1 && argv[1][0] == 'o') { memset(p - 8, 0x41, 8); free(p); }
    puts(keep);
    return 0;
}
