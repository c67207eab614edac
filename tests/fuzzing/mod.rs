//! The logic of the `schema` and `query` fuzz targets, shared with
//! `tests/fuzz_replay.rs` so that the committed corpus replays on stable.
//!
//! - [`schema_case`]: an arbitrary schema declaration (names from a small
//!   pool that includes bad ones, columns, foreign keys, many-to-many
//!   relations with every option). `build()` must not panic; a rejection
//!   must list at least one error, each diagnostic with a well-formed
//!   Django-style id, a table and a message; the same declaration must
//!   give the same answer twice; and a schema that builds must be usable:
//!   inserts, every accessor's manager, deletes, all without a panic and
//!   with `verify()` passing after each write.
//! - [`query::query_case`]: see its doc.
#![allow(dead_code, unreachable_pub)]

pub mod query;

#[path = "../common/exact.rs"]
mod exact;
use exact::exact_state;

use arbitrary::{Arbitrary, Unstructured};
use junctiondb::{Database, Key, Level, OnDelete, RelatedMut, Row, Schema, SchemaError, Type, Value, View};

/// Names: mostly from a pool (valid, clashing, reserved and malformed
/// ones), sometimes arbitrary text.
#[derive(Arbitrary, Clone, Debug)]
pub enum Name {
    Pool(u8),
    Raw(String),
}

const NAMES: &[&str] = &[
    "user",
    "group",
    "membership",
    "person",
    "self",
    "a",
    "b",
    "name",
    "friends",
    "groups",
    "members",
    "user_set",
    "group_set",
    "members+",
    "+",
    "user_id",
    "group_id",
    "from_person",
    "to_person",
    "person_friends",
    "user_groups",
    "settings.AUTH",
    "settings.MISSING",
    "id",
    "pk",
    "x_",
    "a__b",
    "",
    "1x",
    "a b",
    "ünï",
    "some_quite_long_table_name_that_is_over_the_limit_of_sixty_four_chars",
];

impl Name {
    fn get(&self) -> String {
        match self {
            Name::Pool(i) => NAMES[*i as usize % NAMES.len()].to_owned(),
            Name::Raw(s) => s.chars().take(80).collect(),
        }
    }
}

#[derive(Arbitrary, Clone, Debug)]
pub struct ColDecl {
    name: Name,
    ty: u8,
    nullable: bool,
    unique: bool,
    indexed: bool,
    default: Option<Val>,
}

#[derive(Arbitrary, Clone, Debug)]
pub struct FkDecl {
    name: Name,
    to: Name,
    on_delete: u8,
    nullable: bool,
    unique: bool,
    db_constraint: bool,
    related_name: Option<Name>,
    related_query_name: Option<Name>,
    default: Option<Val>,
}

#[derive(Arbitrary, Clone, Debug)]
pub struct M2mDecl {
    name: Name,
    to: Name,
    symmetrical: Option<bool>,
    related_name: Option<Name>,
    related_query_name: Option<Name>,
    through: Option<Name>,
    through_fields: Option<(Name, Name)>,
    db_table: Option<Name>,
    db_constraint: bool,
    limit_choices_to: Vec<(Name, Val)>,
    null: bool,
    validators: u8,
    unique: bool,
}

#[derive(Arbitrary, Clone, Debug)]
pub struct TableDecl {
    name: Name,
    swappable: Option<Name>,
    columns: Vec<ColDecl>,
    indexes: Vec<Name>,
    fks: Vec<FkDecl>,
    m2ms: Vec<M2mDecl>,
}

#[derive(Arbitrary, Clone, Debug)]
pub struct SchemaDecl {
    max_name_length: Option<u8>,
    settings: Vec<(Name, Name)>,
    tables: Vec<TableDecl>,
}

/// A value for defaults and `limit_choices_to`.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Val {
    Null,
    Int(i8),
    Text(u8),
    Float(bool),
    Bool(bool),
    Bytes(u8),
}

