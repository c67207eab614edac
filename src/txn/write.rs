//! [`WriteTxn`]: inserts, updates and deletes (with `on_delete` cascades),
//! each validated before it mutates anything and logged for rollback.

use std::collections::{HashMap, HashSet};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use parking_lot::MappedRwLockWriteGuard;
use smallvec::SmallVec;

use super::undo::{Mark, Undo};
use super::view::{dangling_id, pair_id, Key, Loc, TableRef, View};
use super::Held;
use crate::error::{Error, Result};
use crate::relation::Links;
use crate::schema::{OnDelete, RelId, Schema, TableId, TableKind};
use crate::storage::MAX_SLOTS;
use crate::value::{CellValue, Row, Value, ValueRef};

/// `keys` by table and id (`Key`'s order within a schema), each once: a
/// refused delete's `referencing`.
fn sorted_once(mut keys: Vec<Key>) -> Vec<Key> {
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Out of line, so that `begin_write` stays small enough to inline.
#[cold]
#[inline(never)]
fn clear_stale_undo(view: &mut View) {
    view.undo.clear();
}

/// Undoes what its transaction logged after `mark` when it is dropped:
/// [`WriteTxn::undo_if_err`] forgets it when its call succeeds, and drops it
/// when the call returns an error or a panic unwinds through it. The
/// rollback cannot panic on a log its own writes made, so it is safe to run
/// during unwinding (a transaction's own drop does the same).
struct UndoOnDrop<'t, 'db> {
    tx: &'t mut WriteTxn<'db>,
    mark: Mark,
}

impl Drop for UndoOnDrop<'_, '_> {
    fn drop(&mut self) {
        self.tx.rollback_to(self.mark);
    }
}

/// An exclusive write transaction. Every change it makes is undone if it
/// is dropped without [`commit`](WriteTxn::commit) (including by a panic
/// or an error returned from a [`Database::write`](crate::Database::write)
/// closure, or [`Database::write_mut`](crate::Database::write_mut)'s). It
/// dereferences to [`View`] for reads, which see its own writes.
///
/// Each write method is atomic on its own: when it returns an error, the
/// transaction is exactly as it was before the call and can go on. So it
/// is when a panic raised inside a call (by the targets' iterator a
/// manager call consumes, a key iterator given to `delete_many`, or a
/// change hook) unwinds out of it: the call's writes are undone as the
/// panic passes, so one caught inside the transaction finds the call
/// undone, and the transaction can go on or commit. Let a panic unwind
/// through the transaction and the whole transaction rolls back; catch it
/// around an [`atomic`](WriteTxn::atomic) block and the block's writes
/// are undone.
///
/// A transaction leaked with `std::mem::forget` is neither committed nor
/// undone: one taken through the lock keeps the database locked for the
/// other threads, and this thread's later `read`, `write` and
/// `begin_write` on the database are refused with
/// [`Error::Reentrant`](crate::Error::Reentrant); one taken through
/// [`Database::begin_write_mut`](crate::Database::begin_write_mut) leaves
/// its changes in place. Either way the next transaction taken through an
/// exclusive borrow (`write_mut`, which needs no lock) keeps the leaked
/// changes as if they had been committed.
///
/// A write transaction stays on the thread that took it, as a
/// [`ReadTxn`](crate::ReadTxn) does:
///
/// ```compile_fail
/// # use junctiondb::{Database, Schema};
/// let db = Database::new(Schema::builder().build().unwrap());
/// let tx = db.begin_write().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(tx)); // error: `WriteTxn` is not `Send`
/// });
/// ```
pub struct WriteTxn<'db> {
    /// The state, locked or exclusively borrowed; its [`View::undo`] is
    /// this transaction's log.
    pub(crate) state: Access<'db>,
    committed: bool,
    /// How many change hooks' calls are under way (a hook's write may be
    /// announced to hooks in turn): at most
    /// [`MAX_HOOK_DEPTH`](super::hooks::MAX_HOOK_DEPTH).
    pub(crate) hook_depth: u8,
    /// The thread's record of the lock, for a locked transaction.
    _held: Option<Held>,
}

/// How a write transaction reaches the database's state: through its lock
/// ([`Database::begin_write`](crate::Database::begin_write)), or through an
/// exclusive borrow of the database
/// ([`Database::begin_write_mut`](crate::Database::begin_write_mut)), which
/// the borrow checker already proves has no other transaction, so it takes
/// no lock.
pub(crate) enum Access<'db> {
    Locked(MappedRwLockWriteGuard<'db, View>),
    Exclusive(&'db mut View),
}

impl Deref for Access<'_> {
    type Target = View;

    #[inline(always)]
    fn deref(&self) -> &View {
        match self {
            Access::Locked(guard) => guard,
            Access::Exclusive(view) => view,
        }
    }
}

impl DerefMut for Access<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut View {
        match self {
            Access::Locked(guard) => guard,
            Access::Exclusive(view) => view,
        }
    }
}

impl Deref for WriteTxn<'_> {
    type Target = View;

    #[inline]
    fn deref(&self) -> &View {
        &self.state
    }
}

impl Drop for WriteTxn<'_> {
    fn drop(&mut self) {
        // A committed transaction's log was cleared by its last act (see
        // `commit_in_place`).
        debug_assert!(!self.committed || self.state.undo.mark() == Mark::default(), "a write after commit");
        if !self.committed {
            self.rollback_to(Mark::default());
            self.state.undo.clear();
        }
    }
}

/// The row whose values a constraint check is for.
#[derive(Clone, Copy)]
enum Writing {
    /// A row being inserted, with the id it takes: a key of its own table
    /// may name it, as Django's deferred constraints allow
    /// `Node(id=1, parent_id=1)`.
    Insert(i64),
    /// The row at this slot, being updated: its own value is no conflict
    /// for a unique column.
    Update(u32),
}

/// What a delete removed, per table (through tables included), in the
/// order the tables were first touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    counts: Vec<(String, usize)>,
}

