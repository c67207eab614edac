//! junctiondb: an embedded, in-memory relational engine whose join tables
//! are first-class bidirectional indexes.
//!
//! Typed tables, foreign keys with `on_delete` rules, and many-to-many
//! relations with Django's semantics (`related_name`, `through`,
//! `symmetrical`, the related managers, filtering across relations). A
//! many-to-many relation is stored once, as the rows of its through table,
//! and indexed in both directions: reaching either end is O(1) and walking it
//! O(degree), even for rows with 100,000 links. Writes are transactional:
//! many readers, one writer, and a failed write leaves nothing behind.
//!
//! ```
//! use junctiondb::{row, Database, OnDelete, Schema, Type};
//!
//! # fn main() -> Result<(), junctiondb::Error> {
//! let schema = Schema::builder()
//!     .table("group", |t| {
//!         t.column("name", Type::Text).unique();
//!     })
//!     .table("user", |t| {
//!         t.column("username", Type::Text).unique();
//!         t.many_to_many("groups", "group") // lazy reference by name
//!             .through("membership") // custom through table
//!             .related_name("members"); // reverse accessor on group
//!     })
//!     .table("membership", |t| {
//!         t.foreign_key("user", "user").on_delete(OnDelete::Cascade);
//!         t.foreign_key("group", "group").on_delete(OnDelete::Cascade);
//!         t.column("invite_reason", Type::Text).nullable();
//!     })
//!     .table("person", |t| {
//!         t.column("name", Type::Text);
//!         t.many_to_many("friends", "self"); // symmetrical by default
//!     })
//!     .build()?; // Err lists every failed check, with Django's check ids
//!
//! let db = Database::new(schema); // Send + Sync: share it with an Arc
//! let rock = db.write(|tx| {
//!     let jim = tx.insert("user", row! { "username" => "jim" })?;
//!     let rock = tx.insert("group", row! { "name" => "rock" })?;
//!     tx.related(jim, "groups")?.add_with([rock], row! { "invite_reason" => "needed a drummer" })?;
//!     assert!(tx.related(rock, "members")?.contains(jim));
//!     Ok::<_, junctiondb::Error>(rock)
//! })?; // an Err (or a panic) inside rolls everything back
//!
//! let names = db.read(|tx| {
//!     tx.query("user")?.filter("groups__name__startswith", "ro")?.order_by(&["username"])?.values(&["username"])
//! })?;
//! assert_eq!(names, vec![row! { "username" => "jim" }]);
//!
//! // Deleting the group cascades to its membership rows.
//! let deleted = db.write(|tx| tx.delete(rock))?;
//! assert_eq!((deleted.count("group"), deleted.count("membership")), (1, 1));
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//! - **Schema** ([`Schema::builder`]): typed columns (`Int`, `Float`, `Bool`,
//!   `Text`, `Bytes`) with nullability, uniqueness, defaults and indexes; an
//!   implicit `id` primary key; foreign keys; many-to-many relations with
//!   every `ManyToManyField` option; all problems reported at once as
//!   [`Diagnostic`]s carrying Django's check ids (a schema too large to
//!   represent stops the checks early; see [`SchemaBuilder::build`]).
//! - **Transactions** ([`Database`]): [`Database::read`] / [`Database::write`]
//!   closures and explicit [`ReadTxn`] / [`WriteTxn`]; every write method is
//!   atomic on its own (on an error, and on a panic that unwinds out of
//!   it), every transaction rolls back completely, and
//!   [`WriteTxn::atomic`] blocks (savepoints) nest inside one, each undoing
//!   its own changes on an error or a panic.
//! - **Relations** ([`WriteTxn::related`], [`View::related`],
//!   [`View::relation`]): `add`, `add_with` (through defaults), `remove`,
//!   `clear`, `set`, `create`, `get_or_create`, `update_or_create`, and the
//!   reads `ids`, `contains`, `count`, `exists`, from either end.
//! - **Change hooks** ([`Database::on_m2m_changed`]): Django's
//!   `m2m_changed`, called before and after each manager change inside
//!   its transaction ([`HookTxn`]), able to write there and to refuse the
//!   change.
//! - **Queries** ([`View::query`]): Django lookup paths across relations in
//!   both directions, `Q` composition, Django's multi-valued semantics, a
//!   planner that walks junctions instead of scanning, `explain`.
//! - **Handles**: resolve names once ([`Schema::table`], [`Schema::column`],
//!   [`Schema::accessor`]) and use the handle-taking calls on hot paths. A
//!   loop of relation reads resolves its accessor once per snapshot with
//!   [`View::relation`]:
//!
//! ```
//! # use junctiondb::{row, Database, Schema, Type};
//! # fn main() -> Result<(), junctiondb::Error> {
//! # let schema = Schema::builder()
//! #     .table("group", |t| { t.column("name", Type::Text); })
//! #     .table("user", |t| { t.many_to_many("groups", "group"); })
//! #     .build()?;
//! # let db = Database::new(schema);
//! # let users = db.write(|tx| {
//! #     let g = tx.insert("group", row! { "name" => "rock" })?;
//! #     let u = tx.insert("user", row! {})?;
//! #     tx.related(u, "groups")?.add([g])?;
//! #     Ok::<_, junctiondb::Error>(vec![u])
//! # })?;
//! let groups = db.schema().accessor("user", "groups").expect("declared above");
//! let memberships = db.read(|tx| {
//!     let groups = tx.relation(groups)?; // once per snapshot
//!     users.iter().map(|&u| groups.count(u)).sum::<Result<usize, _>>()
//! })?;
//! assert_eq!(memberships, 1);
//! # Ok(())
//! # }
//! ```
//!
//! The design, its invariants and the measurements behind it are in
//! `docs/design.md` (with where and why it differs from Django); query
//! semantics in `docs/queries.md`; every error with its test in
//! `docs/robustness.md`.

mod error;
mod query;
mod relation;
mod schema;
mod storage;
mod txn;
mod value;

// The benches' seeded generator, for the crate's randomized tests: every
// seed's steps are reproducible.
#[cfg(test)]
#[path = "../benches/common/rng.rs"]
mod splitmix;

pub use error::{Diagnostic, Error, Level, Result, SchemaError};
pub use query::{Aggregate, Arg, Query, Q};
pub use schema::{
    Accessor, ColumnBuilder, ColumnId, ForeignKeyBuilder, ManyToManyBuilder, OnDelete, Schema, SchemaBuilder,
    TableBuilder, TableId, MAX_TABLES,
};
pub use txn::{
    Database, Deleted, HookId, HookTxn, Key, M2mAction, M2mChanged, M2mHook, ReadTxn, Related, RelatedIds, RelatedMut,
    Relation, RowRef, TableRef, Target, View, WriteTxn, MAX_HOOK_DEPTH,
};
pub use value::{CellValue, Row, Type, Value, ValueRef};

/// The README's Rust blocks, compiled and run as doctests, so its tour
/// cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
