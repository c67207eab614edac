//! Deletes follow `on_delete` (SEMANTICS.md section 4) and report what they
//! removed per table; refused deletes remove nothing.

mod common;

use common::{snapshot, verify};
use junctiondb::{row, Database, Deleted, Error, Key, OnDelete, Schema, Type};

fn db(rule: OnDelete, nullable: bool, default: Option<i64>) -> Database {
    let schema = Schema::builder()
        .table("author", |t| {
            t.column("name", Type::Text);
        })
        .table("book", move |t| {
            t.column("title", Type::Text);
            let fk = t.foreign_key("author", "author").on_delete(rule);
            if nullable {
                fk.nullable();
            }
            if let Some(d) = default {
                fk.default(d);
            }
        })
        .table("chapter", |t| {
            t.foreign_key("book", "book");
        })
        .build()
        .unwrap();
    Database::new(schema)
}

#[test]
fn cascade_follows_chains_and_counts_per_table() {
    let db = db(OnDelete::Cascade, false, None);
    db.write(|tx| {
        let a = tx.insert("author", row! { "name" => "a" })?;
        let keep = tx.insert("author", row! { "name" => "k" })?;
        let b1 = tx.insert("book", row! { "title" => "1", "author" => a })?;
        let b2 = tx.insert("book", row! { "title" => "2", "author" => a })?;
        tx.insert("book", row! { "title" => "3", "author" => keep })?;
        for b in [b1, b1, b2] {
            tx.insert("chapter", row! { "book" => b })?;
        }
        let d = tx.delete(a)?;
        assert_eq!((d.count("author"), d.count("book"), d.count("chapter"), d.total()), (1, 2, 3, 6));
        assert_eq!((tx.count("book")?, tx.count("chapter")?), (1, 0));
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn protect_refuses_and_deletes_nothing() {
    let db = db(OnDelete::Protect, false, None);
    let a = db
        .write(|tx| {
            let a = tx.insert("author", row! { "name" => "a" })?;
            tx.insert("book", row! { "title" => "1", "author" => a })?;
            Ok::<_, Error>(a)
        })
        .unwrap();
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    let e = db.write(|tx| tx.delete(a)).unwrap_err();
    assert!(matches!(e, Error::Protected { ref referenced_by, count: 1, .. } if referenced_by == "book"), "{e}");
    assert!(e.to_string().contains("protected"));
    assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), before);
}

#[test]
fn restrict_refuses_unless_the_referencing_rows_go_in_the_same_cascade() {
    // publisher <- book (cascade) ; book.author -> author (restrict)
    let schema = Schema::builder()
        .table("author", |_| {})
        .table("publisher", |_| {})
        .table("book", |t| {
            t.foreign_key("author", "author").on_delete(OnDelete::Restrict);
            t.foreign_key("publisher", "publisher").on_delete(OnDelete::Cascade);
        })
        .table("series", |t| {
            t.foreign_key("author", "author").on_delete(OnDelete::Cascade).related_name("series");
            t.foreign_key("lead", "book").on_delete(OnDelete::Cascade);
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        let a = tx.insert("author", row! {})?;
        let p = tx.insert("publisher", row! {})?;
        let b = tx.insert("book", row! { "author" => a, "publisher" => p })?;
        let before = snapshot(tx);
        let e = tx.delete(a).unwrap_err();
        assert!(matches!(e, Error::Restricted { count: 1, .. }), "{e}");
        assert_eq!(snapshot(tx), before);
        // Deleting the publisher cascades to the book: allowed.
        let d = tx.delete(p)?;
        assert_eq!(d.count("book"), 1);
        // A restricted row that the same delete removes through a cascade is fine.
        let p2 = tx.insert("publisher", row! {})?;
        let b2 = tx.insert("book", row! { "author" => a, "publisher" => p2 })?;
        tx.insert("series", row! { "author" => a, "lead" => b2 })?;
        let _ = b;
        let e = tx.delete(a).unwrap_err();
        assert!(matches!(e, Error::Restricted { .. }), "series cascades but does not delete the book: {e}");
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn restrict_allowed_when_cascade_reaches_the_referencing_row() {
    // Django's example: artist <- album (cascade); song.artist restrict,
    // song.album cascade. Deleting the artist deletes the album, whose
    // cascade deletes the song, so the restrict is satisfied.
    let schema = Schema::builder()
        .table("artist", |_| {})
        .table("album", |t| {
            t.foreign_key("artist", "artist").on_delete(OnDelete::Cascade);
        })
        .table("song", |t| {
            t.foreign_key("artist", "artist").on_delete(OnDelete::Restrict);
            t.foreign_key("album", "album").on_delete(OnDelete::Cascade);
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        let artist = tx.insert("artist", row! {})?;
        let album = tx.insert("album", row! { "artist" => artist })?;
        tx.insert("song", row! { "artist" => artist, "album" => album })?;
        let d = tx.delete(artist)?;
        assert_eq!((d.count("artist"), d.count("album"), d.count("song")), (1, 1, 1));
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn set_null_and_set_default() {
    let db = db(OnDelete::SetNull, true, None);
    db.write(|tx| {
        let a = tx.insert("author", row! { "name" => "a" })?;
        let b = tx.insert("book", row! { "title" => "1", "author" => a })?;
        let d = tx.delete(a)?;
        assert_eq!((d.count("author"), d.count("book")), (1, 0));
        assert_eq!(tx.get(b).unwrap().get("author_id"), Some(junctiondb::ValueRef::Null));
        Ok::<_, Error>(())
    })
    .unwrap();

    let db = db_with_default();
    db.write(|tx| {
        let fallback = tx.insert("author", row! { "name" => "fallback" })?;
        assert_eq!(fallback.id(), 1);
        let a = tx.insert("author", row! { "name" => "a" })?;
        let b = tx.insert("book", row! { "title" => "1", "author" => a })?;
        tx.delete(a)?;
        assert_eq!(tx.get(b).unwrap().int("author_id"), Some(1));
        // Deleting the default's own row would leave the key dangling.
        let e = tx.delete(fallback).unwrap_err();
        assert!(matches!(e, Error::ForeignKey { id: 1, .. }), "{e}");
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

fn db_with_default() -> Database {
    db(OnDelete::SetDefault, false, Some(1))
}

#[test]
fn do_nothing_follows_db_constraint() {
    let db = db(OnDelete::DoNothing, false, None);
    db.write(|tx| {
        let a = tx.insert("author", row! { "name" => "a" })?;
        tx.insert("book", row! { "title" => "1", "author" => a })?;
        assert!(matches!(tx.delete(a), Err(Error::Restricted { .. })), "the constraint refuses a dangling key");
        Ok::<_, Error>(())
    })
    .unwrap();
    let schema = Schema::builder()
        .table("author", |_| {})
        .table("book", |t| {
            t.foreign_key("author", "author").on_delete(OnDelete::DoNothing).db_constraint(false);
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        let a = tx.insert("author", row! {})?;
        let b = tx.insert("book", row! { "author" => a })?;
        let dangling = tx.insert("book", row! { "author" => 77 })?;
        tx.delete(a)?;
        assert_eq!(tx.get(b).unwrap().int("author_id"), Some(a.id()), "the id dangles");
        assert_eq!(tx.get(dangling).unwrap().int("author_id"), Some(77));
        // When a row with that id appears, the reverse accessor sees it.
        let late = tx.insert("author", row! { "id" => 77 })?;
        assert_eq!(tx.related(late, "book_set")?.ids().collect::<Vec<_>>(), [dangling.id()]);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn deleting_a_row_removes_its_links_in_every_relation_from_both_ends() {
    let schema = Schema::builder()
        .table("tag", |_| {})
        .table("post", |t| {
            t.many_to_many("tags", "tag");
            t.many_to_many("pinned", "tag").related_name("pinned_on");
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        let t1 = tx.insert("tag", row! {})?;
        let t2 = tx.insert("tag", row! {})?;
        let p1 = tx.insert("post", row! {})?;
        let p2 = tx.insert("post", row! {})?;
        tx.related(p1, "tags")?.add([t1, t2])?;
        tx.related(p2, "tags")?.add([t1])?;
        tx.related(p1, "pinned")?.add([t1])?;
        let d = tx.delete(t1)?;
        assert_eq!((d.count("tag"), d.count("post_tags"), d.count("post_pinned")), (1, 2, 1));
        assert_eq!(tx.related(p1, "tags")?.ids().collect::<Vec<_>>(), [t2.id()]);
        let d = tx.delete(p1)?;
        assert_eq!(d.count("post_tags"), 1);
        assert!(!tx.related(t2, "post_set")?.exists());
        assert_eq!(tx.count("post")?, 1);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A row may name itself in a non-nullable key of its own table when it is
/// inserted (Django's deferred constraints allow `Node(id=1, parent_id=1)`;
/// checked at once, no such row could ever be inserted): by an explicit id
/// or by the id it is about to get. Deleting it then follows the rules as
/// for any row: a cascade takes its children, and a `Protect` key on
/// itself refuses its own delete, as Django's collector does.
#[test]
fn a_row_may_name_itself_in_a_key_of_its_table() {
    let schema = |rule: OnDelete| {
        Schema::builder()
            .table("node", move |t| {
                t.foreign_key("parent", "self").related_name("children").on_delete(rule);
            })
            .build()
            .unwrap()
    };
    let db = Database::new(schema(OnDelete::Cascade));
    db.write(|tx| {
        let root = tx.insert("node", row! { "id" => 1, "parent" => 1 })?;
        let next = tx.insert("node", row! { "parent" => 2 })?;
        assert_eq!(next.id(), 2, "the id it was about to get");
        let child = tx.insert("node", row! { "parent" => root })?;
        let missing = tx.insert("node", row! { "parent" => 99 });
        assert!(matches!(missing, Err(Error::ForeignKey { id: 99, .. })), "{missing:?}");
        let taken = tx.insert("node", row! { "id" => 1, "parent" => 1 });
        assert!(matches!(taken, Err(Error::Unique { .. })), "{taken:?}");
        let d = tx.delete(root)?;
        assert_eq!(d.count("node"), 2, "the root and its child");
        assert!(tx.get(child).is_none() && tx.get(next).is_some());
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
    let db = Database::new(schema(OnDelete::Protect));
    db.write(|tx| {
        let me = tx.insert("node", row! { "parent" => 1 })?;
        let before = snapshot(tx);
        assert!(matches!(tx.delete(me), Err(Error::Protected { .. })));
        assert_eq!(snapshot(tx), before);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// `delete_many` deletes in one collector, as Django's `QuerySet.delete()`:
/// rows restricted by one another all go, whatever their order; a key
/// given twice counts once; a link row of an auto-created through table
/// goes with the rest; a missing key refuses the whole delete.
#[test]
fn delete_many_is_one_delete() {
    let schema = Schema::builder()
        .table("node", |t| {
            t.foreign_key("next", "self").nullable().on_delete(OnDelete::Restrict).related_name("prev");
            t.many_to_many("tags", "tag");
        })
        .table("tag", |_| {})
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        let a = tx.insert("node", row! {})?;
        let b = tx.insert("node", row! { "next" => a })?;
        tx.update(a, row! { "next" => b })?;
        let keep = tx.insert("node", row! {})?;
        let tag = tx.insert("tag", row! {})?;
        tx.related(a, "tags")?.add([tag])?;
        tx.related(keep, "tags")?.add([tag])?;
        // Alone, each is restricted by the other.
        assert!(matches!(tx.delete(a), Err(Error::Restricted { .. })));
        let link = tx.query("node_tags")?.filter("node", keep)?.keys()[0];
        let before = snapshot(tx);
        let missing = Key::new(a.table(), 99);
        assert!(matches!(tx.delete_many([b, a, missing]), Err(Error::NotFound { id: 99, .. })));
        assert_eq!(snapshot(tx), before, "nothing changed");
        // A link row is deleted as its key is reached, before the later
        // keys are looked up or the rows deleted: a failure after it
        // (a missing key, a restricted row) puts it back.
        assert!(matches!(tx.delete_many([link, missing]), Err(Error::NotFound { id: 99, .. })));
        assert_eq!(snapshot(tx), before, "the link row is back");
        assert!(matches!(tx.delete_many([link, a]), Err(Error::Restricted { .. })));
        assert_eq!(snapshot(tx), before, "the link row is back");
        verify(tx);
        let d = tx.delete_many([b, a, b, link])?;
        assert_eq!((d.count("node"), d.count("node_tags"), d.total()), (2, 2, 4));
        assert!(tx.get(a).is_none() && tx.get(b).is_none() && tx.get(keep).is_some());
        assert_eq!(tx.count("node_tags")?, 0);
        assert_eq!(tx.delete_many([])?, Deleted::default());
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// Django's `ProtectedError.protected_objects` and
/// `RestrictedError.restricted_objects`: a refused delete lists every
/// referencing row that refuses it, across keys, tables and the cascade,
/// not only the first.
#[test]
fn a_refused_delete_lists_every_row_that_refuses_it() {
    let schema = Schema::builder()
        .table("author", |t| {
            t.column("name", Type::Text);
        })
        .table("book", |t| {
            t.foreign_key("author", "author").on_delete(OnDelete::Cascade);
        })
        .table("review", |t| {
            t.foreign_key("book", "book").on_delete(OnDelete::Protect);
        })
        .table("prize", |t| {
            t.foreign_key("author", "author").on_delete(OnDelete::Protect);
            t.foreign_key("book", "book").on_delete(OnDelete::Protect);
        })
        .table("loan", |t| {
            t.foreign_key("book", "book").on_delete(OnDelete::Restrict);
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    let (a, rows) = db
        .write(|tx| {
            let a = tx.insert("author", row! { "name" => "a" })?;
            let (b1, b2) = (tx.insert("book", row! { "author" => a })?, tx.insert("book", row! { "author" => a })?);
            let r1 = tx.insert("review", row! { "book" => b1 })?;
            let r2 = tx.insert("review", row! { "book" => b2 })?;
            let r3 = tx.insert("review", row! { "book" => b2 })?;
            // One row protecting through two keys is listed once.
            let p = tx.insert("prize", row! { "author" => a, "book" => b1 })?;
            let l1 = tx.insert("loan", row! { "book" => b1 })?;
            let l2 = tx.insert("loan", row! { "book" => b2 })?;
            Ok::<_, Error>((a, [r1, r2, r3, p, l1, l2]))
        })
        .unwrap();
    let [r1, r2, r3, p, l1, l2] = rows;
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    let e = db.write(|tx| tx.delete(a)).unwrap_err();
    let Error::Protected { referencing, count, .. } = &e else { panic!("{e:?}") };
    assert_eq!(referencing, &[r1, r2, r3, p], "by table, then id");
    assert!(e.to_string().ends_with(&format!("(and {} more row(s) protect the delete)", 4 - count)), "{e}");
    assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), before);

    // Without the protecting rows, the loans restrict the delete: both.
    db.write(|tx| tx.delete_many([r1, r2, r3, p])).unwrap();
    let e = db.write(|tx| tx.delete(a)).unwrap_err();
    let Error::Restricted { referencing, .. } = &e else { panic!("{e:?}") };
    assert_eq!(referencing, &[l1, l2]);
    // A loan deleted with the author is no refusal.
    let d = db.write(|tx| tx.delete_many([a, l1, l2])).unwrap();
    assert_eq!((d.count("author"), d.count("book"), d.count("loan")), (1, 2, 2));
    verify(&db.begin_read().unwrap());
}

/// A custom through table's link keys follow their own `on_delete`, as in
/// Django: deleting an end deletes its through rows only when the key
/// cascades. `Protect` refuses the delete; `SetNull` keeps the through row
/// with no end there (it links nothing, and reads from the other end no
/// longer list it); `SetDefault` moves the link to the default row.
#[test]
fn a_custom_through_row_follows_its_link_key_on_delete() {
    let db = |rule: OnDelete| {
        let schema = Schema::builder()
            .table("person", |t| {
                t.column("name", Type::Text);
            })
            .table("group", |t| {
                t.many_to_many("members", "person").through("membership").related_name("clubs");
            })
            .table("membership", move |t| {
                let person = t.foreign_key("person", "person").on_delete(rule);
                match rule {
                    OnDelete::SetNull => person.nullable(),
                    OnDelete::SetDefault => person.default(1),
                    _ => person,
                };
                t.foreign_key("group", "group").on_delete(OnDelete::Cascade);
            })
            .build()
            .unwrap();
        Database::new(schema)
    };
    // Rows: person 1 (the default), person 2 in group g.
    let load = |db: &Database| {
        db.write(|tx| {
            let fallback = tx.insert("person", row! { "name" => "fallback" })?;
            let p = tx.insert("person", row! { "name" => "p" })?;
            let g = tx.insert("group", row! {})?;
            tx.related(g, "members")?.add([p])?;
            Ok::<_, Error>((fallback, p, g))
        })
        .unwrap()
    };
    let members = |db: &Database, g: Key| {
        db.read(|tx| Ok::<_, Error>(tx.related(g, "members")?.keys().collect::<Vec<_>>())).unwrap()
    };

    let protect = db(OnDelete::Protect);
    let (_, p, g) = load(&protect);
    let before = protect.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    assert!(matches!(protect.write(|tx| tx.delete(p)), Err(Error::Protected { .. })));
    assert_eq!(protect.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), before);
    assert_eq!(members(&protect, g), [p]);

    let set_null = db(OnDelete::SetNull);
    let (_, p, g) = load(&set_null);
    let d = set_null.write(|tx| tx.delete(p)).unwrap();
    assert_eq!((d.count("person"), d.count("membership")), (1, 0));
    assert_eq!(members(&set_null, g), []);
    set_null
        .read(|tx| {
            assert_eq!(tx.count("membership")?, 1);
            let rows = tx.query("membership")?.values(&["person", "group"])?;
            assert_eq!(rows, vec![row! { "person" => None::<i64>, "group" => g.id() }]);
            verify(tx);
            Ok::<_, Error>(())
        })
        .unwrap();

    let set_default = db(OnDelete::SetDefault);
    let (fallback, p, g) = load(&set_default);
    assert_eq!(fallback.id(), 1);
    let d = set_default.write(|tx| tx.delete(p)).unwrap();
    assert_eq!((d.count("person"), d.count("membership")), (1, 0));
    assert_eq!(members(&set_default, g), [fallback]);
    set_default
        .read(|tx| {
            assert_eq!(tx.related(fallback, "clubs")?.keys().collect::<Vec<_>>(), [g]);
            verify(tx);
            Ok::<_, Error>(())
        })
        .unwrap();
}
