/* memlib.h: the classic malloc-lab simulated heap, served by mmlab's libmm
 * (crates/mm-capi). The heap is 20 MiB (the classic MAX_HEAP) and only grows through
 * mem_sbrk, which returns (void *)-1 and sets errno to ENOMEM on failure. */
#ifndef MEMLIB_H
#define MEMLIB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void mem_init(void);
void mem_deinit(void);
void *mem_sbrk(int incr);
void mem_reset_brk(void);
void *mem_heap_lo(void);
void *mem_heap_hi(void);
size_t mem_heapsize(void);
size_t mem_pagesize(void);

#ifdef __cplusplus
}
#endif

#endif /* MEMLIB_H */