impl Val {
    pub fn get(self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Int(i) => Value::Int(i64::from(i)),
            Val::Text(i) => Value::Text(["", "a", "x", "ü"][i as usize % 4].to_owned()),
            Val::Float(nan) => Value::Float(if nan { f64::NAN } else { 1.5 }),
            Val::Bool(b) => Value::Bool(b),
            Val::Bytes(n) => Value::Bytes(vec![n; (n % 3) as usize]),
        }
    }
}

const TYPES: [Type; 5] = [Type::Int, Type::Float, Type::Bool, Type::Text, Type::Bytes];
const RULES: [OnDelete; 6] = [
    OnDelete::Cascade,
    OnDelete::Protect,
    OnDelete::Restrict,
    OnDelete::SetNull,
    OnDelete::SetDefault,
    OnDelete::DoNothing,
];

/// At most this many tables, and of each kind of field per table.
const MAX_TABLES: usize = 6;
const MAX_FIELDS: usize = 4;

impl SchemaDecl {
    /// The builder calls this declaration stands for.
    pub fn build(&self) -> Result<Schema, SchemaError> {
        let mut b = Schema::builder().max_name_length(self.max_name_length.map(usize::from));
        for (k, v) in self.settings.iter().take(2) {
            b = b.setting(k.get(), v.get());
        }
        for t in self.tables.iter().take(MAX_TABLES) {
            b = b.table(t.name.get(), |tb| {
                if let Some(s) = &t.swappable {
                    tb.swappable(s.get());
                }
                for c in t.columns.iter().take(MAX_FIELDS) {
                    let col = tb.column(c.name.get(), TYPES[c.ty as usize % TYPES.len()]);
                    if c.nullable {
                        col.nullable();
                    }
                    if c.unique {
                        col.unique();
                    }
                    if c.indexed {
                        col.indexed();
                    }
                    if let Some(d) = c.default {
                        col.default(d.get());
                    }
                }
                for ix in t.indexes.iter().take(2) {
                    tb.index(ix.get());
                }
                for f in t.fks.iter().take(MAX_FIELDS) {
                    let fk = tb.foreign_key(f.name.get(), f.to.get());
                    fk.on_delete(RULES[f.on_delete as usize % RULES.len()]).db_constraint(f.db_constraint);
                    if f.nullable {
                        fk.nullable();
                    }
                    if f.unique {
                        fk.unique();
                    }
                    if let Some(n) = &f.related_name {
                        fk.related_name(n.get());
                    }
                    if let Some(n) = &f.related_query_name {
                        fk.related_query_name(n.get());
                    }
                    if let Some(d) = f.default {
                        fk.default(d.get());
                    }
                }
                for m in t.m2ms.iter().take(MAX_FIELDS) {
                    let r = tb.many_to_many(m.name.get(), m.to.get());
                    r.db_constraint(m.db_constraint).null(m.null);
                    if let Some(s) = m.symmetrical {
                        r.symmetrical(s);
                    }
                    if let Some(n) = &m.related_name {
                        r.related_name(n.get());
                    }
                    if let Some(n) = &m.related_query_name {
                        r.related_query_name(n.get());
                    }
                    if let Some(n) = &m.through {
                        r.through(n.get());
                    }
                    if let Some((a, b)) = &m.through_fields {
                        r.through_fields(a.get(), b.get());
                    }
                    if let Some(n) = &m.db_table {
                        r.db_table(n.get());
                    }
                    for (p, v) in m.limit_choices_to.iter().take(2) {
                        r.limit_choices_to(p.get(), v.get());
                    }
                    for _ in 0..m.validators % 3 {
                        r.validator(|_| true);
                    }
                    if m.unique {
                        r.unique();
                    }
                }
            });
        }
        b.build()
    }
}

/// Whether `id` looks like `fields.E300`, `models.E003`, `junction.W001`.
pub fn well_formed_id(id: &str) -> bool {
    let Some((ns, code)) = id.split_once('.') else { return false };
    let mut chars = code.chars();
    matches!(ns, "fields" | "models" | "junction")
        && matches!(chars.next(), Some('E' | 'W'))
        && code.len() == 4
        && chars.all(|c| c.is_ascii_digit())
}

