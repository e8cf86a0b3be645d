/* mm.h: the classic malloc-lab allocator interface.
 *
 * Two sides use it:
 * - mmlab's libmm (crates/mm-capi) serves it from our strategies; its payloads are
 *   16-byte aligned, and it defines `team` so that a classic C driver links against
 *   libmm.a with no file of its own;
 * - an mm.c that implements it, raced by `mdriver -s c:mm.c` (docs/c-allocators.md),
 *   which compiles it against this header and provides memlib.h's functions. There,
 *   an optional `int mm_checkheap(int verbose)` (0 when the heap is consistent) is
 *   called by --check-heap; it is not declared here, so that a file may define it as
 *   it likes. */
#ifndef MM_H
#define MM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

int mm_init(void);
void *mm_malloc(size_t size);
void mm_free(void *ptr);
void *mm_realloc(void *ptr, size_t size);

/* Who wrote the allocator, as the classic lab asks every mm.c to say:
 *   team_t team = { "ateam", "Ann Author", "ann@example.edu", "", "" };
 * A second member's fields stay empty for a team of one. */
typedef struct {
    char *teamname; /* the team's name */
    char *name1;    /* first member: full name */
    char *id1;      /* first member: login or email */
    char *name2;    /* second member: full name, or "" */
    char *id2;      /* second member: login or email, or "" */
} team_t;

extern team_t team;

#ifdef __cplusplus
}
#endif

#endif /* MM_H */
