//! The undo log: one record per primitive mutation, undone in reverse
//! order. Each record restores the content of exactly one structure
//! (slots, free lists and adjacency positions included), so a rollback
//! leaves the database identical, scan and list order and all; not how a
//! list is stored (pool class, buffer, index), nor the buckets of a
//! non-unique hash index (see `docs/design.md`, transaction invariants).
//!
//! Appended links, the one record a bulk load writes per row, are kept
//! apart in 8-byte records ([`UndoLog::push_link`]); the main log holds one
//! [`Undo::Links`] record per run of them, where the run starts. An `Undo`
//! is 32 bytes: writing one per link made the log most of a bulk load's
//! memory traffic (see `docs/design.md`, sixth session).

use crate::relation::junction::Unlinked;
use crate::relation::DanglingLinks;
use crate::relation::Links;
use crate::schema::{RelId, TableId};
use crate::storage::Table;
use crate::value::Value;

#[derive(Debug)]
pub(crate) enum Undo {
    /// A row was stored at `slot` (`fresh`: appended, not reused).
    Insert { table: TableId, slot: u32, fresh: bool, next_id: i64 },
    /// The row at `slot` was removed; these were its values.
    Remove { table: TableId, slot: u32, values: Box<[Value]> },
    /// One cell changed; this was its value.
    Update { table: TableId, slot: u32, column: u16, old: Box<Value> },
    /// A run of appended pairs starts here: the link records from `start`
    /// up to the next run's start (or the end), undone by
    /// [`UndoLog::rollback_to`] itself.
    Links { start: usize },
    /// A pair of an auto-created through was removed.
    UnlinkAuto { rel: RelId, unlinked: Unlinked<()> },
    /// A pair of a custom through was removed.
    UnlinkCustom { rel: RelId, unlinked: Unlinked<u32> },
    /// A dangling pair was stored at place `index` (`fresh`: a new place).
    DanglingPush { rel: RelId, index: u32, fresh: bool },
    /// The dangling pair at place `index` was removed.
    DanglingRemove { rel: RelId, index: u32, pair: Box<(i64, i64)> },
    /// The paired junction of `rel` was unpaired (its reverse lists made
    /// copies of its forward ones); undone by pairing it again.
    Unpaired { rel: RelId },
}

const _: () = assert!(std::mem::size_of::<Undo>() <= 32);

/// A pair appended to the junction of `rel` from `source`: undone by
/// removing the last entry of `source`'s forward list.
#[derive(Clone, Copy, Debug)]
struct LinkUndo {
    rel: RelId,
    source: u32,
}

const _: () = assert!(std::mem::size_of::<LinkUndo>() == 8);

/// A point of the log to roll back to; see [`UndoLog::mark`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    records: usize,
    links: usize,
}

/// What a log's records revert: a view's tables, junctions and dangling
/// links, borrowed apart from the view's own log (see
/// `View::undo_and_reverted`). So the log reverts them where it lies: a
/// revert that panicked leaves the records it had not reverted in the
/// view, for the transaction's drop to go on with, instead of taking them
/// away with a log moved out for the while.
pub(crate) struct Reverted<'a> {
    pub(crate) tables: &'a mut [Table],
    pub(crate) links: &'a mut [Links],
    pub(crate) dangling: &'a mut [DanglingLinks],
}

/// Entries of each of a log's buffers that [`UndoLog::clear`] keeps for
/// the next transaction; a bulk load's larger buffers are given back.
const UNDO_KEEP: usize = 1 << 12;

/// A write transaction's log: the records, and the link records apart.
#[derive(Debug, Default)]
pub(crate) struct UndoLog {
    records: Vec<Undo>,
    links: Vec<LinkUndo>,
}

impl UndoLog {
    /// The current end of the log. O(1).
    #[inline]
    pub(crate) fn mark(&self) -> Mark {
        Mark { records: self.records.len(), links: self.links.len() }
    }

    /// The number of records, link records included (a run's marker is
    /// not counted). O(records), for `Debug`.
    pub(crate) fn len(&self) -> usize {
        let runs = self.records.iter().filter(|u| matches!(u, Undo::Links { .. })).count();
        self.records.len() - runs + self.links.len()
    }

