//! Relation handles (`View::relation`): every read answers what
//! `related_at` answers, on every kind of accessor, and handles from another
//! schema are refused with an error instead of reaching a relation that is
//! not there.

mod common;

use common::{snapshot, verify, Rng};
use junctiondb::{row, Accessor, Database, Error, Key, OnDelete, Related, Schema, TableId, Type, View, WriteTxn};

/// Every kind of accessor: an auto-created many-to-many (both ends), a
/// custom through table that allows duplicate pairs (both ends), a
/// symmetrical self relation, and reverse foreign keys.
fn db() -> Database {
    let schema = Schema::builder()
        .table("group", |t| {
            t.column("name", Type::Text);
        })
        .table("user", |t| {
            t.column("name", Type::Text);
            t.many_to_many("groups", "group");
            t.many_to_many("clubs", "group").through("membership").related_name("club_members");
            t.many_to_many("friends", "self");
        })
        .table("membership", |t| {
            t.foreign_key("user", "user");
            t.foreign_key("group", "group").on_delete(OnDelete::Cascade);
            t.column("role", Type::Text).default("member");
        })
        .build()
        .unwrap();
    Database::new(schema)
}

/// 30 users and 8 groups linked at random through every relation, with
/// some custom through pairs stored twice and a few rows deleted.
fn populated(seed: u64) -> Database {
    let db = db();
    let mut rng = Rng(seed);
    db.write(|tx| {
        let groups: Vec<Key> =
            (0..8).map(|i| tx.insert("group", row! { "name" => format!("g{i}") })).collect::<Result<_, _>>()?;
        let users: Vec<Key> =
            (0..30).map(|i| tx.insert("user", row! { "name" => format!("u{i}") })).collect::<Result<_, _>>()?;
        for &u in &users {
            for _ in 0..rng.below(6) {
                tx.related(u, "groups")?.add([rng.pick(&groups)])?;
                tx.related(u, "friends")?.add([rng.pick(&users)])?;
                // Direct writes to the custom through table may repeat a pair.
                tx.insert("membership", row! { "user" => u, "group" => rng.pick(&groups) })?;
            }
        }
        tx.delete(users[3])?;
        tx.delete(groups[5])?;
        Ok::<_, Error>(())
    })
    .unwrap();
    db
}

fn accessors(v: &View) -> Vec<(TableId, Accessor)> {
    let s = v.schema();
    let mut all = Vec::new();
    for table in ["group", "user", "membership"] {
        let t = s.table(table).unwrap();
        for name in s.accessor_names(t) {
            all.push((t, s.accessor(table, name).unwrap()));
        }
    }
    all
}

