//! Compiled filters and access paths.
//!
//! A filter call compiles into a [`Scope`]: its **join nodes** are the
//! distinct multi-valued path prefixes of its leaves (not counting leaves
//! under a negation), node 0 being the root row. Leaves that share a
//! prefix share a node, so they talk about the same related row. A
//! negated part compiles into a scope of its own.
//!
//! The access path is chosen per run from the current table sizes:
//!
//! - `Manager`: a related manager's own link rows, O(degree);
//! - `ManagerCheck`: an index probe on the root table, then the junction's
//!   O(1) `contains` (or the foreign key) to find each candidate's links,
//!   when the probe finds fewer rows than the manager has links;
//! - `Index`: a probe of an index (primary key, unique or indexed column,
//!   foreign key index, junction list) for an `exact` or `in` condition,
//!   on the root table or at the end of a path, then a walk back over the
//!   path's hops, inverted, to the root rows;
//! - `Scan`: every row of the root table, when no condition is anchored.

use std::fmt::Write as _;

use smallvec::SmallVec;

use super::cond::{compile, QNode, Test, Q};
use super::path::{describe_walk, resolve, Hop, Hops, Terminal};
use crate::error::{Error, Result};
use crate::schema::{TableId, TableKind};
use crate::txn::View;
use crate::value::Value;

/// A join node: the rows reached from the parent node's row by single
/// hops `pre`, then the multi-valued `hop`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub(crate) parent: usize,
    pub(crate) pre: Hops,
    pub(crate) hop: Hop,
    /// Bound to the related manager's own link row instead of walked.
    pub(crate) pinned: bool,
}

/// A compiled `(path, lookup, value)`: read `column` of the row reached
/// from node `node`'s row by single hops `tail`.
#[derive(Clone, Debug)]
pub(crate) struct Leaf {
    pub(crate) node: usize,
    pub(crate) tail: Hops,
    /// The column read, and what a new value is compiled against
    /// ([`Scope::nth_leaf_mut`]).
    pub(crate) terminal: Terminal,
    pub(crate) test: Test,
    /// Every hop from the root, for access planning.
    pub(crate) hops: Hops,
    /// The join nodes along `hops`, each with the position of the row it
    /// binds (the row reached after `hops[..pos]`), for walks that bind
    /// them from the far end.
    pub(crate) chain: SmallVec<[(usize, usize); 2]>,
}

#[derive(Clone, Debug)]
pub(crate) enum Cond {
    Leaf(usize),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// True when no binding of the inner scope's own nodes satisfies it.
    Not(Box<Scope>),
}

/// One filter call (or one negated part): nodes, leaves, and the
/// condition as a list of conjuncts.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    pub(crate) nodes: Vec<Node>,
    pub(crate) leaves: Vec<Leaf>,
    pub(crate) conjuncts: Vec<Cond>,
    /// The highest node each conjunct reads (0 when it reads only the
    /// root): it can be checked as soon as that node is bound.
    pub(crate) ready: Vec<usize>,
    /// When every conjunct reads at most one node: that node, per
    /// conjunct. The count then factors over the node tree.
    pub(crate) owner: Option<Vec<usize>>,
    /// When `owner` is `None` because of ORs whose parts each read at
    /// most one node (or are ANDs of conditions that do): the count is a
    /// signed sum of factored counts (see [`Split`]).
    pub(crate) split: Option<Split>,
    pub(crate) children: Vec<Vec<usize>>,
}

/// How a scope whose ORs span several join nodes is counted without
/// enumerating the product of the nodes' rows.
///
/// Each such OR is one of two kinds, and the count is a signed sum of
/// factored counts, one per combination of a term of each OR (at most
/// [`MAX_SPLIT_TERMS`] combinations):
///
/// - **Parts that read one node each** (`A | B`): an OR is true unless
///   every part is not true, so with the other conjuncts `C`,
///   `count(C & (A | B)) = count(C) - count(C & not-true(A) &
///   not-true(B))`, and both terms factor over the node tree: two terms.
///   "Not true" is the complement of a part's test under SQL's
///   three-valued logic, so an unknown part counts as not true here as it
///   does in the enumeration.
/// - **Some part an AND across nodes** (`(A1 & A2) | B`, its complement
///   an OR again): the union of the parts' bindings, by inclusion–exclusion
///   over the nonempty sets `S` of parts, each `count(C & all of S)`
///   signed by `S`'s size (odd: added): `2^parts - 1` terms. A part's AND
///   of conditions that each read one node factors.
#[derive(Clone, Debug)]
pub(crate) struct Split {
    /// Per conjunct: the node it reads (0 for the root) or the OR it is.
    pub(crate) conjuncts: Vec<Owned>,
    /// The ORs across nodes, in the order of the conjuncts.
    pub(crate) ors: Vec<SplitOr>,
    /// The factored counts a row takes: the product of the ORs' terms.
    pub(crate) terms: usize,
}

