//! Transactions: [`Database`] holds the state behind a `parking_lot`
//! `RwLock`: many concurrent [`ReadTxn`]s, or one [`WriteTxn`] whose undo
//! log reverts everything it did unless it commits.

mod hooks;
mod manager;
mod relation;
mod undo;
mod view;
mod write;

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use hooks::{HookId, HookTxn, M2mAction, M2mChanged, M2mHook, MAX_HOOK_DEPTH};
pub use manager::{RelatedMut, Target};
pub use relation::Relation;
pub(crate) use view::{End, Loc};
pub use view::{Key, Related, RelatedIds, RowRef, TableRef, View};
use write::Access;
pub use write::{Deleted, WriteTxn};

use crate::error::{Error, Result};
use crate::schema::{Accessor, AccessorKind, Schema};

static NEXT_DB: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// The database whose lock this thread took first (0: none), and the
    /// others it holds at the same time: the common single-database case is
    /// one `Cell` access.
    static HELD_FIRST: Cell<usize> = const { Cell::new(0) };
    /// `ManuallyDrop`: a thread-local with nothing to drop gets no
    /// destructor, so it is never destroyed during thread exit, and a
    /// transaction that a thread-local's destructor opens or drops then
    /// finds every lock record (with a destructor, `with` panicked there,
    /// which aborts). Its buffer is freed whenever it empties.
    static HELD_MORE: RefCell<ManuallyDrop<Vec<usize>>> = const { RefCell::new(ManuallyDrop::new(Vec::new())) };
}

/// A marker that this thread holds database `id`'s lock; released on drop.
///
/// It is `!Send` of its own accord, so the transactions holding one are
/// too: the record is this thread's, and a transaction dropped on another
/// thread would clear that thread's instead. The lock guards beside it are
/// `!Send` only while no crate in the program turns on `parking_lot`'s
/// `send_guard` feature; this marker does not depend on it (the crate's
/// tests turn the feature on, so the `compile_fail` examples on
/// [`ReadTxn`] and [`WriteTxn`] check exactly this).
#[derive(Debug)]
pub(crate) struct Held {
    id: usize,
    first: bool,
    /// `!Send`, and `Sync` (a transaction shared by reference across
    /// scoped threads drops on its own thread).
    _this_thread: PhantomData<std::sync::MutexGuard<'static, ()>>,
}

impl Held {
    #[inline]
    fn acquire(id: usize) -> Result<Held> {
        let first = HELD_FIRST.with(Cell::get);
        if first == id {
            return Err(Error::Reentrant);
        }
        HELD_MORE.with(|h| {
            let mut h = h.borrow_mut();
            // The first lock taken may be released before the others, so a
            // free `HELD_FIRST` does not mean this thread holds none: `id`
            // may still be among the others.
            if h.contains(&id) {
                return Err(Error::Reentrant);
            }
            if first == 0 {
                HELD_FIRST.with(|f| f.set(id));
                return Ok(Held { id, first: true, _this_thread: PhantomData });
            }
            h.push(id);
            Ok(Held { id, first: false, _this_thread: PhantomData })
        })
    }
}

impl Drop for Held {
    #[inline]
    fn drop(&mut self) {
        if self.first {
            HELD_FIRST.with(|h| h.set(0));
        } else {
            HELD_MORE.with(|h| {
                let mut h = h.borrow_mut();
                h.retain(|x| *x != self.id);
                if h.is_empty() {
                    // Nothing frees it at thread exit.
                    h.shrink_to_fit();
                }
            });
        }
    }
}

/// An in-memory database: `Send + Sync`, share it with an `Arc`.
///
/// Readers run concurrently; a writer is exclusive and atomic.
pub struct Database {
    id: usize,
    schema: Arc<Schema>,
    state: RwLock<View>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("tables", &self.schema.tables.len()).finish()
    }
}

impl Database {
    /// An empty database with this schema. O(tables + relations).
    pub fn new(schema: Schema) -> Self {
        let schema = Arc::new(schema);
        Database {
            id: NEXT_DB.fetch_add(1, Ordering::Relaxed),
            state: RwLock::new(View::new(Arc::clone(&schema))),
            schema,
        }
    }

