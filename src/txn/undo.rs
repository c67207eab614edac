//! The undo log: one record per primitive mutation, undone in reverse
//! order. Each record restores exactly one structure to exactly its prior
//! state (slots, free lists and adjacency positions included), so a
//! rollback leaves the database identical, iteration order and all.
//!
//! Appended links, the one record a bulk load writes per row, are kept
//! apart in 8-byte records ([`UndoLog::push_link`]); the main log holds one
//! [`Undo::Links`] record per run of them, where the run starts. An `Undo`
//! is 32 bytes: writing one per link made the log most of a bulk load's
//! memory traffic (see `docs/design.md`, sixth session).

use crate::relation::junction::Unlinked;
use crate::relation::Links;
use crate::schema::{RelId, TableId};
use crate::value::Value;

use super::view::View;

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
    pub(crate) fn rollback_to(&mut self, mark: Mark, view: &mut View) {
        loop {
            match self.records.last() {
                Some(&Undo::Links { start }) => {
                    while self.links.len() > start.max(mark.links) {
                        if let Some(l) = self.links.pop() {
                            view.links[l.rel as usize].unlink_last(l.source);
                        }
                    }
                    if self.records.len() <= mark.records {
                        return;
                    }
                    self.records.pop();
                }
                Some(_) if self.records.len() > mark.records => {
                    if let Some(u) = self.records.pop() {
                        u.revert(view);
                    }
                }
                _ => return,
            }
        }
    }

    /// Empties the log, keeping its buffers unless a bulk load grew them
    /// past `keep` records. O(records) for their drop; link records are
    /// plain data.
    pub(crate) fn clear(&mut self, keep: usize) {
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
    fn revert(self, view: &mut View) {
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
        }
    }
}
