//! Queries across relations, in Django's lookup syntax.
//!
//! [`View::query`] (or [`Related::query`], for the rows of one related
//! manager) starts a [`Query`]; `filter`, `exclude`, [`Q`] compositions,
//! `distinct`, `order_by`, `limit` and `offset` refine it; `ids`, `keys`,
//! `rows`, `values`, `count`, `exists`, `first`, `get`, `aggregate` and
//! `aggregates` run it; `explain` shows the plan. See `docs/queries.md`
//! for the full semantics.
//!
//! Layout: `path` resolves `a__b__lookup` strings into handle-based hops
//! once; `cond` holds [`Q`], [`Arg`] and the compiled lookups; `plan`
//! compiles each filter call into join nodes and picks the access path;
//! `exec` walks hops, counts the bindings of a filter for one row, and
//! produces the candidate rows of an access path; `gather` reads one
//! column's values of the results for the flat projections; `aggregate`
//! folds one column's values of the result rows into an [`Aggregate`];
//! `graph` holds the traversal helpers and `choices`.
//!
//! Plan shapes (`explain`'s first line):
//!
//! | access | when | cost |
//! |---|---|---|
//! | `probe primary key / unique index / index ...` | an `exact` or `in` condition on such a column of the root table | O(values + matches) |
//! | `probe ..., walk ...` | such a condition at the end of a path (`groups__name = "rock"`, `groups = rock`): probe it there, walk the hops back to the root, one candidate per path | O(paths walked) |
//! | `related ...: walk its links` | a related manager's query | O(degree) |
//! | `probe ..., keep rows linked to related ...` | a related query with a root condition that finds fewer rows than the manager has links | O(matches), one O(1) `contains` each |
//! | `scan` | nothing better | O(rows) |
//!
//! The condition that chose a probe (the anchor) is established by the
//! access path: a walk yields one candidate per path walked, which is the
//! anchor's multiplicity, and the anchor is not evaluated again; the other
//! conditions of its filter call are checked on the path's binding of its
//! join nodes (`explain` marks it `established by the access path`).
//! Every other filter is checked per candidate; the cost per candidate is
//! O(1) per condition plus the rows its paths reach. A filter call that
//! reads two relations side by side (`Q` of `groups__...` OR
//! `friends__...`: each binding is a (group, friend) pair, as SQL's joins
//! are) costs the rows reached times the factored counts its ORs take
//! (two per OR, or `2^parts - 1` for an OR with a part that is an AND
//! across relations; up to 16 in all), and the product of the relations'
//! rows past that or when a part of an OR is an AND holding an OR across
//! relations (see `exec`). With `distinct` a candidate stops at its first
//! binding that holds.
//!
//! A scan hands on each row as it reaches it, and so does a walk with
//! nothing else to check and no `distinct`; the other access paths gather
//! their candidates first (the walked paths, or the manager's link rows),
//! so a call that stops early (`exists`, `get` without paging that picks
//! the row, a `limit` without an ordering) pays for those in full.

mod aggregate;
mod cond;
mod exec;
mod gather;
mod graph;
mod path;
mod plan;

use std::cmp::Ordering;
use std::fmt::Write as _;

pub use aggregate::Aggregate;
pub use cond::{Arg, Q};

use self::aggregate::Fold;
use self::cond::compile;

use smallvec::SmallVec;

use self::exec::{candidates, each_walked, follow, multiplicity, value, Item, Reach, Seed};
use self::gather::{Each, Sink};
use self::path::{resolve, Hop, Hops};
use self::plan::{choose, compile_scope, describe_access, flatten_and, Filter, Mode};
use self::plan::{Access, Anchor};
use crate::error::{Error, Result};
use crate::schema::{AccessorKind, TableId};
use crate::txn::{End, Key, Loc, Related, RowRef, TableRef, View};
use crate::value::{Row, Value, ValueRef};

/// A single-valued path to a column: an `order_by` key or a `values`
/// column.
#[derive(Clone, Debug)]
struct OrderKey {
    hops: Hops,
    table: TableId,
    column: u16,
    descending: bool,
    text: String,
}

/// A query on one table: conditions, ordering and paging, run by a
/// terminal operation. Build it with [`View::query`] or
/// [`Related::query`].
///
/// Results follow Django's multi-valued semantics: a row matched through
/// a many-to-many relation (or a reverse foreign key) appears once per
/// matching link row, unless [`distinct`](Query::distinct) is set; `count`
/// counts those repeats. Without `order_by` the order is unspecified (it
/// follows the access path, and through a non-unique index the index's
/// order of equal rows, which depends on the history of writes) but the
/// same for two runs on one snapshot.
#[derive(Clone, Debug)]
pub struct Query<'v> {
    view: &'v View,
    table: TableId,
    source: Option<End>,
    filters: Vec<Filter>,
    distinct: bool,
    order: Vec<OrderKey>,
    offset: usize,
    limit: Option<usize>,
}

impl View {
    /// Starts a query on `table`: all its rows until filtered. O(1).
    ///
    /// ```
    /// # use junctiondb::{row, Database, Schema, Type};
    /// # let schema = Schema::builder().table("user", |t| { t.column("username", Type::Text).unique(); }).build()?;
    /// # let db = Database::new(schema);
    /// # db.write(|tx| { tx.insert("user", row! { "username" => "jim" })?; Ok::<_, junctiondb::Error>(()) })?;
    /// let names = db.read(|tx| {
    ///     tx.query("user")?.filter("username__startswith", "j")?.values_list(&["username"])
    /// })?;
    /// assert_eq!(names, vec![vec!["jim".into()]]);
    /// # Ok::<_, junctiondb::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTable`](crate::Error::UnknownTable).
    pub fn query(&self, table: impl TableRef) -> Result<Query<'_>> {
        let table = table.resolve(&self.schema)?;
        Ok(Query::new(self, table, None))
    }
}