    /// The schema, to resolve names into handles once. O(1).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Registers `hook` on the many-to-many relation of `accessor` (either
    /// end's): Django's `m2m_changed` receiver. The related managers of
    /// both ends then call it before and after each change they make, in
    /// registration order among the relation's hooks, with an
    /// [`M2mChanged`] that tells which manager called and what changes:
    ///
    /// - `add` and `add_with`: `PreAdd` and `PostAdd`, with the ids not
    ///   linked yet (possibly none); an `add` of no targets calls nothing;
    /// - `remove`: `PreRemove` and `PostRemove`, with every id asked for;
    ///   a `remove` of no targets calls nothing;
    /// - `clear`: `PreClear` and `PostClear`, even with nothing to clear;
    /// - `set`: a `remove` of the ids it unlinks, then an `add` of those
    ///   it links (none when nothing changes); `set_clearing`: a `clear`,
    ///   then an `add` of every target;
    /// - `create`, and `get_or_create` or `update_or_create` when they
    ///   create: an `add` of the new row, after its insert.
    ///
    /// As in Django, nothing else calls it: not a delete of either end
    /// (its cascade removes the links silently), not an insert, update or
    /// delete of a through row through [`WriteTxn`]'s table calls, and
    /// not a reverse foreign key's manager.
    ///
    /// A hook runs inside the call's write transaction, which it gets as a
    /// [`HookTxn`]: it reads the transaction's state (before the change
    /// for the `Pre` actions, after it for the `Post` ones), and may write
    /// (keep a count, record a log row, link elsewhere), as Django's
    /// receivers do. Its writes are part of the call: an error undoes them
    /// with it. The manager looks its rows up again after the `Pre`
    /// hooks: one that deleted the call's own row makes the call
    /// [`Error::NotFound`]; one that deleted a target makes an `add`
    /// `NotFound` on a relation with its constraint (one without it
    /// stores the dangling link, as Django would), and a `remove` skip
    /// it. After a `Post` hook the change is made; a manager whose row a
    /// hook deleted then refuses further writes (`NotFound`: a `set` or
    /// `set_clearing` whose removal's hook deleted the row is refused
    /// whole when it has links to add) and reads nothing. A manager call
    /// made by a hook is
    /// announced in turn, at most [`MAX_HOOK_DEPTH`] deep. A
    /// hook must not open a transaction on this database
    /// ([`Error::Reentrant`]). An error it returns, such as
    /// [`Error::Vetoed`], refuses the change: the manager call returns
    /// that error, and the call's writes are undone, the hooks' among
    /// them (a `Post` hook's error undoes a change already made); the
    /// hooks that ran before it are not called again. A hook's own
    /// effects outside the database are not undone, nor when the
    /// transaction later rolls back.
    ///
    /// Registering takes the database's lock, as a write transaction does:
    /// it waits for the transactions open on other threads, and a later
    /// transaction's calls hear the hook. With no hook registered, a
    /// manager call checks for hooks with one load. O(1) amortized once
    /// the lock is taken; each manager call then costs O(hooks) more,
    /// and on a watched relation, O(targets) expected for the id set (see
    /// `docs/design.md`, "Change hooks").
    ///
    /// A hook hears both ends' managers: `reverse` tells which, and
    /// `instance` is a row of that end's table.
    ///
    /// A hook reads and writes the database through the `HookTxn` it is
    /// given. The database keeps its hooks, so a hook that captured an
    /// `Arc` of the database itself would keep it alive for ever; capture
    /// a `Weak` if it needs one.
    ///
    /// ```
    /// use junctiondb::{row, Database, Error, Key, M2mAction, Schema, Type, ValueRef};
    /// # fn main() -> Result<(), Error> {
    /// let schema = Schema::builder()
    ///     .table("group", |t| {
    ///         t.column("name", Type::Text);
    ///         t.column("size", Type::Int).default(0);
    ///     })
    ///     .table("user", |t| { t.many_to_many("groups", "group"); })
    ///     .build()?;
    /// let db = Database::new(schema);
    /// let groups = db.schema().accessor("user", "groups").expect("declared");
    /// db.on_m2m_changed(groups, |e, tx| match (e.action, e.pk_set) {
    ///     // A user's add (a group's add of users has `reverse` set).
    ///     (M2mAction::PreAdd, Some(ids))
    ///         if !e.reverse && tx.related(e.instance, "groups")?.count() + ids.len() > 2 =>
    ///     {
    ///         Err(Error::vetoed("at most two groups"))
    ///     }
    ///     // Keep each group's `size`, from a user's end.
    ///     (M2mAction::PostAdd, Some(ids)) if !e.reverse => {
    ///         for &id in ids {
    ///             let group = Key::new(e.model, id);
    ///             let size = tx.related(group, "user_set")?.count() as i64;
    ///             tx.update(group, row! { "size" => size })?;
    ///         }
    ///         Ok(())
    ///     }
    ///     _ => Ok(()),
    /// })?;
    /// let refused = db.write(|tx| {
    ///     let jim = tx.insert("user", row! {})?;
    ///     let groups: Vec<_> = (0..3).map(|_| tx.insert("group", row! { "name" => "g" })).collect::<Result<_, _>>()?;
    ///     tx.related(jim, "groups")?.add(&groups[..2])?;
    ///     tx.related(jim, "groups")?.add([groups[2]])
    /// });
    /// assert_eq!(refused, Err(Error::vetoed("at most two groups")));
    /// let rock = db.write(|tx| {
    ///     let (jim, rock) = (tx.insert("user", row! {})?, tx.insert("group", row! { "name" => "rock" })?);
    ///     tx.related(jim, "groups")?.add([rock])?;
    ///     Ok::<_, Error>(rock)
    /// })?;
    /// let size = db.read(|r| Ok::<_, Error>(r.get(rock).and_then(|g| g.get("size")) == Some(ValueRef::Int(1))))?;
    /// assert!(size);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownAccessor`] for an accessor of another schema;
    /// [`Error::Unsupported`] for a reverse foreign key's accessor (its
    /// manager updates rows, it links none); [`Error::Reentrant`] if this
    /// thread holds a transaction on this database (a hook's call among
    /// them: it would deadlock).
    pub fn on_m2m_changed(
        &self,
        accessor: Accessor,
        hook: impl Fn(&M2mChanged<'_>, &mut HookTxn<'_, '_>) -> Result<()> + Send + Sync + 'static,
    ) -> Result<HookId> {
        if !self.schema.owns(accessor) {
            return Err(View::foreign_accessor(accessor));
        }
        let r = match accessor.kind {
            AccessorKind::Forward(r) | AccessorKind::Reverse(r) => r,
            AccessorKind::FkReverse(f) => {
                let fk = self.schema.fk(f);
                return Err(Error::Unsupported {
                    table: self.schema.table_name(accessor.table).to_owned(),
                    reason: format!(
                        "{}.{} is a foreign key: its reverse manager updates rows and sends no m2m_changed; hook a many-to-many relation",
                        self.schema.table_name(fk.table),
                        fk.name
                    ),
                });
            }
        };
        // Checked above without the lock: a refused accessor waits for no
        // transaction.
        let _held = Held::acquire(self.id)?;
        let id = self.state.write().hooks.add(r, Arc::new(hook));
        Ok(id)
    }

    /// Removes a hook registered by [`on_m2m_changed`](Self::on_m2m_changed);
    /// whether this database had it. Takes the lock as registering does;
    /// O(hooks) once it has it.
    ///
    /// # Errors
    /// [`Error::Reentrant`] if this thread holds a transaction on this
    /// database.
    pub fn remove_hook(&self, hook: HookId) -> Result<bool> {
        let _held = Held::acquire(self.id)?;
        let removed = self.state.write().hooks.remove(hook);
        Ok(removed)
    }

    /// Starts a read transaction: a consistent view until it is dropped.
    /// O(1) once the lock is taken; blocks while a writer holds it.
    ///
    /// # Errors
    /// [`Error::Reentrant`] if this thread already holds this database's
    /// lock (it would deadlock).
    #[inline]
    pub fn begin_read(&self) -> Result<ReadTxn<'_>> {
        let held = Held::acquire(self.id)?;
        Ok(ReadTxn { guard: self.state.read(), _held: held })
    }