impl Deleted {
    /// Rows removed from `table`. O(tables touched).
    pub fn count(&self, table: &str) -> usize {
        self.counts.iter().find(|(t, _)| t == table).map_or(0, |(_, n)| *n)
    }

    /// Rows removed in all. O(tables touched).
    pub fn total(&self) -> usize {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// `(table, rows removed)` pairs, in the order the tables were first
    /// touched. O(1) per pair.
    pub fn iter(&self) -> impl Iterator<Item = (&str, usize)> {
        self.counts.iter().map(|(t, n)| (t.as_str(), *n))
    }

    /// Adds `other`'s counts to these.
    fn merge(&mut self, other: Deleted) {
        other.iter().for_each(|(t, n)| self.add(t, n));
    }

    fn add(&mut self, table: &str, n: usize) {
        match self.counts.iter_mut().find(|(t, _)| t == table) {
            Some((_, c)) => *c += n,
            None => self.counts.push((table.to_owned(), n)),
        }
    }
}

impl<'db> WriteTxn<'db> {
    #[inline]
    pub(crate) fn new(mut state: Access<'db>, held: Option<Held>) -> Self {
        // Only a revert that panicked while a transaction was dropped can
        // leave records behind; they belong to that transaction, not this
        // one.
        if state.undo.mark() != Mark::default() {
            clear_stale_undo(&mut state);
        }
        WriteTxn { state, committed: false, hook_depth: 0, _held: held }
    }

    /// Whether this transaction was taken without the lock (and so with no
    /// record of holding it).
    #[cfg(test)]
    pub(crate) fn holds_no_lock(&self) -> bool {
        self._held.is_none()
    }

    /// Makes every change of this transaction visible to later readers and
    /// releases the lock. O(records of the log other than link records),
    /// which are dropped; the emptied log is kept for the next
    /// transaction.
    #[inline]
    pub fn commit(mut self) {
        self.commit_in_place();
    }

    /// [`commit`](Self::commit) without moving the transaction: its drop
    /// then finds it committed and does nothing. `Database::write` and
    /// `write_mut` commit this way: moved into `commit`, the transaction
    /// was copied 16 bytes at a time out of a stack slot whose fields
    /// had been written one by one, a load the processor cannot forward
    /// from those stores, so it waited for every older store to reach
    /// the cache (an operation's misses, a removal's fix-ups of other
    /// rows' lists); `perf` put 11% of a removal's time there. It must be
    /// the transaction's last act: a write after it would be logged and
    /// never cleared (checked in debug builds when the transaction drops).
    /// O(records of the log other than link records), as `commit`.
    #[inline]
    pub(crate) fn commit_in_place(&mut self) {
        self.committed = true;
        // One dereference of the state for both.
        let view: &mut View = &mut self.state;
        view.undo.clear();
        if view.may_be_unpaired {
            view.pair_again_where_due();
        }
    }

    /// Runs `f` as a nested atomic block, a savepoint (Django's nested
    /// `transaction.atomic()`, SQL's `SAVEPOINT`): when `f` returns `Ok`,
    /// its changes stay part of this transaction (and go with it if the
    /// transaction rolls back); when it returns `Err`, or panics, every
    /// change it made is undone and the transaction goes on as it was when
    /// the block began. Blocks nest to any depth, each undoing its own
    /// changes only.
    ///
    /// A panic caught around a block finds all the block's writes undone,
    /// those of the calls that had returned included, where one caught
    /// around a bare call finds that call's writes undone (see
    /// [`WriteTxn`]) and the earlier calls' kept.
    ///
    /// A rollback restores everything the block changed, as a
    /// transaction's does, the ids included: the ids of rows the block
    /// inserted and undid are given again to the next inserts (as SQLite
    /// does after `ROLLBACK TO`; PostgreSQL's sequences would not), so a
    /// [`Key`] kept from inside a failed block may name a later row.
    ///
    /// O(1) to enter and to leave with `Ok`, besides `f`'s own work; a
    /// rollback costs O(changes the block made).
    ///
    /// # Errors
    /// `f`'s error, after the block's changes are undone.
    ///
    /// ```
    /// use junctiondb::{row, Database, Error, Schema, Type};
    ///
    /// let schema = Schema::builder()
    ///     .table("tag", |t| {
    ///         t.column("name", Type::Text).unique();
    ///     })
    ///     .build()?;
    /// let db = Database::new(schema);
    /// db.write(|tx| {
    ///     tx.insert("tag", row! {"name" => "rust"})?;
    ///     let tried = tx.atomic(|tx| {
    ///         tx.insert("tag", row! {"name" => "db"})?;
    ///         tx.insert("tag", row! {"name" => "rust"}) // a duplicate: refused
    ///     });
    ///     assert!(matches!(tried, Err(Error::Unique { .. })));
    ///     // "db" went with the block; "rust" from before it stays.
    ///     assert_eq!(tx.count("tag")?, 1);
    ///     Ok::<_, Error>(())
    /// })?;
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// A block cannot exchange its transaction for another one, whose
    /// changes its rollback would then undo:
    ///
    /// ```compile_fail
    /// # use junctiondb::{Database, Error, Schema, Type};
    /// # let schema = || Schema::builder().table("t", |t| { t.column("x", Type::Int); }).build().unwrap();
    /// # let (a, b) = (Database::new(schema()), Database::new(schema()));
    /// let mut other = b.begin_write()?;
    /// let mut tx = a.begin_write()?;
    /// let _ = tx.atomic(|tx| {
    ///     std::mem::swap(tx, &mut other); // borrowed data escapes the closure
    ///     Err::<(), _>(Error::vetoed("undo"))
    /// });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn atomic<T, E>(
        &mut self,
        f: impl FnOnce(&mut WriteTxn<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        // `f` takes a transaction of any lifetime, so it cannot swap this
        // one for another transaction (of another database) whose log the
        // rollback would then undo instead.
        self.undo_unless_ok(f)
    }

