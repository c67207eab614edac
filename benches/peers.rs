//! Peer benchmarks: junctiondb against SQLite (expert and Django layouts of
//! the join table), petgraph's `DiGraphMap` and a hand-written dense
//! adjacency, as specified by `BENCHMARKS.md`.
//!
//! Method:
//! * Workloads and query inputs come from fixed-seed SplitMix64 streams, so
//!   every system sees the same attempted pairs and the same probes. Row ids
//!   are 1-based in insertion order, as SQLite and Django number rows.
//! * Each (size, system) runs in a fresh child process (this binary re-run
//!   with `PEERS_CHILD=<size>/<system>`): no system inherits another's heap.
//!   Every child also prints a `check` line of result digests (edge counts,
//!   sums of ids, hit counts, ...) and the parent asserts that all systems of
//!   a size agree, so a system that answers differently fails the run.
//! * Each op runs over a fixed list of pre-generated inputs and reports
//!   nanoseconds per operation; read-only ops take the best of
//!   `READ_ROUNDS` passes (`QUICK_READ_ROUNDS` under `PEERS_QUICK=1`),
//!   mutating ops run once. Inputs and results go
//!   through `std::hint::black_box`.
//! * The machines this runs on are shared, and their slow spells last
//!   seconds: longer than one system's reads. So every system of a size
//!   runs `ROUNDS` times (`QUICK_ROUNDS` under `PEERS_QUICK=1`;
//!   `PEERS_ROUNDS` overrides either), in alternating order,
//!   and each measurement reports its best round; the same rule for every
//!   system.
//! * Memory is resident-set growth (`VmRSS` in `/proc/self/status`) across
//!   the relation's `add` load divided by the stored edges, the same method
//!   for every system. A counting `#[global_allocator]` is not used: the
//!   crate denies `unsafe_code` for every target (its one exception is a
//!   prefetch hint in the library) and implementing `GlobalAlloc` is
//!   unsafe; bundled SQLite allocates with libc `malloc`,
//!   which a Rust allocator would not see anyway. RSS sees both, and the
//!   fresh process per system keeps freed memory from one system from being
//!   reused by the next.
//! * `cargo bench --bench peers` runs S, L, hub and friends; `PEERS_QUICK=1`
//!   skips L. The last line (on stderr) gives the run's wall time and how
//!   much of it was measurement: the timed passes and loads, summed over
//!   every child (each reports a `timed` line). Run without `--bench` (as `cargo test --all-targets` does) it
//!   is a smoke test of every size at 1/100 scale, digests still checked.

#[path = "common/rng.rs"]
mod rng;

use rng::Rng;
use std::cell::{Cell, RefCell};
use std::env;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hashbrown::{HashMap, HashSet};
use petgraph::graphmap::DiGraphMap;
use petgraph::Direction::{Incoming, Outgoing};
use rusqlite::{Connection, Statement};
use smallvec::SmallVec;

/// Forward, reverse and contains probes per measurement (cheap ops).
const CHEAP_OPS: usize = 100_000;
/// Random groups per `reverse` measurement (each scans ~160-500 members).
const SCAN_OPS: usize = 20_000;
/// Probes per hub measurement and per its small-group counterpart.
const HUB_OPS: usize = 10_000;
/// Inputs of the expensive ops: `join_query`, `delete_user`, `fof`.
const QUERY_OPS: usize = 2_000;
/// Passes over the inputs of a read-only op; the fastest one is reported.
const READ_ROUNDS: usize = 5;
/// [`READ_ROUNDS`] and [`ROUNDS`] under `PEERS_QUICK=1`, which BENCHMARKS.md
/// gives under a minute of measurement: SQLite in Django's layout alone
/// spends 2.3 s on each pass of `reverse` at size S.
const QUICK_READ_ROUNDS: usize = 3;
const QUICK_ROUNDS: usize = 1;
/// Group names checked by content (untimed) before and after deletions.
const CHECKED_NAMES: usize = 20;
/// The hub's group id in the hub workload.
const HUB: u32 = 1;

// ---------------------------------------------------------------------------
// Workloads

/// The sizes of `BENCHMARKS.md`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Size {
    S,
    L,
    Hub,
    Friends,
}

impl Size {
    const ALL: [Size; 4] = [Size::S, Size::L, Size::Hub, Size::Friends];

    fn name(self) -> &'static str {
        match self {
            Size::S => "S",
            Size::L => "L",
            Size::Hub => "hub",
            Size::Friends => "friends",
        }
    }

    fn parse(name: &str) -> Option<Size> {
        Size::ALL.into_iter().find(|size| size.name() == name)
    }
}

/// Rows and attempted adds of a users/groups workload at full scale.
#[derive(Clone, Copy)]
struct Shape {
    users: u32,
    groups: u32,
    /// Random groups each user tries to join (duplicates refused).
    tries: u32,
    /// Users `1..=hub_members` also join group `HUB`, which no one else picks.
    hub_members: u32,
    seed: u64,
}

const S: Shape = Shape { users: 200_000, groups: 10_000, tries: 8, hub_members: 0, seed: 0x5EED_0005 };
const L: Shape = Shape { users: 1_000_000, groups: 20_000, tries: 10, hub_members: 0, seed: 0x5EED_0010 };
const HUB_SHAPE: Shape = Shape { users: 200_000, groups: 10_000, tries: 4, hub_members: 100_000, seed: 0x5EED_00B0 };
/// Persons of the friends workload, and the random others each befriends.
const FRIENDS: (u32, u32) = (200_000, 8);
const FRIENDS_SEED: u64 = 0x5EED_00F0;
/// Mixed into a workload's seed for its query inputs.
const QUERY_SEED: u64 = 0xA5A5_0000_0000;

/// Rounds over every system of a size when benchmarking; `PEERS_ROUNDS`
/// overrides it.
const ROUNDS: usize = 2;

/// How this process was invoked: full bench, quick bench or smoke test.
#[derive(Clone, Copy)]
struct Mode {
    /// Every row and op count is divided by this (1 when benchmarking).
    scale: u32,
    with_l: bool,
    /// Each system of a size runs this many times, in alternating order;
    /// every measurement reports its best round.
    rounds: usize,
    /// Passes over a read-only op's inputs in each round.
    read_rounds: usize,
}

impl Mode {
    fn from_env() -> Mode {
        let bench = env::args().any(|arg| arg == "--bench");
        let quick = env::var("PEERS_QUICK").is_ok_and(|v| v == "1");
        let rounds = env::var("PEERS_ROUNDS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0);
        match (bench, quick) {
            (true, false) => {
                Mode { scale: 1, with_l: true, rounds: rounds.unwrap_or(ROUNDS), read_rounds: READ_ROUNDS }
            }
            (true, true) => {
                Mode { scale: 1, with_l: false, rounds: rounds.unwrap_or(QUICK_ROUNDS), read_rounds: QUICK_READ_ROUNDS }
            }
            (false, _) => Mode { scale: 100, with_l: true, rounds: rounds.unwrap_or(1), read_rounds: READ_ROUNDS },
        }
    }

    fn sizes(self) -> Vec<Size> {
        let mut sizes = Size::ALL.to_vec();
        sizes.retain(|&size| size != Size::L || self.with_l);
        sizes
    }

    fn rows(self, full: u32) -> u32 {
        full.div_ceil(self.scale)
    }

    fn ops(self, full: usize) -> usize {
        full.div_ceil(self.scale as usize)
    }
}

/// The rows and attempted pairs of one users/groups load.
struct Membership {
    users: u32,
    groups: u32,
    hub_members: u32,
    /// Attempted (user, group) adds in load order, duplicates included.
    pairs: Vec<(u32, u32)>,
}

impl Membership {
    fn generate(shape: Shape, mode: Mode) -> Membership {
        let users = mode.rows(shape.users);
        let groups = mode.rows(shape.groups);
        let hub_members = mode.rows(shape.hub_members);
        let hubs = u32::from(hub_members > 0);
        let mut rng = Rng(shape.seed);
        let mut pairs = Vec::with_capacity((users * (shape.tries + hubs)) as usize);
        for user in 1..=users {
            if user <= hub_members {
                pairs.push((user, HUB));
            }
            for _ in 0..shape.tries {
                pairs.push((user, hubs + rng.id(groups - hubs)));
            }
        }
        Membership { users, groups, hub_members, pairs }
    }

