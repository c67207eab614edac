//! Criterion micro-benchmarks of the engine's internals, through the public
//! API only: one binary whose modules each register a group.
//!
//! * `degree`: `contains`, remove + re-add and a refused duplicate `add`
//!   against a hub group linked to 1 .. 100,000 users. The curves must be
//!   flat: the junction searches the shorter list of a pair and removes by
//!   back-pointer, so the hub's own list is never searched.
//! * `adjacency`: the promotion threshold. `contains(a, b)` misses where
//!   both `a` and `b` have `L` links (so the shorter list is long), on an
//!   unindexed list (reads never build the index) and on an indexed one
//!   (after a write searched it while longer than `PROMOTE_AT` = 64):
//!   where the linear scan and the hash probe cross.
//! * `index`: `find_by` on a unique text column and on a non-unique indexed
//!   int column, and a reverse foreign key read, at 10k and 100k rows.
//! * `txn`: the undo log's cost (insert N rows and commit, vs the same
//!   rolled back by dropping the transaction) and empty transactions.
//! * `churn`: `forward`, `reverse` and `contains` at random rows of the
//!   peers' size S (200,000 users in 10,000 groups), fresh and after 1% of
//!   the users were deleted and as many inserted with their links. The two
//!   must match: through light churn a table keeps its ids equal to its
//!   slots, so a key check and a walk read no id map (one delete and one
//!   insert used to end that and slow the three reads by 1.6–2.3x). Its
//!   probes are drawn over the whole table, not cycled, so that the reads
//!   miss the cache as a program's would.
//! * `or_relations`: `count` of a filter whose OR crosses two relations,
//!   8 users each linked to 10, 100 and 1,000 groups and as many tags,
//!   matching none, matching once per tag, or with a part that is an AND
//!   across both. Counted by inclusion–exclusion over factored counts it
//!   grows with the degree, not with its square as enumerating every
//!   binding did.
//!
//! Every input comes from a fixed-seed Rng stream and goes through
//! `black_box`, as do the results. Probes cycle over a small fixed set of
//! rows, so the working set is the same at every size and the curves show
//! the algorithm rather than the cache size. Databases are built once per
//! size, outside the timed code, and shared by the benchmarks of that size.
//!
//! `cargo bench --bench bench` runs everything in about three minutes on
//! two cores; `cargo bench --bench bench -- degree` runs one group. Without
//! `--bench` (`cargo test --benches`, `--all-targets`) criterion runs each
//! benchmark once as a smoke test; the whole setup, 100k rows included,
//! takes under a second even unoptimized.

#[path = "common/rng.rs"]
mod rng;

use rng::Rng;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};

/// Probes per benchmark; a power of two so cycling is a mask.
const PROBES: usize = 64;

/// `PROBES` items drawn (with replacement) from `pool` by a seeded stream.
fn pick<T: Copy>(pool: &[T], seed: u64) -> Vec<T> {
    let mut rng = Rng(seed);
    (0..PROBES).map(|_| pool[rng.below(pool.len())]).collect()
}

/// A cursor over `PROBES` probes.
#[derive(Default)]
struct Cycle(usize);

impl Cycle {
    fn next(&mut self) -> usize {
        self.0 = (self.0 + 1) & (PROBES - 1);
        self.0
    }
}

/// An empty database of users in groups (an auto-created through) and the
/// forward accessor `user.groups`, for the degree and adjacency groups.
fn user_groups() -> (junctiondb::Database, junctiondb::Accessor) {
    let schema = junctiondb::Schema::builder()
        .table("group", |_| {})
        .table("user", |t| {
            t.many_to_many("groups", "group");
        })
        .build()
        .expect("schema");
    let db = junctiondb::Database::new(schema);
    let groups = db.schema().accessor("user", "groups").expect("user.groups");
    (db, groups)
}

mod degree {
    //! One hub group linked to `d` users, `d` from 1 to 100,000.

    use super::*;
    use criterion::measurement::WallTime;
    use criterion::BenchmarkGroup;
    use junctiondb::{row, Accessor, Database, Error, Key};