impl<'a> Related<'a> {
    /// A query on the rows at the other end: one row per link row (a pair
    /// linked twice in a custom through table appears twice). Conditions
    /// on the through table (and on the relation back to this row) talk
    /// about the manager's own link row, as Django's related managers do:
    /// `jim.groups.filter(membership__invite_reason = ..)` reads the
    /// membership that links jim to each group. O(1) to build; its access
    /// path is O(degree) or better, and each condition adds its cost per
    /// candidate (the rows its paths reach; see `explain`).
    pub fn query(&self) -> Query<'a> {
        let (view, end) = self.parts();
        Query::new(view, end.other, Some(end))
    }
}

/// The hop from a manager's rows back over its own link rows.
fn pin_hop(view: &View, end: &End) -> Option<Hop> {
    let schema = &view.schema;
    let (r, forward) = match end.kind {
        AccessorKind::Forward(r) => (r, true),
        AccessorKind::Reverse(r) => (r, false),
        AccessorKind::FkReverse(_) => return None,
    };
    let rel = schema.rel(r);
    if rel.auto_through {
        return Some(Hop::Links { rel: r, from_source: !forward });
    }
    let col = if forward { rel.target_column } else { rel.source_column };
    schema.def(rel.through).columns[col as usize].fk.map(Hop::FkReverse)
}

impl<'v> Query<'v> {
    fn new(view: &'v View, table: TableId, source: Option<End>) -> Self {
        Query { view, table, source, filters: Vec::new(), distinct: false, order: Vec::new(), offset: 0, limit: None }
    }

    /// The table queried. O(1).
    pub fn table(&self) -> TableId {
        self.table
    }

    fn add(mut self, q: Q, mode: Mode) -> Result<Self> {
        let pin = self.source.as_ref().and_then(|e| pin_hop(self.view, e));
        let scope = compile_scope(self.view, self.table, pin, &q)?;
        self.filters.push(Filter { scope, mode, q });
        Ok(self)
    }

    /// Keeps the rows for which `q` holds through at least one binding,
    /// each such row once for it (Django's `filter(Exists(...))`), unlike
    /// `filter_q`, which repeats a row per binding. As `filter_q` to
    /// resolve.
    pub(crate) fn filter_exists(self, q: Q) -> Result<Self> {
        self.add(q, Mode::Exists)
    }

    /// Keeps the rows for which `path` (ending in a lookup, `exact` by
    /// default) matches `value`. O(path length) to resolve; the path is
    /// parsed once, here.
    ///
    /// Paths: `column`, `fk__column`, `m2m__column`, reverse query names
    /// (`membership__invite_reason`), a relation compared with a key or id
    /// (`groups`, `groups__in`), ending in `exact`, `iexact`, `contains`,
    /// `icontains`, `startswith`, `istartswith`, `endswith`, `iendswith`,
    /// `gt`, `gte`, `lt`, `lte`, `in`, `range` or `isnull`.
    ///
    /// # Errors
    /// [`Error::Query`](crate::Error::Query) for a bad path (naming the
    /// table at the failing step and its valid choices) or a lookup the
    /// column's type does not support;
    /// [`Error::TypeMismatch`](crate::Error::TypeMismatch) for a value of
    /// the wrong type; [`Error::WrongTable`](crate::Error::WrongTable) for
    /// a key of another table than the one the `id`, foreign key or
    /// relation at the end of the path refers to, and
    /// [`Error::Query`](crate::Error::Query) for a key compared with a
    /// plain column. (A key in a row or given to `find_by` is refused in
    /// both cases with [`Error::WrongKey`](crate::Error::WrongKey)
    /// instead.)
    pub fn filter(self, path: &str, value: impl Into<Arg>) -> Result<Self> {
        self.filter_q(Q::new(path, value))
    }

    /// Several conditions in **one** filter call: conditions that cross
    /// the same multi-valued relation must hold for the same related row
    /// (Django's `filter(a=.., b=..)`), unlike chained `filter` calls,
    /// which may each match a different row. O(total path length) to
    /// resolve, as `filter`. The values share one type; values of
    /// different types go in as [`Arg`]s:
    ///
    /// ```
    /// # use junctiondb::{row, Arg, Database, Schema, Type};
    /// let schema = Schema::builder()
    ///     .table("group", |t| { t.column("name", Type::Text); })
    ///     .table("user", |t| { t.column("name", Type::Text); t.many_to_many("groups", "group").through("membership"); })
    ///     .table("membership", |t| {
    ///         t.foreign_key("user", "user");
    ///         t.foreign_key("group", "group");
    ///         t.column("joined", Type::Int);
    ///     })
    ///     .build()?;
    /// let db = Database::new(schema);
    /// db.write(|tx| {
    ///     let ann = tx.insert("user", row! { "name" => "ann" })?;
    ///     let (rock, jazz) = (tx.insert("group", row! { "name" => "rock" })?, tx.insert("group", row! { "name" => "jazz" })?);
    ///     tx.related(ann, "groups")?.add_with([rock], row! { "joined" => 2019 })?;
    ///     tx.related(ann, "groups")?.add_with([jazz], row! { "joined" => 2024 })?;
    ///     Ok::<_, junctiondb::Error>(())
    /// })?;
    /// let q = |tx: &junctiondb::ReadTxn| -> junctiondb::Result<(usize, usize)> {
    ///     let joined_rock_after_2020 =
    ///         tx.query("user")?.filter_all([("groups__name", Arg::from("rock")), ("membership__joined__gt", Arg::from(2020))])?;
    ///     // Chained calls may each match another membership: rock, and jazz in 2024.
    ///     let chained = tx.query("user")?.filter("groups__name", "rock")?.filter("membership__joined__gt", 2020)?;
    ///     Ok((joined_rock_after_2020.count(), chained.count()))
    /// };
    /// assert_eq!(db.read(q)?, (0, 1));
    /// # Ok::<_, junctiondb::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`filter`](Self::filter).
    pub fn filter_all<P: AsRef<str>, V: Into<Arg>>(self, conditions: impl IntoIterator<Item = (P, V)>) -> Result<Self> {
        self.filter_q(Q::all(conditions.into_iter().map(|(p, v)| Q::new(p.as_ref(), v))))
    }