    /// A random group other than the hub (any group when there is none).
    fn small_group(&self, rng: &mut Rng) -> u32 {
        let hubs = u32::from(self.hub_members > 0);
        hubs + rng.id(self.groups - hubs)
    }
}

/// `count` pairs, alternately a hit drawn by `hit` and a likely miss.
fn hit_or_miss(
    rng: &mut Rng,
    count: usize,
    mut hit: impl FnMut(&mut Rng) -> (u32, u32),
    mut miss: impl FnMut(&mut Rng) -> (u32, u32),
) -> Vec<(u32, u32)> {
    (0..count).map(|i| if i % 2 == 0 { hit(rng) } else { miss(rng) }).collect()
}

/// `count` uniform ids in `1..=n`.
fn random_ids(rng: &mut Rng, n: u32, count: usize) -> Vec<u32> {
    (0..count).map(|_| rng.id(n)).collect()
}

/// `count` distinct ids in `1..=n` (a partial Fisher-Yates shuffle).
fn distinct_ids(rng: &mut Rng, n: u32, count: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (1..=n).collect();
    for i in 0..count {
        let j = i + rng.below(ids.len() - i);
        ids.swap(i, j);
    }
    ids.truncate(count);
    ids
}

/// A user's unique `username` or a group's unique `name`.
fn name(prefix: char, id: u32) -> String {
    format!("{prefix}{id}")
}

/// Inputs of the timed ops on S and L.
struct MembershipQueries {
    users: Vec<u32>,
    groups: Vec<u32>,
    group_names: Vec<String>,
    /// `contains` probes, half attempted pairs (hits), half random pairs.
    probes: Vec<(u32, u32)>,
    /// `remove` pairs, drawn like `probes`.
    removals: Vec<(u32, u32)>,
    /// Distinct users to delete.
    deletions: Vec<u32>,
}

impl MembershipQueries {
    fn generate(w: &Membership, seed: u64, mode: Mode) -> MembershipQueries {
        let mut rng = Rng(seed ^ QUERY_SEED);
        let hit = |rng: &mut Rng| w.pairs[rng.below(w.pairs.len())];
        let miss = |rng: &mut Rng| (rng.id(w.users), rng.id(w.groups));
        MembershipQueries {
            users: random_ids(&mut rng, w.users, mode.ops(CHEAP_OPS)),
            groups: random_ids(&mut rng, w.groups, mode.ops(SCAN_OPS)),
            group_names: random_ids(&mut rng, w.groups, mode.ops(QUERY_OPS))
                .into_iter()
                .map(|g| name('g', g))
                .collect(),
            probes: hit_or_miss(&mut rng, mode.ops(CHEAP_OPS), hit, miss),
            removals: hit_or_miss(&mut rng, mode.ops(CHEAP_OPS), hit, miss),
            deletions: distinct_ids(&mut rng, w.users, mode.ops(QUERY_OPS)),
        }
    }
}

/// Inputs of the hub workload: the same ops on small groups and on the hub.
struct HubQueries {
    probes: Vec<(u32, u32)>,
    hub_probes: Vec<(u32, u32)>,
    removals: Vec<(u32, u32)>,
    hub_removals: Vec<(u32, u32)>,
}

impl HubQueries {
    /// Small-group pairs hit half the time, like hub pairs: hits are attempted
    /// pairs (resp. hub members), misses random pairs (resp. non-members).
    fn generate(w: &Membership, mode: Mode) -> HubQueries {
        let mut rng = Rng(HUB_SHAPE.seed ^ QUERY_SEED);
        let small: Vec<(u32, u32)> = w.pairs.iter().copied().filter(|p| p.1 != HUB).collect();
        let small_hit = |rng: &mut Rng| small[rng.below(small.len())];
        let small_miss = |rng: &mut Rng| (rng.id(w.users), w.small_group(rng));
        let hub_hit = |rng: &mut Rng| (rng.id(w.hub_members), HUB);
        let hub_miss = |rng: &mut Rng| (w.hub_members + rng.id(w.users - w.hub_members), HUB);
        let count = mode.ops(HUB_OPS);
        HubQueries {
            probes: hit_or_miss(&mut rng, count, small_hit, small_miss),
            hub_probes: hit_or_miss(&mut rng, count, hub_hit, hub_miss),
            removals: hit_or_miss(&mut rng, count, small_hit, small_miss),
            hub_removals: hit_or_miss(&mut rng, count, hub_hit, hub_miss),
        }
    }
}

/// The friends workload: attempted befriendings, each mirrored when stored.
struct Friends {
    persons: u32,
    pairs: Vec<(u32, u32)>,
    /// Persons whose friends of friends are counted.
    fof_inputs: Vec<u32>,
}

impl Friends {
    fn generate(mode: Mode) -> Friends {
        let (persons, tries) = (mode.rows(FRIENDS.0), FRIENDS.1);
        let mut rng = Rng(FRIENDS_SEED);
        let mut pairs = Vec::with_capacity((persons * tries) as usize);
        for person in 1..=persons {
            for _ in 0..tries {
                let other = rng.id(persons - 1);
                pairs.push((person, other + u32::from(other >= person)));
            }
        }
        let mut rng = Rng(FRIENDS_SEED ^ QUERY_SEED);
        Friends { persons, pairs, fof_inputs: random_ids(&mut rng, persons, mode.ops(QUERY_OPS)) }
    }
}

// ---------------------------------------------------------------------------
// Systems

/// One system under test. Users, groups and persons are 1-based ids in
/// insertion order; sums are over those ids. Users and groups carry unique
/// names `u<id>` and `g<id>`.
/// The read operations, run against one consistent snapshot of a system.
trait Reads {
    /// Sum of the ids of a user's groups.
    fn forward(&self, user: u32) -> u64;
    /// Sum of the ids of a group's members.
    fn reverse(&self, group: u32) -> u64;
    fn contains(&self, user: u32, group: u32) -> bool;
    /// Passes `each` the username of every member of the group with this
    /// unique name, borrowed where the system can lend it.
    fn join_query(&self, group_name: &str, each: &mut dyn FnMut(&str));
    /// Distinct persons other than `person` two friendship hops away.
    fn fof(&self, person: u32) -> u64;
}

trait System {
    /// Inserts users and groups with their names (untimed).
    fn load_rows(&mut self, users: u32, groups: u32);
    /// The bulk load: one add per attempted pair, duplicates refused, in one
    /// write transaction.
    fn add(&mut self, pairs: &[(u32, u32)]);
    /// Stored (user, group) memberships.
    fn edge_count(&self) -> u64;
    /// Removes one membership in its own write transaction; true if it existed.
    fn remove(&mut self, user: u32, group: u32) -> bool;
    /// Deletes a user and its memberships; true if the user existed.
    fn delete_user(&mut self, user: u32) -> bool;
    /// Inserts persons (untimed).
    fn load_persons(&mut self, persons: u32);
    /// The symmetric bulk load: each new friendship stores two mirrored rows.
    fn friends_add(&mut self, pairs: &[(u32, u32)]);
    /// Stored friendship rows, mirrored rows included.
    fn friend_rows(&self) -> u64;
    /// Runs `reads` on one consistent snapshot: the peers lend themselves;
    /// junctiondb opens one read transaction and resolves its relation
    /// handles in it.
    fn with_snapshot(&self, reads: &mut dyn FnMut(&dyn Reads));
}

/// A constructor of a system under test.
type Factory = fn() -> Box<dyn System>;

/// The systems under test by report name, in run order; junctiondb first
/// once `junction_system::FACTORY` is set.
fn systems() -> Vec<(&'static str, Factory)> {
    let mut all: Vec<(&'static str, Factory)> = Vec::new();
    if let Some(junction) = junction_system::FACTORY {
        all.push(("junctiondb", junction));
    }
    all.push(("sqlite", || Box::new(Sqlite::open(Layout::Expert))));
    all.push(("sqlite-django", || Box::new(Sqlite::open(Layout::Django))));
    all.push(("graphmap", || Box::<GraphMap>::default()));
    all.push(("dense", || Box::<Dense>::default()));
    all
}

/// Distinct `w != person` with `person - v - w`, where `friends_of` lists the
/// friends of a person.
fn count_fof<I: IntoIterator<Item = u32>>(person: u32, friends_of: impl Fn(u32) -> I) -> u64 {
    let mut seen = HashSet::with_capacity(256);
    for friend in friends_of(person) {
        seen.extend(friends_of(friend).into_iter().filter(|&w| w != person));
    }
    seen.len() as u64
}

/// How the SQLite join tables are laid out.
#[derive(Clone, Copy)]
enum Layout {
    /// `WITHOUT ROWID`, primary key (source, target), covering (target, source).
    Expert,
    /// As Django's migrations create it: integer `id` primary key, unique
    /// (source, target), an index on each foreign key column.
    Django,
}

/// Row tables, the same for both layouts.
const ROWS_DDL: &str = "
CREATE TABLE app_group (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE app_user (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE);
CREATE TABLE app_person (id INTEGER PRIMARY KEY);";

const EXPERT_DDL: &str = "
CREATE TABLE app_user_groups (
    user_id INTEGER NOT NULL REFERENCES app_user (id),
    group_id INTEGER NOT NULL REFERENCES app_group (id),
    PRIMARY KEY (user_id, group_id)) WITHOUT ROWID;
CREATE INDEX app_user_groups_reverse ON app_user_groups (group_id, user_id);
CREATE TABLE app_person_friends (
    from_person_id INTEGER NOT NULL REFERENCES app_person (id),
    to_person_id INTEGER NOT NULL REFERENCES app_person (id),
    PRIMARY KEY (from_person_id, to_person_id)) WITHOUT ROWID;
CREATE INDEX app_person_friends_reverse ON app_person_friends (to_person_id, from_person_id);";

/// What `manage.py sqlmigrate` prints for a `ManyToManyField` on SQLite.
const DJANGO_DDL: &str = "
CREATE TABLE app_user_groups (
    id integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    user_id bigint NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    group_id bigint NOT NULL REFERENCES app_group (id) DEFERRABLE INITIALLY DEFERRED);
CREATE UNIQUE INDEX app_user_groups_user_id_group_id_uniq ON app_user_groups (user_id, group_id);
CREATE INDEX app_user_groups_user_id ON app_user_groups (user_id);
CREATE INDEX app_user_groups_group_id ON app_user_groups (group_id);
CREATE TABLE app_person_friends (
    id integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    from_person_id bigint NOT NULL REFERENCES app_person (id) DEFERRABLE INITIALLY DEFERRED,
    to_person_id bigint NOT NULL REFERENCES app_person (id) DEFERRABLE INITIALLY DEFERRED);
CREATE UNIQUE INDEX app_person_friends_from_to_uniq ON app_person_friends (from_person_id, to_person_id);
CREATE INDEX app_person_friends_from_person_id ON app_person_friends (from_person_id);
CREATE INDEX app_person_friends_to_person_id ON app_person_friends (to_person_id);";

const INSERT_USER: &str = "INSERT INTO app_user (id, username) VALUES (?1, ?2)";
const INSERT_GROUP: &str = "INSERT INTO app_group (id, name) VALUES (?1, ?2)";
const INSERT_PERSON: &str = "INSERT INTO app_person (id) VALUES (?1)";
const ADD: &str = "INSERT OR IGNORE INTO app_user_groups (user_id, group_id) VALUES (?1, ?2)";
const COUNT: &str = "SELECT COUNT(*) FROM app_user_groups";
const FORWARD: &str = "SELECT group_id FROM app_user_groups WHERE user_id = ?1";
const REVERSE: &str = "SELECT user_id FROM app_user_groups WHERE group_id = ?1";
const CONTAINS: &str = "SELECT 1 FROM app_user_groups WHERE user_id = ?1 AND group_id = ?2";
const REMOVE: &str = "DELETE FROM app_user_groups WHERE user_id = ?1 AND group_id = ?2";
const JOIN_QUERY: &str = "SELECT u.username FROM app_group g
    JOIN app_user_groups m ON m.group_id = g.id
    JOIN app_user u ON u.id = m.user_id
    WHERE g.name = ?1";
const DELETE_MEMBERSHIPS: &str = "DELETE FROM app_user_groups WHERE user_id = ?1";
const DELETE_USER: &str = "DELETE FROM app_user WHERE id = ?1";
const BEFRIEND: &str = "INSERT OR IGNORE INTO app_person_friends (from_person_id, to_person_id) VALUES (?1, ?2)";
const COUNT_FRIENDS: &str = "SELECT COUNT(*) FROM app_person_friends";
const FOF: &str = "SELECT COUNT(DISTINCT b.to_person_id) FROM app_person_friends a
    JOIN app_person_friends b ON b.from_person_id = a.to_person_id
    WHERE a.from_person_id = ?1 AND b.to_person_id <> ?1";

const SQL_FAILED: &str = "sqlite statement failed";

/// SQLite in memory: journal off, synchronous off, one transaction per
/// bulk load and per deletion, autocommit for single removes, and reads in
/// one transaction per pass with their statements prepared for it (as
/// junctiondb reads in one snapshot). The timed single writes (`remove`,
/// and `delete_user` with its `BEGIN` and `COMMIT`) run statements
/// prepared once, when the tables are made; `prepare_cached` would hash
/// the text and allocate on every call. Foreign keys are enforced (the
/// bundled SQLite is built with `SQLITE_DEFAULT_FOREIGN_KEYS=1`, and
/// Django turns them on too); deleting a user deletes its memberships
/// first, as Django's collector does.
struct Sqlite {
    conn: &'static Connection,
    writes: SqliteWrites,
}

/// The statements of the timed single writes, prepared once.
struct SqliteWrites {
    remove: Statement<'static>,
    begin: Statement<'static>,
    delete_memberships: Statement<'static>,
    delete_user: Statement<'static>,
    commit: Statement<'static>,
}

impl Sqlite {
    fn open(layout: Layout) -> Sqlite {
        // Leaked, so that the statements prepared once can be kept beside
        // it (a statement borrows its connection); a child process runs
        // one system on one size and exits.
        let conn: &'static Connection = Box::leak(Box::new(Connection::open_in_memory().expect(SQL_FAILED)));
        let journal: String =
            conn.pragma_update_and_check(None, "journal_mode", "OFF", |row| row.get(0)).expect(SQL_FAILED);
        assert_eq!(journal, "off");
        conn.pragma_update(None, "synchronous", "OFF").expect(SQL_FAILED);
        conn.set_prepared_statement_cache_capacity(32);
        let join_ddl = match layout {
            Layout::Expert => EXPERT_DDL,
            Layout::Django => DJANGO_DDL,
        };
        conn.execute_batch(ROWS_DDL).expect(SQL_FAILED);
        conn.execute_batch(join_ddl).expect(SQL_FAILED);
        let prepare = |sql| conn.prepare(sql).expect(SQL_FAILED);
        let writes = SqliteWrites {
            remove: prepare(REMOVE),
            begin: prepare("BEGIN"),
            delete_memberships: prepare(DELETE_MEMBERSHIPS),
            delete_user: prepare(DELETE_USER),
            commit: prepare("COMMIT"),
        };
        Sqlite { conn, writes }
    }

    /// Inserts `u<id>`-style named rows `1..=count` in one transaction.
    fn insert_named(&mut self, sql: &str, prefix: char, count: u32) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(sql)?;
            for id in 1..=count {
                stmt.execute((id, name(prefix, id)))?;
            }
        }
        tx.commit()
    }

    /// Runs `sql` once per pair (and per mirrored pair) in one transaction.
    fn insert_pairs(&mut self, sql: &str, pairs: &[(u32, u32)], mirror: bool) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(sql)?;
            for &(a, b) in pairs {
                stmt.execute([a, b])?;
                if mirror {
                    stmt.execute([b, a])?;
                }
            }
        }
        tx.commit()
    }

    fn count(&self, sql: &str) -> u64 {
        let count: i64 = self.conn.query_row(sql, [], |row| row.get(0)).expect(SQL_FAILED);
        count as u64
    }

    fn delete_user_rows(&mut self, user: u32) -> rusqlite::Result<bool> {
        let w = &mut self.writes;
        w.begin.execute([])?;
        w.delete_memberships.execute([user])?;
        let deleted = w.delete_user.execute([user])?;
        w.commit.execute([])?;
        Ok(deleted == 1)
    }
}