    /// Runs `f` in a read transaction and returns its result. As
    /// [`begin_read`](Self::begin_read), plus `f`.
    ///
    /// # Errors
    /// `f`'s error, or [`Error::Reentrant`] (converted into `E`).
    #[inline]
    pub fn read<T, E: From<Error>>(&self, f: impl FnOnce(&ReadTxn<'_>) -> Result<T, E>) -> Result<T, E> {
        let tx = self.begin_read()?;
        f(&tx)
    }

    /// Starts a write transaction. It rolls back on drop unless
    /// [`commit`](WriteTxn::commit)ted. O(1) once the lock is taken; blocks
    /// while another transaction holds it.
    ///
    /// # Errors
    /// [`Error::Reentrant`] if this thread already holds this database's
    /// lock.
    #[inline(always)]
    pub fn begin_write(&self) -> Result<WriteTxn<'_>> {
        let held = Held::acquire(self.id)?;
        Ok(WriteTxn::new(Access::Locked(RwLockWriteGuard::map(self.state.write(), |view| view)), Some(held)))
    }

    /// Starts a write transaction through an exclusive borrow of the
    /// database, as [`begin_write`](Self::begin_write) otherwise: it rolls
    /// back on drop unless committed. The borrow checker proves that no
    /// other transaction of this database exists, so it takes no lock and
    /// cannot block or fail. For a program that owns its database (not
    /// shared through an `Arc`): a lock's acquire and release are atomic
    /// read-modify-writes, and each waits for every memory access before it,
    /// so with the lock one transaction's cache misses cannot overlap the
    /// next one's (peers benchmark, a `remove` per transaction at size S:
    /// 262.5 -> 205.0 ns, medians of six alternating runs). O(1).
    #[inline(always)]
    pub fn begin_write_mut(&mut self) -> WriteTxn<'_> {
        WriteTxn::new(Access::Exclusive(self.state.get_mut()), None)
    }

    /// Runs `f` in a write transaction taken through an exclusive borrow
    /// (see [`begin_write_mut`](Self::begin_write_mut)): commits if it
    /// returns `Ok`; if it returns `Err` or panics, every change it made is
    /// undone and the error (or panic) reaches the caller, as with
    /// [`write`](Self::write).
    ///
    /// O(1) besides `f`'s own work (a commit drops the undo log's link
    /// records).
    ///
    /// # Errors
    /// `f`'s error.
    #[inline]
    pub fn write_mut<T, E>(&mut self, f: impl FnOnce(&mut WriteTxn<'_>) -> Result<T, E>) -> Result<T, E> {
        commit_on_ok(self.begin_write_mut(), f)
    }

    /// Runs `f` in a write transaction: commits if it returns `Ok`; if it
    /// returns `Err` or panics, every change it made is undone and the
    /// error (or panic) reaches the caller. The database stays usable.
    /// O(1) besides taking the lock and `f`'s own work; a rollback costs
    /// O(changes made).
    ///
    /// The error type is the closure's own (any `E: From<Error>`, so that
    /// `?` works on the engine's calls inside it), which Rust can infer
    /// only from a typed result: when the call's result is not bound to
    /// one, name it at the closure's `Ok`, as the examples do
    /// (`Ok::<_, Error>(key)`). The same holds for [`read`](Self::read).
    ///
    /// # Errors
    /// `f`'s error, or [`Error::Reentrant`] (converted into `E`).
    #[inline]
    pub fn write<T, E: From<Error>>(&self, f: impl FnOnce(&mut WriteTxn<'_>) -> Result<T, E>) -> Result<T, E> {
        commit_on_ok(self.begin_write()?, f)
    }
}

/// Runs `f` in `tx` and commits if it returns `Ok`; otherwise (or on a
/// panic) `tx` is dropped, which undoes everything it did. The body of
/// [`Database::write`] and [`Database::write_mut`].
#[inline(always)]
fn commit_on_ok<T, E>(mut tx: WriteTxn<'_>, f: impl FnOnce(&mut WriteTxn<'_>) -> Result<T, E>) -> Result<T, E> {
    let value = f(&mut tx)?;
    tx.commit_in_place();
    Ok(value)
}