    /// Keeps the rows for which the condition holds (one filter call).
    /// O(size of `q` + its paths' lengths) to resolve.
    ///
    /// # Errors
    /// As [`filter`](Self::filter).
    pub fn filter_q(self, q: Q) -> Result<Self> {
        self.add(q, Mode::Filter)
    }

    /// Drops the rows for which `path` matches `value` through at least
    /// one related row. Rows with no related rows at all are kept, unless
    /// the condition holds where the related row is missing (`NULL`, as in
    /// SQL's left join), as `isnull = true` and a `None` value (with
    /// `exact`, meaning `isnull`) do: `exclude("groups", rock)` keeps users
    /// in no group, while `exclude("groups__isnull", true)` and
    /// `exclude("groups__name", None::<&str>)` drop them. Never repeats a
    /// row. O(path length) to resolve.
    ///
    /// # Errors
    /// As [`filter`](Self::filter).
    pub fn exclude(self, path: &str, value: impl Into<Arg>) -> Result<Self> {
        self.exclude_q(Q::new(path, value))
    }

    /// Drops the rows that `filter_q(q)` would keep (conditions in `q`
    /// talk about the same related row). This is the complement of
    /// `filter_q`; Django's `exclude` with several conditions across one
    /// multi-valued relation differs (see `docs/queries.md`). As
    /// [`filter_q`](Self::filter_q) to resolve.
    ///
    /// # Errors
    /// As [`filter`](Self::filter).
    pub fn exclude_q(self, q: Q) -> Result<Self> {
        self.add(q, Mode::Exclude)
    }

    /// Removes repeated rows (keeping the first of each); on a projection
    /// (`values`, `values_list`, `values_list_flat`), repeated values (see
    /// [`values`](Self::values)). O(1).
    pub fn distinct(mut self) -> Self {
        self.distinct = true;
        self
    }

    /// Orders by `keys`: paths to columns, across foreign keys
    /// (`"author__name"`), `-` first for descending. Replaces an earlier
    /// ordering. `NULL` sorts first ascending and last descending (SQLite,
    /// and so Django on SQLite); ties are broken by ascending id.
    /// O(keys' path lengths) to resolve; a run then sorts its results.
    ///
    /// # Errors
    /// [`Error::Query`](crate::Error::Query) for a bad path, one that does
    /// not end at a column, or one that crosses a multi-valued relation (a
    /// reverse foreign key is one unless its column is unique).
    pub fn order_by<S: AsRef<str>>(mut self, keys: &[S]) -> Result<Self> {
        let mut order = Vec::new();
        for k in keys {
            let k = k.as_ref();
            let (descending, path) = match k.strip_prefix('-') {
                Some(p) => (true, p),
                None => (false, k),
            };
            let key = self.column(path, k.to_owned())?;
            order.push(OrderKey { descending, ..key });
        }
        self.order = order;
        Ok(self)
    }

    /// Skips the first `n` results. O(1).
    pub fn offset(mut self, n: usize) -> Self {
        self.offset = n;
        self
    }

    /// Returns at most `n` results. O(1).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Gives condition `index` a new value, keeping its path and lookup,
    /// so that a query built once runs again for other values without its
    /// paths being parsed or its joins compiled again: SQL's prepared
    /// statement with a parameter bound. Conditions are numbered from 0 in
    /// the order given: each `filter`, `exclude` or `filter_all` call's in
    /// turn, and within a [`Q`] its `(path, value)` leaves left to right,
    /// negated parts included (a [`View::choices`] query's
    /// `limit_choices_to` is the schema's, not numbered). The value is
    /// checked as `filter` checks it,
    /// and may change the condition's shape as `filter` would (`NULL` with
    /// `exact` is `isnull`). The access path is chosen when the query runs,
    /// so it follows the new value. O(conditions), plus the value's
    /// compilation (O(n log n) to sort an `in` list of n values, O(length)
    /// to fold an `iexact` text).
    ///
    /// ```
    /// # use junctiondb::{row, Database, Schema, Type};
    /// # let schema = Schema::builder().table("user", |t| { t.column("username", Type::Text).unique(); }).build()?;
    /// # let db = Database::new(schema);
    /// # db.write(|tx| { for n in ["jim", "ann"] { tx.insert("user", row! { "username" => n })?; } Ok::<_, junctiondb::Error>(()) })?;
    /// db.read(|tx| {
    ///     let mut by_name = tx.query("user")?.filter("username", "jim")?;
    ///     assert_eq!(by_name.count(), 1);
    ///     by_name.rebind(0, "ann")?;
    ///     assert_eq!(by_name.values_list_flat("username")?, vec!["ann".into()]);
    ///     by_name.rebind(0, "bob")?;
    ///     assert!(!by_name.exists());
    ///     Ok::<_, junctiondb::Error>(())
    /// })?;
    /// # Ok::<_, junctiondb::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`filter`](Self::filter) for the value
    /// ([`Error::TypeMismatch`](crate::Error::TypeMismatch),
    /// [`Error::WrongTable`](crate::Error::WrongTable), or
    /// [`Error::Query`](crate::Error::Query) for a value of the wrong
    /// shape); [`Error::Query`](crate::Error::Query) when the query has no
    /// condition `index`. On error the query is unchanged.
    pub fn rebind(&mut self, index: usize, value: impl Into<Arg>) -> Result<()> {
        let arg = value.into();
        let schema = &self.view.schema;
        let root = schema.table_name(self.table);
        let fail = |reason: String| Error::Query { table: root.to_owned(), path: String::new(), reason };
        let mut n = index;
        // `choices` restricts its query by `limit_choices_to` in a filter
        // of its own (`Mode::Exists`): the schema's, not a condition given.
        for f in self.filters.iter_mut().filter(|f| f.mode != Mode::Exists) {
            let first = n;
            let Some((path, slot)) = f.q.nth_leaf_mut(&mut n) else { continue };
            // The scope compiled the same leaves in the same order.
            let Some(leaf) = f.scope.nth_leaf_mut(&mut { first }) else {
                debug_assert!(false, "condition {index} of {} has no compiled leaf", f.q);
                return Err(fail(format!("condition {index} was not compiled with the query")));
            };
            leaf.test = compile(schema, root, path, leaf.terminal, &arg)?;
            *slot = arg;
            return Ok(());
        }
        let given = index - n;
        let noun = if given == 1 { "condition" } else { "conditions" };
        Err(fail(format!("the query has {given} {noun}, and no condition {index}")))
    }

