//! The declaration side of a schema: [`SchemaBuilder`] and the builders the
//! `table` closure receives. Nothing is checked here; `build` checks
//! everything at once (see `resolve`).

use crate::error::SchemaError;
use crate::value::{Type, Value};

use super::Schema;

/// What happens to rows that reference a deleted row through a foreign key
/// (Django's `on_delete`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnDelete {
    /// Delete the referencing rows too (the default).
    #[default]
    Cascade,
    /// Refuse the delete while referencing rows exist.
    Protect,
    /// Refuse the delete unless the referencing rows are deleted by a
    /// cascade of the same delete.
    Restrict,
    /// Set the column to `NULL` (it must be nullable: `fields.E320`).
    SetNull,
    /// Set the column to its default (it must have one: `fields.E321`).
    SetDefault,
    /// Leave the column as it is. With `db_constraint` on this makes the
    /// delete fail, as the database constraint would; off, the id dangles.
    DoNothing,
}

/// Declares a schema: tables in any order, settings for swappable targets,
/// the identifier limit for auto-created names. See [`Schema::builder`].
///
/// The builders' methods only record declarations, O(1) amortized each,
/// and report nothing: every check runs in [`build`](Self::build), which
/// reports them all.
#[derive(Debug)]
pub struct SchemaBuilder {
    pub(crate) max_name_length: Option<usize>,
    pub(crate) settings: Vec<(String, String)>,
    pub(crate) tables: Vec<TableBuilder>,
}

impl Default for SchemaBuilder {
    fn default() -> Self {
        SchemaBuilder { max_name_length: Some(64), settings: Vec::new(), tables: Vec::new() }
    }
}

impl SchemaBuilder {
    /// The identifier length limit for auto-created through-table names
    /// (default `Some(64)`; `None` means no limit). Longer names are cut and
    /// end in four hex digits of their MD5 (Django's `truncate_name`), so a
    /// limit under 4 still gives names of four characters (the digits
    /// alone), and a limit of 4 names that may start with a digit.
    pub fn max_name_length(mut self, limit: Option<usize>) -> Self {
        self.max_name_length = limit;
        self
    }

    /// Sets a named setting to a table name, for swappable targets: a
    /// relation to `"settings.NAME"` points at that table, and a table
    /// declared [`swappable`](TableBuilder::swappable) by `NAME` is swapped
    /// out (not created) when the setting names another table.
    pub fn setting(mut self, name: impl Into<String>, table: impl Into<String>) -> Self {
        self.settings.push((name.into(), table.into()));
        self
    }

    /// Declares a table; `declare` adds its columns, indexes and relations.
    /// Every table has an implicit `Int` primary key `id`.
    pub fn table(mut self, name: impl Into<String>, declare: impl FnOnce(&mut TableBuilder)) -> Self {
        let mut table = TableBuilder::new(name.into());
        declare(&mut table);
        self.tables.push(table);
        self
    }

    /// Resolves every reference and runs every check, plus the md5 of each
    /// truncated table name. Quadratic in the schema's size, however few
    /// fields each table has: the reverse-name check compares every pair
    /// of relations (foreign keys included) in the schema, as Django's
    /// does, and some checks scan the schema's tables or keys once per
    /// relation. `n` keys to one table left at the default accessor make
    /// `n × (n - 1)` `fields.E304` diagnostics, one per clashing pair, as
    /// in Django.
    ///
    /// # Errors
    /// A [`SchemaError`] listing **all** error diagnostics found (with the
    /// warnings), each with its check id, table, field and how to fix it.
    /// A schema too large to represent stops the checks there: its error
    /// lists the table-name diagnostics found before (`junction.E001`,
    /// `junction.E002`, `models.E023`/`E024`, `junction.E030`) and then
    /// `junction.E031` for too many tables, or `junction.E032` for every
    /// table with too many columns. Warnings alone do not fail the build;
    /// they are on [`Schema::warnings`].
    pub fn build(self) -> Result<Schema, SchemaError> {
        super::resolve::build(self)
    }
}

/// Declares one table's columns, indexes and relations. O(1) amortized per
/// method; checked by [`SchemaBuilder::build`].
#[derive(Debug)]
pub struct TableBuilder {
    pub(crate) name: String,
    pub(crate) columns: Vec<ColumnBuilder>,
    pub(crate) indexes: Vec<String>,
    pub(crate) foreign_keys: Vec<ForeignKeyBuilder>,
    pub(crate) many_to_many: Vec<ManyToManyBuilder>,
    pub(crate) swappable: Option<String>,
}

impl TableBuilder {
    fn new(name: String) -> Self {
        TableBuilder {
            name,
            columns: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            many_to_many: Vec::new(),
            swappable: None,
        }
    }

