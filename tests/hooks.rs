//! Change hooks (`Database::on_m2m_changed`, Django's `m2m_changed`): which
//! manager calls announce what, with which ids, what a hook sees, and that
//! a hook's error refuses the change and leaves the database as it was.

mod common;

use std::sync::{Arc, Mutex};

use common::{snapshot, verify};
use junctiondb::{
    row, Aggregate, Database, Error, HookTxn, Key, M2mAction, M2mChanged, OnDelete, Row, Schema, SchemaBuilder, Type,
    Value, ValueRef, View,
};

/// An auto-created relation (`groups`, reverse `user_set`), a custom
/// through (`clubs`, reverse `club_members`), a symmetrical self relation
/// (`friends`), relations without their constraint (`tags`, and `pals`,
/// symmetrical), and a reverse foreign key (`owned`).
fn db() -> Database {
    Database::new(schema())
}

fn schema() -> Schema {
    builder().build().unwrap()
}

fn builder() -> SchemaBuilder {
    Schema::builder()
        .table("group", |t| {
            t.column("name", Type::Text);
            t.foreign_key("owner", "user").nullable().on_delete(OnDelete::SetNull).related_name("owned");
        })
        .table("tag", |t| {
            t.column("name", Type::Text);
        })
        .table("user", |t| {
            t.column("name", Type::Text);
            t.many_to_many("groups", "group");
            t.many_to_many("clubs", "group").through("membership").related_name("club_members");
            t.many_to_many("friends", "self");
            t.many_to_many("tags", "tag").db_constraint(false);
            t.many_to_many("pals", "self").db_constraint(false);
        })
        .table("membership", |t| {
            t.foreign_key("user", "user").on_delete(OnDelete::Cascade);
            t.foreign_key("group", "group").on_delete(OnDelete::Cascade);
            t.column("role", Type::Text).default("member");
        })
}

/// One announcement as a test compares it: the action's name, the
/// instance's table and id, `reverse`, the model's name, the ids, and how
/// many links the instance's manager reads at that moment.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    action: &'static str,
    instance: (String, i64),
    reverse: bool,
    model: String,
    pk_set: Option<Vec<i64>>,
    links: usize,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// The `groups` relation's accessors.
const GROUPS: [&str; 2] = ["groups", "user_set"];

/// What `event` announces, with the instance's link count in the event's
/// view through its manager's accessor (`accessors`: the forward one, then
/// the reverse one).
fn seen(event: &M2mChanged<'_>, view: &View, accessors: [&str; 2]) -> Seen {
    let accessor = accessors[usize::from(event.reverse)];
    let name = |t| view.schema().table_name(t).to_owned();
    Seen {
        action: event.action.name(),
        instance: (name(event.instance.table()), event.instance.id()),
        reverse: event.reverse,
        model: name(event.model),
        pk_set: event.pk_set.map(<[i64]>::to_vec),
        links: view.related(event.instance, accessor).map(|r| r.count()).unwrap_or(usize::MAX),
    }
}

