//! Differential test: seeded random data and thousands of random queries,
//! answered by the engine and by a naive evaluator over plain `Vec`s of
//! rows read with `scan` (nested loops, no indexes, no planner), compared
//! as multisets, or exactly when the order is fully determined.
//!
//! The naive evaluator implements the documented semantics directly: for
//! each root row and each filter call, enumerate every binding of the
//! call's join nodes (the distinct multi-valued path prefixes outside
//! negations; `NULL` when a node has no rows), and count the bindings for
//! which the condition holds; a negation holds when its own enumeration
//! finds none; `exclude` keeps a row when the filter's count is zero; the
//! result repeats each row by the product of its filter counts.

use std::cmp::Ordering;
use std::collections::HashMap;

mod common;

use common::Rng;
use junctiondb::{row, Aggregate, Arg, Database, Error, Key, OnDelete, ReadTxn, Schema, Type, Value, Q};

const TEXTS: [&str; 8] = ["a", "ab", "B", "bA", "abc", "", "zz", "Ab"];
const FLOATS: [f64; 5] = [-1.5, 0.0, 0.5, 2.25, 7.0];
const BYTES: [&[u8]; 5] = [&[], &[1], &[1, 2], &[2], &[2, 1, 3]];

fn schema() -> Schema {
    Schema::builder()
        .table("city", |t| {
            t.column("name", Type::Text).indexed();
        })
        .table("group", |t| {
            t.column("title", Type::Text);
            t.column("rank", Type::Int).nullable().indexed();
        })
        .table("tag", |t| {
            t.column("label", Type::Text).unique();
        })
        .table("user", |t| {
            t.column("name", Type::Text).unique();
            t.column("age", Type::Int).nullable();
            t.column("score", Type::Float).nullable();
            t.column("flag", Type::Bool);
            t.column("blob", Type::Bytes).nullable();
            t.foreign_key("city", "city").nullable().on_delete(OnDelete::SetNull);
            t.many_to_many("groups", "group").through("membership").related_name("members");
            t.many_to_many("tags", "tag");
            t.many_to_many("friends", "self");
        })
        .table("membership", |t| {
            t.foreign_key("user", "user");
            t.foreign_key("group", "group");
            t.column("note", Type::Text).nullable();
            t.column("year", Type::Int);
        })
        .build()
        .expect("schema builds")
}

/// `v`, or `None` one time in five.
fn maybe<T>(v: T, rng: &mut Rng) -> Option<T> {
    (!rng.chance(20)).then_some(v)
}

fn load(rng: &mut Rng) -> Database {
    let db = Database::new(schema());
    db.write(|tx| {
        let cities: Vec<Key> = ["Paris", "paris", "Rome"]
            .iter()
            .map(|n| tx.insert("city", row! { "name" => *n }))
            .collect::<Result<_, _>>()?;
        let groups: Vec<Key> = (0..5)
            .map(|_| {
                let title = rng.pick(&TEXTS);
                let rank = maybe(rng.below(3) as i64, rng);
                tx.insert("group", row! { "title" => title, "rank" => rank })
            })
            .collect::<Result<_, _>>()?;
        let tags: Vec<Key> = ["a", "ab", "B", "zz"]
            .iter()
            .map(|l| tx.insert("tag", row! { "label" => *l }))
            .collect::<Result<_, _>>()?;
        let n_users = 9 + rng.below(5);
        let mut users = Vec::new();
        let insert_user = |tx: &mut junctiondb::WriteTxn<'_>,
                           rng: &mut Rng,
                           i: usize,
                           id: Option<i64>|
         -> Result<Key, Error> {
            let name = format!("{}{i}", rng.pick(&TEXTS));
            let age = maybe(rng.below(5) as i64, rng);
            let score = maybe(rng.pick(&FLOATS), rng);
            let blob = maybe(rng.pick(&BYTES).to_vec(), rng);
            let city = maybe(rng.pick(&cities).id(), rng);
            let flag = rng.chance(50);
            let mut row =
                row! { "name" => name, "age" => age, "score" => score, "flag" => flag, "blob" => blob, "city" => city };
            if let Some(id) = id {
                row.set("id", id);
            }
            tx.insert("user", row)
        };
        for i in 0..n_users {
            users.push(insert_user(tx, rng, i, None)?);
        }
        for &u in &users {
            for _ in 0..rng.below(4) {
                let g = rng.pick(&groups);
                let note = maybe(rng.pick(&TEXTS), rng);
                let year = 2018 + rng.below(6) as i64;
                tx.insert("membership", row! { "user" => u, "group" => g, "note" => note, "year" => year })?;
            }
            for _ in 0..rng.below(3) {
                let t = rng.pick(&tags);
                tx.related(u, "tags")?.add([t])?;
            }
            if rng.chance(60) {
                let f = rng.pick(&users);
                tx.related(u, "friends")?.add([f])?;
            }
        }
        // Free some slots and reuse them, so ids and slots part ways: the
        // first new user's id is out of step, and from then on the table
        // reuses freed slots. Not the last two users: rows inserted into
        // the last slots would keep ids ascending in slot order.
        for _ in 0..2 {
            let i = rng.below(users.len() - 2);
            let u = users.swap_remove(i);
            tx.delete(u)?;
        }
        for i in 0..2 {
            let u = insert_user(tx, rng, 100 + i, (i == 0).then_some(1_000))?;
            if rng.chance(70) {
                let g = rng.pick(&groups);
                tx.insert("membership", row! { "user" => u, "group" => g, "year" => 2020 })?;
            }
        }
        if rng.chance(50) {
            tx.delete(rng.pick(&groups))?;
        }
        assert!(common::slots_reused(tx, "user"), "new users in freed slots");
        Ok::<_, Error>(())
    })
    .expect("data loads");
    db
}

