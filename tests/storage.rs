//! Typed tables: inserts, updates, deletes, reads, indexes and every error,
//! each error leaving the table unchanged.

mod common;

use common::{snapshot, verify};
use junctiondb::{row, Database, Error, Schema, Type, Value};

fn db() -> Database {
    let schema = Schema::builder()
        .table("item", |t| {
            t.column("sku", Type::Text).unique();
            t.column("price", Type::Float).default(1.5);
            t.column("stock", Type::Int).indexed();
            t.column("active", Type::Bool).default(true);
            t.column("note", Type::Text).nullable();
            t.column("blob", Type::Bytes).nullable();
        })
        .build()
        .expect("valid schema");
    Database::new(schema)
}

#[test]
fn insert_get_with_defaults_and_typed_getters() {
    let db = db();
    db.write(|tx| {
        let k = tx.insert("item", row! { "sku" => "a", "stock" => 3, "blob" => vec![1u8, 2] })?;
        assert_eq!(k.id(), 1);
        let r = tx.get(k).expect("inserted row is visible");
        assert_eq!(r.text("sku"), Some("a"));
        assert_eq!(r.float("price"), Some(1.5));
        assert_eq!(r.int("stock"), Some(3));
        assert_eq!(r.bool("active"), Some(true));
        assert_eq!(r.text("note"), None);
        assert_eq!(r.get("note"), Some(junctiondb::ValueRef::Null));
        assert_eq!(r.bytes("blob"), Some(&[1u8, 2][..]));
        assert_eq!(r.get("nope"), None);
        assert_eq!(r.int("id"), Some(1));
        let col = tx.schema().column("item", "sku").expect("column");
        assert_eq!(r.get_at(col).and_then(|v| v.as_text()), Some("a"));
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// Whether an error is the one a case expects.
type ErrorCheck = fn(&Error) -> bool;

#[test]
fn every_insert_error_changes_nothing_and_hands_the_row_back() {
    let db = db();
    db.write(|tx| tx.insert("item", row! { "sku" => "a", "stock" => 1 }).map(drop)).unwrap();
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    let cases: Vec<(junctiondb::Row, ErrorCheck)> = vec![
        (
            row! { "sku" => "b", "stock" => 1, "colour" => "red" },
            |e| matches!(e, Error::UnknownColumn { column, .. } if column == "colour"),
        ),
        (
            row! { "sku" => "b", "stock" => "many" },
            |e| matches!(e, Error::TypeMismatch { column, expected: Type::Int, .. } if column == "stock"),
        ),
        (row! { "sku" => "b" }, |e| matches!(e, Error::NotNull { column, .. } if column == "stock")),
        (
            row! { "sku" => Value::Null, "stock" => 1 },
            |e| matches!(e, Error::NotNull { column, .. } if column == "sku"),
        ),
        (
            row! { "sku" => "a", "stock" => 1 },
            |e| matches!(e, Error::Unique { column, value, .. } if column == "sku" && *value == Value::from("a")),
        ),
        (
            row! { "id" => 1, "sku" => "z", "stock" => 1 },
            |e| matches!(e, Error::Unique { column, .. } if column == "id"),
        ),
        (row! { "id" => 0, "sku" => "z", "stock" => 1 }, |e| matches!(e, Error::InvalidId { id: 0, .. })),
        (row! { "id" => -5, "sku" => "z", "stock" => 1 }, |e| matches!(e, Error::InvalidId { id: -5, .. })),
    ];
    for (row, check) in cases {
        let err = db.write(|tx| tx.insert("item", row.clone())).unwrap_err();
        assert!(check(&err), "unexpected error {err:?} for {row:?}");
        assert!(!err.to_string().is_empty());
        assert_eq!(err.into_row(), Some(row));
        assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), before);
    }
    let err = db.write(|tx| tx.insert("nope", row! {})).unwrap_err();
    assert_eq!(err, Error::UnknownTable { table: "nope".into() });
    assert_eq!(err.to_string(), "no table is named \"nope\"");
    db.read(|v| {
        verify(v);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn update_checks_before_changing_and_keeps_indexes_exact() {
    let db = db();
    let (a, b) = db
        .write(|tx| {
            let a = tx.insert("item", row! { "sku" => "a", "stock" => 1 })?;
            let b = tx.insert("item", row! { "sku" => "b", "stock" => 1 })?;
            Ok::<_, Error>((a, b))
        })
        .unwrap();
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    for (row, what) in [
        (row! { "sku" => "b" }, "unique"),
        (row! { "stock" => Value::Null }, "null"),
        (row! { "price" => "x" }, "type"),
        (row! { "sku" => "c", "weight" => 2 }, "unknown"),
    ] {
        let err = db.write(|tx| tx.update(a, row.clone())).unwrap_err();
        assert_eq!(err.row(), Some(&row), "{what}: {err}");
        assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), before, "{what} changed the table");
    }
    {
        let err = db.write(|tx| tx.update(a, row! { "id" => 9 })).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), before, "pk update changed the table");
    }
    // A multi-column update that fails on its second column changes nothing.
    let err = db.write(|tx| tx.update(a, row! { "stock" => 7, "sku" => "b" })).unwrap_err();
    assert!(matches!(err, Error::Unique { .. }));
    assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), before);

    db.write(|tx| tx.update(a, row! { "sku" => "a2", "stock" => 5 })).unwrap();
    db.read(|v| {
        assert!(v.find_by("item", "sku", "a")?.is_empty());
        assert_eq!(v.find_by("item", "sku", "a2")?[0].key(), a);
        assert_eq!(v.find_by("item", "stock", 1)?.iter().map(|r| r.key()).collect::<Vec<_>>(), vec![b]);
        assert_eq!(v.find_by("item", "stock", 5)?.len(), 1);
        assert!(matches!(v.find_by("item", "price", 1.5), Err(Error::Unsupported { .. })));
        // `NULL` means "is NULL", as Django's `filter(note=None)`, on any
        // column; no id is `NULL`.
        let nulls = v.find_by("item", "note", Value::Null)?;
        assert_eq!(nulls.iter().map(|r| r.key()).collect::<Vec<_>>(), vec![a, b]);
        assert!(v.find_by("item", "sku", Value::Null)?.is_empty());
        assert!(v.find_by("item", "id", Value::Null)?.is_empty());
        assert!(matches!(v.find_by("item", "stock", "5"), Err(Error::TypeMismatch { .. })));
        assert!(matches!(v.find_by("item", "nope", 1), Err(Error::UnknownColumn { .. })));
        verify(v);
        Ok::<_, Error>(())
    })
    .unwrap();
    let missing = junctiondb::Key::new(a.table(), 99);
    assert!(matches!(db.write(|tx| tx.update(missing, row! { "stock" => 1 })), Err(Error::NotFound { id: 99, .. })));
}

