//! Errors: one [`Error`] enum for everything a call can reject, and
//! [`SchemaError`], the list of [`Diagnostic`]s a failed build reports.

use std::fmt;

use crate::value::{Row, Type, Value};

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a database call can reject.
///
/// A write that returns an error has changed nothing. Errors raised by an
/// insert or an update hand the rejected [`Row`] back (see
/// [`Error::into_row`]).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// No table has this name.
    UnknownTable {
        /// The name asked for.
        table: String,
    },
    /// The table has no column with this name.
    UnknownColumn {
        /// The table.
        table: String,
        /// The name asked for.
        column: String,
        /// The rejected row.
        row: Option<Box<Row>>,
    },
    /// The table has no relation accessor with this name.
    UnknownAccessor {
        /// The table.
        table: String,
        /// The name asked for.
        name: String,
        /// The accessors the table does have.
        choices: Vec<String>,
    },
    /// A value does not have the column's type.
    TypeMismatch {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The column's type.
        expected: Type,
        /// The offending value.
        value: Value,
        /// The rejected row.
        row: Option<Box<Row>>,
    },
    /// `NULL` (or no value and no default) for a column that is not nullable.
    NotNull {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The rejected row.
        row: Option<Box<Row>>,
    },
    /// The value is already taken in a unique column, or the pair in an
    /// auto-created through table (a custom through table may hold a pair
    /// twice). For a pair, `column` names both link columns
    /// (`"user_id, group_id"`) and `value` is the pair of ids as text
    /// (`"(2, 1)"`), as a unique constraint over the two columns would
    /// report them.
    Unique {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The value already present.
        value: Value,
        /// The rejected row.
        row: Option<Box<Row>>,
    },
    /// A foreign key names a row that does not exist.
    ForeignKey {
        /// The table holding the foreign key.
        table: String,
        /// The foreign key column.
        column: String,
        /// The referenced table.
        target: String,
        /// The missing id.
        id: i64,
        /// The rejected row.
        row: Option<Box<Row>>,
    },
    /// No row has this id.
    NotFound {
        /// The table.
        table: String,
        /// The id asked for.
        id: i64,
    },
    /// A key of one table was given where a row of another was expected:
    /// by a related manager's `add`, `remove` or `set` (a target of
    /// another table than the other end's), by the calls that take an
    /// accessor handle (`related_at`, the [`Relation`](crate::Relation)
    /// reads, `within_hops`, `walk_ends`, `closure`) for a key of another
    /// table than the accessor's, and by a query for a key of another
    /// table than the one the `id`, foreign key or relation at the end of
    /// its path refers to. A key in a row or given to `find_by` is refused
    /// with [`WrongKey`](Self::WrongKey) instead.
    WrongTable {
        /// The table expected.
        expected: String,
        /// The table of the key given.
        found: String,
        /// The key's id.
        id: i64,
    },
    /// A [`Key`](crate::Key) given for a column (in a row, or to
    /// `find_by`) that the column cannot take: a key of another table than
    /// the one the column refers to (a foreign key's target, the row's own
    /// table for `id`, an auto-created through's end), as Django refuses
    /// to assign an instance of the wrong model; or any key for a plain
    /// column, which refers to no table (`expected` is `None`). Returned
    /// by `insert`, `update`, a related manager's `create`, the lookups
    /// and defaults of its `get_or_create` and `update_or_create`, through
    /// defaults, and `find_by`. A query refuses the same keys otherwise:
    /// [`WrongTable`](Self::WrongTable) for a key of another table,
    /// [`Query`](Self::Query) for a key compared with a plain column.
    WrongKey {
        /// The table of the column.
        table: String,
        /// The column.
        column: String,
        /// The table the column refers to; `None` for a plain column.
        expected: Option<String>,
        /// The table of the key given.
        found: String,
        /// The key's id.
        id: i64,
        /// The rejected row.
        row: Option<Box<Row>>,
    },
    /// An explicit id outside `1..i64::MAX` (ids are positive, and
    /// `i64::MAX` is never a row's id).
    InvalidId {
        /// The table.
        table: String,
        /// The id given.
        id: i64,
        /// The rejected row.
        row: Option<Box<Row>>,
    },
    /// Deleting would break a `Protect` foreign key. The first fields name
    /// one protected row and the key that protects it; `referencing`
    /// lists every row that protects a row of the delete (Django's
    /// `ProtectedError.protected_objects`).
    Protected {
        /// The table of the row being deleted.
        table: String,
        /// Its id.
        id: i64,
        /// The table that references it.
        referenced_by: String,
        /// The foreign key field there.
        field: String,
        /// How many rows reference it through that key.
        count: usize,
        /// Every row whose `Protect` key names a row of the delete (the
        /// rows above included), by table and id, each once.
        referencing: Vec<crate::Key>,
    },
    /// Deleting would break a `Restrict` foreign key (the referencing rows
    /// are not being deleted by a cascade of the same delete). The first
    /// fields name one such row and key; `referencing` lists every row
    /// that restricts the delete (Django's
    /// `RestrictedError.restricted_objects`).
    Restricted {
        /// The table of the row being deleted.
        table: String,
        /// Its id.
        id: i64,
        /// The table that references it.
        referenced_by: String,
        /// The foreign key field there.
        field: String,
        /// How many rows reference it through that key and stay.
        count: usize,
        /// Every row, left by the delete, whose `Restrict` key (or
        /// `DoNothing` key with its constraint) names a row of the delete,
        /// by table and id, each once.
        referencing: Vec<crate::Key>,
    },
    /// More than one row matched where one was expected (Django's
    /// `MultipleObjectsReturned`).
    MultipleFound {
        /// The table.
        table: String,
        /// How many rows matched.
        count: usize,
    },
    /// The operation is not offered here; the message says why and what to
    /// use instead.
    Unsupported {
        /// The table.
        table: String,
        /// What was refused, and why.
        reason: String,
    },
    /// A query path or lookup is wrong.
    Query {
        /// The table the path starts from.
        table: String,
        /// The path as given.
        path: String,
        /// What is wrong, and the valid choices where there are some.
        reason: String,
    },
    /// An integer sum does not fit an `i64` (see
    /// [`Aggregate::Sum`](crate::Aggregate::Sum)), where SQLite's `SUM`
    /// reports an integer overflow (PostgreSQL's widens to `numeric`).
    Overflow {
        /// The table the query runs on.
        table: String,
        /// The column path aggregated.
        path: String,
    },
    /// The table has reached its capacity of 2^31 - 2 rows, or has no id
    /// left to assign (an id of `i64::MAX - 1` was used; committed ids are
    /// never given again).
    TableFull {
        /// The table.
        table: String,
    },
    /// This thread already has a transaction open on this database (a
    /// `read` or `write` inside another one's closure, or beside a
    /// transaction it holds): the call would deadlock. A nested block of
    /// writes is [`WriteTxn::atomic`](crate::WriteTxn::atomic), inside the
    /// open transaction.
    Reentrant,
    /// A change hook refused a related manager's change (see
    /// [`Database::on_m2m_changed`](crate::Database::on_m2m_changed));
    /// build it with [`Error::vetoed`].
    Vetoed {
        /// Why, in the hook's words.
        reason: String,
    },
    /// The schema is invalid.
    Schema(SchemaError),
}

