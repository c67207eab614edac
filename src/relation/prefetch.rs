//! A cache prefetch hint: one of the crate's two `unsafe` blocks (the
//! other reads a short text in place, in `storage::text`).
//!
//! A write reaches two or three list headers at random rows (a symmetrical
//! `add` reaches the target's forward and reverse headers, a removal the
//! source's), each a likely cache miss. The write paths name them as soon
//! as the slots are known, before the work that needs them, so that their
//! misses overlap each other and that work. A plain load kept by
//! `std::hint::black_box` did this before, but a load cannot retire until
//! its line arrives, so the rest of the call piled up behind it until the
//! core's reorder buffer was full. A prefetch retires at once.
//!
//! Measured in alternating runs of the peers benchmark's `friends` child
//! (the same build with `black_box` loads against prefetches, six runs
//! each): `friends_add` 302.2/309.8 -> 266.7/282.2 ns per pair (best /
//! median); `remove` and `hub_remove` unchanged within their noise. See
//! `docs/design.md`, eleventh session.
//!
//! On targets other than x86_64 the hint does nothing (the caller's later
//! load takes the miss, as it would without the hint).

/// Hints the CPU to bring the cache line holding `*value`'s first byte
/// into every cache level. Changes nothing the program can observe, and
/// never faults. O(1).
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: `_mm_prefetch` is a `#[target_feature(enable = "sse")]`
    // function, and SSE is part of every x86_64 target's baseline, so the
    // feature is present. It takes a raw pointer, but the instruction
    // (PREFETCHT0) reads nothing into the program and never faults,
    // whatever the address; here the address is a live reference anyway.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// The `u32` words in a 64-byte cache line.
pub(crate) const WORDS_PER_LINE: usize = 16;

/// [`prefetch`]es every cache line `words` spans (one hint per 64 bytes:
/// a line the slice only begins in part may be left out). O(words / 16).
#[inline(always)]
pub(crate) fn prefetch_lines(words: &[u32]) {
    for word in words.iter().step_by(WORDS_PER_LINE) {
        prefetch(word);
    }
}

#[cfg(test)]
mod tests {
    use super::{prefetch, prefetch_lines};

    #[test]
    fn a_prefetch_changes_nothing() {
        let values = vec![7_u64; 1024];
        for v in &values {
            prefetch(v);
        }
        prefetch(&values);
        assert!(values.iter().all(|&v| v == 7));
        let words: Vec<u32> = (0..1000).collect();
        prefetch_lines(&words);
        prefetch_lines(&words[3..]);
        prefetch_lines(&[]);
        assert!(words.iter().enumerate().all(|(i, &w)| w as usize == i));
    }
}
