/*
 * mm.c: an explicit free list allocator, written for mmlab. Blocks carry 8-byte
 * boundary tags (size | allocated bit); a free block also holds two pointers, to the
 * previous and the next free block, in what was its payload, so that a search visits
 * the free blocks only. The list is LIFO: a freed (and coalesced) block goes to the
 * front. Placement is first fit over the list, splitting when the rest can hold a
 * block; realloc works in place where it can.
 *
 *   | prologue hdr | prologue ftr | hdr | payload ...  | ftr | ... | epilogue hdr |
 *   0              8              16    24
 *
 *   a free block: | hdr | prev | next | ... | ftr |   (32 bytes at least)
 *
 * A fixture of mmlab's tests (crates/mdriver/tests/c_allocators.rs).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mm.h"
#include "memlib.h"

team_t team = {"mmlab", "Explicit Free List", "explicit@mmlab", "", ""};

typedef size_t word_t;

#define WSIZE sizeof(word_t)   /* a tag: 8 bytes */
#define ALIGNMENT 8
#define MIN_BLOCK (4 * WSIZE)  /* header, two links, footer */
#define CHUNK ((size_t)1 << 12)

static word_t tag(size_t size, int alloc) { return size | (alloc ? 1 : 0); }
static word_t *header(char *bp) { return (word_t *)(bp - WSIZE); }
static size_t size_of(char *bp) { return *header(bp) & ~(word_t)7; }
static int is_alloc(char *bp) { return (int)(*header(bp) & 1); }
static word_t *footer(char *bp) { return (word_t *)(bp + size_of(bp) - 2 * WSIZE); }
static char *next_block(char *bp) { return bp + size_of(bp); }
static char *prev_block(char *bp) { return bp - (*(word_t *)(bp - 2 * WSIZE) & ~(word_t)7); }

static void set(char *bp, size_t size, int alloc)
{
    *header(bp) = tag(size, alloc);
    *footer(bp) = tag(size, alloc);
}

/* The links of a free block. */
static char **prev_link(char *bp) { return (char **)bp; }
static char **next_link(char *bp) { return (char **)(bp + WSIZE); }

static char *heap_start;     /* the prologue's payload */
static char *free_list;      /* the first free block, or NULL */

static void list_push(char *bp)
{
    *prev_link(bp) = NULL;
    *next_link(bp) = free_list;
    if (free_list)
        *prev_link(free_list) = bp;
    free_list = bp;
}

static void list_remove(char *bp)
{
    char *prev = *prev_link(bp), *next = *next_link(bp);
    if (prev)
        *next_link(prev) = next;
    else
        free_list = next;
    if (next)
        *prev_link(next) = prev;
}

/* Merges the free block bp (not on the list) with its free neighbours (taken off the
 * list), puts the result on the list, and returns it. */
static char *coalesce(char *bp)
{
    size_t size = size_of(bp);
    char *prev = prev_block(bp), *next = next_block(bp);

    if (!is_alloc(next)) {
        list_remove(next);
        size += size_of(next);
    }
    if (!is_alloc(prev)) {
        list_remove(prev);
        size += size_of(prev);
        bp = prev;
    }
    set(bp, size, 0);
    list_push(bp);
    return bp;
}

/* Grows the heap by at least `bytes`, as a free block (coalesced, on the list). */
static char *grow(size_t bytes)
{
    char *bp;
    bytes = (bytes + ALIGNMENT - 1) & ~(size_t)(ALIGNMENT - 1);
    if (bytes > 0x7fffffff || (bp = mem_sbrk((int)bytes)) == (void *)-1)
        return NULL;
    set(bp, bytes, 0);           /* over the old epilogue */
    *header(next_block(bp)) = tag(0, 1);
    return coalesce(bp);
}

static size_t block_for(size_t size)
{
    size_t asize = (size + 2 * WSIZE + ALIGNMENT - 1) & ~(size_t)(ALIGNMENT - 1);
    return asize < MIN_BLOCK ? MIN_BLOCK : asize;
}

int mm_init(void)
{
    char *p = mem_sbrk(3 * WSIZE);
    if (p == (void *)-1)
        return -1;
    ((word_t *)p)[0] = tag(2 * WSIZE, 1); /* prologue header */
    ((word_t *)p)[1] = tag(2 * WSIZE, 1); /* prologue footer */
    ((word_t *)p)[2] = tag(0, 1);         /* epilogue header: grow() puts the first
                                             block's header over it, at offset 16 */
    heap_start = p + WSIZE;
    free_list = NULL;
    return grow(CHUNK) ? 0 : -1;
}

/* Takes asize bytes from the free block bp (on the list), at its start, or at its end
 * when `high` (the rest stays free in front); returns the allocated block. */
static char *place(char *bp, size_t asize, int high)
{
    size_t csize = size_of(bp);
    list_remove(bp);
    if (csize - asize < MIN_BLOCK) {
        set(bp, csize, 1);
        return bp;
    }
    if (high) {
        set(bp, csize - asize, 0);
        list_push(bp);
        bp = next_block(bp);
        set(bp, asize, 1);
        return bp;
    }
    set(bp, asize, 1);
    char *rest = next_block(bp);
    set(rest, csize - asize, 0);
    list_push(rest);
    return bp;
}

