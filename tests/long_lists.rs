//! Long lists through every form past the short ones: pooled blocks of
//! 48 to 256 entries (in slabs of their class), then a buffer of its own
//! past 256, with a hash index once a write has to search a long list
//! (a long pooled list moves to a buffer for it), dropped again below 16.
//! Each step is checked against a naive model: `verify()`, the ids from
//! both ends, `contains`, and rollbacks leaving everything as it was.

mod common;

use std::collections::BTreeSet;

use common::{snapshot, verify, Rng};
use junctiondb::{row, Database, Error, Key, Schema, View};

fn db() -> Database {
    let schema = Schema::builder()
        .table("group", |_| {})
        .table("user", |t| {
            t.many_to_many("groups", "group");
            t.many_to_many("clubs", "group").through("membership").related_name("club_members");
        })
        .table("membership", |t| {
            t.foreign_key("user", "user");
            t.foreign_key("group", "group");
        })
        .table("person", |t| {
            t.many_to_many("friends", "self");
        })
        .build()
        .unwrap();
    Database::new(schema)
}

fn ids(v: &View, key: Key, accessor: &str) -> BTreeSet<i64> {
    v.related(key, accessor).unwrap().ids().collect()
}

/// Every degree a long list's form changes at, and either side of it.
const CROSSINGS: [usize; 14] = [32, 33, 48, 49, 64, 65, 96, 97, 192, 193, 256, 257, 300, 512];

#[test]
fn a_group_grows_through_every_class_into_a_buffer_and_back() {
    let mut db = db();
    let (users, group) = db
        .write_mut(|tx| {
            let users: Vec<Key> = (0..520).map(|_| tx.insert("user", row! {})).collect::<Result<_, _>>()?;
            Ok::<_, Error>((users, tx.insert("group", row! {})?))
        })
        .unwrap();
    // Members join through both relations, one each by one, so the
    // group's reverse lists (auto-created and custom through) grow.
    let mut members = BTreeSet::new();
    let mut rng = Rng(41);
    for (n, &u) in users.iter().enumerate().take(*CROSSINGS.last().unwrap()) {
        db.write_mut(|tx| {
            tx.related(u, "groups")?.add([group])?;
            tx.related(u, "clubs")?.add([group])
        })
        .unwrap();
        members.insert(u.id());
        let degree = n + 1;
        if CROSSINGS.contains(&degree) {
            db.read(|v| {
                verify(v);
                assert_eq!(ids(v, group, "user_set"), members, "degree {degree}");
                assert_eq!(ids(v, group, "club_members"), members, "degree {degree}");
                for _ in 0..50 {
                    let probe = users[rng.below(users.len())];
                    let linked = members.contains(&probe.id());
                    assert_eq!(v.related(group, "user_set")?.contains(probe), linked, "degree {degree}");
                    assert_eq!(v.related(probe, "clubs")?.contains(group), linked, "degree {degree}");
                }
                Ok::<_, Error>(())
            })
            .unwrap();
            // A write that adds more members and then fails changes nothing.
            let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
            let err = db
                .write_mut(|tx| {
                    for &u in &users[degree..degree + 8] {
                        tx.related(u, "groups")?.add([group])?;
                        tx.related(group, "club_members")?.add([u])?;
                    }
                    tx.related(group, "user_set")?.add([Key::new(users[0].table(), 10_000)])
                })
                .unwrap_err();
            assert!(matches!(err, Error::NotFound { id: 10_000, .. }), "{err:?}");
            db.read(|v| {
                verify(v);
                assert_eq!(snapshot(v), before, "degree {degree}: the failed write is undone");
                Ok::<_, Error>(())
            })
            .unwrap();
        }
    }
    // Members leave in random order, down to none.
    let mut order: Vec<Key> = users[..members.len()].to_vec();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    for u in order {
        db.write_mut(|tx| {
            assert_eq!(tx.related(group, "user_set")?.remove([u])?, 1);
            assert_eq!(tx.related(u, "clubs")?.remove([group])?, 1);
            Ok::<_, Error>(())
        })
        .unwrap();
        members.remove(&u.id());
        if CROSSINGS.contains(&members.len()) || members.len() % 37 == 0 {
            db.read(|v| {
                verify(v);
                assert_eq!(ids(v, group, "user_set"), members);
                assert_eq!(ids(v, group, "club_members"), members);
                Ok::<_, Error>(())
            })
            .unwrap();
        }
    }
}

