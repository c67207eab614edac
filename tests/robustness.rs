//! The bad-input catalogue of `docs/robustness.md`, one test per class:
//! each bad call gets the documented error variant, and changes nothing
//! (the full state, order included, is the same before and after, both
//! for a `Database::write` that returns the error and for a call inside an
//! explicit transaction that then goes on).

mod common;

use common::snapshot;
use junctiondb::{
    row, Database, Error, Key, Level, OnDelete, Row, Schema, SchemaError, TableId, Target, Type, Value, WriteTxn,
};

fn schema() -> Schema {
    Schema::builder()
        .table("user", |t| {
            t.column("username", Type::Text).unique();
            t.column("age", Type::Int).nullable();
            t.column("bio", Type::Text).default("");
            t.many_to_many("groups", "group").through("membership").related_name("members");
        })
        .table("group", |t| {
            t.column("name", Type::Text).unique();
        })
        .table("membership", |t| {
            t.foreign_key("user", "user");
            t.foreign_key("group", "group");
            t.column("invite_reason", Type::Text);
        })
        .table("person", |t| {
            t.column("name", Type::Text);
            t.many_to_many("friends", "self");
        })
        .table("post", |t| {
            t.column("title", Type::Text);
            t.foreign_key("author", "user").on_delete(OnDelete::Protect);
        })
        .build()
        .expect("schema builds")
}

/// A database with a few rows: users 1 (jim) and 2 (ann), group 1
/// (rock) with jim in it, persons 1 and 2 who are friends, a post by jim.
fn db() -> Database {
    let db = Database::new(schema());
    db.write(|tx| {
        let jim = tx.insert("user", row! { "username" => "jim", "age" => 30 })?;
        tx.insert("user", row! { "username" => "ann" })?;
        let rock = tx.insert("group", row! { "name" => "rock" })?;
        tx.related(jim, "groups")?.add_with([rock], row! { "invite_reason" => "drums" })?;
        let a = tx.insert("person", row! { "name" => "a" })?;
        let b = tx.insert("person", row! { "name" => "b" })?;
        tx.related(a, "friends")?.add([b])?;
        tx.insert("post", row! { "title" => "hi", "author" => jim })?;
        Ok::<_, Error>(())
    })
    .expect("fixture");
    db
}

fn key(db: &Database, table: &str, id: i64) -> Key {
    Key::new(db.schema().table(table).expect("table"), id)
}

/// Runs `bad` as a whole write and inside an explicit transaction; both
/// must fail with the same error and change nothing. Returns the error.
#[track_caller]
fn rejects<T: std::fmt::Debug>(db: &Database, bad: impl Fn(&mut WriteTxn<'_>) -> Result<T, Error>) -> Error {
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).expect("read");
    let err = db.write(|tx| bad(tx)).expect_err("the bad call succeeded");
    let after = db.read(|v| Ok::<_, Error>(snapshot(v))).expect("read");
    assert_eq!(before, after, "a rejected write changed the database ({err})");
    let mut tx = db.begin_write().expect("begin");
    let again = bad(&mut tx).expect_err("the bad call succeeded inside a transaction");
    assert_eq!(snapshot(&tx), before, "a rejected call changed its transaction ({again})");
    assert_eq!(again, err, "the same call failed differently inside a transaction");
    tx.verify().expect("invariants");
    tx.commit();
    assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).expect("read"), before);
    assert!(!err.to_string().is_empty());
    err
}

fn build_err(b: junctiondb::SchemaBuilder) -> SchemaError {
    b.build().expect_err("the schema built")
}

#[track_caller]
fn has(e: &SchemaError, id: &str) {
    assert!(e.has(id), "{id} not reported: {e}");
    let d = e.diagnostics.iter().find(|d| d.id == id).expect("diagnostic");
    assert!(d.message.len() > 10, "no useful message for {id}: {d}");
}

// ---- names -----------------------------------------------------------------

#[test]
fn unknown_table_names() {
    let db = db();
    for name in ["nope", "", "User", "user ", "membership_set"] {
        let e = rejects(&db, |tx| tx.insert(name, row! { "username" => "x" }));
        assert_eq!(e, Error::UnknownTable { table: name.into() });
        db.read(|v| {
            assert!(matches!(v.count(name), Err(Error::UnknownTable { .. })));
            assert!(matches!(v.scan(name).map(|_| ()), Err(Error::UnknownTable { .. })));
            assert!(matches!(v.key(name, 1), Err(Error::UnknownTable { .. })));
            assert!(matches!(v.find_by(name, "id", 1).map(|_| ()), Err(Error::UnknownTable { .. })));
            Ok::<_, Error>(())
        })
        .expect("read");
    }
    // A table handle from a larger schema.
    let foreign = TableId::clone(&Database::new(big_schema()).schema().table("t9").expect("t9"));
    let e = rejects(&db, |tx| tx.insert(foreign, Row::new()));
    assert!(matches!(e, Error::UnknownTable { .. }), "{e:?}");
    let e = rejects(&db, |tx| tx.delete(Key::new(foreign, 1)));
    assert!(matches!(e, Error::UnknownTable { .. }), "{e:?}");
    db.read(|v| {
        assert!(v.get(Key::new(foreign, 1)).is_none());
        Ok::<_, Error>(())
    })
    .expect("read");
}