    const DEGREES: &[usize] = &[1, 10, 100, 1_000, 10_000, 100_000];

    struct Hub {
        db: Database,
        groups: Accessor,
        members: Accessor,
        hub: Key,
        /// Members of the hub.
        hits: Vec<Key>,
        /// Users in another group, not in the hub.
        misses: Vec<Key>,
    }

    fn build(d: usize) -> Hub {
        let (db, groups) = user_groups();
        let members = db.schema().accessor("group", "user_set").expect("group.user_set");
        let (user, group) = (groups.table(), groups.other());
        let (hub, members_all, others) = db
            .write(|tx| {
                let hub = tx.insert(group, row! {})?;
                let other = tx.insert(group, row! {})?;
                let mut in_hub = Vec::with_capacity(d);
                for _ in 0..d {
                    let u = tx.insert(user, row! {})?;
                    tx.related_at(u, groups)?.add([hub])?;
                    in_hub.push(u);
                }
                let mut others = Vec::with_capacity(PROBES);
                for _ in 0..PROBES {
                    let u = tx.insert(user, row! {})?;
                    tx.related_at(u, groups)?.add([other])?;
                    others.push(u);
                }
                Ok::<_, Error>((hub, in_hub, others))
            })
            .expect("load");
        let hits = pick(&members_all, 0xD3_6EE0 ^ d as u64);
        let misses = pick(&others, 0x0155 ^ d as u64);
        let h = Hub { db, groups, members, hub, hits, misses };
        let r = h.db.begin_read().expect("read");
        assert_eq!(r.related_at(hub, members).expect("hub").count(), d);
        assert!(h.hits.iter().all(|&u| r.related_at(u, groups).expect("user").contains(hub)));
        assert!(!h.misses.iter().any(|&u| r.related_at(hub, members).expect("hub").contains(u)));
        drop(r);
        h
    }

    /// `contains` between one user and the hub, from either end.
    fn contains(group: &mut BenchmarkGroup<'_, WallTime>, h: &Hub, d: usize) {
        let r = h.db.begin_read().expect("read");
        let (groups, members, hub) = (h.groups, h.members, h.hub);
        for (name, probes) in [("contains_hit", &h.hits), ("contains_miss", &h.misses)] {
            group.bench_with_input(BenchmarkId::new(name, d), probes, |b, probes| {
                let mut i = Cycle::default();
                b.iter(|| {
                    let u = black_box(probes[i.next()]);
                    black_box(r.related_at(u, black_box(groups)).expect("user").contains(black_box(hub)))
                });
            });
            let name = format!("{name}_from_hub");
            group.bench_with_input(BenchmarkId::new(name, d), probes, |b, probes| {
                let mut i = Cycle::default();
                b.iter(|| {
                    let u = black_box(probes[i.next()]);
                    black_box(r.related_at(black_box(hub), black_box(members)).expect("hub").contains(u))
                });
            });
        }
    }

    /// Writes on the hub's manager, each in its own write transaction.
    fn writes(group: &mut BenchmarkGroup<'_, WallTime>, h: &Hub, d: usize) {
        let (db, members, hub) = (&h.db, h.members, h.hub);
        // Remove one member and add it back: the state (as a set) is
        // restored every iteration.
        group.bench_with_input(BenchmarkId::new("remove_readd", d), &h.hits, |b, probes| {
            let mut i = Cycle::default();
            b.iter(|| {
                let u = black_box(probes[i.next()]);
                let mut tx = db.begin_write().expect("write");
                let mut m = tx.related_at(black_box(hub), black_box(members)).expect("hub");
                black_box(m.remove([u]).expect("remove"));
                black_box(m.add([u]).expect("add"));
                tx.commit();
            });
        });
        // Add a member that is already there: refused, nothing changes.
        group.bench_with_input(BenchmarkId::new("duplicate_add", d), &h.hits, |b, probes| {
            let mut i = Cycle::default();
            b.iter(|| {
                let u = black_box(probes[i.next()]);
                let mut tx = db.begin_write().expect("write");
                let added = tx.related_at(black_box(hub), black_box(members)).expect("hub").add([u]).expect("add");
                tx.commit();
                black_box(added)
            });
        });
        let r = db.begin_read().expect("read");
        assert_eq!(r.related_at(hub, members).expect("hub").count(), d, "the hub is intact");
    }