    /// Logs a mutation. O(1) amortized.
    #[inline]
    pub(crate) fn push(&mut self, undo: Undo) {
        self.records.push(undo);
    }

    /// Logs a pair appended to the junction of `rel` from `source`: 8
    /// bytes, plus a run marker when the last record is not one. O(1)
    /// amortized.
    #[inline(always)]
    pub(crate) fn push_link(&mut self, rel: RelId, source: u32) {
        if !matches!(self.records.last(), Some(Undo::Links { .. })) {
            self.start_run();
        }
        self.links.push(LinkUndo { rel, source });
    }

    /// Starts a run of link records: out of line, so that `push_link`
    /// stays small enough for the bulk load's loop to inline its caller.
    #[cold]
    #[inline(never)]
    fn start_run(&mut self) {
        self.records.push(Undo::Links { start: self.links.len() });
    }

    /// Undoes everything logged after `mark`, newest first. A run of links
    /// that began before the mark is undone down to the mark's link count
    /// and its marker kept. Never panics on a log produced by `WriteTxn`.
    pub(crate) fn rollback_to(&mut self, mark: Mark, mut view: Reverted<'_>) {
        loop {
            match self.records.last() {
                Some(&Undo::Links { start }) => {
                    while self.links.len() > start.max(mark.links) {
                        if let Some(l) = self.links.pop() {
                            view.links[l.rel as usize].unlink_last(l.source);
                        }
                    }
                    if self.records.len() <= mark.records {
                        break;
                    }
                    self.records.pop();
                }
                Some(_) if self.records.len() > mark.records => {
                    if let Some(u) = self.records.pop() {
                        u.revert(&mut view);
                    }
                }
                _ => break,
            }
        }
        debug_assert_eq!(self.mark(), mark, "marks are rolled back to in stack order");
    }

    /// Empties the log, keeping each of its two buffers unless a bulk load
    /// grew it past [`UNDO_KEEP`] entries. O(records) for their drop; link
    /// records are plain data. An empty log with buffers within the limit
    /// (a transaction that changed nothing) costs four loads; a log that
    /// a rollback emptied still gives back its large buffers.
    #[inline]
    pub(crate) fn clear(&mut self) {
        let keep = UNDO_KEEP;
        let (records, links) = (&self.records, &self.links);
        if records.is_empty() && links.is_empty() && records.capacity() <= keep && links.capacity() <= keep {
            return;
        }
        self.records.clear();
        self.links.clear();
        if self.records.capacity() > keep {
            self.records = Vec::new();
        }
        if self.links.capacity() > keep {
            self.links = Vec::new();
        }
    }
}