impl System for Sqlite {
    fn load_rows(&mut self, users: u32, groups: u32) {
        self.insert_named(INSERT_GROUP, 'g', groups).expect(SQL_FAILED);
        self.insert_named(INSERT_USER, 'u', users).expect(SQL_FAILED);
    }

    fn add(&mut self, pairs: &[(u32, u32)]) {
        self.insert_pairs(ADD, pairs, false).expect(SQL_FAILED);
    }

    fn edge_count(&self) -> u64 {
        self.count(COUNT)
    }

    fn remove(&mut self, user: u32, group: u32) -> bool {
        self.writes.remove.execute([user, group]).expect(SQL_FAILED) == 1
    }

    fn delete_user(&mut self, user: u32) -> bool {
        self.delete_user_rows(user).expect(SQL_FAILED)
    }

    fn load_persons(&mut self, persons: u32) {
        let tx = self.conn.unchecked_transaction().expect(SQL_FAILED);
        {
            let mut stmt = tx.prepare_cached(INSERT_PERSON).expect(SQL_FAILED);
            for id in 1..=persons {
                stmt.execute([id]).expect(SQL_FAILED);
            }
        }
        tx.commit().expect(SQL_FAILED);
    }

    fn friends_add(&mut self, pairs: &[(u32, u32)]) {
        self.insert_pairs(BEFRIEND, pairs, true).expect(SQL_FAILED);
    }

