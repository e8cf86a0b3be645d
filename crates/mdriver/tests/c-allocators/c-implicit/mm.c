/*
 * mm.c: an implicit free list allocator, written for mmlab in the style of the
 * CS:APP textbook's (chapter 9.9): 4-byte boundary tags (header and footer) holding
 * the block size and an allocated bit, a prologue and an epilogue block so that the
 * edges need no special cases, immediate coalescing on free, first-fit placement,
 * splitting when the rest can hold a block. realloc works in place where it can:
 * shrinking, growing into a free next block, or growing the last block of the heap.
 *
 * Heap layout (every payload is 8-byte aligned):
 *
 *   | pad | prologue hdr | prologue ftr | hdr | payload ... | ftr | hdr | ... | epilogue hdr |
 *   0     4              8              12    16
 *
 * It is a fixture of mmlab's own tests (crates/mdriver/tests/c_allocators.rs) and an
 * example for docs/c-allocators.md: `mdriver -s c:crates/mdriver/tests/c-allocators/c-implicit/mm.c`.
 */
#include <stdio.h>
#include <string.h>

#include "mm.h"
#include "memlib.h"

team_t team = {
    "mmlab",                    /* team name */
    "Implicit Free List",       /* first member's full name */
    "implicit@mmlab",           /* first member's login */
    "",                         /* second member's full name (none) */
    ""                          /* second member's login */
};

/* Word and block constants. */
#define WSIZE 4             /* a header or footer */
#define DSIZE 8             /* the alignment, and a header plus a footer */
#define CHUNKSIZE (1 << 12) /* how much the heap grows by at least */
#define MINBLOCK (2 * DSIZE) /* header, 8 bytes of payload, footer */

#define MAX(x, y) ((x) > (y) ? (x) : (y))

/* A header or footer: the size with the allocated bit in bit 0. */
#define PACK(size, alloc) ((unsigned int)(size) | (alloc))

/* Reading and writing a word at address p. */
#define GET(p) (*(unsigned int *)(p))
#define PUT(p, val) (*(unsigned int *)(p) = (val))

/* The size and the allocated bit of the tag at p. */
#define GET_SIZE(p) (GET(p) & ~0x7u)
#define GET_ALLOC(p) (GET(p) & 0x1u)

/* From a block pointer bp (its payload) to its header and footer. */
#define HDRP(bp) ((char *)(bp) - WSIZE)
#define FTRP(bp) ((char *)(bp) + GET_SIZE(HDRP(bp)) - DSIZE)

/* From a block pointer to the next and the previous block's. */
#define NEXT_BLKP(bp) ((char *)(bp) + GET_SIZE(HDRP(bp)))
#define PREV_BLKP(bp) ((char *)(bp) - GET_SIZE((char *)(bp) - DSIZE))

/* The prologue block's payload: where every walk of the heap starts. */
static char *heap_listp = NULL;

static void *extend_heap(size_t words);
static void *coalesce(void *bp);
static void *find_fit(size_t asize);
static void place(void *bp, size_t asize);

/* The block size that serves a request of `size` bytes. */
static size_t adjusted(size_t size)
{
    if (size <= DSIZE)
        return MINBLOCK;
    return DSIZE * ((size + DSIZE + (DSIZE - 1)) / DSIZE);
}

int mm_init(void)
{
    if ((heap_listp = mem_sbrk(4 * WSIZE)) == (void *)-1)
        return -1;
    PUT(heap_listp, 0);                            /* alignment padding */
    PUT(heap_listp + (1 * WSIZE), PACK(DSIZE, 1)); /* prologue header */
    PUT(heap_listp + (2 * WSIZE), PACK(DSIZE, 1)); /* prologue footer */
    PUT(heap_listp + (3 * WSIZE), PACK(0, 1));     /* epilogue header */
    heap_listp += 2 * WSIZE;
    if (extend_heap(CHUNKSIZE / WSIZE) == NULL)
        return -1;
    return 0;
}

/* Grows the heap by `words` words (rounded up to an even number) as one free block,
 * coalesced with a free block before it; returns that block. */