/// The most factored counts one filter call's count takes as a [`Split`];
/// past it, bindings are enumerated.
pub(crate) const MAX_SPLIT_TERMS: usize = 16;

/// One OR of a [`Split`].
#[derive(Clone, Debug)]
pub(crate) struct SplitOr {
    /// Per part, in the order of the `Cond::Or`'s items, the node each of
    /// its atoms reads: one atom, the part itself, when the part reads at
    /// most one node; otherwise the part is a `Cond::And` and its items
    /// are the atoms (see [`atoms`]).
    pub(crate) parts: Vec<SmallVec<[usize; 2]>>,
    /// Whether every part reads at most one node: counted through its
    /// complement, not the union of its parts.
    pub(crate) complement: bool,
}

impl SplitOr {
    /// The terms this OR multiplies a row's factored counts by: 2 for a
    /// complement, `2^parts - 1` for a union (saturating).
    pub(crate) fn terms(&self) -> usize {
        if self.complement {
            2
        } else {
            1usize.checked_shl(self.parts.len() as u32).map_or(usize::MAX, |t| t - 1)
        }
    }
}

/// The atoms of `part`, one of a [`SplitOr`]'s parts whose atoms read
/// `nodes`, each with the node it reads. O(atoms).
pub(crate) fn atoms<'c>(part: &'c Cond, nodes: &'c [usize]) -> impl Iterator<Item = (usize, &'c Cond)> {
    let items = match part {
        Cond::And(items) if nodes.len() > 1 => &items[..],
        _ => std::slice::from_ref(part),
    };
    nodes.iter().copied().zip(items)
}

/// What one conjunct of a [`Split`] scope reads.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Owned {
    /// One node (0: the root only).
    At(usize),
    /// Several nodes, as an OR whose parts each read one, or are ANDs of
    /// conditions that do: its index in [`Split::ors`].
    Across(usize),
}

struct Compiler<'a> {
    view: &'a View,
    root: TableId,
    pin: Option<Hop>,
    /// The join nodes of every scope of the call so far (each `!` opens a
    /// scope of its own), against [`MAX_FILTER_JOINS`].
    joins: std::cell::Cell<usize>,
}

