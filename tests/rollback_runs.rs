//! Rollbacks are exact across every kind of write, with the undo log's
//! link records kept apart in runs: random transactions mix inserts (with
//! explicit ids that promote dangling links), link adds on auto-created,
//! symmetrical, custom-through and unconstrained relations, `set`,
//! `clear`, `create`, `get_or_create`, through-row inserts and updates and
//! deletes with cascades and `Protect`, with calls that fail in the middle
//! of a run of links (missing ids, wrong-table keys, a required through
//! column, a unique through default failing on the second new row). Every
//! failed call leaves the transaction as it was (full snapshot, every
//! accessor in order), `verify()` holds after every step, and a
//! transaction ended by an error, a drop or a panic leaves the database
//! and its next ids as they were.

mod common;
mod model;

use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};

use common::{snapshot, verify, Rng};
use junctiondb::{row, Database, Error, Key, OnDelete, Row, Schema, Target, Type, View, WriteTxn};
use model::{quiet_injected_panics, InjectedPanic};

fn schema() -> Schema {
    Schema::builder()
        .table("person", |t| {
            t.column("name", Type::Text);
            t.many_to_many("friends", "self");
            t.many_to_many("follows", "person").related_name("followers");
        })
        .table("tag", |t| {
            t.column("label", Type::Text);
        })
        .table("group", |t| {
            t.column("name", Type::Text);
            t.many_to_many("members", "person").through("membership").through_fields("group", "person");
            t.many_to_many("tags", "tag").related_name("groups");
            t.many_to_many("loose", "person").db_constraint(false).related_name("loose_groups");
        })
        .table("membership", |t| {
            t.foreign_key("group", "group").on_delete(OnDelete::Cascade);
            t.foreign_key("person", "person").on_delete(OnDelete::Cascade);
            t.column("reason", Type::Text);
            t.column("badge", Type::Text).nullable().unique();
            t.column("level", Type::Int).default(1);
        })
        .table("post", |t| {
            t.column("title", Type::Text);
            t.foreign_key("author", "person").nullable().on_delete(OnDelete::Cascade);
            t.many_to_many("tags", "tag").related_name("posts");
        })
        .table("medal", |t| {
            t.foreign_key("owner", "person").on_delete(OnDelete::Protect);
        })
        .build()
        .expect("schema builds")
}

type Full = (Vec<(String, Vec<Row>)>, Vec<(Key, String, Vec<i64>)>);

/// Every table in scan order, and every accessor of every row in order
/// (both directions of each junction, so reverse-list order counts too).
fn full(v: &View) -> Full {
    let s = v.schema();
    let mut rel = Vec::new();
    for name in s.table_names() {
        let t = s.table(name).unwrap();
        let accs: Vec<String> = s.accessor_names(t).map(str::to_owned).collect();
        for r in v.scan(name).unwrap() {
            for a in &accs {
                rel.push((r.key(), a.clone(), v.related(r.key(), a).unwrap().ids().collect()));
            }
        }
    }
    (snapshot(v), rel)
}

fn keys(v: &View, table: &str) -> Vec<Key> {
    v.scan(table).unwrap().map(|r| r.key()).collect()
}

/// A target: usually an existing row of `table`, sometimes a missing id or
/// a key of another table.
fn target(rng: &mut Rng, v: &View, table: &str, bad: u64) -> Target {
    let ks = keys(v, table);
    if rng.chance(bad) || ks.is_empty() {
        if rng.chance(50) {
            Target::Id(10_000 + rng.below(50) as i64)
        } else {
            let other = if table == "tag" { "person" } else { "tag" };
            match keys(v, other).first() {
                Some(&k) => Target::from(k),
                None => Target::Id(20_000),
            }
        }
    } else {
        Target::from(rng.pick(&ks))
    }
}

fn targets(rng: &mut Rng, v: &View, table: &str) -> Vec<Target> {
    let n = 1 + rng.below(9);
    let bad = if rng.chance(40) { 8 } else { 0 };
    (0..n).map(|_| target(rng, v, table, bad)).collect()
}

fn pick_key(rng: &mut Rng, v: &View, table: &str) -> Option<Key> {
    let ks = keys(v, table);
    (!ks.is_empty()).then(|| rng.pick(&ks))
}