fn big_schema() -> Schema {
    (0..10).fold(Schema::builder(), |b, i| b.table(format!("t{i}"), |_| {})).build().expect("schema builds")
}

#[test]
fn unknown_column_names() {
    let db = db();
    let jim = key(&db, "user", 1);
    let e = rejects(&db, |tx| tx.insert("user", row! { "username" => "x", "nope" => 1 }));
    assert!(matches!(&e, Error::UnknownColumn { table, column, .. } if table == "user" && column == "nope"), "{e:?}");
    assert_eq!(e.row().and_then(|r| r.get("username")), Some(&Value::from("x")), "the row is handed back");
    let e = rejects(&db, |tx| tx.update(jim, row! { "Username" => "x" }));
    assert!(matches!(&e, Error::UnknownColumn { column, .. } if column == "Username"), "{e:?}");
    // Through defaults name columns of the through table.
    let rock = key(&db, "group", 1);
    let e = rejects(&db, |tx| tx.related(key(&db, "user", 2), "groups")?.add_with([rock], row! { "reason" => "x" }));
    assert!(matches!(&e, Error::UnknownColumn { table, column, .. } if table == "membership" && column == "reason"));
    // An auto-created through table has no extra columns: refused when a
    // row would be made (a self-link here; a and b are friends already,
    // so adding b with defaults makes nothing and does nothing).
    let (a, b) = (key(&db, "person", 1), key(&db, "person", 2));
    assert_eq!(db.write(|tx| tx.related(a, "friends")?.add_with([b], row! { "since" => 1 })), Ok(0));
    let e = rejects(&db, |tx| tx.related(a, "friends")?.add_with([a], row! { "since" => 1 }));
    assert!(matches!(&e, Error::UnknownColumn { table, .. } if table == "person_friends"), "{e:?}");
    // Lookups name columns of the other end.
    let e = rejects(&db, |tx| tx.related(jim, "groups")?.get_or_create(row! { "title" => "x" }, Row::new()));
    assert!(matches!(&e, Error::UnknownColumn { table, .. } if table == "group"), "{e:?}");
    db.read(|v| {
        assert!(matches!(v.find_by("user", "nope", 1).map(|_| ()), Err(Error::UnknownColumn { .. })));
        assert_eq!(v.get(jim).expect("jim").get("nope"), None);
        Ok::<_, Error>(())
    })
    .expect("read");
}