    fn friend_rows(&self) -> u64 {
        self.count(COUNT_FRIENDS)
    }

    fn with_snapshot(&self, reads: &mut dyn FnMut(&dyn Reads)) {
        // One read transaction for the pass, as junctiondb reads in one
        // (without it each SELECT would be a transaction of its own), and
        // each statement prepared once for it, where `prepare_cached`
        // would hash its text on every call.
        self.conn.execute_batch("BEGIN").expect(SQL_FAILED);
        {
            let prepare = |sql| RefCell::new(self.conn.prepare(sql).expect(SQL_FAILED));
            let snapshot = SqliteReads {
                forward: prepare(FORWARD),
                reverse: prepare(REVERSE),
                contains: prepare(CONTAINS),
                join_query: prepare(JOIN_QUERY),
                fof: prepare(FOF),
            };
            reads(&snapshot);
        }
        self.conn.execute_batch("COMMIT").expect(SQL_FAILED);
    }
}

/// SQLite's reads inside one snapshot, through statements prepared for it.
struct SqliteReads<'c> {
    forward: RefCell<rusqlite::Statement<'c>>,
    reverse: RefCell<rusqlite::Statement<'c>>,
    contains: RefCell<rusqlite::Statement<'c>>,
    join_query: RefCell<rusqlite::Statement<'c>>,
    fof: RefCell<rusqlite::Statement<'c>>,
}

/// The sum of the first column of `stmt`'s rows for `id`.
fn sum_ids(stmt: &RefCell<rusqlite::Statement<'_>>, id: u32) -> u64 {
    let mut stmt = stmt.borrow_mut();
    let mut rows = stmt.query([id]).expect(SQL_FAILED);
    let mut sum = 0;
    while let Some(row) = rows.next().expect(SQL_FAILED) {
        sum += row.get::<_, i64>(0).expect(SQL_FAILED) as u64;
    }
    sum
}

impl Reads for SqliteReads<'_> {
    fn forward(&self, user: u32) -> u64 {
        sum_ids(&self.forward, user)
    }

    fn reverse(&self, group: u32) -> u64 {
        sum_ids(&self.reverse, group)
    }

    fn contains(&self, user: u32, group: u32) -> bool {
        self.contains.borrow_mut().exists([user, group]).expect(SQL_FAILED)
    }

    fn join_query(&self, group_name: &str, each: &mut dyn FnMut(&str)) {
        let mut stmt = self.join_query.borrow_mut();
        let mut rows = stmt.query([group_name]).expect(SQL_FAILED);
        while let Some(row) = rows.next().expect(SQL_FAILED) {
            each(row.get_ref(0).and_then(|v| Ok(v.as_str()?)).expect(SQL_FAILED));
        }
    }

    fn fof(&self, person: u32) -> u64 {
        let count: i64 = self.fof.borrow_mut().query_row([person], |row| row.get(0)).expect(SQL_FAILED);
        count as u64
    }
}

/// Unique names by 1-based id (slot 0 unused) plus the name -> id lookup a
/// unique index gives.
#[derive(Default)]
struct Names {
    by_id: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Names {
    fn new(prefix: char, count: u32) -> Names {
        let by_id: Vec<String> = std::iter::once(String::new()).chain((1..=count).map(|id| name(prefix, id))).collect();
        let ids = (1..=count).map(|id| (by_id[id as usize].clone(), id)).collect();
        Names { by_id, ids }
    }

    fn count(&self) -> u32 {
        self.ids.len() as u32
    }

    fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn get(&self, id: u32) -> &str {
        &self.by_id[id as usize]
    }

    /// Deletes the row's name; false if it was already gone.
    fn remove(&mut self, id: u32) -> bool {
        let name = std::mem::take(&mut self.by_id[id as usize]);
        self.ids.remove(&name).is_some()
    }
}

/// Adjacency list of one node in the dense relation.
type Adjacency = SmallVec<[u32; 4]>;

/// The hand-written relation: adjacency lists by 1-based id both ways, and
/// a pair set for duplicate checks and `contains`.
#[derive(Default)]
struct DenseRelation {
    forward: Vec<Adjacency>,
    reverse: Vec<Adjacency>,
    pairs: HashSet<(u32, u32)>,
}

impl DenseRelation {
    fn new(sources: u32, targets: u32) -> DenseRelation {
        DenseRelation {
            forward: vec![Adjacency::new(); sources as usize + 1],
            reverse: vec![Adjacency::new(); targets as usize + 1],
            pairs: HashSet::new(),
        }
    }

    fn add(&mut self, source: u32, target: u32) {
        if self.pairs.insert((source, target)) {
            self.forward[source as usize].push(target);
            self.reverse[target as usize].push(source);
        }
    }

    fn remove(&mut self, source: u32, target: u32) -> bool {
        let removed = self.pairs.remove(&(source, target));
        if removed {
            swap_remove_value(&mut self.forward[source as usize], target);
            swap_remove_value(&mut self.reverse[target as usize], source);
        }
        removed
    }

