//! Write transactions are atomic: errors, panics and drops roll back
//! everything; readers never see half a write.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{snapshot, verify};
use junctiondb::{row, Database, Error, Schema, Target, Type, View};

fn db() -> Database {
    let schema = Schema::builder()
        .table("account", |t| {
            t.column("name", Type::Text).unique();
            t.column("balance", Type::Int);
        })
        .table("tag", |t| {
            t.column("label", Type::Text);
        })
        .table("post", |t| {
            t.column("title", Type::Text);
            t.many_to_many("tags", "tag");
            t.foreign_key("author", "account").nullable();
        })
        .build()
        .unwrap();
    Database::new(schema)
}

#[test]
fn a_thousand_inserts_then_a_unique_violation_leave_the_database_identical() {
    let db = db();
    db.write(|tx| {
        let a = tx.insert("account", row! { "name" => "a", "balance" => 10 })?;
        let p = tx.insert("post", row! { "title" => "p", "author" => a })?;
        let t = tx.insert("tag", row! { "label" => "x" })?;
        tx.related(p, "tags")?.add([t])?;
        tx.delete(t)?; // leaves a free slot, so later inserts reuse it
        Ok::<_, Error>(())
    })
    .unwrap();
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    let err = db
        .write(|tx| {
            for i in 0..1000 {
                let tag = tx.insert("tag", row! { "label" => format!("t{i}") })?;
                let post = tx.insert("post", row! { "title" => format!("p{i}") })?;
                tx.related(post, "tags")?.add([tag])?;
            }
            tx.insert("account", row! { "name" => "a", "balance" => 0 })?;
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(matches!(err, Error::Unique { .. }));
    let after = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    assert_eq!(before, after);
    // Auto-increment counters rolled back too: the next ids are as before.
    db.write(|tx| {
        assert_eq!(tx.insert("tag", row! { "label" => "y" })?.id(), 2);
        assert_eq!(tx.insert("post", row! { "title" => "q" })?.id(), 2);
        verify(&*tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn a_panic_inside_write_rolls_back_and_the_next_write_succeeds() {
    let db = db();
    let before = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.write(|tx| {
            tx.insert("account", row! { "name" => "p", "balance" => 1 })?;
            panic!("boom");
            #[allow(unreachable_code)]
            Ok::<_, Error>(())
        })
    }));
    assert!(result.is_err());
    assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), before);
    db.write(|tx| tx.insert("account", row! { "name" => "p", "balance" => 1 })).unwrap();
    assert_eq!(db.read(|v| v.count("account")).unwrap(), 1);
}

#[test]
fn begin_write_rolls_back_on_drop_and_commits_on_commit() {
    let db = db();
    {
        let mut tx = db.begin_write().unwrap();
        tx.insert("account", row! { "name" => "gone", "balance" => 1 }).unwrap();
        assert_eq!(tx.count("account").unwrap(), 1, "a transaction sees its own writes");
    }
    assert_eq!(db.read(|v| v.count("account")).unwrap(), 0);
    let mut tx = db.begin_write().unwrap();
    tx.insert("account", row! { "name" => "kept", "balance" => 1 }).unwrap();
    tx.commit();
    assert_eq!(db.read(|v| v.count("account")).unwrap(), 1);
}

#[test]
fn a_failed_call_inside_a_transaction_undoes_only_itself() {
    let db = db();
    db.write(|tx| {
        tx.insert("account", row! { "name" => "a", "balance" => 1 })?;
        let err = tx.insert("account", row! { "name" => "a", "balance" => 2 }).unwrap_err();
        assert!(matches!(err, Error::Unique { .. }));
        tx.insert("account", row! { "name" => "b", "balance" => 2 })?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.read(|v| v.count("account")).unwrap(), 2);
}

#[test]
fn a_failed_call_in_the_middle_of_a_run_of_links_undoes_only_its_own_links() {
    // Appended links are logged apart, in runs (one marker per run); a
    // call that fails after continuing the previous call's run must undo
    // its own links and keep the earlier ones, in order.
    let db = db();
    let initial = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    let result = db.write(|tx| {
        let p = tx.insert("post", row! { "title" => "p" })?;
        let mut tags = Vec::new();
        for i in 0..8 {
            tags.push(tx.insert("tag", row! { "label" => format!("t{i}") })?);
        }
        tx.related(p, "tags")?.add(tags[..3].to_vec())?;
        let linked = |v: &View| v.related(p, "tags").unwrap().ids().collect::<Vec<_>>();
        let (before, order) = (snapshot(tx), linked(tx));
        let targets = [Target::from(tags[3]), Target::from(tags[4]), Target::Id(999)];
        let err = tx.related(p, "tags")?.add(targets).unwrap_err();
        assert!(matches!(err, Error::NotFound { id: 999, .. }), "{err:?}");
        assert_eq!((snapshot(tx), linked(tx)), (before, order.clone()));
        verify(tx);
        // A row, then a new run of links, then a failing call in that run.
        tx.insert("account", row! { "name" => "a", "balance" => 1 })?;
        tx.related(p, "tags")?.add([tags[5]])?;
        let before = snapshot(tx);
        let err = tx.related(p, "tags")?.add([Target::from(tags[6]), Target::Id(998)]).unwrap_err();
        assert!(matches!(err, Error::NotFound { id: 998, .. }), "{err:?}");
        assert_eq!(snapshot(tx), before);
        assert_eq!(linked(tx), [order, vec![tags[5].id()]].concat());
        verify(tx);
        Err::<(), _>(Error::Reentrant)
    });
    assert!(matches!(result, Err(Error::Reentrant)));
    db.read(|v| {
        verify(v);
        assert_eq!(snapshot(v), initial, "the whole transaction is undone");
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// The exclusive path (`write_mut`, `begin_write_mut`) takes no lock, and
/// keeps every promise of the locked one: commit on `Ok`, a complete
/// rollback on an error, a panic or a drop, and a database that the next
/// transaction of either kind finds as the last commit left it.
#[test]
fn write_mut_commits_and_rolls_back_as_write_does() {
    let mut db = db();
    let (p, tags) = db
        .write_mut(|tx| {
            let p = tx.insert("post", row! { "title" => "p" })?;
            let tags = (0..12)
                .map(|i| tx.insert("tag", row! { "label" => format!("t{i}") }))
                .collect::<Result<Vec<_>, _>>()?;
            tx.related(p, "tags")?.add(tags[..10].to_vec())?;
            Ok::<_, Error>((p, tags))
        })
        .unwrap();
    let committed = db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap();
    assert_eq!(db.read(|v| Ok::<_, Error>(v.related(p, "tags")?.count())).unwrap(), 10);

    // An error undoes every change of the closure, links and rows alike.
    let err = db
        .write_mut(|tx| {
            tx.related(p, "tags")?.remove(tags[..4].to_vec())?;
            tx.related(p, "tags")?.add([tags[10]])?;
            tx.delete(tags[11])?;
            tx.insert("account", row! { "name" => "a", "balance" => 1 })?;
            tx.insert("account", row! { "name" => "a", "balance" => 2 })
        })
        .unwrap_err();
    assert!(matches!(err, Error::Unique { .. }), "{err:?}");
    db.read(|v| {
        verify(v);
        assert_eq!(snapshot(v), committed);
        Ok::<_, Error>(())
    })
    .unwrap();

    // So does a panic, and the database stays usable.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.write_mut(|tx| {
            tx.related(p, "tags")?.clear()?;
            panic!("boom");
            #[allow(unreachable_code)]
            Ok::<_, Error>(())
        })
    }));
    assert!(result.is_err());
    assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), committed);

    // And a dropped transaction; a committed one is kept.
    {
        let mut tx = db.begin_write_mut();
        tx.related(p, "tags").unwrap().remove([tags[0]]).unwrap();
        assert_eq!(tx.related(p, "tags").unwrap().count(), 9, "a transaction sees its own writes");
    }
    assert_eq!(db.read(|v| Ok::<_, Error>(snapshot(v))).unwrap(), committed);
    let mut tx = db.begin_write_mut();
    tx.related(p, "tags").unwrap().remove([tags[0]]).unwrap();
    tx.commit();

    // The locked path sees what the exclusive one committed, and the
    // other way round.
    db.write(|tx| tx.related(p, "tags")?.add([tags[11]])).unwrap();
    let ids = db.write_mut(|tx| Ok::<_, Error>(tx.related(p, "tags")?.ids().collect::<Vec<_>>())).unwrap();
    let mut expected: Vec<i64> = tags[1..10].iter().chain(&tags[11..]).map(|k| k.id()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    db.read(|v| {
        verify(v);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A thread holding another database's lock can still write to one it
/// owns: the exclusive path neither takes nor records a lock.
#[test]
fn write_mut_needs_no_lock_and_records_none() {
    let other = db();
    let mut mine = db();
    other
        .read(|_| {
            mine.write_mut(|tx| tx.insert("tag", row! { "label" => "x" }))?;
            let tx = mine.begin_write_mut();
            drop(tx);
            Ok::<_, Error>(())
        })
        .unwrap();
    // Nothing was left recorded as held: both databases lock as usual.
    assert_eq!(mine.read(|v| v.count("tag")).unwrap(), 1);
    other.write(|tx| tx.insert("tag", row! { "label" => "y" })).unwrap();
    assert_eq!(mine.write(|tx| tx.count("tag")).unwrap(), 1);
}

#[test]
fn nested_lock_on_the_same_thread_is_an_error_not_a_deadlock() {
    let db = db();
    let err = db.write(|_| db.read(|v| v.count("account"))).unwrap_err();
    assert_eq!(err, Error::Reentrant);
    let err = db.read(|_| db.write(|tx| tx.insert("tag", row! { "label" => "x" }))).unwrap_err();
    assert_eq!(err, Error::Reentrant);
    let _r = db.begin_read().unwrap();
    assert!(matches!(db.begin_read(), Err(Error::Reentrant)));
}

#[test]
fn a_leaked_transaction_is_as_documented_never_a_panic() {
    // Leaked through the lock: this thread is refused, not deadlocked; an
    // exclusive borrow needs no lock and keeps the leaked change.
    let mut db = db();
    let mut tx = db.begin_write().unwrap();
    tx.insert("tag", row! { "label" => "leaked" }).unwrap();
    std::mem::forget(tx);
    assert_eq!(db.read(|v| v.count("tag")), Err(Error::Reentrant));
    assert!(matches!(db.begin_write(), Err(Error::Reentrant)));
    assert_eq!(db.write_mut(|tx| tx.count("tag")), Ok::<_, Error>(1));
    // Leaked through an exclusive borrow: the change stays, as if
    // committed, and the next transaction sees it.
    let mut db = self::db();
    let mut tx = db.begin_write_mut();
    tx.insert("tag", row! { "label" => "leaked" }).unwrap();
    std::mem::forget(tx);
    assert_eq!(db.read(|v| v.count("tag")), Ok::<_, Error>(1));
    db.write(|tx| tx.insert("tag", row! { "label" => "next" })).unwrap();
    assert_eq!(db.read(|v| v.count("tag")), Ok::<_, Error>(2));
}

/// What a thread-local destructor does at thread exit.
enum AtExit {
    /// Writes a row into the database.
    Write(Arc<Database>, Arc<AtomicUsize>),
    /// Runs the inner one while holding a read of this database.
    ReadAround(Arc<Database>, Box<AtExit>),
    /// Counts a refused (reentrant) write into the database.
    Reenter(Arc<Database>, Arc<AtomicUsize>),
}

impl AtExit {
    fn run(&self) {
        match self {
            AtExit::Write(db, written) => {
                if db.write(|tx| tx.insert("tag", row! { "label" => "at exit" })).is_ok() {
                    written.fetch_add(1, Ordering::SeqCst);
                }
            }
            AtExit::ReadAround(db, inner) => {
                let _read = db.begin_read().expect("no lock of it held");
                inner.run();
            }
            AtExit::Reenter(db, refused) => {
                if matches!(db.begin_write(), Err(Error::Reentrant)) {
                    refused.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }
}

/// Runs its `AtExit`s when dropped: the first thread-local to get a
/// destructor in the test's thread, so the last to run it.
struct Outer(Vec<AtExit>);

impl Drop for Outer {
    fn drop(&mut self) {
        for at_exit in &self.0 {
            at_exit.run();
        }
    }
}

thread_local! {
    static AT_EXIT: std::cell::RefCell<Outer> = const { std::cell::RefCell::new(Outer(Vec::new())) };
}

#[test]
fn a_transaction_opened_by_a_thread_local_destructor_works() {
    // `AT_EXIT` is touched before the thread's first transaction, so its
    // destructor runs after those of the lock records the transaction
    // touched, if they had destructors (they run newest first). It writes
    // once holding no lock, and once inside a read of another database, as
    // the second lock this thread holds; and a write inside a read of the
    // same database, held as the second lock, is refused as reentrant.
    let (db, other) = (Arc::new(db()), Arc::new(db()));
    let written = Arc::new(AtomicUsize::new(0));
    let (d, o, w) = (Arc::clone(&db), Arc::clone(&other), Arc::clone(&written));
    std::thread::spawn(move || {
        AT_EXIT.with(|outer| {
            let write = || AtExit::Write(Arc::clone(&d), Arc::clone(&w));
            let reenter = AtExit::Reenter(Arc::clone(&o), Arc::clone(&w));
            let around = |db: &Arc<Database>, inner| AtExit::ReadAround(Arc::clone(db), Box::new(inner));
            let reentrant = around(&d, around(&o, reenter));
            outer.borrow_mut().0.extend([write(), around(&o, write()), reentrant]);
        });
        let _first = d.begin_read().unwrap();
        let _second = o.begin_read().unwrap();
    })
    .join()
    .expect("the thread exits without a panic");
    assert_eq!(written.load(Ordering::SeqCst), 3, "two writes and one refusal");
    assert_eq!(db.read(|v| v.count("tag")), Ok::<_, Error>(2));
    assert_eq!(other.read(|v| v.count("tag")), Ok::<_, Error>(0));
}

#[test]
fn a_lock_still_held_after_the_first_one_is_released_is_still_reentrant() {
    // This thread takes a's lock first and b's second, then releases a's:
    // b's lock is still held, so taking it again must fail, not block.
    let (a, b) = (db(), db());
    let read_a = a.begin_read().unwrap();
    let write_b = b.begin_write().unwrap();
    drop(read_a);
    assert!(matches!(b.begin_read(), Err(Error::Reentrant)));
    assert!(matches!(b.begin_write(), Err(Error::Reentrant)));
    // a's lock is free again, and taking it does not forget b's.
    let read_a = a.begin_read().unwrap();
    assert!(matches!(b.begin_read(), Err(Error::Reentrant)));
    drop(read_a);
    drop(write_b);
    // Both are free now.
    let (read_a, read_b) = (a.begin_read().unwrap(), b.begin_read().unwrap());
    drop((read_b, read_a));
    assert_eq!(b.write(|tx| tx.insert("tag", row! { "label" => "z" })).map(|k| k.id()), Ok(1));
}

/// Every table's rows, as `common::snapshot` lists them.
type Snapshot = Vec<(String, Vec<junctiondb::Row>)>;

/// The state a nested block must leave as it found it: every table's rows
/// and each post's tags in list order.
fn state_of(v: &View) -> (Snapshot, Vec<Vec<i64>>) {
    let posts: Vec<junctiondb::Key> = v.scan("post").unwrap().map(|r| r.key()).collect();
    let tags = posts.iter().map(|&p| v.related(p, "tags").unwrap().ids().collect()).collect();
    (snapshot(v), tags)
}

/// A nested block that fails undoes its own inserts, updates, links,
/// unlinks and cascading deletes, in list order too; the transaction goes
/// on and commits what was done outside the block and in blocks that
/// succeeded.
#[test]
fn a_nested_block_that_fails_undoes_only_its_own_changes() {
    let mut db = db();
    let (a, p, tags) = db
        .write_mut(|tx| {
            let a = tx.insert("account", row! { "name" => "a", "balance" => 10 })?;
            let p = tx.insert("post", row! { "title" => "p", "author" => a })?;
            let tags =
                (0..6).map(|i| tx.insert("tag", row! { "label" => format!("t{i}") })).collect::<Result<Vec<_>, _>>()?;
            tx.related(p, "tags")?.add(tags[..4].to_vec())?;
            Ok::<_, Error>((a, p, tags))
        })
        .unwrap();
    let committed = db
        .write(|tx| {
            tx.update(a, row! { "balance" => 11 })?;
            let before = state_of(tx);
            let mut undone = None;
            let failed = tx.atomic(|tx| {
                undone = Some(tx.insert("account", row! { "name" => "b", "balance" => 1 })?);
                tx.update(a, row! { "balance" => 0 })?;
                tx.related(p, "tags")?.remove([tags[1]])?;
                tx.related(p, "tags")?.add([tags[4], tags[5]])?;
                tx.delete(tags[0])?; // cascades to its link row
                let q = tx.insert("post", row! { "title" => "q", "author" => a })?;
                tx.related(q, "tags")?.set([tags[2], tags[3]])?;
                verify(tx);
                Err::<(), _>(Error::vetoed("changed my mind"))
            });
            assert!(matches!(failed, Err(Error::Vetoed { .. })), "{failed:?}");
            assert_eq!(state_of(tx), before, "the block left nothing behind");
            verify(tx);
            // The block's error may be any type.
            let plain: Result<(), &str> =
                tx.atomic(|tx| tx.delete(a).map(drop).map_err(|_| "unexpected").and(Err("no")));
            assert_eq!(plain, Err("no"));
            assert_eq!(state_of(tx), before);
            // A block that succeeds keeps its changes.
            let c = tx.atomic(|tx| tx.insert("account", row! { "name" => "c", "balance" => 3 }))?;
            // The undone insert's id is given again, as after a rollback.
            assert_eq!(Some(c), undone);
            tx.related(p, "tags")?.remove([tags[3]])?;
            Ok::<_, Error>(c)
        })
        .unwrap();
    db.read(|v| {
        verify(v);
        let names: Vec<String> = v.scan("account")?.map(|r| r.text("name").unwrap().to_owned()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(v.get(a).unwrap().int("balance"), Some(11));
        assert_eq!(v.get(committed).unwrap().int("balance"), Some(3));
        let linked: Vec<i64> = v.related(p, "tags")?.ids().collect();
        assert_eq!(linked, [tags[0].id(), tags[1].id(), tags[2].id()]);
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// Blocks nest: each undoes its own changes only, an inner failure does
/// not fail the outer block, and the transaction's own rollback takes
/// the changes of every block that succeeded with it.
#[test]
fn nested_blocks_each_undo_their_own_changes_and_go_with_the_transaction() {
    let db = db();
    let count = |v: &View| v.count("tag").unwrap();
    let result = db.write(|tx| {
        tx.insert("tag", row! { "label" => "outside" })?;
        tx.atomic(|tx| {
            tx.insert("tag", row! { "label" => "outer" })?;
            let inner = tx.atomic(|tx| {
                tx.insert("tag", row! { "label" => "inner" })?;
                tx.atomic(|tx| tx.insert("tag", row! { "label" => "innermost" }))?;
                assert_eq!(count(tx), 4);
                Err::<(), Error>(Error::vetoed("inner"))
            });
            assert!(matches!(inner, Err(Error::Vetoed { .. })), "{inner:?}");
            assert_eq!(count(tx), 2, "the inner block took its own inner block with it");
            Ok::<_, Error>(())
        })?;
        let labels: Vec<String> = tx.scan("tag")?.map(|r| r.text("label").unwrap().to_owned()).collect();
        assert_eq!(labels, ["outside", "outer"]);
        Err::<(), _>(Error::vetoed("the whole transaction"))
    });
    assert!(matches!(result, Err(Error::Vetoed { .. })));
    assert_eq!(db.read(|v| v.count("tag")).unwrap(), 0, "the blocks went with the transaction");
    // The ids the undone inserts took are free again, as after any rollback.
    assert_eq!(db.write(|tx| tx.insert("tag", row! { "label" => "x" })).unwrap().id(), 1);
}

/// A panic caught around a block finds every write of the block undone;
/// one caught around a bare call finds that call's writes undone, even
/// those it made before the panic (a `delete_many` whose keys panic after
/// one link row was deleted, an `add` or `remove` whose targets panic after
/// one pair was linked or unlinked, from either end). The transaction goes
/// on and commits.
#[test]
fn a_panic_caught_around_a_block_or_a_call_finds_its_writes_undone() {
    let db = db();
    let (p, tags) = db
        .write(|tx| {
            let p = tx.insert("post", row! { "title" => "p" })?;
            let tags =
                (0..4).map(|i| tx.insert("tag", row! { "label" => format!("t{i}") })).collect::<Result<Vec<_>, _>>()?;
            tx.related(p, "tags")?.add(tags[..3].to_vec())?;
            Ok::<_, Error>((p, tags))
        })
        .unwrap();
    // Yields one key, then panics.
    let panicking = |key: junctiondb::Key| {
        std::iter::once(key).chain(std::iter::from_fn(|| -> Option<junctiondb::Key> { panic!("keys ran out") }))
    };
    db.write(|tx| {
        let before = state_of(tx);
        let link = tx.scan("post_tags")?.next().unwrap().key();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = tx.atomic(|tx| {
                tx.insert("account", row! { "name" => "b", "balance" => 1 })?;
                tx.delete_many(panicking(link))
            });
        }));
        assert!(caught.is_err());
        assert_eq!(state_of(tx), before, "the block's writes are undone, the half-made delete's too");
        verify(tx);
        type Call<'a> = &'a dyn Fn(&mut junctiondb::WriteTxn<'_>);
        let bare_calls: [(&str, Call<'_>); 5] = [
            ("delete_many", &|tx| drop(tx.delete_many(panicking(link)))),
            ("remove", &|tx| drop(tx.related(p, "tags").unwrap().remove(panicking(tags[1])))),
            ("add", &|tx| drop(tx.related(p, "tags").unwrap().add(panicking(tags[3])))),
            ("reverse remove", &|tx| drop(tx.related(tags[0], "post_set").unwrap().remove(panicking(p)))),
            ("reverse add", &|tx| drop(tx.related(tags[3], "post_set").unwrap().add(panicking(p)))),
        ];
        for (call, run) in bare_calls {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(tx)));
            assert!(caught.is_err(), "{call} panicked");
            assert_eq!(state_of(tx), before, "{call}: the writes it made before the panic are undone");
            verify(tx);
        }
        tx.insert("account", row! { "name" => "after", "balance" => 1 })?;
        Ok::<_, Error>(())
    })
    .unwrap();
    db.read(|v| {
        assert_eq!((v.count("account")?, v.count("post_tags")?), (1, 3));
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn database_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Database>();
}

/// Transfers keep the total balance constant; readers on other threads
/// must always see the committed total while a writer commits transfers
/// and aborts half-done ones (by error and by panic) for a bounded time.
#[test]
fn readers_never_observe_half_of_a_write() {
    const ACCOUNTS: i64 = 8;
    const TOTAL: i64 = ACCOUNTS * 100;
    let db = Arc::new(db());
    let keys = db
        .write(|tx| {
            (0..ACCOUNTS)
                .map(|i| tx.insert("account", row! { "name" => format!("a{i}"), "balance" => 100 }))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, stop, reads) = (Arc::clone(&db), Arc::clone(&stop), Arc::clone(&reads));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    db.read(|v| {
                        let total: i64 = v.scan("account")?.map(|r| r.int("balance").unwrap_or(0)).sum();
                        assert_eq!(total, TOTAL, "a reader saw a half-applied transfer");
                        assert_eq!(v.count("account")?, ACCOUNTS as usize);
                        Ok::<_, Error>(())
                    })
                    .unwrap();
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_millis(700);
    let mut step = 0u64;
    while Instant::now() < deadline || reads.load(Ordering::Relaxed) < 50 {
        step += 1;
        let (from, to) = (keys[(step % 8) as usize], keys[((step * 3 + 1) % 8) as usize]);
        let amount = (step % 7) as i64;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.write(|tx| {
                let fb = tx.get(from).and_then(|r| r.int("balance")).unwrap_or(0);
                tx.update(from, row! { "balance" => fb - amount })?;
                tx.insert("account", row! { "name" => format!("temp{step}"), "balance" => 0 })?;
                match step % 5 {
                    0 => return Err(Error::NotFound { table: "account".into(), id: -1 }),
                    1 => panic!("writer dies mid-transfer"),
                    _ => {}
                }
                let temp = tx.find_by("account", "name", format!("temp{step}"))?[0].key();
                tx.delete(temp)?;
                let tb = tx.get(to).and_then(|r| r.int("balance")).unwrap_or(0);
                tx.update(to, row! { "balance" => tb + amount })?;
                Ok::<_, Error>(())
            })
        }));
        match step % 5 {
            0 => assert!(matches!(outcome, Ok(Err(_)))),
            1 => assert!(outcome.is_err()),
            _ => assert!(matches!(outcome, Ok(Ok(())))),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader thread");
    }
    db.read(|v| {
        verify(v);
        Ok::<_, Error>(())
    })
    .unwrap();
}
