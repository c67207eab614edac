//! Change hooks: Django's `m2m_changed` signal. A hook registered on a
//! many-to-many relation ([`Database::on_m2m_changed`]) is called by the
//! related managers of both ends, before and after each `add`, `remove`
//! and `clear` (and the ones `set`, `create`, `get_or_create` and
//! `update_or_create` make), inside the call's write transaction, which it
//! gets as a [`HookTxn`]: it reads and writes there, and may refuse the
//! change by returning an error, which undoes the call and the hooks'
//! writes.
//!
//! The hooks live in the database's state, so a manager call checks for
//! them with one load of a length when none is registered; a relation no
//! hook watches keeps the managers' fast paths.
//!
//! [`Database::on_m2m_changed`]: crate::Database::on_m2m_changed

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use smallvec::SmallVec;

use super::manager::RelatedMut;
use super::view::{Key, TableRef, View};
use super::write::{Deleted, WriteTxn};
use crate::error::Result;
use crate::schema::{Accessor, RelId, Schema, TableId};
use crate::value::Row;

/// How deeply announcements may nest: a hook's write announced to a hook
/// whose write is announced, and so on. One more is refused with
/// [`Error::Unsupported`](crate::Error::Unsupported) rather than
/// overflowing the stack (Django stops at Python's recursion limit). A
/// hook that writes the relation it watches must stop itself well before.
pub const MAX_HOOK_DEPTH: u8 = 32;

/// What a related manager is about to do or has done: the `action` of
/// Django's `m2m_changed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum M2mAction {
    /// Before links are added; `pk_set` holds the ids about to be linked.
    PreAdd,
    /// After links were added; `pk_set` holds the ids linked.
    PostAdd,
    /// Before links are removed; `pk_set` holds every id asked for.
    PreRemove,
    /// After links were removed; `pk_set` holds every id asked for.
    PostRemove,
    /// Before every link of the row is removed; no `pk_set`.
    PreClear,
    /// After every link of the row was removed; no `pk_set`.
    PostClear,
}

impl M2mAction {
    /// Django's name of the action: `"pre_add"`, `"post_clear"`, ... O(1).
    pub fn name(self) -> &'static str {
        match self {
            M2mAction::PreAdd => "pre_add",
            M2mAction::PostAdd => "post_add",
            M2mAction::PreRemove => "pre_remove",
            M2mAction::PostRemove => "post_remove",
            M2mAction::PreClear => "pre_clear",
            M2mAction::PostClear => "post_clear",
        }
    }
}

/// One change a related manager announces to the hooks of its relation,
/// with the arguments of Django's `m2m_changed`.
#[non_exhaustive]
pub struct M2mChanged<'a> {
    /// What is about to happen, or has happened.
    pub action: M2mAction,
    /// The through table of the relation (Django's `sender`).
    pub through: TableId,
    /// The row whose manager made the call (Django's `instance`).
    pub instance: Key,
    /// Whether that manager is the relation's reverse accessor (a
    /// symmetrical relation has none: always `false` there).
    pub reverse: bool,
    /// The table of the rows added or removed: the other end (Django's
    /// `model`).
    pub model: TableId,
    /// The ids of the other end's rows concerned, ascending and each once
    /// (Django's `pk_set`); `None` for `PreClear` and `PostClear`.
    ///
    /// For `PreAdd` they are the ids the call links that were not linked
    /// from `instance` yet, possibly none (a symmetrical relation's mirrors
    /// are not counted, as in Django); for `PostAdd`, the same, looked up
    /// again after the `PreAdd` hooks: the ids the call did link, which
    /// differ only if one of those hooks linked or unlinked a target
    /// itself. For `PreRemove` and `PostRemove`, every id asked for,
    /// linked or not.
    pub pk_set: Option<&'a [i64]>,
    /// The schema, for names in `Debug`.
    pub(crate) schema: &'a Schema,
}

impl fmt::Debug for M2mChanged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("M2mChanged")
            .field("action", &self.action)
            .field("through", &self.schema.table_name(self.through))
            .field("instance", &self.instance)
            .field("reverse", &self.reverse)
            .field("model", &self.schema.table_name(self.model))
            .field("pk_set", &self.pk_set)
            .finish()
    }
}