    /// Declares a column: not nullable, not unique, no default, until the
    /// returned builder says otherwise.
    pub fn column(&mut self, name: impl Into<String>, ty: Type) -> &mut ColumnBuilder {
        self.columns.push(ColumnBuilder {
            name: name.into(),
            ty,
            nullable: false,
            unique: false,
            indexed: false,
            default: None,
        });
        self.columns.last_mut().expect("just pushed")
    }

    /// Declares a non-unique hash index on a column.
    pub fn index(&mut self, column: impl Into<String>) -> &mut Self {
        self.indexes.push(column.into());
        self
    }

    /// Declares a foreign key `name` to table `to` (a table name, `"self"`,
    /// or `"settings.NAME"`). It is stored in the `Int` column `<name>_id`
    /// and indexed. Defaults: not nullable, `OnDelete::Cascade`,
    /// `db_constraint` on, reverse accessor `<table>_set`.
    pub fn foreign_key(&mut self, name: impl Into<String>, to: impl Into<String>) -> &mut ForeignKeyBuilder {
        self.foreign_keys.push(ForeignKeyBuilder {
            name: name.into(),
            to: to.into(),
            nullable: false,
            unique: false,
            on_delete: OnDelete::Cascade,
            db_constraint: true,
            related_name: None,
            related_query_name: None,
            default: None,
            after_columns: self.columns.len(),
        });
        self.foreign_keys.last_mut().expect("just pushed")
    }

    /// Declares a many-to-many relation `name` to table `to` (a table name,
    /// `"self"`, or `"settings.NAME"`), stored in an auto-created through
    /// table unless [`through`](ManyToManyBuilder::through) names one.
    pub fn many_to_many(&mut self, name: impl Into<String>, to: impl Into<String>) -> &mut ManyToManyBuilder {
        self.many_to_many.push(ManyToManyBuilder {
            name: name.into(),
            to: to.into(),
            symmetrical: None,
            related_name: None,
            related_query_name: None,
            through: None,
            through_fields: None,
            db_table: None,
            db_constraint: true,
            limit_choices_to: Vec::new(),
            null: false,
            validators: 0,
            unique: false,
        });
        self.many_to_many.last_mut().expect("just pushed")
    }

    /// Makes this table swappable through setting `setting` (Django's
    /// `Meta.swappable`): when the setting names another table, this one is
    /// swapped out and not created, and relations to it are `fields.E301`.
    pub fn swappable(&mut self, setting: impl Into<String>) -> &mut Self {
        self.swappable = Some(setting.into());
        self
    }
}

/// Options of a column. O(1) per method; checked by
/// [`SchemaBuilder::build`].
#[derive(Debug)]
pub struct ColumnBuilder {
    pub(crate) name: String,
    pub(crate) ty: Type,
    pub(crate) nullable: bool,
    pub(crate) unique: bool,
    pub(crate) indexed: bool,
    pub(crate) default: Option<Value>,
}

impl ColumnBuilder {
    /// Allows `NULL`.
    pub fn nullable(&mut self) -> &mut Self {
        self.nullable = true;
        self
    }

    /// Requires distinct values (several `NULL`s are allowed, as in SQL).
    /// Unique columns are hash-indexed.
    pub fn unique(&mut self) -> &mut Self {
        self.unique = true;
        self
    }

    /// Adds a non-unique hash index.
    pub fn indexed(&mut self) -> &mut Self {
        self.indexed = true;
        self
    }

    /// The value used when an insert does not give one. It must have the
    /// column's type (or be `Null` on a nullable column).
    pub fn default(&mut self, value: impl Into<Value>) -> &mut Self {
        self.default = Some(value.into());
        self
    }
}

/// Options of a foreign key. O(1) per method; checked by
/// [`SchemaBuilder::build`].
#[derive(Debug)]
pub struct ForeignKeyBuilder {
    pub(crate) name: String,
    pub(crate) to: String,
    pub(crate) nullable: bool,
    pub(crate) unique: bool,
    pub(crate) on_delete: OnDelete,
    pub(crate) db_constraint: bool,
    pub(crate) related_name: Option<String>,
    pub(crate) related_query_name: Option<String>,
    pub(crate) default: Option<Value>,
    /// The table's columns declared before this key: its place among
    /// them in declaration order.
    pub(crate) after_columns: usize,
}

impl ForeignKeyBuilder {
    /// Allows `NULL` (no referenced row).
    pub fn nullable(&mut self) -> &mut Self {
        self.nullable = true;
        self
    }

    /// At most one referencing row per target (a one-to-one link).
    pub fn unique(&mut self) -> &mut Self {
        self.unique = true;
        self
    }