impl Compiler<'_> {
    fn scope(&self, q: &Q) -> Result<Scope> {
        let mut scope = Scope {
            nodes: Vec::new(),
            leaves: Vec::new(),
            conjuncts: Vec::new(),
            ready: Vec::new(),
            owner: None,
            split: None,
            children: Vec::new(),
        };
        let mut conjuncts = Vec::new();
        flatten_and(q, &mut conjuncts);
        for c in conjuncts {
            let cond = self.cond(c, &mut scope)?;
            scope.conjuncts.push(cond);
        }
        let mut owners = Vec::new();
        for c in &scope.conjuncts {
            let nodes = nodes_read(c, &scope.leaves);
            scope.ready.push(nodes.last().copied().unwrap_or(0));
            owners.push(only_node(&nodes));
        }
        scope.owner = owners.iter().copied().collect();
        if scope.owner.is_none() {
            scope.split = split(&scope, &owners);
        }
        scope.children = vec![Vec::new(); scope.nodes.len() + 1];
        for (i, n) in scope.nodes.iter().enumerate() {
            scope.children[n.parent].push(i + 1);
        }
        Ok(scope)
    }

    fn cond(&self, q: &Q, scope: &mut Scope) -> Result<Cond> {
        Ok(match &q.0 {
            QNode::Leaf(path, arg) => {
                let schema = &self.view.schema;
                let r = resolve(schema, self.root, path, true)?;
                let test = compile(schema, schema.table_name(self.root), path, r.terminal, arg)?;
                let mut node = 0;
                let mut pre = Hops::new();
                let mut chain = SmallVec::new();
                for (j, &hop) in r.hops.iter().enumerate() {
                    if !hop.is_multi() {
                        pre.push(hop);
                        continue;
                    }
                    let n = Node {
                        parent: node,
                        pinned: node == 0 && pre.is_empty() && Some(hop) == self.pin,
                        pre: std::mem::take(&mut pre),
                        hop,
                    };
                    node = match scope.nodes.iter().position(|x| *x == n) {
                        Some(i) => i + 1,
                        None if self.joins.get() == MAX_FILTER_JOINS => {
                            return Err(Error::Query {
                                table: schema.table_name(self.root).to_owned(),
                                path: path.clone(),
                                reason: format!(
                                    "one filter call makes at most {MAX_FILTER_JOINS} joins (one per distinct multi-valued path prefix)"
                                ),
                            })
                        }
                        None => {
                            self.joins.set(self.joins.get() + 1);
                            scope.nodes.push(n);
                            scope.nodes.len()
                        }
                    };
                    chain.push((node, j + 1));
                }
                scope.leaves.push(Leaf { node, tail: pre, terminal: r.terminal, test, hops: r.hops, chain });
                Cond::Leaf(scope.leaves.len() - 1)
            }
            QNode::And(items) => Cond::And(self.conds(items, true, scope)?),
            QNode::Or(items) => Cond::Or(self.conds(items, false, scope)?),
            QNode::Not(inner) => Cond::Not(Box::new(self.scope(inner)?)),
        })
    }

    /// The conditions of an AND's (`and`) or an OR's `items`, in the order
    /// written, a nested node of the same operator giving its items in its
    /// place: `Q::any([a, Q::any([b, c])])` is `a | b | c`, as `|` builds
    /// it, so that an OR's parts are what [`split`] sees. The same truth
    /// under three-valued logic (AND and OR are associative there too).
    fn conds(&self, items: &[Q], and: bool, scope: &mut Scope) -> Result<Vec<Cond>> {
        let mut out = Vec::with_capacity(items.len());
        for q in items {
            match &q.0 {
                QNode::And(nested) if and => out.extend(self.conds(nested, and, scope)?),
                QNode::Or(nested) if !and => out.extend(self.conds(nested, and, scope)?),
                _ => out.push(self.cond(q, scope)?),
            }
        }
        Ok(out)
    }
}

/// Where [`Scope::nth_leaf_mut`] found its leaf.
enum Found<'a> {
    /// This scope's leaf of that index.
    Here(usize),
    /// A leaf of a negated part's scope.
    Nested(&'a mut Leaf),
}

impl Scope {
    /// The leaf of the `n`-th `(path, value)` of the condition this scope
    /// compiled, counting from 0 in the order written (the order of
    /// [`Q::nth_leaf_mut`]), negated parts included. When the condition
    /// has fewer, `n` is left reduced by the number it has. O(size of the
    /// condition).
    pub(crate) fn nth_leaf_mut(&mut self, n: &mut usize) -> Option<&mut Leaf> {
        fn visit<'a>(c: &'a mut Cond, n: &mut usize) -> Option<Found<'a>> {
            match c {
                Cond::Leaf(l) if *n == 0 => Some(Found::Here(*l)),
                Cond::Leaf(_) => {
                    *n -= 1;
                    None
                }
                Cond::And(items) | Cond::Or(items) => items.iter_mut().find_map(|c| visit(c, n)),
                Cond::Not(inner) => inner.nth_leaf_mut(n).map(Found::Nested),
            }
        }
        let Scope { conjuncts, leaves, .. } = self;
        match conjuncts.iter_mut().find_map(|c| visit(c, n))? {
            Found::Here(l) => leaves.get_mut(l),
            Found::Nested(leaf) => Some(leaf),
        }
    }
}

pub(crate) fn flatten_and<'q>(q: &'q Q, out: &mut Vec<&'q Q>) {
    match &q.0 {
        QNode::And(items) => items.iter().for_each(|i| flatten_and(i, out)),
        _ => out.push(q),
    }
}

