//! Custom through tables with extra columns (SEMANTICS.md sections 1 and 3).

mod common;

use common::{snapshot, verify};
use junctiondb::{
    row, Database, Error, Key, OnDelete, Schema, SchemaBuilder, TableBuilder, Type, Value, View, WriteTxn,
};

fn db() -> Database {
    let schema = Schema::builder()
        .table("person", |t| {
            t.column("name", Type::Text);
        })
        .table("group", |t| {
            t.column("name", Type::Text);
            t.many_to_many("members", "person").through("membership").through_fields("group", "person");
            t.many_to_many("loose", "person").through("loose_link").related_name("loose_groups");
        })
        .table("membership", |t| {
            t.foreign_key("group", "group");
            t.foreign_key("person", "person");
            t.foreign_key("inviter", "person").nullable().related_name("invites").on_delete(OnDelete::SetNull);
            t.column("invite_reason", Type::Text);
            t.column("level", Type::Int).default(1);
        })
        .table("loose_link", |t| {
            t.foreign_key("group", "group").related_name("loose_rows");
            t.foreign_key("person", "person").related_name("loose_rows");
            t.column("note", Type::Text).nullable();
        })
        .table("friendship", |t| {
            t.foreign_key("from_p", "person").related_name("friendships_out");
            t.foreign_key("to_p", "person").related_name("friendships_in");
            t.column("since", Type::Int).default(2000);
        })
        .table("pal", |t| {
            t.column("name", Type::Text);
        })
        .build()
        .unwrap();
    Database::new(schema)
}

fn member_ids(v: &View, g: Key) -> Vec<i64> {
    let mut ids: Vec<i64> = v.related(g, "members").unwrap().ids().collect();
    ids.sort_unstable();
    ids
}

