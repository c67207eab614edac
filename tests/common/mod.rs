//! Helpers shared by the integration tests.
#![allow(dead_code)]

use junctiondb::{Row, View};

/// Every table's rows in scan order (slot order; auto-created through
/// tables by source slot and adjacency order), so that two snapshots are
/// equal exactly when the databases are identical, order included.
pub(crate) fn snapshot(view: &View) -> Vec<(String, Vec<Row>)> {
    let names: Vec<String> = view.schema().table_names().map(str::to_owned).collect();
    names
        .into_iter()
        .map(|name| {
            let rows = view.scan(name.as_str()).expect("table exists").map(|r| r.to_row()).collect();
            (name, rows)
        })
        .collect()
}

/// Asserts the invariants hold.
#[track_caller]
pub(crate) fn verify(view: &View) {
    if let Err(e) = view.verify() {
        panic!("invariant violated: {e}");
    }
}

// The benches' generator, for its SplitMix64 step. (Its own `below`
// differs from this one's, which every seeded test's inputs depend on.)
#[path = "../../benches/common/rng.rs"]
mod splitmix;

/// SplitMix64: a tiny seeded generator, so that every randomized test is
/// reproducible from its seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        splitmix::splitmix64(&mut self.0)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// One of `items`.
    pub(crate) fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    /// `n` random bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
