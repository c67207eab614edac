//! [`View`]: the database state and every read on it. Read and write
//! transactions both dereference to it.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::relation::junction::NodeIter;
use crate::relation::{DanglingLinks, Junction, Links};
use crate::schema::{Accessor, AccessorKind, ColumnId, FkId, Schema, TableId, TableKind};
use crate::storage::Table;
use crate::value::{CellValue, Row, ValueRef};

/// A row's name: its table and its primary key `id`.
///
/// A key is a name, not a reference: it does not keep its row alive, and
/// a stale key is [`Error::NotFound`] where a row is needed. Ids are not
/// reused once committed, with two exceptions a program keeping keys
/// should know: the ids of inserts that a rollback undid are given again
/// to the next inserts (as SQLite does), and the id of an auto-created
/// through row is derived from its two rows' storage slots, which are
/// reused after deletes, so once that link is gone its key may name a
/// later link between other rows (`docs/design.md`, "The junction").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    table: TableId,
    id: i64,
}

impl Key {
    /// The key of row `id` of `table` (the row need not exist). O(1).
    #[inline]
    pub fn new(table: TableId, id: i64) -> Self {
        Key { table, id }
    }

    /// The table. O(1).
    #[inline]
    pub fn table(self) -> TableId {
        self.table
    }

    /// The primary key. O(1).
    #[inline]
    pub fn id(self) -> i64 {
        self.id
    }
}

/// Names a table: its name (`&str`) or its [`TableId`].
pub trait TableRef {
    /// The table's handle: O(1) for a handle, one hash of the name for a
    /// name.
    ///
    /// # Errors
    /// [`Error::UnknownTable`] for a name the schema does not have.
    fn resolve(&self, schema: &Schema) -> Result<TableId>;
}

impl TableRef for TableId {
    fn resolve(&self, schema: &Schema) -> Result<TableId> {
        if schema.owns_table(*self) {
            Ok(*self)
        } else {
            Err(Error::UnknownTable { table: self.foreign_name() })
        }
    }
}

impl TableRef for &str {
    fn resolve(&self, schema: &Schema) -> Result<TableId> {
        schema.table(self).ok_or_else(|| Error::UnknownTable { table: (*self).to_owned() })
    }
}

impl TableRef for String {
    fn resolve(&self, schema: &Schema) -> Result<TableId> {
        self.as_str().resolve(schema)
    }
}

/// Where a row lives: a slot of its table, or (auto-created through
/// tables) a pair of endpoint slots, or a dangling pair of ids (relations
/// with `db_constraint(false)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    Slot(u32),
    Pair(u32, u32),
    Dangling(u32),
}

/// The id of an auto-created through row: derived from its endpoints'
/// slots, so the row costs no storage beyond its two adjacency entries.
pub(crate) fn pair_id(source: u32, target: u32) -> i64 {
    ((i64::from(source) << 31) | i64::from(target)) + 1
}

/// The id of the dangling link at place `index` of its relation (negative,
/// so it never meets a pair's id); see `relation::dangling`.
pub(crate) fn dangling_id(index: u32) -> i64 {
    -i64::from(index) - 1
}

/// The place a dangling link's id names (the inverse of [`dangling_id`]).
fn dangling_index(id: i64) -> Option<u32> {
    u32::try_from(-(id + 1)).ok()
}

fn pair_of(id: i64) -> Option<(u32, u32)> {
    let v = id.checked_sub(1)?;
    if !(0..1 << 62).contains(&v) {
        return None;
    }
    Some(((v >> 31) as u32, (v & 0x7FFF_FFFF) as u32))
}

/// The state of a database and every read on it. A [`ReadTxn`] or a
/// [`WriteTxn`] dereferences to it.
///
/// [`ReadTxn`]: crate::ReadTxn
/// [`WriteTxn`]: crate::WriteTxn
pub struct View {
    pub(crate) schema: Arc<Schema>,
    pub(crate) tables: Vec<Table>,
    pub(crate) links: Vec<Links>,
    /// Per relation with `db_constraint(false)`: links naming an id that
    /// does not exist, as `(source_id, target_id)` in numbered places (a
    /// place is the link's key while it exists). They become real links
    /// when the missing row is inserted.
    pub(crate) dangling: Vec<DanglingLinks>,
    /// The open write transaction's undo log. It is empty between
    /// transactions and keeps its buffers, so a short transaction neither
    /// allocates nor moves a log.
    pub(crate) undo: super::undo::UndoLog,
    /// The change hooks registered on the database's relations.
    pub(crate) hooks: super::hooks::Hooks,
    /// Whether a symmetrical relation's junction may be unpaired, so that
    /// a commit tries to pair it again (see [`View::pair_again_where_due`]).
    /// Set by an unpairing; cleared by the commit that finds none left.
    pub(crate) may_be_unpaired: bool,
}