/// The [`Split`] of a scope whose conjuncts read the nodes `owners` gives
/// (`None` for several), when each conjunct that reads several is an OR
/// whose parts read one node each or are ANDs of conditions that do, and
/// the count takes at most [`MAX_SPLIT_TERMS`] terms.
fn split(scope: &Scope, owners: &[Option<usize>]) -> Option<Split> {
    let node_of = |c: &Cond| only_node(&nodes_read(c, &scope.leaves));
    let mut split = Split { conjuncts: Vec::with_capacity(owners.len()), ors: Vec::new(), terms: 1 };
    for (c, owner) in scope.conjuncts.iter().zip(owners) {
        let owned = match (owner, c) {
            (Some(n), _) => Owned::At(*n),
            (None, Cond::Or(parts)) => {
                let shape = |part: &Cond| match (node_of(part), part) {
                    (Some(n), _) => Some(SmallVec::from_elem(n, 1)),
                    (None, Cond::And(items)) => items.iter().map(node_of).collect(),
                    (None, _) => None,
                };
                let parts: Vec<SmallVec<[usize; 2]>> = parts.iter().map(shape).collect::<Option<_>>()?;
                let or = SplitOr { complement: parts.iter().all(|nodes| nodes.len() == 1), parts };
                split.terms = split.terms.saturating_mul(or.terms());
                if split.terms > MAX_SPLIT_TERMS {
                    return None;
                }
                split.ors.push(or);
                Owned::Across(split.ors.len() - 1)
            }
            _ => return None,
        };
        split.conjuncts.push(owned);
    }
    Some(split)
}

/// The nodes a condition reads besides the root, ascending, each once.
fn nodes_read(c: &Cond, leaves: &[Leaf]) -> Vec<usize> {
    let mut nodes = Vec::new();
    reads(c, leaves, &mut nodes);
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// The one node of `nodes_read`'s answer (0, the root, for none); `None`
/// when there are several.
fn only_node(nodes: &[usize]) -> Option<usize> {
    match nodes {
        [] => Some(0),
        [n] => Some(*n),
        _ => None,
    }
}

/// The nodes a condition reads (negated parts read only the root).
fn reads(c: &Cond, leaves: &[Leaf], out: &mut Vec<usize>) {
    match c {
        Cond::Leaf(l) => {
            if leaves[*l].node != 0 {
                out.push(leaves[*l].node);
            }
        }
        Cond::And(items) | Cond::Or(items) => items.iter().for_each(|c| reads(c, leaves, out)),
        Cond::Not(_) => {}
    }
}

/// Compiles a filter call's condition for a query on `root`; `pin` is the
/// hop from a related manager's rows back over its own link rows.
///
/// # Errors
/// Bad paths, lookups and values (see `path::resolve`, `cond::compile`).
pub(crate) fn compile_scope(view: &View, root: TableId, pin: Option<Hop>, q: &Q) -> Result<Scope> {
    if let Some(path) = too_deep(q) {
        return Err(Error::Query {
            table: view.schema.table_name(root).to_owned(),
            path: path.to_owned(),
            reason: format!("a condition nests at most {MAX_Q_DEPTH} levels of and, or and not"),
        });
    }
    Compiler { view, root, pin, joins: std::cell::Cell::new(0) }.scope(q)
}

/// The most levels a condition may nest (`And`, `Or`, `Not` inside each
/// other). Compiling and evaluating a condition recurse once per level,
/// so an unbounded depth could overflow the stack; Django sets no limit,
/// SQLite's parser stops at 1,000 levels of expression. A chain of one
/// operator is one level however it was grouped (`Q`'s `&` and `|`
/// squash it).
pub(crate) const MAX_Q_DEPTH: usize = 64;

/// The most joins one filter call may make: a join node per distinct
/// prefix of its paths that ends in a multi-valued hop, counted over every
/// scope of the call (each negated part is one). Counting a scope's
/// bindings recurses once per node, and a negated part is counted inside
/// its parent's recursion, so this bounds the whole depth.
pub(crate) const MAX_FILTER_JOINS: usize = 256;

/// When `q` nests deeper than [`MAX_Q_DEPTH`]: the path of a leaf below
/// the limit (empty if there is none), for the error. Iterative, so any
/// depth is measured without recursion. O(size of `q`).
fn too_deep(q: &Q) -> Option<&str> {
    let mut stack = vec![(q, 0_usize)];
    let mut deep = false;
    while let Some((q, depth)) = stack.pop() {
        deep |= depth > MAX_Q_DEPTH;
        match &q.0 {
            QNode::Leaf(path, _) if depth > MAX_Q_DEPTH => return Some(path),
            QNode::Leaf(..) => {}
            QNode::And(items) | QNode::Or(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            QNode::Not(inner) => stack.push((inner, depth + 1)),
        }
    }
    deep.then_some("")
}

/// How an index finds rows of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IndexKind {
    PrimaryKey,
    Unique,
    Indexed,
    /// A link column of an auto-created through table: the junction.
    Junction,
}

/// An index probe: the rows of `table` whose `column` holds one of
/// `values` (distinct under the index's equality, so each row is found at
/// most once).
#[derive(Clone, Debug)]
pub(crate) struct Probe<'a> {
    pub(crate) table: TableId,
    pub(crate) column: u16,
    pub(crate) values: &'a [Value],
    pub(crate) kind: IndexKind,
}