impl Error {
    /// The error a change hook returns to refuse a change, with its
    /// reason. O(1).
    pub fn vetoed(reason: impl Into<String>) -> Self {
        Error::Vetoed { reason: reason.into() }
    }

    /// The rejected row, where the failed call had one. O(1).
    pub fn row(&self) -> Option<&Row> {
        match self {
            Error::UnknownColumn { row, .. }
            | Error::TypeMismatch { row, .. }
            | Error::NotNull { row, .. }
            | Error::Unique { row, .. }
            | Error::ForeignKey { row, .. }
            | Error::InvalidId { row, .. }
            | Error::WrongKey { row, .. } => row.as_deref(),
            _ => None,
        }
    }

    /// Takes the rejected row back, where the failed call had one. O(1).
    pub fn into_row(mut self) -> Option<Row> {
        self.row_slot().and_then(Option::take).map(|r| *r)
    }

    /// Attaches the rejected row to errors that carry one.
    pub(crate) fn with_row(mut self, rejected: &Row) -> Self {
        if let Some(slot @ None) = self.row_slot() {
            *slot = Some(Box::new(rejected.clone()));
        }
        self
    }

    /// The place of the rejected row in the variants that carry one.
    fn row_slot(&mut self) -> Option<&mut Option<Box<Row>>> {
        match self {
            Error::UnknownColumn { row, .. }
            | Error::TypeMismatch { row, .. }
            | Error::NotNull { row, .. }
            | Error::Unique { row, .. }
            | Error::ForeignKey { row, .. }
            | Error::InvalidId { row, .. }
            | Error::WrongKey { row, .. } => Some(row),
            _ => None,
        }
    }
}