    pub(crate) fn benches(c: &mut Criterion) {
        let mut group = c.benchmark_group("degree");
        for &d in DEGREES {
            let h = build(d);
            contains(&mut group, &h, d);
            writes(&mut group, &h, d);
        }
        group.finish();
    }
}

mod adjacency {
    //! `contains(a, b)` misses where `a` and `b` both have `L` links.

    use super::*;
    use junctiondb::{row, Accessor, Database, Error, Key};

    const LENGTHS: &[usize] = &[8, 16, 32, 64, 128, 256, 1024];

    struct Pair {
        db: Database,
        groups: Accessor,
        /// A user with `L` groups whose list is never searched by a write.
        cold: Key,
        /// A user with the same `L` groups, after one write searched its
        /// list (which builds the index when `L > PROMOTE_AT`).
        warm: Key,
        /// A group with `L` other members, linked to neither user.
        b: Key,
    }

    fn build(l: usize) -> Pair {
        let (db, groups) = user_groups();
        let (user, group) = (groups.table(), groups.other());
        let (cold, warm, b) = db
            .write(|tx| {
                let cold = tx.insert(user, row! {})?;
                let warm = tx.insert(user, row! {})?;
                for _ in 0..l {
                    let g = tx.insert(group, row! {})?;
                    tx.related_at(cold, groups)?.add([g])?;
                    tx.related_at(warm, groups)?.add([g])?;
                }
                let b = tx.insert(group, row! {})?;
                for _ in 0..l {
                    let u = tx.insert(user, row! {})?;
                    tx.related_at(u, groups)?.add([b])?;
                }
                Ok::<_, Error>((cold, warm, b))
            })
            .expect("load");
        // A write that searches `warm`'s list (a miss: nothing removed).
        let removed = db.write(|tx| tx.related_at(warm, groups)?.remove([b])).expect("remove");
        assert_eq!(removed, 0);
        let r = db.begin_read().expect("read");
        for a in [cold, warm] {
            assert_eq!(r.related_at(a, groups).expect("user").count(), l);
            assert!(!r.related_at(a, groups).expect("user").contains(b));
        }
        drop(r);
        Pair { db, groups, cold, warm, b }
    }

    pub(crate) fn benches(c: &mut Criterion) {
        let mut group = c.benchmark_group("adjacency");
        for &l in LENGTHS {
            let p = build(l);
            let r = p.db.begin_read().expect("read");
            for (name, a) in [("unindexed", p.cold), ("indexed", p.warm)] {
                group.bench_with_input(BenchmarkId::new(name, l), &a, |bench, &a| {
                    bench.iter(|| {
                        black_box(
                            r.related_at(black_box(a), black_box(p.groups)).expect("user").contains(black_box(p.b)),
                        )
                    });
                });
            }
        }
        group.finish();
    }
}

mod index {
    //! Index probes at 10k and 100k rows.

    use super::*;
    use junctiondb::{row, Accessor, Database, Error, Key, Schema, TableId, Type};

    const ROWS: &[usize] = &[10_000, 100_000];
    /// Rows per value of the non-unique column and per owner.
    const FANOUT: usize = 10;

    struct Items {
        db: Database,
        item: TableId,
        owned: Accessor,
        names: Vec<String>,
        ns: Vec<i64>,
        owners: Vec<Key>,
    }