#[test]
fn every_read_matches_related_at_on_every_accessor() {
    for seed in 1..=5 {
        let db = populated(seed);
        db.read(|v| {
            verify(v);
            let all = accessors(v);
            assert!(all.len() >= 7, "every kind of accessor is covered: {all:?}");
            for (table, accessor) in all {
                assert_handle_matches(v, table, accessor)?;
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    }
}

#[test]
fn missing_rows_and_wrong_tables_are_errors_or_false() {
    let db = populated(9);
    db.read(|v| {
        let s = v.schema();
        let (user, group) = (s.table("user").unwrap(), s.table("group").unwrap());
        let rel = v.relation(s.accessor("user", "groups").unwrap())?;
        let (u1, g1) = (Key::new(user, 1), Key::new(group, 1));
        let deleted = Key::new(user, 4);
        assert!(matches!(rel.ids(deleted), Err(Error::NotFound { id: 4, .. })));
        assert!(matches!(rel.count(Key::new(user, 999)), Err(Error::NotFound { .. })));
        assert!(matches!(rel.ids(g1), Err(Error::WrongTable { .. })));
        assert!(!rel.contains(deleted, g1));
        assert!(!rel.contains(u1, Key::new(group, 6)), "a deleted group is linked to nothing");
        assert!(!rel.contains(u1, u1), "a key of the wrong table is never linked");
        assert!(!rel.contains(g1, g1));
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// Ids around every edge of the fast paths: 0 (slot 0, which holds no
/// row), negative, past the last slot, past `u32`, and at the ends of
/// `i64`.
const EDGE_IDS: [i64; 9] =
    [0, -1, i64::MIN, i64::MAX, 31, 1 << 32, (1 << 32) + 1, u32::MAX as i64, u32::MAX as i64 + 2];

/// `rel` answers as `related_at` for every row of `table` and every key of
/// the other table, and for the edge ids on both sides (an error where
/// `related_at` has one, the same error).
fn assert_handle_matches(v: &View, table: TableId, accessor: Accessor) -> Result<(), Error> {
    let rel = v.relation(accessor)?;
    assert_eq!(rel.accessor(), accessor);
    let rows: Vec<Key> = v.scan(table)?.map(|r| r.key()).collect();
    let mut others: Vec<Key> = v.scan(accessor.other())?.map(|r| r.key()).collect();
    others.extend(EDGE_IDS.map(|id| Key::new(accessor.other(), id)));
    let matches = |key: Key, related: Related<'_>| -> Result<(), Error> {
        let ids: Vec<i64> = related.ids().collect();
        assert_eq!(rel.ids(key)?.collect::<Vec<_>>(), ids, "{key:?}");
        // `fold` (and what it drives: `sum`, `for_each`) takes its own path.
        let folded = rel.ids(key)?.fold(Vec::new(), |mut all, id| {
            all.push(id);
            all
        });
        assert_eq!(folded, ids, "{key:?}");
        assert_eq!(rel.ids(key)?.sum::<i64>(), ids.iter().sum::<i64>(), "{key:?}");
        assert_eq!(rel.count(key)?, related.count(), "{key:?}");
        assert_eq!(rel.related(key)?.count(), related.count(), "{key:?}");
        for &other in &others {
            assert_eq!(rel.contains(key, other), related.contains(other), "{key:?} -> {other:?}");
        }
        Ok(())
    };
    for &key in &rows {
        matches(key, v.related_at(key, accessor)?)?;
    }
    for key in EDGE_IDS.map(|id| Key::new(table, id)) {
        match v.related_at(key, accessor) {
            Ok(related) => matches(key, related)?,
            Err(e) => {
                assert_eq!(rel.ids(key).err(), Some(e.clone()), "{key:?}");
                assert_eq!(rel.count(key).err(), Some(e), "{key:?}");
                assert!(others.iter().all(|&other| !rel.contains(key, other)), "{key:?}");
            }
        }
    }
    Ok(())
}

/// Eight users and sixteen groups, with explicit ids where given (none in
/// order, one past `u32` each) and implicit ones otherwise. User `i` joins
/// `8 + i` groups, so the users' lists are near (8 to 13 entries, nodes in
/// the header) or pooled (14, 15), and a fast path taken by mistake reads
/// a wrong one; the groups' lists (1 to 8 members) and the friends' (each
/// user befriends four, so seven friends each) are inline or near.
fn linked_with_ids(user_ids: Option<[i64; 8]>, group_ids: Option<[i64; 16]>) -> Database {
    let db = db();
    let insert = |tx: &mut WriteTxn<'_>, table: &str, id: Option<i64>, i: usize| {
        let mut row = row! { "name" => format!("{table}{i}") };
        if let Some(id) = id {
            row = row.with("id", id);
        }
        tx.insert(table, row)
    };
    db.write(|tx| {
        let groups: Vec<Key> =
            (0..16).map(|i| insert(tx, "group", group_ids.map(|ids| ids[i]), i)).collect::<Result<_, _>>()?;
        let users: Vec<Key> =
            (0..8).map(|i| insert(tx, "user", user_ids.map(|ids| ids[i]), i)).collect::<Result<_, _>>()?;
        for (i, &u) in users.iter().enumerate() {
            tx.related(u, "groups")?.add(groups.iter().copied().skip(i % 2).take(8 + i))?;
            tx.related(u, "friends")?.add((1..5).map(|k| users[(i + k) % users.len()]))?;
            tx.insert("membership", row! { "user" => u, "group" => groups[i % groups.len()] })?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    db
}

const USER_IDS: [i64; 8] = [2, 6_000_000_000, 40, 1, 9, 12, 3, 100];
const GROUP_IDS: [i64; 16] = [7, 3, 5_000_000_000, 11, 2, 8, 1, 20, 33, 31, 4, 50, 41, 6, 35, 39];

/// A group of 600 members and a user in 40 groups: lists on the heap,
/// read past the lines a fold prefetches ahead (512 slots), with ids that
/// are slots and ids that are not.
#[test]
fn handles_read_long_lists() {
    for offset in [0, 1_000] {
        let db = db();
        db.write(|tx| {
            let with_id = |i: i64| {
                if offset == 0 {
                    row! {}
                } else {
                    row! { "id" => offset + 7 * i }
                }
            };
            let groups: Vec<Key> = (0..40)
                .map(|i| tx.insert("group", with_id(i).with("name", format!("g{i}"))))
                .collect::<Result<_, _>>()?;
            for i in 0..600 {
                let u = tx.insert("user", with_id(i).with("name", format!("u{i}")))?;
                tx.related(u, "groups")?.add([groups[0]])?;
                if i == 0 {
                    tx.related(u, "groups")?.add(groups[1..].iter().copied())?;
                }
            }
            Ok::<_, Error>(())
        })
        .unwrap();
        db.read(|v| {
            verify(v);
            let members = v.relation(v.schema().accessor("group", "user_set").expect("the reverse accessor"))?;
            let g0 = v.scan("group")?.next().map(|r| r.key()).unwrap();
            let expected: Vec<i64> = v.scan("user")?.map(|r| r.id()).collect();
            assert_eq!(members.ids(g0)?.collect::<Vec<_>>(), expected);
            assert_eq!(members.ids(g0)?.sum::<i64>(), expected.iter().sum::<i64>());
            for (table, accessor) in accessors(v) {
                assert_handle_matches(v, table, accessor)?;
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    }
}

#[test]
fn handles_read_tables_whose_ids_are_not_slots() {
    // Neither table, one of them, the other, and both (the fast paths).
    let cases = [(Some(USER_IDS), Some(GROUP_IDS)), (None, Some(GROUP_IDS)), (Some(USER_IDS), None), (None, None)];
    for (users, groups) in cases {
        let db = linked_with_ids(users, groups);
        db.read(|v| {
            verify(v);
            for (table, accessor) in accessors(v) {
                assert_handle_matches(v, table, accessor)?;
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    }
}

#[test]
fn an_accessor_of_another_schema_is_refused_not_followed() {
    // The other schema has a relation at the same position, between tables
    // at the same positions, so only its origin tells the accessors apart.
    let other = Schema::builder()
        .table("a", |t| {
            t.column("x", Type::Int);
        })
        .table("b", |t| {
            t.many_to_many("links", "a");
        })
        .build()
        .unwrap();
    let foreign = other.accessor("b", "links").unwrap();
    let db = populated(3);
    db.write(|tx| {
        let key = Key::new(foreign.table(), 1);
        assert!(matches!(tx.relation(foreign), Err(Error::UnknownAccessor { .. })));
        assert!(matches!(View::related_at(tx, key, foreign), Err(Error::UnknownAccessor { .. })));
        assert!(matches!(tx.related_at(key, foreign), Err(Error::UnknownAccessor { .. })));
        Ok::<_, Error>(())
    })
    .unwrap();
    // Clones of a schema share its accessors.
    let schema = db.schema().clone();
    let twin = Database::new(schema.clone());
    let groups = schema.accessor("user", "groups").unwrap();
    twin.read(|v| v.relation(groups).map(|_| ())).unwrap();
    // Names of a table the schema does not have: none, not a panic.
    let last = db.schema().table_names().last().unwrap().to_owned();
    let beyond = db.schema().table(&last).unwrap();
    assert!(other.table_names().count() < db.schema().table_names().count(), "the last table is past the other's");
    assert_eq!(other.accessor_names(beyond).count(), 0);
    assert_eq!(other.columns(beyond).count(), 0);
    assert_eq!(other.table_name(beyond), "(unknown table)");
    // A key of such a table in a query on a relation is refused by name.
    let b = other.table("b").unwrap();
    let db_other = Database::new(other.clone());
    db_other.write(|tx| tx.insert(b, row! {}).map(|_| ())).unwrap();
    let stray = Key::new(beyond, 1);
    let e = db_other.write(|tx| tx.related(Key::new(b, 1), "links")?.add([stray]));
    assert!(matches!(e, Err(Error::WrongTable { ref found, .. }) if found == "(unknown table)"), "{e:?}");
    let e = db_other.read(|v| v.query(b)?.filter("links", stray).map(|q| q.count()));
    assert!(matches!(e, Err(Error::WrongTable { ref found, .. }) if found == "(unknown table)"), "{e:?}");
}

#[test]
fn a_handle_reads_its_own_snapshot() {
    let db = populated(4);
    let s = db.schema();
    let (user, group) = (s.table("user").unwrap(), s.table("group").unwrap());
    let groups = s.accessor("user", "groups").unwrap();
    let (u, g) = (Key::new(user, 1), Key::new(group, 8));
    db.write(|tx| {
        tx.related_at(u, groups)?.clear()?;
        let rel = tx.relation(groups)?;
        assert_eq!(rel.count(u)?, 0);
        assert!(!rel.contains(u, g));
        Ok::<_, Error>(())
    })
    .unwrap();
    db.write(|tx| tx.related_at(u, groups)?.add([g])).unwrap();
    db.read(|v| {
        let rel = v.relation(groups)?;
        assert_eq!(rel.ids(u)?.collect::<Vec<_>>(), vec![8]);
        assert!(rel.contains(u, g));
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn a_column_of_another_schema_reads_nothing() {
    // Same table position, more columns: the foreign column's position is
    // past this table's columns.
    let other = Schema::builder()
        .table("group", |t| {
            for c in ["a", "b", "c", "d"] {
                t.column(c, Type::Int).nullable();
            }
        })
        .build()
        .unwrap();
    let foreign = other.column("group", "d").unwrap();
    let db = populated(5);
    let own = db.schema().column("group", "name").unwrap();
    db.read(|v| {
        let row = v.scan("group")?.next().expect("a group");
        assert_eq!(row.get_at(foreign), None);
        assert_eq!(row.get_at(own).and_then(|n| n.as_text()), Some("g0"));
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn every_entry_point_takes_handles_of_a_bigger_schema_without_panicking() {
    // `big` has more tables, columns and relations than `small`, so its
    // handles point past everything `small` has.
    let big = {
        let mut b = Schema::builder();
        for i in 0..6 {
            b = b.table(format!("t{i}"), |t| {
                for c in 0..6 {
                    t.column(format!("c{c}"), Type::Int).nullable();
                }
                t.many_to_many("links", "self").symmetrical(false);
                t.foreign_key("up", "self").nullable().related_name("children");
            });
        }
        b.build().unwrap()
    };
    let small = db();
    small
        .write(|tx| {
            let u = tx.insert("user", row! { "name" => "u" })?;
            let g = tx.insert("group", row! { "name" => "g" })?;
            tx.related(u, "groups")?.add([g])?;
            Ok::<_, Error>(())
        })
        .unwrap();
    let names: Vec<String> = big.table_names().map(str::to_owned).collect();
    for name in &names {
        let t = big.table(name).unwrap();
        let key = Key::new(t, 1);
        let accessors: Vec<Accessor> = big.accessor_names(t).filter_map(|a| big.accessor(name, a)).collect();
        let column = big.column(name, "c5").or_else(|| big.column(name, "id")).unwrap();
        let _ = (small.schema().table_name(t), small.schema().columns(t).count());
        let _ = small.schema().accessor_names(t).count();
        // Everything runs in a transaction that is rolled back, though no
        // call with a foreign handle changes anything (see the next test).
        let mut tx = small.begin_write().unwrap();
        let poke = |tx: &mut junctiondb::WriteTxn<'_>| {
            let user = tx.scan("user")?.next().map(|r| r.key()).expect("a user");
            let group = tx.scan("group")?.next().map(|r| r.key()).expect("a group");
            let _ = tx.get(key).map(|r| (r.to_row(), r.get_at(column)));
            let _ = (tx.contains(key), tx.key(t, 1), tx.count(t), tx.scan(t).map(|s| s.count()));
            let _ = tx.find_by(t, "c0", 1);
            let _ = tx.query(t).map(|q| q.count());
            let _ = tx.query("user")?.filter("groups", key).map(|q| q.count());
            let _ = tx.query("user")?.filter("groups__in", vec![key, group]).map(|q| q.count());
            let _ = tx.insert(t, row! { "c0" => 1 });
            let _ = tx.update(key, row! { "c0" => 2 });
            let _ = tx.delete(key);
            let _ = tx.related(key, "links").map(|r| r.count());
            for &a in &accessors {
                let _ = View::related_at(tx, key, a).map(|r| r.count());
                let _ = View::related_at(tx, user, a).map(|r| r.count());
                let _ = tx.relation(a).map(|r| r.contains(user, group));
                let _ = tx.related_at(user, a).and_then(|mut m| m.add([group]));
            }
            if let Ok(mut groups) = tx.related(user, "groups") {
                let _ = groups.add([key]);
                let _ = groups.remove([key]);
                let _ = groups.set([key, group]);
                let _ = groups.contains(key);
            }
            let rel = tx.relation(tx.schema().accessor("user", "groups").expect("declared"))?;
            let _ = (rel.contains(key, group), rel.contains(user, key), rel.ids(key).map(|i| i.count()));
            tx.verify().map_err(|e| Error::Unsupported { table: "verify".into(), reason: e })?;
            Ok::<_, Error>(())
        };
        poke(&mut tx).unwrap();
        drop(tx);
    }
    small
        .read(|v| {
            verify(v);
            assert_eq!(v.count("user")?, 1);
            Ok::<_, Error>(())
        })
        .unwrap();
}

#[test]
fn a_table_of_another_schema_is_an_unknown_table_everywhere() {
    // `other` has tables at the positions of `user` and `group`, so only the
    // handle's schema tells them apart.
    let other = Schema::builder()
        .table("x", |t| {
            t.column("name", Type::Text);
        })
        .table("y", |t| {
            t.column("name", Type::Text);
            t.many_to_many("groups", "x");
        })
        .build()
        .unwrap();
    let db = populated(6);
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    let unknown = |e: Error| matches!(e, Error::UnknownTable { ref table } if table.contains("another schema"));
    for name in ["x", "y", "y_groups"] {
        let t = other.table(name).unwrap();
        let key = Key::new(t, 1);
        assert_eq!(db.schema().table_name(t), "(unknown table)");
        assert_eq!((db.schema().columns(t).count(), db.schema().accessor_names(t).count()), (0, 0));
        db.write(|tx| {
            assert!(tx.get(key).is_none() && !tx.contains(key));
            assert!(unknown(tx.key(t, 1).unwrap_err()));
            assert!(unknown(tx.count(t).unwrap_err()));
            assert!(unknown(tx.scan(t).map(|s| s.count()).unwrap_err()));
            assert!(unknown(tx.query(t).map(|q| q.count()).unwrap_err()));
            assert!(unknown(tx.insert(t, row! { "name" => "n" }).unwrap_err()));
            assert!(unknown(tx.update(key, row! { "name" => "n" }).unwrap_err()));
            assert!(unknown(tx.delete(key).unwrap_err()));
            assert!(unknown(tx.related(key, "groups").map(|r| r.count()).unwrap_err()));
            let user = tx.scan("user")?.next().map(|r| r.key()).expect("a user");
            let mut groups = tx.related(user, "groups")?;
            assert!(matches!(groups.add([key]), Err(Error::WrongTable { .. })));
            assert!(!groups.contains(key));
            let rel = tx.relation(tx.schema().accessor("user", "groups").expect("declared"))?;
            assert!(rel.ids(key).is_err() && !rel.contains(user, key));
            let filtered = tx.query("user")?.filter("groups", key).map(|q| q.count());
            assert!(matches!(filtered, Err(Error::WrongTable { .. })), "{filtered:?}");
            Ok::<_, Error>(())
        })
        .unwrap();
    }
    let after = db.read(|v| {
        verify(v);
        Ok::<_, Error>(snapshot(v))
    });
    assert_eq!(after.unwrap(), before, "no call with a foreign handle changed anything");
}

#[test]
fn handles_of_an_identical_but_separately_built_schema_are_foreign() {
    // Two builds of the same declaration: same names, same positions, but
    // different schemas; only clones share handles.
    let twin = db();
    let db = populated(7);
    let (t, a) = (twin.schema().table("user").unwrap(), twin.schema().accessor("user", "groups").unwrap());
    let key = Key::new(t, 1);
    db.read(|v| {
        assert!(v.get(key).is_none());
        assert!(matches!(v.count(t), Err(Error::UnknownTable { .. })));
        assert!(matches!(v.related_at(key, a), Err(Error::UnknownAccessor { .. })));
        let own = v.schema().accessor("user", "groups").expect("declared");
        assert!(matches!(v.related_at(key, own), Err(Error::UnknownTable { .. })));
        Ok::<_, Error>(())
    })
    .unwrap();
    let clone = Database::new(db.schema().clone());
    let own_user = db.schema().table("user").unwrap();
    assert!(clone.write(|tx| tx.insert(own_user, row! { "name" => "c" })).is_ok(), "a clone shares handles");
}

/// A key in a row stands for its id and keeps its table: a write, a lookup
/// or `find_by` checks it against the table the column refers to (the
/// foreign key's target, the row's own table for `id`, an auto-created
/// through's end), as Django refuses an instance of the wrong model, and a
/// refused write changes nothing.
#[test]
fn a_key_in_a_row_must_be_of_the_table_its_column_refers_to() {
    let db = populated(7);
    let (u, g) = db
        .read(|v| {
            let user = v.scan("user")?.next().map(|r| r.key()).expect("a user");
            let group = v.scan("group")?.next().map(|r| r.key()).expect("a group");
            Ok::<_, Error>((user, group))
        })
        .unwrap();
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    // `Some((expected, found))`: a key of the wrong table; `None`: a key
    // for a plain column (`role`).
    let refused = |e: &Error, wanted: Option<(&str, &str)>| match (e, wanted) {
        (Error::WrongKey { expected: Some(x), found: f, .. }, Some((wx, wf))) => x == wx && f == wf,
        (Error::WrongKey { expected: None, column, .. }, None) => column == "role",
        _ => false,
    };
    db.write(|tx| {
        let m = tx.query("membership")?.keys()[0];
        let through = "user_groups";
        assert!(tx.schema().table(through).is_some(), "the auto-created through");
        let cases = vec![
            (tx.insert("membership", row! { "user" => g, "group" => g }), Some(("user", "group"))),
            (tx.insert("membership", row! { "user_id" => g, "group" => g }), Some(("user", "group"))),
            (tx.insert("membership", row! { "user" => u, "group" => u }), Some(("group", "user"))),
            (tx.insert("membership", row! { "user" => u, "group" => g, "role" => u }), None),
            (tx.insert("user", row! { "id" => g, "name" => "x" }), Some(("user", "group"))),
            (tx.insert(through, row! { "user_id" => g, "group_id" => g }), Some(("user", "group"))),
            (tx.update(m, row! { "group" => u }).map(|()| m), Some(("group", "user"))),
            (tx.update(m, row! { "role" => g }).map(|()| m), None),
            (
                tx.related(g, "membership_set")?.get_or_create(row! { "user" => g }, row! {}).map(|(k, _)| k),
                Some(("user", "group")),
            ),
            (
                tx.related(g, "membership_set")?
                    .update_or_create(row! { "role" => "boss" }, row! { "user" => g })
                    .map(|(k, _)| k),
                Some(("user", "group")),
            ),
            (
                // `pk` becomes `id` with its key kept, also beside an
                // `id` of the same number.
                tx.related(g, "membership_set")?.get_or_create(row! { "pk" => u }, row! {}).map(|(k, _)| k),
                Some(("membership", "user")),
            ),
            (
                tx.related(g, "membership_set")?
                    .get_or_create(row! { "pk" => u, "id" => u.id() }, row! {})
                    .map(|(k, _)| k),
                Some(("membership", "user")),
            ),
            (
                tx.related(g, "membership_set")?
                    .get_or_create(row! { "id" => u.id(), "pk" => u }, row! {})
                    .map(|(k, _)| k),
                Some(("membership", "user")),
            ),
            (
                // Keys of two tables with one number: the wrong one is kept.
                tx.related(g, "membership_set")?
                    .get_or_create(row! { "pk" => m, "id" => Key::new(u.table(), m.id()) }, row! {})
                    .map(|(k, _)| k),
                Some(("membership", "user")),
            ),
            (
                tx.related(g, "membership_set")?
                    .get_or_create(row! { "pk" => Key::new(u.table(), m.id()), "id" => m }, row! {})
                    .map(|(k, _)| k),
                Some(("membership", "user")),
            ),
            (tx.find_by("membership", "user", g).map(|_| m), Some(("user", "group"))),
            (tx.find_by("membership", "id", u).map(|_| m), Some(("membership", "user"))),
            (tx.find_by("membership", "role", u).map(|_| m), None),
        ];
        for (i, (result, wanted)) in cases.into_iter().enumerate() {
            let e = result.expect_err("a key of the wrong table is refused");
            assert!(refused(&e, wanted), "case {i}: {e:?}");
        }
        // The error names the column and hands the row back.
        let e = tx.insert("membership", row! { "user" => g, "group" => g }).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("membership.user_id refers to table \"user\", but got a key of \"group\" id {}", g.id())
        );
        assert_eq!(e.row(), Some(&row! { "user" => g, "group" => g }));
        assert_eq!(e.into_row(), Some(row! { "user" => g, "group" => g }));
        let e = tx.update(m, row! { "role" => g }).unwrap_err();
        assert!(e.to_string().contains("membership.role is neither the id nor a foreign key"), "{e}");
        assert!(e.into_row().is_some());
        Ok::<_, Error>(())
    })
    .unwrap();
    let after = db.read(|v| {
        verify(v);
        Ok::<_, Error>(snapshot(v))
    });
    assert_eq!(after.unwrap(), before, "refused writes change nothing");

    // Keys of the right table are their ids, wherever a row takes them.
    db.write(|tx| {
        let row = row! { "user" => u, "group" => &g, "role" => "lead" };
        assert_eq!(row.get("user"), Some(&junctiondb::Value::Int(u.id())));
        assert_eq!(row.cell("group").and_then(|c| c.key()), Some(g));
        assert_eq!(row.cell("role").and_then(|c| c.key()), None);
        let m = tx.insert("membership", row)?;
        assert_eq!(tx.get(m).and_then(|r| r.int("user")), Some(u.id()));
        let found = tx.find_by("membership", "user", u)?;
        assert!(found.iter().any(|r| r.key() == m), "find_by takes the key");
        let (again, created) =
            tx.related(g, "membership_set")?.get_or_create(row! { "user" => u, "role" => "lead" }, row! {})?;
        assert_eq!((again, created), (m, false), "a lookup by key finds the row");
        let none: Option<Key> = None;
        assert_eq!(row! { "user" => none }.get("user"), Some(&junctiondb::Value::Null));
        let by_option = tx.query("membership")?.filter("user", Some(u))?.keys();
        assert!(by_option.contains(&m));
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}