/// Checks a rejection: at least one error, errors before warnings, every
/// diagnostic with a well-formed id, a level matching the id, and a
/// message.
pub fn check_rejection(e: &SchemaError) {
    assert!(e.errors().count() > 0, "a rejection without an error: {e:?}");
    let first_warning = e.diagnostics.iter().position(|d| d.level == Level::Warning).unwrap_or(e.diagnostics.len());
    assert!(e.diagnostics[first_warning..].iter().all(|d| d.level == Level::Warning), "errors must come first: {e:?}");
    for d in &e.diagnostics {
        check_diagnostic(d);
    }
    assert!(!e.to_string().is_empty());
}

fn check_diagnostic(d: &junctiondb::Diagnostic) {
    assert!(well_formed_id(d.id), "malformed check id {:?} in {d:?}", d.id);
    let letter = d.id.split_once('.').map(|(_, c)| c.as_bytes()[0]);
    let want = if d.level == Level::Error { b'E' } else { b'W' };
    assert_eq!(letter, Some(want), "level does not match the id: {d:?}");
    assert!(d.message.len() > 10, "no useful message: {d:?}");
    assert!(!d.to_string().is_empty());
}

/// The `schema` target.
pub fn schema_case(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(decl) = SchemaDecl::arbitrary(&mut u) else { return };
    let first = decl.build();
    let second = decl.build();
    match (&first, &second) {
        (Err(a), Err(b)) => assert_eq!(a, b, "the same declaration gave different diagnostics"),
        (Ok(a), Ok(b)) => {
            let (na, nb): (Vec<&str>, Vec<&str>) = (a.table_names().collect(), b.table_names().collect());
            assert_eq!(na, nb, "the same declaration gave different tables");
        }
        _ => panic!("the same declaration built once and failed once"),
    }
    match first {
        Err(e) => check_rejection(&e),
        Ok(schema) => {
            for w in schema.warnings() {
                assert_eq!(w.level, Level::Warning);
                check_diagnostic(w);
            }
            exercise(schema);
        }
    }
}

/// A value of each type, for filling rows.
fn value_of(ty: Type, id: i64) -> Value {
    match ty {
        Type::Int => Value::Int(id),
        Type::Float => Value::Float(id as f64),
        Type::Bool => Value::Bool(id % 2 == 0),
        Type::Text => Value::Text(format!("v{id}")),
        Type::Bytes => Value::Bytes(vec![id as u8]),
    }
}

/// A related-manager call of [`exercise`].
type ManagerCall<'a> = &'a dyn Fn(&mut RelatedMut<'_, '_>) -> Result<(), junctiondb::Error>;

/// Through defaults for `key`'s accessor `accessor`: a value for every
/// column of its custom through table but the id and the link columns
/// (named `..._id`), so that the `_with` calls can make rows; none for
/// other accessors.
fn through_defaults(view: &View, key: Key, accessor: &str) -> Row {
    let schema = view.schema();
    let Some(through) = schema.through_table(schema.table_name(key.table()), accessor) else { return Row::new() };
    schema
        .columns(through)
        .skip(1)
        .filter(|(c, _)| !c.ends_with("_id"))
        .map(|(c, ty)| (c.to_owned(), value_of(ty, 7)))
        .collect()
}

