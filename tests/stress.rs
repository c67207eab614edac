//! Concurrency stress, bounded in time and count: reader threads check
//! `verify()` and the invariants every committed write keeps (the balances
//! add up to the same total; every user is in exactly `K` groups; the
//! version row counts the commits) while one writer commits, fails
//! (returns `Err`), panics and drops transactions at random, each of the
//! failing ones after doing part of its work. Every state a reader sees
//! must be exactly one committed state: readers record a fingerprint of
//! what they saw with its version, the writer records the fingerprint of
//! every state it committed, and the two are compared at the end.
//!
//! Also: a `read` or `write` inside a `write` (or a `read`) on the same
//! thread is `Error::Reentrant`, not a deadlock.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::Rng;
use junctiondb::{row, Database, Error, Key, Schema, Type, View, WriteTxn};

const ACCOUNTS: i64 = 8;
const USERS: i64 = 6;
const GROUPS: i64 = 5;
/// Every user is in exactly this many groups in every committed state.
const K: usize = 2;
const TOTAL: i64 = ACCOUNTS * 100;

fn schema() -> Schema {
    Schema::builder()
        .table("meta", |t| {
            t.column("version", Type::Int);
        })
        .table("account", |t| {
            t.column("balance", Type::Int);
        })
        .table("group", |t| {
            t.column("name", Type::Text).unique();
        })
        .table("user", |t| {
            t.column("name", Type::Text).unique();
            t.many_to_many("groups", "group").related_name("members");
        })
        .build()
        .expect("schema builds")
}

fn key(v: &View, table: &str, id: i64) -> Key {
    v.key(table, id).expect("table").expect("row")
}

/// The version, and a fingerprint of everything the invariants are about.
/// Panics if an invariant does not hold.
fn observe(v: &View) -> (i64, u64) {
    if let Err(e) = v.verify() {
        panic!("verify() failed: {e}");
    }
    let version = v.get(key(v, "meta", 1)).and_then(|r| r.int("version")).expect("version row");
    let balances: Vec<(i64, i64)> =
        v.scan("account").expect("table").map(|r| (r.id(), r.int("balance").expect("balance"))).collect();
    assert_eq!(balances.len() as i64, ACCOUNTS, "an account went missing");
    let sum: i64 = balances.iter().map(|b| b.1).sum();
    assert_eq!(sum, TOTAL, "a reader saw a half-applied transfer (version {version})");
    let mut links = Vec::new();
    for u in 1..=USERS {
        let rel = v.related(key(v, "user", u), "groups").expect("accessor");
        let mut groups: Vec<i64> = rel.ids().collect();
        groups.sort_unstable();
        assert_eq!(groups.len(), K, "user {u} is in {groups:?}, not {K} groups (version {version})");
        assert_eq!(rel.count(), K);
        links.push(groups);
    }
    let mut sorted = balances.clone();
    sorted.sort_unstable();
    let mut h = DefaultHasher::new();
    (sorted, links).hash(&mut h);
    (version, h.finish())
}

/// A committed write: a transfer, one user moved to other groups, the
/// version bumped.
fn good_write(tx: &mut WriteTxn<'_>, rng: &mut Rng) -> Result<(), Error> {
    let (a, b) = (1 + rng.below(ACCOUNTS as usize) as i64, 1 + rng.below(ACCOUNTS as usize) as i64);
    let amount = rng.below(50) as i64;
    let bal = |tx: &WriteTxn<'_>, id| tx.get(key(tx, "account", id)).and_then(|r| r.int("balance")).expect("balance");
    let (ka, kb) = (key(tx, "account", a), key(tx, "account", b));
    let ba = bal(tx, a);
    tx.update(ka, row! { "balance" => ba - amount })?;
    let bb = bal(tx, b);
    tx.update(kb, row! { "balance" => bb + amount })?;
    let u = key(tx, "user", 1 + rng.below(USERS as usize) as i64);
    let first = rng.below(GROUPS as usize) as i64;
    let groups: Vec<i64> = (0..K as i64).map(|i| 1 + (first + i) % GROUPS).collect();
    tx.related(u, "groups")?.set(groups)?;
    let m = key(tx, "meta", 1);
    let version = tx.get(m).and_then(|r| r.int("version")).expect("version");
    tx.update(m, row! { "version" => version + 1 })?;
    Ok(())
}

/// Part of a write that breaks the invariants until it is finished.
fn half_write(tx: &mut WriteTxn<'_>, rng: &mut Rng) -> Result<(), Error> {
    let a = key(tx, "account", 1 + rng.below(ACCOUNTS as usize) as i64);
    tx.update(a, row! { "balance" => -1_000_000 })?;
    let u = key(tx, "user", 1 + rng.below(USERS as usize) as i64);
    tx.related(u, "groups")?.clear()?;
    tx.related(u, "groups")?.add([1i64])?;
    let m = key(tx, "meta", 1);
    tx.update(m, row! { "version" => -1 })?;
    Ok(())
}

