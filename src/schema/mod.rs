//! The schema: declared with [`SchemaBuilder`], checked and resolved once by
//! `build`, then immutable. Run-time code refers to tables, columns and
//! relations by small copyable handles resolved from names here.

mod builder;
mod naming;
mod resolve;

use hashbrown::HashMap;

pub use builder::{ColumnBuilder, ForeignKeyBuilder, ManyToManyBuilder, OnDelete, SchemaBuilder, TableBuilder};

use crate::error::{Diagnostic, Error};
use crate::value::{Type, Value};

/// A table of a built [`Schema`]: a small copyable handle (4 bytes).
///
/// It carries the low 16 bits of the stamp of the schema that resolved it,
/// so a handle of another schema is refused as an unknown table instead of
/// naming whichever table sits at the same position here (unless 65,536
/// schemas were built in between, which wraps the stamp). A schema has at
/// most [`MAX_TABLES`] tables, auto-created through tables included.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId(u32);

/// The most tables a schema can have, auto-created through tables included.
pub const MAX_TABLES: usize = (1 << TableId::INDEX_BITS) - 1;

impl TableId {
    const INDEX_BITS: u32 = 16;
    const INDEX_MASK: u32 = (1 << Self::INDEX_BITS) - 1;

    /// No table: a placeholder while a schema is resolved. Its position is
    /// [`MAX_TABLES`], which no table has (positions run below it).
    pub(crate) const NONE: TableId = TableId(u32::MAX);

    /// Table `index` (below [`MAX_TABLES`]) of the schema with `stamp`.
    pub(crate) fn new(index: usize, stamp: u32) -> Self {
        debug_assert!(index < MAX_TABLES, "junction.E031 bounds the tables");
        TableId((stamp << Self::INDEX_BITS) | (index as u32 & Self::INDEX_MASK))
    }

    /// The table's position in its schema.
    #[inline(always)]
    pub(crate) fn index(self) -> usize {
        (self.0 & Self::INDEX_MASK) as usize
    }

    /// How errors name a table of another schema.
    pub(crate) fn foreign_name(self) -> String {
        format!("#{} of another schema", self.index())
    }

    /// Whether this handle was made by the schema with `stamp`.
    #[inline(always)]
    pub(crate) fn is_of(self, stamp: u32) -> bool {
        self.0 >> Self::INDEX_BITS == stamp & Self::INDEX_MASK
    }
}

impl std::fmt::Debug for TableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TableId({}/{})", self.0 >> Self::INDEX_BITS, self.index())
    }
}

/// A column of a table: a small copyable handle. Column 0 is `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ColumnId {
    pub(crate) table: TableId,
    pub(crate) index: u16,
    /// The [`Schema::stamp`] of the schema that resolved it.
    pub(crate) schema: u32,
}

impl ColumnId {
    /// The table of this column. O(1).
    pub fn table(self) -> TableId {
        self.table
    }
}

pub(crate) type FkId = u32;
pub(crate) type RelId = u32;

/// One end of a relation, as seen from a table: the forward side of a
/// many-to-many field, its reverse accessor, or the reverse accessor of a
/// foreign key. Resolve it once with [`Schema::accessor`] and pass it to the
/// handle-taking calls (`related_at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Accessor {
    pub(crate) table: TableId,
    pub(crate) kind: AccessorKind,
    /// The table at the other end.
    pub(crate) other: TableId,
    /// The [`Schema::stamp`] of the schema that resolved it.
    pub(crate) schema: u32,
}

impl Accessor {
    /// The table whose rows this accessor starts from. O(1).
    pub fn table(self) -> TableId {
        self.table
    }