    fn remove_source(&mut self, source: u32) {
        for target in std::mem::take(&mut self.forward[source as usize]) {
            self.pairs.remove(&(source, target));
            swap_remove_value(&mut self.reverse[target as usize], source);
        }
    }
}

fn swap_remove_value(list: &mut Adjacency, value: u32) {
    if let Some(i) = list.iter().position(|&v| v == value) {
        list.swap_remove(i);
    }
}

/// The `dense` system: names in `Vec`s with a name -> id map, relations as
/// `DenseRelation`s, allocated by their load so that memory counts them.
#[derive(Default)]
struct Dense {
    users: Names,
    groups: Names,
    memberships: DenseRelation,
    persons: u32,
    friends: DenseRelation,
    /// `fof`'s visited markers by person id, and the stamp of the last call.
    fof_marks: RefCell<Vec<u32>>,
    fof_stamp: Cell<u32>,
}

impl System for Dense {
    fn load_rows(&mut self, users: u32, groups: u32) {
        self.groups = Names::new('g', groups);
        self.users = Names::new('u', users);
    }

    fn add(&mut self, pairs: &[(u32, u32)]) {
        let mut relation = DenseRelation::new(self.users.count(), self.groups.count());
        for &(user, group) in pairs {
            relation.add(user, group);
        }
        self.memberships = relation;
    }

    fn edge_count(&self) -> u64 {
        self.memberships.pairs.len() as u64
    }

    fn remove(&mut self, user: u32, group: u32) -> bool {
        self.memberships.remove(user, group)
    }

    fn delete_user(&mut self, user: u32) -> bool {
        let existed = self.users.remove(user);
        if existed {
            self.memberships.remove_source(user);
        }
        existed
    }

    fn load_persons(&mut self, persons: u32) {
        self.persons = persons;
    }

    fn friends_add(&mut self, pairs: &[(u32, u32)]) {
        let mut relation = DenseRelation::new(self.persons, self.persons);
        for &(a, b) in pairs {
            relation.add(a, b);
            relation.add(b, a);
        }
        self.friends = relation;
    }

    fn friend_rows(&self) -> u64 {
        self.friends.pairs.len() as u64
    }

    fn with_snapshot(&self, reads: &mut dyn FnMut(&dyn Reads)) {
        reads(self);
    }
}

impl Reads for Dense {
    fn forward(&self, user: u32) -> u64 {
        self.memberships.forward[user as usize].iter().map(|&g| u64::from(g)).sum()
    }

    fn reverse(&self, group: u32) -> u64 {
        self.memberships.reverse[group as usize].iter().map(|&u| u64::from(u)).sum()
    }

    fn contains(&self, user: u32, group: u32) -> bool {
        self.memberships.pairs.contains(&(user, group))
    }

    fn join_query(&self, group_name: &str, each: &mut dyn FnMut(&str)) {
        if let Some(group) = self.groups.id(group_name) {
            self.memberships.reverse[group as usize].iter().for_each(|&u| each(self.users.get(u)));
        }
    }

    fn fof(&self, person: u32) -> u64 {
        // The hand-written best: a marker per person, stamped per call and
        // kept between calls, so nothing is hashed or allocated per call
        // (junctiondb's traversals keep a bitmap per thread the same way).
        let mut marks = self.fof_marks.borrow_mut();
        if marks.len() < self.friends.forward.len() {
            marks.resize(self.friends.forward.len(), 0);
        }
        let mut stamp = self.fof_stamp.get().wrapping_add(1);
        if stamp == 0 {
            marks.fill(0);
            stamp = 1;
        }
        self.fof_stamp.set(stamp);
        let mut count = 0;
        for &friend in &self.friends.forward[person as usize] {
            for &w in &self.friends.forward[friend as usize] {
                if w != person && marks[w as usize] != stamp {
                    marks[w as usize] = stamp;
                    count += 1;
                }
            }
        }
        count
    }
}

/// Group `g` is node `GROUP_NODE + g`, so users and groups share one graph.
const GROUP_NODE: u32 = 1 << 31;

/// The `graphmap` system: users and groups (persons in their own graph) as
/// nodes, added with the rows; names in `Vec`s with a name -> id map.
#[derive(Default)]
struct GraphMap {
    users: Names,
    groups: Names,
    memberships: DiGraphMap<u32, ()>,
    friends: DiGraphMap<u32, ()>,
}

impl System for GraphMap {
    fn load_rows(&mut self, users: u32, groups: u32) {
        self.groups = Names::new('g', groups);
        self.users = Names::new('u', users);
        for group in 1..=groups {
            self.memberships.add_node(GROUP_NODE + group);
        }
        for user in 1..=users {
            self.memberships.add_node(user);
        }
    }

    fn add(&mut self, pairs: &[(u32, u32)]) {
        for &(user, group) in pairs {
            self.memberships.add_edge(user, GROUP_NODE + group, ());
        }
    }

    fn edge_count(&self) -> u64 {
        self.memberships.edge_count() as u64
    }

    fn remove(&mut self, user: u32, group: u32) -> bool {
        self.memberships.remove_edge(user, GROUP_NODE + group).is_some()
    }

    fn delete_user(&mut self, user: u32) -> bool {
        self.users.remove(user) && self.memberships.remove_node(user)
    }

    fn load_persons(&mut self, persons: u32) {
        for person in 1..=persons {
            self.friends.add_node(person);
        }
    }

    fn friends_add(&mut self, pairs: &[(u32, u32)]) {
        for &(a, b) in pairs {
            self.friends.add_edge(a, b, ());
            self.friends.add_edge(b, a, ());
        }
    }

    fn friend_rows(&self) -> u64 {
        self.friends.edge_count() as u64
    }

    fn with_snapshot(&self, reads: &mut dyn FnMut(&dyn Reads)) {
        reads(self);
    }
}

impl Reads for GraphMap {
    fn forward(&self, user: u32) -> u64 {
        let groups = self.memberships.neighbors_directed(user, Outgoing);
        groups.map(|g| u64::from(g - GROUP_NODE)).sum()
    }

    fn reverse(&self, group: u32) -> u64 {
        let members = self.memberships.neighbors_directed(GROUP_NODE + group, Incoming);
        members.map(u64::from).sum()
    }

    fn contains(&self, user: u32, group: u32) -> bool {
        self.memberships.contains_edge(user, GROUP_NODE + group)
    }

    fn join_query(&self, group_name: &str, each: &mut dyn FnMut(&str)) {
        if let Some(group) = self.groups.id(group_name) {
            self.memberships.neighbors_directed(GROUP_NODE + group, Incoming).for_each(|u| each(self.users.get(u)));
        }
    }

    fn fof(&self, person: u32) -> u64 {
        count_fof(person, |p| self.friends.neighbors_directed(p, Outgoing))
    }
}

/// The `junctiondb` system, driven through its public API with every name
/// resolved to a handle once. The harness checks it against the peers.
/// The harness owns the database, so its writes take the exclusive path
/// (`Database::write_mut`), with no lock, as a program that owns its
/// database would (`dense`, which it is held against, has none either);
/// each write is still a transaction that rolls back on error.
mod junction_system {
    /// The junctiondb constructor.
    pub(super) const FACTORY: Option<super::Factory> = Some(new);

    use super::Reads;
    use super::{name, System};
    use std::cell::RefCell;

    use junctiondb::{row, Accessor, Database, Error, Key, Query, ReadTxn, Relation, Schema, TableId, Type};

    const FAILED: &str = "junctiondb operation failed";

    pub(super) fn new() -> Box<dyn System> {
        Box::new(Junction::open().expect(FAILED))
    }

    /// The engine with every name resolved to a handle once. `keys[id - 1]`
    /// is the key of harness id `id`.
    struct Junction {
        db: Database,
        user_t: TableId,
        group_t: TableId,
        person_t: TableId,
        groups: Accessor,
        members: Accessor,
        friends: Accessor,
        users: Vec<Key>,
        group_keys: Vec<Key>,
        persons: Vec<Key>,
    }

    /// The key of harness id `id`. Row ids are assigned 1, 2, ... in
    /// insertion order (checked when the rows are loaded), so the key is
    /// built from the id as an application holding ids would, instead of
    /// being looked up in a vector the peers do not need.
    fn key(keys: &[Key], id: u32) -> Key {
        Key::new(keys[0].table(), i64::from(id))
    }

