//! Graph-shaped reads the junction makes cheap: the rows within k hops
//! over a self relation, the distinct ends of walks of exactly k steps
//! (friends of friends), the transitive closure with a depth bound, and
//! the choices of a relation's `limit_choices_to`. Traversals go level by
//! level over slots, O(visited rows + visited edges), with a hash set of
//! visited slots (no O(table) allocation).
//!
//! A level's rows are random rows of the table, so each list is a cache
//! miss for its header and another for its nodes, and read one after
//! another those misses do not overlap. A level is therefore expanded in
//! windows of [`WINDOW`] rows: the window's headers are read first (their
//! lengths size the visited set; independent loads, whose misses the core
//! overlaps) and the first lines of every row's nodes prefetched, then the
//! window's rows are walked. See `docs/design.md`, thirteenth session, for
//! what it measured.

use hashbrown::HashSet;

use super::exec::each_reached;
use super::path::Hop;
use super::Query;
use crate::error::{Error, Result};
use crate::relation::prefetch::{prefetch_lines, WORDS_PER_LINE};
use crate::schema::{Accessor, AccessorKind};
use crate::txn::{Key, Loc, TableRef, View};

/// Rows of a level whose lists are loaded ahead together: enough misses in
/// flight to cover a memory latency, few enough that their lines (at most
/// [`LINES_AHEAD`] each, 16 KiB in all) are still in the first-level cache
/// when they are walked.
const WINDOW: usize = 64;

/// Lines of a list's nodes prefetched ahead of its walk: a long list's
/// later lines are streamed by the hardware prefetcher once it is walked.
const LINES_AHEAD: usize = 4;

impl View {
    /// Checks that `accessor` starts at `start`'s table and leads back to
    /// it; returns the start slot.
    fn self_relation(&self, start: Key, accessor: Accessor) -> Result<u32> {
        let end = self.end(start, accessor)?;
        if end.other != start.table() {
            return Err(Error::Unsupported {
                table: self.table_name(start.table()).to_owned(),
                reason: format!(
                    "traversals follow a relation from a table to itself, and this accessor leads to {:?}",
                    self.table_name(end.other)
                ),
            });
        }
        Ok(end.slot)
    }

    /// Calls `f` with every slot one step from `slot`. No allocation.
    fn each_neighbour(&self, accessor: Accessor, slot: u32, mut f: impl FnMut(u32)) {
        match accessor.kind {
            AccessorKind::Forward(r) => self.links[r as usize].neighbours(slot, true).for_each(f),
            AccessorKind::Reverse(r) => self.links[r as usize].neighbours(slot, false).for_each(f),
            AccessorKind::FkReverse(fk) => {
                each_reached(self, Hop::FkReverse(fk), Loc::Slot(slot), |l| {
                    if let Loc::Slot(s) = l {
                        f(s);
                    }
                    true
                });
            }
        }
    }

    /// Appends to `next` every row one step from a row of `frontier` that
    /// `seen` does not hold yet, and adds it to `seen`: the next level of a
    /// traversal, in the order its rows are first reached. A junction's
    /// lists are loaded [`WINDOW`] rows at a time: each row's header is
    /// read (independent loads, whose misses overlap) and the first lines
    /// of its nodes prefetched, then the window's rows are walked; `seen`
    /// and `next` are sized from the window's degrees before its walk, so
    /// neither grows mid-walk. O(frontier + edges walked) expected.
    fn expand(&self, accessor: Accessor, frontier: &[u32], seen: &mut HashSet<u32>, next: &mut Vec<u32>) {
        let (links, forward) = match accessor.kind {
            AccessorKind::Forward(r) => (&self.links[r as usize], true),
            AccessorKind::Reverse(r) => (&self.links[r as usize], false),
            AccessorKind::FkReverse(_) => {
                for &s in frontier {
                    self.each_neighbour(accessor, s, |n| {
                        if seen.insert(n) {
                            next.push(n);
                        }
                    });
                }
                return;
            }
        };
        for window in frontier.chunks(WINDOW) {
            let mut edges = 0;
            for &s in window {
                let nodes = links.neighbour_slots(s, forward);
                edges += nodes.len();
                prefetch_lines(&nodes[..nodes.len().min(LINES_AHEAD * WORDS_PER_LINE)]);
            }
            seen.reserve(edges);
            next.reserve(edges);
            for &s in window {
                for &n in links.neighbour_slots(s, forward) {
                    if seen.insert(n) {
                        next.push(n);
                    }
                }
            }
        }
    }

    /// Breadth-first search from `start`: `(slot, depth)` of each row first
    /// reached within `max_depth` steps, nearest first. `include_start`
    /// lets the start row be reached again through a cycle. Each level is
    /// a frontier of slots, expanded by [`expand`](Self::expand) with one
    /// visited set for the whole search.
    fn bfs(&self, start: u32, accessor: Accessor, max_depth: usize, include_start: bool) -> Vec<(u32, usize)> {
        let mut seen: HashSet<u32> = HashSet::new();
        if !include_start {
            seen.insert(start);
        }
        let mut found: Vec<(u32, usize)> = Vec::new();
        let (mut frontier, mut next) = (vec![start], Vec::new());
        for depth in 1..=max_depth {
            self.expand(accessor, &frontier, &mut seen, &mut next);
            if next.is_empty() {
                break;
            }
            found.extend(next.iter().map(|&n| (n, depth)));
            std::mem::swap(&mut frontier, &mut next);
            next.clear();
        }
        found
    }