void *mm_malloc(size_t size)
{
    size_t asize;
    char *bp;

    if (size == 0 || size > ((size_t)1 << 31))
        return NULL;
    asize = block_for(size);
    for (bp = free_list; bp; bp = *next_link(bp))
        if (size_of(bp) >= asize)
            break;
    if (bp)
        return place(bp, asize, 0);
    /* No fit: grow the heap, and put the block at its very end, where a realloc can
     * grow it again in place; the rest of the new chunk stays free in front of it. */
    if (!(bp = grow(asize > CHUNK ? asize : CHUNK)))
        return NULL;
    return place(bp, asize, 1);
}

void mm_free(void *ptr)
{
    char *bp = ptr;
    if (!bp)
        return;
    set(bp, size_of(bp), 0);
    coalesce(bp);
}

/* Shrinks the allocated block bp to asize bytes, freeing the tail if it is a block. */
static void trim(char *bp, size_t asize)
{
    size_t csize = size_of(bp);
    if (csize - asize < MIN_BLOCK)
        return;
    set(bp, asize, 1);
    char *rest = next_block(bp);
    set(rest, csize - asize, 0);
    coalesce(rest);
}

void *mm_realloc(void *ptr, size_t size)
{
    char *bp = ptr, *next, *moved;
    size_t asize, csize;

    if (!bp)
        return mm_malloc(size);
    if (size == 0) {
        mm_free(bp);
        return NULL;
    }
    if (size > ((size_t)1 << 31))
        return NULL;
    asize = block_for(size);
    csize = size_of(bp);
    if (asize <= csize) {
        trim(bp, asize);
        return bp;
    }
    next = next_block(bp);
    if (!is_alloc(next) && csize + size_of(next) >= asize) {
        list_remove(next);
        set(bp, csize + size_of(next), 1);
        trim(bp, asize);
        return bp;
    }
    /* The last block of the heap, perhaps followed by a free one: grow the heap by
     * the shortfall only (a chunk's leftover right after the block would be taken by
     * the next small request, and the block could not grow in place again). */
    if (size_of(next) == 0 || (!is_alloc(next) && size_of(next_block(next)) == 0)) {
        size_t need = asize - csize - size_of(next);
        if (!grow(need < MIN_BLOCK ? MIN_BLOCK : need))
            return NULL;
        next = next_block(bp);
        list_remove(next);
        set(bp, csize + size_of(next), 1);
        trim(bp, asize);
        return bp;
    }
    /* Slide down into a free block before it (with a free one after it, if any). */
    char *prev = prev_block(bp);
    size_t around = csize + (is_alloc(next) ? 0 : size_of(next));
    if (!is_alloc(prev) && size_of(prev) + around >= asize) {
        list_remove(prev);
        if (!is_alloc(next))
            list_remove(next);
        around += size_of(prev);
        memmove(prev, bp, csize - 2 * WSIZE);
        set(prev, around, 1);
        trim(prev, asize);
        return prev;
    }
    if (!(moved = mm_malloc(size)))
        return NULL;
    memcpy(moved, bp, csize - 2 * WSIZE);
    mm_free(bp);
    return moved;
}

/* 0 when the heap and the free list agree with each other, else the number of the
 * broken rule (with a line on stderr when verbose). */
int mm_checkheap(int verbose)
{
    char *lo = mem_heap_lo(), *hi = mem_heap_hi(), *bp;
    size_t free_blocks = 0, listed = 0;

#define BROKEN(n, what)                                                                 \
    do {                                                                                \
        if (verbose)                                                                    \
            fprintf(stderr, "mm_checkheap: %s (at offset %ld)\n", what, (long)(bp - lo)); \
        return n;                                                                       \
    } while (0)

    bp = heap_start;
    if (*header(bp) != tag(2 * WSIZE, 1) || *footer(bp) != tag(2 * WSIZE, 1))
        BROKEN(1, "bad prologue");
    int prev_free = 0;
    for (bp = next_block(heap_start); size_of(bp) > 0; bp = next_block(bp)) {
        if ((uintptr_t)bp % ALIGNMENT)
            BROKEN(2, "payload not aligned");
        if (size_of(bp) < MIN_BLOCK || size_of(bp) % ALIGNMENT)
            BROKEN(3, "bad block size");
        if ((char *)footer(bp) + WSIZE - 1 > hi)
            BROKEN(4, "block runs past the heap");
        if (*header(bp) != *footer(bp))
            BROKEN(5, "header and footer differ");
        if (!is_alloc(bp)) {
            if (prev_free)
                BROKEN(6, "two free blocks in a row");
            free_blocks++;
        }
        prev_free = !is_alloc(bp);
    }
    if ((char *)header(bp) != hi - WSIZE + 1)
        BROKEN(7, "the epilogue is not at the end of the heap");
    for (bp = free_list; bp; bp = *next_link(bp)) {
        if (bp < lo || bp > hi)
            BROKEN(8, "a free-list link leaves the heap");
        if (is_alloc(bp))
            BROKEN(9, "an allocated block on the free list");
        if (*next_link(bp) && *prev_link(*next_link(bp)) != bp)
            BROKEN(10, "the links disagree");
        if (++listed > free_blocks)
            BROKEN(11, "more blocks on the list than free blocks (a cycle?)");
    }
    if (listed != free_blocks) {
        bp = heap_start;
        BROKEN(12, "a free block is missing from the list");
    }
    return 0;
#undef BROKEN
}
