//! Execution: hops over rows, the count of satisfying bindings of a
//! filter's join nodes for one root row, and the candidate rows of an
//! access path.
//!
//! The multiplicity of a root row under one filter is the number of ways
//! to bind each join node to one row reachable from its parent's row (or
//! to `NULL` when there is none: SQL's left join) such that the condition
//! holds. When every conjunct reads at most one node the count factors
//! over the node tree (`count = local conjuncts × Π children's sums`),
//! which costs O(reachable rows); otherwise bindings are enumerated, with
//! each conjunct checked as soon as the nodes it reads are bound.

use hashbrown::HashSet;
use smallvec::SmallVec;

use super::path::Hop;
use super::plan::{Access, Cond, Filter, IndexKind, Probe, Scope};
use crate::relation::Links;
use crate::schema::{RelId, TableId, TableKind};
use crate::txn::{End, Loc, View};
use crate::value::ValueRef;

/// A root row, and for related queries the manager's link row that
/// reached it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Item {
    pub(crate) loc: Loc,
    pub(crate) link: Option<Loc>,
}

type Locs = SmallVec<[Option<Loc>; 4]>;

/// The value of `column` of the row at `loc` of `table`. O(1).
pub(crate) fn value(view: &View, table: TableId, loc: Loc, column: u16) -> ValueRef<'_> {
    match loc {
        Loc::Slot(s) => view.tables[table.index()].get(s, column),
        _ => view.row_at(table, loc).value_at(column),
    }
}

fn slot(loc: Loc) -> Option<u32> {
    match loc {
        Loc::Slot(s) => Some(s),
        _ => None,
    }
}

/// Follows a single-valued hop. O(1).
pub(crate) fn follow(view: &View, hop: Hop, loc: Loc) -> Option<Loc> {
    let schema = &view.schema;
    match hop {
        Hop::FkForward(f) => {
            let fk = schema.fk(f);
            let id = value(view, fk.table, loc, fk.column).as_int()?;
            view.tables[fk.target.index()].slot_of(id).map(Loc::Slot)
        }
        Hop::LinkEnd { rel, to_target } => match loc {
            Loc::Pair(s, t) => Some(Loc::Slot(if to_target { t } else { s })),
            // A dangling link row (`db_constraint(false)`): one end may exist.
            _ => {
                let r = schema.rel(rel);
                let (end, col) = if to_target { (r.target, 2) } else { (r.source, 1) };
                let id = value(view, r.through, loc, col).as_int()?;
                view.tables[end.index()].slot_of(id).map(Loc::Slot)
            }
        },
        Hop::FkReverse(_) | Hop::Links { .. } => None,
    }
}

/// Appends every row `hop` reaches from `loc`. O(rows reached) expected.
pub(crate) fn expand(view: &View, hop: Hop, loc: Loc, out: &mut impl Extend<Loc>) {
    let schema = &view.schema;
    match hop {
        Hop::FkForward(_) | Hop::LinkEnd { .. } => out.extend(follow(view, hop, loc)),
        Hop::FkReverse(f) => {
            let fk = schema.fk(f);
            let id = view.row_at(fk.target, loc).id();
            if let Some(slots) = view.tables[fk.table.index()].probe(fk.column, ValueRef::Int(id)) {
                out.extend(slots.map(Loc::Slot));
            }
        }
        Hop::Links { rel, from_source } => {
            let Some(s) = slot(loc) else { return };
            let pairs = view.links[rel as usize].neighbours(s, from_source);
            if from_source {
                out.extend(pairs.map(|t| Loc::Pair(s, t)));
            } else {
                out.extend(pairs.map(|o| Loc::Pair(o, s)));
            }
            dangling(view, rel, from_source, view.row_at(hop.from(schema), loc).id(), out);
        }
    }
}

/// Appends the dangling link rows of `rel` (`db_constraint(false)`) whose
/// source (or target) id is `id`. O(dangling links of `rel`), nothing for
/// a constrained relation.
fn dangling(view: &View, rel: RelId, source: bool, id: i64, out: &mut impl Extend<Loc>) {
    let list = &view.dangling[rel as usize];
    out.extend(
        list.iter()
            .enumerate()
            .filter(|(_, &(a, b))| if source { a == id } else { b == id })
            .map(|(i, _)| Loc::Dangling(i as u32)),
    );
}

