/* A double free through the classic interface. A hardened libmm aborts in the second
 * mm_free with a message naming it; a normal one does not look. */
#include <stdio.h>
#include "memlib.h"
#include "mm.h"

int main(void) {
    mem_init();
    if (mm_init() != 0) return 2;
    void *keep = mm_malloc(64);
    void *p = mm_malloc(100);
    mm_free(p);
    mm_free(p);
    printf("survived %p\n", keep);
    return 0;
}
