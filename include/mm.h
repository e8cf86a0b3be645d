/* mm.h: the classic malloc-lab allocator interface, served by mmlab's libmm
 * (crates/mm-capi). Payloads are 16-byte aligned. */
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

#ifdef __cplusplus
}
#endif

#endif /* MM_H */
