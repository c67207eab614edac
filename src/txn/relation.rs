//! [`Relation`]: an accessor resolved once against one snapshot, for
//! many reads: the relation's analogue of a prepared statement.
//!
//! [`View::related_at`] finds the relation's tables and junction again on
//! every call. A loop of single-row reads (a membership check per request,
//! the groups of every user in a batch) resolves them once with
//! [`View::relation`] and then pays only for the rows it reads: one id
//! lookup per key and the adjacency list itself.

use crate::error::Result;
use crate::relation::adjacency::Adj;
use crate::relation::junction::{contains_in, contains_in_buffered, list};
use crate::relation::pool::Pool;
use crate::relation::Links;
use crate::schema::{Accessor, AccessorKind};
use crate::storage::{identity_slot, Table};

use super::view::{Key, Related, RelatedIds, View};

/// One accessor of one snapshot, resolved for repeated reads. Build it with
/// [`View::relation`] (on a [`ReadTxn`](crate::ReadTxn) or a
/// [`WriteTxn`](crate::WriteTxn)); it borrows the snapshot, so it cannot
/// outlive the transaction.
///
/// Every read answers what [`View::related_at`] with the same accessor
/// would, without resolving the accessor again.
#[derive(Clone, Copy, Debug)]
pub struct Relation<'a> {
    view: &'a View,
    accessor: Accessor,
    /// The table the accessor starts from, and the one it reaches.
    from: &'a Table,
    to: &'a Table,
    /// `to`'s ids by slot, and whether they are the slots. Derivable from
    /// `to`, as `Lists`' `near` is from its junction; both are read once
    /// here because deriving them per call cost `ids` 15 and 9 more
    /// instructions (callgrind, 2026-11-21).
    to_ids: &'a [i64],
    to_dense: bool,
    /// Whether `from`'s ids are its slots, read once for the same reason.
    from_dense: bool,
    lists: Lists<'a>,
    /// `near` of an auto-created through when `from`'s ids are its slots,
    /// else empty: the fast path's row list, found by one bounds check on
    /// the id that also stands for the tests of the table's id mode and
    /// the junction's kind (see [`listed`](Self::listed)).
    auto_lists: &'a [Adj<()>],
    /// The pool of the auto-created through that `auto_lists`, `auto_fwd`
    /// and `auto_rev` belong to; a pool with no blocks when the relation
    /// is not an auto-created through, or `from`'s ids are not slots.
    auto_pool: &'a Pool<()>,
    /// The forward and reverse lists of an auto-created through when both
    /// tables' ids are their slots, else empty; `auto_forward`: whether the
    /// accessor reads sources to targets. `contains`' fast path (with
    /// `auto_lists`, the peers `contains` at size S went 85.7 -> 75.2
    /// instructions per probe by callgrind).
    auto_fwd: &'a [Adj<()>],
    auto_rev: &'a [Adj<()>],
    auto_forward: bool,
}

/// Where the neighbours of a row are: a junction read in one direction
/// (`near`: the lists of that direction, by slot of the accessor's table;
/// `far`: the other direction's; `pool`: the junction's pool of short
/// lists' entries; `forward`: source to targets), or a
/// foreign key's index. The slices are taken from the junction once, so a
/// read goes straight to a row's list.
#[derive(Clone, Copy, Debug)]
enum Lists<'a> {
    Auto { near: &'a [Adj<()>], far: &'a [Adj<()>], pool: &'a Pool<()>, forward: bool },
    Custom { near: &'a [Adj<u32>], far: &'a [Adj<u32>], pool: &'a Pool<u32>, forward: bool },
    ForeignKey,
}

impl View {
    /// `accessor` resolved against this snapshot for repeated reads; see
    /// [`Relation`]. O(1).
    ///
    /// # Errors
    /// [`Error::UnknownAccessor`](crate::Error::UnknownAccessor) for an
    /// accessor resolved on another schema.
    pub fn relation(&self, accessor: Accessor) -> Result<Relation<'_>> {
        if !self.schema.owns(accessor) {
            return Err(View::foreign_accessor(accessor));
        }
        // The schema resolved the accessor: its tables and relation exist.
        let (from, to) = (&self.tables[accessor.table.index()], &self.tables[accessor.other.index()]);
        let lists = match accessor.kind {
            AccessorKind::Forward(r) | AccessorKind::Reverse(r) => {
                let forward = matches!(accessor.kind, AccessorKind::Forward(_));
                match &self.links[r as usize] {
                    Links::Auto(j) => {
                        Lists::Auto { near: j.lists(forward), far: j.lists(!forward), pool: j.pool(), forward }
                    }
                    Links::Custom(j) => {
                        Lists::Custom { near: j.lists(forward), far: j.lists(!forward), pool: j.pool(), forward }
                    }
                }
            }
            AccessorKind::FkReverse(_) => Lists::ForeignKey,
        };
        let (to_ids, to_dense, from_dense) = (to.ids(), to.ids_are_slots(), from.ids_are_slots());
        let (auto_lists, auto_pool) = match lists {
            Lists::Auto { near, pool, .. } if from_dense => (near, pool),
            _ => (&[][..], Pool::empty()),
        };
        let (auto_fwd, auto_rev, auto_forward) = match lists {
            Lists::Auto { near, far, forward: true, .. } if from_dense && to_dense => (near, far, true),
            Lists::Auto { near, far, forward: false, .. } if from_dense && to_dense => (far, near, false),
            _ => (&[][..], &[][..], true),
        };
        Ok(Relation {
            view: self,
            accessor,
            from,
            to,
            to_ids,
            to_dense,
            from_dense,
            lists,
            auto_lists,
            auto_pool,
            auto_fwd,
            auto_rev,
            auto_forward,
        })
    }
}