    fn build(n: usize) -> Items {
        let schema = Schema::builder()
            .table("owner", |_| {})
            .table("item", |t| {
                t.column("name", Type::Text).unique();
                t.column("n", Type::Int).indexed();
                t.foreign_key("owner", "owner");
            })
            .build()
            .expect("schema");
        let db = Database::new(schema);
        let item = db.schema().table("item").expect("item");
        let owner = db.schema().table("owner").expect("owner");
        let owned = db.schema().accessor("owner", "item_set").expect("owner.item_set");
        let groups = n / FANOUT;
        let owners_all = db
            .write(|tx| {
                let owners: Vec<Key> = (0..groups).map(|_| tx.insert(owner, row! {})).collect::<Result<_, _>>()?;
                for i in 0..n {
                    let name = format!("item-{i:06}");
                    tx.insert(
                        item,
                        row! { "name" => name, "n" => (i % groups) as i64, "owner" => owners[i % groups] },
                    )?;
                }
                Ok::<_, Error>(owners)
            })
            .expect("load");
        let mut rng = Rng(0x1DE7 ^ n as u64);
        let names = (0..PROBES).map(|_| format!("item-{:06}", rng.below(n))).collect();
        let ns = (0..PROBES).map(|_| rng.below(groups) as i64).collect();
        let owners = pick(&owners_all, 0x0E7E ^ n as u64);
        Items { db, item, owned, names, ns, owners }
    }

    pub(crate) fn benches(c: &mut Criterion) {
        let mut group = c.benchmark_group("index");
        for &n in ROWS {
            let it = build(n);
            let r = it.db.begin_read().expect("read");
            assert_eq!(r.find_by(it.item, "name", it.names[0].as_str()).expect("name").len(), 1);
            assert_eq!(r.find_by(it.item, "n", it.ns[0]).expect("n").len(), FANOUT);
            assert_eq!(r.related_at(it.owners[0], it.owned).expect("owner").count(), FANOUT);
            group.bench_with_input(BenchmarkId::new("find_by_unique_text", n), &it.names, |b, names| {
                let mut i = Cycle::default();
                b.iter(|| {
                    let name = black_box(names[i.next()].as_str());
                    black_box(r.find_by(black_box(it.item), "name", name).expect("probe"))
                });
            });
            group.bench_with_input(BenchmarkId::new("find_by_indexed_int", n), &it.ns, |b, ns| {
                let mut i = Cycle::default();
                b.iter(|| {
                    let v = black_box(ns[i.next()]);
                    black_box(r.find_by(black_box(it.item), "n", v).expect("probe"))
                });
            });
            // The ids of an owner's items, through the foreign key's index.
            group.bench_with_input(BenchmarkId::new("fk_reverse_ids", n), &it.owners, |b, owners| {
                let mut i = Cycle::default();
                b.iter(|| {
                    let o = black_box(owners[i.next()]);
                    black_box(r.related_at(o, black_box(it.owned)).expect("owner").ids().sum::<i64>())
                });
            });
        }
        group.finish();
    }
}

mod txn {
    //! The undo log's cost and the cost of empty transactions.

    use super::*;
    use criterion::{BatchSize, Throughput};
    use junctiondb::{row, Database, Row, Schema, Type};

    const INSERTS: &[usize] = &[10, 1_000];

    fn schema() -> Schema {
        Schema::builder()
            .table("item", |t| {
                t.column("name", Type::Text).unique();
                t.column("n", Type::Int);
            })
            .build()
            .expect("schema")
    }

    pub(crate) fn benches(c: &mut Criterion) {
        let mut group = c.benchmark_group("txn");
        let schema = schema();
        let db = Database::new(schema.clone());
        let item = db.schema().table("item").expect("item");
        db.write(|tx| tx.insert(item, row! { "name" => "one", "n" => 1 })).expect("load");
        group.bench_function("empty_read", |b| {
            b.iter(|| black_box(db.begin_read().expect("read")));
        });
        group.bench_function("empty_write_commit", |b| {
            b.iter(|| db.begin_write().expect("write").commit());
        });
        for n in INSERTS.iter().copied() {
            let mut rng = Rng(0x7A1 ^ n as u64);
            let rows: Vec<Row> =
                (0..n).map(|i| row! { "name" => format!("row-{i}"), "n" => (rng.next_u64() >> 1) as i64 }).collect();
            group.throughput(Throughput::Elements(n as u64));
            // A fresh database per iteration (built and dropped untimed), so
            // both variants insert into the same empty table.
            for commit in [true, false] {
                let name = if commit { "insert_commit" } else { "insert_rollback" };
                group.bench_with_input(BenchmarkId::new(name, n), &rows, |b, rows| {
                    b.iter_batched(
                        || (Database::new(schema.clone()), rows.clone()),
                        |(db, rows)| {
                            let mut tx = db.begin_write().expect("write");
                            for row in rows {
                                black_box(tx.insert(black_box(item), row).expect("insert"));
                            }
                            if commit {
                                tx.commit();
                            } else {
                                drop(tx);
                            }
                            db
                        },
                        BatchSize::LargeInput,
                    );
                });
            }
        }
        group.finish();
    }
}