/// Runs a probe: every row of `p.table` whose `p.column` holds one of
/// `p.values`. O(1 + rows found) expected per value.
pub(crate) fn probe(view: &View, p: &Probe, out: &mut Vec<Loc>) {
    let schema = &view.schema;
    for v in &p.values {
        match p.kind {
            IndexKind::PrimaryKey => out.extend(v.as_int().and_then(|id| view.locate(p.table, id))),
            IndexKind::Unique | IndexKind::Indexed => {
                if let Some(slots) = view.tables[p.table.index()].probe(p.column, v.as_ref()) {
                    out.extend(slots.map(Loc::Slot));
                }
            }
            IndexKind::Junction => {
                let TableKind::AutoThrough(r) = schema.def(p.table).kind else { continue };
                let rel = schema.rel(r);
                let from_source = p.column == 1;
                let end = if from_source { rel.source } else { rel.target };
                let Some(id) = v.as_int() else { continue };
                match view.tables[end.index()].slot_of(id) {
                    Some(s) => expand(view, Hop::Links { rel: r, from_source }, Loc::Slot(s), out),
                    None => dangling(view, r, from_source, id, out),
                }
            }
        }
    }
}

/// The rows a node can bind to under `parent`, or `[None]` when there are
/// none (left join).
fn domain(view: &View, scope: &Scope, n: usize, parent: Option<Loc>, item: Item) -> Locs {
    let node = &scope.nodes[n - 1];
    let mut out = Locs::new();
    if node.pinned {
        out.push(item.link);
        return out;
    }
    let mut loc = parent;
    for &h in &node.pre {
        loc = loc.and_then(|l| follow(view, h, l));
    }
    if let Some(l) = loc {
        let mut found: SmallVec<[Loc; 4]> = SmallVec::new();
        expand(view, node.hop, l, &mut found);
        out.extend(found.into_iter().map(Some));
    }
    if out.is_empty() {
        out.push(None);
    }
    out
}

struct Eval<'v> {
    view: &'v View,
    item: Item,
}

impl Eval<'_> {
    fn leaf(&self, scope: &Scope, l: usize, bound: &[Option<Loc>]) -> bool {
        let leaf = &scope.leaves[l];
        let mut loc = bound[leaf.node];
        for &h in &leaf.tail {
            loc = loc.and_then(|x| follow(self.view, h, x));
        }
        let v = loc.map_or(ValueRef::Null, |x| value(self.view, leaf.table, x, leaf.column));
        leaf.test.eval(v)
    }

    fn cond(&self, scope: &Scope, c: &Cond, bound: &[Option<Loc>]) -> bool {
        match c {
            Cond::Leaf(l) => self.leaf(scope, *l, bound),
            Cond::And(items) => items.iter().all(|c| self.cond(scope, c, bound)),
            Cond::Or(items) => items.iter().any(|c| self.cond(scope, c, bound)),
            Cond::Not(inner) => self.count(inner, 1) == 0,
        }
    }

    /// The number of satisfying bindings, capped at `cap`.
    fn count(&self, scope: &Scope, cap: u64) -> u64 {
        let mut bound = vec![None; scope.nodes.len() + 1];
        bound[0] = Some(self.item.loc);
        match &scope.owner {
            Some(owner) => self.count_node(scope, owner, 0, &mut bound, cap),
            None => {
                // Conjuncts that read only the root first.
                if !self.ready(scope, 0, &bound) {
                    return 0;
                }
                self.enumerate(scope, 1, &mut bound, cap)
            }
        }
    }

    fn ready(&self, scope: &Scope, at: usize, bound: &[Option<Loc>]) -> bool {
        scope.conjuncts.iter().zip(&scope.ready).filter(|(_, &r)| r == at).all(|(c, _)| self.cond(scope, c, bound))
    }

    fn enumerate(&self, scope: &Scope, n: usize, bound: &mut Vec<Option<Loc>>, cap: u64) -> u64 {
        if n > scope.nodes.len() {
            return 1;
        }
        let parent = bound[scope.nodes[n - 1].parent];
        let mut total = 0u64;
        for b in domain(self.view, scope, n, parent, self.item) {
            bound[n] = b;
            if self.ready(scope, n, bound) {
                total = total.saturating_add(self.enumerate(scope, n + 1, bound, cap - total));
                if total >= cap {
                    break;
                }
            }
        }
        total
    }

    /// Factored count for node `n` already bound in `bound`.
    fn count_node(&self, scope: &Scope, owner: &[usize], n: usize, bound: &mut Vec<Option<Loc>>, cap: u64) -> u64 {
        let local = scope.conjuncts.iter().zip(owner).filter(|(_, &o)| o == n).all(|(c, _)| self.cond(scope, c, bound));
        if !local {
            return 0;
        }
        let mut product = 1u64;
        for &child in &scope.children[n] {
            let mut sum = 0u64;
            for b in domain(self.view, scope, child, bound[n], self.item) {
                bound[child] = b;
                sum = sum.saturating_add(self.count_node(scope, owner, child, bound, cap));
                if sum >= cap {
                    break;
                }
            }
            product = product.saturating_mul(sum.min(cap));
            if product == 0 {
                return 0;
            }
        }
        product.min(cap)
    }
}