impl fmt::Debug for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (i, def) in self.schema.tables.iter().enumerate() {
            m.entry(&def.name, &self.table_len(TableId::new(i, self.schema.stamp)));
        }
        m.finish()
    }
}

impl View {
    pub(crate) fn new(schema: Arc<Schema>) -> Self {
        let tables = schema.tables.iter().map(Table::new).collect();
        let links = schema
            .rels
            .iter()
            .map(|r| match (r.auto_through, r.symmetrical) {
                (true, true) => Links::Auto(Junction::paired()),
                (true, false) => Links::Auto(Junction::default()),
                (false, _) => Links::Custom(Junction::default()),
            })
            .collect();
        let dangling = vec![DanglingLinks::default(); schema.rels.len()];
        let (undo, hooks) = (super::undo::UndoLog::default(), super::hooks::Hooks::default());
        View { schema, tables, links, dangling, undo, hooks, may_be_unpaired: false }
    }

    /// At a commit, after an unpairing: pairs again each unpaired
    /// symmetrical junction whose rows are all mirrored and whose writes
    /// since have paid for it ([`Junction::pair_if_mirrored`]), and
    /// remembers whether any stays unpaired. O(relations) when none is
    /// due, plus O(rows) for each that pairs.
    ///
    /// [`Junction::pair_if_mirrored`]: crate::relation::Junction::pair_if_mirrored
    #[cold]
    #[inline(never)]
    pub(crate) fn pair_again_where_due(&mut self) {
        let mut unpaired = false;
        for links in &mut self.links {
            if let Links::Auto(j) = links {
                j.pair_if_mirrored();
                unpaired |= j.is_unpaired_symmetrical();
            }
        }
        self.may_be_unpaired = unpaired;
    }

    /// The undo log, and what its records revert, borrowed apart. O(1).
    pub(crate) fn undo_and_reverted(&mut self) -> (&mut super::undo::UndoLog, super::undo::Reverted<'_>) {
        let View { undo, tables, links, dangling, .. } = self;
        (undo, super::undo::Reverted { tables, links, dangling })
    }