mod churn {
    //! Random reads at size S, fresh and after 1% churn.

    use super::*;
    use junctiondb::{row, Accessor, Database, Error, Key};

    const USERS: usize = 200_000;
    const GROUPS: usize = 10_000;
    const TRIES: usize = 8;
    /// Users deleted, then as many inserted, between the two states.
    const CHURNED: usize = USERS / 100;

    struct Shape {
        db: Database,
        groups: Accessor,
        members: Accessor,
        users: Vec<Key>,
        group_keys: Vec<Key>,
    }

    /// Each user tries to join `TRIES` random groups (duplicates refused).
    fn join(
        tx: &mut junctiondb::WriteTxn<'_>,
        groups: Accessor,
        u: Key,
        all: &[Key],
        rng: &mut Rng,
    ) -> Result<(), Error> {
        let mut m = tx.related_at(u, groups)?;
        for _ in 0..TRIES {
            m.add([all[rng.below(all.len())]])?;
        }
        Ok(())
    }

    fn build() -> Shape {
        let (db, groups) = user_groups();
        let members = db.schema().accessor("group", "user_set").expect("group.user_set");
        let (user, group) = (groups.table(), groups.other());
        let mut rng = Rng(0xC4_0A17);
        let (users, group_keys) = db
            .write(|tx| {
                let gs: Vec<Key> = (0..GROUPS).map(|_| tx.insert(group, row! {})).collect::<Result<_, _>>()?;
                let mut us = Vec::with_capacity(USERS);
                for _ in 0..USERS {
                    let u = tx.insert(user, row! {})?;
                    join(tx, groups, u, &gs, &mut rng)?;
                    us.push(u);
                }
                Ok::<_, Error>((us, gs))
            })
            .expect("load");
        Shape { db, groups, members, users, group_keys }
    }

    /// Deletes `CHURNED` random users and inserts as many, each joining
    /// groups as the others did, one write transaction per user.
    fn churn(s: &mut Shape) {
        let mut rng = Rng(0xC4_0A18);
        let user = s.groups.table();
        for _ in 0..CHURNED {
            let i = rng.below(s.users.len());
            let gone = s.users.swap_remove(i);
            s.db.write(|tx| tx.delete(gone)).expect("delete");
        }
        for _ in 0..CHURNED {
            let u =
                s.db.write(|tx| {
                    let u = tx.insert(user, row! {})?;
                    join(tx, s.groups, u, &s.group_keys, &mut rng)?;
                    Ok::<_, Error>(u)
                })
                .expect("insert");
            s.users.push(u);
        }
    }

    pub(crate) fn benches(c: &mut Criterion) {
        let mut group = c.benchmark_group("churn");
        let mut s = build();
        for state in ["fresh", "churned"] {
            if state == "churned" {
                churn(&mut s);
            }
            let r = s.db.begin_read().expect("read");
            let forward = r.relation(s.groups).expect("user.groups");
            let reverse = r.relation(s.members).expect("group.user_set");
            let (users, groups) = (&s.users, &s.group_keys);
            assert_eq!(r.count(s.groups.table()).expect("users"), USERS);
            group.bench_function(BenchmarkId::new("forward", state), |b| {
                let mut rng = Rng(1);
                b.iter(|| {
                    let u = black_box(users[rng.below(users.len())]);
                    black_box(forward.ids(u).expect("user").sum::<i64>())
                });
            });
            group.bench_function(BenchmarkId::new("reverse", state), |b| {
                let mut rng = Rng(2);
                b.iter(|| {
                    let g = black_box(groups[rng.below(groups.len())]);
                    black_box(reverse.ids(g).expect("group").sum::<i64>())
                });
            });
            group.bench_function(BenchmarkId::new("contains", state), |b| {
                let mut rng = Rng(3);
                b.iter(|| {
                    let (u, g) = (users[rng.below(users.len())], groups[rng.below(groups.len())]);
                    black_box(forward.contains(black_box(u), black_box(g)))
                });
            });
        }
        group.finish();
    }
}