/// A change hook: called with each [`M2mChanged`] of its relation and the
/// call's write transaction, as it is before the change for the `Pre`
/// actions and after it for the `Post` ones; an error refuses the change
/// (see [`Database::on_m2m_changed`]).
///
/// [`Database::on_m2m_changed`]: crate::Database::on_m2m_changed
pub type M2mHook = dyn Fn(&M2mChanged<'_>, &mut HookTxn<'_, '_>) -> Result<()> + Send + Sync;

/// The write transaction of the manager call a change hook hears: reads
/// through [`View`] (it dereferences to it, and sees the call's writes so
/// far), writes through the [`WriteTxn`] calls it forwards. Its writes
/// belong to the call: the call's error, or a later hook's, undoes them
/// with it.
///
/// A hook gets this rather than `&mut WriteTxn` so that it can neither
/// commit the transaction nor exchange it for another one under the
/// manager that called it (`std::mem::swap` with a transaction of
/// another database): there is no other `HookTxn` to exchange it with.
pub struct HookTxn<'t, 'db> {
    tx: &'t mut WriteTxn<'db>,
}

impl<'t, 'db> HookTxn<'t, 'db> {
    pub(crate) fn new(tx: &'t mut WriteTxn<'db>) -> Self {
        HookTxn { tx }
    }

    /// [`WriteTxn::insert`], in the manager call's transaction.
    ///
    /// # Errors
    /// As [`WriteTxn::insert`].
    pub fn insert(&mut self, table: impl TableRef, row: Row) -> Result<Key> {
        self.tx.insert(table, row)
    }

    /// [`WriteTxn::update`], in the manager call's transaction.
    ///
    /// # Errors
    /// As [`WriteTxn::update`].
    pub fn update(&mut self, key: Key, row: Row) -> Result<()> {
        self.tx.update(key, row)
    }

    /// [`WriteTxn::update_many`], in the manager call's transaction.
    ///
    /// # Errors
    /// As [`WriteTxn::update_many`].
    pub fn update_many(&mut self, keys: impl IntoIterator<Item = Key>, row: Row) -> Result<usize> {
        self.tx.update_many(keys, row)
    }

    /// [`WriteTxn::delete`], in the manager call's transaction. Deleting
    /// the manager's own row or one of its targets at a `Pre` action is
    /// allowed: the manager then refuses the change with
    /// [`Error::NotFound`](crate::Error::NotFound), as for any missing row
    /// (a `remove` skips a missing target, and a relation without its
    /// constraint links it as a dangling link).
    ///
    /// # Errors
    /// As [`WriteTxn::delete`].
    pub fn delete(&mut self, key: Key) -> Result<Deleted> {
        self.tx.delete(key)
    }

    /// [`WriteTxn::delete_many`], in the manager call's transaction, as
    /// [`delete`](Self::delete).
    ///
    /// # Errors
    /// As [`WriteTxn::delete_many`].
    pub fn delete_many(&mut self, keys: impl IntoIterator<Item = Key>) -> Result<Deleted> {
        self.tx.delete_many(keys)
    }

    /// [`WriteTxn::related`]: a related manager in the manager call's
    /// transaction. Its calls are announced to hooks in turn, at most
    /// [`MAX_HOOK_DEPTH`] deep.
    ///
    /// # Errors
    /// As [`WriteTxn::related`].
    pub fn related(&mut self, key: Key, name: &str) -> Result<RelatedMut<'_, 'db>> {
        self.tx.related(key, name)
    }

    /// [`WriteTxn::related_at`], as [`related`](Self::related).
    ///
    /// # Errors
    /// As [`WriteTxn::related_at`].
    pub fn related_at(&mut self, key: Key, accessor: Accessor) -> Result<RelatedMut<'_, 'db>> {
        self.tx.related_at(key, accessor)
    }

    /// [`WriteTxn::atomic`]: a nested block inside the manager call's
    /// transaction, whose changes are undone when it returns `Err` or
    /// panics, leaving the hook's earlier writes and the call as they
    /// were. Costs as `WriteTxn::atomic`.
    ///
    /// # Errors
    /// `f`'s error, after the block's changes are undone.
    pub fn atomic<T, E>(
        &mut self,
        f: impl FnOnce(&mut HookTxn<'_, '_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.tx.atomic(|tx| f(&mut HookTxn::new(tx)))
    }
}

impl Deref for HookTxn<'_, '_> {
    type Target = View;

    fn deref(&self) -> &View {
        self.tx
    }
}

impl fmt::Debug for HookTxn<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookTxn").field("tx", &self.tx).finish()
    }
}

/// A registered hook, to remove it with [`Database::remove_hook`]. Ids
/// are unique across databases, so one database never removes another's
/// hook.
///
/// [`Database::remove_hook`]: crate::Database::remove_hook
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HookId(u64);

static NEXT_HOOK: AtomicU64 = AtomicU64::new(1);

/// The hooks of a database, in registration order. Shared, so that a
/// manager can hold its relation's hooks while it hands them the
/// transaction they live in.
#[derive(Default)]
pub(crate) struct Hooks {
    hooks: Vec<(RelId, HookId, Arc<M2mHook>)>,
}

impl Hooks {
    /// Whether a hook watches relation `r`. O(1) with no hook (the
    /// managers' fast check), else O(hooks).
    #[inline(always)]
    pub(crate) fn watch(&self, r: RelId) -> bool {
        !self.hooks.is_empty() && self.of(r).next().is_some()
    }

    /// The hooks of relation `r`, in registration order. O(hooks).
    pub(crate) fn of(&self, r: RelId) -> impl Iterator<Item = &Arc<M2mHook>> {
        self.hooks.iter().filter(move |(rel, _, _)| *rel == r).map(|(_, _, hook)| hook)
    }

    /// The hooks of relation `r`, shared, in registration order. O(hooks).
    pub(crate) fn cloned(&self, r: RelId) -> SmallVec<[Arc<M2mHook>; 2]> {
        self.of(r).cloned().collect()
    }

    /// Registers `hook` on relation `r`. O(1) amortized.
    pub(crate) fn add(&mut self, r: RelId, hook: Arc<M2mHook>) -> HookId {
        let id = HookId(NEXT_HOOK.fetch_add(1, Ordering::Relaxed));
        self.hooks.push((r, id, hook));
        id
    }

    /// Removes the hook `id`; whether it was registered. O(hooks).
    pub(crate) fn remove(&mut self, id: HookId) -> bool {
        let before = self.hooks.len();
        self.hooks.retain(|(_, h, _)| *h != id);
        self.hooks.len() != before
    }
}