/// The condition an access path establishes: top-level conjunct
/// `conjunct` (the leaf `leaf`) of filter call `filter`. Every item the
/// path yields satisfies it, with the join nodes of the leaf's path bound
/// by the walk, so it is never evaluated per candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub(crate) filter: usize,
    pub(crate) conjunct: usize,
    pub(crate) leaf: usize,
}

/// Where a run starts.
#[derive(Clone, Debug)]
pub(crate) enum Access<'a> {
    Scan,
    /// Probe, then walk `back` (the leaf's hops inverted, last first),
    /// yielding one item per path walked: one per binding of the anchor's
    /// join nodes, which is the anchor's multiplicity.
    Index {
        probe: Probe<'a>,
        back: Hops,
        anchor: Anchor,
    },
    Manager,
    ManagerCheck(Probe<'a>, Anchor),
}

impl Access<'_> {
    /// The condition the access path establishes, if any.
    pub(crate) fn anchor(&self) -> Option<Anchor> {
        match self {
            Access::Index { anchor, .. } | Access::ManagerCheck(_, anchor) => Some(*anchor),
            Access::Scan | Access::Manager => None,
        }
    }
}

/// A filter call as the query keeps it.
#[derive(Clone, Debug)]
pub(crate) struct Filter {
    pub(crate) scope: Scope,
    pub(crate) mode: Mode,
    /// The condition as given, for `explain`.
    pub(crate) q: Q,
}

/// How a filter call's bindings count toward a row's results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `filter`: once per binding that satisfies it (a row repeats per
    /// matching related row).
    Filter,
    /// Once if any binding satisfies it (Django's `Exists`): the row never
    /// repeats for it. It anchors an index walk only over single-valued
    /// hops: a walk across a multi-valued one reaches a row once per path.
    Exists,
    /// `exclude`: the row is dropped if any binding satisfies it.
    Exclude,
}

/// The index kind of `column` of `table`, if it has one.
pub(crate) fn index_kind(view: &View, table: TableId, column: u16) -> Option<IndexKind> {
    let def = view.schema.def(table);
    if column == 0 {
        return Some(IndexKind::PrimaryKey);
    }
    match def.kind {
        TableKind::AutoThrough(_) => Some(IndexKind::Junction),
        TableKind::Plain if view.tables[table.index()].is_indexed(column) => {
            Some(if def.columns[column as usize].unique { IndexKind::Unique } else { IndexKind::Indexed })
        }
        TableKind::Plain => None,
    }
}

/// Rows of `t` (the estimate unit).
fn rows(view: &View, t: TableId) -> f64 {
    view.count(t).unwrap_or(0) as f64
}

/// Expected rows reached per row by `hop`.
fn fanout(view: &View, hop: Hop) -> f64 {
    if !hop.is_multi() {
        return 1.0;
    }
    let schema = &view.schema;
    rows(view, hop.to(schema)) / rows(view, hop.from(schema)).max(1.0)
}

/// Expected rows a probe finds (exact for non-unique plain indexes).
fn probe_estimate(view: &View, p: &Probe) -> f64 {
    match p.kind {
        IndexKind::PrimaryKey | IndexKind::Unique => p.values.len() as f64,
        IndexKind::Indexed => p
            .values
            .iter()
            .map(|v| view.tables[p.table.index()].probe(p.column, v.as_ref()).map_or(0, Iterator::count))
            .sum::<usize>() as f64,
        IndexKind::Junction => {
            let TableKind::AutoThrough(r) = view.schema.def(p.table).kind else { return 0.0 };
            let rel = view.schema.rel(r);
            let side = if p.column == 1 { rel.source } else { rel.target };
            p.values.len() as f64 * rows(view, p.table) / rows(view, side).max(1.0)
        }
    }
}