#[test]
fn unknown_accessor_names_list_the_choices() {
    let db = db();
    let jim = key(&db, "user", 1);
    for name in ["group", "membership", "user_set", "", "groups+"] {
        let e = rejects(&db, |tx| tx.related(jim, name).map(|_| ()));
        match &e {
            Error::UnknownAccessor { table, name: n, choices } => {
                assert_eq!((table.as_str(), n.as_str()), ("user", name));
                assert!(choices.contains(&"groups".to_owned()), "{choices:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("groups"), "the message lists the choices: {e}");
    }
    // The reverse accessor exists only on the target; a symmetrical
    // relation has no reverse accessor at all.
    let rock = key(&db, "group", 1);
    assert!(matches!(rejects(&db, |tx| tx.related(rock, "groups").map(|_| ())), Error::UnknownAccessor { .. }));
    let a = key(&db, "person", 1);
    assert!(matches!(rejects(&db, |tx| tx.related(a, "person_set").map(|_| ())), Error::UnknownAccessor { .. }));
}

#[test]
fn bad_declared_names_are_diagnostics() {
    let e = build_err(
        Schema::builder()
            .table("1bad", |_| {})
            .table("a b", |_| {})
            .table("", |_| {})
            .table("t", |t| {
                t.column("x_", Type::Int);
                t.column("a__b", Type::Int);
                t.column("pk", Type::Int);
                t.column("id", Type::Int);
                t.column("ünï", Type::Int);
                t.column("dup", Type::Int);
                t.column("dup", Type::Text);
                t.many_to_many("m", "t").related_name("not valid");
                t.foreign_key("f", "t").related_query_name("q_");
                t.foreign_key("g", "t").related_query_name("a__q");
            })
            .table("t", |_| {}),
    );
    for id in [
        "junction.E002",
        "fields.E001",
        "fields.E002",
        "fields.E003",
        "models.E004",
        "models.E006",
        "fields.E306",
        "fields.E308",
        "fields.E309",
        "junction.E001",
    ] {
        has(&e, id);
    }
    assert!(e.diagnostics.iter().all(|d| d.level == Level::Error || d.id.contains(".W")));
}

#[test]
fn dangling_references_in_a_schema_are_diagnostics() {
    let e = build_err(
        Schema::builder()
            .table("a", |t| {
                t.foreign_key("f", "nowhere");
                t.many_to_many("m", "nowhere");
                t.many_to_many("n", "settings.NOPE");
                t.many_to_many("o", "a").through("missing");
                t.index("no_such_column");
            })
            .table("user", |t| {
                t.swappable("AUTH");
            })
            .table("account", |_| {})
            .table("b", |t| {
                t.foreign_key("u", "user");
            })
            .setting("AUTH", "account"),
    );
    for id in ["fields.E300", "fields.E331", "junction.E011", "fields.E301"] {
        has(&e, id);
    }
    assert!(e.diagnostics.iter().filter(|d| d.id == "fields.E300").count() >= 3, "{e}");
    // An auto-created through table is not a declared table: no foreign
    // key names it, so unlinking its rows never cascades (the related
    // managers' `add` / `remove` fast paths rely on it).
    let built = Schema::builder().table("a", |t| {
        t.many_to_many("m", "self");
    });
    assert!(built.build().expect("builds").table("a_m").is_some(), "the through table's name");
    let e = build_err(Schema::builder().table("a", |t| {
        t.many_to_many("m", "self");
        t.foreign_key("link", "a_m").nullable();
    }));
    assert!(e.diagnostics.iter().any(|d| d.id == "fields.E300" && d.field.as_deref() == Some("link")), "{e}");
}

// ---- types -----------------------------------------------------------------

#[test]
fn wrong_types() {
    let db = db();
    let jim = key(&db, "user", 1);
    let e = rejects(&db, |tx| tx.insert("user", row! { "username" => 5 }));
    assert!(
        matches!(&e, Error::TypeMismatch { column, expected: Type::Text, value: Value::Int(5), .. } if column == "username"),
        "{e:?}"
    );
    assert!(e.row().is_some(), "the row is handed back");
    let e = rejects(&db, |tx| tx.update(jim, row! { "age" => "thirty" }));
    assert!(matches!(&e, Error::TypeMismatch { expected: Type::Int, .. }), "{e:?}");
    let e = rejects(&db, |tx| tx.update(jim, row! { "age" => 1.5 }));
    assert!(matches!(&e, Error::TypeMismatch { value: Value::Float(_), .. }), "{e:?}");
    // Foreign keys and ids are Int.
    let e = rejects(&db, |tx| tx.insert("post", row! { "title" => "t", "author" => "jim" }));
    assert!(matches!(&e, Error::TypeMismatch { column, .. } if column == "author_id"), "{e:?}");
    let e = rejects(&db, |tx| tx.insert("user", row! { "username" => "x", "id" => "7" }));
    assert!(matches!(&e, Error::TypeMismatch { column, .. } if column == "id"), "{e:?}");
    // Through defaults of the wrong type.
    let rock = key(&db, "group", 1);
    let ann = key(&db, "user", 2);
    let e = rejects(&db, |tx| tx.related(ann, "groups")?.add_with([rock], row! { "invite_reason" => true }));
    assert!(matches!(&e, Error::TypeMismatch { table, .. } if table == "membership"), "{e:?}");
    // A lookup of the wrong type is an error, not a silent miss.
    let e = rejects(&db, |tx| tx.related(jim, "groups")?.get_or_create(row! { "name" => 1 }, Row::new()));
    assert!(matches!(&e, Error::TypeMismatch { .. }), "{e:?}");
    // A default of the wrong type is a schema error.
    let e = build_err(Schema::builder().table("t", |t| {
        t.column("n", Type::Int).default("zero");
        t.foreign_key("f", "t").default("x");
    }));
    assert_eq!(e.diagnostics.iter().filter(|d| d.id == "junction.E010").count(), 2, "{e}");
    // find_by with a value of another type is an error too.
    db.read(|v| {
        let e = v.find_by("user", "username", 1).map(|_| ()).unwrap_err();
        assert!(matches!(&e, Error::TypeMismatch { column, .. } if column == "username"), "{e:?}");
        let e = v.find_by("user", "id", "1").map(|_| ()).unwrap_err();
        assert!(matches!(&e, Error::TypeMismatch { column, .. } if column == "id"), "{e:?}");
        Ok::<_, Error>(())
    })
    .expect("read");
}

// ---- nulls -----------------------------------------------------------------

#[test]
fn nulls() {
    let db = db();
    let jim = key(&db, "user", 1);
    let e = rejects(&db, |tx| tx.insert("user", row! { "username" => Value::Null }));
    assert!(matches!(&e, Error::NotNull { column, .. } if column == "username"), "{e:?}");
    let e = rejects(&db, |tx| tx.insert("user", row! { "age" => 3 }));
    assert!(matches!(&e, Error::NotNull { column, .. } if column == "username"), "missing, no default: {e:?}");
    let e = rejects(&db, |tx| tx.update(jim, row! { "bio" => Value::Null }));
    assert!(
        matches!(&e, Error::NotNull { column, .. } if column == "bio"),
        "a default does not make NULL legal: {e:?}"
    );
    let e = rejects(&db, |tx| tx.update(key(&db, "post", 1), row! { "author" => Value::Null }));
    assert!(matches!(&e, Error::NotNull { column, .. } if column == "author_id"), "{e:?}");
    // A required through column missing: nothing is linked.
    let (ann, rock) = (key(&db, "user", 2), key(&db, "group", 1));
    let e = rejects(&db, |tx| tx.related(ann, "groups")?.add([rock]));
    assert!(matches!(&e, Error::NotNull { table, column, .. } if table == "membership" && column == "invite_reason"));
    let e = rejects(&db, |tx| tx.related(rock, "members")?.set([ann]));
    assert!(matches!(&e, Error::NotNull { .. }), "{e:?}");
    // NULL ids ask for an assigned one; NULLs in a unique nullable column
    // do not collide (checked on a fresh database).
    let db2 = Database::new(
        Schema::builder()
            .table("t", |t| {
                t.column("code", Type::Text).nullable().unique();
            })
            .build()
            .expect("schema"),
    );
    db2.write(|tx| {
        let a = tx.insert("t", row! { "id" => Value::Null, "code" => Value::Null })?;
        let b = tx.insert("t", row! { "code" => Value::Null })?;
        assert_eq!((a.id(), b.id()), (1, 2));
        Ok::<_, Error>(())
    })
    .expect("nulls are fine here");
}

// ---- unknown rows ----------------------------------------------------------

#[test]
fn unknown_rows() {
    let db = db();
    let ghost = key(&db, "user", 99);
    let e = rejects(&db, |tx| tx.update(ghost, row! { "age" => 1 }));
    assert_eq!(e, Error::NotFound { table: "user".into(), id: 99 });
    assert_eq!(rejects(&db, |tx| tx.delete(ghost)), Error::NotFound { table: "user".into(), id: 99 });
    assert!(matches!(rejects(&db, |tx| tx.related(ghost, "groups").map(|_| ())), Error::NotFound { .. }));
    for id in [0, -1, i64::MIN, i64::MAX] {
        assert!(matches!(rejects(&db, |tx| tx.delete(key(&db, "user", id))), Error::NotFound { .. }));
        assert!(matches!(rejects(&db, |tx| tx.delete(key(&db, "person_friends", id))), Error::NotFound { .. }));
    }
    // Foreign keys and manager targets must name rows.
    let e = rejects(&db, |tx| tx.insert("post", row! { "title" => "t", "author" => 99 }));
    assert!(
        matches!(&e, Error::ForeignKey { column, target, id: 99, .. } if column == "author_id" && target == "user")
    );
    let jim = key(&db, "user", 1);
    let e = rejects(&db, |tx| {
        tx.related(jim, "groups")?.add_with([Target::Id(1), Target::Id(42)], row! { "invite_reason" => "x" })
    });
    assert_eq!(e, Error::NotFound { table: "group".into(), id: 42 });
    let e = rejects(&db, |tx| tx.related(jim, "groups")?.set([42i64]));
    assert_eq!(e, Error::NotFound { table: "group".into(), id: 42 });
    let e = rejects(&db, |tx| tx.insert("membership", row! { "user" => 1, "group" => 7, "invite_reason" => "x" }));
    assert!(matches!(&e, Error::ForeignKey { target, id: 7, .. } if target == "group"), "{e:?}");
    let e = rejects(&db, |tx| tx.insert("person_friends", row! { "from_person_id" => 1, "to_person_id" => 9 }));
    assert!(matches!(&e, Error::ForeignKey { id: 9, .. }), "{e:?}");
    // Removing an unknown target is a no-op, not an error.
    let n = db.write(|tx| tx.related(jim, "groups")?.remove([42i64])).expect("remove");
    assert_eq!(n, 0);
    db.read(|v| {
        assert!(v.get(ghost).is_none());
        assert_eq!(v.key("user", 99)?, None);
        Ok::<_, Error>(())
    })
    .expect("read");
}

// ---- wrong-table keys ------------------------------------------------------

#[test]
fn keys_of_the_wrong_table() {
    let db = db();
    let (jim, ann, rock, a) = (key(&db, "user", 1), key(&db, "user", 2), key(&db, "group", 1), key(&db, "person", 1));
    let e = rejects(&db, |tx| tx.related(jim, "groups")?.add_with([ann], row! { "invite_reason" => "x" }));
    assert_eq!(e, Error::WrongTable { expected: "group".into(), found: "user".into(), id: 2 });
    let e = rejects(&db, |tx| tx.related(jim, "groups")?.remove([a]));
    assert!(matches!(e, Error::WrongTable { .. }), "{e:?}");
    let e = rejects(&db, |tx| tx.related(jim, "groups")?.set([Target::Key(rock), Target::Key(a)]));
    assert!(matches!(e, Error::WrongTable { .. }), "{e:?}");
    // An accessor handle of another table.
    let groups = db.schema().accessor("user", "groups").expect("accessor");
    let e = rejects(&db, |tx| tx.related_at(rock, groups).map(|_| ()));
    assert!(matches!(e, Error::WrongTable { .. }), "{e:?}");
    db.read(|v| {
        assert!(matches!(v.related_at(rock, groups).map(|_| ()), Err(Error::WrongTable { .. })));
        // Reads just say no.
        assert!(!v.related(jim, "groups")?.contains(a));
        Ok::<_, Error>(())
    })
    .expect("read");
}

// ---- ids -------------------------------------------------------------------

#[test]
fn explicit_ids() {
    let db = db();
    for id in [0, -5, i64::MIN] {
        let e = rejects(&db, |tx| tx.insert("user", row! { "username" => "x", "id" => id }));
        assert!(matches!(e, Error::InvalidId { id: i, .. } if i == id), "{e:?}");
    }
    let e = rejects(&db, |tx| tx.insert("user", row! { "username" => "x", "id" => 1 }));
    assert!(matches!(&e, Error::Unique { column, value: Value::Int(1), .. } if column == "id"), "{e:?}");
    let e = rejects(&db, |tx| tx.update(key(&db, "user", 1), row! { "id" => 5 }));
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    // Auto-created through rows: the id is derived, and they are not updated.
    let e =
        rejects(&db, |tx| tx.insert("person_friends", row! { "id" => 3, "from_person_id" => 1, "to_person_id" => 1 }));
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    let link = db.read(|v| Ok::<_, Error>(v.scan("person_friends")?.next().expect("a link").key())).expect("read");
    let e = rejects(&db, |tx| tx.update(link, row! { "from_person_id" => 2 }));
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
}

/// Regression (found writing this catalogue): after a row was inserted with
/// the explicit id `i64::MAX`, the next insert without an id was given
/// `i64::MAX` again (the next id saturated), so two rows shared a primary
/// key, and `verify()` failed on the first one alone (`id >= next_id`).
/// Now `i64::MAX` is never a row's id (`InvalidId`), so the next id always
/// exists, and once `i64::MAX - 1` is used, inserts without an id get
/// `TableFull` (ids are never reused).
#[test]
fn the_largest_ids() {
    let db = db();
    let e = rejects(&db, |tx| tx.insert("group", row! { "name" => "max", "id" => i64::MAX }));
    assert!(matches!(e, Error::InvalidId { id: i64::MAX, .. }), "{e:?}");
    let k = db.write(|tx| tx.insert("group", row! { "name" => "last", "id" => i64::MAX - 1 })).expect("largest id");
    assert_eq!(k.id(), i64::MAX - 1);
    let e = rejects(&db, |tx| tx.insert("group", row! { "name" => "next" }));
    assert_eq!(e, Error::TableFull { table: "group".into() });
    assert!(e.to_string().contains("every id"), "{e}");
    // Deleting the row does not give its id back; explicit smaller ids work.
    db.write(|tx| tx.delete(k)).expect("delete");
    assert!(matches!(rejects(&db, |tx| tx.insert("group", row! { "name" => "next" })), Error::TableFull { .. }));
    db.write(|tx| tx.insert("group", row! { "name" => "small", "id" => 50 })).expect("explicit id");
    db.read(|v| v.verify().map_err(|e| Error::Unsupported { table: String::new(), reason: e })).expect("verify");
}

// ---- duplicates and conflicts ----------------------------------------------

#[test]
fn duplicate_values() {
    let db = db();
    let ann = key(&db, "user", 2);
    let e = rejects(&db, |tx| tx.insert("user", row! { "username" => "jim" }));
    assert!(matches!(&e, Error::Unique { column, value, .. } if column == "username" && *value == Value::from("jim")));
    let e = rejects(&db, |tx| tx.update(ann, row! { "username" => "jim" }));
    assert!(matches!(e, Error::Unique { .. }), "{e:?}");
    // The same pair twice in an auto-created through table.
    let e = rejects(&db, |tx| tx.insert("person_friends", row! { "from_person_id" => 1, "to_person_id" => 2 }));
    assert!(matches!(e, Error::Unique { .. }), "{e:?}");
    // Two writes in one `write`: the second fails, the first is undone too.
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).expect("read");
    let e = db
        .write(|tx| {
            tx.insert("user", row! { "username" => "new" })?;
            tx.insert("user", row! { "username" => "new" })
        })
        .expect_err("duplicate");
    assert!(matches!(e, Error::Unique { .. }), "{e:?}");
    assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).expect("read"), before);
    // Updating to its own value is not a conflict; a name set twice keeps the last.
    db.write(|tx| tx.update(ann, row! { "username" => "ann" })).expect("same value");
    assert_eq!(row! { "a" => 1, "a" => 2 }.get("a"), Some(&Value::Int(2)));
    // get_or_create finding several rows.
    let rock = key(&db, "group", 1);
    db.write(|tx| tx.related(rock, "members")?.add_with([ann], row! { "invite_reason" => "x" })).expect("add");
    let e = rejects(&db, |tx| tx.related(rock, "members")?.get_or_create(Row::new(), Row::new()));
    assert!(matches!(e, Error::MultipleFound { count: 2, .. }), "{e:?}");
}

