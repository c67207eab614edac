//! Graph-shaped reads the junction makes cheap: the rows within k hops
//! over a self relation, the distinct ends of walks of exactly k steps
//! (friends of friends), the transitive closure with a depth bound, and
//! the choices of a relation's `limit_choices_to`. Traversals go level by
//! level over slots (O(visited rows + visited edges), and for `walk_ends`
//! O(k × edges)), marking visited slots in a bitmap that the thread keeps
//! between traversals (see [`Visited`]), so that no traversal allocates in
//! proportion to the table but a thread's first over it. The thread also
//! keeps its two level vectors while their capacity is at most
//! [`LEVEL_KEEP`] entries each, so a walk's levels allocate nothing once
//! one as wide has run (a level needs room for its rows plus a window's
//! nodes before repeats are dropped).
//!
//! A level's rows are random rows of the table, so over a many-to-many
//! relation each list is a cache miss for its header and another for its
//! nodes, and read one after another those misses do not overlap. Such a
//! level is therefore expanded in windows of [`WINDOW`] rows: the window's
//! headers are read first (their lengths size the visited set; independent
//! loads, whose misses the core overlaps) and the first lines of every
//! row's nodes prefetched, then the window's rows are walked. (A foreign
//! key's reverse accessor probes its index row by row.) See
//! `docs/design.md`, thirteenth session, for what it measured.

use std::cell::Cell;

use hashbrown::HashSet;

use super::exec::each_reached;
use super::path::Hop;
use super::{Query, Q};
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

/// Tables of at most this many slots keep a traversal's visited rows in a
/// bitmap (2 MiB at most), larger ones in a hash set.
const BITMAP_SLOTS: usize = 1 << 24;

/// Level vectors with room for at most this many entries go back to the
/// thread after a traversal (256 KiB each); larger ones are freed.
const LEVEL_KEEP: usize = 1 << 16;

thread_local! {
    /// The thread's visited bitmap between traversals, every bit clear.
    static SCRATCH: Cell<Vec<u64>> = const { Cell::new(Vec::new()) };
    /// The thread's two level vectors between traversals, empty: a
    /// traversal's levels then allocate nothing once the thread has made
    /// room as large.
    static LEVELS: Cell<(Vec<u32>, Vec<u32>)> = const { Cell::new((Vec::new(), Vec::new())) };
}

/// The thread's two level vectors, empty (fresh ones while its locals
/// are torn down). O(1).
fn lend_levels() -> (Vec<u32>, Vec<u32>) {
    LEVELS.try_with(Cell::take).unwrap_or_default()
}

/// Gives level vectors back to the thread, emptied, unless one has room
/// for more than [`LEVEL_KEEP`] entries (then both are freed, so a
/// traversal of a large table does not leave its levels' memory behind).
/// O(1).
fn give_back_levels(mut a: Vec<u32>, mut b: Vec<u32>) {
    if a.capacity() > LEVEL_KEEP || b.capacity() > LEVEL_KEEP {
        return;
    }
    a.clear();
    b.clear();
    let _ = LEVELS.try_with(|levels| levels.set((a, b)));
}

/// The rows a traversal has reached. A bit per slot costs a traversal a
/// load and a store per row where a hash set costs a hash and a probe
/// (about 60 instructions): the bitmap is the thread's scratch, lent for
/// one traversal and given back with every bit clear, so it is zeroed
/// once per thread, not once per traversal. See `docs/design.md`,
/// thirteenth session.
enum Visited {
    /// The thread's scratch, one bit per slot of the table at least; the
    /// bits set are those of the slots marked (by [`insert`](Self::insert)
    /// or [`keep_new`](Self::keep_new)) since it was lent or
    /// [`clear`](Self::clear) last cleared them.
    Bits(Vec<u64>),
    Set(HashSet<u32>),
}

/// Whether this thread's traversals must use the hash set: tests run both
/// forms on the same small tables.
#[cfg(test)]
fn set_only() -> bool {
    tests::SET_ONLY.with(Cell::get)
}

#[cfg(not(test))]
#[inline(always)]
fn set_only() -> bool {
    false
}