/// Uses a schema that built: every name it lists resolves; rows go in,
/// every accessor's manager reads and writes, rows go out; no panic,
/// `verify()` holds after every write, and a write refused with an error
/// leaves the database exactly as it was.
fn exercise(schema: Schema) {
    let tables: Vec<String> = schema.table_names().map(str::to_owned).collect();
    for name in &tables {
        let t = schema.table(name).unwrap_or_else(|| panic!("listed table {name:?} does not resolve"));
        for (c, _) in schema.columns(t) {
            assert!(schema.column(name, c).is_some(), "listed column {name}.{c} does not resolve");
        }
        for a in schema.accessor_names(t) {
            assert!(schema.accessor(name, a).is_some(), "listed accessor {name}.{a} does not resolve");
        }
    }
    let db = Database::new(schema);
    let check = |db: &Database| {
        let view = db.begin_read().expect("read");
        if let Err(e) = view.verify() {
            panic!("verify() failed: {e}");
        }
    };
    let mut keys: Vec<Key> = Vec::new();
    for round in 1..=2i64 {
        for name in &tables {
            let r = db.write(|tx| {
                let t = tx.schema().table(name).expect("table");
                let row: Row =
                    tx.schema().columns(t).skip(1).map(|(c, ty)| (c.to_owned(), value_of(ty, round))).collect();
                tx.insert(name.as_str(), row)
            });
            if let Ok(k) = r {
                keys.push(k);
            }
            check(&db);
        }
    }
    for &k in &keys {
        let accessors: Vec<String> = {
            let view = db.begin_read().expect("read");
            view.schema().accessor_names(k.table()).map(str::to_owned).collect()
        };
        for a in &accessors {
            let _ = db.write(|tx| {
                let others: Vec<i64> = match tx.related(k, a) {
                    Ok(m) => m.ids().collect(),
                    Err(_) => return Ok::<_, junctiondb::Error>(()),
                };
                let defaults = through_defaults(tx, k, a);
                let calls: [(&str, ManagerCall<'_>); 12] = [
                    ("add", &|m| m.add([1i64, 2, k.id()]).map(drop)),
                    ("add_with", &|m| m.add_with([2i64, 3], defaults.clone()).map(drop)),
                    ("remove", &|m| m.remove(others.iter().take(1)).map(drop)),
                    ("get_or_create", &|m| m.get_or_create(Row::new(), Row::new()).map(drop)),
                    ("get_or_create_with", &|m| {
                        m.get_or_create_with(Row::new(), Row::new(), defaults.clone()).map(drop)
                    }),
                    ("update_or_create_with", &|m| {
                        m.update_or_create_with(Row::new(), Row::new(), defaults.clone()).map(drop)
                    }),
                    ("create_with", &|m| m.create_with(Row::new(), defaults.clone()).map(drop)),
                    ("set", &|m| m.set([1i64])),
                    ("set_with", &|m| m.set_with([2i64, k.id()], defaults.clone())),
                    ("set_clearing", &|m| m.set_clearing([3i64], defaults.clone())),
                    ("remove again", &|m| m.remove([1i64, 2, 3, k.id()]).map(drop)),
                    ("clear", &|m| m.clear().map(drop)),
                ];
                for (name, call) in calls {
                    let before = exact_state(tx);
                    if let Err(e) = tx.related(k, a).and_then(|mut m| call(&mut m)) {
                        assert!(exact_state(tx) == before, "a refused {name} on {a} changed the database: {e}");
                    }
                    if let Err(e) = tx.verify() {
                        panic!("verify() failed after {name} on {a}: {e}");
                    }
                }
                Ok(())
            });
            check(&db);
        }
    }
    // Refused deletes change nothing either: a `delete_many` of every other
    // key (some refused by `Protect` or `Restrict` keys among them); one
    // that succeeds leaves the invariants whole. Undone either way: the
    // deletes below go one by one.
    let _ = db.write(|tx| {
        let before = exact_state(tx);
        match tx.delete_many(keys.iter().copied().step_by(2)) {
            Err(_) => assert!(exact_state(tx) == before, "a refused delete_many changed the database"),
            Ok(_) => {
                if let Err(e) = tx.verify() {
                    panic!("verify() failed after delete_many: {e}");
                }
            }
        }
        Err::<(), _>(junctiondb::Error::vetoed("undone"))
    });
    for &k in keys.iter().rev() {
        let _ = db.write(|tx| tx.delete(k));
        check(&db);
    }
}