#[test]
fn readers_only_see_committed_states() {
    let db = Arc::new(Database::new(schema()));
    db.write(|tx| {
        tx.insert("meta", row! { "version" => 0 })?;
        for _ in 0..ACCOUNTS {
            tx.insert("account", row! { "balance" => 100 })?;
        }
        for g in 0..GROUPS {
            tx.insert("group", row! { "name" => format!("g{g}") })?;
        }
        for u in 0..USERS {
            let k = tx.insert("user", row! { "name" => format!("u{u}") })?;
            tx.related(k, "groups")?.add((1..=K as i64).collect::<Vec<_>>())?;
        }
        Ok::<_, Error>(())
    })
    .expect("setup");

    let committed: Arc<Mutex<HashMap<i64, u64>>> = Arc::new(Mutex::new(HashMap::new()));
    committed.lock().expect("lock").insert(0, db.read(|v| Ok::<_, Error>(observe(v))).expect("read").1);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
            thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let obs = db.read(|v| Ok::<_, Error>(observe(v))).expect("read");
                    if let Some(&(last, _)) = seen.last() {
                        assert!(obs.0 >= last, "the version went back from {last} to {}", obs.0);
                    }
                    seen.push(obs);
                    thread::yield_now();
                }
                seen
            })
        })
        .collect();

    // Panics are expected here; keep them quiet.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if info.payload().downcast_ref::<&str>() != Some(&"injected") {
            eprintln!("{info}");
        }
    }));
    let mut rng = Rng(0x5EED);
    let start = Instant::now();
    let mut counts = [0usize; 4];
    let mut version = 0;
    while counts.iter().sum::<usize>() < 3000 && start.elapsed() < Duration::from_secs(2) {
        let kind = rng.below(4);
        counts[kind] += 1;
        match kind {
            0 => {
                db.write(|tx| good_write(tx, &mut rng)).expect("a good write commits");
                version += 1;
                let fp = db.read(|v| Ok::<_, Error>(observe(v))).expect("read");
                assert_eq!(fp.0, version);
                committed.lock().expect("lock").insert(version, fp.1);
            }
            1 => {
                let r = db.write(|tx| {
                    good_write(tx, &mut rng)?;
                    half_write(tx, &mut rng)?;
                    Err::<(), _>(Error::Unsupported { table: "meta".into(), reason: "injected".into() })
                });
                assert!(r.is_err());
            }
            2 => {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    db.write(|tx| -> Result<(), Error> {
                        good_write(tx, &mut rng)?;
                        half_write(tx, &mut rng)?;
                        if rng.below(2) == 0 {
                            panic!("injected");
                        }
                        std::panic::panic_any("injected")
                    })
                }));
                assert!(r.is_err());
            }
            _ => {
                let mut tx = db.begin_write().expect("begin");
                let _ = half_write(&mut tx, &mut rng);
                drop(tx);
            }
        }
    }
    std::panic::set_hook(hook);
    stop.store(true, Ordering::Relaxed);
    let committed = committed.lock().expect("lock").clone();
    let mut observed = 0;
    for r in readers {
        for (v, fp) in r.join().expect("a reader failed") {
            assert_eq!(committed.get(&v), Some(&fp), "a reader saw version {v} in a state that was never committed");
            observed += 1;
        }
    }
    assert!(counts.iter().all(|&c| c > 0), "not every kind of write ran: {counts:?}");
    assert!(observed > 0, "the readers saw nothing");
    eprintln!("writes {counts:?}, {observed} reads checked, {} versions", committed.len());
    let last = db.read(|v| Ok::<_, Error>(observe(v))).expect("read");
    assert_eq!(last, (version, committed[&version]));
}

#[test]
fn nested_transactions_on_one_thread_are_reentrant_errors() {
    let db = Database::new(schema());
    let r = db.write(|tx| {
        tx.insert("meta", row! { "version" => 0 })?;
        assert_eq!(db.read(|_| Ok::<_, Error>(())), Err(Error::Reentrant));
        assert_eq!(db.write(|_| Ok::<_, Error>(())), Err(Error::Reentrant));
        assert!(matches!(db.begin_read(), Err(Error::Reentrant)));
        assert!(matches!(db.begin_write(), Err(Error::Reentrant)));
        // The nested call's error, returned, rolls the outer write back.
        db.read(|_| Ok::<_, Error>(()))
    });
    assert_eq!(r, Err(Error::Reentrant));
    assert!(Error::Reentrant.to_string().contains("transaction open on this database"));
    db.read(|v| {
        assert_eq!(v.count("meta")?, 0, "the write that failed left its insert");
        assert_eq!(db.write(|_| Ok::<_, Error>(())), Err(Error::Reentrant));
        Ok::<_, Error>(())
    })
    .expect("read");
    // The database is still usable, from this thread and another.
    db.write(|tx| tx.insert("meta", row! { "version" => 1 })).expect("write after reentrancy");
    thread::scope(|s| {
        s.spawn(|| db.read(|v| v.count("meta")).expect("read from another thread"));
    });
    // An explicit transaction held by this thread blocks nested ones too.
    let tx = db.begin_write().expect("begin");
    assert!(matches!(db.begin_read(), Err(Error::Reentrant)));
    tx.commit();
    assert_eq!(db.read(|v| v.count("meta")).expect("read"), 1);
}