/// One random operation. Returns whether it failed.
fn op(rng: &mut Rng, tx: &mut WriteTxn<'_>, n: &mut usize) -> Result<(), Error> {
    *n += 1;
    let label = format!("x{n}");
    let badge = || -> Row {
        row! { "reason" => "r", "badge" => "dup" }
    };
    match rng.below(24) {
        0 | 1 => tx.insert("person", row! { "name" => label }).map(drop),
        2 => {
            // An explicit id, which may promote dangling links.
            let id = 10_000 + rng.below(50) as i64;
            tx.insert("person", row! { "id" => id, "name" => label }).map(drop)
        }
        3 => tx.insert("tag", row! { "label" => label }).map(drop),
        4 => tx.insert("group", row! { "name" => label }).map(drop),
        5 => {
            let a = pick_key(rng, tx, "person");
            tx.insert("post", row! { "title" => label, "author" => a.map(|k| k.id()) }).map(drop)
        }
        // Auto-created through: a long run of links, maybe failing late.
        6..=8 => add_some(rng, tx, "post", "tags", "tag"),
        9 => add_some(rng, tx, "tag", "groups", "group"),
        // Symmetrical.
        10 | 11 => add_some(rng, tx, "person", "friends", "person"),
        12 => {
            let acc = if rng.chance(50) { "follows" } else { "followers" };
            add_some(rng, tx, "person", acc, "person")
        }
        13 => {
            // Custom through: with or without the required column, or with
            // a unique badge that fails on the second new row.
            let Some(g) = pick_key(rng, tx, "group") else { return Ok(()) };
            let t = targets(rng, tx, "person");
            let defaults = match rng.below(3) {
                0 => Row::new(),
                1 => row! { "reason" => "ok" },
                _ => badge(),
            };
            tx.related(g, "members")?.add_with(t, defaults).map(drop)
        }
        14 => {
            // Direct inserts into through tables.
            let (Some(g), Some(p)) = (pick_key(rng, tx, "group"), pick_key(rng, tx, "person")) else {
                return Ok(());
            };
            if rng.chance(50) {
                let b = if rng.chance(30) { Some("dup") } else { None };
                let p = if rng.chance(10) { 30_000 } else { p.id() };
                tx.insert("membership", row! { "group" => g, "person" => p, "reason" => "d", "badge" => b }).map(drop)
            } else {
                let Some(t) = pick_key(rng, tx, "tag") else { return Ok(()) };
                tx.insert("group_tags", row! { "group_id" => g.id(), "tag_id" => t.id() }).map(drop)
            }
        }
        // Dangling links (db_constraint(false)).
        15 => add_some(rng, tx, "group", "loose", "person"),
        16 => {
            let table = ["person", "tag", "group", "post", "membership"][rng.below(5)];
            let Some(k) = pick_key(rng, tx, table) else {
                return Ok(());
            };
            tx.delete(k).map(drop)
        }
        17 => {
            let Some(p) = pick_key(rng, tx, "person") else { return Ok(()) };
            tx.insert("medal", row! { "owner" => p }).map(drop)
        }
        18 => {
            let Some(p) = pick_key(rng, tx, "post") else { return Ok(()) };
            let t = targets(rng, tx, "tag");
            if rng.chance(50) {
                tx.related(p, "tags")?.set(t)
            } else {
                tx.related(p, "tags")?.remove(t).map(drop)
            }
        }
        19 => {
            let Some(g) = pick_key(rng, tx, "group") else { return Ok(()) };
            let t = targets(rng, tx, "person");
            let d = if rng.chance(50) {
                row! { "reason" => "s" }
            } else {
                badge()
            };
            match rng.below(3) {
                0 => tx.related(g, "members")?.set_with(t, d),
                1 => tx.related(g, "members")?.set_clearing(t, d),
                _ => tx.related(g, "members")?.clear().map(drop),
            }
        }
        20 => {
            let Some(g) = pick_key(rng, tx, "group") else { return Ok(()) };
            match rng.below(3) {
                0 => {
                    tx.related(g, "members")?.create_with(row! { "name" => label }, row! { "reason" => "c" }).map(drop)
                }
                1 => tx.related(g, "members")?.create(row! { "name" => label }).map(drop),
                _ => tx.related(g, "tags")?.create(row! { "label" => label }).map(drop),
            }
        }
        21 => {
            // Updates of a through row's ends (unlink + link) or badge.
            let Some(m) = pick_key(rng, tx, "membership") else { return Ok(()) };
            let r = match rng.below(3) {
                0 => row! { "person" => target_id(rng, tx, "person") },
                1 => row! { "group" => target_id(rng, tx, "group") },
                _ => row! { "badge" => "dup" },
            };
            tx.update(m, r)
        }
        22 => {
            let Some(p) = pick_key(rng, tx, "person") else { return Ok(()) };
            let t = targets(rng, tx, "person");
            tx.related(p, "friends")?.set(t)
        }
        _ => {
            let Some(p) = pick_key(rng, tx, "person") else { return Ok(()) };
            match rng.below(2) {
                0 => tx.related(p, "friends")?.get_or_create(row! { "name" => "goc" }, Row::new()).map(drop),
                _ => tx.related(p, "friends")?.clear().map(drop),
            }
        }
    }
}

/// `add` through `accessor` from a random row of `from` to random targets
/// of `to` (some missing or of another table).
fn add_some(rng: &mut Rng, tx: &mut WriteTxn<'_>, from: &str, accessor: &str, to: &str) -> Result<(), Error> {
    let Some(me) = pick_key(rng, tx, from) else { return Ok(()) };
    let t = targets(rng, tx, to);
    tx.related(me, accessor)?.add(t).map(drop)
}