    /// Checks that `keys[i]` has id `i + 1`.
    fn assert_dense(keys: &[Key]) {
        assert!(keys.iter().enumerate().all(|(i, k)| k.id() == i as i64 + 1), "ids are assigned in order");
    }

    impl Junction {
        fn open() -> Result<Junction, Error> {
            let schema = Schema::builder()
                .table("group", |t| {
                    t.column("name", Type::Text).unique();
                })
                .table("user", |t| {
                    t.column("username", Type::Text).unique();
                    t.many_to_many("groups", "group");
                })
                .table("person", |t| {
                    t.many_to_many("friends", "self");
                })
                .build()?;
            let db = Database::new(schema);
            let s = db.schema();
            let (user_t, group_t) = (s.table("user").unwrap(), s.table("group").unwrap());
            let person_t = s.table("person").unwrap();
            let groups = s.accessor("user", "groups").unwrap();
            let members = s.accessor("group", "user_set").unwrap();
            let friends = s.accessor("person", "friends").unwrap();
            Ok(Junction {
                db,
                user_t,
                group_t,
                person_t,
                groups,
                members,
                friends,
                users: Vec::new(),
                group_keys: Vec::new(),
                persons: Vec::new(),
            })
        }

        /// Rows stored through `accessor`, counted from a side never deleted.
        fn rows(&self, keys: &[Key], accessor: Accessor) -> u64 {
            let count = self.db.read(|v| {
                keys.iter().map(|&k| v.related_at(k, accessor).map(|r| r.count() as u64)).sum::<Result<u64, Error>>()
            });
            count.expect(FAILED)
        }

        /// The bulk load of `pairs` through `accessor` in one write
        /// transaction, from rows of table `from` to rows of table `to`.
        fn add_all(&mut self, pairs: &[(u32, u32)], from: TableId, to: TableId, accessor: Accessor) {
            let added = self.db.write_mut(|tx| {
                for &(a, b) in pairs {
                    tx.related_at(Key::new(from, a.into()), accessor)?.add([Key::new(to, b.into())])?;
                }
                Ok::<_, Error>(())
            });
            added.expect(FAILED);
        }
    }

    impl System for Junction {
        fn load_rows(&mut self, users: u32, groups: u32) {
            let (user_t, group_t) = (self.user_t, self.group_t);
            let keys = self.db.write(|tx| {
                let mut group_keys = Vec::with_capacity(groups as usize);
                for g in 1..=groups {
                    group_keys.push(tx.insert(group_t, row! {"name" => name('g', g)})?);
                }
                let mut user_keys = Vec::with_capacity(users as usize);
                for u in 1..=users {
                    user_keys.push(tx.insert(user_t, row! {"username" => name('u', u)})?);
                }
                Ok::<_, Error>((user_keys, group_keys))
            });
            (self.users, self.group_keys) = keys.expect(FAILED);
            assert_dense(&self.users);
            assert_dense(&self.group_keys);
        }

        fn add(&mut self, pairs: &[(u32, u32)]) {
            self.add_all(pairs, self.user_t, self.group_t, self.groups);
        }

        fn edge_count(&self) -> u64 {
            self.rows(&self.group_keys, self.members)
        }

        fn remove(&mut self, user: u32, group: u32) -> bool {
            let (u, g) = (key(&self.users, user), key(&self.group_keys, group));
            // Adjust to what `remove` returns; here, the number of rows removed.
            let groups = self.groups;
            let removed = self.db.write_mut(|tx| tx.related_at(u, groups)?.remove([g]));
            removed.expect(FAILED) == 1
        }

        fn delete_user(&mut self, user: u32) -> bool {
            let u = key(&self.users, user);
            self.db.write_mut(|tx| tx.delete(u)).is_ok()
        }

        fn load_persons(&mut self, persons: u32) {
            let person_t = self.person_t;
            let keys = self.db.write(|tx| {
                let mut keys = Vec::with_capacity(persons as usize);
                for _ in 0..persons {
                    keys.push(tx.insert(person_t, row! {})?);
                }
                Ok::<_, Error>(keys)
            });
            self.persons = keys.expect(FAILED);
            assert_dense(&self.persons);
        }

        fn friends_add(&mut self, pairs: &[(u32, u32)]) {
            // The symmetrical relation stores the mirrored row itself.
            self.add_all(pairs, self.person_t, self.person_t, self.friends);
        }

        fn friend_rows(&self) -> u64 {
            self.rows(&self.persons, self.friends)
        }

        fn with_snapshot(&self, reads: &mut dyn FnMut(&dyn Reads)) {
            let tx = self.db.begin_read().expect(FAILED);
            let relation = |accessor| tx.relation(accessor).expect(FAILED);
            let (groups, members) = (relation(self.groups), relation(self.members));
            // Built once per snapshot and rebound per call, as the SQLite
            // peers' statements are prepared once per snapshot.
            let query = tx.query(self.user_t).and_then(|q| q.filter("groups__name", "")).expect(FAILED);
            reads(&JunctionReads { tx: &tx, sys: self, groups, members, members_by_name: RefCell::new(query) });
        }
    }

    /// Reads of one snapshot: every read op of a timed pass runs inside a
    /// single read transaction, as a reader of an embedded database would,
    /// through relation handles resolved once in it.
    struct JunctionReads<'a> {
        tx: &'a ReadTxn<'a>,
        sys: &'a Junction,
        groups: Relation<'a>,
        members: Relation<'a>,
        /// Users by the name of a group of theirs: `join_query`'s query.
        members_by_name: RefCell<Query<'a>>,
    }

    #[inline(always)]
    fn sum_ids(relation: &Relation<'_>, key: Key) -> u64 {
        relation.ids(key).map(|ids| ids.sum::<i64>()).expect(FAILED) as u64
    }

    impl Reads for JunctionReads<'_> {
        fn forward(&self, user: u32) -> u64 {
            sum_ids(&self.groups, Key::new(self.sys.user_t, user.into()))
        }

        fn reverse(&self, group: u32) -> u64 {
            sum_ids(&self.members, Key::new(self.sys.group_t, group.into()))
        }

        fn contains(&self, user: u32, group: u32) -> bool {
            self.groups.contains(Key::new(self.sys.user_t, user.into()), Key::new(self.sys.group_t, group.into()))
        }

        /// Through the query layer: `members_by_name` rebound to the
        /// group's name; its planner finds the group by the unique name,
        /// then walks the junction; the usernames come out as Django's
        /// `values_list("username", flat=True).iterator()` gives them.
        fn join_query(&self, group_name: &str, each: &mut dyn FnMut(&str)) {
            let mut query = self.members_by_name.borrow_mut();
            query.rebind(0, group_name).expect(FAILED);
            query.for_each_value("username", |v| each(v.as_text().expect(FAILED))).expect(FAILED);
        }

        /// Through the engine's traversal: the distinct ends of walks of two
        /// steps, as SQLite answers its `COUNT(DISTINCT ...)` query.
        fn fof(&self, person: u32) -> u64 {
            let p = key(&self.sys.persons, person);
            self.tx.walk_ends(p, self.sys.friends, 2).expect(FAILED).len() as u64
        }
    }
}

// ---------------------------------------------------------------------------
// Timing, child side

/// One timed pass of `op` over `inputs`: nanoseconds per op and the wrapping
/// sum of the results (the digest the parent compares across systems).
fn time_pass<T, F: FnMut(&T) -> u64>(inputs: &[T], op: &mut F) -> (f64, u64) {
    let start = Instant::now();
    let mut digest = 0u64;
    for input in inputs {
        digest = digest.wrapping_add(black_box(op(black_box(input))));
    }
    (timed_since(start) as f64 / inputs.len() as f64, digest)
}