    /// The schema. O(1).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub(crate) fn table_name(&self, t: TableId) -> &str {
        self.schema.table_name(t)
    }

    /// The number of rows of `t`. O(1).
    pub(crate) fn table_len(&self, t: TableId) -> usize {
        match self.schema.def(t).kind {
            TableKind::AutoThrough(r) => self.links[r as usize].len() + self.dangling[r as usize].len(),
            TableKind::Plain => self.tables[t.index()].len(),
        }
    }

    /// Where row `id` of `t` lives, if it exists. O(1).
    pub(crate) fn locate(&self, t: TableId, id: i64) -> Option<Loc> {
        match self.schema.def(t).kind {
            TableKind::Plain => self.tables[t.index()].slot_of(id).map(Loc::Slot),
            TableKind::AutoThrough(r) if id < 0 => {
                let i = dangling_index(id)?;
                self.dangling[r as usize].get(i).map(|_| Loc::Dangling(i))
            }
            TableKind::AutoThrough(r) => {
                let (s, target) = pair_of(id)?;
                self.links[r as usize].contains(s, target).then_some(Loc::Pair(s, target))
            }
        }
    }

    /// The slot of a live row of a plain table, or the right error.
    pub(crate) fn slot_of(&self, key: Key) -> Result<u32> {
        match self.located(key)? {
            Loc::Slot(s) => Ok(s),
            _ => Err(self.not_found(key)),
        }
    }

    /// Where `key`'s row is. O(1) expected.
    ///
    /// # Errors
    /// [`Error::UnknownTable`] for a key of another schema,
    /// [`Error::NotFound`] when it names no row.
    pub(crate) fn located(&self, key: Key) -> Result<Loc> {
        key.table.resolve(&self.schema)?;
        self.locate(key.table, key.id).ok_or_else(|| self.not_found(key))
    }

    /// The error for `key` naming no row.
    pub(crate) fn not_found(&self, key: Key) -> Error {
        Error::NotFound { table: self.table_name(key.table).to_owned(), id: key.id }
    }

    /// The row at `loc` of `table`, which must hold a live row (every
    /// caller has it from a scan, a probe, a junction list or `locate`).
    /// O(1).
    pub(crate) fn row_at(&self, table: TableId, loc: Loc) -> RowRef<'_> {
        let id = match loc {
            Loc::Slot(s) => self.tables[table.index()].live_id(s),
            Loc::Pair(s, t) => pair_id(s, t),
            Loc::Dangling(i) => dangling_id(i),
        };
        RowRef { view: self, table, loc, id }
    }

    /// The row named by `key`. O(1).
    pub fn get(&self, key: Key) -> Option<RowRef<'_>> {
        if !self.schema.owns_table(key.table) {
            return None;
        }
        self.locate(key.table, key.id).map(|loc| self.row_at(key.table, loc))
    }

    /// Whether the row named by `key` exists. O(1).
    pub fn contains(&self, key: Key) -> bool {
        self.get(key).is_some()
    }

    /// The key of row `id` of `table`, if that row exists. O(1).
    ///
    /// # Errors
    /// [`Error::UnknownTable`].
    pub fn key(&self, table: impl TableRef, id: i64) -> Result<Option<Key>> {
        let t = table.resolve(&self.schema)?;
        Ok(self.locate(t, id).map(|_| Key::new(t, id)))
    }

    /// The number of rows of `table`. O(1).
    ///
    /// # Errors
    /// [`Error::UnknownTable`].
    pub fn count(&self, table: impl TableRef) -> Result<usize> {
        Ok(self.table_len(table.resolve(&self.schema)?))
    }

    /// Every row of `table`, in slot order (auto-created through tables: by
    /// source slot). O(rows + slots).
    ///
    /// # Errors
    /// [`Error::UnknownTable`].
    pub fn scan(&self, table: impl TableRef) -> Result<impl Iterator<Item = RowRef<'_>> + '_> {
        let t = table.resolve(&self.schema)?;
        Ok(self.scan_locs(t).map(move |loc| self.row_at(t, loc)))
    }

    pub(crate) fn scan_locs(&self, t: TableId) -> Box<dyn Iterator<Item = Loc> + '_> {
        match self.schema.def(t).kind {
            TableKind::Plain => Box::new(self.tables[t.index()].slots().map(Loc::Slot)),
            TableKind::AutoThrough(r) => {
                let links = &self.links[r as usize];
                let n = links.source_slots();
                let dangling = &self.dangling[r as usize];
                Box::new(
                    (0..n as u32)
                        .flat_map(move |s| links.neighbours(s, true).map(move |t| Loc::Pair(s, t)))
                        .chain(dangling.iter().map(|(i, _)| Loc::Dangling(i))),
                )
            }
        }
    }

    /// The rows of `table` whose `column` equals `value`, in id order,
    /// through the column's hash index (unique columns, declared indexes
    /// and foreign keys have one). O(1 + m log m) expected for m matches
    /// (sorting them by id). A `NULL` value finds the rows where the
    /// column is `NULL`, as Django's `filter(column=None)` does, by a scan
    /// of the table: O(rows + m log m), on any nullable column (none, at
    /// once, on another).
    ///
    /// `value` is a value, or a [`Key`] for the id or a foreign key column
    /// (see [`CellValue`]).
    ///
    /// # Errors
    /// [`Error::UnknownTable`], [`Error::UnknownColumn`],
    /// [`Error::TypeMismatch`] for a value of another type than the
    /// column's, [`Error::WrongKey`] for a key of another table than the
    /// column refers to (or for a plain column), and
    /// [`Error::Unsupported`] when the column has no index (use `scan` or
    /// a query) or is a column of an auto-created through.
    pub fn find_by<'a>(
        &'a self,
        table: impl TableRef,
        column: &str,
        value: impl Into<CellValue>,
    ) -> Result<Vec<RowRef<'a>>> {
        let t = table.resolve(&self.schema)?;
        let def = self.schema.def(t);
        let col = def.column(column).ok_or_else(|| Error::UnknownColumn {
            table: def.name.clone(),
            column: column.to_owned(),
            row: None,
        })?;
        let cell = value.into();
        self.schema.check_key(t, col, &cell)?;
        let value = cell.value().clone();
        let column_def = &def.columns[col as usize];
        match value.type_of() {
            Some(ty) if ty != column_def.ty => return Err(def.type_mismatch(col, value)),
            // No id is `NULL`.
            None if col == 0 => return Ok(Vec::new()),
            _ => {}
        }
        if col == 0 {
            let id = value.as_int().unwrap_or(0);
            return Ok(self.locate(t, id).map(|loc| self.row_at(t, loc)).into_iter().collect());
        }
        if def.kind != TableKind::Plain {
            return Err(Error::Unsupported {
                table: def.name.clone(),
                reason: "auto-created through tables are indexed by the relation; use related() or a query".into(),
            });
        }
        let table = &self.tables[t.index()];
        if value.is_null() {
            if !column_def.nullable {
                return Ok(Vec::new());
            }
            // Indexes hold no `NULL`s: Django's `filter(column=None)`, the
            // rows where the column is `NULL`, by a scan.
            return Ok(self.rows_by_id(t, table.slots().filter(|&s| table.get(s, col).is_null())));
        }
        let found = table.probe(col, value.as_ref()).ok_or_else(|| Error::Unsupported {
            table: def.name.clone(),
            reason: format!("column {column:?} has no index; declare one, or use scan() or a query"),
        })?;
        Ok(self.rows_by_id(t, found))
    }

    /// The rows of table `t` at `slots`, in id order. O(m log m) for m
    /// slots.
    fn rows_by_id(&self, t: TableId, slots: impl Iterator<Item = u32>) -> Vec<RowRef<'_>> {
        let mut rows: Vec<RowRef<'_>> = slots.map(|s| self.row_at(t, Loc::Slot(s))).collect();
        rows.sort_by_key(|r| r.id);
        rows
    }

    /// The rows related to `key` through the accessor named `name`: a
    /// many-to-many field, or a reverse accessor (`related_name`, default
    /// `<table>_set`). O(the table's accessors) to set up: the name is
    /// searched for among them, as [`Schema::accessor`] does (resolve it
    /// once there and use [`related_at`](Self::related_at) in a loop).
    ///
    /// # Errors
    /// [`Error::UnknownAccessor`] (listing the table's accessors),
    /// [`Error::UnknownTable`] for a key of another schema, and
    /// [`Error::NotFound`] when `key` names no row.
    pub fn related(&self, key: Key, name: &str) -> Result<Related<'_>> {
        let acc = self.accessor(key, name)?;
        self.related_at(key, acc)
    }

    pub(crate) fn accessor(&self, key: Key, name: &str) -> Result<Accessor> {
        key.table.resolve(&self.schema)?;
        let def = self.schema.def(key.table);
        def.accessor(name).ok_or_else(|| Error::UnknownAccessor {
            table: def.name.clone(),
            name: name.to_owned(),
            choices: def.accessors.iter().map(|(n, _)| n.clone()).collect(),
        })
    }

    /// [`related`](Self::related) with an accessor resolved once by
    /// [`Schema::accessor`]. O(1), no hashing of names.
    ///
    /// # Errors
    /// [`Error::UnknownAccessor`] for an accessor of another schema,
    /// [`Error::UnknownTable`] for a key of another schema,
    /// [`Error::WrongTable`] when the accessor belongs to another table,
    /// [`Error::NotFound`] when `key` names no row.
    #[inline]
    pub fn related_at(&self, key: Key, accessor: Accessor) -> Result<Related<'_>> {
        let end = self.end(key, accessor)?;
        Ok(Related { view: self, end })
    }

    #[inline]
    pub(crate) fn end(&self, key: Key, accessor: Accessor) -> Result<End> {
        match self.end_slot(key, accessor) {
            Some(slot) => Ok(End { kind: accessor.kind, key, slot, other: accessor.other }),
            None => Err(self.end_error(key, accessor)),
        }
    }

    /// The slot of `key` when it is a live row of `accessor`'s table (and
    /// the accessor is this schema's); `None` for [`end_error`](Self::end_error)
    /// to explain. O(1).
    #[inline(always)]
    pub(crate) fn end_slot(&self, key: Key, accessor: Accessor) -> Option<u32> {
        // Accessors start from declared (plain) tables only.
        match self.tables.get(key.table.index()) {
            Some(table) if accessor.table == key.table && self.schema.owns(accessor) => table.slot_of(key.id),
            _ => None,
        }
    }

    /// Why `end` failed; kept out of line so the hot path stays small.
    #[cold]
    #[inline(never)]
    pub(crate) fn end_error(&self, key: Key, accessor: Accessor) -> Error {
        if !self.schema.owns(accessor) {
            return View::foreign_accessor(accessor);
        }
        if !self.schema.owns_table(key.table) {
            return Error::UnknownTable { table: key.table.foreign_name() };
        }
        let name = |t: TableId| self.schema.table_name(t).to_owned();
        if accessor.table != key.table {
            Error::WrongTable { expected: name(accessor.table), found: name(key.table), id: key.id }
        } else {
            Error::NotFound { table: name(key.table), id: key.id }
        }
    }

    /// Every value of a foreign key with its constraint (`db_constraint`)
    /// is `NULL` or the id of a live row of the key's target: what the
    /// writes check and `on_delete` keeps. O(rows × such keys).
    fn verify_foreign_keys(&self) -> std::result::Result<(), String> {
        for fk in self.schema.fks.iter().filter(|fk| fk.db_constraint) {
            let (table, target) = (&self.tables[fk.table.index()], &self.tables[fk.target.index()]);
            for slot in table.slots() {
                let value = table.get(slot, fk.column);
                match value.as_int() {
                    None if value.is_null() => {}
                    Some(id) if target.slot_of(id).is_some() => {}
                    _ => {
                        let name = &self.schema.def(fk.table).name;
                        return Err(format!("{name}.{} at slot {slot} is {value:?}, no row of its target", fk.name));
                    }
                }
            }
        }
        Ok(())
    }

    /// The error for an accessor resolved on another schema.
    #[cold]
    pub(crate) fn foreign_accessor(accessor: Accessor) -> Error {
        Error::UnknownAccessor {
            table: accessor.table.foreign_name(),
            name: "(an accessor of another schema)".into(),
            choices: Vec::new(),
        }
    }

    /// Checks every storage and junction invariant (see `docs/design.md`):
    /// indexes hold exactly the live rows, the id map matches the slots,
    /// every through row appears once in each direction and points at live
    /// rows, auto-created throughs hold no pair twice, and every foreign
    /// key with its constraint is `NULL` or names a live row. (A symmetrical
    /// relation's pairs need not be mirrored: rows written directly to its
    /// through table are not, as in Django, and the manager heals them.)
    /// O(size of the database); meant for tests and fuzzers.
    ///
    /// # Errors
    /// A description of the first violation found.
    pub fn verify(&self) -> std::result::Result<(), String> {
        for (i, t) in self.tables.iter().enumerate() {
            t.verify(&self.schema.tables[i].name)?;
        }
        self.verify_foreign_keys()?;
        for (r, links) in self.links.iter().enumerate() {
            let rel = &self.schema.rels[r];
            let ctx = |e: String| format!("relation {}.{}: {e}", self.schema.def(rel.source).name, rel.name);
            links.verify().map_err(ctx)?;
            let (src, tgt) = (&self.tables[rel.source.index()], &self.tables[rel.target.index()]);
            let dangling = &self.dangling[r];
            dangling.verify().map_err(|e| ctx(format!("dangling links: {e}")))?;
            let mut seen = hashbrown::HashSet::with_capacity(dangling.len());
            for (_, (a, b)) in dangling.iter() {
                if rel.db_constraint || !rel.auto_through {
                    return Err(ctx("dangling links on a constrained relation".into()));
                }
                if src.slot_of(a).is_some() && tgt.slot_of(b).is_some() {
                    return Err(ctx(format!("dangling pair ({a}, {b}) names two live rows")));
                }
                if !seen.insert((a, b)) {
                    return Err(ctx(format!("dangling pair ({a}, {b}) stored twice")));
                }
            }
            match links {
                Links::Auto(j) => {
                    if j.is_paired() && !rel.symmetrical {
                        return Err(ctx("a paired junction on a relation that is not symmetrical".into()));
                    }
                    if j.is_unpaired_symmetrical() && !(rel.symmetrical && self.may_be_unpaired) {
                        return Err(ctx("an unpaired junction that no commit will try to pair".into()));
                    }
                    for s in 0..j.source_slots() as u32 {
                        let targets = j.nodes(s, true);
                        if !targets.is_empty() && !src.is_live(s) {
                            return Err(ctx(format!("links from free source slot {s}")));
                        }
                        let mut seen: Vec<u32> = targets.to_vec();
                        seen.sort_unstable();
                        if seen.windows(2).any(|w| w[0] == w[1]) {
                            return Err(ctx(format!("a pair from slot {s} appears twice")));
                        }
                        for &t in targets {
                            if !tgt.is_live(t) {
                                return Err(ctx(format!("link {s} -> free target slot {t}")));
                            }
                        }
                    }
                }
                Links::Custom(j) => {
                    let through = &self.tables[rel.through.index()];
                    let mut count = 0;
                    for slot in through.slots() {
                        let (a, b) = (through.get(slot, rel.source_column), through.get(slot, rel.target_column));
                        let (Some(a), Some(b)) = (a.as_int(), b.as_int()) else { continue };
                        count += 1;
                        let (Some(s), Some(t)) = (src.slot_of(a), tgt.slot_of(b)) else {
                            return Err(ctx(format!("through row slot {slot} links missing ids ({a}, {b})")));
                        };
                        let n = j.find_all(s, t).iter().filter(|&&p| j.target_entry(s, p).payload == slot).count();
                        if n != 1 {
                            return Err(ctx(format!("through row slot {slot} appears {n} times in the junction")));
                        }
                    }
                    if count != j.len() {
                        return Err(ctx(format!("{} junction entries for {count} linked through rows", j.len())));
                    }
                }
            }
        }
        Ok(())
    }
}