impl Visited {
    /// Room for the rows of a table of `slots` slots. O(1), or O(slots)
    /// the first time a thread traverses a table this large.
    fn for_slots(slots: usize) -> Visited {
        if slots > BITMAP_SLOTS || set_only() {
            return Visited::Set(HashSet::new());
        }
        // No scratch while the thread's locals are torn down: a fresh one.
        let mut bits = SCRATCH.try_with(Cell::take).unwrap_or_default();
        let words = slots.div_ceil(64);
        if bits.len() < words {
            bits.resize(words, 0);
        }
        Visited::Bits(bits)
    }

    /// Marks `slot` reached; whether it was not before. O(1) expected.
    #[inline(always)]
    fn insert(&mut self, slot: u32) -> bool {
        self.keep_new(&mut [slot]) == 1
    }

    /// Marks every row of `slots` reached and moves those not reached
    /// before to the front of `slots`, in order; returns how many there
    /// are. Each row is copied and then kept or not: no branch on whether
    /// it is new, whose answer is random. O(slots).
    #[inline(always)]
    fn keep_new(&mut self, slots: &mut [u32]) -> usize {
        let mut kept = 0;
        match self {
            Visited::Bits(bits) => {
                let mut i = 0;
                while i < slots.len() {
                    // The words as a slice, so that their address and
                    // length stay in registers through the loop.
                    let words = bits.as_mut_slice();
                    while let Some(&slot) = slots.get(i) {
                        let Some(word) = words.get_mut(slot as usize / 64) else {
                            break;
                        };
                        let (old, bit) = (*word, 1u64 << (slot % 64));
                        *word = old | bit;
                        // `kept <= i`: a copy within the slice.
                        slots[kept] = slot;
                        kept += usize::from(old & bit == 0);
                        i += 1;
                    }
                    if let Some(&slot) = slots.get(i) {
                        // Not for a row of the table the bitmap was sized
                        // for: it grows, and the walk goes on.
                        bits.resize(slot as usize / 64 + 1, 0);
                    }
                }
            }
            Visited::Set(set) => {
                for i in 0..slots.len() {
                    let slot = slots[i];
                    slots[kept] = slot;
                    kept += usize::from(set.insert(slot));
                }
            }
        }
        kept
    }

    /// Room for `more` rows without growing mid-walk (a set's only).
    fn reserve(&mut self, more: usize) {
        if let Visited::Set(set) = self {
            set.reserve(more);
        }
    }

    /// Unmarks every row: `marked` must hold every slot marked since the
    /// last `clear` (it may hold others). O(marked) for the bitmap, O(the
    /// set's capacity) for a set.
    fn clear(&mut self, marked: &[u32]) {
        match self {
            Visited::Bits(bits) => {
                // Every bit set is a marked slot's, so the word of a
                // marked slot is cleared whole.
                let words = bits.as_mut_slice();
                for &s in marked {
                    if let Some(w) = words.get_mut(s as usize / 64) {
                        *w = 0;
                    }
                }
            }
            Visited::Set(set) => set.clear(),
        }
    }