#[test]
fn conflicting_options_are_diagnostics() {
    let e = build_err(
        Schema::builder()
            .table("a", |t| {
                t.many_to_many("m1", "b").through("t").db_table("x");
                t.many_to_many("m2", "b").through("t2").db_constraint(false);
                t.many_to_many("m3", "b").through_fields("a", "b");
                t.many_to_many("m4", "b").symmetrical(true);
                t.many_to_many("m5", "b").unique();
                t.foreign_key("f1", "b").on_delete(OnDelete::SetNull);
                t.foreign_key("f2", "b").on_delete(OnDelete::SetDefault);
            })
            .table("b", |_| {})
            .table("t", |t| {
                t.foreign_key("a", "a");
                t.foreign_key("b", "b");
            })
            .table("t2", |t| {
                t.foreign_key("a", "a");
                t.foreign_key("b", "b");
            }),
    );
    for id in [
        "junction.E021",
        "junction.E022",
        "junction.E023",
        "junction.E020",
        "fields.E330",
        "fields.E320",
        "fields.E321",
    ] {
        has(&e, id);
    }
    // Clashing reverse names and through tables.
    let e = build_err(
        Schema::builder()
            .table("a", |t| {
                t.foreign_key("x", "b");
                t.foreign_key("y", "b");
                // Its accessor "a" is x's and y's query name (E305).
                t.foreign_key("z", "b").related_name("a").related_query_name("zq");
                t.many_to_many("b_things", "b").db_table("b");
            })
            .table("b", |t| {
                t.column("a_set", Type::Int);
            }),
    );
    for id in ["fields.E302", "fields.E304", "fields.E305", "fields.E340"] {
        has(&e, id);
    }
    // Options without effect build, with warnings.
    let s = Schema::builder()
        .table("p", |t| {
            t.many_to_many("friends", "self").related_name("fans").null(true).validator(|_| true);
        })
        .build()
        .expect("warnings only");
    let ids: Vec<&str> = s.warnings().iter().map(|d| d.id).collect();
    for id in ["fields.W340", "fields.W341", "fields.W345"] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    // Ambiguous through tables.
    let e = build_err(
        Schema::builder()
            .table("p", |t| {
                t.many_to_many("m", "self").through("link");
                t.many_to_many("n", "q").through("link2");
            })
            .table("q", |_| {})
            .table("link", |t| {
                t.foreign_key("a", "p");
                t.foreign_key("b", "p");
                t.foreign_key("c", "p");
            })
            .table("link2", |t| {
                t.foreign_key("a", "p");
                t.foreign_key("b", "p");
                t.foreign_key("c", "q");
                t.foreign_key("d", "q");
            }),
    );
    for id in ["fields.E333", "fields.E334", "fields.E335"] {
        has(&e, id);
    }
}