/// A read transaction; dereferences to [`View`].
///
/// A read transaction leaked with `std::mem::forget` keeps its lock:
/// writers on other threads then wait for ever, and this thread's later
/// transactions on the database are refused with
/// [`Error::Reentrant`](crate::Error::Reentrant).
///
/// A read transaction stays on the thread that took it (its lock is
/// recorded as that thread's), whatever features of `parking_lot` the
/// program turns on; share it by reference instead (it is `Sync`):
///
/// ```compile_fail
/// # use junctiondb::{Database, Schema};
/// let db = Database::new(Schema::builder().build().unwrap());
/// let tx = db.begin_read().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(tx)); // error: `ReadTxn` is not `Send`
/// });
/// ```
pub struct ReadTxn<'db> {
    guard: RwLockReadGuard<'db, View>,
    _held: Held,
}

impl std::fmt::Debug for ReadTxn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadTxn").finish_non_exhaustive()
    }
}

impl Deref for ReadTxn<'_> {
    type Target = View;

    #[inline]
    fn deref(&self) -> &View {
        &self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::write::Access;
    use super::Database;
    use crate::schema::Schema;

    fn db() -> Database {
        Database::new(Schema::builder().table("t", |_| {}).build().expect("a valid schema"))
    }

    #[test]
    fn the_exclusive_path_takes_no_lock_and_records_none() {
        let mut db = db();
        let tx = db.begin_write_mut();
        assert!(matches!(tx.state, Access::Exclusive(_)) && tx.holds_no_lock());
        drop(tx);
        assert!(!db.state.is_locked());
        let tx = db.begin_write().expect("not reentrant");
        assert!(matches!(tx.state, Access::Locked(_)) && !tx.holds_no_lock());
        assert!(db.state.is_locked_exclusive());
        drop(tx);
        assert!(!db.state.is_locked());
    }

    /// A symmetrical relation's junction stays paired through the writes
    /// that keep its rows in mirrored pairs (the managers' writes, a
    /// person's delete, a dangling pair becoming real), is unpaired by a
    /// through row written alone, paired again when that write rolls
    /// back, and paired again by the commit that leaves every row
    /// mirrored (see `relation::junction`, "Paired lists").
    #[test]
    fn only_a_through_row_written_alone_unpairs_a_symmetrical_relation() {
        use crate::relation::Links;
        use crate::{row, Error, View};
        let paired = |v: &View| matches!(&v.links[0], Links::Auto(j) if j.is_paired());
        let schema = Schema::builder()
            .table("person", |t| {
                t.many_to_many("friends", "self").db_constraint(false);
            })
            .build()
            .expect("a valid schema");
        let db = Database::new(schema);
        let p1 = db
            .write(|tx| {
                let p: Vec<_> = (0..4).map(|_| tx.insert("person", row! {})).collect::<Result<_, _>>()?;
                tx.related(p[0], "friends")?.add([p[1], p[2], p[0]])?;
                tx.related(p[1], "friends")?.remove([p[0]])?;
                tx.related(p[3], "friends")?.set([p[1], p[2]])?;
                tx.related(p[2], "friends")?.clear()?;
                tx.related(p[1], "friends")?.add([p[0].id(), 50])?;
                tx.delete(p[3])?;
                tx.insert("person", row! { "id" => 50 })?;
                assert_eq!(tx.count("person_friends")?, 5, "(0, 0), (0, 1), (1, 0), (1, 50), (50, 1)");
                // A row (a, a) is its own mirror: written alone, it is a pair.
                let own =
                    tx.insert("person_friends", row! { "from_person_id" => p[2].id(), "to_person_id" => p[2].id() })?;
                tx.insert("person_friends", row! { "from_person_id" => 60, "to_person_id" => 60 })?;
                tx.insert("person", row! { "id" => 60 })?;
                assert_eq!(tx.count("person_friends")?, 7);
                tx.delete(own)?;
                assert_eq!(tx.count("person_friends")?, 6);
                assert!(paired(tx));
                tx.verify().map_err(|e| Error::Unsupported { table: "person".into(), reason: e })?;
                Ok::<_, Error>(p[1])
            })
            .expect("every write succeeds");
        let failed = db.write(|tx| {
            tx.insert("person_friends", row! { "from_person_id" => 2, "to_person_id" => 3 })?;
            assert!(!paired(tx));
            tx.related(p1, "friends")?.clear()?;
            Err::<(), _>(Error::NotFound { table: "person".into(), id: 0 })
        });
        assert!(failed.is_err());
        db.read(|v| {
            assert!(paired(v), "the rollback paired it again");
            assert_eq!(v.count("person_friends")?, 6);
            Ok::<_, Error>(())
        })
        .expect("a read");
        db.write(|tx| tx.insert("person_friends", row! { "from_person_id" => 2, "to_person_id" => 3 })).unwrap();
        assert!(!db.read(|v| Ok::<_, Error>(paired(v))).unwrap(), "(2, 3) has no mirror: it stays unpaired");
        // The mirror written alone too, in a transaction that fails: still unpaired.
        let mirror = row! { "from_person_id" => 3, "to_person_id" => 2 };
        let failed = db.write(|tx| {
            tx.insert("person_friends", mirror.clone())?;
            Err::<(), _>(Error::NotFound { table: "person".into(), id: 0 })
        });
        assert!(failed.is_err() && !db.read(|v| Ok::<_, Error>(paired(v))).unwrap());
        // Committed, every row has its mirror, and the writes since the
        // unpairing pay for pairing again (an eighth of 6 rows is 0).
        db.write(|tx| tx.insert("person_friends", mirror)).unwrap();
        db.read(|v| {
            assert!(paired(v), "the commit paired it again");
            assert_eq!(v.count("person_friends")?, 8);
            v.verify().map_err(|e| Error::Unsupported { table: "person".into(), reason: e })
        })
        .unwrap();
        let friends = db.read(|v| Ok::<_, Error>(v.related(p1, "friends")?.ids().collect::<Vec<_>>())).unwrap();
        assert_eq!(friends, [1, 50, 3]);
    }
}