/// Two rows with long lists each, linked to each other: removing their
/// pair searches the shorter list, which is long too, so it is promoted
/// (a long pooled list moves to an indexed buffer); emptied again, it is
/// demoted and then inline.
#[test]
fn a_search_of_two_long_lists_promotes_the_shorter_and_demotes_it_again() {
    let mut db = db();
    for (a_degree, b_degree) in [(60, 45), (300, 120), (200, 280)] {
        let persons: Vec<Key> =
            db.write_mut(|tx| (0..320).map(|_| tx.insert("person", row! {})).collect::<Result<Vec<_>, _>>()).unwrap();
        let (a, b) = (persons[0], persons[1]);
        db.write_mut(|tx| {
            tx.related(a, "friends")?.add(persons[1..=a_degree].to_vec())?;
            tx.related(b, "friends")?.add(persons[2..b_degree].to_vec())?;
            Ok::<_, Error>(())
        })
        .unwrap();
        let friends_of = |v: &View, p: Key| ids(v, p, "friends");
        db.read(|v| {
            verify(v);
            assert_eq!(friends_of(v, a).len(), a_degree);
            assert_eq!(friends_of(v, b).len(), b_degree - 1);
            assert!(v.related(a, "friends")?.contains(b) && v.related(b, "friends")?.contains(a));
            Ok::<_, Error>(())
        })
        .unwrap();
        // Undone, the search's promotion leaves the lists' contents alone.
        let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
        let err = db
            .write_mut(|tx| {
                tx.related(a, "friends")?.remove([b])?;
                tx.related(a, "friends")?.add([Key::new(a.table(), 99_999)])
            })
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        db.read(|v| {
            verify(v);
            assert_eq!(snapshot(v), before);
            Ok::<_, Error>(())
        })
        .unwrap();
        db.write_mut(|tx| tx.related(a, "friends")?.remove([b])).unwrap();
        // A through row deleted by its key searches the same way (and
        // indexes what it searches); its mirror stays.
        let third = persons[2];
        let row = db
            .read(|v| {
                let rows = v.scan("person_friends")?;
                let mut keys = rows
                    .filter(|r| r.int("from_person_id") == Some(a.id()) && r.int("to_person_id") == Some(third.id()));
                Ok::<_, Error>(keys.next().map(|r| r.key()))
            })
            .unwrap()
            .expect("a links the third person");
        db.write_mut(|tx| tx.delete(row)).unwrap();
        db.read(|v| {
            verify(v);
            assert!(!v.related(a, "friends")?.contains(third) && v.related(third, "friends")?.contains(a));
            Ok::<_, Error>(())
        })
        .unwrap();
        db.write_mut(|tx| tx.related(third, "friends")?.remove([a])).unwrap();
        db.read(|v| {
            verify(v);
            assert!(!v.related(a, "friends")?.contains(b) && !v.related(b, "friends")?.contains(a));
            assert_eq!(friends_of(v, a).len(), a_degree - 2);
            assert_eq!(friends_of(v, b).len(), b_degree - 2);
            Ok::<_, Error>(())
        })
        .unwrap();
        // Both shrink to nothing, past the demotion.
        db.write_mut(|tx| {
            tx.related(a, "friends")?.clear()?;
            tx.related(b, "friends")?.clear()
        })
        .unwrap();
        db.read(|v| {
            verify(v);
            assert!(friends_of(v, a).is_empty() && friends_of(v, b).is_empty());
            assert!(persons[2..].iter().all(|&p| !v.related(p, "friends").unwrap().contains(a)));
            Ok::<_, Error>(())
        })
        .unwrap();
    }
}