/// `update_many` is Django's `QuerySet.update()`: a query's keys, one row
/// of values, all or nothing.
#[test]
fn update_many_updates_a_querys_rows_or_none() {
    let db = db();
    let keys = db
        .write(|tx| {
            (0..5)
                .map(|i| tx.insert("item", row! { "sku" => format!("s{i}"), "stock" => i % 2 }))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    // The odd-stock rows, each given twice: two rows updated.
    let updated = db
        .write(|tx| {
            let odd = tx.query("item")?.filter("stock", 1)?.keys();
            let twice = odd.iter().chain(&odd).copied().collect::<Vec<_>>();
            tx.update_many(twice, row! { "active" => false, "note" => "odd" })
        })
        .unwrap();
    assert_eq!(updated, 2);
    db.read(|v| {
        let inactive = v.query("item")?.filter("active", false)?.keys();
        assert_eq!(inactive, [keys[1], keys[3]]);
        assert_eq!(v.query("item")?.filter("note", "odd")?.count(), 2);
        assert_eq!(v.query("item")?.filter("active", true)?.filter("note__isnull", true)?.count(), 3);
        verify(v);
        Ok::<_, Error>(())
    })
    .unwrap();

    // Refused calls inside a transaction that goes on and commits: the
    // call itself undoes the rows it updated before the refusal.
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    db.write(|tx| {
        // One unique value for two rows: refused at the second.
        let same = row! { "sku" => "same", "stock" => 9 };
        let err = tx.update_many(keys[..2].iter().copied(), same.clone()).unwrap_err();
        assert!(matches!(&err, Error::Unique { column, .. } if column == "sku"), "{err}");
        assert_eq!(err.row(), Some(&same));
        assert_eq!(snapshot(tx), before);
        // A missing row last: every row before it undone.
        let missing = junctiondb::Key::new(keys[0].table(), 99);
        let err = tx.update_many(keys.iter().copied().chain([missing]), row! { "stock" => 7 }).unwrap_err();
        assert!(matches!(err, Error::NotFound { id: 99, .. }), "{err}");
        assert_eq!(snapshot(tx), before);
        // No keys: no table to check the values against, so nothing is checked.
        assert_eq!(tx.update_many([], row! { "stock" => "x" })?, 0);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), before);
}

/// Ids are never reused. Freed slots are not reused either while the
/// table's ids are its slots (so a scan still runs in id order); an
/// explicit id out of step ends that, and from then on new rows fill the
/// freed slots.
#[test]
fn ids_are_never_reused_and_slots_are_once_ids_leave_step() {
    let db = db();
    let keys = db
        .write(|tx| {
            (0..5)
                .map(|i| tx.insert("item", row! { "sku" => format!("s{i}"), "stock" => i }))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    db.write(|tx| {
        tx.delete(keys[1])?;
        tx.delete(keys[3])?;
        assert!(tx.get(keys[1]).is_none());
        let n1 = tx.insert("item", row! { "sku" => "n1", "stock" => 9 })?;
        let n2 = tx.insert("item", row! { "sku" => "n2", "stock" => 9 })?;
        assert_eq!((n1.id(), n2.id()), (6, 7), "ids continue after the largest ever used");
        let order = |tx: &junctiondb::WriteTxn<'_>| tx.scan("item").unwrap().map(|r| r.id()).collect::<Vec<i64>>();
        assert_eq!(order(tx), vec![1, 3, 5, 6, 7], "new rows after the others, the freed slots left");
        assert_eq!(tx.find_by("item", "stock", 9)?.len(), 2);
        assert!(tx.find_by("item", "sku", "s1")?.is_empty());
        let explicit = tx.insert("item", row! { "id" => 100, "sku" => "x", "stock" => 0 })?;
        assert_eq!(explicit.id(), 100);
        assert_eq!(tx.insert("item", row! { "sku" => "y", "stock" => 0 })?.id(), 101);
        assert_eq!(order(tx), vec![1, 101, 3, 100, 5, 6, 7], "ids out of step: the freed slots are filled");
        assert_eq!(tx.count("item")?, 7);
        verify(&*tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn float_and_bytes_and_bool_index_semantics() {
    let schema = Schema::builder()
        .table("m", |t| {
            t.column("f", Type::Float).unique();
            t.column("b", Type::Bytes).indexed();
            t.column("flag", Type::Bool).indexed();
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        tx.insert("m", row! { "f" => 0.0, "b" => vec![1u8], "flag" => true })?;
        let err = tx.insert("m", row! { "f" => -0.0, "b" => vec![1u8], "flag" => false }).unwrap_err();
        assert!(matches!(err, Error::Unique { .. }), "-0.0 equals 0.0 in a unique index");
        tx.insert("m", row! { "f" => 2.5, "b" => vec![1u8], "flag" => false })?;
        assert_eq!(tx.find_by("m", "b", vec![1u8])?.len(), 2);
        assert_eq!(tx.find_by("m", "flag", true)?.len(), 1);
        assert_eq!(tx.find_by("m", "f", 2.5)?.len(), 1);
        verify(&*tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn unique_nullable_allows_many_nulls() {
    let schema = Schema::builder().table("p", |t| {
        t.column("email", Type::Text).nullable().unique();
    });
    let db = Database::new(schema.build().unwrap());
    db.write(|tx| {
        tx.insert("p", row! {})?;
        tx.insert("p", row! { "email" => Value::Null })?;
        tx.insert("p", row! { "email" => "a@b" })?;
        assert!(tx.insert("p", row! { "email" => "a@b" }).is_err());
        assert_eq!(tx.count("p")?, 3);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn delete_missing_row_is_not_found() {
    let db = db();
    let k = db.write(|tx| tx.insert("item", row! { "sku" => "a", "stock" => 1 })).unwrap();
    db.write(|tx| tx.delete(k)).unwrap();
    assert_eq!(db.write(|tx| tx.delete(k)).unwrap_err(), Error::NotFound { table: "item".into(), id: 1 });
}