    /// The value a single-valued path reads from the root row at `loc`.
    fn read(&self, k: &OrderKey, loc: Loc) -> ValueRef<'v> {
        let mut at = Some(loc);
        for &h in &k.hops {
            at = at.and_then(|l| follow(self.view, h, l));
        }
        at.map_or(ValueRef::Null, |l| value(self.view, k.table, l, k.column))
    }

    fn id(&self, loc: Loc) -> i64 {
        self.view.row_at(self.table, loc).id()
    }

    /// Every matching item with its multiplicity, in access order, capped.
    /// With `distinct`, each root row once (multiplicity 1): a repeat is
    /// skipped before it is checked. `each` is also told the number of
    /// candidates, to reserve room.
    fn matches(&self, cap: u64, each: impl FnMut(Item, u64, usize) -> bool) {
        // A closure passed straight to `matched` would need its argument
        // types written out: the bound here lets the compiler infer them.
        self.matched(cap, each);
    }

    /// [`matches`](Self::matches), into a [`Matched`], which may take an
    /// index walk's far ends a list at a time.
    fn matched(&self, cap: u64, mut each: impl Matched) {
        // With `distinct` a row's multiplicity is 1 if it matches at all,
        // so each filter stops at its first binding instead of counting
        // them all (for an OR across relations, its first choice of parts
        // that some binding satisfies).
        let cap = if self.distinct { cap.min(1) } else { cap };
        let end = self.source.as_ref();
        let degree = end.map(|e| Related::new(self.view, *e).count());
        let (access, est) = choose(self.view, &self.filters, degree);
        let anchor = access.anchor();
        let lone = |a: Anchor| self.filters[a.filter].scope.conjuncts.len() == 1;
        // The anchor's filter call needs the walk's binding of its join
        // nodes only when it has conjuncts besides the anchor...
        let seeded = anchor.filter(|&a| !lone(a));
        // ...and nothing is left to check when it is the only condition.
        let settled = anchor.is_some_and(lone) && self.filters.len() == 1;
        if let (true, false, Access::Index { probe, back, .. }) = (settled, self.distinct, &access) {
            // Nothing to check and nothing to skip: every walked row is a
            // result, taken as the walk reaches it (no candidate vector).
            // The planner picks an index walk only for queries that are not
            // a related manager's, so no link row is dropped here.
            debug_assert!(end.is_none(), "an index walk in a related query");
            let hint = (est.max(0.0) as usize).min(1 << 16);
            each_walked(self.view, probe, back, Walked { each: &mut each, hint });
            return;
        }
        let mut fixed: SmallVec<[Option<Loc>; 8]> = SmallVec::new();
        let mut seen = hashbrown::HashSet::new();
        // One candidate, with its path (empty unless kept) and the number
        // of candidates expected; false once `each` has had enough.
        let mut visit = |item: Item, path: &[Loc], expected: usize| -> bool {
            if self.distinct && seen.contains(&self.id(item.loc)) {
                return true;
            }
            let m = if settled {
                1
            } else {
                if let Some(a) = seeded {
                    let scope = &self.filters[a.filter].scope;
                    fixed.clear();
                    fixed.resize(scope.nodes.len() + 1, None);
                    if !path.is_empty() {
                        for &(node, pos) in &scope.leaves[a.leaf].chain {
                            fixed[node] = Some(path[pos]);
                        }
                    }
                }
                let seed = anchor.map(|a| (a, Seed { skip: a.conjunct, fixed: &fixed }));
                multiplicity(self.view, &self.filters, item, cap, seed)
            };
            if m == 0 {
                return true;
            }
            let m = if self.distinct {
                seen.insert(self.id(item.loc));
                1
            } else {
                m
            };
            each.item(item, m, expected)
        };
        if let Access::Scan = access {
            // A scan's rows are taken as the scan reaches them, so a call
            // that stops early (`exists`, a limit) reads no further and
            // allocates no vector of the table's rows.
            let rows = self.view.table_len(self.table);
            for loc in self.view.scan_locs(self.table) {
                if !visit(Item { loc, link: None }, &[], rows) {
                    return;
                }
            }
            return;
        }
        let cands = candidates(self.view, self.table, &access, end, seeded.is_some(), est);
        for (i, &item) in cands.items.iter().enumerate() {
            if !visit(item, cands.path(i), cands.items.len()) {
                return;
            }
        }
    }

    /// Every match in access order, once per multiplicity, mapped by `f`;
    /// the vector is sized from the first estimate. O(matches).
    fn all_matches<T>(&self, f: impl Fn(Loc) -> T) -> Vec<T> {
        let mut out = Vec::new();
        self.matches(u64::MAX, |item, m, n| {
            if out.capacity() == 0 {
                out.reserve(n);
            }
            for _ in 0..m {
                out.push(f(item.loc));
            }
            true
        });
        out
    }

    /// The results in order, after distinct, ordering and paging, each
    /// mapped by `f`.
    fn run<T>(&self, implicit_id_order: bool, offset: usize, limit: Option<usize>, f: impl Fn(Loc) -> T) -> Vec<T> {
        if self.order.is_empty() && !implicit_id_order {
            return self.run_in_access_order(offset, limit, f);
        }
        let max = limit.unwrap_or(usize::MAX);
        if max == 0 {
            return Vec::new();
        }
        let locs = self.all_matches(|l| l);
        // The keys of all rows in one flat vector: no allocation per row.
        let k = self.order.len();
        let mut keys: Vec<ValueRef<'v>> = Vec::with_capacity(locs.len() * k);
        let mut rows: Vec<(usize, i64, Loc)> = Vec::with_capacity(locs.len());
        for (i, &l) in locs.iter().enumerate() {
            keys.extend(self.order.iter().map(|o| self.read(o, l)));
            rows.push((i * k, self.id(l), l));
        }
        // Rows that tie on every key and the id are the same row.
        rows.sort_unstable_by(|a, b| {
            for (i, o) in self.order.iter().enumerate() {
                let c = cond::cmp_values(keys[a.0 + i], keys[b.0 + i]);
                let c = if o.descending { c.reverse() } else { c };
                if c != Ordering::Equal {
                    return c;
                }
            }
            a.1.cmp(&b.1)
        });
        rows.into_iter().skip(offset).take(max).map(|(_, _, l)| f(l)).collect()
    }

    /// The results in access order (the ordering ignored), after distinct
    /// and paging, each mapped by `f`: mapped as they come, `offset`
    /// skipped, stopping at `limit`.
    fn run_in_access_order<T>(&self, offset: usize, limit: Option<usize>, f: impl Fn(Loc) -> T) -> Vec<T> {
        let max = limit.unwrap_or(usize::MAX);
        if max == 0 {
            return Vec::new();
        }
        if offset == 0 && limit.is_none() {
            // Every result, as it comes (the common case, without the
            // paging arithmetic per result).
            return self.all_matches(f);
        }
        let mut out = Vec::new();
        let mut skip = offset as u64;
        self.matches(u64::MAX, |item, m, n| {
            if out.capacity() == 0 {
                out.reserve(n.min(max));
            }
            let skipped = skip.min(m);
            skip -= skipped;
            let take = (m - skipped).min((max - out.len()) as u64);
            for _ in 0..take {
                out.push(f(item.loc));
            }
            out.len() < max
        });
        out
    }

    /// The ids of the results. O(candidates × conditions) plus the
    /// bindings the conditions' joins enumerate (see the module docs; a
    /// product for an OR across two relations), plus O(n log n) to order.
    /// Without an ordering it stops at `offset + limit` results: a scan
    /// reads no row past them, while a probe with other conditions, or a
    /// related manager's links, gathers its candidates first (see the
    /// module docs).
    pub fn ids(&self) -> Vec<i64> {
        self.run(false, self.offset, self.limit, |l| self.id(l))
    }

    /// The keys of the results. As [`ids`](Self::ids).
    pub fn keys(&self) -> Vec<Key> {
        self.run(false, self.offset, self.limit, |l| Key::new(self.table, self.id(l)))
    }

    /// The results as borrowed rows. As [`ids`](Self::ids).
    pub fn rows(&self) -> Vec<RowRef<'v>> {
        self.run(false, self.offset, self.limit, |l| self.view.row_at(self.table, l))
    }

    /// The projection of a path to a column (named by the path in
    /// `text`).
    fn column(&self, path: &str, text: String) -> Result<OrderKey> {
        let r = resolve(&self.view.schema, self.table, path, false)?;
        Ok(OrderKey { hops: r.hops, table: r.terminal.table, column: r.terminal.column, descending: false, text })
    }

    /// The keys of a projection's `columns`; none means every column of
    /// the results' table in declaration order (see `values`).
    fn columns<S: AsRef<str>>(&self, columns: &[S]) -> Result<Vec<OrderKey>> {
        if columns.is_empty() {
            let def = self.view.schema.def(self.table);
            return def.declared_columns().map(|(_, c)| self.column(&c.name, c.name.clone())).collect();
        }
        columns.iter().map(|c| self.column(c.as_ref(), c.as_ref().to_owned())).collect()
    }

    /// The results' values of `columns` (paths to columns, across foreign
    /// keys), as rows named by the paths given. No columns
    /// (`values::<&str>(&[])`) means every column of the table, as
    /// Django's `values()`: `id`, then the columns
    /// in declaration order, foreign keys by column name (`city_id`). As
    /// [`ids`](Self::ids); with
    /// [`distinct`](Self::distinct), a repeated row of values (with the
    /// ordering keys' values) comes once, as in Django's `SELECT DISTINCT`.
    /// Plus O(columns × their path lengths) per result.
    ///
    /// # Errors
    /// [`Error::Query`](crate::Error::Query) for a bad path or one that
    /// crosses a multi-valued relation (a reverse foreign key is one unless
    /// its column is unique).
    pub fn values<S: AsRef<str>>(&self, columns: &[S]) -> Result<Vec<Row>> {
        let cols = self.columns(columns)?;
        let row = |l| cols.iter().map(|k| (k.text.clone(), self.read(k, l).to_owned())).collect();
        Ok(self.projected(&cols).into_iter().map(row).collect())
    }

    /// [`values`](Self::values) as plain lists, in the order of `columns`
    /// (no columns: every column, in declaration order).
    /// As `values`.
    ///
    /// # Errors
    /// As [`values`](Self::values).
    pub fn values_list<S: AsRef<str>>(&self, columns: &[S]) -> Result<Vec<Vec<Value>>> {
        let cols = self.columns(columns)?;
        let list = |l| cols.iter().map(|k| self.read(k, l).to_owned()).collect();
        Ok(self.projected(&cols).into_iter().map(list).collect())
    }

    /// The rows whose values of `cols` a projection (`values`,
    /// `values_list`, `values_list_flat`) returns, in result order, paged.
    /// With `distinct`, a row is dropped when an earlier one has the same
    /// values of `cols` and of the ordering keys, before paging: Django's
    /// `SELECT DISTINCT` over the selected columns, which include the
    /// `order_by` ones. `NULL`s are equal to each other there, and so are
    /// `NaN`s, and `0.0` and `-0.0`. O(results) expected after the query
    /// runs; without an ordering, the query stops once `offset + limit`
    /// distinct values are found, as `ids` stops at its limit.
    fn projected(&self, cols: &[OrderKey]) -> Vec<Loc> {
        if !self.distinct {
            return self.run(false, self.offset, self.limit, |l| l);
        }
        let max = self.limit.unwrap_or(usize::MAX);
        let mut seen = hashbrown::HashSet::new();
        let keys = || cols.iter().chain(&self.order);
        let mut first = |l: Loc| {
            seen.insert(keys().map(|k| Distinct::of(self.read(k, l))).collect::<SmallVec<[Distinct<'v>; 4]>>())
        };
        if !self.order.is_empty() {
            let firsts = self.run(false, 0, None, |l| l).into_iter().filter(|&l| first(l));
            return firsts.skip(self.offset).take(max).collect();
        }
        // Access order: each distinct row once (`matches` with `distinct`),
        // kept when its values are new, until the page is full.
        let (mut skip, mut out) = (self.offset, Vec::new());
        if max > 0 {
            self.matches(u64::MAX, |item, _, _| {
                if first(item.loc) {
                    if skip > 0 {
                        skip -= 1;
                    } else {
                        out.push(item.loc);
                    }
                }
                out.len() < max
            });
        }
        out
    }

    /// The results' values of one column path, flat: Django's
    /// `values_list(path, flat=True)`, as [`values_list`](Self::values_list)
    /// with one column but without a list per row. A column of the
    /// results' own table is gathered 32 rows at a time: a window's cells
    /// are prefetched while the window before it is copied out, then
    /// (text and bytes) the first line of each value they point to, then
    /// the values are copied out, so that the cache misses of a window's
    /// rows overlap instead of coming two per row, one after another.
    /// O(results) after the query runs, as [`ids`](Self::ids), plus an
    /// allocation per text or bytes value copied out;
    /// [`values_list_flat_ref`](Self::values_list_flat_ref) borrows them
    /// instead.
    ///
    /// # Errors
    /// As [`values`](Self::values).
    pub fn values_list_flat(&self, column: &str) -> Result<Vec<Value>> {
        self.flat(column)
    }

    /// [`values_list_flat`](Self::values_list_flat) without copying the
    /// values out: each borrows the snapshot the query reads, so a text
    /// or bytes value costs no allocation. The same gather and the same
    /// order. O(results) after the query runs, as [`ids`](Self::ids),
    /// with one allocation (the vector).
    ///
    /// # Errors
    /// As [`values`](Self::values).
    pub fn values_list_flat_ref(&self, column: &str) -> Result<Vec<ValueRef<'v>>> {
        self.flat(column)
    }

    /// The flat projection of `column` into a vector of owned or borrowed
    /// values: the body of the two above.
    #[inline(always)]
    fn flat<V>(&self, column: &str) -> Result<Vec<V>>
    where
        Vec<V>: Sink<'v>,
    {
        let key = self.column(column, String::new())?;
        let mut values = Vec::new();
        self.gather(&key, &mut values);
        Ok(values)
    }

    /// Calls `each` with each result's value of `column` (a path to a
    /// column, across foreign keys), in the order
    /// [`values_list_flat_ref`](Self::values_list_flat_ref) returns them,
    /// repeats included, without collecting them: Django's
    /// `values_list(path, flat=True).iterator()`. The values borrow the
    /// snapshot the query reads. The same gather (see
    /// [`values_list_flat`](Self::values_list_flat)); without `distinct`,
    /// an ordering or paging, the results are read as the query finds
    /// them, and up to 512 at a time are gathered with no allocation.
    /// O(results) after the query runs, as [`ids`](Self::ids).
    ///
    /// ```
    /// # use junctiondb::{row, Database, Schema, Type};
    /// # let schema = Schema::builder().table("user", |t| { t.column("username", Type::Text).unique(); }).build()?;
    /// # let db = Database::new(schema);
    /// # db.write(|tx| { for n in ["jim", "joe", "ann"] { tx.insert("user", row! { "username" => n })?; } Ok::<_, junctiondb::Error>(()) })?;
    /// let letters = db.read(|tx| {
    ///     let mut letters = 0;
    ///     let js = tx.query("user")?.filter("username__startswith", "j")?;
    ///     js.for_each_value("username", |name| letters += name.as_text().map_or(0, str::len))?;
    ///     Ok::<_, junctiondb::Error>(letters)
    /// })?;
    /// assert_eq!(letters, 6);
    /// # Ok::<_, junctiondb::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`values`](Self::values); `each` is not called then.
    pub fn for_each_value(&self, column: &str, each: impl FnMut(ValueRef<'v>)) -> Result<()> {
        let key = self.column(column, String::new())?;
        self.gather(&key, &mut Each(each));
        Ok(())
    }

    /// The number of results (repeats included unless `distinct`; after
    /// `offset` and `limit`). As [`ids`](Self::ids) without the ordering,
    /// and no allocation per result.
    pub fn count(&self) -> usize {
        self.counted(self.offset, self.limit)
    }

    fn counted(&self, offset: usize, limit: Option<usize>) -> usize {
        let cap = limit.map_or(u64::MAX, |l| (l as u64).saturating_add(offset as u64));
        if cap == 0 {
            return 0;
        }
        let mut total = 0u64;
        self.matches(cap, |_, m, _| {
            total = total.saturating_add(m);
            total < cap
        });
        let total = usize::try_from(total.min(cap)).unwrap_or(usize::MAX);
        let after = total.saturating_sub(offset);
        limit.map_or(after, |l| after.min(l))
    }

    /// An aggregate of the results' values of `column` (a path to a
    /// column, across foreign keys), as Django's
    /// `aggregate(Sum("price"))`: see [`Aggregate`] for each one's value.
    /// The values are those [`ids`](Self::ids)' rows have: a row counts
    /// as many times as it is a result (once with
    /// [`distinct`](Self::distinct), which makes rows distinct, not
    /// values), and paging picks the rows first, by the ordering when
    /// there is one, as Django aggregates a sliced query's rows. `NULL`s
    /// are left out. O(results) after the query runs, as `count`, with no
    /// vector of values (`CountDistinct` keeps each distinct value, and
    /// `distinct` each row's id, as `count` does); with paging, as `ids`.
    ///
    /// ```
    /// # use junctiondb::{row, Aggregate, Database, Schema, Type, Value};
    /// # let schema = Schema::builder().table("item", |t| { t.column("price", Type::Int).nullable(); }).build()?;
    /// # let db = Database::new(schema);
    /// # db.write(|tx| { for p in [Some(3), None, Some(5)] { tx.insert("item", row! { "price" => p })?; } Ok::<_, junctiondb::Error>(()) })?;
    /// db.read(|tx| {
    ///     let items = tx.query("item")?;
    ///     assert_eq!(items.aggregate("price", Aggregate::Sum)?, Value::Int(8));
    ///     assert_eq!(items.aggregate("price", Aggregate::Avg)?, Value::Float(4.0));
    ///     assert_eq!(items.aggregate("price", Aggregate::Count)?, Value::Int(2));
    ///     let none = items.filter("price__gt", 10)?;
    ///     assert_eq!(none.aggregate("price", Aggregate::Max)?, Value::Null);
    ///     Ok::<_, junctiondb::Error>(())
    /// })?;
    /// # Ok::<_, junctiondb::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`values`](Self::values) for the path;
    /// [`Error::Query`](crate::Error::Query) for `Sum` or `Avg` of a
    /// column that is not `Int` or `Float`; and
    /// [`Error::Overflow`](crate::Error::Overflow) for an `Int` sum that
    /// does not fit an `i64`.
    pub fn aggregate(&self, column: &str, how: Aggregate) -> Result<Value> {
        Ok(self.aggregates(&[(column, how)])?.pop().unwrap_or(Value::Null))
    }

    /// Several aggregates in one run of the query, as Django's
    /// `aggregate(total=Sum("price"), top=Max("price"))`: each
    /// `(path, aggregate)` as [`aggregate`](Self::aggregate) computes it,
    /// in the order given. O(results × aggregates) after the query runs
    /// once.
    ///
    /// # Errors
    /// As [`aggregate`](Self::aggregate), for the first pair refused
    /// (paths and types are checked before the query runs).
    pub fn aggregates<S: AsRef<str>>(&self, wanted: &[(S, Aggregate)]) -> Result<Vec<Value>> {
        let table = || self.view.table_name(self.table).to_owned();
        let mut folds = Vec::with_capacity(wanted.len());
        for (path, how) in wanted {
            let path = path.as_ref();
            let key = self.column(path, String::new())?;
            let ty = self.view.schema.def(key.table).columns[key.column as usize].ty;
            let fold =
                Fold::new(*how, ty).map_err(|reason| Error::Query { table: table(), path: path.to_owned(), reason })?;
            folds.push((key, fold));
        }
        if self.offset == 0 && self.limit.is_none() {
            self.matches(u64::MAX, |item, times, _| {
                for (key, fold) in &mut folds {
                    fold.add(self.read(key, item.loc), times);
                }
                true
            });
        } else {
            for loc in self.run(false, self.offset, self.limit, |l| l) {
                for (key, fold) in &mut folds {
                    fold.add(self.read(key, loc), 1);
                }
            }
        }
        let finished = folds.into_iter().zip(wanted).map(|((_, fold), (path, _))| {
            fold.finish().ok_or_else(|| Error::Overflow { table: table(), path: path.as_ref().to_owned() })
        });
        finished.collect()
    }

    /// Whether there is a result. Stops at the first, as [`ids`](Self::ids)
    /// stops at its limit (a scan reads no row past it). O(candidates ×
    /// conditions) at worst.
    pub fn exists(&self) -> bool {
        self.counted(self.offset, Some(self.limit.map_or(1, |l| l.min(1)))) > 0
    }

    /// The first result: by the ordering, or by id when there is none (as
    /// Django's `first`), after `offset`. As [`ids`](Self::ids) with the
    /// ordering: every result is found and sorted.
    pub fn first(&self) -> Option<RowRef<'v>> {
        let limit = Some(self.limit.map_or(1, |l| l.min(1)));
        self.run(self.order.is_empty(), self.offset, limit, |l| self.view.row_at(self.table, l)).pop()
    }

    /// The one result, as Django's `get()`: `None` when there is none
    /// (where Django raises `DoesNotExist`), and
    /// [`Error::MultipleFound`](crate::Error::MultipleFound) with the
    /// number of results when there are several. Paging applies first, as
    /// it does in Django, and over the order [`ids`](Self::ids) gives: so
    /// with an `offset` and no ordering, `get` and [`first`](Self::first)
    /// (which orders by id) may name different rows. As `ids` with a limit
    /// of two, and O(results) more to count them on the error. Without
    /// an `offset` or a `limit` below two, it stops at the second result
    /// whatever the ordering (one result needs no order, and two are an
    /// error), so it sorts nothing; with paging that picks a row and an
    /// ordering, every result is found and sorted.
    ///
    /// # Errors
    /// [`Error::MultipleFound`](crate::Error::MultipleFound).
    pub fn get(&self) -> Result<Option<RowRef<'v>>> {
        let limit = Some(self.limit.map_or(2, |l| l.min(2)));
        // Paging picks the row only with an offset or a limit of one.
        let mut found = if self.offset == 0 && self.limit.is_none_or(|l| l >= 2) {
            self.run_in_access_order(0, limit, |l| l)
        } else {
            self.run(false, self.offset, limit, |l| l)
        };
        match found.len() {
            0 | 1 => Ok(found.pop().map(|l| self.view.row_at(self.table, l))),
            _ => Err(Error::MultipleFound { table: self.view.table_name(self.table).to_owned(), count: self.count() }),
        }
    }

    /// The plan, as text: the access path (see the module docs), then the
    /// filters, distinct, ordering and paging. O(filters), plus the probes
    /// of non-unique indexes (to estimate).
    pub fn explain(&self) -> String {
        let end = self.source.as_ref();
        let degree = end.map(|e| Related::new(self.view, *e).count());
        let (access, est) = choose(self.view, &self.filters, degree);
        let source = end.map(|e| {
            let schema = &self.view.schema;
            let name = schema
                .def(e.key.table())
                .accessors
                .iter()
                .find(|(_, a)| a.kind == e.kind)
                .map_or("?", |(n, _)| n.as_str());
            format!("{} {}.{name}", schema.table_name(e.key.table()), e.key.id())
        });
        let mut s = describe_access(self.view, self.table, &access, est, source.as_deref());
        let anchor = access.anchor();
        for (i, f) in self.filters.iter().enumerate() {
            let verb = match f.mode {
                Mode::Filter => "filter",
                Mode::Exists => "filter (each row once)",
                Mode::Exclude => "exclude",
            };
            let _ = write!(s, "\n{verb} {}", f.q);
            match anchor {
                Some(a) if a.filter == i && f.scope.conjuncts.len() == 1 => {
                    s.push_str(" (established by the access path)");
                }
                Some(a) if a.filter == i => {
                    let mut conjuncts = Vec::new();
                    flatten_and(&f.q, &mut conjuncts);
                    let _ = write!(
                        s,
                        " ({} established by the access path; the rest checked per row, on its binding)",
                        conjuncts[a.conjunct]
                    );
                }
                _ => {}
            }
            // How a row's count is taken when it does not factor.
            match (&f.scope.owner, &f.scope.split) {
                (Some(_), _) => {}
                (None, Some(split)) => {
                    let counts = if split.terms == 1 { "count" } else { "counts" };
                    let _ = write!(s, " (ORs across relations: {} factored {counts} per row)", split.terms);
                }
                (None, None) => s.push_str(" (bindings enumerated per row)"),
            }
        }
        if self.distinct {
            s.push_str("\ndistinct");
        }
        if !self.order.is_empty() {
            let keys: Vec<&str> = self.order.iter().map(|k| k.text.as_str()).collect();
            let _ = write!(s, "\norder by {}, id (nulls first ascending)", keys.join(", "));
        }
        if self.offset > 0 {
            let _ = write!(s, "\noffset {}", self.offset);
        }
        if let Some(l) = self.limit {
            let _ = write!(s, "\nlimit {l}");
        }
        s
    }
}