/// The multiplicity of `item` under every filter, capped at `cap`. O(1)
/// per filter without relations; O(reachable rows) per filter with them.
pub(crate) fn multiplicity(view: &View, filters: &[Filter], item: Item, cap: u64) -> u64 {
    let eval = Eval { view, item };
    let mut m = 1u64;
    for f in filters {
        if f.exclude {
            if eval.count(&f.scope, 1) > 0 {
                return 0;
            }
        } else {
            let c = eval.count(&f.scope, cap);
            if c == 0 {
                return 0;
            }
            m = m.saturating_mul(c).min(cap);
        }
    }
    m
}

/// The link rows of a related manager's row `end`, with the rows at the
/// other end. O(degree).
pub(crate) fn manager_items(view: &View, end: &End, out: &mut Vec<Item>) {
    use crate::schema::AccessorKind;
    let me = end.slot;
    match end.kind {
        AccessorKind::Forward(r) | AccessorKind::Reverse(r) => {
            let forward = matches!(end.kind, AccessorKind::Forward(_));
            match &view.links[r as usize] {
                Links::Auto(_) => {
                    let nodes = view.links[r as usize].neighbours(me, forward);
                    out.extend(nodes.map(|o| Item {
                        loc: Loc::Slot(o),
                        link: Some(if forward { Loc::Pair(me, o) } else { Loc::Pair(o, me) }),
                    }));
                }
                Links::Custom(j) => {
                    let entries = if forward { j.targets(me) } else { j.sources(me) };
                    out.extend(
                        entries.iter().map(|e| Item { loc: Loc::Slot(e.node), link: Some(Loc::Slot(e.payload)) }),
                    );
                }
            }
        }
        AccessorKind::FkReverse(f) => {
            let mut locs = Vec::new();
            expand(view, Hop::FkReverse(f), Loc::Slot(me), &mut locs);
            out.extend(locs.into_iter().map(|l| Item { loc: l, link: Some(l) }));
        }
    }
}

/// The manager's link rows between its row and `candidate`. O(1 + links)
/// expected.
pub(crate) fn links_to(view: &View, end: &End, candidate: Loc, out: &mut Vec<Item>) {
    use crate::schema::AccessorKind;
    let Some(c) = slot(candidate) else { return };
    let me = end.slot;
    match end.kind {
        AccessorKind::Forward(r) | AccessorKind::Reverse(r) => {
            let (s, t) = if matches!(end.kind, AccessorKind::Forward(_)) { (me, c) } else { (c, me) };
            match &view.links[r as usize] {
                Links::Auto(j) => {
                    if j.find(s, t).is_some() {
                        out.push(Item { loc: candidate, link: Some(Loc::Pair(s, t)) });
                    }
                }
                Links::Custom(j) => {
                    for p in j.find_all(s, t) {
                        let through = j.targets(s)[p as usize].payload;
                        out.push(Item { loc: candidate, link: Some(Loc::Slot(through)) });
                    }
                }
            }
        }
        AccessorKind::FkReverse(f) => {
            let fk = view.schema.fk(f);
            if value(view, fk.table, candidate, fk.column) == ValueRef::Int(end.key.id()) {
                out.push(Item { loc: candidate, link: Some(candidate) });
            }
        }
    }
}

/// The candidate root items of an access path, each root row once (per
/// link row, for related queries).
pub(crate) fn candidates(view: &View, root: TableId, access: &Access, end: Option<&End>) -> Vec<Item> {
    let mut items = Vec::new();
    match access {
        Access::Scan => items.extend(view.scan_locs(root).map(|loc| Item { loc, link: None })),
        Access::Manager => {
            if let Some(end) = end {
                manager_items(view, end, &mut items);
            }
        }
        Access::ManagerCheck(p) => {
            let mut locs = Vec::new();
            probe(view, p, &mut locs);
            dedup(view, p.table, &mut locs);
            if let Some(end) = end {
                for l in locs {
                    links_to(view, end, l, &mut items);
                }
            }
        }
        Access::Index { probe: p, back } => {
            let mut locs = Vec::new();
            probe(view, p, &mut locs);
            let mut table = p.table;
            for &h in back {
                dedup(view, table, &mut locs);
                let mut next = Vec::with_capacity(locs.len());
                for l in locs {
                    expand(view, h, l, &mut next);
                }
                locs = next;
                table = h.to(&view.schema);
            }
            dedup(view, table, &mut locs);
            items.extend(locs.into_iter().map(|loc| Item { loc, link: None }));
        }
    }
    items
}

/// Removes repeated rows, keeping first occurrences. O(n) expected.
fn dedup(view: &View, table: TableId, locs: &mut Vec<Loc>) {
    if locs.len() < 2 {
        return;
    }
    let mut seen = HashSet::with_capacity(locs.len());
    locs.retain(|&l| seen.insert(view.row_at(table, l).id()));
}