#[test]
fn refused_deletes_and_unsupported_calls() {
    let db = db();
    let jim = key(&db, "user", 1);
    let e = rejects(&db, |tx| tx.delete(jim));
    assert!(matches!(&e, Error::Protected { referenced_by, count: 1, .. } if referenced_by == "post"), "{e:?}");
    // remove/clear on a reverse foreign key that is not nullable.
    let e = rejects(&db, |tx| tx.related(jim, "post_set")?.clear());
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    let e = rejects(&db, |tx| tx.related(jim, "post_set")?.remove([1i64]));
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    db.read(|v| {
        assert!(matches!(v.find_by("user", "bio", "").map(|_| ()), Err(Error::Unsupported { .. })), "no index");
        Ok::<_, Error>(())
    })
    .expect("read");
}

// ---- oversized values ------------------------------------------------------

#[test]
fn oversized_values_are_stored_as_given() {
    let db = db();
    let big = "x".repeat(1 << 20);
    let blob = vec![0xAB; 1 << 20];
    db.write(|tx| {
        let k =
            tx.insert("user", row! { "username" => big.as_str(), "bio" => "é".repeat(10_000), "age" => i64::MIN })?;
        tx.insert("user", row! { "username" => format!("{big}y") })?;
        assert_eq!(tx.get(k).expect("row").text("username").map(str::len), Some(1 << 20));
        assert_eq!(tx.find_by("user", "username", big.as_str())?.len(), 1);
        Ok::<_, Error>(())
    })
    .expect("big values");
    let e = rejects(&db, |tx| tx.insert("user", row! { "username" => big.as_str() }));
    assert!(matches!(e, Error::Unique { .. }));
    let e = rejects(&db, |tx| tx.insert("user", row! { "username" => blob.clone() }));
    assert!(matches!(e, Error::TypeMismatch { .. }));
    // A very long name: declared fine, through names are truncated.
    let long = "t".repeat(1000);
    let s = Schema::builder()
        .table(long.as_str(), |t| {
            t.many_to_many("m", "self");
        })
        .build()
        .expect("long names are identifiers");
    let through = s.through_table(&long, "m").expect("through");
    assert_eq!(s.table_name(through).len(), 64);
    // Many cells, and many targets with duplicates.
    let many: Row = (0..1000).map(|i| (format!("c{i}"), i)).collect();
    let e = rejects(&db, |tx| tx.insert("user", many.clone()));
    assert!(matches!(&e, Error::UnknownColumn { column, .. } if column == "c0"), "{e:?}");
    let ids: Vec<i64> = std::iter::repeat_n(1, 10_000).chain([2]).collect();
    let n = db.write(|tx| tx.related(key(&db, "person", 1), "friends")?.add(ids.clone())).expect("duplicates collapse");
    assert_eq!(n, 1, "only the self-loop is new");
}