/// One end of a relation seen from a row: resolved once, then read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct End {
    pub(crate) kind: AccessorKind,
    pub(crate) key: Key,
    pub(crate) slot: u32,
    pub(crate) other: TableId,
}

/// A borrowed row. Column reads are O(1).
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    view: &'a View,
    table: TableId,
    loc: Loc,
    id: i64,
}

impl fmt::Debug for RowRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let def = self.view.schema.def(self.table);
        let mut s = f.debug_struct(&def.name);
        for (i, c) in def.columns.iter().enumerate() {
            s.field(&c.name, &self.value_at(i as u16));
        }
        s.finish()
    }
}

impl<'a> RowRef<'a> {
    /// The row's key. O(1).
    pub fn key(&self) -> Key {
        Key::new(self.table, self.id)
    }

    /// The row's id. O(1).
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The value of column `column` (`"id"` included); `None` if the table
    /// has no such column. O(1) expected (one name lookup).
    pub fn get(&self, column: &str) -> Option<ValueRef<'a>> {
        let c = self.view.schema.def(self.table).column(column)?;
        Some(self.value_at(c))
    }

    /// The value of a column resolved once with [`Schema::column`]; `None`
    /// if it belongs to another table or another schema. O(1).
    #[inline]
    pub fn get_at(&self, column: ColumnId) -> Option<ValueRef<'a>> {
        (column.table == self.table && column.schema == self.view.schema.stamp).then(|| self.value_at(column.index))
    }

    /// The value of column `col`: a stored row's inline (the caller's
    /// loop over rows then reads the column with no call), a link row's
    /// out of line.
    #[inline]
    pub(crate) fn value_at(&self, col: u16) -> ValueRef<'a> {
        match self.loc {
            Loc::Slot(s) => self.view.tables[self.table.index()].get(s, col),
            _ => self.value_at_general(col),
        }
    }

    /// [`value_at`](Self::value_at) for every kind of row, out of line:
    /// `value_at` answers a stored row before calling it, so it is what
    /// reads a link row of an auto-created through table.
    #[inline(never)]
    fn value_at_general(&self, col: u16) -> ValueRef<'a> {
        match self.loc {
            Loc::Slot(s) => self.view.tables[self.table.index()].get(s, col),
            Loc::Pair(s, t) => {
                let TableKind::AutoThrough(r) = self.view.schema.def(self.table).kind else {
                    return ValueRef::Null;
                };
                let rel = self.view.schema.rel(r);
                match col {
                    0 => ValueRef::Int(self.id),
                    1 => ValueRef::Int(self.view.tables[rel.source.index()].id_at(s)),
                    _ => ValueRef::Int(self.view.tables[rel.target.index()].id_at(t)),
                }
            }
            Loc::Dangling(i) => {
                let TableKind::AutoThrough(r) = self.view.schema.def(self.table).kind else {
                    return ValueRef::Null;
                };
                let Some((a, b)) = self.view.dangling[r as usize].get(i) else {
                    return ValueRef::Null;
                };
                ValueRef::Int(match col {
                    0 => self.id,
                    1 => a,
                    _ => b,
                })
            }
        }
    }

    /// An `Int` column's value; `None` if null, missing, or another type.
    /// As [`get`](Self::get).
    pub fn int(&self, column: &str) -> Option<i64> {
        self.get(column)?.as_int()
    }

    /// A `Float` column's value; `None` if null, missing, or another type.
    /// As [`get`](Self::get).
    pub fn float(&self, column: &str) -> Option<f64> {
        self.get(column)?.as_float()
    }

    /// A `Bool` column's value; `None` if null, missing, or another type.
    /// As [`get`](Self::get).
    pub fn bool(&self, column: &str) -> Option<bool> {
        self.get(column)?.as_bool()
    }

    /// A `Text` column's value; `None` if null, missing, or another type.
    /// As [`get`](Self::get).
    pub fn text(&self, column: &str) -> Option<&'a str> {
        self.get(column)?.as_text()
    }

    /// A `Bytes` column's value; `None` if null, missing, or another type.
    /// As [`get`](Self::get).
    pub fn bytes(&self, column: &str) -> Option<&'a [u8]> {
        self.get(column)?.as_bytes()
    }

    /// The whole row as named values, `id` first, then in declaration
    /// order (as [`Schema::columns`](crate::Schema::columns)). O(columns),
    /// copying each value.
    pub fn to_row(&self) -> Row {
        let def = self.view.schema.def(self.table);
        def.declared_columns().map(|(i, c)| (c.name.clone(), self.value_at(i).to_owned())).collect()
    }
}