/// Registers a recording hook on `table.accessor`, which counts the links
/// of the instance through `count_through` (the forward and the reverse
/// accessor).
fn record(db: &Database, table: &str, accessor: &str, count_through: [&'static str; 2]) -> Log {
    let log = Log::default();
    let acc = db.schema().accessor(table, accessor).unwrap();
    let sink = Arc::clone(&log);
    db.on_m2m_changed(acc, move |e, tx| {
        sink.lock().unwrap().push(seen(e, tx, count_through));
        Ok(())
    })
    .unwrap();
    log
}

fn take(log: &Log) -> Vec<Seen> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn ev(action: &'static str, instance: Key, reverse: bool, model: &str, pk_set: Option<&[i64]>, links: usize) -> Seen {
    let table = if instance.id() >= 100 { "group" } else { "user" };
    Seen {
        action,
        instance: (table.to_owned(), instance.id()),
        reverse,
        model: model.to_owned(),
        pk_set: pk_set.map(<[i64]>::to_vec),
        links,
    }
}

/// Users 1..=4 and groups 100..=103 (explicit ids, so a group's id tells
/// its table in `ev`).
fn rows(db: &Database) -> (Vec<Key>, Vec<Key>) {
    db.write(|tx| {
        let users = (1..=4).map(|i| tx.insert("user", row! { "id" => i, "name" => format!("u{i}") }));
        let users = users.collect::<Result<Vec<_>, _>>()?;
        let groups = (100..=103).map(|i| tx.insert("group", row! { "id" => i, "name" => format!("g{i}") }));
        Ok::<_, Error>((users, groups.collect::<Result<Vec<_>, _>>()?))
    })
    .unwrap()
}

#[test]
fn add_announces_the_ids_it_links_before_and_after_linking_them() {
    let db = db();
    let log = record(&db, "user", "groups", GROUPS);
    let (u, g) = rows(&db);
    db.write(|tx| {
        tx.related(u[0], "groups")?.add([g[0]])?;
        // Already linked, repeated, and new: only the new one is announced.
        tx.related(u[0], "groups")?.add([g[1], g[0], g[1], g[2]])?;
        // Nothing new: both announcements, with no ids (Django sends them).
        tx.related(u[0], "groups")?.add([g[2]])?;
        // No targets: nothing announced.
        tx.related(u[0], "groups")?.add(Vec::<Key>::new())?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        take(&log),
        [
            ev("pre_add", u[0], false, "group", Some(&[100]), 0),
            ev("post_add", u[0], false, "group", Some(&[100]), 1),
            ev("pre_add", u[0], false, "group", Some(&[101, 102]), 1),
            ev("post_add", u[0], false, "group", Some(&[101, 102]), 3),
            ev("pre_add", u[0], false, "group", Some(&[]), 3),
            ev("post_add", u[0], false, "group", Some(&[]), 3),
        ]
    );
    verify(&db.begin_read().unwrap());
}

#[test]
fn the_reverse_manager_announces_with_reverse_set_and_the_other_model() {
    let db = db();
    let log = record(&db, "group", "user_set", GROUPS);
    let (u, g) = rows(&db);
    db.write(|tx| {
        tx.related(g[1], "user_set")?.add([u[2], u[0]])?;
        tx.related(g[1], "user_set")?.remove([u[0], u[3]])?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        take(&log),
        [
            ev("pre_add", g[1], true, "user", Some(&[1, 3]), 0),
            ev("post_add", g[1], true, "user", Some(&[1, 3]), 2),
            // Every id asked for, linked or not.
            ev("pre_remove", g[1], true, "user", Some(&[1, 4]), 2),
            ev("post_remove", g[1], true, "user", Some(&[1, 4]), 1),
        ]
    );
    // A hook registered through either end hears both ends' managers.
    let forward = db.write(|tx| tx.related(u[2], "groups")?.remove([g[1]])).unwrap();
    assert_eq!(forward, 1);
    assert_eq!(
        take(&log),
        [
            ev("pre_remove", u[2], false, "group", Some(&[101]), 1),
            ev("post_remove", u[2], false, "group", Some(&[101]), 0),
        ]
    );
}

#[test]
fn remove_clear_and_set_announce_as_django_does() {
    let db = db();
    let log = record(&db, "user", "groups", GROUPS);
    let (u, g) = rows(&db);
    db.write(|tx| tx.related(u[0], "groups")?.add([g[0], g[1], g[2]])).unwrap();
    take(&log);

    // `remove` of no targets announces nothing; `clear` always announces.
    db.write(|tx| {
        tx.related(u[0], "groups")?.remove(Vec::<Key>::new())?;
        tx.related(u[1], "groups")?.clear()
    })
    .unwrap();
    assert_eq!(
        take(&log),
        [ev("pre_clear", u[1], false, "group", None, 0), ev("post_clear", u[1], false, "group", None, 0)]
    );

    // `set`: a remove of what goes, then an add of what comes.
    db.write(|tx| tx.related(u[0], "groups")?.set([g[2], g[3], g[0]])).unwrap();
    assert_eq!(
        take(&log),
        [
            ev("pre_remove", u[0], false, "group", Some(&[101]), 3),
            ev("post_remove", u[0], false, "group", Some(&[101]), 2),
            ev("pre_add", u[0], false, "group", Some(&[103]), 2),
            ev("post_add", u[0], false, "group", Some(&[103]), 3),
        ]
    );
    // Nothing to change: nothing announced.
    db.write(|tx| tx.related(u[0], "groups")?.set([g[0], g[2], g[3]])).unwrap();
    assert_eq!(take(&log), []);

    // `set(clear=True)`: a clear, then an add of every target.
    db.write(|tx| tx.related(u[0], "groups")?.set_clearing([g[3], g[1]], Row::new())).unwrap();
    assert_eq!(
        take(&log),
        [
            ev("pre_clear", u[0], false, "group", None, 3),
            ev("post_clear", u[0], false, "group", None, 0),
            ev("pre_add", u[0], false, "group", Some(&[101, 103]), 0),
            ev("post_add", u[0], false, "group", Some(&[101, 103]), 2),
        ]
    );
    let linked: Vec<i64> = db.read(|tx| Ok::<_, Error>(tx.related(u[0], "groups")?.ids().collect())).unwrap();
    let mut linked = linked;
    linked.sort_unstable();
    assert_eq!(linked, [101, 103]);
    verify(&db.begin_read().unwrap());
}

#[test]
fn create_and_get_or_create_announce_the_new_row_after_inserting_it() {
    let db = db();
    let log = record(&db, "user", "groups", GROUPS);
    let (u, _) = rows(&db);
    let (made, found) = db
        .write(|tx| {
            let made = tx.related(u[0], "groups")?.create(row! { "id" => 200, "name" => "new" })?;
            let found = tx.related(u[0], "groups")?.get_or_create(row! { "name" => "new" }, Row::new())?;
            let other =
                tx.related(u[0], "groups")?.update_or_create(row! { "name" => "other" }, row! { "id" => 201 })?;
            Ok::<_, Error>((made, (found, other)))
        })
        .unwrap();
    assert_eq!((made.id(), found.0 .0, found.0 .1, found.1 .0.id(), found.1 .1), (200, made, false, 201, true));
    let log = take(&log);
    assert_eq!(
        log,
        [
            ev("pre_add", u[0], false, "group", Some(&[200]), 0),
            ev("post_add", u[0], false, "group", Some(&[200]), 1),
            ev("pre_add", u[0], false, "group", Some(&[201]), 1),
            ev("post_add", u[0], false, "group", Some(&[201]), 2),
        ]
    );
}

#[test]
fn a_symmetrical_relation_announces_once_with_the_ids_seen_from_the_manager() {
    let db = db();
    let log = record(&db, "user", "friends", ["friends", "friends"]);
    let (u, _) = rows(&db);
    db.write(|tx| {
        tx.related(u[0], "friends")?.add([u[1], u[2]])?;
        // The pair 1-2 exists from 2's side too: nothing new from there.
        tx.related(u[1], "friends")?.add([u[0]])?;
        tx.related(u[2], "friends")?.remove([u[0]])?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        take(&log),
        [
            ev("pre_add", u[0], false, "user", Some(&[2, 3]), 0),
            ev("post_add", u[0], false, "user", Some(&[2, 3]), 2),
            ev("pre_add", u[1], false, "user", Some(&[]), 1),
            ev("post_add", u[1], false, "user", Some(&[]), 1),
            ev("pre_remove", u[2], false, "user", Some(&[1]), 1),
            ev("post_remove", u[2], false, "user", Some(&[1]), 0),
        ]
    );
    let friends_of_1 = db.read(|tx| Ok::<_, Error>(tx.related(u[0], "friends")?.count())).unwrap();
    assert_eq!(friends_of_1, 1);
}

#[test]
fn custom_through_and_unconstrained_relations_announce_too() {
    let db = db();
    let clubs = record(&db, "user", "clubs", ["clubs", "club_members"]);
    let tags = record(&db, "user", "tags", ["tags", "user_set"]);
    let (u, g) = rows(&db);
    db.write(|tx| {
        tx.related(u[0], "clubs")?.add_with([g[0], g[1]], row! { "role" => "admin" })?;
        tx.related(u[0], "clubs")?.remove([g[0]])?;
        // No tag exists: dangling links, announced with their ids.
        tx.related(u[0], "tags")?.add([7, 8])?;
        tx.related(u[0], "tags")?.add([8])?;
        tx.related(u[0], "tags")?.set([9])?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        take(&clubs),
        [
            ev("pre_add", u[0], false, "group", Some(&[100, 101]), 0),
            ev("post_add", u[0], false, "group", Some(&[100, 101]), 2),
            ev("pre_remove", u[0], false, "group", Some(&[100]), 2),
            ev("post_remove", u[0], false, "group", Some(&[100]), 1),
        ]
    );
    // A dangling link is no related row: the manager's count stays 0.
    assert_eq!(
        take(&tags),
        [
            ev("pre_add", u[0], false, "tag", Some(&[7, 8]), 0),
            ev("post_add", u[0], false, "tag", Some(&[7, 8]), 0),
            ev("pre_add", u[0], false, "tag", Some(&[]), 0),
            ev("post_add", u[0], false, "tag", Some(&[]), 0),
            ev("pre_remove", u[0], false, "tag", Some(&[7, 8]), 0),
            ev("post_remove", u[0], false, "tag", Some(&[7, 8]), 0),
            ev("pre_add", u[0], false, "tag", Some(&[9]), 0),
            ev("post_add", u[0], false, "tag", Some(&[9]), 0),
        ]
    );
    verify(&db.begin_read().unwrap());
}

#[test]
fn deletes_direct_through_writes_and_other_relations_announce_nothing() {
    let db = db();
    let groups = record(&db, "user", "groups", GROUPS);
    let clubs = record(&db, "user", "clubs", ["clubs", "club_members"]);
    let (u, g) = rows(&db);
    db.write(|tx| {
        tx.related(u[0], "friends")?.add([u[1]])?;
        let through = tx.schema().through_table("user", "groups").expect("auto-created");
        tx.insert(through, row! { "user_id" => u[1], "group_id" => g[0] })?;
        tx.insert("membership", row! { "user" => u[1], "group" => g[1] })?;
        // Deleting an end removes its links with no announcement, as in
        // Django.
        tx.delete(u[1])?;
        tx.delete(g[2])?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!((take(&groups), take(&clubs)), (vec![], vec![]));
}

#[test]
fn a_refusing_hook_undoes_the_call_and_stops_the_hooks_after_it() {
    let db = db();
    let groups = db.schema().accessor("user", "groups").unwrap();
    // Refuses a fourth group before it is linked, and any state with group
    // 103 after a change.
    db.on_m2m_changed(groups, |e, tx| match (e.action, e.pk_set) {
        (M2mAction::PreAdd, Some(ids)) if tx.related(e.instance, "groups")?.count() + ids.len() > 3 => {
            Err(Error::vetoed("at most three groups"))
        }
        (M2mAction::PostAdd | M2mAction::PostRemove | M2mAction::PostClear, _)
            if tx.related(e.instance, "groups")?.ids().any(|id| id == 103) =>
        {
            Err(Error::vetoed("group 103 is closed"))
        }
        _ => Ok(()),
    })
    .unwrap();
    let later = record(&db, "user", "groups", GROUPS);
    let (u, g) = rows(&db);
    db.write(|tx| tx.related(u[0], "groups")?.add([g[0], g[1], g[2]])).unwrap();
    take(&later);
    let before = db.read(|tx| Ok::<_, Error>(snapshot(tx))).unwrap();

    let refused = [
        db.write(|tx| tx.related(u[0], "groups")?.add([g[3]]).map(|_| ())),
        db.write(|tx| tx.related(u[0], "groups")?.set([g[3]])),
        // The new row is inserted, refused at `pre_add`, and undone.
        db.write(|tx| tx.related(u[0], "groups")?.create(row! { "name" => "fourth" }).map(|_| ())),
    ];
    let reasons: Vec<String> = refused.iter().map(|r| r.clone().unwrap_err().to_string()).collect();
    let reason = |why: &str| format!("a change hook refused the change: {why}");
    assert_eq!(
        reasons,
        [reason("at most three groups"), reason("group 103 is closed"), reason("at most three groups")]
    );
    assert!(matches!(&refused[0], Err(Error::Vetoed { reason }) if reason == "at most three groups"));
    // The refusals before any change stop the later hook; `set`'s refusal
    // came from `post_add`, after the later hook heard `pre_remove`,
    // `post_remove` and `pre_add`.
    let actions: Vec<&str> = take(&later).iter().map(|s| s.action).collect();
    assert_eq!(actions, ["pre_remove", "post_remove", "pre_add"]);
    let after = db.read(|tx| Ok::<_, Error>(snapshot(tx))).unwrap();
    assert_eq!(after, before, "a refused call changes nothing");
    verify(&db.begin_read().unwrap());
}

#[test]
fn a_removed_hook_hears_nothing_and_only_many_to_many_accessors_take_hooks() {
    let db = db();
    let log = record(&db, "user", "groups", GROUPS);
    let (u, g) = rows(&db);
    let id = {
        let acc = db.schema().accessor("group", "user_set").unwrap();
        db.on_m2m_changed(acc, |_, _| Err(Error::vetoed("no"))).unwrap()
    };
    assert!(db.write(|tx| tx.related(u[0], "groups")?.add([g[0]])).is_err());
    assert_eq!(db.remove_hook(id), Ok(true));
    assert_eq!(db.remove_hook(id), Ok(false), "removed once");
    db.write(|tx| tx.related(u[0], "groups")?.add([g[0]])).unwrap();
    assert_eq!(take(&log).len(), 3, "pre_add of the refused call, then the accepted call's two");

    // A reverse foreign key's manager updates rows: no hook there.
    let owned = db.schema().accessor("user", "owned").unwrap();
    let refused = db.on_m2m_changed(owned, |_, _| Ok(()));
    assert!(matches!(refused, Err(Error::Unsupported { .. })), "{refused:?}");

    // An accessor of another schema is refused.
    let other = Database::new(schema());
    let foreign = other.schema().accessor("user", "groups").unwrap();
    assert!(matches!(db.on_m2m_changed(foreign, |_, _| Ok(())), Err(Error::UnknownAccessor { .. })));
    // One database's hook id removes nothing in another.
    assert_eq!(other.remove_hook(id), Ok(false));
}

#[test]
fn a_hook_cannot_open_a_transaction_on_its_database() {
    let db = Arc::new(Mutex::new(None::<Arc<Database>>));
    let fresh = self::db();
    let seen = Arc::clone(&db);
    let acc = fresh.schema().accessor("user", "groups").unwrap();
    fresh
        .on_m2m_changed(acc, move |_, _| {
            let guard = seen.lock().unwrap();
            let db = guard.as_ref().expect("set below");
            // This thread holds the write lock: refused, not a deadlock.
            db.read(|_| Ok::<_, Error>(())).map(|_| ())
        })
        .unwrap();
    let (u, g) = rows(&fresh);
    let fresh = Arc::new(fresh);
    *db.lock().unwrap() = Some(Arc::clone(&fresh));
    let refused = fresh.write(|tx| tx.related(u[0], "groups")?.add([g[0]]));
    assert_eq!(refused, Err(Error::Reentrant));
    let count = fresh.read(|tx| Ok::<_, Error>(tx.related(u[0], "groups")?.count())).unwrap();
    assert_eq!(count, 0);
    // The hook holds the database: break the cycle.
    *db.lock().unwrap() = None;
}

#[test]
fn a_panicking_hook_undoes_the_call_before_the_panic_goes_on() {
    let db = db();
    let clubs = db.schema().accessor("user", "clubs").unwrap();
    db.on_m2m_changed(clubs, |e, _| {
        if e.action == M2mAction::PostRemove {
            panic!("a hook's bug");
        }
        Ok(())
    })
    .unwrap();
    let (u, g) = rows(&db);
    db.write(|tx| tx.related(u[0], "clubs")?.add([g[0], g[1]])).unwrap();
    db.write(|tx| {
        let before = snapshot(tx);
        // Caught inside the transaction: the removal (a delete of two
        // through rows) is undone, and the transaction goes on.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = tx.related(u[0], "clubs").and_then(|mut m| m.remove([g[0], g[1]]));
        }));
        assert!(caught.is_err());
        assert_eq!(snapshot(tx), before);
        verify(tx);
        tx.related(u[1], "clubs")?.add([g[2]])
    })
    .unwrap();
    let clubs = db.read(|tx| Ok::<_, Error>((tx.count("membership")?, tx.related(u[0], "clubs")?.count()))).unwrap();
    assert_eq!(clubs, (3, 2));
}

/// A hook writes through another relation's manager (`related_at`) and
/// deletes rows with `delete_many`, link rows of an auto-created through
/// among them: its writes are the call's, and a `delete_many` the hook
/// gets wrong (a key that names no row) refuses the call, which undoes
/// everything, the hook's writes included.
#[test]
fn a_hook_writes_through_related_at_and_delete_many() {
    let db = db();
    let schema = db.schema();
    let (groups, clubs) = (schema.accessor("user", "groups").unwrap(), schema.accessor("user", "clubs").unwrap());
    let membership = schema.table("membership").unwrap();
    db.on_m2m_changed(groups, move |e, tx| {
        let Some(ids) = e.pk_set.filter(|_| !e.reverse) else { return Ok(()) };
        match e.action {
            // Every group joined is a club joined too.
            M2mAction::PostAdd => tx.related_at(e.instance, clubs)?.add(ids.to_vec()).map(drop),
            // Leaving a group leaves its club and drops the user's tags;
            // leaving group 103 also names a membership that is not there.
            M2mAction::PreRemove => {
                let view: &View = tx;
                let memberships =
                    view.query("membership")?.filter("user", e.instance)?.filter("group__in", ids.to_vec())?;
                let tags = view.query("user_tags")?.filter("user", e.instance)?;
                let mut doomed: Vec<Key> = memberships.keys().into_iter().chain(tags.keys()).collect();
                if ids.contains(&103) {
                    doomed.push(Key::new(membership, 999));
                }
                tx.delete_many(doomed).map(drop)
            }
            _ => Ok(()),
        }
    })
    .unwrap();
    let (u, g) = rows(&db);
    db.write(|tx| {
        tx.related(u[0], "tags")?.add([7, 8])?;
        tx.related(u[0], "groups")?.add([g[0], g[1], g[3]])?;
        let mut clubs: Vec<i64> = tx.related(u[0], "clubs")?.ids().collect();
        clubs.sort_unstable();
        assert_eq!(clubs, [g[0].id(), g[1].id(), g[3].id()]);
        assert_eq!(tx.count("user_tags")?, 2);
        let before = snapshot(tx);
        let refused = tx.related(u[0], "groups")?.remove([g[0], g[3]]);
        assert!(matches!(refused, Err(Error::NotFound { id: 999, .. })), "{refused:?}");
        assert_eq!(snapshot(tx), before, "the hook's deletes are undone with the call");
        assert_eq!(tx.related(u[0], "groups")?.remove([g[0]])?, 1);
        assert_eq!(tx.related(u[0], "clubs")?.count(), 2);
        assert!(!tx.related(u[0], "clubs")?.contains(g[0]));
        assert_eq!(tx.count("user_tags")?, 0, "the link rows went with the memberships");
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn set_clearing_with_no_targets_announces_the_clear_only_and_remove_names_missing_ids() {
    let db = db();
    let log = record(&db, "user", "clubs", ["clubs", "club_members"]);
    let (u, g) = rows(&db);
    db.write(|tx| {
        tx.related(g[0], "club_members")?.add([u[0]])?;
        tx.related(u[0], "clubs")?.set_clearing(Vec::<Key>::new(), Row::new())?;
        // 999 names no group: asked for, so announced.
        tx.related(u[0], "clubs")?.remove([999, 100])
    })
    .unwrap();
    assert_eq!(
        take(&log),
        [
            ev("pre_add", g[0], true, "user", Some(&[1]), 0),
            ev("post_add", g[0], true, "user", Some(&[1]), 1),
            ev("pre_clear", u[0], false, "group", None, 1),
            ev("post_clear", u[0], false, "group", None, 0),
            ev("pre_remove", u[0], false, "group", Some(&[100, 999]), 0),
            ev("post_remove", u[0], false, "group", Some(&[100, 999]), 0),
        ]
    );
}

#[test]
fn a_refused_remove_of_custom_through_rows_undoes_their_cascade() {
    let schema = Schema::builder()
        .table("group", |t| {
            t.column("name", Type::Text);
        })
        .table("user", |t| {
            t.many_to_many("clubs", "group").through("membership");
        })
        .table("membership", |t| {
            t.foreign_key("user", "user");
            t.foreign_key("group", "group");
        })
        // A note per membership, deleted with it.
        .table("note", |t| {
            t.foreign_key("membership", "membership").on_delete(OnDelete::Cascade);
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    let clubs = db.schema().accessor("user", "clubs").unwrap();
    db.on_m2m_changed(clubs, |e, _| match e.action {
        M2mAction::PostRemove | M2mAction::PostClear => Err(Error::vetoed("memberships are kept")),
        _ => Ok(()),
    })
    .unwrap();
    let u = db
        .write(|tx| {
            let u = tx.insert("user", row! {})?;
            let g = tx.insert("group", row! { "name" => "g" })?;
            tx.related(u, "clubs")?.add([g])?;
            let m = tx.query("membership")?.keys()[0];
            tx.insert("note", row! { "membership" => m })?;
            Ok::<_, Error>(u)
        })
        .unwrap();
    let before = db.read(|tx| Ok::<_, Error>(snapshot(tx))).unwrap();
    let refused = db.write(|tx| tx.related(u, "clubs")?.clear());
    assert_eq!(refused, Err(Error::vetoed("memberships are kept")));
    assert_eq!(db.read(|tx| Ok::<_, Error>(snapshot(tx))).unwrap(), before);
    verify(&db.begin_read().unwrap());
}

/// The id of one of the six users of `a_hook_changes_no_result_and_no_state`.
fn user(rng: &mut common::Rng) -> i64 {
    rng.below(6) as i64 + 1
}

/// The id of one of its six groups.
fn group(rng: &mut common::Rng) -> i64 {
    rng.below(6) as i64 + 100
}

/// One random manager call (or a direct write) on `tx`, described by
/// `rng`'s draws; its result as text, so that two databases' answers can
/// be compared.
fn random_call(tx: &mut junctiondb::WriteTxn<'_>, rng: &mut common::Rng) -> String {
    let (table, accessor, other): (&str, &str, fn(&mut common::Rng) -> i64) = match rng.below(8) {
        0 => ("user", "groups", group),
        1 => ("group", "user_set", user),
        2 => ("user", "clubs", group),
        3 => ("group", "club_members", user),
        4 => ("user", "friends", user),
        5 => ("user", "tags", |r| r.below(4) as i64 + 1),
        6 => ("user", "pals", |r| r.below(8) as i64 + 1),
        _ => ("user", "owned", group),
    };
    let me = if table == "user" { user(rng) } else { group(rng) };
    let me = Key::new(tx.schema().table(table).unwrap(), me);
    let targets: Vec<i64> = (0..rng.below(4)).map(|_| other(rng)).collect();
    let result = match rng.below(10) {
        0 | 1 => tx.related(me, accessor).and_then(|mut m| m.add(&targets)).map(|n| n.to_string()),
        2 => tx.related(me, accessor).and_then(|mut m| m.remove(&targets)).map(|n| n.to_string()),
        3 => tx.related(me, accessor).and_then(|mut m| m.clear()).map(|n| n.to_string()),
        4 => tx.related(me, accessor).and_then(|mut m| m.set(&targets)).map(|()| String::new()),
        5 => tx.related(me, accessor).and_then(|mut m| m.set_clearing(&targets, Row::new())).map(|()| String::new()),
        // Every table at the other end has a `name` (a tag's id may be a
        // dangling link's, which the new row then makes real).
        6 => tx.related(me, accessor).and_then(|mut m| m.create(row! { "name" => "made" })).map(|k| format!("{k:?}")),
        7 => tx
            .related(me, accessor)
            .and_then(|mut m| m.get_or_create(row! { "name" => "made" }, Row::new()))
            .map(|k| format!("{k:?}")),
        // A half-written symmetrical pair, dangling or not.
        8 => {
            let through = tx.schema().through_table("user", if rng.chance(50) { "pals" } else { "friends" }).unwrap();
            let (a, b) = (user(rng), rng.below(8) as i64 + 1);
            tx.insert(through, row! { "from_user_id" => a, "to_user_id" => b }).map(|k| format!("{k:?}"))
        }
        _ => {
            let victim = if rng.chance(50) {
                Key::new(tx.schema().table("user").unwrap(), user(rng))
            } else {
                Key::new(tx.schema().table("group").unwrap(), group(rng))
            };
            tx.delete(victim).map(|d| format!("{d:?}"))
        }
    };
    format!("{result:?}")
}

#[test]
fn a_hook_changes_no_result_and_no_state() {
    let schema = schema();
    let (plain, hooked) = (Database::new(schema.clone()), Database::new(schema));
    // A hook that accepts everything on every many-to-many relation.
    for (table, accessor) in
        [("user", "groups"), ("user", "clubs"), ("user", "friends"), ("user", "tags"), ("user", "pals")]
    {
        let acc = hooked.schema().accessor(table, accessor).unwrap();
        hooked.on_m2m_changed(acc, |_, _| Ok(())).unwrap();
    }
    for db in [&plain, &hooked] {
        db.write(|tx| {
            for i in 1..=6 {
                tx.insert("user", row! { "id" => i, "name" => format!("u{i}") })?;
                tx.insert("group", row! { "id" => i + 99, "name" => format!("g{i}") })?;
            }
            // Membership rows go to freed slots, as user rows do once
            // `restock` gives back ids out of step.
            reuse_membership_slots(tx)
        })
        .unwrap();
    }
    for seed in 0..200 {
        let answers: Vec<Vec<String>> = [&plain, &hooked]
            .map(|db| {
                let mut rng = common::Rng(seed);
                db.write(|tx| Ok::<_, Error>((0..40).map(|_| random_call(tx, &mut rng)).collect())).unwrap()
            })
            .to_vec();
        assert_eq!(answers[0], answers[1], "seed {seed}");
        let states = [&plain, &hooked].map(|db| db.read(|tx| Ok::<_, Error>(snapshot(tx))).unwrap());
        assert_eq!(states[0], states[1], "seed {seed}");
        verify(&hooked.begin_read().unwrap());
    }
}

/// Makes new membership rows go to freed slots from now on (see
/// `common::leave_identity`); user 1 and group 100 must exist.
fn reuse_membership_slots(tx: &mut junctiondb::WriteTxn<'_>) -> Result<(), Error> {
    common::leave_identity(tx, vec![("membership", row! { "user" => 1, "group" => 100 })])
}

/// Makes again, with no link, the users and groups `random_call` draws
/// that an earlier call deleted.
fn restock(tx: &mut junctiondb::WriteTxn<'_>) -> Result<(), Error> {
    for i in 1..=6 {
        for (table, id) in [("user", i), ("group", i + 99)] {
            if tx.key(table, id)?.is_none() {
                tx.insert(table, row! { "id" => id, "name" => format!("{table}{id}") })?;
            }
        }
    }
    Ok(())
}

#[test]
fn hooks_that_write_a_row_per_announcement_change_no_other_result() {
    let schema = builder()
        .table("event", |t| {
            t.column("what", Type::Text);
        })
        .build()
        .unwrap();
    let (plain, hooked) = (Database::new(schema.clone()), Database::new(schema));
    // Each announcement, as the hooks heard it during the current call.
    let heard = Arc::new(Mutex::new(Vec::<String>::new()));
    for (table, accessor) in
        [("user", "groups"), ("user", "clubs"), ("user", "friends"), ("user", "tags"), ("user", "pals")]
    {
        let acc = hooked.schema().accessor(table, accessor).unwrap();
        let heard = Arc::clone(&heard);
        // A hook that writes a row per announcement, in the call's
        // transaction.
        hooked
            .on_m2m_changed(acc, move |e, tx| {
                let what = format!("{accessor} {} {:?} {:?}", e.action.name(), e.instance, e.pk_set);
                heard.lock().unwrap().push(what.clone());
                tx.insert("event", row! { "what" => what }).map(|_| ())
            })
            .unwrap();
    }
    let without_events = |db: &Database| {
        let mut state = db.read(|tx| Ok::<_, Error>(snapshot(tx))).unwrap();
        state.retain(|(table, _)| table != "event");
        state
    };
    // The rows the hooks wrote, in order: a refused call (in this schema,
    // always refused before it announces) writes none.
    let mut kept = Vec::new();
    for seed in 0..100 {
        let answers: Vec<Vec<String>> = [&plain, &hooked]
            .map(|db| {
                let mut rng = common::Rng(seed);
                db.write(|tx| {
                    restock(tx)?;
                    if seed == 0 {
                        reuse_membership_slots(tx)?;
                    }
                    let mut answers = Vec::new();
                    for _ in 0..40 {
                        let answer = random_call(tx, &mut rng);
                        let heard = std::mem::take(&mut *heard.lock().unwrap());
                        if answer.starts_with("Ok") {
                            kept.extend(heard);
                        }
                        answers.push(answer);
                    }
                    Ok::<_, Error>(answers)
                })
                .unwrap()
            })
            .to_vec();
        assert_eq!(answers[0], answers[1], "seed {seed}");
        assert_eq!(without_events(&plain), without_events(&hooked), "seed {seed}");
        let logged = hooked.read(|tx| {
            let events = tx.scan("event")?.map(|r| r.text("what").unwrap_or_default().to_owned());
            Ok::<_, Error>(events.collect::<Vec<_>>())
        });
        assert_eq!(logged.unwrap(), kept, "seed {seed}");
        verify(&hooked.begin_read().unwrap());
    }
    assert!(kept.len() > 4000, "{} rows kept", kept.len());
}

#[test]
fn a_hooked_set_completes_a_half_written_dangling_pair_as_an_unhooked_one() {
    let schema = schema();
    let (plain, hooked) = (Database::new(schema.clone()), Database::new(schema));
    let log = record(&hooked, "user", "pals", ["pals", "pals"]);
    let states = [&plain, &hooked].map(|db| {
        db.write(|tx| {
            let me = tx.insert("user", row! { "name" => "me" })?;
            // User 999 does not exist: one half of a dangling pair.
            let through = tx.schema().through_table("user", "pals").expect("auto-created");
            tx.insert(through, row! { "from_user_id" => me, "to_user_id" => 999 })?;
            tx.related(me, "pals")?.set([999])?;
            Ok::<_, Error>(())
        })
        .unwrap();
        db.read(|tx| Ok::<_, Error>(snapshot(tx))).unwrap()
    });
    assert_eq!(states[0], states[1]);
    let pals = &states[1].iter().find(|(t, _)| t == "user_pals").expect("a table").1;
    assert_eq!(pals.len(), 2, "both halves: {pals:?}");
    // Already linked from `me`: an add with no new id.
    let me = Key::new(hooked.schema().table("user").unwrap(), 1);
    assert_eq!(
        take(&log),
        [ev("pre_add", me, false, "user", Some(&[]), 0), ev("post_add", me, false, "user", Some(&[]), 0)]
    );
}

/// `set` heals a kept symmetrical pair whose mirror row is missing before
/// any hook runs, and announces nothing for it: a `set` that only heals
/// is silent, as a `set` with nothing to change. A friend that a removal's
/// hook unlinks meanwhile stays unlinked, as the `set` docs promise (the
/// heal looked at the state the call started from).
#[test]
fn a_set_heals_a_kept_half_written_pair_unannounced_before_its_hooks() {
    let db = db();
    let log = record(&db, "user", "friends", ["friends", "friends"]);
    let (u, _) = rows(&db);
    // Links u0 to `friend`, then deletes u1's row of its pair with u0
    // directly: (u0, u1) stays without its mirror.
    let link_and_unmirror = |friend: Key| {
        db.write(|tx| {
            tx.related(u[0], "friends")?.add([friend])?;
            let through = tx.schema().through_table("user", "friends").expect("auto-created");
            let mirror = tx.query(through)?.filter("from_user", u[1])?.keys()[0];
            tx.delete(mirror)?;
            Ok::<_, Error>(())
        })
        .unwrap();
    };
    link_and_unmirror(u[1]);
    take(&log);
    db.write(|tx| tx.related(u[0], "friends")?.set([u[1]])).unwrap();
    assert_eq!(take(&log), [], "a heal is not a link: nothing announced");
    let back = db.read(|tx| Ok::<_, Error>(tx.related(u[1], "friends")?.contains(u[0]))).unwrap();
    assert!(back, "the mirror is back");
    // Now u0 has u1 (whole) and u2; u1's mirror goes again. A hook on the
    // removal of u2 unlinks u1 as well: the set keeps u1's pair in its
    // plan, heals it first, and the hook's unlink stands.
    link_and_unmirror(u[2]);
    let acc = db.schema().accessor("user", "friends").unwrap();
    let (other, trigger) = (u[1], u[2].id());
    db.on_m2m_changed(acc, move |e, tx| {
        if e.action == M2mAction::PreRemove && e.pk_set == Some(&[trigger][..]) {
            tx.related(e.instance, "friends")?.remove([other])?;
        }
        Ok(())
    })
    .unwrap();
    take(&log);
    db.write(|tx| tx.related(u[0], "friends")?.set([u[1]])).unwrap();
    let friends = db.read(|tx| Ok::<_, Error>(tx.related(u[0], "friends")?.ids().collect::<Vec<_>>())).unwrap();
    assert!(friends.is_empty(), "u2 removed by the set, u1 by its hook: {friends:?}");
    let log = take(&log);
    assert_eq!(
        log.iter().map(|s| s.action).collect::<Vec<_>>(),
        ["pre_remove", "pre_remove", "post_remove", "post_remove"]
    );
    db.read(|tx| tx.verify().map_err(|e| Error::Unsupported { table: e, reason: String::new() })).unwrap();
}

/// Groups that keep their member counts (`size` through `groups`,
/// `club_size` through the custom through `clubs`), users, and memberships.
fn counted_schema() -> Schema {
    Schema::builder()
        .table("group", |t| {
            t.column("name", Type::Text);
            t.column("size", Type::Int).default(0);
            t.column("club_size", Type::Int).default(0);
        })
        .table("user", |t| {
            t.column("name", Type::Text);
            t.many_to_many("groups", "group");
            t.many_to_many("clubs", "group").through("membership").related_name("club_members");
        })
        .table("membership", |t| {
            t.foreign_key("user", "user").on_delete(OnDelete::Cascade);
            t.foreign_key("group", "group").on_delete(OnDelete::Cascade);
        })
        .build()
        .unwrap()
}

/// Keeps `column` of every group equal to its link count through the
/// relation of `accessors` (the user's, then the group's), as a Django
/// receiver keeps a denormalized count: after each change, from either
/// end; for a user's `clear`, the groups it had are remembered at
/// `pre_clear`.
fn keep_count(db: &Database, accessors: [&'static str; 2], column: &'static str) {
    let cleared = Arc::new(Mutex::new(Vec::<Key>::new()));
    let acc = db.schema().accessor("user", accessors[0]).unwrap();
    db.on_m2m_changed(acc, move |e, tx| {
        let groups: Vec<Key> = match (e.action, e.reverse, e.pk_set) {
            (M2mAction::PreClear, false, _) => {
                *cleared.lock().unwrap() = tx.related(e.instance, accessors[0])?.keys().collect();
                return Ok(());
            }
            (M2mAction::PostClear, false, _) => std::mem::take(&mut *cleared.lock().unwrap()),
            // The instance is the group.
            (M2mAction::PostAdd | M2mAction::PostRemove | M2mAction::PostClear, true, _) => vec![e.instance],
            // A removed id may name no group.
            (M2mAction::PostAdd | M2mAction::PostRemove, false, Some(ids)) => {
                ids.iter().map(|&id| Key::new(e.model, id)).filter(|&g| tx.get(g).is_some()).collect()
            }
            _ => return Ok(()),
        };
        for group in groups {
            let n = tx.related(group, accessors[1])?.count();
            // One count through `update`, the other through `update_many`.
            if column == "size" {
                tx.update(group, row! { column => n as i64 })?;
            } else {
                assert_eq!(tx.update_many([group, group], row! { column => n as i64 })?, 1);
            }
        }
        Ok(())
    })
    .unwrap();
}

/// Every group's kept counts against its links.
fn counts_hold(view: &View) -> Result<(), String> {
    for g in view.query("group").unwrap().keys() {
        let row = view.get(g).unwrap();
        for (column, accessor) in [("size", "user_set"), ("club_size", "club_members")] {
            let (kept, links) = (row.get(column), view.related(g, accessor).unwrap().count());
            if kept != Some(ValueRef::Int(links as i64)) {
                return Err(format!("group {}: {column} {kept:?}, {links} links", g.id()));
            }
        }
    }
    Ok(())
}

#[test]
fn hooks_that_write_keep_a_count_and_a_refusal_undoes_their_writes() {
    let db = Database::new(counted_schema());
    keep_count(&db, ["groups", "user_set"], "size");
    keep_count(&db, ["clubs", "club_members"], "club_size");
    // Registered after the counter, so it reads the count the counter just
    // wrote: a group takes at most four members.
    let groups = db.schema().accessor("user", "groups").unwrap();
    db.on_m2m_changed(groups, |e, tx| {
        let (M2mAction::PostAdd, Some(ids)) = (e.action, e.pk_set) else { return Ok(()) };
        let touched = if e.reverse { vec![e.instance] } else { ids.iter().map(|&id| Key::new(e.model, id)).collect() };
        let full = touched
            .iter()
            .any(|&g| tx.get(g).and_then(|r| r.get("size")).is_some_and(|s| matches!(s, ValueRef::Int(n) if n > 4)));
        if full {
            return Err(Error::vetoed("a group takes at most four members"));
        }
        Ok(())
    })
    .unwrap();
    db.write(|tx| {
        for i in 1..=8 {
            tx.insert("user", row! { "id" => i, "name" => format!("u{i}") })?;
        }
        for i in 100..=103 {
            tx.insert("group", row! { "id" => i, "name" => format!("g{i}") })?;
        }
        reuse_membership_slots(tx)
    })
    .unwrap();
    let (mut refused, mut calls) = (0, 0);
    for seed in 0..60 {
        let mut rng = common::Rng(seed);
        db.write(|tx| {
            for _ in 0..30 {
                let (table, accessor) = rng.pick(&[
                    ("user", "groups"),
                    ("group", "user_set"),
                    ("user", "clubs"),
                    ("group", "club_members"),
                ]);
                let (me, others) = if table == "user" { (1..=8, 100..=103) } else { (100..=103, 1..=8) };
                let pick = |rng: &mut common::Rng, r: std::ops::RangeInclusive<i64>| {
                    r.clone().nth(rng.below(r.count())).unwrap()
                };
                let me = Key::new(tx.schema().table(table).unwrap(), pick(&mut rng, me));
                let Some(me) = tx.get(me).map(|r| r.key()) else { continue };
                let targets: Vec<i64> = (0..rng.below(4)).map(|_| pick(&mut rng, others.clone())).collect();
                let before = snapshot(tx);
                let mut m = tx.related(me, accessor)?;
                let result = match rng.below(6) {
                    0 | 1 => m.add(&targets).map(|_| ()),
                    2 => m.remove(&targets).map(|_| ()),
                    3 => m.clear().map(|_| ()),
                    4 => m.set(&targets),
                    _ => m.set_clearing(&targets, Row::new()),
                };
                calls += 1;
                match result {
                    Ok(()) => {}
                    Err(Error::Vetoed { .. }) => {
                        refused += 1;
                        assert_eq!(snapshot(tx), before, "seed {seed}: a refused call and its hooks' writes undone");
                    }
                    Err(e) => panic!("seed {seed}: {e}"),
                }
                if let Err(wrong) = counts_hold(tx) {
                    panic!("seed {seed}: {wrong}");
                }
                verify(tx);
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    }
    // Both outcomes are exercised, on membership rows in reused slots.
    assert!(refused > 20 && refused < calls / 2, "{refused} of {calls} refused");
    assert!(db.read(|tx| Ok::<_, Error>(common::slots_reused(tx, "membership"))).unwrap());
    let held = db.read(|tx| Ok::<_, Error>(counts_hold(tx)));
    assert_eq!(held, Ok(Ok(())));
}

#[test]
fn a_hook_that_deletes_a_row_of_the_call_makes_it_not_found() {
    // Which row the `pre_add` hook of `groups` deletes: the instance (a
    // user) or the first id announced (a group); `refill`: whether it then
    // inserts a row of that table, which takes the freed slot.
    for (instance, refill) in [(true, false), (true, true), (false, false), (false, true)] {
        let db = db();
        let groups = db.schema().accessor("user", "groups").unwrap();
        db.on_m2m_changed(groups, move |e, tx| {
            if let (M2mAction::PreAdd, Some(&[first, ..])) = (e.action, e.pk_set) {
                let victim = if instance { e.instance } else { Key::new(e.model, first) };
                tx.delete(victim)?;
                if refill {
                    // Freed slots are reused last in, first out.
                    tx.insert(victim.table(), row! { "name" => "new" })?;
                }
            }
            Ok(())
        })
        .unwrap();
        let (u, g) = rows(&db);
        let before = db.read(|tx| Ok::<_, Error>(snapshot(tx))).unwrap();
        let refused = db.write(|tx| tx.related(u[0], "groups")?.add([g[1], g[2]]));
        let (table, id) = if instance { ("user", u[0].id()) } else { ("group", g[1].id()) };
        assert_eq!(refused, Err(Error::NotFound { table: table.into(), id }), "{instance} {refill}");
        // The hook's writes went with the call.
        assert_eq!(db.read(|tx| Ok::<_, Error>(snapshot(tx))).unwrap(), before);
    }

    // On a relation without its constraint, a target the hook deleted is
    // linked as a dangling link, as Django (with no constraint to fail)
    // would store it.
    let db = db();
    let tags = db.schema().accessor("user", "tags").unwrap();
    db.on_m2m_changed(tags, |e, tx| {
        if let (M2mAction::PreAdd, Some(&[first])) = (e.action, e.pk_set) {
            tx.delete(Key::new(e.model, first))?;
        }
        Ok(())
    })
    .unwrap();
    let (u, _) = rows(&db);
    let linked = db.write(|tx| {
        let tag = tx.insert("tag", row! { "name" => "t" })?;
        tx.related(u[0], "tags")?.add([tag])?;
        let tags: Vec<i64> = tx.related(u[0], "tags")?.ids().collect();
        Ok::<_, Error>((tx.get(tag).is_some(), tags, tx.count("user_tags")?))
    });
    // The manager reads live rows only; the through table has the link.
    assert_eq!(linked, Ok((false, vec![], 1)));
}

#[test]
fn a_post_hook_that_deletes_the_managers_row_leaves_the_call_done_and_the_manager_blind() {
    let db = db();
    let groups = db.schema().accessor("user", "groups").unwrap();
    // After an add from user 1's end: deletes the user, inserts a user
    // that takes its slot (its id, 50, is out of step, so the table
    // reuses the freed slot), and links that one to group 103.
    db.on_m2m_changed(groups, |e, tx| {
        if e.action == M2mAction::PostAdd && !e.reverse && e.instance.id() == 1 {
            tx.delete(e.instance)?;
            let new = tx.insert("user", row! { "id" => 50, "name" => "new" })?;
            tx.related(new, "groups")?.add([Key::new(e.model, 103)])?;
        }
        Ok(())
    })
    .unwrap();
    let (u, g) = rows(&db);
    let seen = db.write(|tx| {
        let mut m = tx.related(u[0], "groups")?;
        let added = m.add([g[0]])?;
        // The call is done; the manager's row is gone, and the new row in
        // its slot is not its.
        let reads = (m.count(), m.ids().count(), m.contains(g[3]), m.exists(), m.query().count());
        let writes = (m.add([g[1]]), m.remove([g[0]]), m.clear());
        // Taken by value, its query is as blind.
        let kept = m.into_query();
        let taken = (kept.count(), kept.aggregate("id", Aggregate::Count)?);
        Ok::<_, Error>((added, reads, writes, taken))
    });
    let gone = || Err(Error::NotFound { table: "user".into(), id: u[0].id() });
    assert_eq!(seen, Ok((1, (0, 0, false, false, 0), (gone(), gone(), gone()), (0, Value::Int(0)))));
    let new_links = db.read(|tx| {
        let in_slot = tx.scan("user")?.next().map(|r| r.id());
        Ok::<_, Error>((in_slot, tx.related(Key::new(u[0].table(), 50), "groups")?.count()))
    });
    assert_eq!(new_links, Ok((Some(50), 1)), "user 50 in user 1's slot, with its link");
    verify(&db.begin_read().unwrap());

    // A `set` whose removal's hook deletes the row refuses its add, with
    // no `pre_add` heard, even when it only adds dangling links.
    let db = self::db();
    let tags = db.schema().accessor("user", "tags").unwrap();
    db.on_m2m_changed(tags, |e, tx| {
        if e.action == M2mAction::PostRemove {
            tx.delete(e.instance)?;
        }
        Ok(())
    })
    .unwrap();
    let log = record(&db, "user", "tags", ["tags", "tags"]);
    let (u, _) = rows(&db);
    db.write(|tx| tx.related(u[0], "tags")?.add([7])).unwrap();
    take(&log);
    let refused = db.write(|tx| tx.related(u[0], "tags")?.set([8]));
    assert_eq!(refused, Err(Error::NotFound { table: "user".into(), id: u[0].id() }));
    let actions: Vec<&str> = take(&log).iter().map(|s| s.action).collect();
    assert_eq!(actions, ["pre_remove", "post_remove"]);
}

#[test]
fn a_target_a_pre_add_hook_unlinked_is_linked_again_and_named_at_post_add() {
    let db = db();
    let groups = db.schema().accessor("user", "groups").unwrap();
    // Before an add, unlinks every group the user has.
    db.on_m2m_changed(groups, |e, tx| {
        if e.action == M2mAction::PreAdd && !e.reverse {
            tx.related(e.instance, "groups")?.clear()?;
        }
        Ok(())
    })
    .unwrap();
    let log = record(&db, "user", "groups", GROUPS);
    let (u, g) = rows(&db);
    db.write(|tx| tx.related(u[0], "groups")?.add([g[0]])).unwrap();
    take(&log);
    let linked = db.write(|tx| {
        tx.related(u[0], "groups")?.add([g[0], g[1]])?;
        Ok::<_, Error>(tx.related(u[0], "groups")?.ids().collect::<Vec<_>>())
    });
    assert_eq!(linked, Ok(vec![100, 101]));
    let heard: Vec<_> = take(&log).into_iter().map(|s| (s.action, s.pk_set, s.links)).collect();
    assert_eq!(
        heard,
        [
            // The first hook's clear, heard before the add (this hook
            // was registered after it).
            ("pre_clear", None, 1),
            ("post_clear", None, 0),
            // 100 was linked when `pre_add` was announced: only 101 new.
            ("pre_add", Some(vec![101]), 0),
            // Both were linked by the call.
            ("post_add", Some(vec![100, 101]), 2),
        ]
    );
}

#[test]
fn a_remove_after_a_hook_replaced_its_target_leaves_the_new_row_linked() {
    let db = db();
    let groups = db.schema().accessor("user", "groups").unwrap();
    // Before the removal: deletes the group to remove, makes a new one
    // (which may take the freed slot) and links it through the same
    // relation, a change announced to this hook in turn.
    db.on_m2m_changed(groups, |e, tx| {
        if let (M2mAction::PreRemove, Some(&[gone])) = (e.action, e.pk_set) {
            tx.delete(Key::new(e.model, gone))?;
            let new = tx.insert(e.model, row! { "name" => "new" })?;
            tx.related(e.instance, "groups")?.add([new])?;
        }
        Ok(())
    })
    .unwrap();
    let log = record(&db, "user", "groups", GROUPS);
    let (u, g) = rows(&db);
    let removed = db.write(|tx| {
        tx.related(u[0], "groups")?.add([g[0], g[1]])?;
        tx.related(u[0], "groups")?.remove([g[0]])
    });
    // Its links went with the deleted group: none left to remove.
    assert_eq!(removed, Ok(0));
    let linked: Vec<i64> = db.read(|tx| Ok::<_, Error>(tx.related(u[0], "groups")?.ids().collect())).unwrap();
    assert_eq!(linked, [g[1].id(), 104]);
    let actions: Vec<_> = take(&log).iter().map(|s| (s.action, s.pk_set.clone())).collect();
    assert_eq!(
        actions,
        [
            ("pre_add", Some(vec![100, 101])),
            ("post_add", Some(vec![100, 101])),
            // The first hook's add, nested in its `pre_remove`: this hook,
            // registered after it, hears the add before the removal.
            ("pre_add", Some(vec![104])),
            ("post_add", Some(vec![104])),
            ("pre_remove", Some(vec![100])),
            ("post_remove", Some(vec![100])),
        ]
    );
    verify(&db.begin_read().unwrap());
}

#[test]
fn hooks_nest_to_a_bound_and_a_runaway_hook_is_refused_whole() {
    // Befriending `n` befriends `n + 1` from `n`'s end, up to `last`: a
    // chain of nested announcements, one level per friendship.
    let chain = |last: i64| {
        let db = db();
        let friends = db.schema().accessor("user", "friends").unwrap();
        db.on_m2m_changed(friends, move |e, tx| {
            let next = e.instance.id() + 1;
            if e.action == M2mAction::PostAdd && e.pk_set == Some(&[next]) && next < last {
                tx.related(Key::new(e.model, next), "friends")?.add([next + 1])?;
            }
            Ok(())
        })
        .unwrap();
        db.write(|tx| (1..=40).try_for_each(|i| tx.insert("user", row! { "id" => i, "name" => "u" }).map(|_| ())))
            .unwrap();
        let before = db.read(|tx| Ok::<_, Error>(snapshot(tx))).unwrap();
        let user = |id| Key::new(db.schema().table("user").unwrap(), id);
        let result = db.write(|tx| tx.related(user(1), "friends")?.add([user(2)]));
        let friends = db.read(|tx| tx.count("user_friends"));
        (result, before, db.read(|tx| Ok::<_, Error>(snapshot(tx))).unwrap(), friends.unwrap())
    };
    // 1-2 is announced with no announcement under way, 2-3 with one, ...,
    // 32-33 with 31: 32 levels of hooks.
    let (result, _, _, friends) = chain(33);
    assert_eq!(result, Ok(2));
    assert_eq!(friends, 2 * 32, "32 mirrored friendships");
    // 33-34 would be the 33rd level: the whole chain is undone.
    let (result, before, after, _) = chain(34);
    assert!(
        matches!(&result, Err(Error::Unsupported { table, reason }) if table == "user_friends" && reason.contains("32 deep")),
        "{result:?}"
    );
    assert_eq!(after, before);
}

/// One random write of a hook, drawn from `rng`: a delete (often of the
/// call's own row or of a row it names), an insert (which may take a
/// freed slot, or make a dangling link's id real), a manager call on any
/// relation (announced in turn), or a refusal. The writes' own errors are
/// let go (each write is atomic on its own), so the call goes on past
/// them.
fn random_hook_write(e: &M2mChanged<'_>, tx: &mut HookTxn<'_, '_>, rng: &mut common::Rng) -> Result<(), Error> {
    let table = |name: &str| tx.schema().table(name).unwrap();
    let (user, group, tag) = (table("user"), table("group"), table("tag"));
    let named = e.pk_set.and_then(|ids| ids.first()).map(|&id| Key::new(e.model, id));
    match rng.below(10) {
        0 => {
            let _ = tx.delete(e.instance);
        }
        1 => {
            let _ = named.map(|k| tx.delete(k));
        }
        2 => {
            let victim =
                if rng.chance(50) { Key::new(user, self::user(rng)) } else { Key::new(group, self::group(rng)) };
            let _ = tx.delete(victim);
        }
        3 | 4 => {
            let (t, id) = match rng.below(3) {
                0 => (user, self::user(rng)),
                1 => (group, self::group(rng)),
                _ => (tag, rng.below(4) as i64 + 1),
            };
            let _ = tx.insert(t, row! { "id" => id, "name" => "made by a hook" });
        }
        5 | 6 => {
            let (me, accessor, other) = match rng.below(4) {
                0 => (Key::new(user, self::user(rng)), "groups", self::group(rng)),
                1 => (Key::new(group, self::group(rng)), "club_members", self::user(rng)),
                2 => (Key::new(user, self::user(rng)), "friends", self::user(rng)),
                _ => (Key::new(user, self::user(rng)), "tags", rng.below(4) as i64 + 1),
            };
            let op = rng.below(4);
            let _ = tx.related(me, accessor).and_then(|mut m| match op {
                0 => m.add([other]).map(|_| ()),
                1 => m.remove([other]).map(|_| ()),
                2 => m.clear().map(|_| ()),
                _ => m.set([other]),
            });
        }
        7 => return Err(Error::vetoed("a random refusal")),
        _ => {}
    }
    Ok(())
}

#[test]
fn random_hook_writes_keep_every_invariant_and_a_failed_call_changes_nothing() {
    let db = db();
    // The hooks' draws: each hook call takes a seed of its own under the
    // lock, so a nested call's hooks never wait on it.
    let seeds = Arc::new(Mutex::new(common::Rng(0)));
    for (table, accessor) in
        [("user", "groups"), ("user", "clubs"), ("user", "friends"), ("user", "tags"), ("user", "pals")]
    {
        let acc = db.schema().accessor(table, accessor).unwrap();
        let seeds = Arc::clone(&seeds);
        db.on_m2m_changed(acc, move |e, tx| {
            // The invariants hold at every announcement, mid-call.
            if let Err(wrong) = tx.verify() {
                panic!("{} of {:?}: {wrong}", e.action.name(), e.instance);
            }
            let mut rng = common::Rng(seeds.lock().unwrap().next());
            if rng.chance(40) {
                random_hook_write(e, tx, &mut rng)
            } else {
                Ok(())
            }
        })
        .unwrap();
    }
    let (mut failed, mut calls) = (0, 0);
    // Calls after which a user and a membership row sat in a freed slot.
    let mut reused = [0, 0];
    for seed in 0..100 {
        *seeds.lock().unwrap() = common::Rng(seed ^ 0x9e37);
        let mut rng = common::Rng(seed);
        db.write(|tx| {
            restock(tx)?;
            if seed == 0 {
                reuse_membership_slots(tx)?;
            }
            for _ in 0..40 {
                let before = snapshot(tx);
                let answer = random_call(tx, &mut rng);
                calls += 1;
                if answer.starts_with("Err") {
                    failed += 1;
                    assert_eq!(snapshot(tx), before, "seed {seed}: {answer}");
                }
                verify(tx);
                for (n, table) in reused.iter_mut().zip(["user", "membership"]) {
                    *n += usize::from(common::slots_reused(tx, table));
                }
            }
            Ok::<_, Error>(())
        })
        .unwrap();
        verify(&db.begin_read().unwrap());
    }
    assert!(failed > calls / 10 && failed < calls / 2, "{failed} of {calls} calls failed");
    assert!(reused.iter().all(|&n| n > calls / 10), "rows in freed slots after {reused:?} of {calls} calls");
}

#[test]
fn an_id_a_pre_add_hook_makes_real_is_linked_both_ways_and_a_target_it_links_is_not_named() {
    // `half`: whether the half `(7, me)` of the dangling pair is stored
    // first, by a direct insert into the through table.
    for half in [false, true] {
        let db = db();
        let pals = db.schema().accessor("user", "pals").unwrap();
        // Before an add of the missing 7: makes user 7.
        db.on_m2m_changed(pals, |e, tx| {
            if e.action == M2mAction::PreAdd && e.pk_set == Some(&[7]) {
                tx.insert("user", row! { "id" => 7, "name" => "seven" })?;
            }
            Ok(())
        })
        .unwrap();
        let log = record(&db, "user", "pals", ["pals", "pals"]);
        let (u, _) = rows(&db);
        let seen = db.write(|tx| {
            if half {
                let through = tx.schema().through_table("user", "pals").unwrap();
                tx.insert(through, row! { "from_user_id" => 7, "to_user_id" => u[0] })?;
            }
            let added = tx.related(u[0], "pals")?.add([7])?;
            let seven = Key::new(u[0].table(), 7);
            let ids = |tx: &View, k: Key| tx.related(k, "pals").map(|r| r.ids().collect::<Vec<_>>());
            Ok::<_, Error>((added, ids(tx, u[0])?, ids(tx, seven)?, tx.count("user_pals")?))
        });
        // The half stored first is not made again.
        assert_eq!(seen, Ok((2 - usize::from(half), vec![7], vec![1], 2)), "half {half}");
        let heard: Vec<_> = take(&log).into_iter().map(|s| (s.action, s.pk_set)).collect();
        assert_eq!(heard, [("pre_add", Some(vec![7])), ("post_add", Some(vec![7]))]);
        verify(&db.begin_read().unwrap());
    }

    // A `pre_add` hook that links a target itself: the call links it no
    // second time, and `post_add` does not name it.
    let db = db();
    let groups = db.schema().accessor("user", "groups").unwrap();
    db.on_m2m_changed(groups, |e, tx| {
        if e.action == M2mAction::PreAdd && !e.reverse && e.pk_set == Some(&[100, 101]) {
            tx.related(e.instance, "groups")?.add([Key::new(e.model, 101)])?;
        }
        Ok(())
    })
    .unwrap();
    let (u, g) = rows(&db);
    let log = record(&db, "user", "groups", GROUPS);
    let added = db.write(|tx| tx.related(u[0], "groups")?.add([g[0], g[1]]));
    assert_eq!(added, Ok(1), "the hook linked the other");
    let heard: Vec<_> = take(&log).into_iter().map(|s| (s.action, s.pk_set)).collect();
    assert_eq!(
        heard,
        [
            // The hook's own add, heard first (this hook came later).
            ("pre_add", Some(vec![101])),
            ("post_add", Some(vec![101])),
            ("pre_add", Some(vec![100, 101])),
            ("post_add", Some(vec![100])),
        ]
    );
}

#[test]
fn hooks_register_on_a_shared_database_and_not_from_inside_a_transaction() {
    let db = Arc::new(db());
    let (u, g) = rows(&db);
    let groups = db.schema().accessor("user", "groups").unwrap();
    // Registered from another thread, on the shared database: the next
    // transaction's calls hear it.
    let id = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || db.on_m2m_changed(groups, |_, _| Err(Error::vetoed("closed"))))
            .join()
            .unwrap()
            .unwrap()
    };
    assert_eq!(db.write(|tx| tx.related(u[0], "groups")?.add([g[0]])), Err(Error::vetoed("closed")));
    // Not while this thread holds a transaction on it (it would deadlock):
    // a read, a write, or a hook's call.
    let read = db.begin_read().unwrap();
    assert_eq!(db.on_m2m_changed(groups, |_, _| Ok(())).err(), Some(Error::Reentrant));
    assert_eq!(db.remove_hook(id), Err(Error::Reentrant));
    drop(read);
    let inside = db.write(|_| db.on_m2m_changed(groups, |_, _| Ok(())));
    assert_eq!(inside.err(), Some(Error::Reentrant));
    assert_eq!(db.remove_hook(id), Ok(true));
    let from_hook = {
        let shared = Arc::clone(&db);
        db.on_m2m_changed(groups, move |_, _| shared.on_m2m_changed(groups, |_, _| Ok(())).map(|_| ())).unwrap()
    };
    assert_eq!(db.write(|tx| tx.related(u[0], "groups")?.add([g[0]])), Err(Error::Reentrant));
    // (The hook holds the database: removing it breaks the cycle.)
    assert_eq!(db.remove_hook(from_hook), Ok(true));
    assert_eq!(db.write(|tx| tx.related(u[0], "groups")?.add([g[0]])), Ok(1));
}

/// A hook's nested block (`HookTxn::atomic`) that fails, or panics and is
/// caught in the hook, undoes its own writes (rows, and a nested manager
/// call's links) and nothing else: the hook's other writes and the
/// manager call stand.
#[test]
fn a_hooks_failed_block_undoes_its_own_writes_and_the_call_stands() {
    let db = db();
    let (u, g) = rows(&db);
    let groups = db.schema().accessor("user", "groups").unwrap();
    db.on_m2m_changed(groups, |e, tx| {
        if e.action != M2mAction::PostAdd {
            return Ok(());
        }
        tx.insert("tag", row! { "name" => "kept" })?;
        let tried = tx.atomic(|tx| {
            tx.insert("tag", row! { "name" => "tried" })?;
            tx.related(e.instance, "friends")?.add([Key::new(e.instance.table(), 2)])?;
            Err::<(), _>(Error::vetoed("not now"))
        });
        assert!(matches!(tried, Err(Error::Vetoed { .. })));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = tx.atomic(|tx| -> Result<(), Error> {
                tx.insert("tag", row! { "name" => "panicked" })?;
                panic!("in a block");
            });
        }));
        assert!(panicked.is_err());
        Ok(())
    })
    .unwrap();
    db.write(|tx| {
        assert_eq!(tx.related(u[0], "groups")?.add([g[0]])?, 1);
        Ok::<_, Error>(())
    })
    .unwrap();
    db.read(|v| {
        verify(v);
        let tags: Vec<String> = v.scan("tag")?.map(|r| r.text("name").unwrap().to_owned()).collect();
        assert_eq!(tags, ["kept"]);
        assert_eq!(v.related(u[0], "groups")?.ids().collect::<Vec<_>>(), [g[0].id()]);
        assert_eq!((v.related(u[0], "friends")?.count(), v.related(u[1], "friends")?.count()), (0, 0));
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A block in a `Pre` hook that fails undoes its writes before the manager
/// looks its rows up again, and the call goes on; a hooked call inside a
/// block whose hook panics, caught around the block, leaves no hook call
/// counted: forty of them (more than `MAX_HOOK_DEPTH`) and the hooks still
/// hear the next call.
#[test]
fn blocks_around_and_inside_hooked_calls_leave_the_calls_and_the_hooks_sound() {
    let db = db();
    let (u, g) = rows(&db);
    let groups = db.schema().accessor("user", "groups").unwrap();
    let heard = Arc::new(Mutex::new(0));
    let count = Arc::clone(&heard);
    db.on_m2m_changed(groups, move |e, tx| {
        *count.lock().unwrap() += 1;
        if e.action != M2mAction::PreAdd {
            return Ok(());
        }
        let Some(&[first, ..]) = e.pk_set else { return Ok(()) };
        if first == 103 {
            // Unwinds without the panic hook's message.
            std::panic::resume_unwind(Box::new("group 103 is cursed"));
        }
        // Deletes a target and inserts a row in its slot, then thinks
        // better of it: the manager finds its target as it was.
        let tried = tx.atomic(|tx| {
            tx.delete(Key::new(e.model, first))?;
            tx.insert("group", row! { "name" => "usurper" })?;
            Err::<(), _>(Error::vetoed("undo"))
        });
        assert!(tried.is_err());
        Ok(())
    })
    .unwrap();
    db.write(|tx| {
        assert_eq!(tx.related(u[0], "groups")?.add([g[0], g[1]])?, 2);
        for _ in 0..40 {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = tx.atomic(|tx| {
                    tx.insert("tag", row! { "name" => "inside" })?;
                    tx.related(u[1], "groups")?.add([g[3]])
                });
            }));
            assert!(caught.is_err());
        }
        assert_eq!(tx.count("tag")?, 0);
        *heard.lock().unwrap() = 0;
        assert_eq!(tx.related(u[1], "groups")?.add([g[2]])?, 1);
        assert_eq!(*heard.lock().unwrap(), 2, "the hooks heard PreAdd and PostAdd");
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
    db.read(|v| {
        let names: Vec<String> = v.scan("group")?.map(|r| r.text("name").unwrap().to_owned()).collect();
        assert_eq!(names, ["g100", "g101", "g102", "g103"]);
        assert_eq!(v.related(u[0], "groups")?.ids().collect::<Vec<_>>(), [100, 101]);
        assert_eq!(v.related(u[1], "groups")?.ids().collect::<Vec<_>>(), [102]);
        Ok::<_, Error>(())
    })
    .unwrap();
}
