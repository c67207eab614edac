//! Helpers shared by the integration tests.
#![allow(dead_code)]

use junctiondb::{Error, Key, Row, View, WriteTxn};

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

/// Whether some row of `table` sits in a slot an earlier delete freed: a
/// scan (slot order) lists a larger id before a smaller one. A table
/// keeps its ids equal to its slots until an explicit id out of step (or
/// many deletes), and only then reuses freed slots; tests that must reach
/// rows in reused slots insert such an id and check this.
pub(crate) fn slots_reused(view: &View, table: &str) -> bool {
    let ids: Vec<i64> = view.scan(table).expect("table exists").map(|r| r.id()).collect();
    ids.windows(2).any(|w| w[0] > w[1])
}

/// Ends the identity mode (ids equal to slots) of each table named, so
/// that from then on it reuses freed slots: inserts each row with the id
/// 1,000,000, out of step, then deletes them all, last first. A row may
/// refer to an earlier one by that id; its other values must be valid.
pub(crate) fn leave_identity(tx: &mut WriteTxn<'_>, rows: Vec<(&str, Row)>) -> Result<(), Error> {
    let mut keys: Vec<Key> = Vec::new();
    for (table, mut row) in rows {
        row.set("id", 1_000_000);
        keys.push(tx.insert(table, row)?);
    }
    while let Some(k) = keys.pop() {
        tx.delete(k)?;
    }
    Ok(())
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