// ---- bad query paths -------------------------------------------------------

/// Runs a query-building call on the fixture and returns its error.
#[track_caller]
fn query_err(db: &Database, build: impl Fn(&junctiondb::View) -> Result<Vec<i64>, Error>) -> Error {
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).expect("read");
    let e = db.read(|v| build(v)).expect_err("the bad query ran");
    assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).expect("read"), before);
    assert!(e.to_string().len() > 10, "{e:?}");
    e
}

#[track_caller]
fn bad_path(e: &Error, path: &str) {
    match e {
        Error::Query { path: p, reason, .. } => {
            assert_eq!(p, path);
            assert!(!reason.is_empty());
        }
        other => panic!("{path:?}: expected a query error, got {other:?}"),
    }
}

#[test]
fn bad_query_paths() {
    let db = db();
    for path in
        ["nope", "", "__", "username__", "username__nope", "groups__nope", "age__startswith__x", "id__id", "pk__in__x"]
    {
        let e = query_err(&db, |v| Ok(v.query("user")?.filter(path, "x")?.ids()));
        bad_path(&e, path);
    }
    // A path error names the valid choices.
    let e = query_err(&db, |v| Ok(v.query("user")?.filter("usrname", "jim")?.ids()));
    assert!(e.to_string().contains("username"), "{e}");
    // order_by and values need a single-valued path to a column.
    let e = query_err(&db, |v| Ok(v.query("user")?.order_by(&["groups__name"])?.ids()));
    assert!(matches!(e, Error::Query { .. }), "{e:?}");
    let e = query_err(&db, |v| Ok(v.query("user")?.order_by(&["-nope"])?.ids()));
    assert!(matches!(e, Error::Query { .. }), "{e:?}");
    let e = query_err(&db, |v| v.query("user")?.values(&["groups"]).map(|r| vec![r.len() as i64]));
    assert!(matches!(e, Error::Query { .. }), "{e:?}");
    // Unknown tables.
    let e = query_err(&db, |v| Ok(v.query("nope")?.ids()));
    assert_eq!(e, Error::UnknownTable { table: "nope".into() });
}