impl<'a> Relation<'a> {
    /// The accessor this handle reads. O(1).
    pub fn accessor(&self) -> Accessor {
        self.accessor
    }

    /// The ids related to `key`, as [`Related::ids`]: O(1) to start for a
    /// many-to-many relation (O(m log m) for the m rows of a reverse
    /// foreign key), O(1) per item.
    ///
    /// # Errors
    /// [`Error::UnknownTable`](crate::Error::UnknownTable) for a key of
    /// another schema, [`Error::WrongTable`](crate::Error::WrongTable) when
    /// `key` is not a row of the accessor's table,
    /// [`Error::NotFound`](crate::Error::NotFound) when it names no row.
    #[inline(always)]
    pub fn ids(&self, key: Key) -> Result<RelatedIds<'a>> {
        match self.listed(key) {
            Some(nodes) => Ok(RelatedIds::slots(nodes, self.to_ids, self.to_dense)),
            None => self.ids_general(key),
        }
    }

    /// The neighbour slots of `key` in the common case: a row of a table
    /// whose ids are slots, in an auto-created through, with a list out of
    /// its inline room (never empty; a near list's nodes are in its header,
    /// so the read touches one line: peers `forward` at size L went from
    /// 72–77 to 30–36 ns). `None` leaves every other case to the general
    /// path.
    /// Inline and with no call, so the caller keeps nothing across one
    /// (callgrind, peers `forward` at size S: 116 instructions per read
    /// when one match over every list form was inlined here, 99 with the
    /// other forms out of line but behind a call, 90 in this form).
    #[inline(always)]
    fn listed(&self, key: Key) -> Option<&'a [u32]> {
        if key.table() != self.accessor.table {
            return None;
        }
        self.auto_lists.get(list_index(key.id()))?.listed_nodes(self.auto_pool)
    }

    /// [`ids`](Self::ids) past its fast path, out of line.
    #[inline(never)]
    fn ids_general(&self, key: Key) -> Result<RelatedIds<'a>> {
        match self.linked(key) {
            Some(nodes) => Ok(RelatedIds::slots(nodes, self.to_ids, self.to_dense)),
            None => self.related(key).map(|r| r.ids()),
        }
    }

    /// The neighbour slots of `key` when it is a row of the accessor's
    /// table with at least one link in a junction; `None` otherwise (a
    /// foreign key, no links, or no such row), for the manager to sort
    /// out. A row with links is live (a free slot has none, an invariant
    /// `verify` checks), so this needs no liveness test: that is left to
    /// the rows with no links, which the manager answers (callgrind, when
    /// this was the fast path: `forward` at size S 121 -> 114 instructions
    /// per read).
    #[inline(always)]
    fn linked(&self, key: Key) -> Option<&'a [u32]> {
        if key.table() != self.accessor.table {
            return None;
        }
        let s = slot_hint(self.from, self.from_dense, key.id())?;
        let nodes = match self.lists {
            Lists::Auto { near, pool, .. } => list(near, pool, s),
            Lists::Custom { near, pool, .. } => list(near, pool, s),
            Lists::ForeignKey => return None,
        };
        (!nodes.is_empty()).then_some(nodes)
    }

    /// Whether `from` (a row of the accessor's table) is linked to `to`, as
    /// [`Related::contains`]; `false` when either row does not exist or
    /// belongs to another table. O(1) expected for many-to-many relations
    /// at any degree (as `Related::contains`: between two rows of more than
    /// 32 links that no write has searched yet, as after direct inserts
    /// into a custom through table, the shorter list is scanned), O(1)
    /// expected for a reverse foreign key (one cell of `to`'s row).
    #[inline(always)]
    pub fn contains(&self, from: Key, to: Key) -> bool {
        if from.table() != self.accessor.table || to.table() != self.accessor.other {
            return false;
        }
        // Two calls rather than one on swapped ids: the branch goes the
        // same way for every probe of a handle, where the swap was four
        // conditional moves per probe (callgrind, peers `contains` at size
        // S: 75.1 -> 71.6 instructions per probe).
        let fast = if self.auto_forward {
            self.auto_contains(from.id(), to.id())
        } else {
            self.auto_contains(to.id(), from.id())
        };
        if let Some(hit) = fast {
            return hit;
        }
        self.contains_general(from, to)
    }

    /// Whether an auto-created through links `source` to `target`, or
    /// `None` when this handle has no fast path for the pair (see
    /// `auto_fwd`): then `contains_general` answers.
    #[inline(always)]
    fn auto_contains(&self, source: i64, target: i64) -> Option<bool> {
        let f = self.auto_fwd.get(list_index(source))?;
        let t = identity_slot(target)?;
        Some(match f.short_contains(t, self.auto_pool) {
            Some(hit) => hit,
            None => contains_in_buffered(f, self.auto_rev, self.auto_pool, source as u32, t),
        })
    }

    /// [`contains`](Self::contains) past its fast path.
    #[inline(never)]
    fn contains_general(&self, from: Key, to: Key) -> bool {
        // No liveness checks: a missing row's slot is free, and a free slot
        // has no links (an invariant `verify` checks), so it is not found.
        let (Some(a), Some(b)) =
            (slot_hint(self.from, self.from_dense, from.id()), slot_hint(self.to, self.to_dense, to.id()))
        else {
            return false;
        };
        match self.lists {
            Lists::Auto { near, far, pool, forward: true } => contains_in(near, far, pool, a, b),
            Lists::Auto { near, far, pool, forward: false } => contains_in(far, near, pool, b, a),
            Lists::Custom { near, far, pool, forward: true } => contains_in(near, far, pool, a, b),
            Lists::Custom { near, far, pool, forward: false } => contains_in(far, near, pool, b, a),
            Lists::ForeignKey => self.contains_slow(from, to),
        }
    }

    #[cold]
    #[inline(never)]
    fn contains_slow(&self, from: Key, to: Key) -> bool {
        self.related(from).is_ok_and(|r| r.contains(to))
    }

    /// The number of link rows at `key`, as [`Related::count`]. O(1) for
    /// many-to-many relations, O(matches) for foreign keys.
    ///
    /// # Errors
    /// As [`ids`](Self::ids).
    #[inline]
    pub fn count(&self, key: Key) -> Result<usize> {
        match self.listed(key) {
            Some(nodes) => Ok(nodes.len()),
            None => self.count_general(key),
        }
    }

    /// [`count`](Self::count) past its fast path, out of line.
    #[inline(never)]
    fn count_general(&self, key: Key) -> Result<usize> {
        match self.linked(key) {
            Some(nodes) => Ok(nodes.len()),
            None => self.related(key).map(|r| r.count()),
        }
    }

    /// The full read manager of `key` (rows, keys, queries). O(1).
    ///
    /// # Errors
    /// As [`ids`](Self::ids).
    pub fn related(&self, key: Key) -> Result<Related<'a>> {
        self.view.related_at(key, self.accessor)
    }
}

/// The position of id `id`'s row among lists indexed by slot, in a table
/// whose ids are their slots: past every list for a negative id (it wraps)
/// or one above `usize::MAX` (on targets where `usize` is narrower than 64
/// bits), so a bounds check on it rejects those ids too; 0 is slot 0,
/// which never holds a row, so it has no links.
#[inline(always)]
fn list_index(id: i64) -> usize {
    usize::try_from(id as u64).unwrap_or(usize::MAX)
}

/// [`Table::slot_hint`] with the identity-mode test already made
/// (`dense`), so the table itself is not read.
#[inline(always)]
fn slot_hint(table: &Table, dense: bool, id: i64) -> Option<u32> {
    if dense {
        identity_slot(id)
    } else {
        table.slot_hint(id)
    }
}