/// Nanoseconds this child spent in timed passes and loads, reported in its
/// `timed` line.
static TIMED_NS: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds since `start`, added to [`TIMED_NS`].
fn timed_since(start: Instant) -> u64 {
    let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    TIMED_NS.fetch_add(ns, Ordering::Relaxed);
    ns
}

/// The fastest of `passes` passes of a read-only op.
fn time_reads<T>(passes: usize, inputs: &[T], mut op: impl FnMut(&T) -> u64) -> (f64, u64) {
    (0..passes.max(1)).map(|_| time_pass(inputs, &mut op)).min_by(|a, b| a.0.total_cmp(&b.0)).expect("a pass")
}

/// A single pass of a mutating op.
fn time_writes<T>(inputs: &[T], mut op: impl FnMut(&T) -> u64) -> (f64, u64) {
    time_pass(inputs, &mut op)
}

/// Nanoseconds per attempted pair of a bulk load.
fn time_load(attempts: usize, load: impl FnOnce()) -> f64 {
    let start = Instant::now();
    load();
    timed_since(start) as f64 / attempts as f64
}

/// Resident set size of this process, if the platform exposes it.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `join_query` for one group and sums `per_name` of the usernames it
/// passes (wrapping), an order-independent digest. Timed, with
/// [`word_sum`]: every byte of every name is read, whether the system
/// copies it or lends it, at the least cost to every system (a
/// byte-at-a-time fold costs about 45 instructions a name). Untimed, with
/// [`fnv`]: the check that every system returns the same names.
fn summed_names(reads: &dyn Reads, group_name: &str, per_name: impl Fn(&[u8]) -> u64) -> u64 {
    let mut sum = 0_u64;
    reads.join_query(group_name, &mut |name| sum = sum.wrapping_add(per_name(name.as_bytes())));
    sum
}

/// FNV-1a of `bytes`.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3))
}

/// A sum that reads every byte of `bytes` in a few loads: whole 8-byte
/// words, then the rest (up to 7 bytes) as two overlapping loads of 4, 2
/// or 1 bytes, with the length.
fn word_sum(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut sum = bytes.len() as u64;
    for word in &mut words {
        sum = sum.wrapping_add(u64::from_le_bytes(word.try_into().expect("8 bytes")));
    }
    let rest = words.remainder();
    let n = rest.len();
    let (first, last) = if n >= 4 {
        (
            u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")),
            u32::from_le_bytes(rest[n - 4..].try_into().expect("4 bytes")),
        )
    } else if n >= 2 {
        (
            u16::from_le_bytes(rest[..2].try_into().expect("2 bytes")).into(),
            u16::from_le_bytes(rest[n - 2..].try_into().expect("2 bytes")).into(),
        )
    } else {
        (rest.first().copied().map_or(0, u32::from), 0)
    };
    sum.wrapping_add(u64::from(first) << 32 | u64::from(last))
}

/// What a child prints: report lines as it measures, then one `check` line.
struct Child {
    size: Size,
    system: &'static str,
    digests: Vec<(&'static str, u64)>,
}

impl Child {
    fn op(&mut self, op: &'static str, (ns, digest): (f64, u64)) {
        let (size, system) = (self.size.name(), self.system);
        println!("op={op} size={size} system={system} ns_per_op={ns:.1}");
        self.digest(op, digest);
    }

    fn digest(&mut self, name: &'static str, value: u64) {
        self.digests.push((name, value));
    }

    fn memory(&self, bytes_per_edge: f64) {
        let (size, system) = (self.size.name(), self.system);
        println!("memory size={size} system={system} bytes_per_edge={bytes_per_edge:.2}");
    }

    fn finish(self) {
        let digests: Vec<String> = self.digests.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let (size, system) = (self.size.name(), self.system);
        println!("check size={size} system={system} {}", digests.join(" "));
        let timed = TIMED_NS.load(Ordering::Relaxed) as f64 / 1e9;
        println!("timed size={size} system={system} seconds={timed:.3}");
    }
}

/// Loads rows (untimed) then the relation (timed, with its memory growth).
fn load_membership(sys: &mut dyn System, w: &Membership, out: &mut Child, memory: bool) {
    sys.load_rows(w.users, w.groups);
    let before = resident_bytes();
    let ns = time_load(w.pairs.len(), || sys.add(black_box(&w.pairs)));
    let after = resident_bytes();
    let edges = sys.edge_count();
    out.op("add", (ns, edges));
    out.digest("attempts", w.pairs.len() as u64);
    if let (true, Some(before), Some(after)) = (memory, before, after) {
        out.memory(after.saturating_sub(before) as f64 / edges as f64);
    }
}

/// Digest of the usernames of the first `CHECKED_NAMES` queried groups.
fn join_digest(sys: &dyn System, names: &[String]) -> u64 {
    let checked = &names[..names.len().min(CHECKED_NAMES)];
    let mut digest = 0;
    sys.with_snapshot(&mut |reads| {
        digest = checked.iter().map(|n| summed_names(reads, n, fnv)).fold(0, u64::wrapping_add);
    });
    digest
}

/// Sizes S and L: every membership op, mutating ones last.
fn run_membership(sys: &mut dyn System, shape: Shape, mode: Mode, out: &mut Child) {
    let w = Membership::generate(shape, mode);
    let q = MembershipQueries::generate(&w, shape.seed, mode);
    load_membership(sys, &w, out, true);
    sys.with_snapshot(&mut |reads| {
        out.op("forward", time_reads(mode.read_rounds, &q.users, |&u| reads.forward(u)));
        out.op("reverse", time_reads(mode.read_rounds, &q.groups, |&g| reads.reverse(g)));
        let probe = |&(u, g): &(u32, u32)| u64::from(reads.contains(u, g));
        out.op("contains", time_reads(mode.read_rounds, &q.probes, probe));
        // Every byte of every name is summed, so no system's strings can
        // be skipped.
        let query = |name: &String| summed_names(reads, name, word_sum);
        out.op("join_query", time_reads(mode.read_rounds, &q.group_names, query));
    });
    out.digest("join_names", join_digest(sys, &q.group_names));
    let remove = |&(u, g): &(u32, u32)| u64::from(sys.remove(u, g));
    out.op("remove", time_writes(&q.removals, remove));
    let delete = |&u: &u32| u64::from(sys.delete_user(u));
    out.op("delete_user", time_writes(&q.deletions, delete));
    out.digest("edges_left", sys.edge_count());
    out.digest("join_names_left", join_digest(sys, &q.group_names));
}

/// Size hub: contains and remove on small groups, then on the hub.
fn run_hub(sys: &mut dyn System, mode: Mode, out: &mut Child) {
    let w = Membership::generate(HUB_SHAPE, mode);
    let q = HubQueries::generate(&w, mode);
    load_membership(sys, &w, out, false);
    sys.with_snapshot(&mut |reads| {
        let probe = |&(u, g): &(u32, u32)| u64::from(reads.contains(u, g));
        out.op("contains", time_reads(mode.read_rounds, &q.probes, probe));
        out.op("hub_contains", time_reads(mode.read_rounds, &q.hub_probes, probe));
    });
    let mut remove = |&(u, g): &(u32, u32)| u64::from(sys.remove(u, g));
    out.op("remove", time_writes(&q.removals, &mut remove));
    out.op("hub_remove", time_writes(&q.hub_removals, &mut remove));
    out.digest("edges_left", sys.edge_count());
}

/// Size friends: the symmetric load, then friends of friends.
fn run_friends(sys: &mut dyn System, mode: Mode, out: &mut Child) {
    let w = Friends::generate(mode);
    sys.load_persons(w.persons);
    let ns = time_load(w.pairs.len(), || sys.friends_add(black_box(&w.pairs)));
    out.op("friends_add", (ns, sys.friend_rows()));
    out.digest("attempts", w.pairs.len() as u64);
    sys.with_snapshot(&mut |reads| out.op("fof", time_reads(mode.read_rounds, &w.fof_inputs, |&p| reads.fof(p))));
}

/// Measures one system on one size (`spec` is `<size>/<system>`).
fn child_main(spec: &str, mode: Mode) {
    let (size, system) = spec.split_once('/').expect("PEERS_CHILD is <size>/<system>");
    let size = Size::parse(size).expect("unknown size");
    let (system, make) = systems().into_iter().find(|(name, _)| *name == system).expect("unknown system");
    let mut sys = make();
    let mut out = Child { size, system, digests: Vec::new() };
    match size {
        Size::S => run_membership(sys.as_mut(), S, mode, &mut out),
        Size::L => run_membership(sys.as_mut(), L, mode, &mut out),
        Size::Hub => run_hub(sys.as_mut(), mode, &mut out),
        Size::Friends => run_friends(sys.as_mut(), mode, &mut out),
    }
    out.finish();
}

// ---------------------------------------------------------------------------
// Parent: run children, check agreement, print ratio tables

/// The value of `key=value` in a report line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|token| token.strip_prefix(key)?.strip_prefix('='))
}