// ---------------------------------------------------------------- model

#[derive(Clone, Debug)]
struct MRow {
    id: i64,
    cells: HashMap<String, Value>,
}

/// The database as plain vectors of rows.
struct Model {
    tables: HashMap<&'static str, Vec<MRow>>,
}

const TABLES: [&str; 7] = ["city", "group", "tag", "user", "membership", "user_tags", "user_friends"];

impl Model {
    fn read(tx: &ReadTxn<'_>) -> Model {
        let mut tables = HashMap::new();
        for t in TABLES {
            let rows = tx
                .scan(t)
                .unwrap()
                .map(|r| MRow {
                    id: r.id(),
                    cells: r.to_row().iter().map(|(n, v)| (n.to_owned(), v.clone())).collect(),
                })
                .collect();
            tables.insert(t, rows);
        }
        Model { tables }
    }

    fn rows(&self, t: &str) -> &[MRow] {
        &self.tables[t]
    }

    fn by_id(&self, t: &str, id: &Value) -> Option<&MRow> {
        let id = id.as_int()?;
        self.rows(t).iter().find(|r| r.id == id)
    }
}

/// A hop as the model walks it: linear scans.
#[derive(Clone, Copy, Debug, PartialEq)]
enum NHop {
    /// Read `column` (an id of `to`) and fetch that row.
    Fk { column: &'static str, to: &'static str },
    /// Rows of `table` whose `column` holds this row's id.
    Rev { table: &'static str, column: &'static str },
}

impl NHop {
    fn multi(self) -> bool {
        matches!(self, NHop::Rev { .. })
    }