    /// What deleting the referenced row does to referencing rows.
    pub fn on_delete(&mut self, rule: OnDelete) -> &mut Self {
        self.on_delete = rule;
        self
    }

    /// Whether the referenced row must exist (default true).
    pub fn db_constraint(&mut self, on: bool) -> &mut Self {
        self.db_constraint = on;
        self
    }

    /// The reverse accessor on the target (default `<table>_set`); a name
    /// ending in `+` hides it.
    pub fn related_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.related_name = Some(name.into());
        self
    }

    /// The name used in reverse query paths (default: `related_name`, else
    /// this table's name).
    pub fn related_query_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.related_query_name = Some(name.into());
        self
    }

    /// The default id (used by inserts without a value and by
    /// `OnDelete::SetDefault`).
    pub fn default(&mut self, id: impl Into<Value>) -> &mut Self {
        self.default = Some(id.into());
        self
    }
}

/// Options of a many-to-many relation (Django's `ManyToManyField`). O(1)
/// per method; checked by [`SchemaBuilder::build`].
#[derive(Debug)]
pub struct ManyToManyBuilder {
    pub(crate) name: String,
    pub(crate) to: String,
    pub(crate) symmetrical: Option<bool>,
    pub(crate) related_name: Option<String>,
    pub(crate) related_query_name: Option<String>,
    pub(crate) through: Option<String>,
    pub(crate) through_fields: Option<(String, String)>,
    pub(crate) db_table: Option<String>,
    pub(crate) db_constraint: bool,
    pub(crate) limit_choices_to: Vec<(String, crate::Arg)>,
    /// Whether `null` was given (any value).
    pub(crate) null: bool,
    pub(crate) validators: usize,
    pub(crate) unique: bool,
}

impl ManyToManyBuilder {
    /// Whether adding `(a, b)` also adds `(b, a)`. Defaults to true only
    /// when the target is the literal `"self"`. Rejected between two
    /// different tables (`junction.E020`).
    pub fn symmetrical(&mut self, on: bool) -> &mut Self {
        self.symmetrical = Some(on);
        self
    }

    /// The reverse accessor on the target (default `<source>_set`); a name
    /// ending in `+` hides it. Ignored on a symmetrical relation
    /// (`fields.W345`).
    pub fn related_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.related_name = Some(name.into());
        self
    }

    /// The name used in reverse query paths (default: `related_name`, else
    /// the source table's name; an empty name is no name). A symmetrical
    /// relation has a reverse query name only when one is given here.
    pub fn related_query_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.related_query_name = Some(name.into());
        self
    }

    /// A custom through table holding foreign keys to both sides.
    pub fn through(&mut self, table: impl Into<String>) -> &mut Self {
        self.through = Some(table.into());
        self
    }

    /// Which foreign keys of the through table link the source and the
    /// target (needed when that is ambiguous: `fields.E333`–`E335`).
    pub fn through_fields(&mut self, source: impl Into<String>, target: impl Into<String>) -> &mut Self {
        self.through_fields = Some((source.into(), target.into()));
        self
    }

    /// The name of the auto-created through table, used verbatim.
    pub fn db_table(&mut self, name: impl Into<String>) -> &mut Self {
        self.db_table = Some(name.into());
        self
    }

    /// Whether linked ids must exist (default true). Off, the auto-created
    /// through stores links to ids that do not exist.
    pub fn db_constraint(&mut self, on: bool) -> &mut Self {
        self.db_constraint = on;
        self
    }

    /// A condition on the target rows offered as choices, as a
    /// `(path, value)` pair in query syntax, with any value a filter takes
    /// (`("name__startswith", "a")`, `("kind__in", ["x", "y"])`); each call
    /// adds one, and a row must meet them all, as the entries of Django's
    /// `limit_choices_to` dict. Like Django, writes are not checked against
    /// it, and its paths are resolved when the choices are asked for (see
    /// `View::choices`), not when the schema is built.
    pub fn limit_choices_to(&mut self, path: impl Into<String>, value: impl Into<crate::Arg>) -> &mut Self {
        self.limit_choices_to.push((path.into(), value.into()));
        self
    }

    /// Has no effect on a many-to-many relation: warned as `fields.W340`
    /// whatever the value, as Django warns whenever `null` is given.
    pub fn null(&mut self, _on: bool) -> &mut Self {
        self.null = true;
        self
    }

    /// Has no effect on a many-to-many relation (`fields.W341`).
    pub fn validator(&mut self, _check: fn(&Value) -> bool) -> &mut Self {
        self.validators += 1;
        self
    }

    /// Not allowed on a many-to-many relation (`fields.E330`).
    pub fn unique(&mut self) -> &mut Self {
        self.unique = true;
        self
    }
}
