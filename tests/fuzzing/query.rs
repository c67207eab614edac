//! The `query` target: arbitrary paths (built from the schema's names, a
//! few bad ones and lookups, or raw text), values, keys and lists, `Q`
//! trees, ordering, paging and terminals, against the fixed schema of
//! `tests/model/spec.rs` holding a small, fixed data set (dangling links of
//! the `db_constraint(false)` relation `tags` included).
//!
//! Oracles: no panic; every error is a structured `Error` with a readable
//! message (a reason for path errors); and the terminals agree with
//! each other: `count` is the number of `ids`, `exists` says whether there
//! are any, `keys`/`rows` give the same ids, `distinct` removes exactly the
//! repeats, paging slices the full result, and `exclude_q(q)` keeps exactly
//! the rows `filter_q(q)` drops (in a related manager's query whose link
//! rows repeat a row, the two together cover the rows).

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use junctiondb::{row, Aggregate, Arg, Database, Error, Key, Query, Value, View, Q};

#[path = "../model/spec.rs"]
mod spec;

/// The fixed database, built once per process.
fn db() -> &'static Database {
    static DB: OnceLock<Database> = OnceLock::new();
    DB.get_or_init(|| {
        let db = Database::new(spec::schema());
        db.write(|tx| {
            let u: Vec<Key> = [("a", Some(10)), ("b", Some(20)), ("c", None), ("d", Some(40))]
                .into_iter()
                .map(|(n, age)| tx.insert("user", row! { "name" => n, "age" => age }))
                .collect::<Result<_, _>>()?;
            let g: Vec<Key> = [("rock", Some(1.5)), ("jazz", Some(f64::NAN)), ("pop", None)]
                .into_iter()
                .map(|(n, s)| tx.insert("group", row! { "name" => n, "score" => s }))
                .collect::<Result<_, _>>()?;
            let c1 = tx.insert("club", row! { "title" => "chess" })?;
            let c2 = tx.insert("club", row! { "title" => "go", "open" => false })?;
            tx.insert("membership", row! { "user" => u[0], "club" => c1, "role" => "lead" })?;
            tx.insert("membership", row! { "user" => u[0], "club" => c1, "role" => "again", "since" => 2024 })?;
            tx.insert("membership", row! { "user" => u[1], "club" => c2, "role" => "" })?;
            tx.related(u[0], "groups")?.add([g[0], g[1]])?;
            tx.related(u[1], "groups")?.add([g[0]])?;
            tx.related(u[0], "friends")?.add([u[1], u[0]])?;
            tx.related(u[2], "friends")?.add([u[2]])?;
            tx.related(u[0], "follows")?.add([u[1]])?;
            tx.related(u[1], "follows")?.add([u[0]])?;
            tx.related(u[2], "follows")?.add([u[0]])?;
            // `tags` stores links to missing groups (`db_constraint(false)`).
            tx.related(u[0], "tags")?.add([g[2]])?;
            tx.related(u[1], "tags")?.add([junctiondb::Target::Id(99)])?;
            tx.related(u[3], "tags")?.add([junctiondb::Target::Id(g[1].id()), junctiondb::Target::Id(98)])?;
            let p1 = tx.insert("post", row! { "title" => "hello", "author" => u[0], "group" => g[0], "club" => c1 })?;
            let p2 = tx.insert(
                "post",
                row! { "title" => "Hi", "author" => u[1], "editor" => u[0], "club" => Value::Null, "body" => b"\x00\x01".as_slice() },
            )?;
            tx.insert("comment", row! { "post" => p1, "user" => u[1], "text" => "nice" })?;
            tx.insert("comment", row! { "post" => p2, "user" => u[0], "flagged_by" => 99, "moderator" => g[2] })?;
            Ok::<_, Error>(())
        })
        .expect("the query fixture");
        db
    })
}

/// Path steps: the schema's names (columns, foreign keys, forward fields,
/// reverse query names), lookups, and bad ones.
const STEPS: &[&str] = &[
    "id",
    "pk",
    "name",
    "age",
    "score",
    "title",
    "open",
    "role",
    "since",
    "body",
    "text",
    "user",
    "user_id",
    "club",
    "club_id",
    "author",
    "author_id",
    "editor",
    "group",
    "group_id",
    "post",
    "post_id",
    "flagged_by",
    "moderator",
    "groups",
    "clubs",
    "friends",
    "follows",
    "followers",
    "tags",
    "tagged",
    "members",
    "membership",
    "posts",
    "edited",
    "comments",
    "comment",
    "moderated",
    "user_set",
    "post_set",
    "membership_set",
    "comment_set",
    "exact",
    "iexact",
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "range",
    "isnull",
    "regex",
    "",
    "_",
    "__",
    "x",
    "ID",
    "name ",
    "ü",
    "-name",
    "+",
];

