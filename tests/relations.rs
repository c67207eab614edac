//! Related managers on auto-created through tables and reverse foreign
//! keys, from both ends (SEMANTICS.md section 3).

mod common;

use common::{snapshot, verify};
use junctiondb::{row, Database, Error, Key, OnDelete, Row, Schema, Type, WriteTxn};

fn db() -> Database {
    let schema = Schema::builder()
        .table("publication", |t| {
            t.column("title", Type::Text);
        })
        .table("article", |t| {
            t.column("headline", Type::Text);
            t.many_to_many("publications", "publication");
            t.many_to_many("editions", "publication").related_name("edited_articles");
        })
        .table("reporter", |t| {
            t.column("name", Type::Text);
        })
        .table("story", |t| {
            t.column("title", Type::Text);
            t.foreign_key("reporter", "reporter").nullable().on_delete(OnDelete::SetNull);
            t.foreign_key("editor", "reporter").related_name("edited").on_delete(OnDelete::Cascade);
        })
        .build()
        .unwrap();
    Database::new(schema)
}

fn ids(tx: &WriteTxn<'_>, key: Key, acc: &str) -> Vec<i64> {
    let mut v: Vec<i64> = junctiondb::View::related(tx, key, acc).unwrap().ids().collect();
    v.sort_unstable();
    v
}

