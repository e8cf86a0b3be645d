//! How the wrappers stop a program: one line on standard error, then `abort`, as glibc
//! does when it finds its heap damaged.
//!
//! The three deployments ([`LockedAllocator`](crate::LockedAllocator), `libmm` and
//! `libmm_preload.so`) stop for three reasons, each with its own words, after the
//! deployment's name (`mmlab:`, `mmlab libmm:`, `mmlab preload:`):
//!
//! * **misuse** the strategy caught and refused (`free(): double free detected (heap
//!   offset 0x1070)`, `free(): invalid pointer ...`), see [`misuse`];
//! * **a corrupted heap**: the strategy panicked because it found its own metadata
//!   inconsistent (`heap corrupted: free(): <the panic's message>`), see
//!   [`heap_corrupted`];
//! * **re-entry**: a thread called the allocator while already inside it, from a signal
//!   handler (see [`Locked`](crate::lock::Locked)).
//!
//! Every message is written without allocating: the allocator may be the program's only
//! one, and its heap is not to be trusted any more. The parts are gathered with
//! `writev(2)` so that the line arrives whole even when other threads write too.

use std::any::Any;

use mm_core::hardened::Misuse;

use crate::text::Line;

/// The most parts a message has: the name, the parts given, the newline.
const MAX_PARTS: usize = 8;

/// Writes `who`, a space, the `parts` and a newline to standard error in one system
/// call, and aborts. At most five parts are written.
pub fn fatal(who: &str, parts: &[&[u8]]) -> ! {
    let empty = libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 };
    let mut pieces = [empty; MAX_PARTS];
    let all = [who.as_bytes(), b" "].into_iter().chain(parts.iter().copied().take(MAX_PARTS - 3));
    let mut count = 0;
    for part in all.chain([b"\n".as_slice()]) {
        pieces[count] = libc::iovec { iov_base: part.as_ptr().cast_mut().cast(), iov_len: part.len() };
        count += 1;
    }
    // SAFETY: the first `count` pieces describe live byte slices that `writev` only reads;
    // a short or failed write to stderr loses only (part of) the message.
    unsafe { libc::writev(2, pieces.as_ptr(), count as libc::c_int) };
    // SAFETY: `abort` has no preconditions.
    unsafe { libc::abort() }
}

/// Stops the program for a misuse the strategy caught in `call` (`free`, `realloc`,
/// `dealloc`, `mm_free`, ...): `<who> free(): double free detected (heap offset 0x1070)`.
pub fn misuse(who: &str, call: &str, misuse: &Misuse) -> ! {
    let mut offset = Line::<40>::new();
    offset.push(b"(heap offset 0x").hex(misuse.offset()).push(b")");
    fatal(who, &[call.as_bytes(), b"(): ", misuse.short().as_bytes(), b" ", offset.as_bytes()])
}

/// Stops the program because the strategy panicked in `call`: it found its heap
/// inconsistent, and going on would spread the damage. The panic's own message (a
/// `&str` or a `String`, which is what `panic!` makes) says what it found:
/// `<who> heap corrupted: free(): corrupted double-linked list at heap offset 0x40`.
pub fn heap_corrupted(who: &str, call: &str, payload: &(dyn Any + Send)) -> ! {
    let message = if let Some(text) = payload.downcast_ref::<&'static str>() {
        text.as_bytes()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.as_bytes()
    } else {
        b"(the panic carried no message)".as_slice()
    };
    fatal(who, &[b"heap corrupted: ", call.as_bytes(), b"(): ", message])
}