static void *extend_heap(size_t words)
{
    char *bp;
    size_t size = (words % 2) ? (words + 1) * WSIZE : words * WSIZE;

    if (size > 0x7fffffff || (bp = mem_sbrk((int)size)) == (void *)-1)
        return NULL;
    PUT(HDRP(bp), PACK(size, 0));         /* the new block's header, over the old epilogue */
    PUT(FTRP(bp), PACK(size, 0));         /* its footer */
    PUT(HDRP(NEXT_BLKP(bp)), PACK(0, 1)); /* the new epilogue */
    return coalesce(bp);
}

void *mm_malloc(size_t size)
{
    size_t asize, extendsize;
    char *bp;

    if (heap_listp == NULL && mm_init() < 0)
        return NULL;
    if (size == 0 || size > 0x7ffffff0u)
        return NULL;
    asize = adjusted(size);
    if ((bp = find_fit(asize)) != NULL) {
        place(bp, asize);
        return bp;
    }
    extendsize = MAX(asize, CHUNKSIZE);
    if ((bp = extend_heap(extendsize / WSIZE)) == NULL)
        return NULL;
    place(bp, asize);
    return bp;
}

void mm_free(void *bp)
{
    size_t size;

    if (bp == NULL)
        return;
    size = GET_SIZE(HDRP(bp));
    PUT(HDRP(bp), PACK(size, 0));
    PUT(FTRP(bp), PACK(size, 0));
    coalesce(bp);
}

/* Merges the free block bp with free neighbours; returns the merged block. */
static void *coalesce(void *bp)
{
    size_t prev_alloc = GET_ALLOC(FTRP(PREV_BLKP(bp)));
    size_t next_alloc = GET_ALLOC(HDRP(NEXT_BLKP(bp)));
    size_t size = GET_SIZE(HDRP(bp));

    if (prev_alloc && next_alloc) {
        return bp;
    } else if (prev_alloc && !next_alloc) {
        size += GET_SIZE(HDRP(NEXT_BLKP(bp)));
        PUT(HDRP(bp), PACK(size, 0));
        PUT(FTRP(bp), PACK(size, 0));
    } else if (!prev_alloc && next_alloc) {
        size += GET_SIZE(HDRP(PREV_BLKP(bp)));
        PUT(FTRP(bp), PACK(size, 0));
        PUT(HDRP(PREV_BLKP(bp)), PACK(size, 0));
        bp = PREV_BLKP(bp);
    } else {
        size += GET_SIZE(HDRP(PREV_BLKP(bp))) + GET_SIZE(FTRP(NEXT_BLKP(bp)));
        PUT(HDRP(PREV_BLKP(bp)), PACK(size, 0));
        PUT(FTRP(NEXT_BLKP(bp)), PACK(size, 0));
        bp = PREV_BLKP(bp);
    }
    return bp;
}

/* First fit: the first free block of at least asize bytes, from the start. */
static void *find_fit(size_t asize)
{
    char *bp;

    for (bp = heap_listp; GET_SIZE(HDRP(bp)) > 0; bp = NEXT_BLKP(bp))
        if (!GET_ALLOC(HDRP(bp)) && asize <= GET_SIZE(HDRP(bp)))
            return bp;
    return NULL;
}

/* Allocates asize bytes at the start of free block bp, splitting off the rest when it
 * can hold a block of its own. */
static void place(void *bp, size_t asize)
{
    size_t csize = GET_SIZE(HDRP(bp));

    if (csize - asize >= MINBLOCK) {
        PUT(HDRP(bp), PACK(asize, 1));
        PUT(FTRP(bp), PACK(asize, 1));
        bp = NEXT_BLKP(bp);
        PUT(HDRP(bp), PACK(csize - asize, 0));
        PUT(FTRP(bp), PACK(csize - asize, 0));
    } else {
        PUT(HDRP(bp), PACK(csize, 1));
        PUT(FTRP(bp), PACK(csize, 1));
    }
}

/* Shrinks the allocated block bp to asize bytes, freeing the tail if it can hold a
 * block (coalesced with a free block after it). */