const TABLES: &[&str] = &[
    "user",
    "group",
    "club",
    "membership",
    "post",
    "comment",
    "user_groups",
    "user_friends",
    "user_follows",
    "user_tags",
    "nope",
    "",
];

#[derive(Arbitrary, Clone, Debug)]
pub enum PathDecl {
    Steps(Vec<u8>),
    Raw(String),
}

impl PathDecl {
    fn get(&self) -> String {
        match self {
            PathDecl::Steps(s) => {
                s.iter().take(5).map(|&i| STEPS[i as usize % STEPS.len()]).collect::<Vec<_>>().join("__")
            }
            PathDecl::Raw(s) => s.chars().take(40).collect(),
        }
    }
}

#[derive(Clone, Debug)]
pub enum ArgDecl {
    Value(u8),
    Key(u8, i8),
    List(Vec<ArgDecl>),
}

fn arg_decl(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<ArgDecl> {
    Ok(match u.int_in_range(0..=9u8)? {
        0..=6 => ArgDecl::Value(u.arbitrary()?),
        7 | 8 => ArgDecl::Key(u.arbitrary()?, u.arbitrary()?),
        _ if depth > 1 => ArgDecl::Value(u.arbitrary()?),
        _ => {
            let n = u.int_in_range(0..=3u8)?;
            ArgDecl::List((0..n).map(|_| arg_decl(u, depth + 1)).collect::<arbitrary::Result<_>>()?)
        }
    })
}

const VALUES: &[fn() -> Value] = &[
    || Value::Null,
    || Value::Int(1),
    || Value::Int(2),
    || Value::Int(20),
    || Value::Int(-1),
    || Value::Int(i64::MAX),
    || Value::Int(i64::MIN),
    || Value::from("a"),
    || Value::from("rock"),
    || Value::from("RO"),
    || Value::from("h"),
    || Value::from(""),
    || Value::from("%"),
    || Value::from("ü"),
    || Value::Float(1.5),
    || Value::Float(f64::NAN),
    || Value::Float(-0.0),
    || Value::Float(f64::INFINITY),
    || Value::Bool(true),
    || Value::Bool(false),
    || Value::Bytes(vec![0, 1]),
    || Value::Bytes(vec![]),
];

impl ArgDecl {
    fn get(&self, view: &View) -> Arg {
        match self {
            ArgDecl::Value(i) => Arg::Value(VALUES[*i as usize % VALUES.len()]()),
            ArgDecl::Key(t, id) => {
                let names: Vec<&str> = view.schema().table_names().collect();
                let t = view.schema().table(names[*t as usize % names.len()]).expect("table");
                Arg::Key(Key::new(t, i64::from(*id)))
            }
            ArgDecl::List(items) => Arg::List(items.iter().map(|a| a.get(view)).collect()),
        }
    }
}

#[derive(Clone, Debug)]
pub enum QDecl {
    Leaf(PathDecl, ArgDecl),
    All(Vec<QDecl>),
    Any(Vec<QDecl>),
    Not(Box<QDecl>),
}

fn q_decl(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<QDecl> {
    let leaf = |u: &mut Unstructured<'_>| Ok(QDecl::Leaf(u.arbitrary()?, arg_decl(u, 0)?));
    if depth >= 3 {
        return leaf(u);
    }
    Ok(match u.int_in_range(0..=5u8)? {
        0..=2 => leaf(u)?,
        3 => QDecl::All((0..u.int_in_range(0..=3u8)?).map(|_| q_decl(u, depth + 1)).collect::<arbitrary::Result<_>>()?),
        4 => QDecl::Any((0..u.int_in_range(0..=3u8)?).map(|_| q_decl(u, depth + 1)).collect::<arbitrary::Result<_>>()?),
        _ => QDecl::Not(Box::new(q_decl(u, depth + 1)?)),
    })
}

impl QDecl {
    /// The leaves' values in the order written: `Query::rebind`'s
    /// numbering.
    fn args<'a>(&'a self, out: &mut Vec<&'a ArgDecl>) {
        match self {
            QDecl::Leaf(_, a) => out.push(a),
            QDecl::All(qs) | QDecl::Any(qs) => qs.iter().for_each(|q| q.args(out)),
            QDecl::Not(q) => q.args(out),
        }
    }

    fn get(&self, view: &View) -> Q {
        match self {
            QDecl::Leaf(p, a) => Q::new(p.get(), a.get(view)),
            QDecl::All(qs) => Q::all(qs.iter().map(|q| q.get(view))),
            QDecl::Any(qs) => Q::any(qs.iter().map(|q| q.get(view))),
            QDecl::Not(q) => !q.get(view),
        }
    }
}

/// One refinement of a query.
#[derive(Clone, Debug)]
pub enum Step {
    Filter(PathDecl, ArgDecl),
    FilterAll(Vec<(PathDecl, ArgDecl)>),
    Exclude(PathDecl, ArgDecl),
    FilterQ(QDecl),
    ExcludeQ(QDecl),
    OrderBy(Vec<PathDecl>),
}

fn step(u: &mut Unstructured<'_>) -> arbitrary::Result<Step> {
    Ok(match u.int_in_range(0..=5u8)? {
        0 => Step::Filter(u.arbitrary()?, arg_decl(u, 0)?),
        1 => Step::FilterAll(
            (0..u.int_in_range(0..=3u8)?)
                .map(|_| Ok((u.arbitrary()?, arg_decl(u, 0)?)))
                .collect::<arbitrary::Result<_>>()?,
        ),
        2 => Step::Exclude(u.arbitrary()?, arg_decl(u, 0)?),
        3 => Step::FilterQ(q_decl(u, 0)?),
        4 => Step::ExcludeQ(q_decl(u, 0)?),
        _ => Step::OrderBy((0..u.int_in_range(0..=2u8)?).map(|_| u.arbitrary()).collect::<arbitrary::Result<_>>()?),
    })
}

/// Where the query starts: a table, or a row's related manager.
#[derive(Clone, Debug)]
pub struct Case {
    table: u8,
    /// `Some((id, accessor))`: query the related manager of that row.
    related: Option<(u8, u8)>,
    steps: Vec<Step>,
    distinct: bool,
    offset: Option<u8>,
    limit: Option<u8>,
    values: Vec<PathDecl>,
    choices: Option<(u8, PathDecl)>,
    /// Conditions (by number, modulo one past the last) given another
    /// value, then their own again.
    rebinds: Vec<(u8, ArgDecl)>,
}

fn case(u: &mut Unstructured<'_>) -> arbitrary::Result<Case> {
    Ok(Case {
        table: u.arbitrary()?,
        related: u.arbitrary()?,
        steps: (0..u.int_in_range(0..=4u8)?).map(|_| step(u)).collect::<arbitrary::Result<_>>()?,
        distinct: u.arbitrary()?,
        offset: u.arbitrary()?,
        limit: u.arbitrary()?,
        values: (0..u.int_in_range(0..=2u8)?).map(|_| u.arbitrary()).collect::<arbitrary::Result<_>>()?,
        choices: u.arbitrary()?,
        rebinds: (0..u.int_in_range(0..=2u8)?)
            .map(|_| Ok((u.arbitrary()?, arg_decl(u, 0)?)))
            .collect::<arbitrary::Result<_>>()?,
    })
}

/// A query error must be a structured [`Error`] with a readable message
/// (its own sentence, not the `Debug` form); a path error says why.
#[track_caller]
fn clear(e: &Error) {
    let msg = e.to_string();
    assert!(msg.len() > 10 && msg != format!("{e:?}"), "an unclear error: {e:?} ({msg})");
    match e {
        Error::Query { reason, .. } | Error::Unsupported { reason, .. } => {
            assert!(!reason.is_empty(), "an error without a reason: {e:?}")
        }
        Error::Schema(_) | Error::Reentrant | Error::TableFull { .. } | Error::InvalidId { .. } => {
            panic!("a query gave an unexpected error: {e:?} ({msg})")
        }
        _ => {}
    }
}

fn ok<T>(r: Result<T, Error>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            clear(&e);
            None
        }
    }
}