mod or_relations {
    //! A filter whose OR crosses two many-to-many relations, against the
    //! rows' degree.

    use super::*;
    use junctiondb::{row, Database, Error, Q};

    /// Users per database; each has `degree` groups and `degree` tags.
    const USERS: usize = 8;

    fn build(degree: usize) -> Database {
        let schema = junctiondb::Schema::builder()
            .table("group", |t| {
                t.column("name", junctiondb::Type::Text);
            })
            .table("tag", |t| {
                t.column("label", junctiondb::Type::Text);
            })
            .table("user", |t| {
                t.many_to_many("groups", "group");
                t.many_to_many("tags", "tag");
            })
            .build()
            .expect("schema");
        let db = Database::new(schema);
        db.write(|tx| {
            let groups: Vec<_> = (0..degree)
                .map(|i| tx.insert("group", row! { "name" => format!("g{i}") }))
                .collect::<Result<_, _>>()?;
            let tags: Vec<_> =
                (0..degree).map(|i| tx.insert("tag", row! { "label" => format!("t{i}") })).collect::<Result<_, _>>()?;
            for _ in 0..USERS {
                let u = tx.insert("user", row! {})?;
                tx.related(u, "groups")?.add(&groups)?;
                tx.related(u, "tags")?.add(&tags)?;
            }
            Ok::<_, Error>(())
        })
        .expect("load");
        db
    }

    pub(crate) fn benches(c: &mut Criterion) {
        let mut group = c.benchmark_group("or_relations");
        for degree in [10, 100, 1_000] {
            let db = build(degree);
            let r = db.begin_read().expect("read");
            // No user matches: every binding is looked at, or none is.
            let miss = Q::new("groups__name", "none") | Q::new("tags__label", "none");
            let q = r.query("user").and_then(|q| q.filter_q(miss)).expect("query");
            assert_eq!(q.count(), 0);
            group.bench_function(BenchmarkId::new("count_none_match", degree), |b| b.iter(|| black_box(q.count())));
            // Every user matches through one group, once per tag.
            let hit = Q::new("groups__name", "g0") | Q::new("tags__label", "none");
            let q = r.query("user").and_then(|q| q.filter_q(hit)).expect("query");
            assert_eq!(q.count(), USERS * degree);
            group.bench_function(BenchmarkId::new("count_one_group", degree), |b| b.iter(|| black_box(q.count())));
            // A part that is an AND across the relations: one binding for
            // the pair, and one per tag for the other group.
            let and_part = (Q::new("groups__name", "g0") & Q::new("tags__label", "t0")) | Q::new("groups__name", "g1");
            let q = r.query("user").and_then(|q| q.filter_q(and_part)).expect("query");
            assert_eq!(q.count(), USERS * (degree + 1));
            group.bench_function(BenchmarkId::new("count_and_part", degree), |b| b.iter(|| black_box(q.count())));
        }
        group.finish();
    }
}

/// Short measurements: about 2.5 s per benchmark, about 3 minutes in all.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2_000))
        .sample_size(30)
        .nresamples(20_000)
}

/// Runs every group (what `criterion_group!` and `criterion_main!` would
/// generate, with a documented entry point).
fn main() {
    let mut c = config().configure_from_args();
    degree::benches(&mut c);
    adjacency::benches(&mut c);
    index::benches(&mut c);
    txn::benches(&mut c);
    churn::benches(&mut c);
    or_relations::benches(&mut c);
    c.final_summary();
}
