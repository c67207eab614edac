//! junctiondb: an embedded, in-memory relational engine.
//!
//! placeholder crate docs (replaced below)

mod error;
mod query;
mod relation;
mod schema;
mod storage;
mod txn;
mod value;

pub use error::{Diagnostic, Error, Level, Result, SchemaError};
pub use query::{Arg, Query, Q};
pub use schema::{
    Accessor, ColumnBuilder, ColumnId, ForeignKeyBuilder, ManyToManyBuilder, OnDelete, Schema, SchemaBuilder,
    TableBuilder, TableId,
};
pub use txn::{
    Database, Deleted, Key, ReadTxn, Related, RelatedIds, RelatedMut, RowRef, TableRef, Target, View, WriteTxn,
};
pub use value::{Row, Type, Value, ValueRef};
