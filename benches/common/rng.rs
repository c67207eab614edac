//! SplitMix64: the seeded generator both bench binaries draw their inputs
//! from, so every workload is reproducible from its seed. The tests'
//! generator (`tests/common/mod.rs`) steps with the same `splitmix64`.
#![allow(dead_code)] // each binary uses part of it

/// One SplitMix64 step: advances `state` and returns the next output.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A tiny seeded generator, good enough for workloads and probes.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        splitmix64(&mut self.0)
    }

    /// A value in `0..n` (`n > 0`), by multiply-shift (its bias is far
    /// below measurement noise).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A uniform id in `1..=n`.
    pub(crate) fn id(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32 + 1
    }
}