    /// The distinct rows within `hops` steps of `start` over a relation
    /// from a table to itself (`hops = 2` over `friends`: friends and
    /// friends of friends), nearest first, `start` itself excluded.
    /// `accessor` is resolved once with
    /// [`Schema::accessor`](crate::Schema::accessor): a many-to-many field,
    /// its reverse accessor, or a foreign key's reverse accessor (a tree's
    /// children). O(visited rows + visited edges).
    ///
    /// # Errors
    /// [`Error::WrongTable`] when the accessor belongs to another table,
    /// [`Error::NotFound`] when `start` names no row,
    /// [`Error::Unsupported`] when the accessor leads to another table.
    pub fn within_hops(&self, start: Key, accessor: Accessor, hops: usize) -> Result<Vec<Key>> {
        let slot = self.self_relation(start, accessor)?;
        let t = &self.tables[start.table().index()];
        Ok(self
            .bfs(slot, accessor, hops, false)
            .into_iter()
            .map(|(s, _)| Key::new(start.table(), t.live_id(s)))
            .collect())
    }

    /// The distinct rows at the end of a walk of exactly `steps` steps from
    /// `start` over a relation from a table to itself, `start` itself
    /// excluded: with `steps = 2` over `friends`, the friends of friends
    /// (a friend of `start` is among them only if it is also a friend of
    /// another friend). Unlike [`within_hops`](Self::within_hops), a row
    /// nearer than `steps` is an end too when a longer walk reaches it.
    /// Rows come in the order they are first reached. `accessor` as in
    /// `within_hops`. O(steps × edges of the rows reached), the rows of
    /// each level counted once.
    ///
    /// # Errors
    /// As [`within_hops`](Self::within_hops).
    pub fn walk_ends(&self, start: Key, accessor: Accessor, steps: usize) -> Result<Vec<Key>> {
        let slot = self.self_relation(start, accessor)?;
        let mut seen: HashSet<u32> = HashSet::new();
        let (mut frontier, mut next) = (vec![slot], Vec::new());
        for _ in 0..steps {
            // Each level's rows are distinct; a row may be on several.
            seen.clear();
            self.expand(accessor, &frontier, &mut seen, &mut next);
            std::mem::swap(&mut frontier, &mut next);
            next.clear();
            if frontier.is_empty() {
                break;
            }
        }
        let t = &self.tables[start.table().index()];
        Ok(frontier.into_iter().filter(|&s| s != slot).map(|s| Key::new(start.table(), t.live_id(s))).collect())
    }

    /// The transitive closure from `start` over a relation from a table to
    /// itself, at most `max_depth` steps deep (`usize::MAX` for no bound):
    /// every row reachable in one or more steps, with its distance, nearest
    /// first. `start` is included (at the length of its shortest cycle)
    /// only when a cycle leads back to it. O(visited rows + visited edges).
    ///
    /// # Errors
    /// As [`within_hops`](Self::within_hops).
    pub fn closure(&self, start: Key, accessor: Accessor, max_depth: usize) -> Result<Vec<(Key, usize)>> {
        let slot = self.self_relation(start, accessor)?;
        let t = &self.tables[start.table().index()];
        Ok(self
            .bfs(slot, accessor, max_depth, true)
            .into_iter()
            .map(|(s, d)| (Key::new(start.table(), t.live_id(s)), d))
            .collect())
    }

    /// The rows offered as choices for the many-to-many field `field` of
    /// `table`: the target rows that satisfy its `limit_choices_to`
    /// conditions (all of them, in one filter call), as a query to refine
    /// or run. Like Django, the engine does **not** check writes against
    /// `limit_choices_to`: `add` links any target row. O(1) to build.
    ///
    /// # Errors
    /// [`Error::UnknownTable`], [`Error::UnknownAccessor`],
    /// [`Error::Unsupported`] for a reverse accessor, and
    /// [`Error::Query`] (or a value error) when a `limit_choices_to` path
    /// is bad (they are resolved here, not when the schema is built).
    pub fn choices(&self, table: impl TableRef, field: &str) -> Result<Query<'_>> {
        let t = table.resolve(&self.schema)?;
        let def = self.schema.def(t);
        let acc = def.accessor(field).ok_or_else(|| Error::UnknownAccessor {
            table: def.name.clone(),
            name: field.to_owned(),
            choices: def.accessors.iter().map(|(n, _)| n.clone()).collect(),
        })?;
        let AccessorKind::Forward(r) = acc.kind else {
            return Err(Error::Unsupported {
                table: def.name.clone(),
                reason: format!("{field:?} is a reverse accessor; choices belong to the many-to-many field that declares limit_choices_to"),
            });
        };
        let rel = self.schema.rel(r);
        let q = self.query(rel.target)?;
        if rel.limit_choices_to.is_empty() {
            return Ok(q);
        }
        q.filter_all(rel.limit_choices_to.iter().map(|(p, v)| (p.as_str(), v.clone())))
    }
}