/// The anchored leaves: top-level conjuncts of positive filters whose test
/// an index can answer (`exact` or `in`).
fn anchors(filters: &[Filter]) -> impl Iterator<Item = (Anchor, &Leaf)> + '_ {
    filters.iter().enumerate().filter(|(_, f)| f.mode != Mode::Exclude).flat_map(|(filter, f)| {
        f.scope.conjuncts.iter().enumerate().filter_map(move |(conjunct, c)| match c {
            // An `Exists` filter's leaf anchors a walk only over
            // single-valued hops, which reaches each row once.
            Cond::Leaf(l) if f.mode == Mode::Exists && f.scope.leaves[*l].hops.iter().any(|h| h.is_multi()) => None,
            Cond::Leaf(l) => Some((Anchor { filter, conjunct, leaf: *l }, &f.scope.leaves[*l])),
            _ => None,
        })
    })
}

fn leaf_probe<'a>(view: &View, leaf: &'a Leaf) -> Option<Probe<'a>> {
    let values = leaf.test.probe_values()?;
    let Terminal { table, column, .. } = leaf.terminal;
    let kind = index_kind(view, table, column)?;
    Some(Probe { table, column, values, kind })
}

/// Chooses the access path with the smallest estimated number of rows to
/// visit. `manager` is the related manager's degree, for related queries.
pub(crate) fn choose<'a>(view: &View, filters: &'a [Filter], manager: Option<usize>) -> (Access<'a>, f64) {
    let mut best = match manager {
        Some(degree) => (Access::Manager, degree as f64),
        None => (Access::Scan, f64::INFINITY),
    };
    for (anchor, leaf) in anchors(filters) {
        let Some(probe) = leaf_probe(view, leaf) else { continue };
        let mut est = probe_estimate(view, &probe);
        if manager.is_some() {
            // Related queries check candidates of the root table only: a
            // path back to the root may cross the manager's own link row.
            if leaf.hops.is_empty() && est < best.1 {
                best = (Access::ManagerCheck(probe, anchor), est);
            }
            continue;
        }
        for &h in leaf.hops.iter().rev() {
            est *= fanout(view, h.inverse());
        }
        if est < best.1 {
            let back = leaf.hops.iter().rev().map(|h| h.inverse()).collect();
            best = (Access::Index { probe, back, anchor }, est);
        }
    }
    best
}

fn describe_probe(view: &View, p: &Probe) -> String {
    let def = view.schema.def(p.table);
    let col = &def.columns[p.column as usize].name;
    let kind = match p.kind {
        IndexKind::PrimaryKey => "primary key",
        IndexKind::Unique => "unique index",
        IndexKind::Indexed => "index",
        IndexKind::Junction => "junction",
    };
    let values = match p.values {
        [v] => format!("= {v}"),
        vs => format!("in [{}]", vs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    format!("{kind} {}.{col} {values}", def.name)
}

/// `explain`'s first line.
pub(crate) fn describe_access(view: &View, root: TableId, access: &Access, est: f64, source: Option<&str>) -> String {
    let mut s = String::new();
    let root_name = view.schema.table_name(root);
    match access {
        Access::Scan => {
            let _ = write!(s, "scan {root_name} ({} rows)", rows(view, root));
        }
        Access::Index { probe, back, .. } => {
            let _ = write!(s, "probe {}", describe_probe(view, probe));
            if !back.is_empty() {
                let _ = write!(s, ", walk {}", describe_walk(&view.schema, probe.table, back));
            }
            let _ = write!(s, " (est. {} rows)", est.ceil());
        }
        Access::Manager => {
            let _ = write!(s, "related {}: walk its links ({est} rows)", source.unwrap_or("?"));
        }
        Access::ManagerCheck(probe, _) => {
            let _ = write!(
                s,
                "probe {}, keep rows linked to related {} (O(1) link check each)",
                describe_probe(view, probe),
                source.unwrap_or("?")
            );
        }
    }
    s
}