/// The end of a refused delete's message: how many more rows refuse it
/// than the first key's.
fn others(f: &mut fmt::Formatter<'_>, named: usize, referencing: &[crate::Key], verb: &str) -> fmt::Result {
    match referencing.len().saturating_sub(named) {
        0 => Ok(()),
        more => write!(f, " (and {more} more row(s) {verb} the delete)"),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownTable { table } => write!(f, "no table is named {table:?}"),
            Error::UnknownColumn { table, column, .. } => {
                write!(f, "table {table:?} has no column {column:?}")
            }
            Error::UnknownAccessor { table, name, choices } => write!(
                f,
                "table {table:?} has no relation named {name:?}; choices are: {}",
                choices.join(", ")
            ),
            Error::TypeMismatch { table, column, expected, value, .. } => write!(
                f,
                "column {table}.{column} holds {expected}, but {value} was given"
            ),
            Error::NotNull { table, column, .. } => write!(
                f,
                "column {table}.{column} is not nullable and got no value (give one, or declare a default)"
            ),
            Error::Unique { table, column, value, .. } => {
                write!(f, "{table}.{column} = {value} already exists and must be unique")
            }
            Error::ForeignKey { table, column, target, id, .. } => write!(
                f,
                "{table}.{column} = {id} names no row of table {target:?}"
            ),
            Error::NotFound { table, id } => write!(f, "table {table:?} has no row with id {id}"),
            Error::WrongTable { expected, found, id } => write!(
                f,
                "expected a row of table {expected:?}, but got {found:?} id {id}"
            ),
            Error::WrongKey { table, column, expected: Some(expected), found, id, .. } => write!(
                f,
                "{table}.{column} refers to table {expected:?}, but got a key of {found:?} id {id}"
            ),
            Error::WrongKey { table, column, expected: None, found, id, .. } => write!(
                f,
                "{table}.{column} is neither the id nor a foreign key and takes no key, but got a key of {found:?} id {id} (give the key's id())"
            ),
            Error::InvalidId { table, id, .. } => {
                write!(f, "id {id} for table {table:?} is out of range (ids are 1 to 2^63 - 2)")
            }
            Error::Protected { table, id, referenced_by, field, count, referencing } => {
                write!(
                    f,
                    "cannot delete {table} {id}: {count} row(s) of {referenced_by} reference it through the protected foreign key {field:?}"
                )?;
                others(f, *count, referencing, "protect")
            }
            Error::Restricted { table, id, referenced_by, field, count, referencing } => {
                write!(
                    f,
                    "cannot delete {table} {id}: {count} row(s) of {referenced_by} reference it through the restricted foreign key {field:?} and are not deleted with it"
                )?;
                others(f, *count, referencing, "restrict")
            }
            Error::MultipleFound { table, count } => {
                write!(f, "{count} rows of {table:?} matched where at most one was expected")
            }
            Error::Unsupported { table, reason } => write!(f, "table {table:?}: {reason}"),
            Error::Query { table, path, reason } => {
                write!(f, "bad query path {path:?} on table {table:?}: {reason}")
            }
            Error::Overflow { table, path } => {
                write!(f, "the sum of {path:?} over rows of table {table:?} does not fit a 64-bit integer")
            }
            Error::TableFull { table } => {
                write!(f, "table {table:?} is full: it holds 2^31 - 2 rows or has used every id")
            }
            Error::Reentrant => f.write_str(
                "this thread already has a transaction open on this database (a read or write inside another)",
            ),
            Error::Vetoed { reason } => write!(f, "a change hook refused the change: {reason}"),
            Error::Schema(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Schema(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SchemaError> for Error {
    fn from(e: SchemaError) -> Self {
        Error::Schema(e)
    }
}

/// How serious a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The schema is rejected.
    Error,
    /// The schema builds; the declaration has no effect or is suspicious.
    Warning,
}

/// One finding of the schema checks, named like Django's system checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The check id: Django's (`fields.E300`, `fields.W345`, `models.E003`)
    /// or this crate's (`junction.E001`...).
    pub id: &'static str,
    /// Error or warning.
    pub level: Level,
    /// The table the finding is about.
    pub table: String,
    /// The field (column or relation) it is about, if any.
    pub field: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}.{}: ({}) {}", self.table, field, self.id, self.message),
            None => write!(f, "{}: ({}) {}", self.table, self.id, self.message),
        }
    }
}

/// A schema that failed its checks: every error found, with the warnings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    /// All diagnostics, errors first.
    pub diagnostics: Vec<Diagnostic>,
}

impl SchemaError {
    /// Whether a diagnostic with this id was reported. O(diagnostics).
    pub fn has(&self, id: &str) -> bool {
        self.diagnostics.iter().any(|d| d.id == id)
    }

    /// The error-level diagnostics. O(1) per diagnostic.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.level == Level::Error)
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.errors().count();
        write!(f, "the schema has {errors} error(s)")?;
        for d in &self.diagnostics {
            write!(f, "\n  {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SchemaError {}
