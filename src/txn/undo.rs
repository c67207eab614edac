//! The undo log: one record per primitive mutation, undone in reverse
//! order. Each record restores exactly one structure to exactly its prior
//! state (slots, free lists and adjacency positions included), so a
//! rollback leaves the database identical, iteration order and all.

use crate::relation::junction::Unlinked;
use crate::relation::Links;
use crate::schema::{RelId, TableId};
use crate::value::Value;

use super::view::View;

/// One primitive mutation. Records own nothing (the values a remove or an
/// update displaced wait in the [`UndoLog`]'s side vectors), so a log of
/// them is cleared in O(1): a commit does not walk its records.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Undo {
    /// A row was stored at `slot` (`fresh`: appended, not reused).
    Insert { table: TableId, slot: u32, fresh: bool, next_id: i64 },
    /// The row at `slot` was removed; its values are the log's newest
    /// removed row.
    Remove { table: TableId, slot: u32 },
    /// One cell changed; its value was the log's newest old value.
    Update { table: TableId, slot: u32, column: u16 },
    /// A pair was appended to the junction of `rel`, from `source`.
    Link { rel: RelId, source: u32 },
    /// A pair of an auto-created through was removed.
    UnlinkAuto { rel: RelId, unlinked: Unlinked<()> },
    /// A pair of a custom through was removed.
    UnlinkCustom { rel: RelId, unlinked: Unlinked<u32> },
    /// A dangling pair was stored at place `index` (`fresh`: a new place).
    DanglingPush { rel: RelId, index: u32, fresh: bool },
    /// The dangling pair at place `index` was removed.
    DanglingRemove { rel: RelId, index: u32, pair: (i64, i64) },
}

const _: () = assert!(std::mem::size_of::<Undo>() <= 32);

/// A value a remove or an update displaced, kept until the transaction
/// ends.
#[derive(Debug)]
enum Displaced {
    Row(Box<[Value]>),
    Cell(Value),
}

/// A transaction's undo log: records, newest last, and the values that
/// removes and updates displaced, in the same order.
#[derive(Debug, Default)]
pub(crate) struct UndoLog {
    records: Vec<Undo>,
    /// One per `Undo::Remove` (its row) and `Undo::Update` (its old value).
    displaced: Vec<Displaced>,
}

impl UndoLog {
    /// The number of records; also a point to roll back to. O(1).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Logs a change that displaced no values. O(1) amortized.
    #[inline]
    pub(crate) fn push(&mut self, undo: Undo) {
        self.records.push(undo);
    }

    /// Logs the removal of the row at `slot` of `table`, which held
    /// `values`. O(1) amortized.
    pub(crate) fn push_remove(&mut self, table: TableId, slot: u32, values: Box<[Value]>) {
        self.displaced.push(Displaced::Row(values));
        self.records.push(Undo::Remove { table, slot });
    }

    /// Logs an update of one cell, which held `old`. O(1) amortized.
    pub(crate) fn push_update(&mut self, table: TableId, slot: u32, column: u16, old: Value) {
        self.displaced.push(Displaced::Cell(old));
        self.records.push(Undo::Update { table, slot, column });
    }

    /// Reverts every record logged after `mark`, newest first. Never
    /// panics on a log produced by `WriteTxn`. O(changes reverted).
    pub(crate) fn rollback_to(&mut self, mark: usize, view: &mut View) {
        while self.records.len() > mark {
            let Some(undo) = self.records.pop() else { break };
            match (undo, undo.displaces().then(|| self.displaced.pop()).flatten()) {
                (Undo::Remove { table, slot }, Some(Displaced::Row(values))) => {
                    view.tables[table.index()].undo_remove(slot, values.into_vec());
                }
                (Undo::Update { table, slot, column }, Some(Displaced::Cell(old))) => {
                    view.tables[table.index()].update(slot, column, old);
                }
                (other, _) => other.revert(view),
            }
        }
    }

    /// Forgets every record (a commit): O(1) for the records, which own
    /// nothing, plus dropping the displaced values.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.records.clear();
        self.displaced.clear();
    }

    /// Whether the log's buffers are small enough to keep for the next
    /// transaction. O(1).
    #[inline]
    pub(crate) fn is_small(&self, max: usize) -> bool {
        self.records.capacity() <= max && self.displaced.capacity() <= max
    }
}

impl Undo {
    /// Whether the record's displaced value waits in the log.
    fn displaces(self) -> bool {
        matches!(self, Undo::Remove { .. } | Undo::Update { .. })
    }

    /// Reverts this record, if it displaced no values (the log reverts
    /// the others, whose values it keeps).
    fn revert(self, view: &mut View) {
        match self {
            Undo::Insert { table, slot, fresh, next_id } => {
                let t = &mut view.tables[table.index()];
                t.undo_insert(slot, fresh);
                t.set_next_id(next_id);
            }
            // Reverted by `UndoLog::rollback_to`, which holds their values.
            Undo::Remove { .. } | Undo::Update { .. } => {}
            Undo::Link { rel, source } => view.links[rel as usize].unlink_last(source),
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
            Undo::DanglingRemove { rel, index, pair } => view.dangling[rel as usize].undo_remove(index, pair),
        }
    }
}