fn target_id(rng: &mut Rng, v: &View, table: &str) -> i64 {
    match pick_key(rng, v, table) {
        Some(k) if !rng.chance(15) => k.id(),
        _ => 40_000,
    }
}

/// The ids the next inserts would get, probed in a dropped transaction.
fn next_ids(db: &Database) -> Vec<i64> {
    let mut tx = db.begin_write().unwrap();
    let ids = [("person", "name"), ("tag", "label"), ("group", "name"), ("post", "title")]
        .iter()
        .map(|(t, c)| tx.insert(*t, Row::new().with(*c, "n")).unwrap().id())
        .collect();
    drop(tx);
    ids
}

/// Runs `steps` random operations, each failing one compared with the
/// state before it, `verify()` after each.
fn steps(rng: &mut Rng, tx: &mut WriteTxn<'_>, steps: usize, stats: &mut [usize; 2], n: &mut usize) {
    for _ in 0..steps {
        let before = full(tx);
        match op(rng, tx, n) {
            Ok(()) => stats[0] += 1,
            Err(e) => {
                stats[1] += 1;
                let after = full(tx);
                assert!(after == before, "a failed call ({e}) left changes behind");
            }
        }
        verify(tx);
    }
}

#[test]
fn random_transactions_with_failing_calls_roll_back_exactly() {
    quiet_injected_panics();
    let mut stats = [0usize; 2];
    let mut max_links = 0;
    let mut ends = [0usize; 5];
    let mut reused = 0;
    for seed in 0..40u64 {
        let db = Database::new(schema());
        if seed % 2 == 1 {
            // Half the seeds run on tables that reuse freed slots, so
            // that undone deletes and inserts meet rows in reused slots.
            db.write(|tx| {
                let p = ("person", row! { "name" => "p" });
                let g = ("group", row! { "name" => "g" });
                let m = ("membership", row! { "group" => 1_000_000, "person" => 1_000_000, "reason" => "r" });
                let rest = [("tag", row! { "label" => "t" }), ("post", row! { "title" => "t" })];
                let medal = ("medal", row! { "owner" => 1_000_000 });
                common::leave_identity(tx, [p, g, m, medal].into_iter().chain(rest).collect())
            })
            .unwrap();
        }
        let mut rng = Rng(seed * 7919 + 1);
        let mut n = 0;
        for _ in 0..30 {
            let before = db.read(|v| Ok::<_, Error>(full(v))).unwrap();
            max_links = max_links.max(before.1.iter().map(|x| x.2.len()).sum::<usize>());
            let ids = next_ids(&db);
            let len = 1 + rng.below(40);
            let end = rng.below(5);
            ends[end] += 1;
            match end {
                0 | 1 => {
                    db.write(|tx| {
                        steps(&mut rng, tx, len, &mut stats, &mut n);
                        Ok::<_, Error>(())
                    })
                    .unwrap();
                    continue;
                }
                2 => {
                    let r = db.write(|tx| {
                        steps(&mut rng, tx, len, &mut stats, &mut n);
                        Err::<(), _>(Error::Reentrant)
                    });
                    assert!(matches!(r, Err(Error::Reentrant)));
                }
                3 => {
                    let mut tx = db.begin_write().unwrap();
                    steps(&mut rng, &mut tx, len, &mut stats, &mut n);
                    drop(tx);
                }
                _ => {
                    let r = catch_unwind(AssertUnwindSafe(|| {
                        db.write(|tx| {
                            steps(&mut rng, tx, len, &mut stats, &mut n);
                            panic_any(InjectedPanic);
                            #[allow(unreachable_code)]
                            Ok::<_, Error>(())
                        })
                    }));
                    let payload = r.expect_err("the write panics");
                    assert!(payload.is::<InjectedPanic>(), "an assertion failed inside a panicking write");
                }
            }
            let after = db.read(|v| {
                verify(v);
                Ok::<_, Error>(full(v))
            });
            assert!(after.unwrap() == before, "seed {seed}: a rolled-back transaction left changes");
            assert_eq!(next_ids(&db), ids, "seed {seed}: next ids differ after the rollback");
        }
        let tables = ["person", "tag", "group", "membership", "post"];
        reused += db.read(|v| Ok::<_, Error>(tables.iter().filter(|t| common::slots_reused(v, t)).count())).unwrap();
    }
    assert!(reused >= 50, "rows in reused slots in {reused} tables of the 100 the odd seeds left");
    assert!(stats[1] > 200, "too few failing calls: {stats:?}");
    assert!(ends.iter().all(|&e| e > 0), "every way to end a transaction ran: {ends:?}");
    assert!(max_links > 100, "links stayed few: {max_links}");
}
