//! Related managers: Django's `add`, `remove`, `clear`, `set`, `create`,
//! `get_or_create` and `update_or_create` from either end of a relation.
//! Every operation is atomic and writes through the transaction's undo log.

use std::collections::HashSet;

use smallvec::SmallVec;

use super::hooks::{HookTxn, M2mAction, M2mChanged, MAX_HOOK_DEPTH};
use super::view::{End, Key, Related, RelatedIds};
use super::write::WriteTxn;
use crate::error::{Error, Result};
use crate::query::Arg;
use crate::relation::Links;
use crate::schema::{Accessor, AccessorKind, FkId, RelId, TableId};
use crate::value::{Row, Value, ValueRef};

/// A row of the other end of a relation, by key or by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A key (its table is checked).
    Key(Key),
    /// An id of the other end's table.
    Id(i64),
}

impl From<Key> for Target {
    fn from(k: Key) -> Self {
        Target::Key(k)
    }
}

impl From<&Key> for Target {
    fn from(k: &Key) -> Self {
        Target::Key(*k)
    }
}

impl From<i64> for Target {
    fn from(id: i64) -> Self {
        Target::Id(id)
    }
}

impl From<&i64> for Target {
    fn from(id: &i64) -> Self {
        Target::Id(*id)
    }
}

/// The related manager of one row and one accessor, inside a write
/// transaction. Build it with [`WriteTxn::related`]. Reads see the
/// transaction's own writes.
///
/// Removing a link of a custom through table deletes its row, with that
/// row's `on_delete` consequences: where the manager's own table has a
/// `Cascade` foreign key into the through table, a `remove`, `clear` or
/// `set` may delete the manager's own row (as in Django); so may a change
/// hook's write. Every later write of the manager is then
/// [`Error::NotFound`] for its row and changes nothing, and its reads see
/// no rows (not those of a new row that took its place). The call that
/// deleted it succeeds when it has nothing left to do: a `set` whose
/// removals delete the row and that still has links to add is
/// `NotFound` and undone whole, and so is a call whose `Pre` hook
/// deleted it.
#[derive(Debug)]
pub struct RelatedMut<'t, 'db> {
    tx: &'t mut WriteTxn<'db>,
    end: End,
}

impl std::fmt::Debug for WriteTxn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTxn").field("undo_records", &self.state.undo.len()).finish()
    }
}

/// The junction an accessor of this kind reads, and whether it reads it
/// from source to target; `None` for a reverse foreign key.
#[inline(always)]
fn rel_of(kind: AccessorKind) -> Option<(RelId, bool)> {
    match kind {
        AccessorKind::Forward(r) | AccessorKind::Reverse(r) => Some((r, matches!(kind, AccessorKind::Forward(_)))),
        AccessorKind::FkReverse(_) => None,
    }
}

impl<'db> WriteTxn<'db> {
    /// The related manager of `key` through the accessor `name` (a
    /// many-to-many field, or a reverse accessor). O(the table's
    /// accessors) to set up: the name is searched for among them, as
    /// [`Schema::accessor`](crate::Schema::accessor) does.
    ///
    /// # Errors
    /// [`Error::UnknownAccessor`] (listing the choices),
    /// [`Error::UnknownTable`] for a key of another schema,
    /// [`Error::NotFound`].
    pub fn related(&mut self, key: Key, name: &str) -> Result<RelatedMut<'_, 'db>> {
        let acc = self.accessor(key, name)?;
        self.related_at(key, acc)
    }

    /// [`related`](Self::related) with an accessor resolved once by
    /// [`Schema::accessor`](crate::Schema::accessor). O(1), no hashing.
    ///
    /// # Errors
    /// As [`View::related_at`](crate::View::related_at):
    /// [`Error::UnknownAccessor`],
    /// [`Error::UnknownTable`], [`Error::WrongTable`], [`Error::NotFound`].
    #[inline(always)]
    pub fn related_at(&mut self, key: Key, accessor: Accessor) -> Result<RelatedMut<'_, 'db>> {
        // The slot alone, then `End` built here: returned through
        // `Result<End>`, the struct was copied through the stack with a
        // load overlapping a narrower store, which stalled.
        let Some(slot) = self.end_slot(key, accessor) else { return Err(self.end_error(key, accessor)) };
        let end = End { kind: accessor.kind, key, slot, other: accessor.other };
        // Prefetches the row's list header now, so that its miss overlaps
        // the rest of the call's setup instead of starting when `add` or
        // `remove` reach the list. Faster removals and symmetrical loads,
        // with this function inlined into the caller's loop (see
        // `docs/design.md`, eighth session; a prefetch rather than a load
        // since the eleventh, see `relation::prefetch`).
        if let Some((r, forward)) = rel_of(end.kind) {
            self.state.links[r as usize].prefetch(end.slot, forward);
        }
        Ok(RelatedMut { tx: self, end })
    }
}

/// Targets of a manager call: live rows `(slot, id)` and ids naming no row.
#[derive(Default)]
struct Resolved {
    live: SmallVec<[(u32, i64); 4]>,
    missing: SmallVec<[i64; 2]>,
}

impl Resolved {
    fn is_empty(&self) -> bool {
        self.live.is_empty() && self.missing.is_empty()
    }

    /// Every id, live or missing, ascending: a hook's `pk_set`.
    fn sorted_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.live.iter().map(|&(_, id)| id).chain(self.missing.iter().copied()).collect();
        ids.sort_unstable();
        ids
    }
}

/// Deduplicates ids in input order: a scan for the few ids of a typical
/// call, a hash set past that.
#[derive(Default)]
struct Seen {
    few: SmallVec<[i64; 8]>,
    many: Option<hashbrown::HashSet<i64>>,
}

impl Seen {
    fn insert(&mut self, id: i64) -> bool {
        if let Some(set) = &mut self.many {
            return set.insert(id);
        }
        if self.few.contains(&id) {
            return false;
        }
        self.few.push(id);
        if self.few.len() > 32 {
            self.many = Some(self.few.drain(..).collect());
        }
        true
    }
}

/// One pair of a many-to-many relation, oriented as stored.
#[derive(Clone, Copy)]
struct Pair {
    source: u32,
    target: u32,
}

/// Undoes what a manager's pass logged after `mark` when it is dropped:
/// the fast paths' pass (`each_auto_pair`) forgets it when it succeeds,
/// and drops it on an error or as a panic from the caller's targets
/// unwinds through the pass. It holds the manager the pass runs through.
/// The pass run in a closure under [`WriteTxn::undo_if_err`] instead,
/// with about as many instructions (533.6 against 532.1 per removal,
/// callgrind, peers hub child), measured 20–30% slower: the hub's `add`
/// 84–88 ns against 67–72, its `remove` 177–196 against 149–160 (three
/// alternating runs; 69–70 and 147–166 before the guard).
struct UndoPass<'m, 't, 'db> {
    m: &'m mut RelatedMut<'t, 'db>,
    mark: super::undo::Mark,
}

impl Drop for UndoPass<'_, '_, '_> {
    fn drop(&mut self) {
        self.m.tx.rollback_to(self.mark);
    }
}