    fn walk<'m>(self, m: &'m Model, from: &MRow) -> Vec<&'m MRow> {
        match self {
            NHop::Fk { column, to } => m.by_id(to, &from.cells[column]).into_iter().collect(),
            NHop::Rev { table, column } => {
                m.rows(table).iter().filter(|r| r.cells[column] == Value::Int(from.id)).collect()
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Text,
    Int,
    Float,
    Bool,
    Bytes,
    /// An id column referring to rows of a table.
    Ref(&'static str),
}

struct PathSpec {
    path: &'static str,
    hops: Vec<NHop>,
    column: &'static str,
    kind: Kind,
}

const M_USER: NHop = NHop::Rev { table: "membership", column: "user_id" };
const M_GROUP: NHop = NHop::Rev { table: "membership", column: "group_id" };
const TO_GROUP: NHop = NHop::Fk { column: "group_id", to: "group" };
const TO_USER: NHop = NHop::Fk { column: "user_id", to: "user" };
const TAG_LINKS: NHop = NHop::Rev { table: "user_tags", column: "user_id" };
const TO_TAG: NHop = NHop::Fk { column: "tag_id", to: "tag" };
const FRIEND_LINKS: NHop = NHop::Rev { table: "user_friends", column: "from_user_id" };
const TO_FRIEND: NHop = NHop::Fk { column: "to_user_id", to: "user" };
const TO_CITY: NHop = NHop::Fk { column: "city_id", to: "city" };
const CITY_USERS: NHop = NHop::Rev { table: "user", column: "city_id" };

fn spec(path: &'static str, hops: &[NHop], column: &'static str, kind: Kind) -> PathSpec {
    PathSpec { path, hops: hops.to_vec(), column, kind }
}

impl PathSpec {
    /// The model's value of this single-valued path from `r` (`NULL` where
    /// a hop finds no row).
    fn read(&self, m: &Model, r: &MRow) -> Value {
        let mut row = Some(r);
        for h in &self.hops {
            row = row.and_then(|x| h.walk(m, x).first().copied());
        }
        row.map_or(Value::Null, |x| x.cells[self.column].clone())
    }
}

fn user_paths() -> Vec<PathSpec> {
    vec![
        spec("id", &[], "id", Kind::Ref("user")),
        spec("name", &[], "name", Kind::Text),
        spec("age", &[], "age", Kind::Int),
        spec("score", &[], "score", Kind::Float),
        spec("flag", &[], "flag", Kind::Bool),
        spec("blob", &[], "blob", Kind::Bytes),
        spec("city", &[], "city_id", Kind::Ref("city")),
        spec("city__name", &[TO_CITY], "name", Kind::Text),
        spec("city__user__age", &[TO_CITY, CITY_USERS], "age", Kind::Int),
        spec("groups", &[M_USER], "group_id", Kind::Ref("group")),
        spec("groups__title", &[M_USER, TO_GROUP], "title", Kind::Text),
        spec("groups__rank", &[M_USER, TO_GROUP], "rank", Kind::Int),
        spec("membership__note", &[M_USER], "note", Kind::Text),
        spec("membership__year", &[M_USER], "year", Kind::Int),
        spec("membership__group__title", &[M_USER, TO_GROUP], "title", Kind::Text),
        spec("groups__members__name", &[M_USER, TO_GROUP, M_GROUP, TO_USER], "name", Kind::Text),
        spec("tags", &[TAG_LINKS], "tag_id", Kind::Ref("tag")),
        spec("tags__label", &[TAG_LINKS, TO_TAG], "label", Kind::Text),
        spec("friends", &[FRIEND_LINKS], "to_user_id", Kind::Ref("user")),
        spec("friends__age", &[FRIEND_LINKS, TO_FRIEND], "age", Kind::Int),
        spec("friends__tags__label", &[FRIEND_LINKS, TO_FRIEND, TAG_LINKS, TO_TAG], "label", Kind::Text),
    ]
}

fn group_paths() -> Vec<PathSpec> {
    vec![
        spec("id", &[], "id", Kind::Ref("group")),
        spec("title", &[], "title", Kind::Text),
        spec("rank", &[], "rank", Kind::Int),
        spec("members", &[M_GROUP], "user_id", Kind::Ref("user")),
        spec("members__name", &[M_GROUP, TO_USER], "name", Kind::Text),
        spec("members__age", &[M_GROUP, TO_USER], "age", Kind::Int),
        spec("membership__year", &[M_GROUP], "year", Kind::Int),
        spec("members__city__name", &[M_GROUP, TO_USER, TO_CITY], "name", Kind::Text),
        spec("members__tags__label", &[M_GROUP, TO_USER, TAG_LINKS, TO_TAG], "label", Kind::Text),
    ]
}

/// Single-valued paths for ordering.
fn order_paths(root: &str) -> Vec<PathSpec> {
    if root == "user" {
        vec![
            spec("name", &[], "name", Kind::Text),
            spec("age", &[], "age", Kind::Int),
            spec("score", &[], "score", Kind::Float),
            spec("flag", &[], "flag", Kind::Bool),
            spec("blob", &[], "blob", Kind::Bytes),
            spec("city__name", &[TO_CITY], "name", Kind::Text),
        ]
    } else {
        vec![spec("title", &[], "title", Kind::Text), spec("rank", &[], "rank", Kind::Int)]
    }
}

// ------------------------------------------------------------ generator

#[derive(Clone, Debug)]
enum NLookup {
    Exact(Value),
    IsNull(bool),
    IExact(String),
    Contains(Value, bool),
    Starts(Value, bool),
    Ends(Value, bool),
    Cmp(Ordering, bool, Value),
    In(Vec<Value>),
    Range(Value, Value),
}

#[derive(Clone, Debug)]
enum NCond {
    Leaf(usize, NLookup),
    And(Vec<NCond>),
    Or(Vec<NCond>),
    Not(Box<NCond>),
}

fn random_value(rng: &mut Rng, kind: Kind, m: &Model) -> Value {
    match kind {
        Kind::Text => Value::from(rng.pick(&TEXTS)),
        Kind::Int => Value::Int(if rng.chance(30) { 2018 + rng.below(6) as i64 } else { rng.below(5) as i64 }),
        Kind::Float => Value::Float(rng.pick(&FLOATS)),
        Kind::Bool => Value::Bool(rng.chance(50)),
        Kind::Bytes => Value::Bytes(rng.pick(&BYTES).to_vec()),
        Kind::Ref(t) => {
            let rows = m.rows(t);
            if rows.is_empty() || rng.chance(10) {
                Value::Int(999)
            } else {
                Value::Int(rows[rng.below(rows.len())].id)
            }
        }
    }
}

/// A random lookup for a column of `kind`, as the engine's `(suffix, Arg)`
/// and the model's lookup.
/// A lookup on a path of `kind`: its suffix, its value, the model's
/// lookup, and a decoy value drawn from `decoys` that the same lookup
/// takes (for a query built with it and then rebound to the value).
fn random_lookup(
    rng: &mut Rng,
    decoys: &mut Rng,
    kind: Kind,
    m: &Model,
    table_of_ref: &dyn Fn(&str) -> Key,
) -> (String, Arg, NLookup, Arg) {
    let v = random_value(rng, kind, m);
    let arg_of = |v: &Value| -> Arg {
        match (kind, v) {
            (Kind::Ref(t), Value::Int(id)) if id % 2 == 0 => Arg::Key(Key::new(table_of_ref(t).table(), *id)),
            _ => Arg::Value(v.clone()),
        }
    };
    let text_like = matches!(kind, Kind::Text | Kind::Bytes);
    let mut options = vec!["exact", "isnull", "in", "gt", "gte", "lt", "lte", "range", "null"];
    if text_like {
        options.extend(["contains", "startswith", "endswith"]);
    }
    if kind == Kind::Text {
        options.extend(["iexact", "icontains", "istartswith", "iendswith"]);
    }
    let op = rng.pick(&options);
    let decoy = match op {
        "isnull" => Arg::from(decoys.chance(50)),
        "in" | "range" => {
            let n = if op == "range" { 2 } else { decoys.below(4) };
            Arg::List((0..n).map(|_| arg_of(&random_value(decoys, kind, m))).collect())
        }
        // `exact` with NULL (isnull) and with a value take each other's.
        "exact" | "null" if decoys.chance(30) => Arg::Value(Value::Null),
        _ => arg_of(&random_value(decoys, kind, m)),
    };
    let fold = |v: &Value| Value::from(v.as_text().map(str::to_lowercase).unwrap_or_default());
    let (suffix, arg, look) = match op {
        "exact" => (String::new(), arg_of(&v), NLookup::Exact(v)),
        "null" => (String::new(), Arg::Value(Value::Null), NLookup::IsNull(true)),
        "isnull" => {
            let b = rng.chance(50);
            ("__isnull".into(), Arg::from(b), NLookup::IsNull(b))
        }
        "in" => {
            let vs: Vec<Value> = (0..rng.below(4)).map(|_| random_value(rng, kind, m)).collect();
            ("__in".into(), Arg::List(vs.iter().map(arg_of).collect()), NLookup::In(vs))
        }
        "range" => {
            let w = random_value(rng, kind, m);
            ("__range".into(), Arg::List(vec![arg_of(&v), arg_of(&w)]), NLookup::Range(v, w))
        }
        "gt" | "gte" | "lt" | "lte" => {
            let ord = if op.starts_with('g') { Ordering::Greater } else { Ordering::Less };
            (format!("__{op}"), arg_of(&v), NLookup::Cmp(ord, op.ends_with('e'), v))
        }
        "iexact" => ("__iexact".into(), arg_of(&v), NLookup::IExact(v.as_text().unwrap().to_lowercase())),
        "contains" => ("__contains".into(), arg_of(&v), NLookup::Contains(v, false)),
        "startswith" => ("__startswith".into(), arg_of(&v), NLookup::Starts(v, false)),
        "endswith" => ("__endswith".into(), arg_of(&v), NLookup::Ends(v, false)),
        "icontains" => ("__icontains".into(), arg_of(&v), NLookup::Contains(fold(&v), true)),
        "istartswith" => ("__istartswith".into(), arg_of(&v), NLookup::Starts(fold(&v), true)),
        "iendswith" => ("__iendswith".into(), arg_of(&v), NLookup::Ends(fold(&v), true)),
        _ => unreachable!(),
    };
    (suffix, arg, look, decoy)
}

/// A random condition: the `Q`, the model's condition, the same `Q` with
/// decoy values, and the true values of its leaves in the order written
/// (the numbering of `Query::rebind`).
struct RandomCond {
    q: Q,
    model: NCond,
    decoy: Q,
    values: Vec<Arg>,
}

fn random_cond(
    rng: &mut Rng,
    decoys: &mut Rng,
    paths: &[PathSpec],
    m: &Model,
    depth: usize,
    refs: &dyn Fn(&str) -> Key,
) -> RandomCond {
    let roll = rng.below(10);
    if depth == 0 || roll < 5 {
        let p = rng.below(paths.len());
        let (suffix, arg, look, decoy) = random_lookup(rng, decoys, paths[p].kind, m, refs);
        let path = format!("{}{suffix}", paths[p].path);
        return RandomCond {
            q: Q::new(path.clone(), arg.clone()),
            model: NCond::Leaf(p, look),
            decoy: Q::new(path, decoy),
            values: vec![arg],
        };
    }
    if roll == 9 {
        let c = random_cond(rng, decoys, paths, m, depth - 1, refs);
        // `!` of a negation is the negated condition (Django's `~~q`).
        let model = match c.model {
            NCond::Not(negated) => *negated,
            model => NCond::Not(Box::new(model)),
        };
        return RandomCond { q: !c.q, model, decoy: !c.decoy, values: c.values };
    }
    let k = 1 + rng.below(3);
    let parts: Vec<RandomCond> = (0..k).map(|_| random_cond(rng, decoys, paths, m, depth - 1, refs)).collect();
    combine(parts, roll < 7, rng.below(3))
}

/// `parts` joined by AND (`all`) or OR: by `Q::all` or `Q::any`
/// (`grouping` 0), or by the operator folded from the left (1) or from
/// the right (2), which squashes a part of the same operator into the
/// result and must keep its meaning and its leaves' order.
fn combine(parts: Vec<RandomCond>, all: bool, grouping: usize) -> RandomCond {
    let (mut qs, mut models, mut decoys, mut values) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in parts {
        qs.push(p.q);
        models.push(p.model);
        decoys.push(p.decoy);
        values.extend(p.values);
    }
    let op = |a: Q, b: Q| if all { a & b } else { a | b };
    let join = |qs: Vec<Q>| match grouping {
        0 if all => Q::all(qs),
        0 => Q::any(qs),
        1 => qs.into_iter().reduce(op).expect("one part or more"),
        _ => qs.into_iter().rev().reduce(|right, left| op(left, right)).expect("one part or more"),
    };
    let model = if all { NCond::And(models) } else { NCond::Or(models) };
    RandomCond { q: join(qs), model, decoy: join(decoys), values }
}

// ------------------------------------------------------------ evaluator

/// What `Query::aggregate` must answer for `values`, the aggregated
/// column's value of each of the model's result rows (sums here are
/// small).
fn aggregate_model(how: Aggregate, values: &[Value]) -> Value {
    let present: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
    let n = present.len();
    let floats = || present.iter().map(|v| v.as_float().unwrap_or_else(|| v.as_int().unwrap() as f64));
    let is_int = present.first().is_some_and(|v| v.as_int().is_some());
    match how {
        Aggregate::Count => Value::Int(n as i64),
        Aggregate::CountDistinct => {
            // `-0.0` and `0.0` are one value (the data has no NaN).
            let key = |v: &&Value| match v {
                Value::Float(f) if *f == 0.0 => "0.0".to_owned(),
                v => format!("{v:?}"),
            };
            let mut keys: Vec<String> = present.iter().map(key).collect();
            keys.sort();
            keys.dedup();
            Value::Int(keys.len() as i64)
        }
        _ if n == 0 => Value::Null,
        Aggregate::Sum if is_int => Value::Int(present.iter().map(|v| v.as_int().unwrap()).sum()),
        Aggregate::Sum => Value::Float(floats().sum()),
        Aggregate::Avg => Value::Float(floats().sum::<f64>() / n as f64),
        Aggregate::Min => present.into_iter().min_by(|a, b| cmp_model(a, b)).unwrap().clone(),
        Aggregate::Max => present.into_iter().max_by(|a, b| cmp_model(a, b)).unwrap().clone(),
        other => panic!("no model of {other:?}"),
    }
}

/// Equal, floats within rounding: the engine adds in access order, the
/// model in result order.
fn same_aggregate(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Float(a), Value::Float(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        _ => got == want,
    }
}

fn cmp_model(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap(),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Text(x), Value::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
        _ => panic!("compared {a:?} with {b:?}"),
    }
}

fn test_model(look: &NLookup, v: &Value) -> bool {
    if let NLookup::IsNull(b) = look {
        return v.is_null() == *b;
    }
    if v.is_null() {
        return false;
    }
    let lower = || v.as_text().map(str::to_lowercase).unwrap_or_default();
    let text = |needle: &Value, ci: bool, f: &dyn Fn(&[u8], &[u8]) -> bool| -> bool {
        match (v, needle) {
            (Value::Text(_), Value::Text(n)) if ci => f(lower().as_bytes(), n.as_bytes()),
            (Value::Text(s), Value::Text(n)) => f(s.as_bytes(), n.as_bytes()),
            (Value::Bytes(s), Value::Bytes(n)) => f(s, n),
            _ => false,
        }
    };
    match look {
        NLookup::Exact(x) => cmp_model(v, x) == Ordering::Equal,
        NLookup::IExact(x) => lower() == *x,
        NLookup::Contains(n, ci) => text(n, *ci, &|h, n| n.is_empty() || h.windows(n.len()).any(|w| w == n)),
        NLookup::Starts(n, ci) => text(n, *ci, &|h, n| h.starts_with(n)),
        NLookup::Ends(n, ci) => text(n, *ci, &|h, n| h.ends_with(n)),
        NLookup::Cmp(ord, eq, x) => {
            let c = cmp_model(v, x);
            c == *ord || (*eq && c == Ordering::Equal)
        }
        NLookup::In(xs) => xs.iter().any(|x| cmp_model(v, x) == Ordering::Equal),
        NLookup::Range(lo, hi) => cmp_model(v, lo) != Ordering::Less && cmp_model(v, hi) != Ordering::Greater,
        NLookup::IsNull(_) => unreachable!(),
    }
}

struct Naive<'m> {
    m: &'m Model,
    paths: &'m [PathSpec],
    /// For related-manager queries: the hop from a result row back over
    /// the manager's link rows, and the link row of the current item. A
    /// node whose prefix is exactly that hop is bound to the link row.
    pin: Option<NHop>,
    link: Option<&'m MRow>,
}