/// Runs every terminal and checks that they agree.
fn check_terminals(q: &Query<'_>, values: &[String]) {
    let ids = q.ids();
    assert_eq!(q.count(), ids.len(), "count disagrees with ids");
    assert_eq!(q.exists(), !ids.is_empty(), "exists disagrees with ids");
    assert_eq!(q.keys().iter().map(|k| k.id()).collect::<Vec<_>>(), ids, "keys disagree with ids");
    assert_eq!(q.rows().iter().map(|r| r.id()).collect::<Vec<_>>(), ids, "rows disagree with ids");
    for v in values {
        if let Some(rows) = ok(q.values(&[v.as_str()])) {
            assert_eq!(rows.len(), ids.len(), "values({v:?}) gives {} rows for {} ids", rows.len(), ids.len());
        }
        let lists = ok(q.values_list(&[v.as_str()]));
        let flat = ok(q.values_list_flat(v.as_str()));
        let borrowed = ok(q.values_list_flat_ref(v.as_str()));
        let mut each = Vec::new();
        let streamed = ok(q.for_each_value(v.as_str(), |x| each.push(x.to_owned()))).map(|()| each);
        let counted = ok(q.aggregate(v.as_str(), Aggregate::Count));
        assert_eq!(counted.is_some(), flat.is_some(), "aggregate({v:?}) and values_list_flat disagree on the path");
        for how in [Aggregate::CountDistinct, Aggregate::Sum, Aggregate::Avg, Aggregate::Min, Aggregate::Max] {
            if let Err(e) = q.aggregate(v.as_str(), how) {
                clear(&e);
                assert!(matches!(e, Error::Query { .. } | Error::Overflow { .. }), "aggregate({v:?}, {how:?}): {e:?}");
            }
        }
        if let (Some(counted), Some(flat)) = (&counted, &flat) {
            // A value per result (no `distinct` collapsed any): `Count` is
            // their number of non-`NULL`s.
            if flat.len() == ids.len() {
                let present = flat.iter().filter(|x| !x.is_null()).count();
                assert_eq!(*counted, Value::Int(present as i64), "aggregate({v:?}, Count) against its values");
            }
        }
        assert_eq!(lists.is_some(), flat.is_some(), "values_list_flat({v:?}) and values_list disagree on the path");
        assert_eq!(streamed.is_some(), flat.is_some(), "for_each_value({v:?}) and values_list_flat disagree");
        assert_eq!(borrowed.is_some(), flat.is_some(), "values_list_flat_ref({v:?}) and values_list_flat disagree");
        if let (Some(lists), Some(flat), Some(borrowed), Some(streamed)) = (lists, flat, borrowed, streamed) {
            let lists: Vec<_> = lists.into_iter().flatten().collect();
            let nan = |v: &Value| v.as_ref().as_float().is_some_and(f64::is_nan);
            let same = |a: &Value, b: &Value| a == b || nan(a) && nan(b);
            assert!(
                lists.len() == flat.len() && lists.iter().zip(&flat).all(|(a, b)| same(a, b)),
                "values_list_flat({v:?}) differs from values_list"
            );
            assert!(
                borrowed.len() == flat.len() && borrowed.iter().zip(&flat).all(|(a, b)| same(&a.to_owned(), b)),
                "values_list_flat_ref({v:?}) differs from values_list_flat"
            );
            assert!(
                streamed.len() == flat.len() && streamed.iter().zip(&flat).all(|(a, b)| same(a, b)),
                "for_each_value({v:?}) differs from values_list_flat"
            );
        }
    }
    let _ = q.explain();
}