/// What [`Query::matches`] hands each result to, until it returns false:
/// an item with its multiplicity (and the number of results expected), or
/// the rows at a list of slots, once each, which an index walk across a
/// many-to-many relation finds together. A function takes them one by
/// one.
trait Matched {
    fn item(&mut self, item: Item, times: u64, expected: usize) -> bool;

    #[inline(always)]
    fn slots(&mut self, slots: &[u32], expected: usize) -> bool {
        slots.iter().all(|&s| self.item(Item { loc: Loc::Slot(s), link: None }, 1, expected))
    }
}

impl<F: FnMut(Item, u64, usize) -> bool> Matched for F {
    #[inline(always)]
    fn item(&mut self, item: Item, times: u64, expected: usize) -> bool {
        self(item, times, expected)
    }
}

/// An index walk's rows as results: each once, with the planner's
/// estimate as the number expected.
struct Walked<'m, M> {
    each: &'m mut M,
    hint: usize,
}

impl<M: Matched> Reach for Walked<'_, M> {
    #[inline(always)]
    fn row(&mut self, loc: Loc) -> bool {
        self.each.item(Item { loc, link: None }, 1, self.hint)
    }

    #[inline(always)]
    fn slots(&mut self, slots: &[u32]) -> bool {
        self.each.slots(slots, self.hint)
    }
}

/// A value as `SELECT DISTINCT` compares it: hashable, with every `NULL`
/// equal, every `NaN` equal, and `-0.0` equal to `0.0`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Distinct<'a> {
    Null,
    Int(i64),
    Float(u64),
    Bool(bool),
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl<'a> Distinct<'a> {
    fn of(v: ValueRef<'a>) -> Self {
        match v {
            ValueRef::Null => Distinct::Null,
            ValueRef::Int(i) => Distinct::Int(i),
            ValueRef::Float(f) => Distinct::Float(match f {
                // `-0.0 == 0.0`, and every NaN is one value here.
                _ if f == 0.0 => 0,
                _ if f.is_nan() => f64::NAN.to_bits(),
                _ => f.to_bits(),
            }),
            ValueRef::Bool(b) => Distinct::Bool(b),
            ValueRef::Text(t) => Distinct::Text(t),
            ValueRef::Bytes(b) => Distinct::Bytes(b),
        }
    }
}