    /// Gives the bitmap back to the thread, every bit clear: `marked` as
    /// in [`clear`](Self::clear). A traversal that stops without coming
    /// here (a panic) drops its bitmap instead, so no set bit is ever lent.
    /// (`tests` check the bitmap comes back clear; a check here would cost
    /// every traversal of a debug build O(table).)
    fn finish(mut self, marked: &[u32]) {
        self.clear(marked);
        if let Visited::Bits(bits) = self {
            // During the thread's teardown the bitmap is dropped instead.
            let _ = SCRATCH.try_with(|scratch| scratch.set(bits));
        }
    }
}

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
    /// neither grows mid-walk. A foreign key's reverse accessor probes its
    /// index row by row. O(frontier + edges walked) expected.
    fn expand(&self, accessor: Accessor, frontier: &[u32], seen: &mut Visited, next: &mut Vec<u32>) {
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
        // The window's lists, found once.
        let mut lists: [&[u32]; WINDOW] = [&[]; WINDOW];
        for window in frontier.chunks(WINDOW) {
            let lists = &mut lists[..window.len()];
            let mut edges = 0;
            for (list, &s) in lists.iter_mut().zip(window) {
                let nodes = links.neighbour_slots(s, forward);
                edges += nodes.len();
                prefetch_lines(&nodes[..nodes.len().min(LINES_AHEAD * WORDS_PER_LINE)]);
                *list = nodes;
            }
            seen.reserve(edges);
            // The window's nodes are copied to the end, then those
            // reached before are dropped from there.
            let start = next.len();
            next.reserve(edges);
            for &nodes in lists.iter() {
                next.extend_from_slice(nodes);
            }
            let kept = seen.keep_new(&mut next[start..]);
            next.truncate(start + kept);
        }
    }

    /// Breadth-first search from `start` over a table of `table_slots` slots:
    /// the rows first reached within `max_depth` steps, nearest first, and
    /// where each depth's rows end among them (`ends[d - 1]` for depth
    /// `d`). `include_start` lets the start row be reached again through a
    /// cycle. Each level is a frontier of slots, expanded by
    /// [`expand`](Self::expand) with one visited set for the whole search.
    fn bfs(
        &self,
        table_slots: usize,
        start: u32,
        accessor: Accessor,
        max_depth: usize,
        include_start: bool,
    ) -> (Vec<u32>, Vec<usize>) {
        let mut seen = Visited::for_slots(table_slots);
        if !include_start {
            seen.insert(start);
        }
        let (mut found, mut ends) = (Vec::new(), Vec::new());
        let (mut frontier, mut next) = lend_levels();
        frontier.push(start);
        for _ in 0..max_depth {
            self.expand(accessor, &frontier, &mut seen, &mut next);
            if next.is_empty() {
                break;
            }
            found.extend_from_slice(&next);
            ends.push(found.len());
            std::mem::swap(&mut frontier, &mut next);
            next.clear();
        }
        seen.clear(&[start]);
        seen.finish(&found);
        give_back_levels(frontier, next);
        (found, ends)
    }

    /// The distinct rows within `hops` steps of `start` over a relation
    /// from a table to itself (`hops = 2` over `friends`: friends and
    /// friends of friends), nearest first, `start` itself excluded.
    /// `accessor` is resolved once with
    /// [`Schema::accessor`](crate::Schema::accessor): a many-to-many field,
    /// its reverse accessor, or a foreign key's reverse accessor (a tree's
    /// children). O(visited rows + visited edges). Between traversals the
    /// thread keeps a bitmap of one bit per slot of the largest table it
    /// has traversed (up to 2^24 slots, 2 MiB; larger tables use a hash
    /// set), which its first traversal of that table zeroes, and two level
    /// vectors while each has room for at most 65,536 entries (512 KiB in
    /// all; larger ones are freed).
    ///
    /// # Errors
    /// [`Error::UnknownAccessor`] for an accessor of another schema,
    /// [`Error::UnknownTable`] for a key of another schema,
    /// [`Error::WrongTable`] when the accessor belongs to another table,
    /// [`Error::NotFound`] when `start` names no row,
    /// [`Error::Unsupported`] when the accessor leads to another table.
    pub fn within_hops(&self, start: Key, accessor: Accessor, hops: usize) -> Result<Vec<Key>> {
        let slot = self.self_relation(start, accessor)?;
        let t = &self.tables[start.table().index()];
        let (found, _) = self.bfs(t.slot_count(), slot, accessor, hops, false);
        let mut keys = Vec::with_capacity(found.len());
        t.extend_live_ids(&found, &mut keys, |id| Key::new(start.table(), id));
        Ok(keys)
    }

    /// The distinct rows at the end of a walk of exactly `steps` steps from
    /// `start` over a relation from a table to itself, `start` itself
    /// excluded: with `steps = 2` over `friends`, the friends of friends (a
    /// row is an end when a row one step from `start` links to it, so a
    /// friend is one only when another friend, or a self-link, reaches
    /// it). Unlike [`within_hops`](Self::within_hops), a row nearer than
    /// `steps` is an end too when a longer walk reaches it. Rows come in
    /// the order they are first reached. `accessor` as in `within_hops`.
    ///
    /// O(levels × edges of the rows reached), the rows of each level
    /// counted once, where the levels walked are at most `steps`, and fewer
    /// once levels repeat: each level (as an ordered list) follows from the
    /// one before alone, so around cycles the levels come back to one met
    /// before and from there repeat. A walk of more than two steps watches
    /// for that (Brent's cycle detection: a saved level, compared with each
    /// new one, and copied afresh after 1, 2, 4, ... levels) and, once a
    /// level repeats `p` levels on, skips whole periods of `p`. So a walk
    /// whose levels repeat from level `m` on with period `p` expands fewer
    /// than `2 × max(m + 1, p) + 2p` levels whatever `steps` is, so
    /// `steps = usize::MAX` finishes too. A walk that reaches an empty
    /// level stops there.
    ///
    /// # Errors
    /// As [`within_hops`](Self::within_hops).
    pub fn walk_ends(&self, start: Key, accessor: Accessor, steps: usize) -> Result<Vec<Key>> {
        let slot = self.self_relation(start, accessor)?;
        let t = &self.tables[start.table().index()];
        let mut seen = Visited::for_slots(t.slot_count());
        let mut step = |frontier: &mut Vec<u32>, next: &mut Vec<u32>| {
            next.clear();
            self.expand(accessor, frontier, &mut seen, next);
            // Each level's rows are distinct; a row may be on several.
            seen.clear(next);
            std::mem::swap(frontier, next);
        };
        let (mut frontier, mut next) = lend_levels();
        frontier.push(slot);
        // Brent's detection: `saved` is the level `since` levels back; it
        // is replaced by the level at hand whenever `since` reaches
        // `power`, which then doubles.
        // Shorter walks (friends of friends) neither compare nor allocate.
        let watch = steps > 2;
        let mut saved = if watch { frontier.clone() } else { Vec::new() };
        let (mut since, mut power) = (0_usize, 1_usize);
        let mut done = 0;
        while done < steps && !frontier.is_empty() {
            step(&mut frontier, &mut next);
            done += 1;
            if !watch {
                continue;
            }
            since += 1;
            if frontier == saved {
                // Level `done` is level `done - since`, so every level
                // repeats `since` levels on from here.
                for _ in 0..(steps - done) % since {
                    step(&mut frontier, &mut next);
                }
                break;
            }
            if since == power {
                saved.clone_from(&frontier);
                (since, power) = (0, power.saturating_mul(2));
            }
        }
        seen.finish(&[]);
        // A level holds a row once, so the start row at most once; the
        // rows before it and after it are copied as they are.
        let (before, after) = match frontier.iter().position(|&s| s == slot) {
            Some(p) => (&frontier[..p], &frontier[p + 1..]),
            None => (&frontier[..], &[][..]),
        };
        let mut ends = Vec::with_capacity(before.len() + after.len());
        let table = start.table();
        for part in [before, after] {
            t.extend_live_ids(part, &mut ends, |id| Key::new(table, id));
        }
        give_back_levels(frontier, next);
        Ok(ends)
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
        let (found, ends) = self.bfs(t.slot_count(), slot, accessor, max_depth, true);
        let depth = |i: usize| ends.partition_point(|&end| end <= i) + 1;
        Ok(found.iter().enumerate().map(|(i, &s)| (Key::new(start.table(), t.live_id(s)), depth(i))).collect())
    }

    /// The rows offered as choices for the many-to-many field `field` of
    /// `table`: the target rows that satisfy its `limit_choices_to`
    /// conditions (all of them, in one filter call), each row once, as a
    /// query to refine or run. Like Django, the engine does **not** check writes against
    /// `limit_choices_to`: `add` links any target row. O(the table's
    /// accessors) to find `field` (searched for among them, as
    /// [`Schema::accessor`](crate::Schema::accessor) does), plus resolving
    /// `limit_choices_to` as [`Query::filter_q`] resolves a condition.
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
        // Each row once: a condition across a multi-valued relation would
        // offer a row once per matching related row (Django filters with
        // `Exists`). Not `distinct`, which would merge equal values of a
        // projection.
        q.filter_exists(Q::all(rel.limit_choices_to.iter().map(|(p, v)| Q::new(p.as_str(), v.clone()))))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::{Visited, SCRATCH};
    use crate::splitmix::Rng;
    use crate::{row, Database, Error, Key, OnDelete, Schema, View};
    use hashbrown::HashSet;

    thread_local! {
        /// Set by a test to make this thread's traversals use the hash set.
        pub(super) static SET_ONLY: Cell<bool> = const { Cell::new(false) };
    }

    /// Every traversal's answer from each of `starts`, 0 to 4 steps, in
    /// the engine's order.
    fn answers(v: &View, starts: &[Key], accessor: crate::Accessor) -> Vec<Vec<(Key, usize)>> {
        let mut out = Vec::new();
        for &start in starts {
            for k in 0..5 {
                out.push(v.walk_ends(start, accessor, k).unwrap().into_iter().map(|key| (key, k)).collect());
                out.push(v.within_hops(start, accessor, k).unwrap().into_iter().map(|key| (key, k)).collect());
                out.push(v.closure(start, accessor, k).unwrap());
            }
        }
        out
    }

    /// The bitmap and the hash set give the same answers, order included,
    /// over a many-to-many relation with levels wider than a window and
    /// over a foreign key's reverse accessor with a cycle; rows deleted and
    /// slots reused so that ids are not slots.
    #[test]
    fn both_visited_forms_answer_every_traversal_alike() {
        let schema = Schema::builder()
            .table("node", |t| {
                t.many_to_many("links", "self").symmetrical(false).related_name("linked_by");
                t.foreign_key("parent", "node").nullable().on_delete(OnDelete::SetNull).related_name("children");
            })
            .build()
            .unwrap();
        let db = Database::new(schema);
        let mut rng = Rng(7);
        let keys = db
            .write(|tx| {
                let mut keys: Vec<Key> = Vec::new();
                for i in 0..400 {
                    let parent = if i == 0 { None } else { Some(keys[rng.below(keys.len())]) };
                    let k = tx.insert("node", row! {})?;
                    if let Some(p) = parent {
                        tx.update(k, row! {"parent" => p})?;
                    }
                    keys.push(k);
                }
                // A cycle through the foreign key: the root's parent.
                tx.update(keys[0], row! {"parent" => keys[3]})?;
                for &k in &keys {
                    let targets: Vec<Key> = (0..rng.below(10)).map(|_| keys[rng.below(keys.len())]).collect();
                    tx.related(k, "links")?.add(targets)?;
                }
                for &k in keys.iter().skip(5).step_by(9) {
                    tx.delete(k)?;
                }
                // The first new row's id is out of step, which ends the
                // table's identity mode, so the others reuse freed slots.
                keys.retain(|&k| tx.get(k).is_some());
                for i in 0..30 {
                    let mut row = row! {"parent" => keys[rng.below(keys.len())]};
                    if i == 0 {
                        row.set("id", 1_000);
                    }
                    let k = tx.insert("node", row)?;
                    let targets: Vec<Key> = (0..rng.below(10)).map(|_| keys[rng.below(keys.len())]).collect();
                    tx.related(k, "links")?.add(targets)?;
                    keys.push(k);
                }
                Ok::<_, Error>(keys)
            })
            .unwrap();
        assert!(keys.iter().any(|k| k.id() > 400), "ids past the slots");
        let tx = db.begin_read().unwrap();
        assert!(!tx.tables[tx.schema().table("node").unwrap().index()].ids_are_slots(), "new rows in freed slots");
        let starts: Vec<Key> = keys.iter().copied().step_by(11).collect();
        for field in ["links", "children"] {
            let accessor = tx.schema().accessor("node", field).unwrap();
            let bits = answers(&tx, &starts, accessor);
            SET_ONLY.with(|s| s.set(true));
            let set = answers(&tx, &starts, accessor);
            SET_ONLY.with(|s| s.set(false));
            assert_eq!(bits, set, "{field}");
            assert!(bits.iter().any(|a| a.len() > super::WINDOW), "{field}: a level wider than a window");
        }
    }

    /// Both forms agree with a hash set through marks, clears and reuse.
    #[test]
    fn visited_rows_agree_with_a_set_in_either_form() {
        let forms = [Visited::for_slots(5000), Visited::Set(HashSet::new())];
        for mut seen in forms {
            for round in 0..3u32 {
                let mut model = HashSet::new();
                let mut marked = Vec::new();
                for i in 0..4000u32 {
                    let slot = (i * 7919 + round * 31) % 5000;
                    assert_eq!(seen.insert(slot), model.insert(slot), "round {round}, slot {slot}");
                    marked.push(slot);
                }
                // A slot past the table's still counts (the bitmap grows).
                assert!(seen.insert(70_000));
                assert!(!seen.insert(70_000));
                marked.push(70_000);
                seen.clear(&marked);
                assert!(model.iter().all(|&s| seen.insert(s)), "cleared");
                seen.clear(&marked);
            }
            seen.finish(&[]);
        }
        let lent = SCRATCH.with(std::cell::Cell::take);
        assert!(lent.len() >= 70_000 / 64 && lent.iter().all(|&w| w == 0), "given back clear");
    }

    /// `keep_new` keeps the first sight of each slot, in order, in either
    /// form, and grows the bitmap for a slot past it mid-slice.
    #[test]
    fn keep_new_keeps_first_sights_in_order() {
        let forms = [Visited::for_slots(1000), Visited::Set(HashSet::new())];
        for mut seen in forms {
            assert!(seen.insert(7));
            let mut slots = vec![3, 7, 3, 900, 80_000, 4, 80_000, 900, 5, 64, 65, 64];
            let mut model: HashSet<u32> = [7].into_iter().collect();
            let want: Vec<u32> = slots.iter().copied().filter(|&s| model.insert(s)).collect();
            let kept = seen.keep_new(&mut slots);
            assert_eq!(slots[..kept], want[..]);
            assert!(!seen.insert(80_000) && !seen.insert(65) && seen.insert(66));
            let mut marked = want.clone();
            marked.extend([7, 66]);
            seen.clear(&marked);
            assert!(marked.iter().all(|&s| seen.insert(s)), "cleared");
            seen.finish(&marked);
        }
        let lent = SCRATCH.with(std::cell::Cell::take);
        assert!(lent.len() > 80_000 / 64 && lent.iter().all(|&w| w == 0), "given back clear");
    }

    /// Level vectors go back to the thread emptied, and wide ones do not.
    #[test]
    fn only_narrow_levels_are_kept() {
        let (mut a, b) = super::lend_levels();
        a.extend([1, 2, 3]);
        super::give_back_levels(a, b);
        let (a, b) = super::lend_levels();
        assert!(a.is_empty() && b.is_empty() && a.capacity() >= 3, "kept, emptied");
        super::give_back_levels(a, Vec::with_capacity(super::LEVEL_KEEP + 1));
        let (a, b) = super::lend_levels();
        assert_eq!((a.capacity(), b.capacity()), (0, 0), "a wide level is freed");
    }

    /// A traversal that stops without finishing never lends a set bit.
    #[test]
    fn an_unfinished_traversal_drops_its_bitmap() {
        let mut seen = Visited::for_slots(100);
        assert!(seen.insert(42));
        drop(seen);
        let mut seen = Visited::for_slots(100);
        assert!(seen.insert(42), "a fresh bitmap, not the dirty one");
        seen.finish(&[42]);
        assert!(Visited::for_slots(100).insert(42));
    }

    #[test]
    fn tables_past_the_bitmap_bound_use_a_set() {
        assert!(matches!(Visited::for_slots(super::BITMAP_SLOTS + 1), Visited::Set(_)));
        assert!(matches!(Visited::for_slots(super::BITMAP_SLOTS), Visited::Bits(_)));
    }
}