/// The rows at the other end of a relation from one row: read operations
/// of a related manager. Build it with [`View::related`].
#[derive(Clone, Copy, Debug)]
pub struct Related<'a> {
    view: &'a View,
    end: End,
}

impl<'a> Related<'a> {
    pub(crate) fn new(view: &'a View, end: End) -> Self {
        Related { view, end }
    }

    /// The view and the resolved end (for queries on this manager).
    pub(crate) fn parts(&self) -> (&'a View, End) {
        (self.view, self.end)
    }

    /// The table at the other end. O(1).
    pub fn table(&self) -> TableId {
        self.end.other
    }

    #[inline]
    fn slots(&self) -> NodeIter<'a> {
        let v = self.view;
        match self.end.kind {
            AccessorKind::Forward(r) => v.links[r as usize].neighbours(self.end.slot, true),
            AccessorKind::Reverse(r) => v.links[r as usize].neighbours(self.end.slot, false),
            AccessorKind::FkReverse(f) => {
                let table = &v.tables[v.schema.fk(f).table.index()];
                let mut slots: Vec<u32> = self.fk_rows(f).collect();
                slots.sort_by_key(|&s| table.id_at(s));
                NodeIter::Owned(slots.into_iter())
            }
        }
    }

    /// The slots of the rows whose foreign key `f` names this row, through
    /// its index, in no order. O(1) to start, O(1) per row expected.
    fn fk_rows(&self, f: FkId) -> impl Iterator<Item = u32> + 'a {
        let fk = self.view.schema.fk(f);
        let table = &self.view.tables[fk.table.index()];
        table.probe(fk.column, ValueRef::Int(self.end.key.id())).into_iter().flatten()
    }

    /// The ids at the other end, one per link row (a pair linked twice in a
    /// custom through table appears twice). O(1) to start for a
    /// many-to-many relation; a reverse foreign key's rows are found
    /// through its index and sorted by id first, O(m log m) for m rows.
    /// O(1) per item.
    #[inline]
    pub fn ids(&self) -> RelatedIds<'a> {
        RelatedIds::new(self.slots(), &self.view.tables[self.end.other.index()])
    }

    /// The keys at the other end, one per link row. As [`ids`](Self::ids).
    pub fn keys(&self) -> impl ExactSizeIterator<Item = Key> + 'a {
        let t = self.end.other;
        self.ids().map(move |id| Key::new(t, id))
    }

    /// The rows at the other end, one per link row. As [`ids`](Self::ids):
    /// O(1) to start for a many-to-many relation; a reverse foreign key's
    /// rows are found through its index and sorted by id first, O(m log m)
    /// for m rows. O(1) per item.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = RowRef<'a>> + 'a {
        let (view, t) = (self.view, self.end.other);
        self.slots().map(move |s| view.row_at(t, Loc::Slot(s)))
    }

    /// The slots at the other end (crate-internal, for queries).
    pub(crate) fn other_slots(&self) -> impl Iterator<Item = u32> + 'a {
        self.slots()
    }

    /// Whether `key` is at the other end. O(1) expected for many-to-many
    /// relations at any degree (between two rows of more than 32 links,
    /// once a write has searched one of them: until then, as after direct
    /// inserts into a custom through table, the shorter list is scanned),
    /// O(1) expected for a reverse foreign key (one cell of `key`'s row).
    #[inline]
    pub fn contains(&self, key: Key) -> bool {
        if key.table() != self.end.other {
            return false;
        }
        let v = self.view;
        let Some(slot) = v.tables[key.table().index()].slot_of(key.id()) else {
            return false;
        };
        match self.end.kind {
            AccessorKind::Forward(r) => v.links[r as usize].contains(self.end.slot, slot),
            AccessorKind::Reverse(r) => v.links[r as usize].contains(slot, self.end.slot),
            AccessorKind::FkReverse(f) => {
                let fk = v.schema.fk(f);
                v.tables[fk.table.index()].get(slot, fk.column) == ValueRef::Int(self.end.key.id())
            }
        }
    }

    /// The number of link rows at this end. O(1) for many-to-many
    /// relations, O(matches) for foreign keys.
    #[inline]
    pub fn count(&self) -> usize {
        match self.end.kind {
            AccessorKind::Forward(r) => self.view.links[r as usize].degree(self.end.slot, true),
            AccessorKind::Reverse(r) => self.view.links[r as usize].degree(self.end.slot, false),
            // Counted off the index probe: `slots` would collect and sort
            // them by id first, O(matches log matches).
            AccessorKind::FkReverse(f) => self.fk_rows(f).count(),
        }
    }

    /// Whether there is at least one link row. O(1) expected (a reverse
    /// foreign key stops at its index's first match).
    pub fn exists(&self) -> bool {
        match self.end.kind {
            AccessorKind::FkReverse(f) => self.fk_rows(f).next().is_some(),
            _ => self.count() > 0,
        }
    }
}