#[test]
fn bad_query_values() {
    let db = db();
    let e = query_err(&db, |v| Ok(v.query("user")?.filter("age", "thirty")?.ids()));
    assert!(matches!(e, Error::TypeMismatch { .. }), "{e:?}");
    let e = query_err(&db, |v| Ok(v.query("user")?.filter("username__gt", 3)?.ids()));
    assert!(matches!(e, Error::TypeMismatch { .. }), "{e:?}");
    // A key of the wrong table for a relation.
    let a = key(&db, "person", 1);
    let e = query_err(&db, |v| Ok(v.query("user")?.filter("groups", a)?.ids()));
    assert!(matches!(e, Error::WrongTable { .. }), "{e:?}");
    // Lookups that need a list, a pair or a bool.
    for (path, arg) in [
        ("age__in", junctiondb::Arg::from(3)),
        ("age__range", junctiondb::Arg::from(vec![1])),
        ("age__isnull", junctiondb::Arg::from(3)),
        ("username__contains", junctiondb::Arg::from(vec!["a", "b"])),
    ] {
        let e = query_err(&db, |v| Ok(v.query("user")?.filter(path, arg.clone())?.ids()));
        bad_path(&e, path);
    }
    // Text lookups on numbers are errors, not silent misses.
    let e = query_err(&db, |v| Ok(v.query("user")?.filter("age__startswith", 3)?.ids()));
    bad_path(&e, "age__startswith");
    // An argument of lists nested far deeper than the stack allows: its
    // error message shows the first levels, and it is freed without
    // recursion.
    let e = db
        .read(|v| {
            let deep = (0..1_000_000).fold(junctiondb::Arg::from(1), |a, _| junctiondb::Arg::List(vec![a]));
            v.query("user")?.filter("age__isnull", deep).map(|_| ())
        })
        .unwrap_err();
    bad_path(&e, "age__isnull");
    assert!(e.to_string().contains("not [[[[[[[[[...]]]]]]]]]"), "{e}");
}