static void shrink(void *bp, size_t asize)
{
    size_t csize = GET_SIZE(HDRP(bp));
    char *rest;

    if (csize - asize < MINBLOCK)
        return;
    PUT(HDRP(bp), PACK(asize, 1));
    PUT(FTRP(bp), PACK(asize, 1));
    rest = NEXT_BLKP(bp);
    PUT(HDRP(rest), PACK(csize - asize, 0));
    PUT(FTRP(rest), PACK(csize - asize, 0));
    coalesce(rest);
}

void *mm_realloc(void *ptr, size_t size)
{
    size_t asize, csize, next;
    char *newptr;

    if (ptr == NULL)
        return mm_malloc(size);
    if (size == 0) {
        mm_free(ptr);
        return NULL;
    }
    if (size > 0x7ffffff0u)
        return NULL;
    asize = adjusted(size);
    csize = GET_SIZE(HDRP(ptr));
    if (asize <= csize) {
        shrink(ptr, asize);
        return ptr;
    }
    /* Grow into the next block if it is free and large enough. */
    next = GET_SIZE(HDRP(NEXT_BLKP(ptr)));
    if (!GET_ALLOC(HDRP(NEXT_BLKP(ptr))) && csize + next >= asize) {
        PUT(HDRP(ptr), PACK(csize + next, 1));
        PUT(FTRP(ptr), PACK(csize + next, 1));
        shrink(ptr, asize);
        return ptr;
    }
    /* The last block of the heap (perhaps followed by a free one): grow the heap. */
    if (next == 0 || (!GET_ALLOC(HDRP(NEXT_BLKP(ptr))) && GET_SIZE(HDRP(NEXT_BLKP(NEXT_BLKP(ptr)))) == 0)) {
        size_t need = asize - csize - next;
        if (extend_heap(MAX(need, CHUNKSIZE) / WSIZE) == NULL)
            return NULL;
        next = GET_SIZE(HDRP(NEXT_BLKP(ptr)));
        PUT(HDRP(ptr), PACK(csize + next, 1));
        PUT(FTRP(ptr), PACK(csize + next, 1));
        shrink(ptr, asize);
        return ptr;
    }
    if ((newptr = mm_malloc(size)) == NULL)
        return NULL;
    memcpy(newptr, ptr, csize - DSIZE);
    mm_free(ptr);
    return newptr;
}

/* The heap checker: 0 when every invariant holds, else the number of the first broken
 * one (and a line on stderr when verbose). mdriver --check-heap calls it after every
 * operation. */
int mm_checkheap(int verbose)
{
    char *bp = heap_listp;
    char *lo = mem_heap_lo(), *hi = mem_heap_hi();
    int prev_free = 0;

#define BROKEN(n, what)                                                                 \
    do {                                                                                \
        if (verbose)                                                                    \
            fprintf(stderr, "mm_checkheap: %s (block at offset %ld)\n", what, (long)((char *)bp - lo)); \
        return n;                                                                       \
    } while (0)

    if (heap_listp == NULL)
        return 0;
    if (GET(HDRP(heap_listp)) != PACK(DSIZE, 1) || GET(FTRP(heap_listp)) != PACK(DSIZE, 1))
        BROKEN(1, "bad prologue");
    for (bp = NEXT_BLKP(heap_listp); GET_SIZE(HDRP(bp)) > 0; bp = NEXT_BLKP(bp)) {
        size_t size = GET_SIZE(HDRP(bp));
        if ((size_t)bp % DSIZE != 0)
            BROKEN(2, "payload not aligned");
        if (size < MINBLOCK || size % DSIZE != 0)
            BROKEN(3, "bad block size");
        if (FTRP(bp) + WSIZE - 1 > hi)
            BROKEN(4, "block runs past the heap");
        if (GET(HDRP(bp)) != GET(FTRP(bp)))
            BROKEN(5, "header and footer differ");
        if (!GET_ALLOC(HDRP(bp)) && prev_free)
            BROKEN(6, "two free blocks in a row");
        prev_free = !GET_ALLOC(HDRP(bp));
    }
    if (!GET_ALLOC(HDRP(bp)) || HDRP(bp) != hi - WSIZE + 1)
        BROKEN(7, "bad epilogue");
    return 0;
#undef BROKEN
}