/// Gives condition `i` of `q` another value: refused, it changes nothing;
/// accepted, its own value then restores the same plan and results.
fn check_rebinds(view: &View, q: &Query<'_>, args: &[&ArgDecl], rebinds: &[(u8, ArgDecl)]) {
    for (i, decoy) in rebinds {
        let i = usize::from(*i) % (args.len() + 1);
        let mut r = q.clone();
        match r.rebind(i, decoy.get(view)) {
            Ok(()) => {
                let own = args.get(i).expect("an accepted rebind names a condition");
                r.rebind(i, own.get(view)).expect("a condition takes back the value it was built with");
            }
            Err(e) => {
                clear(&e);
                assert!(i < args.len() || matches!(e, Error::Query { .. }), "rebind {i} of {}: {e:?}", args.len());
            }
        }
        assert_eq!(r.explain(), q.explain(), "rebind {i} and back");
        assert_eq!(r.ids(), q.ids(), "rebind {i} and back");
    }
}

/// A distinct query's projection is `SELECT DISTINCT` over the column and
/// the ordering keys: among the distinct rows (the first of each repeat of
/// `q`), the first of each distinct (value, ordering values), with every
/// `NULL`, every `NaN`, and `0.0` and `-0.0`, equal.
fn check_distinct_projections(q: &Query<'_>, values: &[String], order_keys: &[String]) {
    fn key(v: &Value) -> String {
        match v {
            Value::Float(f) if *f == 0.0 => "Float(0.0)".to_owned(),
            Value::Float(f) if f.is_nan() => "Float(NaN)".to_owned(),
            v => format!("{v:?}"),
        }
    }
    let ids = q.ids();
    let distinct = q.clone().distinct();
    let ordering =
        if order_keys.is_empty() { Some(vec![Vec::new(); ids.len()]) } else { ok(q.values_list(order_keys)) };
    let Some(ordering) = ordering else { return };
    for v in values {
        let (Some(got), Some(per_row)) = (ok(distinct.values_list_flat(v)), ok(q.values_list_flat(v))) else {
            continue;
        };
        let (mut rows_seen, mut values_seen) = (Vec::new(), Vec::new());
        let want: Vec<&Value> = ids
            .iter()
            .zip(&per_row)
            .zip(&ordering)
            .filter(|((id, _), _)| {
                !rows_seen.contains(*id) && {
                    rows_seen.push(**id);
                    true
                }
            })
            .filter(|((_, value), keys)| {
                let k: Vec<String> = std::iter::once(*value).chain(keys.iter()).map(key).collect();
                !values_seen.contains(&k) && {
                    values_seen.push(k);
                    true
                }
            })
            .map(|((_, value), _)| value)
            .collect();
        assert_eq!(
            got.iter().map(key).collect::<Vec<_>>(),
            want.iter().map(|v| key(v)).collect::<Vec<_>>(),
            "distinct values_list_flat({v:?}) ordered by {order_keys:?}"
        );
        let rows = ok(distinct.values(&[v.as_str()])).expect("values takes the path values_list_flat took");
        assert_eq!(rows.len(), got.len(), "distinct values({v:?}) and values_list_flat disagree");
        // Paging slices the distinct values (it stops early without an
        // ordering).
        for (offset, limit) in [(0, 1), (1, 2), (2, usize::MAX)] {
            let paged = distinct.clone().offset(offset).limit(limit).values_list_flat(v).expect("the same path");
            let want: Vec<String> = got.iter().skip(offset).take(limit).map(key).collect();
            assert_eq!(paged.iter().map(key).collect::<Vec<_>>(), want, "{v:?} paged by {offset}, {limit}");
        }
    }
}