/// One measurement: the best of its rounds, and the line that reported it.
struct Measurement {
    /// `memory` for bytes per edge.
    op: String,
    size: String,
    system: String,
    value: f64,
    line: String,
}

/// Everything the children printed.
#[derive(Default)]
struct Results {
    values: Vec<Measurement>,
    /// Each child's `check` line.
    checks: Vec<String>,
    /// Seconds of measurement, summed over the children's `timed` lines.
    timed_seconds: f64,
}

impl Results {
    /// Records a child's line, keeping the best (lowest) value of each
    /// measurement over the rounds.
    fn record(&mut self, line: &str) {
        if line.starts_with("check ") {
            self.checks.push(line.to_owned());
            return;
        }
        if line.starts_with("timed ") {
            self.timed_seconds += field(line, "seconds").and_then(|s| s.parse::<f64>().ok()).expect("timed seconds");
            return;
        }
        let (op, value) = match field(line, "op") {
            Some(op) => (op, field(line, "ns_per_op")),
            None => ("memory", field(line, "bytes_per_edge")),
        };
        let parsed = (field(line, "size"), field(line, "system"), value);
        if let (Some(size), Some(system), Some(value)) = parsed {
            let value: f64 = value.parse().expect("a float");
            let line = line.to_owned();
            match self.values.iter_mut().find(|m| m.op == op && m.size == size && m.system == system) {
                Some(best) if value < best.value => (best.value, best.line) = (value, line),
                Some(_) => {}
                None => self.values.push(Measurement {
                    op: op.into(),
                    size: size.into(),
                    system: system.into(),
                    value,
                    line,
                }),
            }
        }
    }

    /// The report lines of one size, per system in `names` order.
    fn print_size(&self, size: Size, names: &[&str]) {
        for &system in names {
            self.values
                .iter()
                .filter(|m| m.size == size.name() && m.system == system)
                .for_each(|m| println!("{}", m.line));
        }
    }

    fn get(&self, op: &str, size: &str, system: &str) -> Option<f64> {
        self.values.iter().find(|m| m.op == op && m.size == size && m.system == system).map(|m| m.value)
    }

    fn digest(&self, size: &str, system: &str, key: &str) -> Option<f64> {
        let line = self
            .checks
            .iter()
            .find(|line| field(line, "size") == Some(size) && field(line, "system") == Some(system))?;
        field(line, key)?.parse().ok()
    }

    /// Panics unless every system's digests for `size` are identical.
    fn assert_agreement(&self, size: Size) {
        let of_size: Vec<&String> =
            self.checks.iter().filter(|line| field(line, "size") == Some(size.name())).collect();
        let without_system = |line: &str| {
            let tokens = line.split_whitespace().filter(|t| !t.starts_with("system="));
            tokens.collect::<Vec<_>>().join(" ")
        };
        let first = without_system(of_size[0]);
        if of_size.iter().any(|line| without_system(line) != first) {
            let lines: Vec<&str> = of_size.iter().map(|line| line.as_str()).collect();
            panic!("systems disagree on size {}:\n{}", size.name(), lines.join("\n"));
        }
        eprintln!("# size {}: {} systems agree", size.name(), of_size.len());
    }
}

/// Runs one (size, system) child and records its report lines.
fn run_child(size: Size, system: &str, results: &mut Results) {
    eprintln!("# running size={} system={system}", size.name());
    let mut child = Command::new(env::current_exe().expect("own executable"))
        .args(env::args_os().skip(1))
        .env("PEERS_CHILD", format!("{}/{system}", size.name()))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        results.record(&line.expect("child output"));
    }
    let status = child.wait().expect("child status");
    assert!(status.success(), "size={} system={system} failed: {status}", size.name());
}

/// `numerator / denominator` to two decimals, or `-` when either is missing.
fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> String {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => format!("{:.2}", n / d),
        _ => "-".into(),
    }
}

/// The reference against each peer, per op and size (peer / reference).
fn print_peer_ratios(results: &Results, names: &[&str]) {
    let reference = if names.contains(&"junctiondb") { "junctiondb" } else { "dense" };
    let peers: Vec<&str> = names.iter().copied().filter(|&n| n != reference).collect();
    println!();
    println!("ratios: peer / {reference} (ns_per_op, or bytes_per_edge for memory); above 1 = {reference} better");
    print!("{:<14}{:<9}", "op", "size");
    peers.iter().for_each(|peer| print!("{peer:>15}"));
    println!();
    let mut rows: Vec<(&str, &str)> = Vec::new();
    for m in &results.values {
        if !rows.contains(&(m.op.as_str(), m.size.as_str())) {
            rows.push((&m.op, &m.size));
        }
    }
    for (op, size) in rows {
        print!("{op:<14}{size:<9}");
        let mine = results.get(op, size, reference);
        peers.iter().for_each(|peer| print!("{:>15}", ratio(results.get(op, size, peer), mine)));
        println!();
    }
}

/// Per system: hub op / same op on a small group, and friends_add / add per
/// stored row (friends size against S).
fn print_within_ratios(results: &Results, names: &[&str]) {
    println!();
    println!("within each system: hub / small group, friends_add / add per stored row");
    println!("{:<16}{:>14}{:>14}{:>22}", "system", "hub_contains", "hub_remove", "friends_add_per_row");
    for &system in names {
        let hub = |op: &str, small: &str| ratio(results.get(op, "hub", system), results.get(small, "hub", system));
        let per_row = |op: &str, size: &str, rows: &str| {
            let ns = results.get(op, size, system)?;
            let attempts = results.digest(size, system, "attempts")?;
            Some(ns * attempts / results.digest(size, system, rows)?)
        };
        let friends = ratio(per_row("friends_add", "friends", "friends_add"), per_row("add", "S", "add"));
        let (contains, remove) = (hub("hub_contains", "contains"), hub("hub_remove", "remove"));
        println!("{system:<16}{contains:>14}{remove:>14}{friends:>22}");
    }
}

fn main() {
    let mode = Mode::from_env();
    if let Ok(spec) = env::var("PEERS_CHILD") {
        child_main(&spec, mode);
        return;
    }
    let start = Instant::now();
    let names: Vec<&str> = systems().into_iter().map(|(name, _)| name).collect();
    let mut results = Results::default();
    for size in mode.sizes() {
        // Alternating the order spreads the machine's slow spells (it is
        // shared) over all systems instead of one.
        for round in 0..mode.rounds {
            let mut order = names.clone();
            if round % 2 == 1 {
                order.reverse();
            }
            order.iter().for_each(|system| run_child(size, system, &mut results));
        }
        results.assert_agreement(size);
        results.print_size(size, &names);
    }
    print_peer_ratios(&results, &names);
    print_within_ratios(&results, &names);
    let total = start.elapsed().as_secs_f64();
    eprintln!("# total {total:.1} s, of which {:.1} s measurement", results.timed_seconds);
}