/// The ids at the other end of a relation; see [`Related::ids`].
#[derive(Clone, Debug)]
pub struct RelatedIds<'a> {
    /// Neighbour slots borrowed from a junction's list: the common case
    /// gets a plain loop over a `&[u32]`, with no dispatch per item.
    slots: std::slice::Iter<'a, u32>,
    /// Slots collected for a reverse foreign key (sorted by id); empty
    /// for a many-to-many relation.
    owned: Option<std::vec::IntoIter<u32>>,
    ids: &'a [i64],
    /// Every live row of the other table is at slot `id`.
    dense: bool,
}

impl<'a> RelatedIds<'a> {
    /// The ids of `slots`, rows of `table`.
    #[inline]
    pub(crate) fn new(slots: NodeIter<'a>, table: &'a Table) -> Self {
        let (slots, owned) = match slots {
            NodeIter::Slots(slots) => (slots, None),
            NodeIter::Owned(owned) => ([].iter(), Some(owned)),
        };
        RelatedIds { slots, owned, ids: table.ids(), dense: table.ids_are_slots() }
    }

    /// The ids of the rows at `slots` of a table whose ids by slot are
    /// `ids` (`dense`: see [`Table::ids_are_slots`]).
    #[inline(always)]
    pub(crate) fn slots(slots: &'a [u32], ids: &'a [i64], dense: bool) -> Self {
        RelatedIds { slots: slots.iter(), owned: None, ids, dense }
    }