    /// Runs `f` so that an error or a panic leaves the transaction as it
    /// was (the panic then goes on unwinding): the body of
    /// [`atomic`](Self::atomic) and of a manager call on a relation a
    /// change hook watches. O(1) besides `f`, and O(changes undone) on a
    /// rollback.
    pub(crate) fn undo_unless_ok<T, E>(
        &mut self,
        f: impl FnOnce(&mut Self) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let (mark, depth) = (self.state.undo.mark(), self.hook_depth);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.rollback_to(mark);
                Err(e)
            }
            Err(panic) => {
                // A hook's panic leaves the announcement that called it
                // counted among the hook calls under way.
                self.hook_depth = depth;
                self.rollback_to(mark);
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Undoes everything logged after `mark`, newest first.
    pub(crate) fn rollback_to(&mut self, mark: Mark) {
        let (undo, reverted) = self.state.undo_and_reverted();
        undo.rollback_to(mark, reverted);
    }

    /// Runs `op` so that an error, or a panic unwinding through it (from a
    /// caller's iterator that `op` consumes, say), leaves the transaction
    /// as it was. Unlike [`undo_unless_ok`](Self::undo_unless_ok) it
    /// catches nothing: the undo runs as the panic passes, which costs the
    /// path that returns `Ok` nothing but the guard's two words. Inlined:
    /// without it the peers `delete_user` at S ran at 2,324–2,641 ns
    /// against 2,288–2,393 (five alternating runs each).
    #[inline(always)]
    pub(crate) fn undo_if_err<T>(&mut self, op: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let guard = UndoOnDrop { mark: self.state.undo.mark(), tx: self };
        let result = op(guard.tx);
        if result.is_ok() {
            std::mem::forget(guard);
        }
        result
    }

    pub(crate) fn schema_arc(&self) -> Arc<Schema> {
        Arc::clone(&self.state.schema)
    }

    /// Inserts a row and returns its key. Columns not given take their
    /// default, or `NULL` when nullable; `id` is assigned (one more than the
    /// largest ever used, not counting the ids of inserts a rollback undid)
    /// unless given. Inserting into a custom through
    /// table links the pair it names; into an auto-created through table,
    /// links the pair (`<source>_id`, `<target>_id`; `from_<table>_id`,
    /// `to_<table>_id` for a self relation). O(columns) expected; a row
    /// `(a, b)` inserted alone into a symmetrical relation's auto-created
    /// through first gives its junction the two-list form, O(links of the
    /// relation), once (see `relation::junction`, "Paired lists").
    ///
    /// # Errors
    /// [`Error::UnknownTable`], [`Error::UnknownColumn`],
    /// [`Error::TypeMismatch`], [`Error::NotNull`], [`Error::Unique`] (also
    /// for an `id` in use), [`Error::InvalidId`], [`Error::ForeignKey`],
    /// [`Error::WrongKey`] for a [`Key`] of another table than its column
    /// refers to (or for a plain column), [`Error::TableFull`], and
    /// [`Error::Unsupported`] for an `id` given
    /// to an auto-created through table (its ids come from the pair).
    /// Nothing changed. An error about the row's values (every variant
    /// above but `UnknownTable`, `TableFull` and `Unsupported`) hands the
    /// row back ([`Error::into_row`]).
    pub fn insert(&mut self, table: impl TableRef, row: Row) -> Result<Key> {
        let t = table.resolve(&self.state.schema)?;
        self.undo_if_err(|tx| tx.insert_row(t, &row)).map_err(|e| e.with_row(&row))
    }

    pub(crate) fn insert_row(&mut self, t: TableId, row: &Row) -> Result<Key> {
        let schema = self.schema_arc();
        let def = schema.def(t);
        if let TableKind::AutoThrough(r) = def.kind {
            return self.insert_auto_through(t, r, row);
        }
        let mut values: Vec<Option<Value>> = vec![None; def.columns.len()];
        for (name, cell) in row.cells() {
            let c = self.column_of(t, name)?;
            self.check_value(t, c, cell)?;
            values[c as usize] = Some(cell.value().clone());
        }
        let table = &self.state.tables[t.index()];
        let id = match values[0].take() {
            Some(Value::Int(id)) => {
                // i64::MAX is kept free so that `next_id` (one more than
                // the largest id) always exists.
                if id < 1 || id == i64::MAX {
                    return Err(Error::InvalidId { table: def.name.clone(), id, row: None });
                }
                if table.slot_of(id).is_some() {
                    return Err(Error::Unique {
                        table: def.name.clone(),
                        column: "id".into(),
                        value: Value::Int(id),
                        row: None,
                    });
                }
                id
            }
            _ => match table.next_id() {
                // Every id has been used: committed ids are never given again.
                i64::MAX => return Err(Error::TableFull { table: def.name.clone() }),
                id => id,
            },
        };
        let mut full = Vec::with_capacity(values.len());
        full.push(Value::Int(id));
        for (c, v) in values.into_iter().enumerate().skip(1) {
            let col = &def.columns[c];
            let v = match v {
                Some(v) => v,
                None => match (&col.default, col.nullable) {
                    (Some(d), _) => d.clone(),
                    (None, true) => Value::Null,
                    (None, false) => {
                        return Err(Error::NotNull { table: def.name.clone(), column: col.name.clone(), row: None })
                    }
                },
            };
            full.push(v);
        }
        for (c, v) in full.iter().enumerate().skip(1) {
            self.check_constraints(t, c as u16, v, Writing::Insert(id))?;
        }
        if table.slot_for(id).0 as usize >= MAX_SLOTS {
            return Err(Error::TableFull { table: def.name.clone() });
        }
        let next_id = table.next_id();
        let (slot, fresh) = self.state.tables[t.index()].insert(full);
        self.state.undo.push(Undo::Insert { table: t, slot, fresh, next_id });
        for &r in &def.through_for {
            self.link_through_row(r, slot);
        }
        self.promote_dangling(t, id);
        Ok(Key::new(t, id))
    }

    fn insert_auto_through(&mut self, t: TableId, r: RelId, row: &Row) -> Result<Key> {
        let schema = self.schema_arc();
        let def = schema.def(t);
        let rel = schema.rel(r);
        let mut ends = [None, None];
        for (name, cell) in row.cells() {
            let c = self.column_of(t, name)?;
            if c == 0 {
                return Err(Error::Unsupported {
                    table: def.name.clone(),
                    reason: "ids of auto-created through rows are derived from the pair; do not give one".into(),
                });
            }
            self.check_value(t, c, cell)?;
            ends[c as usize - 1] = cell.value().as_int();
        }
        let not_null =
            |i: usize| Error::NotNull { table: def.name.clone(), column: def.columns[i + 1].name.clone(), row: None };
        let mut slots = [0u32; 2];
        if !rel.db_constraint {
            // Both link columns are required, though their rows are not
            // checked: a missing column is `NotNull` whatever the other names.
            let a = ends[0].ok_or_else(|| not_null(0))?;
            let b = ends[1].ok_or_else(|| not_null(1))?;
            let known = |side: TableId, id: i64| self.state.tables[side.index()].slot_of(id).is_some();
            if !(known(rel.source, a) && known(rel.target, b)) {
                let Some(index) = self.push_dangling(r, a, b) else {
                    return Err(Error::Unique {
                        table: def.name.clone(),
                        column: format!("{}, {}", def.columns[1].name, def.columns[2].name),
                        value: Value::Text(format!("({a}, {b})")),
                        row: None,
                    });
                };
                return Ok(Key::new(t, dangling_id(index)));
            }
        }
        for (i, (end, side)) in ends.into_iter().zip([rel.source, rel.target]).enumerate() {
            let id = end.ok_or_else(|| not_null(i))?;
            slots[i] = self.state.tables[side.index()].slot_of(id).ok_or_else(|| Error::ForeignKey {
                table: def.name.clone(),
                column: def.columns[i + 1].name.clone(),
                target: schema.def(side).name.clone(),
                id,
                row: None,
            })?;
        }
        let [s, tt] = slots;
        if self.state.links[r as usize].contains(s, tt) {
            return Err(Error::Unique {
                table: def.name.clone(),
                column: format!("{}, {}", def.columns[1].name, def.columns[2].name),
                value: Value::Text(format!("({}, {})", ends[0].unwrap_or(0), ends[1].unwrap_or(0))),
                row: None,
            });
        }
        self.link_auto(r, s, tt);
        Ok(Key::new(t, pair_id(s, tt)))
    }

    pub(crate) fn column_of(&self, t: TableId, name: &str) -> Result<u16> {
        let def = self.state.schema.def(t);
        def.column(name).ok_or_else(|| Error::UnknownColumn {
            table: def.name.clone(),
            column: name.to_owned(),
            row: None,
        })
    }

    /// Type and nullability of one cell's value for column `c`, and for a
    /// cell set from a [`Key`], that the column refers to the key's table
    /// (see `Schema::check_key`). O(1).
    ///
    /// # Errors
    /// [`Error::WrongKey`] for a key of another table than the column
    /// refers to, or for a plain column; [`Error::NotNull`],
    /// [`Error::TypeMismatch`].
    pub(crate) fn check_value(&self, t: TableId, c: u16, cell: &CellValue) -> Result<()> {
        let schema = &self.state.schema;
        let def = schema.def(t);
        let col = &def.columns[c as usize];
        schema.check_key(t, c, cell)?;
        let value = cell.value();
        match value.type_of() {
            None if col.nullable || c == 0 => Ok(()),
            None => Err(Error::NotNull { table: def.name.clone(), column: col.name.clone(), row: None }),
            Some(ty) if ty == col.ty => Ok(()),
            Some(_) => Err(def.type_mismatch(c, value.clone())),
        }
    }

    /// Uniqueness and foreign-key existence of one value for column `c`
    /// for the row `writing`.
    fn check_constraints(&self, t: TableId, c: u16, value: &Value, writing: Writing) -> Result<()> {
        let (except, inserting) = match writing {
            Writing::Insert(id) => (None, Some(id)),
            Writing::Update(slot) => (Some(slot), None),
        };
        let schema = &self.state.schema;
        let def = schema.def(t);
        let col = &def.columns[c as usize];
        if value.is_null() {
            return Ok(());
        }
        if col.unique && self.state.tables[t.index()].unique_conflict(c, value.as_ref(), except).is_some() {
            return Err(Error::Unique {
                table: def.name.clone(),
                column: col.name.clone(),
                value: value.clone(),
                row: None,
            });
        }
        if let Some(f) = col.fk {
            let fk = schema.fk(f);
            let id = value.as_int().unwrap_or(0);
            let itself = fk.target == t && inserting == Some(id);
            if fk.db_constraint && !itself && self.state.tables[fk.target.index()].slot_of(id).is_none() {
                return Err(Error::ForeignKey {
                    table: def.name.clone(),
                    column: col.name.clone(),
                    target: schema.def(fk.target).name.clone(),
                    id,
                    row: None,
                });
            }
        }
        Ok(())
    }

    /// Links the one auto-created through row `(s, t)`, unpairing a
    /// paired junction first unless the row is `(s, s)`, its own mirror
    /// (see [`unpair`](Self::unpair)). O(1) amortized, O(links) when it
    /// unpairs.
    pub(crate) fn link_auto(&mut self, r: RelId, s: u32, t: u32) {
        if s != t {
            self.unpair(r);
        }
        self.link_auto_pair(r, s, t);
    }

    /// Links the unlinked pair `(s, t)` of an auto-created through, as a
    /// related manager does: on a paired junction the row and its mirror
    /// row `(t, s)` (one row when `s == t`), which a manager's step for the
    /// mirror then finds linked; else the row alone. Logged for rollback.
    /// Returns the rows linked. Inlined into the managers' `add` loop, the
    /// hot path of a bulk load. O(1) amortized.
    #[inline(always)]
    pub(crate) fn link_auto_pair(&mut self, r: RelId, s: u32, t: u32) -> usize {
        let n = match &mut self.state.links[r as usize] {
            Links::Auto(j) if j.is_paired() => j.link_pair(s, t),
            Links::Auto(j) => {
                j.link(s, t, ());
                1
            }
            Links::Custom(_) => return 0,
        };
        self.state.undo.push_link(r, s);
        n
    }

    /// Before a write of one row of a symmetrical relation's auto-created
    /// through alone (a direct insert or delete, a dangling link's
    /// promotion without its mirror): a paired junction keeps two lists,
    /// logged so that a rollback pairs it again, until a commit finds
    /// every row mirrored again ([`View::pair_again_where_due`]; see
    /// `relation::junction`, "Paired lists"). O(rows) when it unpairs,
    /// else O(1).
    pub(crate) fn unpair(&mut self, r: RelId) {
        if let Links::Auto(j) = &mut self.state.links[r as usize] {
            if j.unpair() {
                self.state.undo.push(Undo::Unpaired { rel: r });
                self.state.may_be_unpaired = true;
            }
        }
    }

    /// The endpoint slots a custom through row links, if both are set.
    fn through_ends(&self, r: RelId, slot: u32) -> Option<(u32, u32)> {
        let rel = self.state.schema.rel(r);
        let through = &self.state.tables[rel.through.index()];
        let a = through.get(slot, rel.source_column).as_int()?;
        let b = through.get(slot, rel.target_column).as_int()?;
        Some((self.state.tables[rel.source.index()].slot_of(a)?, self.state.tables[rel.target.index()].slot_of(b)?))
    }

    fn link_through_row(&mut self, r: RelId, slot: u32) {
        if let Some((s, t)) = self.through_ends(r, slot) {
            if let Links::Custom(j) = &mut self.state.links[r as usize] {
                j.link(s, t, slot);
                self.state.undo.push_link(r, s);
            }
        }
    }

    fn unlink_through_row(&mut self, r: RelId, slot: u32) {
        let Some((s, t)) = self.through_ends(r, slot) else { return };
        if let Links::Custom(j) = &mut self.state.links[r as usize] {
            let pos = j.find_all_for_write(s, t).into_iter().find(|&p| j.target_entry(s, p).payload == slot);
            if let Some(fpos) = pos {
                self.unlink_at(r, s, fpos);
            }
        }
    }

    /// Removes the auto-created through pair at `fwd[s][fpos]` (and its
    /// mirror row on a paired junction). Returns the rows removed.
    #[inline]
    pub(crate) fn unlink_auto(&mut self, r: RelId, s: u32, fpos: u32) -> usize {
        debug_assert!(matches!(self.state.links[r as usize], Links::Auto(_)), "an auto-created through");
        self.unlink_at(r, s, fpos)
    }

    /// Removes the pair at `fwd[s][fpos]` of `r`'s junction (with its
    /// mirror row on a paired junction), and logs it. Returns the rows
    /// removed.
    ///
    /// The record is logged first, from the entry about to go, which the
    /// removal then does not read again (`Junction::remove_unlinked`). Logged
    /// after, it was copied into the log out of a stack temporary written
    /// field by field and read back 16 bytes at a time, a load the
    /// processor cannot forward from those stores, so it waited for them
    /// to reach the cache, and stores reach it in order: behind the
    /// removal's own, the fix-ups of the moved entries' backs in other
    /// rows' lists, each a likely miss. `perf` put 36% of a removal's time
    /// on that load. Logged first, the load waits only for older stores,
    /// mostly gone by then. A standalone program removing the peers S
    /// pairs through the API (hits and misses mixed), alternating runs:
    /// 320–330 → 253–284 ns; the peers child, 295–347 → 259–262 with the
    /// in-place commit too (see `docs/design.md`, fifteenth session).
    /// O(1) expected.
    #[inline(always)]
    fn unlink_at(&mut self, r: RelId, s: u32, fpos: u32) -> usize {
        let view = &mut *self.state;
        match &mut view.links[r as usize] {
            Links::Auto(j) => {
                let unlinked = j.unlinked_at(s, fpos);
                view.undo.push(Undo::UnlinkAuto { rel: r, unlinked });
                j.remove_unlinked(unlinked)
            }
            Links::Custom(j) => {
                let unlinked = j.unlinked_at(s, fpos);
                view.undo.push(Undo::UnlinkCustom { rel: r, unlinked });
                j.remove_unlinked(unlinked)
            }
        }
    }

    /// Stores a link naming a missing id (`db_constraint(false)`), unless
    /// it is stored already. Returns its place, `None` if it was stored.
    pub(crate) fn push_dangling(&mut self, r: RelId, source_id: i64, target_id: i64) -> Option<u32> {
        let list = &mut self.state.dangling[r as usize];
        if list.contains((source_id, target_id)) {
            return None;
        }
        let (index, fresh) = list.insert((source_id, target_id));
        self.state.undo.push(Undo::DanglingPush { rel: r, index, fresh });
        Some(index)
    }

    /// Removes the dangling link at place `index`, if there is one.
    pub(crate) fn remove_dangling_at(&mut self, r: RelId, index: u32) {
        if let Some(pair) = self.state.dangling[r as usize].remove(index) {
            self.state.undo.push(Undo::DanglingRemove { rel: r, index, pair: Box::new(pair) });
        }
    }

    /// Removes the dangling links of `r` whose source id (when `source`)
    /// or target id (when `target`) is `id`, and for which `matches`
    /// holds. Returns how many went. O(1 + links found) expected, plus
    /// `matches` on each.
    pub(crate) fn remove_dangling_where(
        &mut self,
        r: RelId,
        id: i64,
        (source, target): (bool, bool),
        matches: impl Fn(i64, i64) -> bool,
    ) -> usize {
        let named = self.state.dangling[r as usize].naming_ends(id, source, target);
        let doomed: SmallVec<[u32; 4]> = named.iter().filter(|&&(_, (a, b))| matches(a, b)).map(|&(i, _)| i).collect();
        for &i in &doomed {
            self.remove_dangling_at(r, i);
        }
        doomed.len()
    }

    /// After inserting row `id` into `t`: dangling links that named it and
    /// whose other end exists become real links.
    fn promote_dangling(&mut self, t: TableId, id: i64) {
        let schema = self.schema_arc();
        for &r in &schema.def(t).rels {
            if self.state.dangling[r as usize].is_empty() {
                continue;
            }
            let rel = schema.rel(r);
            let named: SmallVec<[(u32, i64, i64); 4]> = self.state.dangling[r as usize]
                .naming_ends(id, rel.source == t, rel.target == t)
                .into_iter()
                .map(|(i, (a, b))| (i, a, b))
                .collect();
            // On a paired junction a link and its mirror, both dangling
            // until now (both name the inserted id), become one pair of
            // rows; a link without its mirror unpairs the junction
            // (`link_auto`). The places by pair, for the mirrors: O(links
            // naming the id), as the promotion itself.
            let paired = |tx: &Self| matches!(&tx.state.links[r as usize], Links::Auto(j) if j.is_paired());
            let places: HashMap<(i64, i64), u32> =
                if paired(self) { named.iter().map(|&(i, a, b)| ((a, b), i)).collect() } else { HashMap::new() };
            for &(i, a, b) in &named {
                let source = self.state.tables[rel.source.index()].slot_of(a);
                let target = self.state.tables[rel.target.index()].slot_of(b);
                let (Some(s), Some(tt)) = (source, target) else { continue };
                if self.state.dangling[r as usize].get(i).is_none() {
                    continue; // promoted already, as an earlier link's mirror
                }
                self.remove_dangling_at(r, i);
                let mirror = if a != b && paired(self) { places.get(&(b, a)).copied() } else { None };
                match mirror {
                    Some(m) => {
                        self.remove_dangling_at(r, m);
                        self.link_auto_pair(r, s, tt);
                    }
                    None => self.link_auto(r, s, tt),
                }
            }
        }
    }

    /// Updates some columns of the row named by `key`. A custom through
    /// row whose link columns change moves to its new pair. O(columns)
    /// expected.
    ///
    /// # Errors
    /// [`Error::UnknownTable`] for a key of another schema;
    /// [`Error::NotFound`], [`Error::UnknownColumn`],
    /// [`Error::TypeMismatch`], [`Error::NotNull`], [`Error::Unique`],
    /// [`Error::ForeignKey`], [`Error::WrongKey`] (as for `insert`), and
    /// [`Error::Unsupported`] for `id` or an
    /// auto-created through row (remove and add the link instead).
    /// Nothing changed. An error about the row's values (every variant
    /// above but `UnknownTable`, `NotFound` and `Unsupported`) hands the
    /// row back ([`Error::into_row`]).
    pub fn update(&mut self, key: Key, row: Row) -> Result<()> {
        self.undo_if_err(|tx| tx.update_row(key, &row)).map_err(|e| e.with_row(&row))
    }

    /// Updates the same columns of every row named by `keys` to the same
    /// values, as Django's `QuerySet.update()`, and returns how many rows
    /// it updated (a key given twice counts once). All or nothing: the
    /// first refused row undoes the rows updated before it. The rows of a
    /// query are `tx.query(..)?.filter(..)?.keys()`, so that
    /// `update_many(keys, row! { "active" => false })` is Django's
    /// `filter(..).update(active=False)`. A unique column set to one value
    /// for two rows is refused at the second, as SQL refuses the
    /// statement. The values are checked against each row's table, so
    /// keys may name rows of several tables that share the columns, and
    /// no keys check nothing (Django checks the field names and values of
    /// an update that matches no row; here there is no table to check
    /// them against). O(keys × columns) expected.
    ///
    /// ```
    /// # use junctiondb::{row, Database, Schema, Type};
    /// # let schema = Schema::builder().table("item", |t| { t.column("stock", Type::Int); t.column("active", Type::Bool).default(true); }).build()?;
    /// # let db = Database::new(schema);
    /// db.write(|tx| {
    ///     for stock in [0, 3, 0] {
    ///         tx.insert("item", row! { "stock" => stock })?;
    ///     }
    ///     // Django's `Item.objects.filter(stock=0).update(active=False)`.
    ///     let updated = tx.update_many(tx.query("item")?.filter("stock", 0)?.keys(), row! { "active" => false })?;
    ///     assert_eq!(updated, 2);
    ///     assert_eq!(tx.query("item")?.filter("active", true)?.count(), 1);
    ///     Ok::<_, junctiondb::Error>(())
    /// })?;
    /// # Ok::<_, junctiondb::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`update`](Self::update), for the first key refused; nothing
    /// changed then, and an error about the row's values hands `row`
    /// back.
    pub fn update_many(&mut self, keys: impl IntoIterator<Item = Key>, row: Row) -> Result<usize> {
        let updated = self.undo_if_err(|tx| {
            let mut seen = HashSet::new();
            let mut updated = 0;
            for key in keys.into_iter().filter(|k| seen.insert(*k)) {
                tx.update_row(key, &row)?;
                updated += 1;
            }
            Ok(updated)
        });
        updated.map_err(|e| e.with_row(&row))
    }

    pub(crate) fn update_row(&mut self, key: Key, row: &Row) -> Result<()> {
        let schema = self.schema_arc();
        key.table().resolve(&schema)?;
        let def = schema.def(key.table());
        if def.kind != TableKind::Plain {
            return Err(Error::Unsupported {
                table: def.name.clone(),
                reason: "rows of an auto-created through table cannot be updated; remove the link and add the new one"
                    .into(),
            });
        }
        let slot = self.slot_of(key)?;
        let mut cells = Vec::with_capacity(row.len());
        for (name, cell) in row.cells() {
            let c = self.column_of(key.table(), name)?;
            if c == 0 {
                return Err(Error::Unsupported {
                    table: def.name.clone(),
                    reason: "the primary key id cannot be changed".into(),
                });
            }
            self.check_value(key.table(), c, cell)?;
            let value = cell.value();
            self.check_constraints(key.table(), c, value, Writing::Update(slot))?;
            cells.push((c, value.clone()));
        }
        self.set_cells(key.table(), slot, cells);
        Ok(())
    }

    /// Writes validated cells, keeping custom through links in step.
    fn set_cells(&mut self, t: TableId, slot: u32, cells: Vec<(u16, Value)>) {
        let schema = self.schema_arc();
        let def = schema.def(t);
        let moved: Vec<RelId> = def
            .through_for
            .iter()
            .copied()
            .filter(|&r| {
                let rel = schema.rel(r);
                cells.iter().any(|(c, _)| *c == rel.source_column || *c == rel.target_column)
            })
            .collect();
        for &r in &moved {
            self.unlink_through_row(r, slot);
        }
        for (c, v) in cells {
            let old = self.state.tables[t.index()].update(slot, c, v);
            self.state.undo.push(Undo::Update { table: t, slot, column: c, old: Box::new(old) });
        }
        for &r in &moved {
            self.link_through_row(r, slot);
        }
    }

    /// Deletes the row named by `key`, and per `on_delete` every row that
    /// references it: cascades through foreign keys, through rows of every
    /// many-to-many relation from both ends, `SetNull`/`SetDefault` updates.
    /// Costs O(rows removed + their degrees + rows updated) expected: the
    /// walk follows the foreign key indexes, the junctions and the
    /// dangling links' id index, never a whole table. Deleting one row
    /// `(a, b)` of a symmetrical relation's auto-created through costs
    /// O(links of the relation) once, as inserting one does (see
    /// [`insert`](Self::insert)).
    ///
    /// # Errors
    /// [`Error::UnknownTable`] for a key of another schema;
    /// [`Error::NotFound`]; [`Error::Protected`] or [`Error::Restricted`]
    /// (also `DoNothing` with `db_constraint` on) when a referencing row
    /// would be left dangling; [`Error::ForeignKey`] when a `SetDefault`
    /// default names no row (or one this delete removes);
    /// [`Error::Unique`] when a `SetDefault` default would repeat a value
    /// of a unique column. Nothing is deleted then.
    pub fn delete(&mut self, key: Key) -> Result<Deleted> {
        self.undo_if_err(|tx| tx.delete_key(key))
    }

    /// Deletes the rows named by `keys` in **one** delete, as Django's
    /// `QuerySet.delete()` does with one collector: as [`delete`](Self::delete)
    /// of each, except that a `Restrict` key from one of them (or a row
    /// their cascades reach) to another is satisfied, whatever their
    /// order, and each referencing row is counted once. A key given twice
    /// counts once. Costs as `delete` of them all.
    ///
    /// # Errors
    /// As [`delete`](Self::delete), for any of the keys (`NotFound` for a
    /// key that names no row). Nothing is deleted then.
    pub fn delete_many(&mut self, keys: impl IntoIterator<Item = Key>) -> Result<Deleted> {
        self.undo_if_err(|tx| {
            let (mut roots, mut deleted) = (Vec::new(), Deleted::default());
            let mut seen = HashSet::new();
            for key in keys.into_iter().filter(|k| seen.insert(*k)) {
                match tx.state.located(key)? {
                    Loc::Slot(slot) => roots.push((key.table(), slot)),
                    // A link row of an auto-created through table, which no
                    // key can reference: deleted alone, before the rows
                    // whose cascades could take it.
                    link => deleted.merge(tx.delete_link_row(key, link)?),
                }
            }
            deleted.merge(tx.delete_rows(&roots)?);
            Ok(deleted)
        })
    }

    pub(crate) fn delete_key(&mut self, key: Key) -> Result<Deleted> {
        match self.state.located(key)? {
            Loc::Slot(slot) => self.delete_rows(&[(key.table(), slot)]),
            link => self.delete_link_row(key, link),
        }
    }

    /// Deletes the row of an auto-created through table at `loc` (a pair
    /// or a dangling link; no key can reference one). O(1) expected, and
    /// O(links) when it unpairs a symmetrical relation's junction.
    fn delete_link_row(&mut self, key: Key, loc: Loc) -> Result<Deleted> {
        let TableKind::AutoThrough(r) = self.state.schema.def(key.table()).kind else {
            return Err(self.state.not_found(key));
        };
        match loc {
            Loc::Pair(s, t) => {
                // A search for a write: a long list searched gets its index.
                let fpos =
                    self.state.links[r as usize].find_for_write(s, t).ok_or_else(|| self.state.not_found(key))?;
                // The row goes without its mirror, unless it is `(s, s)`
                // (unpairing keeps the forward lists, and `fpos` with them).
                if s != t {
                    self.unpair(r);
                }
                self.unlink_auto(r, s, fpos);
            }
            Loc::Dangling(i) => self.remove_dangling_at(r, i),
            Loc::Slot(_) => return Err(self.state.not_found(key)),
        }
        let mut d = Deleted::default();
        d.add(&self.state.schema.def(key.table()).name, 1);
        Ok(d)
    }

    /// Collects the cascade from the rows at `roots` (`(table, slot)`,
    /// repeats ignored), checks it, then applies it: one delete, so a
    /// `Restrict` key from one row of it to another is satisfied whatever
    /// their order.
    pub(crate) fn delete_rows(&mut self, roots: &[(TableId, u32)]) -> Result<Deleted> {
        let schema = self.schema_arc();
        let mut set: HashSet<(TableId, u32)> = HashSet::new();
        let mut order: Vec<(TableId, u32)> = roots.iter().copied().filter(|&r| set.insert(r)).collect();
        let mut updates: Vec<(TableId, u32, u16, Value)> = Vec::new();
        let mut restricted: Vec<(TableId, i64, u32, Vec<u32>)> = Vec::new();
        // The first protected row, as `(table, id, key, referencing
        // rows)`, and every row that protects one: the walk goes on past
        // a protected row (not into it), so the error lists them all.
        let mut protected: Option<(TableId, i64, u32, usize)> = None;
        let mut protecting: Vec<Key> = Vec::new();
        let mut next = 0;
        while next < order.len() {
            let (t, s) = order[next];
            next += 1;
            let id = self.state.tables[t.index()].id_at(s);
            for &f in &schema.def(t).fks_in {
                let fk = schema.fk(f);
                // Nothing to collect or check: the referencing rows keep
                // their dangling key.
                if fk.on_delete == OnDelete::DoNothing && !fk.db_constraint {
                    continue;
                }
                let referencing = &self.state.tables[fk.table.index()];
                let mut refs: Vec<u32> =
                    referencing.probe(fk.column, ValueRef::Int(id)).map(Iterator::collect).unwrap_or_default();
                if refs.is_empty() {
                    continue;
                }
                refs.sort_unstable();
                match fk.on_delete {
                    OnDelete::Cascade => {
                        for r in refs {
                            if set.insert((fk.table, r)) {
                                order.push((fk.table, r));
                            }
                        }
                    }
                    OnDelete::Protect => {
                        protected.get_or_insert((t, id, f, refs.len()));
                        let by = &self.state.tables[fk.table.index()];
                        protecting.extend(refs.iter().map(|&r| Key::new(fk.table, by.id_at(r))));
                    }
                    OnDelete::Restrict => restricted.push((t, id, f, refs)),
                    OnDelete::DoNothing if fk.db_constraint => restricted.push((t, id, f, refs)),
                    OnDelete::DoNothing => {}
                    OnDelete::SetNull => {
                        updates.extend(refs.into_iter().map(|r| (fk.table, r, fk.column, Value::Null)))
                    }
                    OnDelete::SetDefault => {
                        let default =
                            schema.def(fk.table).columns[fk.column as usize].default.clone().unwrap_or(Value::Null);
                        updates.extend(refs.into_iter().map(|r| (fk.table, r, fk.column, default.clone())));
                    }
                }
            }
        }
        // A refused delete's fields: the first refusal found, `(table,
        // id, key, count)`, and every refusing row.
        let refusal = |(t, id, f, count): (TableId, i64, u32, usize), rows: Vec<Key>| {
            let fk = schema.fk(f);
            (
                schema.def(t).name.clone(),
                id,
                schema.def(fk.table).name.clone(),
                fk.name.clone(),
                count,
                sorted_once(rows),
            )
        };
        if let Some(first) = protected {
            let (table, id, referenced_by, field, count, referencing) = refusal(first, protecting);
            return Err(Error::Protected { table, id, referenced_by, field, count, referencing });
        }
        let mut first: Option<(TableId, i64, u32, usize)> = None;
        let mut restricting: Vec<Key> = Vec::new();
        for (t, id, f, refs) in restricted {
            let fk = schema.fk(f);
            let by = &self.state.tables[fk.table.index()];
            let left: Vec<Key> = refs
                .iter()
                .filter(|&&r| !set.contains(&(fk.table, r)))
                .map(|&r| Key::new(fk.table, by.id_at(r)))
                .collect();
            if !left.is_empty() {
                first.get_or_insert((t, id, f, left.len()));
                restricting.extend(left);
            }
        }
        if let Some(first) = first {
            let (table, id, referenced_by, field, count, referencing) = refusal(first, restricting);
            return Err(Error::Restricted { table, id, referenced_by, field, count, referencing });
        }
        updates.retain(|(t, s, _, _)| !set.contains(&(*t, *s)));
        for (t, _, c, v) in &updates {
            let f = schema.def(*t).columns[*c as usize].fk;
            if let (Some(f), Some(id)) = (f, v.as_int()) {
                let fk = schema.fk(f);
                // The default names a row this delete removes: O(1), not a
                // scan of the rows removed per update.
                let gone =
                    self.state.tables[fk.target.index()].slot_of(id).is_some_and(|ds| set.contains(&(fk.target, ds)));
                if fk.db_constraint && (gone || self.state.tables[fk.target.index()].slot_of(id).is_none()) {
                    return Err(Error::ForeignKey {
                        table: schema.def(*t).name.clone(),
                        column: schema.def(*t).columns[*c as usize].name.clone(),
                        target: schema.def(fk.target).name.clone(),
                        id,
                        row: None,
                    });
                }
            }
        }
        // A default written into a unique column must not collide with a row
        // that keeps its value, nor with another row set to it here.
        for (i, (t, s, c, v)) in updates.iter().enumerate() {
            if v.is_null() || !schema.def(*t).columns[*c as usize].unique {
                continue;
            }
            let updated = |slot: u32| updates.iter().any(|u| u.0 == *t && u.1 == slot && u.2 == *c);
            let kept = self.state.tables[t.index()]
                .probe(*c, v.as_ref())
                .is_some_and(|mut it| it.any(|slot| slot != *s && !set.contains(&(*t, slot)) && !updated(slot)));
            if kept || updates[..i].iter().any(|u| u.0 == *t && u.2 == *c && u.3 == *v) {
                return Err(Error::Unique {
                    table: schema.def(*t).name.clone(),
                    column: schema.def(*t).columns[*c as usize].name.clone(),
                    value: v.clone(),
                    row: None,
                });
            }
        }

        let mut deleted = Deleted::default();
        for (t, s, c, v) in updates {
            self.set_cells(t, s, vec![(c, v)]);
        }
        // Unlink first, while every endpoint is still live.
        for &(t, s) in &order {
            let def = schema.def(t);
            for &r in &def.through_for {
                self.unlink_through_row(r, s);
            }
            for &r in &def.rels {
                let rel = schema.rel(r);
                if !rel.auto_through {
                    continue;
                }
                let id = self.state.tables[t.index()].id_at(s);
                let (is_source, is_target) = (rel.source == t, rel.target == t);
                let mut n = self.remove_dangling_where(r, id, (is_source, is_target), |_, _| true);
                if is_source {
                    while let Some(last) = self.state.links[r as usize].degree(s, true).checked_sub(1) {
                        n += self.unlink_auto(r, s, last as u32);
                    }
                }
                if is_target {
                    while let Some((src, fpos)) = self.state.links[r as usize].last_source(s) {
                        n += self.unlink_auto(r, src, fpos);
                    }
                }
                if n > 0 {
                    deleted.add(&schema.def(rel.through).name, n);
                }
            }
        }
        for &(t, s) in &order {
            let values = self.state.tables[t.index()].remove(s);
            self.state.undo.push(Undo::Remove { table: t, slot: s, values: values.into_boxed_slice() });
            deleted.add(&schema.def(t).name, 1);
        }
        Ok(deleted)
    }
}