#[test]
fn required_extra_column_must_come_from_through_defaults() {
    let db = db();
    db.write(|tx| {
        let g = tx.insert("group", row! { "name" => "g" })?;
        let a = tx.insert("person", row! { "name" => "a" })?;
        let b = tx.insert("person", row! { "name" => "b" })?;
        let before = snapshot(tx);
        let e = tx.related(g, "members")?.add([a, b]).unwrap_err();
        assert!(matches!(e, Error::NotNull { ref column, .. } if column == "invite_reason"), "{e}");
        assert_eq!(snapshot(tx), before, "nothing is linked");
        tx.related(g, "members")?.add_with([a, b], row! { "invite_reason" => "friends", "level" => 3 })?;
        assert_eq!(member_ids(tx, g), [a.id(), b.id()]);
        let rows: Vec<_> = tx
            .scan("membership")?
            .map(|r| (r.int("person_id"), r.text("invite_reason").map(str::to_owned), r.int("level")))
            .collect();
        assert_eq!(
            rows,
            [(Some(a.id()), Some("friends".into()), Some(3)), (Some(b.id()), Some("friends".into()), Some(3))]
        );
        // Defaults never change existing rows.
        tx.related(g, "members")?.add_with([a], row! { "invite_reason" => "changed" })?;
        assert_eq!(tx.find_by("membership", "person", a.id())?[0].text("invite_reason"), Some("friends"));
        // The reverse accessor of each through FK works too.
        assert_eq!(tx.related(a, "membership_set")?.count(), 1);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn get_or_create_and_update_or_create_fill_a_new_through_row_from_through_defaults() {
    let db = db();
    db.write(|tx| {
        let g = tx.insert("group", row! { "name" => "g" })?;
        // Without through defaults the required extra column has no value,
        // and nothing is created.
        let before = snapshot(tx);
        let e = tx.related(g, "members")?.get_or_create(row! { "name" => "a" }, row! {}).unwrap_err();
        assert!(matches!(e, Error::NotNull { ref column, .. } if column == "invite_reason"), "{e}");
        assert_eq!(snapshot(tx), before);
        let reason = |tx: &junctiondb::WriteTxn<'_>, p: Key| {
            tx.find_by("membership", "person", p.id()).map(|rows| rows[0].text("invite_reason").map(str::to_owned))
        };
        let (a, created) = tx.related(g, "members")?.get_or_create_with(
            row! { "name" => "a" },
            row! {},
            row! { "invite_reason" => "new" },
        )?;
        assert!(created);
        assert_eq!(reason(tx, a)?.as_deref(), Some("new"));
        // Found: nothing is created and the link row is untouched.
        let (again, created) = tx.related(g, "members")?.get_or_create_with(
            row! { "name" => "a" },
            row! {},
            row! { "invite_reason" => "other" },
        )?;
        assert_eq!((again, created), (a, false));
        assert_eq!(reason(tx, a)?.as_deref(), Some("new"));
        let (b, created) = tx.related(g, "members")?.update_or_create_with(
            row! { "name" => "b" },
            row! {},
            row! { "invite_reason" => "made", "level" => 2 },
        )?;
        assert!(created);
        assert_eq!(reason(tx, b)?.as_deref(), Some("made"));
        assert_eq!(tx.find_by("membership", "person", b.id())?[0].int("level"), Some(2));
        // Found: the row is updated, its link row is untouched.
        let (found, created) = tx.related(g, "members")?.update_or_create_with(
            row! { "name" => "b" },
            row! { "name" => "b2" },
            row! { "invite_reason" => "ignored" },
        )?;
        assert_eq!((found, created), (b, false));
        assert_eq!(tx.get(b).unwrap().text("name"), Some("b2"));
        assert_eq!(reason(tx, b)?.as_deref(), Some("made"));
        assert_eq!(member_ids(tx, g), [a.id(), b.id()]);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn set_keeps_rows_that_stay_and_set_clearing_recreates_them() {
    let db = db();
    db.write(|tx| {
        let g = tx.insert("group", row! { "name" => "g" })?;
        let p: Vec<Key> =
            (0..3).map(|i| tx.insert("person", row! { "name" => format!("p{i}") })).collect::<Result<_, _>>()?;
        tx.related(g, "members")?.add_with([p[0], p[1]], row! { "invite_reason" => "old" })?;
        let kept = tx.find_by("membership", "person", p[0].id())?[0].key();
        tx.related(g, "members")?.set_with([p[0], p[2]], row! { "invite_reason" => "new" })?;
        assert_eq!(member_ids(tx, g), [p[0].id(), p[2].id()]);
        let row = tx.find_by("membership", "person", p[0].id())?[0].to_row();
        assert_eq!(row.get("id"), Some(&kept.id().into()), "the staying pair keeps its row id");
        assert_eq!(row.get("invite_reason"), Some(&"old".into()), "and its extra columns");
        assert_eq!(tx.find_by("membership", "person", p[2].id())?[0].text("invite_reason"), Some("new"));
        tx.related(g, "members")?.set_clearing([p[0], p[2]], row! { "invite_reason" => "fresh" })?;
        let rows = tx.find_by("membership", "person", p[0].id())?;
        assert_ne!(rows[0].id(), kept.id(), "set with clear recreates every row");
        assert_eq!(rows[0].text("invite_reason"), Some("fresh"));
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn duplicate_pairs_in_a_custom_through() {
    let db = db();
    db.write(|tx| {
        let g = tx.insert("group", row! { "name" => "g" })?;
        let a = tx.insert("person", row! { "name" => "a" })?;
        // Direct inserts may duplicate a pair: the table declares no uniqueness.
        tx.insert("loose_link", row! { "group" => g, "person" => a, "note" => "1" })?;
        tx.insert("loose_link", row! { "group" => g, "person" => a, "note" => "2" })?;
        assert_eq!(tx.related(g, "loose")?.ids().collect::<Vec<_>>(), [a.id(), a.id()], "one per row");
        assert_eq!(tx.related(g, "loose")?.count(), 2);
        assert_eq!(tx.related(g, "loose")?.add([a])?, 0, "add leaves existing pairs alone");
        assert_eq!(tx.related(a, "loose_groups")?.remove([g])?, 2, "remove deletes every duplicate");
        assert_eq!(tx.count("loose_link")?, 0);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A pair linked twice in a custom through table (by direct inserts) is
/// two link rows: the manager's `query()` returns the row twice, and
/// Django's `get()` over the join raises `MultipleObjectsReturned`. So do
/// `get_or_create` and `update_or_create`, from both ends, changing
/// nothing; they used to search the de-duplicated targets and answer
/// `Ok((rock, false))`.
#[test]
fn get_or_create_on_a_pair_linked_twice_is_multiple_found() {
    let db = db();
    db.write(|tx| {
        let rock = tx.insert("group", row! { "name" => "rock" })?;
        let jim = tx.insert("person", row! { "name" => "jim" })?;
        tx.insert("loose_link", row! { "group" => rock, "person" => jim, "note" => "1" })?;
        tx.insert("loose_link", row! { "group" => rock, "person" => jim, "note" => "2" })?;
        assert_eq!(tx.related(jim, "loose_groups")?.query().filter("name", "rock")?.count(), 2);
        let before = snapshot(tx);
        let several = |r: Result<(Key, bool), Error>, table: &str| {
            matches!(r, Err(Error::MultipleFound { table: ref t, count: 2 }) if t == table)
        };
        let r = tx.related(jim, "loose_groups")?.get_or_create(row! { "name" => "rock" }, row! {});
        assert!(several(r, "group"));
        let r = tx.related(jim, "loose_groups")?.update_or_create(row! { "name" => "rock" }, row! { "name" => "x" });
        assert!(several(r, "group"));
        let r = tx.related(jim, "loose_groups")?.get_or_create_with(row! {}, row! {}, row! { "note" => "n" });
        assert!(several(r, "group"), "an empty lookup matches every link row");
        let r = tx.related(rock, "loose")?.update_or_create_with(
            row! { "name" => "jim" },
            row! { "name" => "x" },
            row! { "note" => "n" },
        );
        assert!(several(r, "person"));
        assert_eq!(snapshot(tx), before, "nothing changes");
        // Another lookup still creates; once one duplicate is gone, the
        // pair is found.
        let (ann, created) = tx.related(rock, "loose")?.get_or_create(row! { "name" => "ann" }, row! {})?;
        assert!(created && ann != jim);
        let dup = tx.query("loose_link")?.filter("note", "2")?.keys()[0];
        tx.delete(dup)?;
        let (found, created) = tx.related(rock, "loose")?.get_or_create(row! { "name" => "jim" }, row! {})?;
        assert_eq!((found, created), (jim, false));
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A person whose `best` friendship is deleted is deleted with it (a
/// `Cascade` key into the through table).
fn cascading_db() -> Database {
    let schema = Schema::builder()
        .table("person", |t| {
            t.column("name", Type::Text);
            t.many_to_many("friends", "self").symmetrical(false).through("friendship");
            t.foreign_key("best", "friendship").nullable();
        })
        .table("friendship", |t| {
            t.foreign_key("from_p", "person").related_name("out");
            t.foreign_key("to_p", "person").related_name("inn");
        })
        .build()
        .unwrap();
    Database::new(schema)
}

/// `remove` deletes custom through rows as rows, following their
/// `on_delete` rules: here the friendship a -> b is a's `best`, so removing
/// b from a's friends deletes a too (as Django's `remove` does). The
/// manager resolved a's slot once; it went on using the freed slot, so a
/// later `create` inserted a row into that slot and linked it to itself.
/// Every write of that manager is now `NotFound` for a and changes
/// nothing; its reads see no rows.
#[test]
fn a_manager_whose_row_a_remove_deleted_refuses_writes() {
    // a and b, and the friendship a -> b that is a's best.
    let fixture = |tx: &mut junctiondb::WriteTxn<'_>| -> Result<(Key, Key), Error> {
        let a = tx.insert("person", row! { "name" => "a" })?;
        let b = tx.insert("person", row! { "name" => "b" })?;
        let f = tx.insert("friendship", row! { "from_p" => a, "to_p" => b })?;
        tx.update(a, row! { "best" => f })?;
        Ok((a, b))
    };
    // The state after the remove alone, from a twin database.
    let expected = cascading_db()
        .write(|tx| {
            let (a, b) = fixture(tx)?;
            tx.related(a, "friends")?.remove([b])?;
            Ok::<_, Error>(snapshot(tx))
        })
        .unwrap();
    let db = cascading_db();
    db.write(|tx| {
        let (a, b) = fixture(tx)?;
        let gone = || Error::NotFound { table: "person".into(), id: a.id() };
        let mut m = tx.related(a, "friends")?;
        assert_eq!(m.remove([b])?, 1, "the remove itself succeeds");
        // Reads see no rows.
        assert!(!m.exists() && m.count() == 0 && !m.contains(b));
        assert_eq!((m.ids().count(), m.keys().count(), m.rows().count()), (0, 0, 0));
        assert_eq!(m.query().count(), 0);
        // Every write is refused.
        assert_eq!(m.create(row! { "name" => "c" }).unwrap_err(), gone());
        assert_eq!(m.create_with(row! { "name" => "c" }, row! {}).unwrap_err(), gone());
        assert_eq!(m.add([b]).unwrap_err(), gone());
        assert_eq!(m.add_with([b], row! {}).unwrap_err(), gone());
        assert_eq!(m.remove([b]).unwrap_err(), gone());
        assert_eq!(m.clear().unwrap_err(), gone());
        assert_eq!(m.set([b]).unwrap_err(), gone());
        assert_eq!(m.set(Vec::<Key>::new()).unwrap_err(), gone());
        assert_eq!(m.set_clearing([b], row! {}).unwrap_err(), gone());
        assert_eq!(m.get_or_create(row! { "name" => "b" }, row! {}).unwrap_err(), gone());
        assert_eq!(m.update_or_create(row! { "name" => "d" }, row! {}).unwrap_err(), gone());
        assert_eq!(m.get_or_create_with(row! { "name" => "d" }, row! {}, row! {}).unwrap_err(), gone());
        assert_eq!(m.update_or_create_with(row! { "name" => "d" }, row! {}, row! {}).unwrap_err(), gone());
        assert!(tx.get(a).is_none());
        assert_eq!(snapshot(tx), expected, "nothing changed after the remove");
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// Within one call: `set` removes the friendship that deletes its own row,
/// then would link the new target to the freed slot. With something left
/// to link it is `NotFound` and undone; with nothing left to link it
/// succeeds, as Django's `set` (a `remove`, then an `add` of nothing)
/// does. `remove` of several targets deletes their rows in one delete,
/// which takes the manager's row too. A target the removals delete is
/// `NotFound` as well.
#[test]
fn a_write_that_deletes_its_own_row_links_nothing_after() {
    let db = cascading_db();
    db.write(|tx| {
        let a = tx.insert("person", row! { "name" => "a" })?;
        let b = tx.insert("person", row! { "name" => "b" })?;
        let c = tx.insert("person", row! { "name" => "c" })?;
        let d = tx.insert("person", row! { "name" => "d" })?;
        let f = tx.insert("friendship", row! { "from_p" => a, "to_p" => b })?;
        tx.insert("friendship", row! { "from_p" => a, "to_p" => c })?;
        tx.update(a, row! { "best" => f })?;
        let before = snapshot(tx);
        let gone = Error::NotFound { table: "person".into(), id: a.id() };
        assert_eq!(tx.related(a, "friends")?.set([c, d]).unwrap_err(), gone);
        assert_eq!(snapshot(tx), before, "the removal is undone too");
        assert_eq!(tx.related(a, "friends")?.set_clearing([d], row! {}).unwrap_err(), gone);
        assert_eq!(snapshot(tx), before);
        // Nothing to add: the set succeeds and a is gone.
        tx.related(a, "friends")?.set([c])?;
        assert!(tx.get(a).is_none());
        assert_eq!(tx.count("friendship")?, 0, "a's friendships went with it");
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
    db.write(|tx| {
        let a = tx.insert("person", row! { "name" => "a" })?;
        let b = tx.insert("person", row! { "name" => "b" })?;
        let c = tx.insert("person", row! { "name" => "c" })?;
        let f = tx.insert("friendship", row! { "from_p" => a, "to_p" => b })?;
        tx.insert("friendship", row! { "from_p" => a, "to_p" => c })?;
        tx.update(a, row! { "best" => f })?;
        assert_eq!(tx.related(a, "friends")?.remove([b, c])?, 2, "one delete takes both");
        assert!(tx.get(a).is_none());
        assert_eq!(tx.count("friendship")?, 0);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
    // A target the removals delete by cascade is `NotFound` too (it was a
    // foreign key error naming id 0, read from the freed slot), undone.
    db.write(|tx| {
        let a = tx.insert("person", row! { "name" => "a" })?;
        let b = tx.insert("person", row! { "name" => "b" })?;
        let d = tx.insert("person", row! { "name" => "d" })?;
        let f = tx.insert("friendship", row! { "from_p" => a, "to_p" => b })?;
        tx.update(d, row! { "best" => f })?;
        let before = snapshot(tx);
        let gone = Error::NotFound { table: "person".into(), id: d.id() };
        assert_eq!(tx.related(a, "friends")?.set([d]).unwrap_err(), gone);
        assert_eq!(snapshot(tx), before);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn through_fields_pick_between_two_fks_to_the_same_table() {
    let db = db();
    db.write(|tx| {
        let g = tx.insert("group", row! { "name" => "g" })?;
        let a = tx.insert("person", row! { "name" => "a" })?;
        let inviter = tx.insert("person", row! { "name" => "i" })?;
        tx.related(g, "members")?.add_with([a], row! { "invite_reason" => "r", "inviter" => inviter })?;
        assert_eq!(member_ids(tx, g), [a.id()], "the inviter is not a member");
        assert_eq!(tx.related(inviter, "invites")?.count(), 1);
        // Deleting the inviter sets the column null and keeps the membership.
        let d = tx.delete(inviter)?;
        assert_eq!(d.count("membership"), 0);
        assert_eq!(member_ids(tx, g), [a.id()]);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn direct_through_writes_link_and_move_pairs() {
    let db = db();
    db.write(|tx| {
        let g = tx.insert("group", row! { "name" => "g" })?;
        let h = tx.insert("group", row! { "name" => "h" })?;
        let a = tx.insert("person", row! { "name" => "a" })?;
        let m = tx.insert("membership", row! { "group" => g, "person" => a, "invite_reason" => "x" })?;
        assert_eq!(member_ids(tx, g), [a.id()]);
        tx.update(m, row! { "group" => h })?;
        assert!(member_ids(tx, g).is_empty());
        assert_eq!(member_ids(tx, h), [a.id()]);
        let e = tx.insert("membership", row! { "group" => 99, "person" => a, "invite_reason" => "x" }).unwrap_err();
        assert!(matches!(e, Error::ForeignKey { id: 99, .. }), "{e}");
        tx.delete(m)?;
        assert!(member_ids(tx, h).is_empty());
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn deleting_either_endpoint_removes_exactly_its_through_rows() {
    let db = db();
    db.write(|tx| {
        let g = tx.insert("group", row! { "name" => "g" })?;
        let h = tx.insert("group", row! { "name" => "h" })?;
        let a = tx.insert("person", row! { "name" => "a" })?;
        let b = tx.insert("person", row! { "name" => "b" })?;
        tx.related(g, "members")?.add_with([a, b], row! { "invite_reason" => "r" })?;
        tx.related(h, "members")?.add_with([a], row! { "invite_reason" => "r" })?;
        let d = tx.delete(a)?;
        assert_eq!((d.count("person"), d.count("membership")), (1, 2));
        assert_eq!(member_ids(tx, g), [b.id()]);
        assert!(member_ids(tx, h).is_empty());
        let d = tx.delete(g)?;
        assert_eq!((d.count("group"), d.count("membership")), (1, 1));
        assert!(tx.get(b).is_some(), "the other endpoint is untouched");
        assert_eq!(tx.count("membership")?, 0);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// Persons with a symmetrical `friends` relation through `friendship`
/// (keys `a` and `b`, the second's reverse name `inbound`), whose extra
/// columns `extra` declares.
fn friendships(inbound: &'static str, extra: fn(&mut TableBuilder)) -> SchemaBuilder {
    Schema::builder()
        .table("person", |t| {
            t.many_to_many("friends", "self").through("friendship");
        })
        .table("friendship", move |t| {
            t.foreign_key("a", "person").related_name("out");
            t.foreign_key("b", "person").related_name(inbound);
            extra(t);
        })
}

#[test]
fn symmetrical_custom_through_mirrors_manager_writes_only() {
    let since = |t: &mut TableBuilder| {
        t.column("since", Type::Int).default(2000);
    };
    // `in_` ends with an underscore: a query name error (E308) as in Django.
    assert!(friendships("in_", since).build().unwrap_err().has("fields.E308"));
    let schema = friendships("inbound", since).build().unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        let x = tx.insert("person", row! {})?;
        let y = tx.insert("person", row! {})?;
        tx.related(x, "friends")?.add_with([y], row! { "since" => 2024 })?;
        assert_eq!(tx.count("friendship")?, 2);
        assert!(tx.scan("friendship")?.all(|r| r.int("since") == Some(2024)));
        assert!(tx.related(y, "friends")?.contains(x));
        tx.related(y, "friends")?.remove([x])?;
        assert_eq!(tx.count("friendship")?, 0);
        tx.insert("friendship", row! { "a" => x, "b" => y })?;
        assert!(!tx.related(y, "friends")?.contains(x), "direct writes are not mirrored");
        tx.related(x, "friends")?.add([y])?;
        assert!(tx.related(y, "friends")?.contains(x), "the manager heals the pair");
        assert_eq!(tx.count("friendship")?, 2);
        verify(tx);
        // A `set` that keeps the pair heals it too, with the defaults for
        // the new mirror row, and keeps the row it had.
        let mirror = tx.query("friendship")?.filter("a", y)?.keys()[0];
        tx.delete(mirror)?;
        tx.related(x, "friends")?.set_with([y], row! { "since" => 2030 })?;
        assert!(tx.related(y, "friends")?.contains(x), "a kept pair is healed by set");
        let since = |from: Key| tx.query("friendship")?.filter("a", from)?.values_list_flat("since");
        assert_eq!((since(x)?, since(y)?), (vec![Value::Int(2000)], vec![Value::Int(2030)]));
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn a_directed_self_relation_through_its_own_table_reads_the_first_key_as_the_source() {
    // Without through_fields, the first foreign key to the table is the
    // source and the second the target (SEMANTICS.md, section 1).
    let schema = Schema::builder()
        .table("person", |t| {
            t.many_to_many("follows", "self").symmetrical(false).through("follow").related_name("followers");
        })
        .table("follow", |t| {
            t.foreign_key("follower", "person").related_name("outgoing");
            t.foreign_key("followed", "person").related_name("incoming");
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        let (a, b) = (tx.insert("person", row! {})?, tx.insert("person", row! {})?);
        tx.insert("follow", row! { "follower" => a, "followed" => b })?;
        assert_eq!(tx.related(a, "follows")?.ids().collect::<Vec<_>>(), [b.id()]);
        assert_eq!(tx.related(b, "followers")?.ids().collect::<Vec<_>>(), [a.id()]);
        assert_eq!(tx.related(b, "follows")?.count(), 0, "directed");
        tx.related(b, "follows")?.add([a])?;
        let row = tx.find_by("follow", "follower", b.id())?;
        assert_eq!(row[0].int("followed_id"), Some(a.id()), "the manager writes the source into the first key");
        // From the reverse end: b's followers are written into the second
        // key, removed, set and cleared there, each leaving the other
        // direction alone.
        let c = tx.insert("person", row! {})?;
        assert_eq!(tx.related(b, "followers")?.add([c])?, 1);
        let followers = |tx: &WriteTxn<'_>, p: Key| -> Vec<i64> {
            let mut ids: Vec<i64> = View::related(tx, p, "followers").unwrap().ids().collect();
            ids.sort_unstable();
            ids
        };
        assert_eq!(followers(tx, b), [a.id(), c.id()]);
        assert_eq!(tx.related(c, "follows")?.ids().collect::<Vec<_>>(), [b.id()], "c follows b");
        assert_eq!(tx.related(b, "followers")?.remove([a])?, 1);
        assert_eq!(followers(tx, b), [c.id()]);
        assert!(tx.related(b, "follows")?.contains(a), "b still follows a");
        tx.related(b, "followers")?.set([a, b])?;
        assert_eq!(followers(tx, b), [a.id(), b.id()]);
        assert_eq!(tx.related(c, "follows")?.count(), 0);
        assert_eq!(tx.related(b, "followers")?.clear()?, 2);
        assert_eq!(tx.related(b, "follows")?.ids().collect::<Vec<_>>(), [a.id()], "b's own follow stays");
        assert_eq!(tx.count("follow")?, 1);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// `remove`, `clear` and `set` delete a custom through table's rows in one
/// delete, as Django's managers do with one query: a `Restrict` key from
/// one link row to another is satisfied when both go, whatever the order of
/// the targets (one row at a time, the first delete was refused when the
/// restricted row came first).
#[test]
fn link_rows_go_in_one_delete() {
    let schema = Schema::builder()
        .table("user", |t| {
            t.many_to_many("clubs", "club").through("membership");
        })
        .table("club", |_| {})
        .table("membership", |t| {
            t.foreign_key("user", "user");
            t.foreign_key("club", "club");
        })
        .table("transfer", |t| {
            t.foreign_key("from_m", "membership").on_delete(OnDelete::Restrict).related_name("outs");
            t.foreign_key("to_m", "membership").on_delete(OnDelete::Cascade).related_name("ins");
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    type Setup = (Key, Key, Key, Key);
    let setup = |tx: &mut WriteTxn<'_>| -> Result<Setup, Error> {
        let u = tx.insert("user", row! {})?;
        let (c1, c2) = (tx.insert("club", row! {})?, tx.insert("club", row! {})?);
        let m1 = tx.insert("membership", row! { "user" => u, "club" => c1 })?;
        let m2 = tx.insert("membership", row! { "user" => u, "club" => c2 })?;
        tx.insert("transfer", row! { "from_m" => m1, "to_m" => m2 })?;
        Ok((u, c1, c2, m1))
    };
    db.write(|tx| {
        let (u, c1, c2, _) = setup(tx)?;
        assert_eq!(tx.related(u, "clubs")?.remove([c1, c2])?, 2);
        assert_eq!((tx.count("membership")?, tx.count("transfer")?), (0, 0));
        let (u, c1, c2, _) = setup(tx)?;
        assert_eq!(tx.related(u, "clubs")?.remove([c2, c1])?, 2);
        let (u, ..) = setup(tx)?;
        assert_eq!(tx.related(u, "clubs")?.clear()?, 2);
        let (u, ..) = setup(tx)?;
        tx.related(u, "clubs")?.set(Vec::<Key>::new())?;
        assert_eq!((tx.count("membership")?, tx.count("transfer")?), (0, 0));
        // Alone, the restricted row is still refused, and nothing changes.
        let (u, c1, _, m1) = setup(tx)?;
        let before = snapshot(tx);
        let refused = tx.related(u, "clubs")?.remove([c1]);
        assert!(matches!(refused, Err(Error::Restricted { .. })), "{refused:?}");
        assert_eq!(snapshot(tx), before);
        assert!(tx.get(m1).is_some());
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn a_mirror_row_that_fails_undoes_its_pair() {
    // The mirror of a symmetrical custom through row takes the same
    // through defaults; a unique extra column then refuses it, and the
    // first row of the pair goes too: a pair is written whole or not at all.
    let schema = friendships("inbound", |t| {
        t.column("code", Type::Int).unique();
    })
    .build()
    .unwrap();
    let db = Database::new(schema);
    let (a, b) = db.write(|tx| Ok::<_, Error>((tx.insert("person", row! {})?, tx.insert("person", row! {})?))).unwrap();
    db.write(|tx| {
        let before = snapshot(tx);
        let e = tx.related(a, "friends")?.add_with([b], row! { "code" => 1 }).unwrap_err();
        assert!(matches!(e, Error::Unique { ref column, .. } if column == "code"), "{e:?}");
        assert_eq!(snapshot(tx), before);
        assert_eq!(tx.count("friendship")?, 0);
        // A self-link is one row, so the same defaults go in.
        assert_eq!(tx.related(a, "friends")?.add_with([a], row! { "code" => 1 })?, 1);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}