/// A node: the path prefix (up to and including a multi-valued hop).
type Prefix = Vec<NHop>;

impl<'m> Naive<'m> {
    fn positive_leaves(c: &NCond, out: &mut Vec<usize>) {
        match c {
            NCond::Leaf(p, _) => out.push(*p),
            NCond::And(v) | NCond::Or(v) => v.iter().for_each(|c| Self::positive_leaves(c, out)),
            NCond::Not(_) => {}
        }
    }

    /// The longest multi-valued prefix of a path.
    fn node_of(hops: &[NHop]) -> Prefix {
        let end = hops.iter().rposition(|h| h.multi()).map_or(0, |i| i + 1);
        hops[..end].to_vec()
    }

    /// Number of satisfying bindings of `cond`'s scope for `root`.
    fn count(&self, cond: &NCond, root: &'m MRow) -> u64 {
        let mut leaves = Vec::new();
        Self::positive_leaves(cond, &mut leaves);
        let mut nodes: Vec<Prefix> = Vec::new();
        for &p in &leaves {
            let hops = &self.paths[p].hops;
            for (i, h) in hops.iter().enumerate() {
                if h.multi() && !nodes.contains(&hops[..=i].to_vec()) {
                    nodes.push(hops[..=i].to_vec());
                }
            }
        }
        nodes.sort_by_key(Vec::len);
        let mut bound: Vec<(Prefix, Option<&'m MRow>)> = vec![(Vec::new(), Some(root))];
        self.enumerate(cond, &nodes, 0, &mut bound)
    }

    fn enumerate(&self, cond: &NCond, nodes: &[Prefix], i: usize, bound: &mut Vec<(Prefix, Option<&'m MRow>)>) -> u64 {
        if i == nodes.len() {
            return u64::from(self.eval(cond, bound));
        }
        let node = &nodes[i];
        // The parent: the longest bound prefix of this node.
        let (plen, parent) = bound
            .iter()
            .filter(|(p, _)| p.len() < node.len() && node.starts_with(p))
            .max_by_key(|(p, _)| p.len())
            .map(|(p, r)| (p.len(), *r))
            .unwrap();
        let pinned = plen == 0 && self.pin.is_some_and(|p| node.as_slice() == [p]);
        let mut rows: Vec<Option<&MRow>> = match parent {
            _ if pinned => vec![self.link],
            None => vec![],
            Some(r) => {
                let mut at = vec![r];
                for h in &node[plen..] {
                    at = at.into_iter().flat_map(|r| h.walk(self.m, r)).collect();
                }
                at.into_iter().map(Some).collect()
            }
        };
        if rows.is_empty() {
            rows.push(None);
        }
        let mut total = 0;
        for r in rows {
            bound.push((node.clone(), r));
            total += self.enumerate(cond, nodes, i + 1, bound);
            bound.pop();
        }
        total
    }

    fn eval(&self, cond: &NCond, bound: &[(Prefix, Option<&'m MRow>)]) -> bool {
        match cond {
            NCond::Leaf(p, look) => {
                let spec = &self.paths[*p];
                let node = Self::node_of(&spec.hops);
                let mut row = bound.iter().find(|(pre, _)| *pre == node).unwrap().1;
                for h in &spec.hops[node.len()..] {
                    row = row.and_then(|r| h.walk(self.m, r).first().copied());
                }
                let v = row.map_or(Value::Null, |r| r.cells[spec.column].clone());
                test_model(look, &v)
            }
            NCond::And(v) => v.iter().all(|c| self.eval(c, bound)),
            NCond::Or(v) => v.iter().any(|c| self.eval(c, bound)),
            NCond::Not(inner) => self.count(inner, bound[0].1.unwrap()) == 0,
        }
    }
}

// ----------------------------------------------------------------- test

#[derive(Debug)]
struct Stats {
    queries: usize,
    nonempty: usize,
    ordered: usize,
    /// Queries whose plan starts from an index probe (walks included).
    probed: usize,
    walked: usize,
    related: usize,
    related_checked: usize,
    /// Queries whose access path establishes a condition of a filter call
    /// with other conditions, checked on the walk's binding.
    seeded: usize,
}

fn run_seed(seed: u64, queries: usize, stats: &mut Stats) {
    let mut rng = Rng(seed);
    let mut decoys = Rng(!seed);
    let db = load(&mut rng);
    let tx = db.begin_read().unwrap();
    tx.verify().unwrap();
    let m = Model::read(&tx);
    let schema = tx.schema();
    let refs = |t: &str| Key::new(schema.table(t).unwrap(), 0);
    let user_specs = user_paths();
    let group_specs = group_paths();
    for _ in 0..queries {
        let root = if rng.chance(75) { "user" } else { "group" };
        let paths: &[PathSpec] = if root == "user" { &user_specs } else { &group_specs };
        // One query in five runs on a related manager: a user's groups, or
        // a group's members; each result is a (row, link row) item.
        let related = rng.chance(20);
        let (other, accessor, pin, near, far) = if root == "group" {
            ("user", "groups", M_GROUP, "user_id", "group_id")
        } else {
            ("group", "members", M_USER, "group_id", "user_id")
        };
        let mut naive = Naive { m: &m, paths, pin: related.then_some(pin), link: None };
        let mut items: Vec<(&MRow, Option<&MRow>)> = m.rows(root).iter().map(|r| (r, None)).collect();
        let mut q = tx.query(root).unwrap();
        // The same query built with decoy values, then rebound.
        let mut rebound = tx.query(root).unwrap();
        let mut values = Vec::new();
        let mut text = String::new();
        if related && !m.rows(other).is_empty() {
            let owner = m.rows(other)[rng.below(m.rows(other).len())].id;
            let key = Key::new(schema.table(other).unwrap(), owner);
            q = tx.related(key, accessor).unwrap().query();
            rebound = q.clone();
            text = format!("related {other} {owner}.{accessor}: ");
            items = m
                .rows("membership")
                .iter()
                .filter(|l| l.cells[near] == Value::Int(owner))
                .filter_map(|l| Some((m.by_id(root, &l.cells[far])?, Some(l))))
                .collect();
        } else {
            naive.pin = None;
        }
        let mut filters: Vec<(NCond, bool)> = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let exclude = rng.chance(25);
            let c = if rng.chance(40) {
                // Several leaves in one call.
                let k = 2 + rng.below(2);
                let parts = (0..k).map(|_| random_cond(&mut rng, &mut decoys, paths, &m, 0, &refs)).collect();
                combine(parts, true, 0)
            } else {
                random_cond(&mut rng, &mut decoys, paths, &m, 2, &refs)
            };
            text.push_str(&format!("{} {}; ", if exclude { "exclude" } else { "filter" }, c.q));
            q = if exclude { q.exclude_q(c.q) } else { q.filter_q(c.q) }.unwrap_or_else(|e| panic!("{text}: {e}"));
            let decoy = c.decoy.to_string();
            rebound = if exclude { rebound.exclude_q(c.decoy) } else { rebound.filter_q(c.decoy) }
                .unwrap_or_else(|e| panic!("decoy {decoy}: {e}"));
            values.extend(c.values);
            filters.push((c.model, exclude));
        }
        for (i, value) in values.into_iter().enumerate() {
            rebound.rebind(i, value).unwrap_or_else(|e| panic!("{text}: rebind {i}: {e}"));
        }
        let distinct = rng.chance(25);
        if distinct {
            q = q.distinct();
            rebound = rebound.distinct();
        }
        let order_specs = order_paths(root);
        let mut order: Vec<(usize, bool)> = Vec::new();
        if rng.chance(50) {
            for _ in 0..1 + rng.below(2) {
                order.push((rng.below(order_specs.len()), rng.chance(50)));
            }
            let keys: Vec<String> =
                order.iter().map(|&(i, d)| format!("{}{}", if d { "-" } else { "" }, order_specs[i].path)).collect();
            q = q.order_by(&keys).unwrap();
            rebound = rebound.order_by(&keys).unwrap();
        }
        let paging = !order.is_empty() && rng.chance(40);
        let (offset, limit) = (rng.below(4), rng.below(6));
        if paging {
            q = q.offset(offset).limit(limit);
            rebound = rebound.offset(offset).limit(limit);
        }

        // The model's answer.
        let mut expected: Vec<&MRow> = Vec::new();
        for (r, link) in items {
            naive.link = link;
            let mut mult = 1u64;
            for (nc, exclude) in &filters {
                let c = naive.count(nc, r);
                mult *= if *exclude { u64::from(c == 0) } else { c };
            }
            if distinct && expected.iter().any(|e| e.id == r.id) {
                mult = 0;
            }
            let mult = if distinct { mult.min(1) } else { mult };
            expected.extend(std::iter::repeat_n(r, mult as usize));
        }
        let ord_value = |r: &MRow, i: usize| order_specs[i].read(&m, r);
        let ctx = || {
            format!("seed {seed}, {root}: {text}order {order:?}, paging {paging} ({offset}, {limit})\n{}", q.explain())
        };
        let got = q.ids();
        assert_eq!(q.count(), got.len(), "{}", ctx());
        assert_eq!(rebound.explain(), q.explain(), "rebound\n{}", ctx());
        assert_eq!(rebound.ids(), got, "rebound\n{}", ctx());
        // One column, flat: what `values_list` gives in its one-cell rows,
        // for each column type, NULLs, and a path across a foreign key.
        let columns: &[&str] = if root == "user" {
            &["name", "age", "score", "flag", "blob", "city", "city__name", "id"]
        } else {
            &["title", "rank", "id"]
        };
        let column = rng.pick(columns);
        let flat = q.values_list_flat(column).unwrap();
        let mut each = Vec::new();
        q.for_each_value(column, |v| each.push(v.to_owned())).unwrap();
        assert_eq!(each, flat, "{column}\n{}", ctx());
        let lists: Vec<Value> = q.values_list(&[column]).unwrap().into_iter().flatten().collect();
        if distinct {
            // `SELECT DISTINCT` over the column and the ordering keys: at
            // most a value per row, and unpaged, every value of the rows.
            // (tests/fuzzing/query.rs checks which row each value is from.)
            assert!(flat.len() <= got.len(), "{}", ctx());
            if !paging {
                let key = |v: &Value| format!("{v:?}");
                let mut of_rows: Vec<String> = tx
                    .query(root)
                    .unwrap()
                    .filter("id__in", got.clone())
                    .unwrap()
                    .values_list_flat(column)
                    .unwrap()
                    .iter()
                    .map(key)
                    .collect();
                let mut given: Vec<String> = flat.iter().map(key).collect();
                of_rows.sort();
                of_rows.dedup();
                given.sort();
                if order.is_empty() {
                    assert!(given.windows(2).all(|w| w[0] != w[1]), "a value twice\n{}", ctx());
                }
                given.dedup();
                assert_eq!(given, of_rows, "{column}\n{}", ctx());
            }
        } else {
            assert_eq!(flat.len(), got.len(), "{}", ctx());
        }
        assert_eq!(flat, lists, "{column}\n{}", ctx());
        assert_eq!(q.exists(), !got.is_empty(), "{}", ctx());
        // `get` is the one result of `ids`, or how many there are.
        match (q.get(), got.as_slice()) {
            (Ok(None), []) => {}
            (Ok(Some(row)), [id]) => assert_eq!(row.id(), *id, "{}", ctx()),
            (Err(Error::MultipleFound { count, .. }), ids) => assert_eq!(count, ids.len(), "{}", ctx()),
            (answer, ids) => panic!("get gave {answer:?} for {ids:?}\n{}", ctx()),
        }
        if order.is_empty() {
            let mut want: Vec<i64> = expected.iter().map(|r| r.id).collect();
            want.sort_unstable();
            let mut got = got;
            got.sort_unstable();
            assert_eq!(got, want, "{}", ctx());
        } else {
            expected.sort_by(|a, b| {
                for &(i, desc) in &order {
                    let c = cmp_model(&ord_value(a, i), &ord_value(b, i));
                    let c = if desc { c.reverse() } else { c };
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.id.cmp(&b.id)
            });
            let mut want: Vec<i64> = expected.iter().map(|r| r.id).collect();
            if paging {
                want = want.into_iter().skip(offset).take(limit).collect();
            }
            assert_eq!(got, want, "{}", ctx());
            stats.ordered += 1;
        }
        // Every aggregate of one column path (each in turn, a foreign key
        // and `id` among them), against a fold of the model's result rows:
        // paged by the model's ordering (paging comes only with one here;
        // tests/queries.rs pages without), each row as often as it is a
        // result, once with `distinct`.
        let mut agg_specs = order_paths(root);
        if root == "user" {
            agg_specs.push(spec("city", &[], "city_id", Kind::Ref("city")));
        }
        agg_specs.push(spec("id", &[], "id", Kind::Ref(root)));
        let agg_spec = &agg_specs[stats.queries % agg_specs.len()];
        let model_rows: Vec<&MRow> =
            if paging { expected.iter().skip(offset).take(limit).copied().collect() } else { expected.clone() };
        let agg_values: Vec<Value> = model_rows.iter().map(|&r| agg_spec.read(&m, r)).collect();
        let agg_path = agg_spec.path;
        let numeric = matches!(agg_spec.kind, Kind::Int | Kind::Float | Kind::Ref(_));
        for how in
            [Aggregate::Count, Aggregate::CountDistinct, Aggregate::Sum, Aggregate::Avg, Aggregate::Min, Aggregate::Max]
        {
            let answer = q.aggregate(agg_path, how);
            if !numeric && matches!(how, Aggregate::Sum | Aggregate::Avg) {
                assert!(matches!(answer, Err(Error::Query { .. })), "{how:?} of {agg_path}: {answer:?}\n{}", ctx());
                continue;
            }
            let want = aggregate_model(how, &agg_values);
            assert!(same_aggregate(&answer.unwrap(), &want), "{how:?} of {agg_path}: want {want:?}\n{}", ctx());
        }
        // All four that apply to every type, in one run of the query.
        let four =
            [Aggregate::Count, Aggregate::CountDistinct, Aggregate::Min, Aggregate::Max].map(|how| (agg_path, how));
        let together = q.aggregates(&four).unwrap();
        for (&(_, how), got) in four.iter().zip(&together) {
            let want = aggregate_model(how, &agg_values);
            assert!(same_aggregate(got, &want), "{how:?} of {agg_path} in aggregates: want {want:?}\n{}", ctx());
        }
        if !expected.is_empty() {
            stats.nonempty += 1;
        }
        let plan = q.explain();
        stats.probed += usize::from(plan.starts_with("probe"));
        stats.walked += usize::from(plan.starts_with("probe") && plan.lines().next().unwrap().contains(", walk"));
        stats.related += usize::from(plan.contains("related"));
        stats.related_checked += usize::from(plan.contains("keep rows linked"));
        stats.seeded += usize::from(plan.contains("the rest checked per row"));
        stats.queries += 1;
    }
}

#[test]
fn engine_matches_naive_evaluator() {
    let mut stats =
        Stats { queries: 0, nonempty: 0, ordered: 0, probed: 0, walked: 0, related: 0, related_checked: 0, seeded: 0 };
    // `QUERY_DIFF_SEEDS=400` runs more seeds (locally, while changing the
    // query layer); CI runs the default 40.
    let seeds: u64 = std::env::var("QUERY_DIFF_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(40);
    for seed in 0..seeds {
        run_seed(0x5EED_0000 + seed, 100, &mut stats);
    }
    assert_eq!(stats.queries, seeds as usize * 100);
    // The generator must produce interesting queries, not only empty ones.
    assert!(stats.nonempty > stats.queries / 4, "{stats:?}");
    assert!(stats.ordered > stats.queries / 3, "{stats:?}");
    // ...and the planner's index paths, not only scans.
    assert!(stats.probed > stats.queries / 10, "{stats:?}");
    assert!(stats.walked > stats.queries / 20, "{stats:?}");
    assert!(stats.related > stats.queries / 10, "{stats:?}");
    assert!(stats.related_checked > stats.queries / 200, "{stats:?}");
    assert!(stats.seeded > stats.queries / 100, "{stats:?}");
    println!("{stats:?}");
}