impl Undo {
    /// Reverts this record (a run marker's links are reverted by the log,
    /// so its own revert does nothing). Never panics on a log produced by
    /// `WriteTxn`.
    fn revert(self, view: &mut Reverted<'_>) {
        match self {
            Undo::Insert { table, slot, fresh, next_id } => {
                let t = &mut view.tables[table.index()];
                t.undo_insert(slot, fresh);
                t.set_next_id(next_id);
            }
            Undo::Remove { table, slot, values } => {
                view.tables[table.index()].undo_remove(slot, values.into_vec());
            }
            Undo::Update { table, slot, column, old } => {
                view.tables[table.index()].update(slot, column, *old);
            }
            Undo::Links { .. } => {}
            Undo::UnlinkAuto { rel, unlinked } => {
                if let Links::Auto(j) = &mut view.links[rel as usize] {
                    j.relink(unlinked);
                }
            }
            Undo::UnlinkCustom { rel, unlinked } => {
                if let Links::Custom(j) = &mut view.links[rel as usize] {
                    j.relink(unlinked);
                }
            }
            Undo::DanglingPush { rel, index, fresh } => view.dangling[rel as usize].undo_insert(index, fresh),
            Undo::DanglingRemove { rel, index, pair } => view.dangling[rel as usize].undo_remove(index, *pair),
            Undo::Unpaired { rel } => {
                if let Links::Auto(j) = &mut view.links[rel as usize] {
                    j.pair_again();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::schema::Schema;
    use crate::txn::view::View;

    type Snap = (Vec<Vec<(Vec<u32>, Vec<u32>)>>, Vec<bool>, Vec<Vec<(u32, (i64, i64))>>, usize);

    fn snap(v: &View, log: &UndoLog) -> Snap {
        let links = v
            .links
            .iter()
            .map(|l| {
                (0..12).map(|s| (l.neighbour_slots(s, true).to_vec(), l.neighbour_slots(s, false).to_vec())).collect()
            })
            .collect();
        let paired = v.links.iter().map(|l| matches!(l, Links::Auto(j) if j.is_paired())).collect();
        let dangling = v.dangling.iter().map(|d| d.iter().collect()).collect();
        (links, paired, dangling, log.len())
    }

    use crate::splitmix::Rng;

    /// Random pushes (links in runs, unlinks, dangling pushes and removes,
    /// the dangling links' indexes checked after each, and on a
    /// symmetrical relation pairs of rows and their junction's unpairing)
    /// with a stack
    /// of marks taken anywhere (inside runs, right after a marker's first
    /// link, between runs) and rollbacks to any of them, each compared with
    /// the state when the mark was taken; then to `Mark::default()`.
    #[test]
    fn rollback_to_any_stacked_mark_restores_the_state_at_the_mark() {
        let schema = Schema::builder()
            .table("a", |t| {
                t.many_to_many("m", "b");
                t.many_to_many("n", "self").symmetrical(false);
                t.many_to_many("f", "self");
            })
            .table("b", |_| {})
            .build()
            .unwrap();
        for seed in 0..300u64 {
            let mut rng = Rng(seed);
            let mut v = View::new(Arc::new(schema.clone()));
            let mut log = UndoLog::default();
            let initial = snap(&v, &log);
            let mut marks: Vec<(Mark, Snap)> = Vec::new();
            let mut rollbacks = 0;
            for _ in 0..400 {
                match rng.below(100) {
                    0..=49 => {
                        let r = rng.below(3) as RelId;
                        let (s, t) = (rng.below(12) as u32, rng.below(12) as u32);
                        match &mut v.links[r as usize] {
                            Links::Auto(j) if j.is_paired() => {
                                if !j.contains(s, t) {
                                    j.link_pair(s, t);
                                    log.push_link(r, s);
                                }
                            }
                            // An auto-created through holds a pair once.
                            Links::Auto(j) => {
                                if !j.contains(s, t) {
                                    j.link(s, t, ());
                                    log.push_link(r, s);
                                }
                            }
                            Links::Custom(_) => {}
                        }
                    }
                    50..=59 => {
                        let r = rng.below(3) as RelId;
                        let s = rng.below(12) as u32;
                        let d = v.links[r as usize].degree(s, true);
                        if d > 0 {
                            let fpos = rng.below(d) as u32;
                            if let Links::Auto(j) = &mut v.links[r as usize] {
                                let unlinked = j.unlink(s, fpos);
                                log.push(Undo::UnlinkAuto { rel: r, unlinked });
                            }
                        }
                    }
                    60..=64 => {
                        // Few ids, so that several links name one.
                        let r = rng.below(2) as RelId;
                        let pair = (rng.below(20) as i64, rng.below(20) as i64);
                        if !v.dangling[r as usize].contains(pair) {
                            let (index, fresh) = v.dangling[r as usize].insert(pair);
                            log.push(Undo::DanglingPush { rel: r, index, fresh });
                        }
                    }
                    65..=67 => {
                        let r = rng.below(2) as RelId;
                        let stored: Vec<u32> = v.dangling[r as usize].iter().map(|(i, _)| i).collect();
                        if !stored.is_empty() {
                            let index = stored[rng.below(stored.len())];
                            if let Some(pair) = v.dangling[r as usize].remove(index) {
                                log.push(Undo::DanglingRemove { rel: r, index, pair: Box::new(pair) });
                            }
                        }
                    }
                    68..=69 => {
                        if let Links::Auto(j) = &mut v.links[2] {
                            if j.is_paired() {
                                j.unpair();
                                log.push(Undo::Unpaired { rel: 2 });
                            }
                        }
                    }
                    70..=84 => marks.push((log.mark(), snap(&v, &log))),
                    _ => {
                        if !marks.is_empty() {
                            let k = rng.below(marks.len().min(3));
                            marks.truncate(marks.len() - k);
                            let (mark, want) = marks.pop().unwrap();
                            log.rollback_to(mark, v.undo_and_reverted().1);
                            assert_eq!(log.mark(), mark, "seed {seed}");
                            assert_eq!(snap(&v, &log), want, "seed {seed}");
                            rollbacks += 1;
                            // Taking the same mark again and going on is fine.
                            if rng.below(2) == 0 {
                                marks.push((mark, want));
                            }
                        }
                    }
                }
                for l in &v.links {
                    l.verify().unwrap();
                }
                for d in &v.dangling {
                    d.verify().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                }
            }
            assert!(rollbacks > 5);
            log.rollback_to(Mark::default(), v.undo_and_reverted().1);
            assert_eq!(snap(&v, &log), initial, "seed {seed}");
            assert_eq!(log.mark(), Mark::default());
        }
    }
}

#[cfg(test)]
mod buffers {
    use super::*;
    use crate::schema::Schema;
    use crate::value::{Row, Type, Value};
    use crate::Database;

    #[test]
    fn clear_gives_back_buffers_a_rollback_emptied_and_keeps_small_ones() {
        let mut large = UndoLog { records: Vec::with_capacity(10_000), links: Vec::with_capacity(10_000) };
        large.clear();
        assert_eq!((large.records.capacity(), large.links.capacity()), (0, 0));
        let mut small = UndoLog { records: Vec::with_capacity(16), links: Vec::with_capacity(16) };
        small.clear();
        assert!(small.records.capacity() >= 16 && small.links.capacity() >= 16, "small buffers are kept");
    }

    #[test]
    fn a_rolled_back_bulk_load_gives_back_its_log() {
        let schema = Schema::builder()
            .table("a", |t| {
                t.many_to_many("m", "b");
            })
            .table("b", |_| {})
            .build()
            .unwrap();
        let db = Database::new(schema);
        let (a, b) = (db.schema().table("a").unwrap(), db.schema().table("b").unwrap());
        let m = db.schema().accessor("a", "m").unwrap();
        let mut tx = db.begin_write().unwrap();
        let keys: Vec<_> = (0..100).map(|_| tx.insert(b, Row::new()).unwrap()).collect();
        for _ in 0..100 {
            let k = tx.insert(a, Row::new()).unwrap();
            tx.related_at(k, m).unwrap().add(keys.iter().copied()).unwrap();
        }
        drop(tx);
        let state = db.state.read();
        assert!(state.undo.links.capacity() <= UNDO_KEEP, "10,000 link records rolled back, buffer given back");
        assert_eq!(state.count(a).unwrap(), 0);
    }

    /// A database of one table `t` with an `Int` column `n`.
    fn one_table() -> (Database, crate::TableId) {
        let schema = Schema::builder()
            .table("t", |t| {
                t.column("n", Type::Int);
            })
            .build()
            .unwrap();
        let db = Database::new(schema);
        let t = db.schema().table("t").unwrap();
        (db, t)
    }

    #[test]
    fn records_left_by_a_panicked_revert_are_not_the_next_transactions() {
        let (db, t) = one_table();
        let key = db.write(|tx| tx.insert(t, Row::new().with("n", Value::Int(1)))).unwrap();
        // What a revert that panicked while a transaction was dropped
        // would leave: a record of that transaction (here, of the insert
        // above), still in the view.
        db.state.write().undo.push(Undo::Insert { table: t, slot: 1, fresh: true, next_id: 1 });
        // The next transaction rolls back its own changes only.
        drop(db.begin_write().unwrap());
        let view = db.begin_read().unwrap();
        assert!(view.get(key).is_some(), "the committed row is still there");
        view.verify().unwrap();
    }
}