/// The `query` target.
pub fn query_case(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(c) = case(&mut u) else { return };
    let view = db().begin_read().expect("read");
    let table = TABLES[c.table as usize % TABLES.len()];
    let mut order_keys: Vec<String> = Vec::new();
    let mut q = match c.related {
        Some((id, acc)) => {
            let Some(t) = view.schema().table(table) else { return };
            let accs: Vec<String> = view.schema().accessor_names(t).map(str::to_owned).collect();
            if accs.is_empty() {
                return;
            }
            let rel = match view.related(Key::new(t, i64::from(id % 5)), &accs[acc as usize % accs.len()]) {
                Ok(rel) => rel,
                Err(Error::NotFound { .. }) => return,
                Err(e) => panic!("a listed accessor failed: {e:?}"),
            };
            rel.query()
        }
        None => match view.query(table) {
            Ok(q) => q,
            Err(e) => {
                assert!(matches!(e, Error::UnknownTable { .. }), "{e:?}");
                return;
            }
        },
    };
    let all: Vec<i64> = {
        let mut v = q.clone().distinct().ids();
        v.sort_unstable();
        v
    };
    // The value of each condition of `q`, in `Query::rebind`'s numbering.
    let mut args: Vec<&ArgDecl> = Vec::new();
    for s in &c.steps {
        let mut step_args = Vec::new();
        match s {
            Step::Filter(_, a) | Step::Exclude(_, a) => step_args.push(a),
            Step::FilterAll(cs) => step_args.extend(cs.iter().map(|(_, a)| a)),
            Step::FilterQ(d) | Step::ExcludeQ(d) => d.args(&mut step_args),
            Step::OrderBy(_) => {}
        }
        let next = match s {
            Step::Filter(p, a) => q.clone().filter(&p.get(), a.get(&view)),
            Step::FilterAll(cs) => q.clone().filter_all(cs.iter().map(|(p, a)| (p.get(), a.get(&view)))),
            Step::Exclude(p, a) => q.clone().exclude(&p.get(), a.get(&view)),
            Step::FilterQ(d) => {
                let kept = q.clone().filter_q(d.get(&view));
                let dropped = q.clone().exclude_q(d.get(&view));
                match (&kept, &dropped) {
                    (Ok(k), Ok(x)) => {
                        // Over the rows so far (each once): kept and dropped
                        // partition them. A related manager's query has one
                        // row per link row, and conditions bound to the link
                        // row (docs/queries.md) can keep one link row of a
                        // pair linked twice and drop the other: then only
                        // their union is the rows so far.
                        let mut a = k.clone().distinct().ids();
                        let mut b = x.clone().distinct().ids();
                        a.sort_unstable();
                        b.sort_unstable();
                        let mut both: Vec<i64> = a.iter().chain(&b).copied().collect();
                        both.sort_unstable();
                        let mut base = q.clone().distinct().ids();
                        base.sort_unstable();
                        if q.clone().ids().len() > base.len() {
                            both.dedup();
                        }
                        assert_eq!(
                            both, base,
                            "filter_q {d:?} keeps {a:?} and exclude_q drops to {b:?}, not a partition"
                        );
                    }
                    (Err(e1), Err(e2)) => {
                        assert_eq!(e1.to_string(), e2.to_string(), "filter_q and exclude_q reject {d:?} differently")
                    }
                    _ => panic!("filter_q and exclude_q disagree on whether {d:?} is valid: {kept:?} / {dropped:?}"),
                }
                kept
            }
            Step::ExcludeQ(d) => q.clone().exclude_q(d.get(&view)),
            Step::OrderBy(keys) => {
                let keys: Vec<String> = keys.iter().map(PathDecl::get).collect();
                let next = q.clone().order_by(&keys);
                if next.is_ok() {
                    // `order_by` replaces an earlier ordering.
                    order_keys = keys.iter().map(|k| k.trim_start_matches('-').to_owned()).collect();
                }
                next
            }
        };
        if let Some(n) = ok(next) {
            q = n;
            args.extend(step_args);
        }
    }
    check_rebinds(&view, &q, &args, &c.rebinds);
    // Every result is a row of the table queried.
    let mut got = q.clone().distinct().ids();
    got.sort_unstable();
    assert!(got.iter().all(|id| all.binary_search(id).is_ok()), "results {got:?} outside the table's rows {all:?}");
    let values: Vec<String> = c.values.iter().map(PathDecl::get).collect();
    check_terminals(&q, &values);
    // distinct removes exactly the repeats.
    let ids = q.ids();
    let d = q.clone().distinct().ids();
    let mut seen = Vec::new();
    let want: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| {
            if seen.contains(id) {
                false
            } else {
                seen.push(*id);
                true
            }
        })
        .collect();
    if !c.distinct {
        assert_eq!(d, want, "distinct is not the first of each repeat");
    }
    check_distinct_projections(&q, &values, &order_keys);
    let q = if c.distinct { q.distinct() } else { q };
    // Paging slices the full result.
    let full = q.ids();
    let off = c.offset.map_or(0, usize::from);
    let mut paged = q.clone().offset(off);
    if let Some(l) = c.limit {
        paged = paged.limit(usize::from(l));
    }
    let want: Vec<i64> = full.iter().skip(off).take(c.limit.map_or(usize::MAX, usize::from)).copied().collect();
    assert_eq!(paged.ids(), want, "offset {off} / limit {:?} of {full:?}", c.limit);
    check_terminals(&paged, &[]);
    if let Some((t, field)) = &c.choices {
        if let Some(q) = ok(view.choices(TABLES[*t as usize % TABLES.len()], &field.get())) {
            check_terminals(&q, &[]);
            // `limit_choices_to` is not a condition to rebind.
            check_rebinds(&view, &q, &[], &c.rebinds);
        }
    }
}
