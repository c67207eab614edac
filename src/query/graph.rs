//! Graph-shaped reads the junction makes cheap: the rows within k hops
//! over a self relation (friends of friends), the transitive closure with
//! a depth bound, and the choices of a relation's `limit_choices_to`.
//! Traversals are breadth-first over slots, O(visited rows + visited
//! edges), with a hash set of visited slots (no O(table) allocation).

use hashbrown::HashSet;

use super::exec::each_reached;
use super::path::Hop;
use super::Query;
use crate::error::{Error, Result};
use crate::schema::{Accessor, AccessorKind};
use crate::txn::{Key, Loc, TableRef, View};

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

    /// The number of rows one step from `slot`, to size buffers (0 for a
    /// foreign key's reverse accessor, whose rows are probed, not counted).
    /// O(1).
    fn degree(&self, accessor: Accessor, slot: u32) -> usize {
        match accessor.kind {
            AccessorKind::Forward(r) => self.links[r as usize].degree(slot, true),
            AccessorKind::Reverse(r) => self.links[r as usize].degree(slot, false),
            AccessorKind::FkReverse(_) => 0,
        }
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

    /// Breadth-first search from `start`: `(slot, depth)` of each row first
    /// reached within `max_depth` steps. `include_start` lets the start row
    /// be reached again through a cycle. The rows found are the queue (a
    /// level is a range of them); the visited set is sized once per level
    /// from the frontier's degrees, so it never rehashes mid-level.
    fn bfs(&self, start: u32, accessor: Accessor, max_depth: usize, include_start: bool) -> Vec<(u32, usize)> {
        let mut seen: HashSet<u32> = HashSet::with_capacity(self.degree(accessor, start) + 1);
        if !include_start {
            seen.insert(start);
        }
        let mut found: Vec<(u32, usize)> = Vec::with_capacity(self.degree(accessor, start));
        let mut level = 0..0;
        for depth in 1..=max_depth {
            if depth > 1 {
                let edges: usize = found[level.clone()].iter().map(|&(s, _)| self.degree(accessor, s)).sum();
                seen.reserve(edges);
                found.reserve(edges);
            }
            let len = found.len();
            let mut visit = |s: u32, found: &mut Vec<(u32, usize)>| {
                self.each_neighbour(accessor, s, |n| {
                    if seen.insert(n) {
                        found.push((n, depth));
                    }
                });
            };
            if depth == 1 {
                visit(start, &mut found);
            } else {
                for i in level.clone() {
                    let s = found[i].0;
                    visit(s, &mut found);
                }
            }
            if found.len() == len {
                break;
            }
            level = len..found.len();
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
            .map(|(s, _)| Key::new(start.table(), t.id_at(s)))
            .collect())
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
            .map(|(s, d)| (Key::new(start.table(), t.id_at(s)), d))
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