impl<'t, 'db> RelatedMut<'t, 'db> {
    /// Read operations on the current state (`ids`, `keys`, `contains`,
    /// `count`, `exists`, ...). O(1).
    pub fn read(&self) -> Related<'_> {
        Related::new(&self.tx.state, self.read_end())
    }

    /// The end a read starts from. A manager whose row a write deleted
    /// reads the links of slot 0, which holds no row and so has none: its
    /// own slot may hold a new row by now (see `row_live`).
    fn read_end(&self) -> End {
        if self.row_live() {
            self.end
        } else {
            End { slot: 0, ..self.end }
        }
    }

    /// [`query`](Self::query), taking the manager, so that the query
    /// borrows the transaction rather than the manager and can be kept
    /// past the statement that made the manager:
    /// `let q = tx.related(jim, "groups")?.into_query().filter("name", "rock")?;`
    /// (with `query`, the manager is a temporary that `q` would outlive).
    /// The transaction cannot write while the query lives. O(1).
    pub fn into_query(self) -> crate::Query<'t> {
        let end = self.read_end();
        let tx: &'t WriteTxn<'db> = self.tx;
        Related::new(&tx.state, end).query()
    }

    /// The ids at the other end; see [`Related::ids`] (O(1) to start, O(1)
    /// per item; a reverse foreign key's are sorted first).
    pub fn ids(&self) -> RelatedIds<'_> {
        self.read().ids()
    }

    /// The keys at the other end; see [`Related::keys`]. As
    /// [`ids`](Self::ids).
    pub fn keys(&self) -> impl ExactSizeIterator<Item = Key> + '_ {
        self.read().keys()
    }

    /// The rows at the other end; see [`Related::rows`]. As
    /// [`ids`](Self::ids).
    pub fn rows(&self) -> impl ExactSizeIterator<Item = crate::RowRef<'_>> + '_ {
        self.read().rows()
    }

    /// Whether `key` is at the other end; see [`Related::contains`] (O(1)
    /// expected for a many-to-many relation at any degree).
    pub fn contains(&self, key: Key) -> bool {
        self.read().contains(key)
    }

    /// The number of link rows; see [`Related::count`] (O(1) for a
    /// many-to-many relation, O(matches) for a reverse foreign key).
    pub fn count(&self) -> usize {
        self.read().count()
    }

    /// Whether there is a link row; see [`Related::exists`]. O(1) expected.
    pub fn exists(&self) -> bool {
        self.read().exists()
    }

    /// A query on the rows at the other end, in the transaction's current
    /// state; see [`Related::query`]. It borrows this manager: to keep it
    /// in a variable, take it with [`into_query`](Self::into_query). O(1)
    /// to build.
    pub fn query(&self) -> crate::Query<'_> {
        self.read().query()
    }

    fn rel(&self) -> Option<(RelId, bool)> {
        rel_of(self.end.kind)
    }

    fn fk(&self) -> Option<FkId> {
        match self.end.kind {
            AccessorKind::FkReverse(f) => Some(f),
            _ => None,
        }
    }

    fn other_name(&self) -> String {
        self.tx.table_name(self.end.other).to_owned()
    }

    /// Whether this manager's own row still holds the slot `related_at`
    /// resolved. O(1) expected: one probe of the id map. A deleted row
    /// answers `false` even once its slot holds another row, since no id
    /// is assigned twice; but an insert that gives the deleted id
    /// explicitly (a hook's, say) makes a row with the manager's key: in
    /// its slot (the last freed, so the first taken), it is the
    /// manager's row, as in Django, where a manager follows its instance's
    /// primary key; elsewhere, the manager's writes are `NotFound`.
    ///
    /// Why this check, and where: `end.slot` is resolved once, and two
    /// writes of a manager call can delete rows. One is the unlink of a
    /// custom through row (`delete_link_rows`, through `delete_rows`,
    /// which follows `on_delete`), which may cascade to this row. The
    /// other is a change hook's, which may delete anything, insert rows
    /// (into this row's freed slot too) and make other manager calls. An
    /// auto-created through link is a junction entry: unlinking one
    /// deletes no row, and no foreign key can name an auto-created through
    /// table (it is not a declared table: `fields.E300`); a reverse
    /// foreign key's manager only updates. So the hot `add_auto` /
    /// `remove_auto` paths, which no hook watches, never check. The other
    /// writes check on entry ([`live`](Self::live)), after each `Pre`
    /// announcement, and before linking (`add_slots`, after a `set`'s
    /// removals). Reads check too ([`read`](Self::read)): a hook may have
    /// put a new row, with links of its own, in the freed slot.
    #[inline]
    fn row_live(&self) -> bool {
        self.tx.state.tables[self.end.key.table().index()].slot_of(self.end.key.id()) == Some(self.end.slot)
    }

    /// `Ok` while this manager's own row exists, else its
    /// [`Error::NotFound`] (see [`row_live`](Self::row_live)). O(1)
    /// expected.
    fn live(&self) -> Result<()> {
        if self.row_live() {
            return Ok(());
        }
        let table = self.tx.table_name(self.end.key.table()).to_owned();
        Err(Error::NotFound { table, id: self.end.key.id() })
    }

    /// Resolves targets to rows of the other table, deduplicated in input
    /// order: live rows, and ids that name no row.
    fn resolve<T: Into<Target>>(&self, targets: impl IntoIterator<Item = T>) -> Result<Resolved> {
        let mut seen = Seen::default();
        let mut out = Resolved::default();
        for t in targets {
            let (slot, id) = self.target_slot(t.into())?;
            if seen.insert(id) {
                match slot {
                    Some(slot) => out.live.push((slot, id)),
                    None => out.missing.push(id),
                }
            }
        }
        Ok(out)
    }

    /// The relation as `(rel, forward, symmetrical)`, when it is a
    /// many-to-many relation with an auto-created through and its
    /// constraint on, and no change hook watches it: its links are
    /// junction entries only, and no hook awaits an announcement, so `add`
    /// and `remove` run straight on the junction (the hot path of the
    /// engine).
    #[inline]
    fn auto_constrained(&self) -> Option<(RelId, bool, bool)> {
        let (r, forward) = self.rel()?;
        let rel = self.tx.state.schema.rel(r);
        (rel.auto_through && rel.db_constraint && !self.tx.state.hooks.watch(r)).then_some((
            r,
            forward,
            rel.symmetrical,
        ))
    }

    /// The slot (if the row exists) and id of a target at the other end.
    /// Inlined into the loops of `add` and `remove`, with the error built
    /// out of line. Against a call per target, callgrind counted the peers
    /// `add` load at size S at 809.9M -> 745.9M instructions, and `remove`
    /// at 587 -> 560 per operation.
    #[inline(always)]
    fn target_slot(&self, target: Target) -> Result<(Option<u32>, i64)> {
        let id = match target {
            Target::Key(k) if k.table() != self.end.other => return Err(self.wrong_table(k)),
            Target::Key(k) => k.id(),
            Target::Id(id) => id,
        };
        Ok((self.tx.state.tables[self.end.other.index()].slot_of(id), id))
    }

    /// The error for a target key of another table than the other end's.
    #[cold]
    #[inline(never)]
    fn wrong_table(&self, k: Key) -> Error {
        Error::WrongTable { expected: self.other_name(), found: self.tx.table_name(k.table()).to_owned(), id: k.id() }
    }

    /// `add` on an auto-created, constrained relation: each target is
    /// resolved and linked in one pass; an error undoes the pass. The error
    /// reported is the one the general path reports (a wrong table as soon
    /// as it is seen, else the first missing row). O(targets) expected.
    fn add_auto<T: Into<Target>>(
        &mut self,
        targets: impl IntoIterator<Item = T>,
        auto: (RelId, bool, bool),
    ) -> Result<usize> {
        let mark = self.tx.state.undo.mark();
        let (created, missing) = self.each_auto_pair(targets, auto, Self::link_auto_once)?;
        if let Some(id) = missing {
            self.tx.rollback_to(mark);
            return Err(Error::NotFound { table: self.other_name(), id });
        }
        Ok(created)
    }

    /// `remove` on an auto-created, constrained relation: missing and
    /// unrelated targets are ignored; a wrong table undoes the pass.
    /// Inlined into the caller: as a call of its own it cost 42
    /// instructions per removal and 7% of its time. Its per-pair step,
    /// `unlink_auto_once`, is inlined into the `Fn` shim it is passed
    /// through, and that shim stays a call (one call site for both pairs
    /// inlines it too, and measured no faster; see `docs/design.md`).
    #[inline(always)]
    fn remove_auto<T: Into<Target>>(
        &mut self,
        targets: impl IntoIterator<Item = T>,
        auto: (RelId, bool, bool),
    ) -> Result<usize> {
        self.each_auto_pair(targets, auto, Self::unlink_auto_once).map(|(removed, _)| removed)
    }

    /// Applies `op` to the pair of each existing target (and its mirror on
    /// a symmetrical relation, unless the junction is paired: `op` then
    /// takes the mirror row with the pair), summing what it returns;
    /// reports the first missing target. A target of the wrong table undoes the pass and is
    /// the error.
    ///
    /// The targets are consumed as the pass goes, so a panic from their
    /// iterator (or a conversion) can come after some pairs are written:
    /// the pass holds an [`UndoPass`], which undoes them as the panic
    /// unwinds, as it does on an error. (Django reads every target before
    /// its first write; the other manager paths here do too.)
    #[inline]
    fn each_auto_pair<T: Into<Target>>(
        &mut self,
        targets: impl IntoIterator<Item = T>,
        (r, forward, symmetrical): (RelId, bool, bool),
        op: impl Fn(&mut Self, RelId, Pair) -> usize,
    ) -> Result<(usize, Option<i64>)> {
        let mark = self.tx.state.undo.mark();
        let guard = UndoPass { m: self, mark };
        let (mut total, mut missing) = (0, None);
        // A paired junction's `op` takes the mirror row with the pair (no
        // hook runs here to unpair it).
        let paired = symmetrical && matches!(&guard.m.tx.state.links[r as usize], Links::Auto(j) if j.is_paired());
        for target in targets {
            match guard.m.target_slot(target.into()) {
                Ok((Some(other), _)) => {
                    let p = guard.m.pair(other, forward);
                    // Prefetches the headers `op` reaches next (the other
                    // row's list of the pair: the target's reverse list, or
                    // from a reverse accessor the source's forward list; on
                    // a symmetrical relation also the target's forward
                    // list, the mirror's source, the one list a paired
                    // junction keeps) before `op` runs, as `related_at`
                    // does for the row's own: their misses overlap each
                    // other (see `relation::prefetch`).
                    let links = &guard.m.tx.state.links[r as usize];
                    if forward {
                        links.prefetch(p.target, false);
                    } else {
                        links.prefetch(p.source, true);
                    }
                    if symmetrical {
                        links.prefetch(p.target, true);
                    }
                    total += op(guard.m, r, p);
                    if symmetrical && !paired && p.source != p.target {
                        total += op(guard.m, r, Pair { source: p.target, target: p.source });
                    }
                }
                Ok((None, id)) => {
                    missing.get_or_insert(id);
                }
                // The guard undoes the pass.
                Err(e) => return Err(e),
            }
        }
        std::mem::forget(guard);
        Ok((total, missing))
    }

    /// Links a pair of an auto-created through unless it is linked (with
    /// its mirror row on a paired junction). Returns the rows linked.
    #[inline]
    fn link_auto_once(&mut self, r: RelId, p: Pair) -> usize {
        let links = &mut self.tx.state.links[r as usize];
        if links.find_for_write(p.source, p.target).is_some() {
            return 0;
        }
        self.tx.link_auto_pair(r, p.source, p.target)
    }

    /// Unlinks a pair of an auto-created through if it is linked (with its
    /// mirror row on a paired junction). Returns the rows unlinked.
    #[inline(always)]
    fn unlink_auto_once(&mut self, r: RelId, p: Pair) -> usize {
        // Stops at a pair the source's header rules out (its nodes or its
        // filter), else starts the target side's misses before the search
        // (see `Junction::warm_unlink`); `black_box` keeps the loads.
        let Some(warmed) = self.tx.state.links[r as usize].warm_unlink(p.source, p.target) else { return 0 };
        std::hint::black_box(warmed);
        match self.tx.state.links[r as usize].find_for_write(p.source, p.target) {
            Some(fpos) => self.tx.unlink_auto(r, p.source, fpos),
            None => 0,
        }
    }

    /// The relation, when it is an auto-created through with
    /// `db_constraint(false)` (links to missing ids are stored).
    fn unconstrained(&self) -> Option<RelId> {
        let (r, _) = self.rel()?;
        let rel = self.tx.state.schema.rel(r);
        (rel.auto_through && !rel.db_constraint).then_some(r)
    }

    /// `targets` resolved for a write that links them: a missing id is an
    /// error unless the relation stores dangling links.
    fn resolve_live<T: Into<Target>>(&self, targets: impl IntoIterator<Item = T>) -> Result<Resolved> {
        self.refused_missing(self.resolve(targets)?)
    }

    /// `targets`, or [`Error::NotFound`] for the first missing id unless
    /// the relation stores dangling links.
    fn refused_missing(&self, targets: Resolved) -> Result<Resolved> {
        match targets.missing.first() {
            Some(&id) if self.unconstrained().is_none() => Err(Error::NotFound { table: self.other_name(), id }),
            _ => Ok(targets),
        }
    }

    /// The `(source_id, target_id)` pairs linking this row to `other_id`
    /// (and the mirror for a symmetrical relation).
    fn id_pairs(&self, other_id: i64) -> SmallVec<[(i64, i64); 2]> {
        let me = self.end.key.id();
        let Some((r, forward)) = self.rel() else { return SmallVec::new() };
        let mut pairs = SmallVec::new();
        pairs.push(if forward { (me, other_id) } else { (other_id, me) });
        if self.tx.state.schema.rel(r).symmetrical && me != other_id {
            pairs.push((other_id, me));
        }
        pairs
    }

    /// Stores the links of this row to the missing `ids` not stored yet
    /// (a relation without its constraint). Each is an auto-created
    /// through row, with no column for a default: `defaults` are refused
    /// once a link would be made, as in [`link_once`](Self::link_once).
    /// Returns the links made.
    fn add_dangling(&mut self, ids: &[i64], defaults: &Row) -> Result<usize> {
        let Some(r) = self.unconstrained() else { return Ok(0) };
        let mut n = 0;
        for &id in ids {
            for (a, b) in self.id_pairs(id) {
                if !defaults.is_empty() && !self.tx.state.dangling[r as usize].contains((a, b)) {
                    return Err(self.no_default_column(r, defaults));
                }
                n += usize::from(self.tx.push_dangling(r, a, b).is_some());
            }
        }
        Ok(n)
    }

    /// The error for through defaults given to an auto-created through
    /// table, whose columns are only its link columns.
    #[cold]
    fn no_default_column(&self, r: RelId, defaults: &Row) -> Error {
        let schema = &self.tx.state.schema;
        Error::UnknownColumn {
            table: schema.def(schema.rel(r).through).name.clone(),
            column: defaults.iter().next().map_or_else(String::new, |(name, _)| name.to_owned()),
            row: Some(Box::new(defaults.clone())),
        }
    }

    /// Removes the dangling links of this row to `ids` (`None`: to any
    /// id). O(ids + this row's dangling links) expected: only the links
    /// naming this row at its own end are walked (both ends on a
    /// symmetrical relation), and a long `ids` is looked up in a set.
    fn remove_dangling(&mut self, ids: Option<&[i64]>) -> usize {
        /// Up to this many ids are searched in place; more go to a set.
        const SCANNED_IDS: usize = 16;
        let Some(r) = self.unconstrained() else { return 0 };
        let (me, forward) = (self.end.key.id(), matches!(self.end.kind, AccessorKind::Forward(_)));
        let symmetrical = self.tx.state.schema.rel(r).symmetrical;
        let set: Option<HashSet<i64>> =
            ids.filter(|ids| ids.len() > SCANNED_IDS).map(|ids| ids.iter().copied().collect());
        let wanted = |other: i64| match (&set, ids) {
            (Some(set), _) => set.contains(&other),
            (None, Some(ids)) => ids.contains(&other),
            (None, None) => true,
        };
        let ends = (forward, !forward || symmetrical);
        self.tx.remove_dangling_where(r, me, ends, |a, b| {
            (forward && a == me && wanted(b))
                || (!forward && b == me && wanted(a))
                || (symmetrical && b == me && wanted(a))
        })
    }

    /// The ids this row's dangling links name at the other end.
    fn dangling_others(&self) -> Vec<i64> {
        let Some(r) = self.unconstrained() else { return Vec::new() };
        let (me, forward) = (self.end.key.id(), matches!(self.end.kind, AccessorKind::Forward(_)));
        let named = self.tx.state.dangling[r as usize].naming(me, forward);
        named.map(|(_, (a, b))| if forward { b } else { a }).collect()
    }

    fn pair(&self, other: u32, forward: bool) -> Pair {
        if forward {
            Pair { source: self.end.slot, target: other }
        } else {
            Pair { source: other, target: self.end.slot }
        }
    }

    /// Links the targets not linked yet; existing pairs are left alone and
    /// duplicates in the input collapse. Symmetrical relations also store
    /// the mirror pair (healing a half-written one). On a reverse foreign
    /// key accessor, points each target's foreign key at this row. Returns
    /// the number of link rows created. O(targets) expected, at any degree.
    ///
    /// # Errors
    /// [`Error::WrongTable`], [`Error::NotFound`] for a missing target (or
    /// for this manager's own row once a write of the manager deleted it,
    /// see [`RelatedMut`]), and for a custom through table whose extra
    /// columns are required and not defaulted, [`Error::NotNull`]; on the
    /// reverse accessor of a unique foreign key, [`Error::Unique`] when
    /// another row already points at this row (or several targets would);
    /// the error of a change hook that refuses it ([`Error::Vetoed`], see
    /// [`Database::on_m2m_changed`](crate::Database::on_m2m_changed)).
    /// Nothing is linked then.
    #[inline]
    pub fn add<T: Into<Target>>(&mut self, targets: impl IntoIterator<Item = T>) -> Result<usize> {
        self.add_with(targets, Row::new())
    }

    /// [`add`](Self::add), filling the extra columns of new custom through
    /// rows from `through_defaults`. Existing rows are never changed. As
    /// `add`, plus O(defaults) per row made.
    ///
    /// # Errors
    /// As `add`, plus [`Error::UnknownColumn`] / [`Error::TypeMismatch`]
    /// for a bad default once a row would be made with it (an
    /// auto-created through has no extra columns, so any default; a call
    /// that creates no row does nothing, as in Django), and
    /// [`Error::Unsupported`] for any default on a reverse foreign key (it
    /// has no through row); so for every `_with` call.
    pub fn add_with<T: Into<Target>>(
        &mut self,
        targets: impl IntoIterator<Item = T>,
        through_defaults: Row,
    ) -> Result<usize> {
        if through_defaults.is_empty() {
            if let Some(auto) = self.auto_constrained() {
                return self.add_auto(targets, auto);
            }
        }
        self.live()?;
        let targets = self.resolve_live(targets)?;
        self.atomic(|m| m.add_resolved(&targets, &through_defaults))
    }

    /// Links resolved targets (existing rows and, on a relation without
    /// its constraint, missing ids), announcing it to the relation's hooks
    /// as `PreAdd` and `PostAdd` (no announcement for no targets). Returns
    /// the link rows created.
    ///
    /// `PreAdd` names the ids not linked yet; `PostAdd` the ids this call
    /// linked, looked up again after the `PreAdd` hooks: the same ids,
    /// unless one of those hooks linked or unlinked one of them (Django
    /// would insert only the ids `pre_add` named, and not report the
    /// difference).
    fn add_resolved(&mut self, targets: &Resolved, defaults: &Row) -> Result<usize> {
        let link = |m: &mut Self, targets: &Resolved| {
            let created = m.add_slots(&targets.live, defaults)?;
            let dangling = if targets.missing.is_empty() { 0 } else { m.add_dangling(&targets.missing, defaults)? };
            Ok(created + dangling)
        };
        if !self.hooked() {
            return link(self, targets);
        }
        if targets.is_empty() {
            return Ok(0);
        }
        // What `add_slots` would refuse (a `set`'s removals, and their
        // hooks, may have deleted rows), refused before the hooks hear of
        // an add that cannot happen.
        let targets = self.linkable(targets)?;
        self.announce(M2mAction::PreAdd, Some(&self.unlinked_ids(&targets)))?;
        let targets = self.linkable(&targets)?;
        let linked = self.unlinked_ids(&targets);
        let created = link(self, &targets)?;
        self.announce(M2mAction::PostAdd, Some(&linked))?;
        Ok(created)
    }

    /// Runs `op` between the announcements `pre` and `post` of `pk_set` to
    /// the relation's hooks (see [`announce`](Self::announce)): a `remove`
    /// or a `clear`.
    ///
    /// The `Pre` hooks may have written: they may have deleted this row,
    /// or a target (whose slot a new row may then hold), or linked or
    /// unlinked rows. So `op` runs only while this row exists (else
    /// [`Error::NotFound`], as for a manager whose row a write deleted),
    /// and looks its targets up again by id
    /// ([`looked_up_again`](Self::looked_up_again)); what it unlinks is
    /// checked pair by pair as it goes, as without hooks.
    fn announced<T>(
        &mut self,
        [pre, post]: [M2mAction; 2],
        pk_set: Option<&[i64]>,
        op: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        self.announce(pre, pk_set)?;
        self.live()?;
        let done = op(self)?;
        self.announce(post, pk_set)?;
        Ok(done)
    }

    /// `targets` looked up again by id, in the same order: a row a hook
    /// deleted is missing now, a missing id a hook inserted is live, and a
    /// live row's slot is read afresh. O(targets) expected.
    fn looked_up_again(&self, targets: &Resolved) -> Resolved {
        let table = &self.tx.state.tables[self.end.other.index()];
        let mut out = Resolved::default();
        for id in targets.live.iter().map(|&(_, id)| id).chain(targets.missing.iter().copied()) {
            match table.slot_of(id) {
                Some(slot) => out.live.push((slot, id)),
                None => out.missing.push(id),
            }
        }
        out
    }

    /// `targets` as they can be linked now, after writes (hooks', or a
    /// `set`'s removals, which may delete rows and free slots that new
    /// rows then take): [`Error::NotFound`] for this row if it is gone,
    /// else the targets looked up again by id
    /// ([`looked_up_again`](Self::looked_up_again)), a missing one refused
    /// unless the relation stores dangling links
    /// ([`refused_missing`](Self::refused_missing)). O(targets) expected.
    fn linkable(&self, targets: &Resolved) -> Result<Resolved> {
        self.live()?;
        self.refused_missing(self.looked_up_again(targets))
    }

    /// The ids of `targets` not linked from this row yet, ascending (a
    /// symmetrical relation's mirrors are not looked at, as in Django).
    /// O(targets) expected; a target whose list and this row's are both
    /// long and were never searched by a write (after direct inserts into
    /// a custom through table) costs a scan of the shorter one.
    fn unlinked_ids(&self, targets: &Resolved) -> Vec<i64> {
        let Some((r, forward)) = self.rel() else { return Vec::new() };
        let links = &self.tx.state.links[r as usize];
        let dangling = &self.tx.state.dangling[r as usize];
        let live = targets.live.iter().filter(|&&(other, _)| {
            let p = self.pair(other, forward);
            !links.contains(p.source, p.target)
        });
        let missing =
            targets.missing.iter().filter(|&&id| !self.id_pairs(id).first().is_some_and(|&p| dangling.contains(p)));
        let mut ids: Vec<i64> = live.map(|&(_, id)| id).chain(missing.copied()).collect();
        ids.sort_unstable();
        ids
    }

    /// Whether a change hook watches this manager's relation. O(1) with no
    /// hook registered, else O(hooks).
    #[inline]
    fn hooked(&self) -> bool {
        self.rel().is_some_and(|(r, _)| self.tx.state.hooks.watch(r))
    }

    /// Calls the hooks of this manager's relation with `action` and
    /// `pk_set`, in registration order, each with this transaction; the
    /// first error stops the calls and is returned. Nothing to do for a
    /// reverse foreign key.
    ///
    /// # Errors
    /// A hook's error; [`Error::Unsupported`] when announcements would
    /// nest more than [`MAX_HOOK_DEPTH`] deep.
    fn announce(&mut self, action: M2mAction, pk_set: Option<&[i64]>) -> Result<()> {
        let Some((r, forward)) = self.rel() else { return Ok(()) };
        let hooks = self.tx.state.hooks.cloned(r);
        let schema = self.tx.schema_arc();
        let through = schema.rel(r).through;
        let depth = self.tx.hook_depth;
        if depth >= MAX_HOOK_DEPTH {
            return Err(Error::Unsupported {
                table: schema.table_name(through).to_owned(),
                reason: format!("change hooks nest at most {MAX_HOOK_DEPTH} deep (a hook's write announced to a hook, and so on); a hook that writes the relation it watches must stop itself"),
            });
        }
        let event = M2mChanged {
            action,
            through,
            instance: self.end.key,
            reverse: !forward,
            model: self.end.other,
            pk_set,
            schema: &schema,
        };
        self.tx.hook_depth = depth + 1;
        let mut tx = HookTxn::new(self.tx);
        let called = hooks.iter().try_for_each(|hook| hook(&event, &mut tx));
        self.tx.hook_depth = depth;
        called
    }

    fn add_slots(&mut self, targets: &[(u32, i64)], defaults: &Row) -> Result<usize> {
        // A `set` may have deleted this row by cascade in its removals.
        if !targets.is_empty() {
            self.live()?;
        }
        if let Some(f) = self.fk() {
            self.no_through_defaults(defaults)?;
            let column = self.tx.state.schema.fk(f).column;
            let mut n = 0;
            for &(slot, _) in targets {
                let me = Value::Int(self.end.key.id());
                if self.tx.state.tables[self.end.other.index()].get(slot, column) != me.as_ref() {
                    let key = Key::new(self.end.other, self.tx.state.tables[self.end.other.index()].id_at(slot));
                    let column_name = self.tx.state.schema.def(self.end.other).columns[column as usize].name.clone();
                    self.tx.update_row(key, &Row::new().with(column_name, me))?;
                    n += 1;
                }
            }
            return Ok(n);
        }
        let Some((r, forward)) = self.rel() else { return Ok(0) };
        let schema = &self.tx.state.schema;
        let rel = schema.rel(r);
        let symmetrical = rel.symmetrical;
        let custom = !rel.auto_through;
        let mut created = 0;
        for &(other, id) in targets {
            // A `set`'s removals may have deleted a target by cascade too
            // (custom through rows only delete rows; see `row_live`).
            if custom && self.tx.state.tables[self.end.other.index()].slot_of(id) != Some(other) {
                return Err(Error::NotFound { table: self.other_name(), id });
            }
            let p = self.pair(other, forward);
            created += self.link_once(r, p, defaults)?;
            if symmetrical && p.source != p.target {
                created += self.link_once(r, Pair { source: p.target, target: p.source }, defaults)?;
            }
        }
        Ok(created)
    }

    /// Links one pair unless already linked. Returns rows created.
    fn link_once(&mut self, r: RelId, p: Pair, defaults: &Row) -> Result<usize> {
        if self.tx.state.links[r as usize].find_for_write(p.source, p.target).is_some() {
            return Ok(0);
        }
        if matches!(self.tx.state.links[r as usize], Links::Auto(_)) {
            // An auto-created through row has no column to take a default
            // (its link columns come from the pair): refused when a row
            // would be made, as Django's through model refuses the keyword
            // then (a call that creates nothing does nothing).
            if !defaults.is_empty() {
                return Err(self.no_default_column(r, defaults));
            }
            // On a paired junction the mirror row comes with the pair; the
            // caller's link of the mirror then finds it.
            return Ok(self.tx.link_auto_pair(r, p.source, p.target));
        }
        let schema = self.tx.schema_arc();
        let rel = schema.rel(r);
        let through = schema.def(rel.through);
        let mut row = defaults.clone();
        let ids = (
            self.tx.state.tables[rel.source.index()].id_at(p.source),
            self.tx.state.tables[rel.target.index()].id_at(p.target),
        );
        row.set(through.columns[rel.source_column as usize].name.clone(), ids.0);
        row.set(through.columns[rel.target_column as usize].name.clone(), ids.1);
        self.tx.insert_row(rel.through, &row).map_err(|e| e.with_row(&row))?;
        Ok(1)
    }

    /// Deletes every link row of each pair (all duplicates in a custom
    /// through table; both directions of a symmetrical relation). Unrelated
    /// and missing targets are ignored. On a reverse foreign key accessor
    /// (nullable only) sets the targets' foreign key to `NULL`. Returns the
    /// number of link rows removed. O(targets) expected.
    ///
    /// # Errors
    /// [`Error::WrongTable`]; [`Error::Unsupported`] on a non-nullable
    /// foreign key; delete errors raised by rows referencing a custom
    /// through row ([`Error::Protected`], ...); [`Error::NotFound`] for
    /// this manager's own row once a write of the manager deleted it (see
    /// [`RelatedMut`]); a change hook's error, as for [`add`](Self::add).
    /// Nothing changes then.
    #[inline]
    pub fn remove<T: Into<Target>>(&mut self, targets: impl IntoIterator<Item = T>) -> Result<usize> {
        if let Some(auto) = self.auto_constrained() {
            return self.remove_auto(targets, auto);
        }
        self.live()?;
        let targets = self.resolve(targets)?;
        self.atomic(|m| m.remove_resolved(&targets))
    }

    /// Unlinks resolved targets, announcing it to the relation's hooks as
    /// `PreRemove` and `PostRemove` with every id (no announcement for no
    /// targets). Returns the rows removed or updated.
    fn remove_resolved(&mut self, targets: &Resolved) -> Result<usize> {
        let unlink = |m: &mut Self, targets: &Resolved| {
            let removed = m.remove_slots(&targets.live)?;
            let dangling = if targets.missing.is_empty() { 0 } else { m.remove_dangling(Some(&targets.missing)) };
            Ok(removed + dangling)
        };
        if !self.hooked() {
            return unlink(self, targets);
        }
        if targets.is_empty() {
            return Ok(0);
        }
        self.announced([M2mAction::PreRemove, M2mAction::PostRemove], Some(&targets.sorted_ids()), |m| {
            unlink(m, &m.looked_up_again(targets))
        })
    }

    /// Whether this manager unlinks rows: not on a reverse foreign key
    /// whose column is not nullable, where Django's `set` and
    /// `set(clear=True)` only add. O(1).
    fn unlinks(&self) -> bool {
        let schema = &self.tx.state.schema;
        self.fk().is_none_or(|f| {
            let fk = schema.fk(f);
            schema.def(fk.table).columns[fk.column as usize].nullable
        })
    }

    fn nullable_fk(&self, f: FkId, op: &str) -> Result<u16> {
        let schema = &self.tx.state.schema;
        let fk = schema.fk(f);
        let def = schema.def(fk.table);
        if def.columns[fk.column as usize].nullable {
            Ok(fk.column)
        } else {
            Err(Error::Unsupported {
                table: def.name.clone(),
                reason: format!("{op}() on a reverse foreign key needs a nullable column, and {}.{} is not; delete the rows instead", def.name, fk.name),
            })
        }
    }

    fn remove_slots(&mut self, targets: &[(u32, i64)]) -> Result<usize> {
        if let Some(f) = self.fk() {
            let column = self.nullable_fk(f, "remove")?;
            let me = ValueRef::Int(self.end.key.id());
            let mut n = 0;
            for &(slot, id) in targets {
                if self.tx.state.tables[self.end.other.index()].get(slot, column) == me {
                    let name = self.tx.state.schema.def(self.end.other).columns[column as usize].name.clone();
                    self.tx.update_row(Key::new(self.end.other, id), &Row::new().with(name, Value::Null))?;
                    n += 1;
                }
            }
            return Ok(n);
        }
        let Some((r, forward)) = self.rel() else { return Ok(0) };
        let symmetrical = self.tx.state.schema.rel(r).symmetrical;
        let pairs = targets.iter().flat_map(|&(other, _)| {
            let p = self.pair(other, forward);
            let mirror = (symmetrical && p.source != p.target).then_some(Pair { source: p.target, target: p.source });
            std::iter::once(p).chain(mirror)
        });
        let pairs: SmallVec<[Pair; 4]> = pairs.collect();
        if matches!(self.tx.state.links[r as usize], Links::Custom(_)) {
            return self.delete_link_rows(r, &pairs);
        }
        let mut removed = 0;
        for p in pairs {
            // On a paired junction the pair's removal takes its mirror row,
            // which the mirror's search then does not find.
            if let Some(fpos) = self.tx.state.links[r as usize].find_for_write(p.source, p.target) {
                removed += self.tx.unlink_auto(r, p.source, fpos);
            }
        }
        Ok(removed)
    }

    /// Deletes every row of a custom through table that links one of
    /// `pairs` (all of a pair's duplicates), in **one** delete: as Django's
    /// `remove`, `clear` and `set` delete the through rows with one
    /// query, a `Restrict` key from one of them to another is satisfied
    /// when the delete takes both, whatever their order. The delete
    /// follows `on_delete` and may take this manager's own row (see
    /// [`row_live`](Self::row_live)). Returns the rows of the through
    /// table deleted, those a cascade took included. O(pairs + rows
    /// deleted) expected.
    fn delete_link_rows(&mut self, r: RelId, pairs: &[Pair]) -> Result<usize> {
        let through = self.tx.state.schema.rel(r).through;
        let Links::Custom(j) = &mut self.tx.state.links[r as usize] else { return Ok(0) };
        let mut rows: Vec<(TableId, u32)> = Vec::new();
        for p in pairs {
            for fpos in j.find_all_for_write(p.source, p.target) {
                rows.push((through, j.target_entry(p.source, fpos).payload));
            }
        }
        if rows.is_empty() {
            return Ok(0);
        }
        let deleted = self.tx.delete_rows(&rows)?;
        Ok(deleted.count(self.tx.table_name(through)))
    }

    /// Deletes every link row at this end (for a non-symmetrical self
    /// relation, the rows where this row is on this manager's side; for a
    /// symmetrical one, both directions). On a reverse foreign key
    /// (nullable only) sets every referencing row's key to `NULL`. Returns
    /// the number of rows removed or updated. O(degree) (O(degree × log
    /// degree) on a reverse foreign key or a custom through table, whose
    /// rows are gathered in id order).
    ///
    /// # Errors
    /// [`Error::Unsupported`] on a non-nullable foreign key, the delete
    /// errors of rows referencing custom through rows,
    /// [`Error::NotFound`] for this manager's own row once a write of the
    /// manager deleted it (see [`RelatedMut`]), and a change hook's error,
    /// as for [`add`](Self::add). Nothing changes then.
    pub fn clear(&mut self) -> Result<usize> {
        self.live()?;
        self.atomic(|m| m.clear_announced())
    }

    /// [`clear_all`](Self::clear_all) between the hooks' `PreClear` and
    /// `PostClear`.
    fn clear_announced(&mut self) -> Result<usize> {
        self.announced([M2mAction::PreClear, M2mAction::PostClear], None, Self::clear_all)
    }

    /// Removes every link row at this end, dangling links included.
    fn clear_all(&mut self) -> Result<usize> {
        let others = self.current_both_ways();
        let removed = self.remove_slots(&others)?;
        Ok(removed + self.remove_dangling(None))
    }

    /// The other-end slots (deduplicated) with their ids: what `set`
    /// compares its targets with, as Django's `set` reads the manager's
    /// own rows.
    fn current(&self) -> Vec<(u32, i64)> {
        self.current_and(&[])
    }

    /// [`current`](Self::current), and on a symmetrical relation also the
    /// rows linked to this one by a row without its mirror (a half-written
    /// pair, from a direct write to the through table): what `clear`
    /// removes, as Django's `clear` deletes the rows naming this one on
    /// either side (`remove_slots` unlinks both directions of each).
    fn current_both_ways(&self) -> Vec<(u32, i64)> {
        match self.rel() {
            Some((r, true)) if self.tx.state.schema.rel(r).symmetrical => {
                self.current_and(self.tx.state.links[r as usize].neighbour_slots(self.end.slot, false))
            }
            _ => self.current(),
        }
    }

    /// The other-end slots followed by `more`, deduplicated, with their ids.
    fn current_and(&self, more: &[u32]) -> Vec<(u32, i64)> {
        let table = &self.tx.state.tables[self.end.other.index()];
        let mut seen = HashSet::new();
        let slots = self.read().other_slots().chain(more.iter().copied());
        slots.filter(|s| seen.insert(*s)).map(|s| (s, table.id_at(s))).collect()
    }

    /// Makes the other end exactly `targets`: removes the pairs not in it,
    /// adds the new ones; pairs that stay keep their link rows (ids and
    /// extra columns). All targets are validated before anything changes.
    /// On a non-nullable reverse foreign key it only adds (as Django does).
    /// On a symmetrical relation a pair that stays but lacks its mirror row
    /// (a direct delete from the through table) gets it back, as `add`
    /// heals one (Django's `set` leaves it half-written).
    /// As Django's, it adds the targets it found unlinked when it started:
    /// a change hook that unlinks one of the others meanwhile leaves it
    /// unlinked. O(targets + degree) expected (a reverse foreign key's
    /// rows are gathered in id order: O(degree × log degree)).
    ///
    /// # Errors
    /// As [`add`](Self::add) and [`remove`](Self::remove).
    pub fn set<T: Into<Target>>(&mut self, targets: impl IntoIterator<Item = T>) -> Result<()> {
        self.set_with(targets, Row::new())
    }

    /// [`set`](Self::set), filling new through rows from `through_defaults`.
    /// As `set`, plus O(defaults) per row made.
    ///
    /// # Errors
    /// As [`add_with`](Self::add_with).
    pub fn set_with<T: Into<Target>>(
        &mut self,
        targets: impl IntoIterator<Item = T>,
        through_defaults: Row,
    ) -> Result<()> {
        self.live()?;
        let targets = self.resolve_live(targets)?;
        self.atomic(|m| m.set_resolved(&targets, &through_defaults))
    }

    /// The body of `set`, as Django's: a `remove` of the linked ids not
    /// among `targets` (dangling links included; none on a reverse
    /// foreign key that cannot unlink), then an `add` of the targets not
    /// linked (and of every missing id, whose links the add completes),
    /// each announced to the relation's hooks when it has targets.
    fn set_resolved(&mut self, targets: &Resolved, defaults: &Row) -> Result<()> {
        let wanted: HashSet<i64> = targets.live.iter().map(|t| t.1).chain(targets.missing.iter().copied()).collect();
        let mut stale = Resolved::default();
        let mut have = HashSet::new();
        for (slot, id) in self.current() {
            have.insert(id);
            if !wanted.contains(&id) {
                stale.live.push((slot, id));
            }
        }
        for id in self.dangling_others() {
            if have.insert(id) && !wanted.contains(&id) {
                stale.missing.push(id);
            }
        }
        // A kept pair of a symmetrical relation whose mirror row a direct
        // delete took gets it back first, before any hook runs (so on the
        // state the call started from), and unannounced, as `add` names no
        // mirror it heals: a manager's writes heal a half-written pair
        // (SEMANTICS.md).
        let heal: Vec<(u32, i64)> =
            targets.live.iter().copied().filter(|t| have.contains(&t.1) && self.mirror_missing(t.0)).collect();
        if !heal.is_empty() {
            self.add_slots(&heal, defaults)?;
        }
        if self.unlinks() {
            self.remove_resolved(&stale)?;
        }
        // Every missing target goes to the add, which stores each one's
        // links (a half-written symmetrical dangling pair gets its
        // mirror); the announcement names only the ids not linked from
        // this row.
        let new = Resolved {
            live: targets.live.iter().copied().filter(|t| !have.contains(&t.1)).collect(),
            missing: targets.missing.clone(),
        };
        self.add_resolved(&new, defaults)?;
        Ok(())
    }

    /// On a symmetrical relation, whether the pair from this row to the
    /// row at `other` lacks its mirror row (a self-link has none to lack);
    /// false on any other relation. O(1) expected.
    fn mirror_missing(&self, other: u32) -> bool {
        let me = self.end.slot;
        self.rel().is_some_and(|(r, _)| {
            self.tx.state.schema.rel(r).symmetrical
                && other != me
                && !self.tx.state.links[r as usize].contains(other, me)
        })
    }

    /// `set(targets, clear=True)`: clears, then adds every target, so every
    /// link row is new and takes `through_defaults`. On a non-nullable
    /// reverse foreign key it only adds (as Django does: such a row cannot
    /// be unlinked, only moved). O(targets + degree) expected, as
    /// [`clear`](Self::clear) for the rows it clears.
    ///
    /// # Errors
    /// As [`clear`](Self::clear) (but for a non-nullable key) and
    /// [`add_with`](Self::add_with).
    pub fn set_clearing<T: Into<Target>>(
        &mut self,
        targets: impl IntoIterator<Item = T>,
        through_defaults: Row,
    ) -> Result<()> {
        self.live()?;
        let targets = self.resolve_live(targets)?;
        self.atomic(|m| {
            if m.unlinks() {
                m.clear_announced()?;
            }
            m.add_resolved(&targets, &through_defaults)?;
            Ok(())
        })
    }

    /// Inserts a row at the other end and links it, atomically (unlike
    /// Django, a failed link leaves no row behind). On a reverse foreign
    /// key, the new row's key points here. Returns the new row's key.
    /// O(columns) expected, as `insert`.
    ///
    /// # Errors
    /// The insert's errors (handing `values` back), and the link's (a
    /// change hook's among them, as for [`add`](Self::add));
    /// [`Error::NotFound`] for this manager's own row once a write of the
    /// manager deleted it (see [`RelatedMut`]). Nothing changes then.
    pub fn create(&mut self, values: Row) -> Result<Key> {
        self.create_with(values, Row::new())
    }

    /// [`create`](Self::create), filling a new custom through row from
    /// `through_defaults`. As `create`, plus O(defaults).
    ///
    /// # Errors
    /// As `create` and [`add_with`](Self::add_with).
    pub fn create_with(&mut self, values: Row, through_defaults: Row) -> Result<Key> {
        self.live()?;
        self.atomic(|m| m.create_linked(&values, &through_defaults))
    }

    /// A reverse foreign key has no through row to fill: `through_defaults`
    /// given to one of its managers are refused (Django's reverse
    /// foreign-key managers take no such argument).
    fn no_through_defaults(&self, through_defaults: &Row) -> Result<()> {
        if through_defaults.is_empty() {
            return Ok(());
        }
        Err(Error::Unsupported {
            table: self.other_name(),
            reason: "through_defaults fill a many-to-many relation's through rows, and a reverse foreign key has none; pass no defaults".into(),
        })
    }

    fn create_linked(&mut self, values: &Row, through_defaults: &Row) -> Result<Key> {
        let mut values = values.clone();
        if let Some(f) = self.fk() {
            self.no_through_defaults(through_defaults)?;
            let fk = self.tx.state.schema.fk(f);
            let name = self.tx.state.schema.def(fk.table).columns[fk.column as usize].name.clone();
            values.set(name, self.end.key.id());
        }
        let key = self.tx.insert_row(self.end.other, &values).map_err(|e| e.with_row(&values))?;
        if self.fk().is_none() {
            let slot = self.tx.slot_of(key)?;
            let live = std::iter::once((slot, key.id())).collect();
            self.add_resolved(&Resolved { live, missing: SmallVec::new() }, through_defaults)?;
        }
        Ok(key)
    }

    /// Finds the row matching every value of `lookup` **among the related
    /// rows only**; if there is none, creates one from `lookup` and
    /// `defaults` and links it. Returns the key and whether it was created.
    /// `lookup` and `defaults` may name the primary key `pk`, as in
    /// Django. On a reverse foreign key, a value `lookup` gives the key
    /// (by field or column name) is replaced by this row's id, as Django
    /// replaces the field's. O(degree) for the search.
    ///
    /// # Errors
    /// [`Error::UnknownColumn`] / [`Error::TypeMismatch`] /
    /// [`Error::WrongKey`] in `lookup`, [`Error::Unsupported`] for `pk`
    /// and `id` naming different rows,
    /// [`Error::MultipleFound`] when several link rows match (two rows, or
    /// one row linked twice in a custom through table: Django's `get()`
    /// over the join returns it twice), and the errors of `create`
    /// (among them [`Error::NotFound`] for a manager whose row is gone).
    pub fn get_or_create(&mut self, lookup: Row, defaults: Row) -> Result<(Key, bool)> {
        self.get_or_create_with(lookup, defaults, Row::new())
    }

    /// [`get_or_create`](Self::get_or_create), filling the new custom
    /// through row, when it creates one, from `through_defaults` (Django's
    /// `through_defaults` argument). As `get_or_create`: O(degree) for the
    /// search.
    ///
    /// # Errors
    /// As `get_or_create`, plus those of [`add_with`](Self::add_with)'s
    /// `through_defaults`.
    pub fn get_or_create_with(&mut self, lookup: Row, defaults: Row, through_defaults: Row) -> Result<(Key, bool)> {
        self.find_or_create(lookup, defaults, through_defaults, false)
    }

    /// Like [`get_or_create`](Self::get_or_create), but a found row is
    /// updated with `defaults` (its link is untouched). O(degree) for the
    /// search.
    ///
    /// # Errors
    /// As `get_or_create`, plus the update's errors.
    pub fn update_or_create(&mut self, lookup: Row, defaults: Row) -> Result<(Key, bool)> {
        self.update_or_create_with(lookup, defaults, Row::new())
    }

    /// [`update_or_create`](Self::update_or_create), filling the new custom
    /// through row, when it creates one, from `through_defaults`; a found
    /// row's link row is untouched, as in Django. O(degree) for the search.
    ///
    /// # Errors
    /// As `update_or_create`, plus those of [`add_with`](Self::add_with)'s
    /// `through_defaults`.
    pub fn update_or_create_with(&mut self, lookup: Row, defaults: Row, through_defaults: Row) -> Result<(Key, bool)> {
        self.find_or_create(lookup, defaults, through_defaults, true)
    }

    /// The body of `get_or_create_with` and (`update` true)
    /// `update_or_create_with`: the related row matching `lookup`, updated
    /// with `defaults` when `update`; else a new one from both, linked.
    fn find_or_create(
        &mut self,
        lookup: Row,
        defaults: Row,
        through_defaults: Row,
        update: bool,
    ) -> Result<(Key, bool)> {
        self.live()?;
        if self.fk().is_some() {
            // Refused whether or not a row is found, as every `_with` call
            // of a reverse foreign key refuses them.
            self.no_through_defaults(&through_defaults)?;
        }
        let (lookup, defaults) = (self.pk_as_id(lookup)?, self.pk_as_id(defaults)?);
        let lookup = self.own_key_in(lookup);
        self.atomic(|m| {
            if let Some(key) = m.find_related(&lookup)? {
                if update {
                    m.tx.update_row(key, &defaults).map_err(|e| e.with_row(&defaults))?;
                }
                return Ok((key, false));
            }
            let mut values = lookup;
            values.set_all(&defaults);
            Ok((m.create_linked(&values, &through_defaults)?, true))
        })
    }

    /// Runs `op` on this manager so that an error leaves the transaction as
    /// it was.
    ///
    /// With a change hook on the relation, a panic (a hook's) undoes the
    /// call too before it goes on unwinding, as a nested block's does
    /// ([`WriteTxn::undo_unless_ok`]): a caller that catches it inside the
    /// transaction finds the call undone, as after an error.
    fn atomic<T>(&mut self, op: impl FnOnce(&mut RelatedMut<'_, 'db>) -> Result<T>) -> Result<T> {
        let end = self.end;
        if self.hooked() {
            self.tx.undo_unless_ok(|tx| op(&mut RelatedMut { tx, end }))
        } else {
            self.tx.undo_if_err(|tx| op(&mut RelatedMut { tx, end }))
        }
    }

    /// On a reverse foreign key, `lookup` with the key to this manager's
    /// row in place of any value it gives the key. Django's manager sets
    /// `kwargs[field.name] = instance` before it looks, replacing a value
    /// given by field name; a value given by column name (`editor_id`) is
    /// replaced here too (Django would filter on both and make a row), so
    /// the row found or made is always one of this row's.
    /// Other managers' lookups are returned as given. O(lookup).
    fn own_key_in(&self, mut lookup: Row) -> Row {
        let Some(f) = self.fk() else { return lookup };
        let schema = &self.tx.state.schema;
        let fk = schema.fk(f);
        let column = &schema.def(fk.table).columns[fk.column as usize].name;
        lookup.retain(|n| n != fk.name && n != column);
        lookup.with(column.clone(), self.end.key.id())
    }

    /// `row` with Django's `pk` shortcut named `id`, the primary key it
    /// stands for, so that a lookup finds a row by it and a new row takes
    /// it. O(columns).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when `row` gives `pk` and `id` different
    /// values.
    fn pk_as_id(&self, mut row: Row) -> Result<Row> {
        let Some(pk) = row.cell("pk").cloned() else { return Ok(row) };
        match row.cell("id") {
            Some(id) if id.value() == pk.value() => {
                // One cell for both, keeping a key of the wrong table if
                // either is one (else a key over a bare id), so that the
                // row's check refuses it.
                let other = self.end.other;
                let keep_pk =
                    pk.key().is_some_and(|p| id.key().is_none_or(|i| i.table() == other && p.table() != other));
                if keep_pk {
                    row.set("id", pk);
                }
                row.retain(|n| n != "pk");
                Ok(row)
            }
            Some(id) => Err(Error::Unsupported {
                table: self.other_name(),
                reason: format!("pk = {} and id = {} both name the primary key", pk.value(), id.value()),
            }),
            None => {
                row.rename("pk", "id");
                Ok(row)
            }
        }
    }

    /// The one related row whose columns equal `lookup`, found by the
    /// manager's own query with an `exact` filter per column: the equality
    /// of every query filter (NaN equal to itself, `-0.0` to `0.0`, as the
    /// unique index has it; `NULL` matching `NULL`), so a row this call
    /// stored with a NaN is found again. The query is not `distinct`: as
    /// Django's `get()` runs over the join, a row linked twice in a custom
    /// through table matches twice and is `MultipleFound`, as the
    /// manager's own `query()` sees it. O(degree) or better (see the
    /// query's `explain`).
    fn find_related(&self, lookup: &Row) -> Result<Option<Key>> {
        let t: TableId = self.end.other;
        // Names and types first, with the errors these calls always gave
        // (`UnknownColumn`, `TypeMismatch`), rather than a query's path
        // errors: a lookup names columns, not paths.
        for (name, cell) in lookup.cells() {
            let c = self.tx.column_of(t, name)?;
            self.tx.check_value(t, c, cell).or_else(|e| if cell.value().is_null() { Ok(()) } else { Err(e) })?;
        }
        let conditions = lookup.cells().map(|(name, cell)| (name, Arg::from(cell)));
        let found = self.query().filter_all(conditions)?.keys();
        match found.as_slice() {
            [] => Ok(None),
            [key] => Ok(Some(*key)),
            _ => Err(Error::MultipleFound { table: self.other_name(), count: found.len() }),
        }
    }
}