#[test]
fn add_is_idempotent_and_both_ends_see_it() {
    let db = db();
    db.write(|tx| {
        let a = tx.insert("article", row! { "headline" => "h" })?;
        let p1 = tx.insert("publication", row! { "title" => "p1" })?;
        let p2 = tx.insert("publication", row! { "title" => "p2" })?;
        assert_eq!(tx.related(a, "publications")?.add([p1, p2, p1])?, 2, "duplicates in the input collapse");
        let before = snapshot(tx);
        assert_eq!(tx.related(a, "publications")?.add([p1])?, 0, "re-adding an existing pair changes nothing");
        assert_eq!(tx.related(a, "publications")?.add(Vec::<Key>::new())?, 0);
        assert_eq!(snapshot(tx), before);
        assert_eq!(ids(tx, a, "publications"), [1, 2]);
        assert_eq!(ids(tx, p1, "article_set"), [a.id()]);
        assert!(tx.related(p2, "article_set")?.contains(a));
        assert_eq!(tx.related(a, "publications")?.count(), 2);
        assert!(tx.related(a, "publications")?.exists());
        // Adding by id works, from the reverse end too.
        let p3 = tx.insert("publication", row! { "title" => "p3" })?;
        tx.related(p3, "article_set")?.add([a.id()])?;
        assert_eq!(ids(tx, a, "publications"), [1, 2, 3]);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// One manager serves many calls: each sees the ones before it, from
/// either end.
#[test]
fn one_manager_serves_many_calls() {
    let db = db();
    db.write(|tx| {
        let a = tx.insert("article", row! { "headline" => "h" })?;
        let ps: Vec<Key> =
            (0..3).map(|i| tx.insert("publication", row! { "title" => format!("p{i}") })).collect::<Result<_, _>>()?;
        let sorted = |m: &junctiondb::RelatedMut<'_, '_>| {
            let mut ids: Vec<i64> = m.ids().collect();
            ids.sort_unstable();
            ids
        };
        let mut m = tx.related(a, "publications")?;
        assert_eq!(m.add([ps[0], ps[1]])?, 2);
        assert_eq!(sorted(&m), [ps[0].id(), ps[1].id()]);
        assert_eq!(m.remove([ps[0]])?, 1);
        assert!(!m.contains(ps[0]) && m.contains(ps[1]));
        m.set([ps[0], ps[2]])?;
        assert_eq!(sorted(&m), [ps[0].id(), ps[2].id()]);
        let made = m.create(row! { "title" => "new" })?;
        assert_eq!(m.count(), 3);
        let (found, created) = m.get_or_create(row! { "title" => "new" }, row! {})?;
        assert_eq!((found, created), (made, false));
        assert_eq!(m.clear()?, 3);
        assert!(!m.exists());
        let mut back = tx.related(ps[1], "article_set")?;
        assert_eq!(back.add([a])?, 1);
        assert_eq!(back.remove([a])?, 1);
        assert_eq!(back.add([a])?, 1);
        assert_eq!(ids(tx, a, "publications"), [ps[1].id()]);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A manager's query taken with `into_query` can be kept in a variable
/// (with `query`, it would borrow the temporary manager), sees the
/// transaction's writes so far.
#[test]
fn into_query_keeps_a_managers_query_past_its_statement() {
    let db = db();
    db.write(|tx| {
        let a = tx.insert("article", row! { "headline" => "h" })?;
        let p1 = tx.insert("publication", row! { "title" => "daily" })?;
        let p2 = tx.insert("publication", row! { "title" => "weekly" })?;
        tx.related(a, "publications")?.add([p1, p2])?;
        let q = tx.related(a, "publications")?.into_query().filter("title__startswith", "w")?;
        assert_eq!(q.ids(), [p2.id()]);
        assert_eq!(q.clone().exclude("title", "weekly")?.count(), 0);
        let reverse = tx.related(p1, "article_set")?.into_query();
        assert_eq!(reverse.keys(), [a]);
        // The transaction writes again once the queries are done with.
        tx.related(a, "publications")?.remove([p2])?;
        assert!(tx.related(a, "publications")?.into_query().filter("title__startswith", "w")?.get()?.is_none());
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn add_errors_change_nothing() {
    let db = db();
    db.write(|tx| {
        let a = tx.insert("article", row! { "headline" => "h" })?;
        let p = tx.insert("publication", row! { "title" => "p" })?;
        let r = tx.insert("reporter", row! { "name" => "r" })?;
        let before = snapshot(tx);
        let e = tx.related(a, "publications")?.add([p, r]).unwrap_err();
        assert!(matches!(e, Error::WrongTable { ref expected, ref found, .. } if expected == "publication" && found == "reporter"), "{e}");
        let e = tx.related(a, "publications")?.add([Key::new(p.table(), 42)]).unwrap_err();
        assert!(matches!(e, Error::NotFound { id: 42, .. }), "{e}");
        let e = tx.related(a, "publications")?.add_with([p], row! { "x" => 1 }).unwrap_err();
        assert!(matches!(e, Error::UnknownColumn { .. }), "auto-created throughs have no extra columns: {e}");
        assert_eq!(snapshot(tx), before);
        // ...refused when a row would be made, as Django's through model
        // refuses the keyword then: a call that creates nothing does
        // nothing, and one that creates a row after an existing pair
        // undoes itself.
        let q = tx.insert("publication", row! { "title" => "q" })?;
        tx.related(a, "publications")?.add([p])?;
        let before = snapshot(tx);
        assert_eq!(tx.related(a, "publications")?.add_with([] as [Key; 0], row! { "x" => 1 })?, 0);
        assert_eq!(tx.related(a, "publications")?.add_with([p], row! { "x" => 1 })?, 0);
        tx.related(a, "publications")?.set_with([p], row! { "x" => 1 })?;
        let e = tx.related(a, "publications")?.add_with([p, q], row! { "x" => 1 }).unwrap_err();
        assert!(matches!(e, Error::UnknownColumn { .. }), "{e}");
        assert_eq!(snapshot(tx), before);
        let e = tx.related(a, "nope").unwrap_err();
        assert!(e.to_string().contains("publications, editions"), "{e}");
        assert!(matches!(tx.related(Key::new(a.table(), 9), "publications"), Err(Error::NotFound { .. })));
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn remove_clear_set() {
    let db = db();
    db.write(|tx| {
        let a = tx.insert("article", row! { "headline" => "h" })?;
        let b = tx.insert("article", row! { "headline" => "i" })?;
        let ps: Vec<Key> =
            (0..4).map(|i| tx.insert("publication", row! { "title" => format!("p{i}") })).collect::<Result<_, _>>()?;
        tx.related(a, "publications")?.add(&ps)?;
        tx.related(b, "publications")?.add([ps[0]])?;
        assert_eq!(tx.related(a, "publications")?.remove([ps[3]])?, 1);
        let before = snapshot(tx);
        assert_eq!(tx.related(a, "publications")?.remove([ps[3]])?, 0, "removing an unrelated row is a no-op");
        assert_eq!(tx.related(a, "publications")?.remove([Key::new(ps[0].table(), 99)])?, 0);
        assert_eq!(snapshot(tx), before);
        // set: keeps the rows of pairs that stay (their ids derive from the pair).
        let keep_id =
            tx.scan("article_publications")?.find(|r| r.int("publication_id") == Some(ps[1].id())).map(|r| r.id());
        tx.related(a, "publications")?.set([ps[1], ps[3]])?;
        assert_eq!(ids(tx, a, "publications"), [ps[1].id(), ps[3].id()]);
        assert_eq!(
            tx.scan("article_publications")?.find(|r| r.int("publication_id") == Some(ps[1].id())).map(|r| r.id()),
            keep_id
        );
        // set validates everything before changing anything.
        let before = snapshot(tx);
        assert!(tx.related(a, "publications")?.set([ps[0], Key::new(ps[0].table(), 77)]).is_err());
        assert_eq!(snapshot(tx), before);
        // Reverse end: clear removes only that end's rows.
        assert_eq!(tx.related(ps[0], "article_set")?.clear()?, 1);
        assert_eq!(ids(tx, b, "publications"), Vec::<i64>::new());
        assert_eq!(ids(tx, a, "publications"), [ps[1].id(), ps[3].id()]);
        tx.related(a, "publications")?.set_clearing([ps[2]], row! {})?;
        assert_eq!(ids(tx, a, "publications"), [ps[2].id()]);
        assert_eq!(tx.related(a, "publications")?.clear()?, 1);
        assert_eq!(tx.count("article_publications")?, 0);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn two_relations_to_the_same_target_stay_separate() {
    let db = db();
    db.write(|tx| {
        let a = tx.insert("article", row! { "headline" => "h" })?;
        let p = tx.insert("publication", row! { "title" => "p" })?;
        tx.related(a, "editions")?.add([p])?;
        assert!(!tx.related(a, "publications")?.contains(p));
        assert_eq!(ids(tx, p, "edited_articles"), [a.id()]);
        assert!(ids(tx, p, "article_set").is_empty());
        assert_eq!(tx.count("article_editions")?, 1);
        assert_eq!(tx.count("article_publications")?, 0);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn create_get_or_create_update_or_create() {
    let db = db();
    db.write(|tx| {
        let a = tx.insert("article", row! { "headline" => "h" })?;
        let p = tx.related(a, "publications")?.create(row! { "title" => "new" })?;
        assert!(tx.related(a, "publications")?.contains(p));
        // create is atomic: a bad row links nothing and inserts nothing.
        let before = snapshot(tx);
        assert!(tx.related(a, "publications")?.create(row! { "nope" => 1 }).is_err());
        assert_eq!(snapshot(tx), before);
        // get_or_create looks only inside the relation.
        let outside = tx.insert("publication", row! { "title" => "elsewhere" })?;
        let (found, created) = tx.related(a, "publications")?.get_or_create(row! { "title" => "new" }, row! {})?;
        assert_eq!((found, created), (p, false));
        let (made, created) = tx.related(a, "publications")?.get_or_create(row! { "title" => "elsewhere" }, row! {})?;
        assert!(created);
        assert_ne!(made, outside, "an unrelated matching row is not linked");
        assert!(!tx.related(a, "publications")?.contains(outside));
        assert_eq!(tx.count("publication")?, 3);
        // update_or_create updates the found row, link untouched.
        let (k, created) = tx
            .related(a, "publications")?
            .update_or_create(row! { "title" => "new" }, row! { "title" => "renamed" })?;
        assert_eq!((k, created), (p, false));
        assert_eq!(tx.get(p).unwrap().text("title"), Some("renamed"));
        let (k2, created) =
            tx.related(a, "publications")?.update_or_create(row! { "title" => "x" }, row! { "title" => "y" })?;
        assert!(created);
        assert_eq!(tx.get(k2).unwrap().text("title"), Some("y"));
        // Several matches: MultipleFound.
        tx.related(a, "publications")?.create(row! { "title" => "y" })?;
        assert!(matches!(
            tx.related(a, "publications")?.get_or_create(row! { "title" => "y" }, row! {}),
            Err(Error::MultipleFound { count: 2, .. })
        ));
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// `get_or_create` and `update_or_create` look a row up with a query
/// filter's equality, as the unique index and `filter` have it: a NaN
/// equals a NaN and `-0.0` equals `0.0`. Their lookup used `==`, so a
/// second call never found the NaN row the first one stored and tried to
/// insert it again (`Unique` on a unique column, else a duplicate row).
#[test]
fn get_or_create_finds_a_nan_it_stored() {
    let schema = Schema::builder()
        .table("tag", |t| {
            t.column("w", Type::Float).unique();
            t.column("note", Type::Text).default("");
        })
        .table("post", |t| {
            t.many_to_many("tags", "tag");
        })
        .table("mark", |t| {
            t.column("w", Type::Float).nullable();
        })
        .table("page", |t| {
            t.many_to_many("marks", "mark").through("stamp");
        })
        .table("stamp", |t| {
            t.foreign_key("page", "page");
            t.foreign_key("mark", "mark");
            t.column("ink", Type::Text);
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        let post = tx.insert("post", row! {})?;
        let (nan, created) = tx.related(post, "tags")?.get_or_create(row! { "w" => f64::NAN }, row! {})?;
        assert!(created);
        let (again, created) = tx.related(post, "tags")?.get_or_create(row! { "w" => f64::NAN }, row! {})?;
        assert_eq!((again, created), (nan, false), "the NaN row is found, not inserted again");
        let (again, created) =
            tx.related(post, "tags")?.update_or_create(row! { "w" => f64::NAN }, row! { "note" => "n" })?;
        assert_eq!((again, created), (nan, false));
        assert_eq!(tx.get(nan).unwrap().text("note"), Some("n"), "the found row is updated");
        // A query filter agrees: one row.
        assert_eq!(tx.related(post, "tags")?.query().filter("w", f64::NAN)?.keys(), [nan]);
        // `-0.0` finds the row stored with `0.0`, as the unique index has it.
        let (zero, created) = tx.related(post, "tags")?.get_or_create(row! { "w" => 0.0 }, row! {})?;
        assert!(created);
        let (again, created) = tx.related(post, "tags")?.get_or_create(row! { "w" => -0.0 }, row! {})?;
        assert_eq!((again, created), (zero, false));
        assert_eq!(tx.count("tag")?, 2);
        // The `_with` variants, through a custom through table (the column
        // is not unique there: the bug made a second row).
        let page = tx.insert("page", row! {})?;
        let ink = || row! { "ink" => "red" };
        let (m, created) = tx.related(page, "marks")?.get_or_create_with(row! { "w" => f64::NAN }, row! {}, ink())?;
        assert!(created);
        let (again, created) =
            tx.related(page, "marks")?.get_or_create_with(row! { "w" => f64::NAN }, row! {}, ink())?;
        assert_eq!((again, created), (m, false));
        let (again, created) =
            tx.related(page, "marks")?.update_or_create_with(row! { "w" => f64::NAN }, row! {}, ink())?;
        assert_eq!((again, created), (m, false));
        assert_eq!((tx.count("mark")?, tx.count("stamp")?), (1, 1));
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A lookup may name the primary key `pk`, as in Django: it finds the
/// related row by id, and creates the row with that id when it is not
/// related (an unrelated row of that id makes the insert fail, as in
/// Django).
#[test]
fn get_or_create_takes_pk() {
    let schema = Schema::builder()
        .table("tag", |t| {
            t.column("label", Type::Text).default("");
        })
        .table("post", |t| {
            t.many_to_many("tags", "tag");
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        let post = tx.insert("post", row! {})?;
        let (tag, created) =
            tx.related(post, "tags")?.get_or_create(row! { "pk" => 7 }, row! { "label" => "seven" })?;
        assert_eq!((tag.id(), created), (7, true));
        let (again, created) = tx.related(post, "tags")?.get_or_create(row! { "pk" => 7 }, row! {})?;
        assert_eq!((again, created), (tag, false));
        let (again, created) =
            tx.related(post, "tags")?.update_or_create(row! { "pk" => 7 }, row! { "label" => "7" })?;
        assert_eq!((again, created), (tag, false));
        assert_eq!(tx.get(tag).unwrap().text("label"), Some("7"));
        let other = tx.insert("post", row! {})?;
        let taken = tx.related(other, "tags")?.get_or_create(row! { "pk" => 7 }, row! {});
        assert!(matches!(taken, Err(Error::Unique { .. })), "{taken:?}");
        assert!(matches!(
            tx.related(other, "tags")?.get_or_create(row! { "nope" => 7 }, row! {}),
            Err(Error::UnknownColumn { .. })
        ));
        // `pk` and `id` agreeing are one condition; disagreeing, an error.
        let (again, created) = tx.related(post, "tags")?.get_or_create(row! { "pk" => 7, "id" => 7 }, row! {})?;
        assert_eq!((again, created), (tag, false));
        let both = tx.related(post, "tags")?.get_or_create(row! { "pk" => 7, "id" => 8 }, row! {});
        assert!(matches!(both, Err(Error::Unsupported { .. })), "{both:?}");
        // In defaults too: a new row takes the id.
        let (nine, created) = tx.related(post, "tags")?.get_or_create(row! { "label" => "9" }, row! { "pk" => 9 })?;
        assert_eq!((nine.id(), created), (9, true));
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A unique foreign key is Django's one-to-one on every write: an insert,
/// an update and each write of the reverse manager refuse a second row
/// pointing at the same row (`Unique`, nothing changed); `NULL`s do not
/// count, a row keeps its own value, and `set` unlinks before it links.
#[test]
fn a_unique_foreign_key_refuses_a_second_row_on_every_write() {
    let schema = Schema::builder()
        .table("user", |t| {
            t.column("username", Type::Text).unique();
        })
        .table("profile", |t| {
            t.foreign_key("user", "user").unique().nullable().on_delete(OnDelete::SetNull);
            t.column("bio", Type::Text).nullable();
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        let u1 = tx.insert("user", row! { "username" => "ann" })?;
        let u2 = tx.insert("user", row! { "username" => "bob" })?;
        let p1 = tx.insert("profile", row! { "user" => u1 })?;
        let p2 = tx.insert("profile", row! {})?;
        let p3 = tx.insert("profile", row! { "user" => None::<i64> })?;
        let before = snapshot(tx);
        let taken = |e: Error| matches!(e, Error::Unique { ref column, .. } if column == "user_id");
        assert!(taken(tx.insert("profile", row! { "user" => u1 }).unwrap_err()));
        assert!(taken(tx.update(p2, row! { "user" => u1 }).unwrap_err()));
        assert!(taken(tx.related(u2, "profile_set")?.add([p2, p3]).unwrap_err()), "two targets for one row");
        assert!(taken(tx.related(u1, "profile_set")?.add([p2]).unwrap_err()), "u1 has p1");
        assert!(taken(tx.related(u1, "profile_set")?.create(row! { "bio" => "x" }).unwrap_err()));
        assert_eq!(snapshot(tx), before, "every refused write left nothing behind");
        tx.update(p1, row! { "user" => u1, "bio" => "same key" })?;
        tx.related(u1, "profile_set")?.set([p2])?;
        assert_eq!(ids(tx, u1, "profile_set"), [p2.id()]);
        assert_eq!(tx.get(p1).unwrap().get("user_id"), Some(junctiondb::ValueRef::Null));
        assert_eq!(tx.related(u2, "profile_set")?.add([p1])?, 1);
        assert_eq!(ids(tx, u2, "profile_set"), [p1.id()]);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn reverse_foreign_key_manager() {
    let db = db();
    db.write(|tx| {
        let r = tx.insert("reporter", row! { "name" => "r" })?;
        let other = tx.insert("reporter", row! { "name" => "o" })?;
        let s1 = tx.insert("story", row! { "title" => "a", "editor" => other })?;
        let s2 = tx.insert("story", row! { "title" => "b", "editor" => other, "reporter" => r })?;
        assert_eq!(ids(tx, r, "story_set"), [s2.id()]);
        assert_eq!(tx.related(r, "story_set")?.add([s1])?, 1);
        assert_eq!(tx.get(s1).unwrap().int("reporter_id"), Some(r.id()));
        let s3 = tx.related(r, "story_set")?.create(row! { "title" => "c", "editor" => other })?;
        assert_eq!(ids(tx, r, "story_set"), [s1.id(), s2.id(), s3.id()]);
        assert_eq!(tx.related(r, "story_set")?.remove([s2])?, 1);
        assert_eq!(tx.get(s2).unwrap().get("reporter_id"), Some(junctiondb::ValueRef::Null));
        tx.related(r, "story_set")?.set([s2, s3])?;
        assert_eq!(ids(tx, r, "story_set"), [s2.id(), s3.id()]);
        assert_eq!(tx.related(r, "story_set")?.clear()?, 2);
        assert!(!tx.related(r, "story_set")?.exists());
        // Non-nullable key: remove/clear are not offered; set only adds.
        assert!(matches!(tx.related(other, "edited")?.clear(), Err(Error::Unsupported { .. })));
        assert!(matches!(tx.related(other, "edited")?.remove([s1]), Err(Error::Unsupported { .. })));
        tx.related(r, "edited")?.set([s1])?;
        assert_eq!(ids(tx, r, "edited"), [s1.id()]);
        assert_eq!(ids(tx, other, "edited"), [s2.id(), s3.id()]);
        // A reverse foreign key has no through row: through defaults are
        // refused by every `_with` call, and nothing changes, even when
        // the row looked up is found (s1 is `other`'s).
        let before = snapshot(tx);
        for update in [false, true] {
            let lookup = row! { "title" => "a" };
            let m = &mut tx.related(other, "edited")?;
            let found = if update {
                m.update_or_create_with(lookup, row! { "title" => "a2" }, row! { "note" => "x" })
            } else {
                m.get_or_create_with(lookup, row! {}, row! { "note" => "x" })
            };
            assert!(matches!(found, Err(Error::Unsupported { .. })), "{found:?}");
        }
        assert_eq!(snapshot(tx), before);
        let defaults = || row! { "note" => "x" };
        let refused = |e: Error| matches!(e, Error::Unsupported { .. });
        assert!(refused(tx.related(r, "story_set")?.add_with([s3], defaults()).unwrap_err()));
        assert!(refused(tx.related(r, "story_set")?.set_with([s3], defaults()).unwrap_err()));
        assert!(refused(
            tx.related(r, "story_set")?
                .create_with(row! { "title" => "d", "editor" => other }, defaults())
                .unwrap_err()
        ));
        let e = tx.related(r, "story_set")?.get_or_create_with(
            row! { "title" => "e" },
            row! { "editor" => other },
            defaults(),
        );
        assert!(refused(e.unwrap_err()));
        assert_eq!(snapshot(tx), before);
        // So does set with clear (Django's set(clear=True) on such a key).
        tx.related(r, "edited")?.set_clearing([s2], row! {})?;
        assert_eq!(ids(tx, r, "edited"), [s1.id(), s2.id()]);
        assert_eq!(ids(tx, other, "edited"), [s3.id()]);
        let (k, created) = tx.related(r, "edited")?.get_or_create(row! { "title" => "z" }, row! {})?;
        assert!(created);
        assert_eq!(tx.get(k).unwrap().int("editor_id"), Some(r.id()));
        // A lookup naming the key is about this row's key, by field or by
        // column (Django sets `kwargs[field.name] = instance` first): the
        // row found is one of r's, and none is made.
        for key in ["editor", "editor_id"] {
            let lookup = Row::new().with("title", "z").with(key, other.id());
            assert_eq!(tx.related(r, "edited")?.get_or_create(lookup, row! {})?, (k, false));
        }
        let lookup = row! { "title" => "z", "editor" => other };
        let (same, created) = tx.related(r, "edited")?.update_or_create(lookup, row! { "title" => "z2" })?;
        assert_eq!((same, created), (k, false));
        assert_eq!(tx.get(k).unwrap().text("title"), Some("z2"));
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn handles_resolve_once() {
    let db = db();
    let schema = db.schema();
    let pubs = schema.accessor("article", "publications").unwrap();
    let back = schema.accessor("publication", "article_set").unwrap();
    db.write(|tx| {
        let a = tx.insert(schema.table("article").unwrap(), row! { "headline" => "h" })?;
        let p = tx.insert("publication", row! { "title" => "p" })?;
        tx.related_at(a, pubs)?.add([p])?;
        assert!(tx.related_at(p, back)?.contains(a));
        assert!(matches!(tx.related_at(p, pubs), Err(Error::WrongTable { .. })));
        Ok::<_, Error>(())
    })
    .unwrap();
    db.read(|v| {
        let a = v.key("article", 1)?.unwrap();
        assert_eq!(
            v.related_at(a, pubs)?.keys().collect::<Vec<_>>(),
            [Key::new(schema.table("publication").unwrap(), 1)]
        );
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// Posts with a `db_constraint(false)` many-to-many `tags` to `tag`
/// (through table `post_tags`).
fn posts_with_unconstrained_tags() -> Database {
    let schema = Schema::builder()
        .table("tag", |_| {})
        .table("post", |t| {
            t.many_to_many("tags", "tag").db_constraint(false);
        })
        .build()
        .unwrap();
    Database::new(schema)
}

/// `db_constraint(false)`: as in Django, the auto-created through stores
/// links to ids that do not exist; they are rows of the through table but
/// not related rows (the join finds no row) until that row is inserted.
#[test]
fn db_constraint_false_stores_dangling_links() {
    let db = posts_with_unconstrained_tags();
    db.write(|tx| {
        let p = tx.insert("post", row! {})?;
        let t1 = tx.insert("tag", row! {})?;
        assert_eq!(tx.related(p, "tags")?.add([t1.id(), 5, 6, 5])?, 3);
        assert_eq!(tx.related(p, "tags")?.ids().collect::<Vec<_>>(), [t1.id()], "missing rows are not related rows");
        assert_eq!(tx.count("post_tags")?, 3, "but they are through rows");
        let mut pairs: Vec<(i64, i64)> =
            tx.scan("post_tags")?.map(|r| (r.int("post_id").unwrap(), r.int("tag_id").unwrap())).collect();
        pairs.sort_unstable();
        assert_eq!(pairs, [(1, 1), (1, 5), (1, 6)]);
        verify(tx);
        // Inserting tag 5 turns its dangling link into a real one.
        let t5 = tx.insert("tag", row! { "id" => 5 })?;
        assert!(tx.related(p, "tags")?.contains(t5));
        assert!(tx.related(t5, "post_set")?.contains(p));
        assert_eq!(tx.count("post_tags")?, 3);
        verify(tx);
        // Through defaults: the auto-created through has no column for
        // them, refused once a link would be made, dangling or not.
        let before = snapshot(tx);
        assert_eq!(tx.related(p, "tags")?.add_with([6], row! { "x" => 1 })?, 0, "stored already: nothing made");
        let e = tx.related(p, "tags")?.add_with([7], row! { "x" => 1 }).unwrap_err();
        assert!(matches!(e, Error::UnknownColumn { ref table, .. } if table == "post_tags"), "{e:?}");
        assert_eq!(snapshot(tx), before);
        // remove and set reach dangling links too.
        assert_eq!(tx.related(p, "tags")?.remove([6])?, 1);
        tx.related(p, "tags")?.set([t1.id(), 9])?;
        assert_eq!(tx.count("post_tags")?, 2);
        // Deleting the post deletes its dangling links (Django's cascade).
        let d = tx.delete(p)?;
        assert_eq!(d.count("post_tags"), 2);
        assert_eq!(tx.count("post_tags")?, 0);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
    // Rolled back writes restore dangling links exactly.
    db.write(|tx| {
        let p = tx.insert("post", row! {})?;
        tx.related(p, "tags")?.add([1, 2, 3])?;
        Ok::<_, Error>(())
    })
    .unwrap();
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    let _ = db.write(|tx| {
        let p = tx.key("post", 2)?.unwrap();
        tx.related(p, "tags")?.remove([1])?;
        tx.insert("tag", row! { "id" => 3 })?;
        tx.related(p, "tags")?.clear()?;
        Err::<(), _>(Error::Reentrant)
    });
    assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), before);
}

/// Links loaded before their rows, the case `db_constraint(false)` is for:
/// each row inserted later finds the links waiting for it, and queries,
/// managers and deletes find a row's links among thousands of others. (The
/// links are indexed by id; lookups were scans of every dangling link.)
#[test]
fn links_loaded_before_their_rows_are_found_by_id_among_many() {
    let db = posts_with_unconstrained_tags();
    let (posts, tags) = (2_000i64, 50i64);
    db.write(|tx| {
        for p in 1..=posts {
            tx.insert("post", row! {})?;
            tx.related(tx.key("post", p)?.unwrap(), "tags")?.add([p % tags + 1, (p + 7) % tags + 1])?;
        }
        assert_eq!(tx.count("post_tags")?, 2 * posts as usize, "every link dangles");
        assert_eq!(tx.related(tx.key("post", 1)?.unwrap(), "tags")?.count(), 0);
        // Half the tags arrive; their links become real, the rest wait.
        for t in 1..=tags / 2 {
            let tag = tx.insert("tag", row! { "id" => t })?;
            let want = (1..=posts).filter(|p| p % tags + 1 == t || (p + 7) % tags + 1 == t).count();
            assert_eq!(tx.related(tag, "post_set")?.count(), want, "tag {t}");
        }
        verify(tx);
        let p = tx.key("post", 20)?.unwrap();
        assert_eq!(tx.related(p, "tags")?.count(), 1, "tag 21 exists, tag 28 does not yet");
        assert_eq!(tx.related(p, "tags")?.remove([28])?, 1, "the dangling link goes by id");
        assert_eq!(tx.related(p, "tags")?.remove([28])?, 0);
        // Post 18 links tag 19, which exists, and tag 26, which does not.
        let q = tx.query("post_tags")?.filter("post", 18)?;
        assert_eq!(q.count(), 2, "a query from the post finds both its links, one dangling");
        let dangling = tx.query("post_tags")?.filter("post", 18)?.filter("tag", 26)?;
        assert_eq!(dangling.count(), 1);
        let d = tx.delete(tx.key("post", 18)?.unwrap())?;
        assert_eq!(d.count("post_tags"), 2);
        assert_eq!(tx.count("post_tags")?, 2 * posts as usize - 3);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A post's `remove`, `set` and `clear` of dangling links take only that
/// post's links, even where the post's id is also a missing tag's id that
/// other posts link to, and a call naming many missing ids takes each of
/// them once. (These calls walked the links naming the id at either end
/// and tested each against the ids with a scan: O(links of unrelated rows)
/// and O(ids × links).)
#[test]
fn dangling_links_go_by_their_own_end_among_many_ids() {
    let db = posts_with_unconstrained_tags();
    db.write(|tx| {
        let posts: Vec<Key> = (0..4).map(|_| tx.insert("post", row! {})).collect::<Result<_, _>>()?;
        let p1 = posts[0];
        assert_eq!(p1.id(), 1);
        // Posts 2 to 4 link the missing tag 1: links naming id 1 at the
        // tag's end, none of them post 1's.
        for &p in &posts[1..] {
            tx.related(p, "tags")?.add([1])?;
        }
        let missing: Vec<i64> = (1_000..1_100).collect();
        assert_eq!(tx.related(p1, "tags")?.add(missing.iter().copied())?, 100);
        assert_eq!(tx.related(p1, "tags")?.remove([1])?, 0, "post 1 has no link to tag 1");
        assert_eq!(tx.count("post_tags")?, 103);
        // 40 ids (a set's worth) to remove, 10 of them never linked.
        assert_eq!(tx.related(p1, "tags")?.remove(1_070..1_110)?, 30);
        assert_eq!(tx.count("post_tags")?, 73);
        verify(tx);
        // `set` to two of the rest drops every other dangling link of post 1.
        tx.related(p1, "tags")?.set([1_000, 1_001])?;
        assert_eq!(tx.count("post_tags")?, 5);
        tx.related(p1, "tags")?.clear()?;
        assert_eq!(tx.count("post_tags")?, 3, "the other posts' links to tag 1 stay");
        for &p in &posts[1..] {
            let left = tx.query("post_tags")?.filter("post", p.id())?.filter("tag", 1)?;
            assert_eq!(left.count(), 1);
        }
        verify(tx);
        // From the tag's end: tag 1 is real now, and its manager reaches
        // the missing posts it is linked from by the tag's end of the
        // links, many ids at a time too.
        let t1 = tx.insert("tag", row! {})?;
        assert_eq!(t1.id(), 1);
        assert_eq!(tx.related(t1, "post_set")?.count(), 3, "posts 2 to 4 link it");
        assert_eq!(tx.related(t1, "post_set")?.add(1_000..1_040)?, 40);
        assert_eq!(tx.related(t1, "post_set")?.remove(1_010..1_050)?, 30);
        assert_eq!(tx.related(t1, "post_set")?.remove([2, 1_000])?, 2);
        assert_eq!(tx.count("post_tags")?, 2 + 9);
        tx.related(t1, "post_set")?.set((1_001..1_005).chain([3]))?;
        assert_eq!(tx.count("post_tags")?, 5, "four missing posts and post 3");
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A row inserted directly into a `db_constraint(false)` through table
/// that gives one link column and not the other is refused for the missing
/// column, `NotNull`, whether or not the given one names an existing row:
/// the relation checks no foreign key (SEMANTICS.md, `db_constraint`). The
/// model test found the engine reporting `ForeignKey` on the given column
/// when its row was missing.
#[test]
fn an_unconstrained_through_row_missing_a_column_is_not_null_whether_or_not_its_rows_exist() {
    let db = posts_with_unconstrained_tags();
    db.write(|tx| {
        let p = tx.insert("post", row! {})?;
        let not_null =
            |e: &Error| matches!(e, Error::NotNull { table, column, .. } if table == "post_tags" && column == "tag_id");
        // The post exists: NotNull, as it should be.
        let e = tx.insert("post_tags", row! { "post_id" => p.id() }).unwrap_err();
        assert!(not_null(&e), "{e:?}");
        // Post 7 does not exist, which this relation does not check: still
        // NotNull.
        let e = tx.insert("post_tags", row! { "post_id" => 7 }).unwrap_err();
        assert!(not_null(&e), "{e:?}");
        assert_eq!(tx.count("post_tags")?, 0);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A dangling link's key names it while it exists: deleting another
/// dangling link moves nothing (a through row is a row of a real table,
/// SEMANTICS.md section 2, deleted by key). Keys used to be positions in a
/// list that a delete reshuffled, so a key kept from `insert` could delete
/// the wrong link. A deleted link's place, and so its key, is given to a
/// later dangling link, as a real link's id would be; a rollback restores
/// the places exactly.
#[test]
fn a_dangling_link_keeps_its_key_while_it_exists() {
    let db = posts_with_unconstrained_tags();
    db.write(|tx| {
        let p = tx.insert("post", row! {})?;
        let k5 = tx.insert("post_tags", row! { "post_id" => p.id(), "tag_id" => 5 })?;
        let k6 = tx.insert("post_tags", row! { "post_id" => p.id(), "tag_id" => 6 })?;
        tx.delete(k5)?;
        let pair = |k: Key| tx.get(k).map(|r| (r.int("post_id"), r.int("tag_id")));
        assert_eq!(pair(k6), Some((Some(p.id()), Some(6))), "the link to tag 6 exists, under its key");
        assert_eq!(pair(k5), None, "the deleted link's key names no row");
        let k7 = tx.insert("post_tags", row! { "post_id" => p.id(), "tag_id" => 7 })?;
        assert_eq!(k7, k5, "the emptied place is reused");
        assert_eq!(tx.get(k6).map(|r| r.int("tag_id")), Some(Some(6)));
        tx.delete(k6)?;
        assert_eq!(tx.get(k7).map(|r| r.int("tag_id")), Some(Some(7)), "deleting k6 does not move k7");
        Ok::<_, Error>(())
    })
    .unwrap();
    // A rolled-back write leaves every key where it was.
    let keys = |db: &Database| {
        db.read(|v| Ok::<_, Error>(v.scan("post_tags")?.map(|r| (r.key(), r.int("tag_id"))).collect::<Vec<_>>()))
    };
    let before = keys(&db).unwrap();
    let undone = db.write(|tx| {
        let p = tx.key("post", 1)?.expect("post 1");
        tx.insert("post_tags", row! { "post_id" => p.id(), "tag_id" => 8 })?;
        tx.related(p, "tags")?.clear()?;
        tx.insert("post_tags", row! { "post_id" => p.id(), "tag_id" => 9 })?;
        Err::<(), _>(Error::Reentrant)
    });
    assert!(undone.is_err());
    assert_eq!(keys(&db).unwrap(), before);
    db.read(|v| {
        verify(v);
        Ok::<_, Error>(())
    })
    .unwrap();
}