/// Regression (found by the `schema` fuzz target after about 3.6 million
/// executions; input `fuzz/regressions/schema/set-default-into-a-unique-column`):
/// deleting rows referenced through a unique foreign key with
/// `on_delete(SetDefault)` wrote the default into every referencing row
/// without a uniqueness check, so two rows ended up holding the default in
/// a unique column and `verify()` failed ("unique column holds 48 twice").
/// Now such a delete is refused with `Unique` and changes nothing, as the
/// database's unique constraint would refuse it under Django.
#[test]
fn set_default_into_a_unique_column() {
    let db = Database::new(
        Schema::builder()
            .table("user", |_| {})
            .table("profile", |t| {
                t.foreign_key("owner", "user").unique().nullable().on_delete(OnDelete::SetDefault).default(1);
            })
            .build()
            .expect("schema builds"),
    );
    let (u2, u3) = db
        .write(|tx| {
            let u1 = tx.insert("user", Row::new())?;
            let u2 = tx.insert("user", Row::new())?;
            let u3 = tx.insert("user", Row::new())?;
            tx.insert("profile", row! { "owner" => u1 })?;
            tx.insert("profile", row! { "owner" => u2 })?;
            tx.insert("profile", row! { "owner" => u3 })?;
            Ok::<_, Error>((u2, u3))
        })
        .expect("fixture");
    // The default (user 1) is taken by a profile that stays.
    let e = rejects(&db, |tx| tx.delete(u2));
    assert!(
        matches!(&e, Error::Unique { table, column, value: Value::Int(1), .. } if table == "profile" && column == "owner_id")
    );
    // Once it is free, one delete may take it, the next may not.
    db.write(|tx| tx.update(Key::new(tx.schema().table("profile").expect("t"), 1), row! { "owner" => Value::Null }))
        .expect("free the default");
    db.write(|tx| tx.delete(u2)).expect("the default is free");
    let e = rejects(&db, |tx| tx.delete(u3));
    assert!(matches!(e, Error::Unique { .. }), "{e:?}");
    db.read(|v| v.verify().map_err(|e| Error::Unsupported { table: String::new(), reason: e })).expect("verify");
}