    #[inline(always)]
    fn id(&self, slot: u32) -> i64 {
        if self.dense {
            i64::from(slot)
        } else {
            self.ids.get(slot as usize).copied().unwrap_or(0)
        }
    }
}

impl Iterator for RelatedIds<'_> {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        let slot = match self.slots.next() {
            Some(&s) => s,
            None => self.owned.as_mut()?.next()?,
        };
        Some(self.id(slot))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.slots.len() + self.owned.as_ref().map_or(0, ExactSizeIterator::len);
        (n, Some(n))
    }

    #[inline(always)]
    fn fold<B, F: FnMut(B, i64) -> B>(self, init: B, mut f: F) -> B {
        let (slots, owned) = (self.slots, self.owned);
        if self.dense {
            // A row's id is its slot (see `storage::table`), so the ids of a
            // list are its slots widened, a loop the compiler vectorizes
            // with nothing added per slot: when ids were `slot + 1`, the
            // add cost a summing fold (peers `reverse` at size S) 2 of its 11
            // instructions per 4 slots.
            let acc = fold_prefetched(slots.as_slice(), init, |acc, s| f(acc, i64::from(s)));
            owned.into_iter().flatten().fold(acc, |acc, s| f(acc, i64::from(s)))
        } else {
            let ids = self.ids;
            let id = |s: u32| ids.get(s as usize).copied().unwrap_or(0);
            let acc = fold_prefetched(slots.as_slice(), init, |acc, s| f(acc, id(s)));
            owned.into_iter().flatten().fold(acc, |acc, s| f(acc, id(s)))
        }
    }
}