    /// The table of the rows it reaches. O(1).
    pub fn other(self) -> TableId {
        self.other
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum AccessorKind {
    /// Source -> targets of a many-to-many relation.
    Forward(RelId),
    /// Target -> sources of a many-to-many relation.
    Reverse(RelId),
    /// Target -> referencing rows of a foreign key.
    FkReverse(FkId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TableKind {
    Plain,
    /// The auto-created through table of a many-to-many relation: its rows
    /// live in the junction, not in column storage.
    AutoThrough(RelId),
}

#[derive(Clone, Debug)]
pub(crate) struct ColumnDef {
    pub(crate) name: String,
    pub(crate) ty: Type,
    pub(crate) nullable: bool,
    pub(crate) unique: bool,
    pub(crate) indexed: bool,
    pub(crate) default: Option<Value>,
    pub(crate) fk: Option<FkId>,
}

#[derive(Clone, Debug)]
pub(crate) struct TableDef {
    pub(crate) name: String,
    pub(crate) kind: TableKind,
    pub(crate) columns: Vec<ColumnDef>,
    pub(crate) column_by_name: HashMap<String, u16>,
    /// Foreign keys declared on this table.
    pub(crate) fks_out: Vec<FkId>,
    /// Foreign keys pointing at this table.
    pub(crate) fks_in: Vec<FkId>,
    /// Many-to-many relations with this table as source or target.
    pub(crate) rels: Vec<RelId>,
    /// Many-to-many relations whose custom through table this is.
    pub(crate) through_for: Vec<RelId>,
    /// Accessors usable with `related`, by name, in declaration order.
    pub(crate) accessors: Vec<(String, Accessor)>,
    /// The columns in declaration order: `id`, then the plain columns and
    /// the foreign keys' columns as the builder's calls interleaved them
    /// (`columns` has the foreign keys last). `values()` with no paths
    /// reads them in this order, as Django's does.
    pub(crate) declared: Vec<u16>,
}

impl ColumnDef {
    /// The implicit primary key `id`.
    pub(crate) fn primary_key() -> Self {
        ColumnDef {
            name: "id".into(),
            ty: Type::Int,
            nullable: false,
            unique: true,
            indexed: false,
            default: None,
            fk: None,
        }
    }

    /// A non-null `Int` column holding a linked id (auto-created throughs).
    pub(crate) fn link(name: String) -> Self {
        ColumnDef { name, ty: Type::Int, nullable: false, unique: false, indexed: false, default: None, fk: None }
    }
}

impl TableDef {
    /// The columns in declaration order (see `declared`), with their
    /// positions. O(1) per column.
    pub(crate) fn declared_columns(&self) -> impl Iterator<Item = (u16, &ColumnDef)> {
        self.declared.iter().map(|&c| (c, &self.columns[c as usize]))
    }

    /// The error for `value`, of another type than column `c`'s, given
    /// for it (by a write, a filter or `find_by`).
    #[cold]
    pub(crate) fn type_mismatch(&self, c: u16, value: Value) -> Error {
        let col = &self.columns[c as usize];
        Error::TypeMismatch { table: self.name.clone(), column: col.name.clone(), expected: col.ty, value, row: None }
    }

    pub(crate) fn column(&self, name: &str) -> Option<u16> {
        self.column_by_name.get(name).copied()
    }

    pub(crate) fn accessor(&self, name: &str) -> Option<Accessor> {
        self.accessors.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct FkDef {
    pub(crate) name: String,
    pub(crate) table: TableId,
    pub(crate) column: u16,
    pub(crate) target: TableId,
    pub(crate) on_delete: OnDelete,
    pub(crate) db_constraint: bool,
    /// Reverse accessor name, `None` when hidden.
    pub(crate) accessor: Option<String>,
    /// Reverse query name, `None` when there is none usable.
    pub(crate) query_name: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct RelDef {
    pub(crate) name: String,
    pub(crate) source: TableId,
    pub(crate) target: TableId,
    pub(crate) symmetrical: bool,
    pub(crate) through: TableId,
    pub(crate) auto_through: bool,
    /// The through table's columns holding the source and the target id.
    pub(crate) source_column: u16,
    pub(crate) target_column: u16,
    /// Reverse accessor name, `None` when hidden or symmetrical.
    pub(crate) accessor: Option<String>,
    /// Reverse query name, `None` when there is none usable.
    pub(crate) query_name: Option<String>,
    pub(crate) db_constraint: bool,
    pub(crate) limit_choices_to: Vec<(String, crate::Arg)>,
}

/// A checked, immutable schema. Build one with [`Schema::builder`]; share it
/// through the [`Database`](crate::Database) that owns it.
#[derive(Clone, Debug)]
pub struct Schema {
    pub(crate) tables: Vec<TableDef>,
    pub(crate) table_by_name: HashMap<String, TableId>,
    pub(crate) fks: Vec<FkDef>,
    pub(crate) rels: Vec<RelDef>,
    pub(crate) warnings: Vec<Diagnostic>,
    /// Distinct for every schema built in this process (clones share it):
    /// handles resolved on one schema are recognised as foreign by another
    /// with one comparison.
    pub(crate) stamp: u32,
}

impl Schema {
    /// Starts declaring a schema. O(1).
    pub fn builder() -> SchemaBuilder {
        SchemaBuilder::default()
    }

    /// The handle of a table (auto-created through tables included). O(1).
    pub fn table(&self, name: &str) -> Option<TableId> {
        self.table_by_name.get(name).copied()
    }

    /// The table column `column` of table `t` refers to: `t` itself for
    /// `id`, a foreign key's target, or an auto-created through's end for
    /// its link columns; `None` for a plain column. So a [`Key`](crate::Key)
    /// given for the column, in a filter or a row, must be of this table.
    /// O(1).
    pub(crate) fn column_refs(&self, t: TableId, column: u16) -> Option<TableId> {
        let def = self.def(t);
        if column == 0 {
            return Some(t);
        }
        if let Some(f) = def.columns[column as usize].fk {
            return Some(self.fk(f).target);
        }
        if let TableKind::AutoThrough(r) = def.kind {
            let rel = self.rel(r);
            return Some(if column == 1 { rel.source } else { rel.target });
        }
        None
    }

    /// Checks that a cell set from a key, given for column `column` of
    /// table `t` (in a row or to `find_by`), is of the table the column
    /// refers to (see [`column_refs`](Self::column_refs)); any other cell
    /// passes. O(1).
    ///
    /// # Errors
    /// [`Error::WrongKey`](crate::Error::WrongKey) for a key of another
    /// table, or for any key given for a plain column.
    pub(crate) fn check_key(&self, t: TableId, column: u16, cell: &crate::CellValue) -> Result<(), Error> {
        let Some(key) = cell.key() else { return Ok(()) };
        let refs = self.column_refs(t, column);
        if refs == Some(key.table()) {
            return Ok(());
        }
        let def = self.def(t);
        Err(Error::WrongKey {
            table: def.name.clone(),
            column: def.columns[column as usize].name.clone(),
            expected: refs.map(|r| self.table_name(r).to_owned()),
            found: self.table_name(key.table()).to_owned(),
            id: key.id(),
            row: None,
        })
    }

    /// The name of a table; `"(unknown table)"` for the handle of a table
    /// of another schema. O(1).
    pub fn table_name(&self, table: TableId) -> &str {
        self.def_of(table).map_or("(unknown table)", |t| t.name.as_str())
    }

    /// Whether `table` was resolved on this schema (or a clone of it). O(1).
    #[inline(always)]
    pub(crate) fn owns_table(&self, table: TableId) -> bool {
        table.is_of(self.stamp) && table.index() < self.tables.len()
    }

    /// The definition of `table`, `None` for a table of another schema.
    fn def_of(&self, table: TableId) -> Option<&TableDef> {
        if self.owns_table(table) {
            self.tables.get(table.index())
        } else {
            None
        }
    }

    /// The names of all tables, in declaration order, auto-created through
    /// tables after the tables that declare them. O(1) per name.
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.iter().map(|t| t.name.as_str())
    }

    /// The handle of a column (`"id"` included). O(1).
    pub fn column(&self, table: &str, column: &str) -> Option<ColumnId> {
        let t = self.table(table)?;
        let index = self.tables[t.index()].column(column)?;
        Some(ColumnId { table: t, index, schema: self.stamp })
    }

    /// The names and types of a table's columns, `id` first, then in
    /// declaration order, a foreign key by its column's name (none for a
    /// table of another schema). O(1) per column.
    pub fn columns(&self, table: TableId) -> impl Iterator<Item = (&str, Type)> {
        self.def_of(table).into_iter().flat_map(|t| t.declared_columns().map(|(_, c)| (c.name.as_str(), c.ty)))
    }

    /// The accessor `name` on `table`: a many-to-many field name, or a
    /// visible reverse accessor (`related_name`, default `<source>_set`).
    /// O(the table's accessors): resolve it once, then pass the handle.
    pub fn accessor(&self, table: &str, name: &str) -> Option<Accessor> {
        let t = self.table(table)?;
        self.tables[t.index()].accessor(name)
    }

    /// The accessor names usable on `table`, in declaration order (none for
    /// a table of another schema). O(1) per name.
    pub fn accessor_names(&self, table: TableId) -> impl Iterator<Item = &str> {
        self.def_of(table).into_iter().flat_map(|d| d.accessors.iter().map(|(n, _)| n.as_str()))
    }

    /// Whether `accessor` was resolved on this schema (or a clone of it).
    /// O(1): one comparison.
    #[inline(always)]
    pub(crate) fn owns(&self, accessor: Accessor) -> bool {
        accessor.schema == self.stamp
    }

    /// The through table of the many-to-many field `field` of `table`. As
    /// [`accessor`](Self::accessor): O(the table's accessors).
    pub fn through_table(&self, table: &str, field: &str) -> Option<TableId> {
        match self.accessor(table, field)?.kind {
            AccessorKind::Forward(r) => Some(self.rels[r as usize].through),
            _ => None,
        }
    }

    /// Whether the many-to-many field `field` of `table` is symmetrical.
    /// O(the table's accessors), as [`accessor`](Self::accessor).
    pub fn is_symmetrical(&self, table: &str, field: &str) -> Option<bool> {
        match self.accessor(table, field)?.kind {
            AccessorKind::Forward(r) => Some(self.rels[r as usize].symmetrical),
            _ => None,
        }
    }

    /// The warnings the build reported (`fields.W340`, `W341`, `W345`).
    /// O(1).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    pub(crate) fn def(&self, table: TableId) -> &TableDef {
        &self.tables[table.index()]
    }

    pub(crate) fn rel(&self, rel: RelId) -> &RelDef {
        &self.rels[rel as usize]
    }

    pub(crate) fn fk(&self, fk: FkId) -> &FkDef {
        &self.fks[fk as usize]
    }
}
