//! The undo log: one record per primitive mutation, undone in reverse
//! order. Each record restores exactly one structure to exactly its prior
//! state (slots, free lists and adjacency positions included), so a
//! rollback leaves the database identical, iteration order and all.

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
    /// A pair was appended to the junction of `rel`, from `source`.
    Link { rel: RelId, source: u32 },
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

impl Undo {
    /// Reverts this record. Never panics on a log produced by `WriteTxn`.
    pub(crate) fn revert(self, view: &mut View) {
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
            Undo::DanglingRemove { rel, index, pair } => view.dangling[rel as usize].undo_remove(index, *pair),
        }
    }
}