/// `slots.iter().fold(init, f)`, with the lines of the list's first 512
/// slots (2 KiB) prefetched before the fold starts (see
/// [`prefetch_lines`](crate::relation::prefetch::prefetch_lines)): a long
/// list's first lines then miss at the same time instead of one after
/// another as the fold reaches them, and past them the hardware's own
/// prefetcher, which starts following a stream only after it has seen it
/// miss, has caught up. A list of one line (16 slots) is folded with no
/// hint. (Peers `reverse` at size L, 500 members a group, alternating
/// runs: 451.4/515.4 -> 241.4/390.8 ns best/median with every line
/// prefetched; `dense` 281.3/329.8. Prefetching each 256-slot chunk
/// while folding the one before took `forward` at S from 90 to 149
/// instructions a read. See `docs/design.md`, eleventh session.) O(slots).
#[inline(always)]
fn fold_prefetched<B>(slots: &[u32], init: B, mut f: impl FnMut(B, u32) -> B) -> B {
    use crate::relation::prefetch::{prefetch_lines, WORDS_PER_LINE};
    const AHEAD: usize = 512;
    if slots.len() > WORDS_PER_LINE {
        prefetch_lines(&slots[WORDS_PER_LINE..slots.len().min(AHEAD)]);
    }
    slots.iter().fold(init, |acc, &s| f(acc, s))
}

impl ExactSizeIterator for RelatedIds<'_> {}
impl std::iter::FusedIterator for RelatedIds<'_> {}

#[cfg(test)]
mod tests {
    use crate::{row, Database, OnDelete, Schema, Value};

    /// `verify` finds a foreign key naming no row (here written past the
    /// checks), and accepts `NULL` and the same corruption on a key
    /// without its constraint.
    #[test]
    fn verify_finds_a_constrained_foreign_key_that_names_no_row() {
        let schema = Schema::builder()
            .table("user", |_| {})
            .table("post", |t| {
                t.foreign_key("author", "user").nullable().on_delete(OnDelete::SetNull);
                t.foreign_key("editor", "user")
                    .related_name("edited")
                    .nullable()
                    .db_constraint(false)
                    .on_delete(OnDelete::DoNothing);
            })
            .build()
            .unwrap();
        let mut db = Database::new(schema);
        let post = db
            .write(|tx| {
                let u = tx.insert("user", row! {})?;
                tx.insert("post", row! {})?;
                tx.insert("post", row! { "author" => u, "editor" => u })
            })
            .unwrap();
        let view = db.state.get_mut();
        assert_eq!(view.verify(), Ok(()));
        let t = post.table().index();
        let slot = view.tables[t].slot_of(post.id()).unwrap();
        view.tables[t].update(slot, 2, Value::Int(99));
        assert_eq!(view.verify(), Ok(()), "editor has no constraint");
        view.tables[t].update(slot, 1, Value::Int(99));
        let found = view.verify().unwrap_err();
        assert!(found.contains("post.author") && found.contains("99"), "{found}");
        view.tables[t].update(slot, 1, Value::Null);
        assert_eq!(view.verify(), Ok(()));
    }
}
