//! A table's rows: one [`Column`] per declared column (column 0 holds the
//! ids; 0 marks a free slot), a primary-key map `id -> slot`, a stack of
//! free slots, and the hash indexes of unique and indexed columns.
//!
//! Ids are not reused, but for those a rollback undoes (a transaction's,
//! or a nested block's, restores the next id with the rows). Slot 0 never
//! holds a row (every column has a placeholder there), so that while
//! every live row sits at slot `id` (the common case: auto-assigned ids,
//! which start at 1) the primary-key map is the identity and costs
//! neither memory nor hashing, and a row's id is its slot, with no
//! arithmetic on a walk over slots. A freed slot could
//! then hold only its own id, so inserts append instead of reusing freed
//! slots until those are many ([`Table::slot_for`]); the first row that
//! breaks the identity (an explicit id out of step, or a reused slot)
//! switches the map, once, in O(rows), to a dense vector (ids close to the
//! row count) or a hash map, and freed slots are reused from then on. The
//! switch stays when that insert is rolled back: the map is still right,
//! and going back to identity would make a retried insert build the map
//! again, O(rows) per rolled-back insert (a reviewer caught that in a
//! change that went back; sixteenth session).

use hashbrown::{DefaultHashBuilder, HashMap};

use super::column::Column;
use super::index::ColumnIndex;
use crate::schema::TableDef;
use crate::value::{Value, ValueRef};

const FREE: u32 = u32::MAX;

/// The largest slot count: slots and auto-through ids must fit in 31 bits.
/// Slot 0 holds no row, so a table holds at most `MAX_SLOTS - 1` rows.
pub(crate) const MAX_SLOTS: usize = i32::MAX as usize;

/// The freed slots a table in identity mode leaves unused on top of half
/// its live rows before an insert reuses one (see [`Table::slot_for`]).
/// Keeping the mode keeps each key check and each id a walk yields free of
/// the id map's load; the cost is the freed slots' memory, at most half
/// the live rows' plus this many.
pub(crate) const IDENTITY_FREE_FLOOR: usize = 1024;

#[derive(Clone, Debug)]
enum PkMap {
    /// Every live row is at slot `id`.
    Identity,
    /// `slots[id - 1]`, `FREE` where absent.
    Dense(Vec<u32>),
    Sparse(HashMap<i64, u32>),
}

/// The slot row `id` has in identity mode (`id` itself), `None` when no
/// slot can be (a negative or huge id; 0 gives slot 0, which never holds a
/// row). O(1).
#[inline(always)]
pub(crate) fn identity_slot(id: i64) -> Option<u32> {
    u32::try_from(id).ok()
}

/// Row storage for one table. All inputs are validated by the caller.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    columns: Vec<Column>,
    /// Bit `slot` set = the slot holds a live row. The same fact as a
    /// non-zero id, kept as a bitmap (one bit per slot: 25 KB for 200,000
    /// rows) so that `slot_of` checks liveness in cache instead of loading
    /// from the ids column.
    live_bits: Vec<u64>,
    free: Vec<u32>,
    live: usize,
    next_id: i64,
    pk: PkMap,
    indexes: Vec<ColumnIndex>,
    /// Index position by column, `usize::MAX` when the column has none.
    index_of: Vec<usize>,
    hasher: DefaultHashBuilder,
}

impl Table {
    pub(crate) fn new(def: &TableDef) -> Self {
        // Slot 0 is a placeholder in every column, never live: see the
        // module docs.
        let columns = def
            .columns
            .iter()
            .map(|c| {
                let mut column = Column::new(c.ty, c.nullable);
                column.push_free();
                column
            })
            .collect();
        let mut indexes = Vec::new();
        let mut index_of = vec![usize::MAX; def.columns.len()];
        for (i, c) in def.columns.iter().enumerate().skip(1) {
            if c.unique || c.indexed {
                index_of[i] = indexes.len();
                indexes.push(ColumnIndex::new(i as u16, c.unique));
            }
        }
        Table {
            columns,
            live_bits: Vec::new(),
            free: Vec::new(),
            live: 0,
            next_id: 1,
            pk: PkMap::Identity,
            indexes,
            index_of,
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// Live rows. O(1).
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Slots ever allocated (live or free). O(1).
    pub(crate) fn slot_count(&self) -> usize {
        self.columns[0].len()
    }

    /// The id the next auto-assigned row gets.
    pub(crate) fn next_id(&self) -> i64 {
        self.next_id
    }

    pub(crate) fn set_next_id(&mut self, next: i64) {
        self.next_id = next;
    }

    /// Whether every live row sits at slot `id`.
    #[inline]
    pub(crate) fn ids_are_slots(&self) -> bool {
        matches!(self.pk, PkMap::Identity)
    }

    /// The ids by slot (0 for a free slot).
    #[inline]
    pub(crate) fn ids(&self) -> &[i64] {
        self.columns[0].ints()
    }

    /// The slot of the row with `id`. O(1), no hashing in identity mode
    /// (a bit test in the liveness bitmap).
    #[inline(always)]
    pub(crate) fn slot_of(&self, id: i64) -> Option<u32> {
        if let PkMap::Identity = self.pk {
            // A negative or huge id is a slot past the bitmap (past
            // `usize` too, on a target where it is narrower than 64 bits).
            let slot = id as u64;
            let word = *self.live_bits.get(usize::try_from(slot >> 6).ok()?)?;
            return (word >> (slot & 63) & 1 == 1).then_some(slot as u32);
        }
        self.slot_of_mapped(id)
    }

    /// The slot row `id` occupies if it exists, without checking that it
    /// does: in identity mode, slot `id` (when in range), which holds
    /// that row or is free; otherwise the exact [`slot_of`](Self::slot_of).
    /// For reads that are answered "no" by a free slot anyway, such as a
    /// link test (a free slot has no links). O(1).
    #[inline(always)]
    pub(crate) fn slot_hint(&self, id: i64) -> Option<u32> {
        if let PkMap::Identity = self.pk {
            return identity_slot(id);
        }
        self.slot_of_mapped(id)
    }

    fn slot_of_mapped(&self, id: i64) -> Option<u32> {
        match &self.pk {
            PkMap::Identity => None,
            PkMap::Dense(v) => {
                let s = *v.get(usize::try_from(id.checked_sub(1)?).ok()?)?;
                (s != FREE).then_some(s)
            }
            PkMap::Sparse(m) => m.get(&id).copied(),
        }
    }

    /// The id of the live row at `slot`: in identity mode `slot` itself,
    /// without reading the id column (a cache miss per row for a walk
    /// over scattered slots), else as [`id_at`](Self::id_at). `slot` must
    /// hold a live row (for a free slot, identity mode answers `slot`
    /// where `id_at` answers 0). O(1).
    #[inline]
    pub(crate) fn live_id(&self, slot: u32) -> i64 {
        debug_assert!(self.is_live(slot), "live_id of free slot {slot}");
        match self.pk {
            PkMap::Identity => i64::from(slot),
            _ => self.id_at(slot),
        }
    }

    /// Appends the ids of the live rows at `slots` to `out`, each mapped
    /// by `f`, as [`live_id`](Self::live_id) gives them, with the mode
    /// tested once rather than per row. O(slots).
    pub(crate) fn extend_live_ids<T>(&self, slots: &[u32], out: &mut Vec<T>, f: impl Fn(i64) -> T) {
        debug_assert!(slots.iter().all(|&s| self.is_live(s)), "live ids of free slots");
        match self.pk {
            PkMap::Identity => out.extend(slots.iter().map(|&s| f(i64::from(s)))),
            _ => out.extend(slots.iter().map(|&s| f(self.id_at(s)))),
        }
    }

    /// The id at `slot`, 0 when the slot is free or out of range.
    pub(crate) fn id_at(&self, slot: u32) -> i64 {
        self.ids().get(slot as usize).copied().unwrap_or(0)
    }

    #[inline]
    pub(crate) fn is_live(&self, slot: u32) -> bool {
        self.live_bits.get(slot as usize / 64).is_some_and(|w| w >> (slot % 64) & 1 == 1)
    }

    fn set_live(&mut self, slot: u32, live: bool) {
        let word = slot as usize / 64;
        if self.live_bits.len() <= word {
            self.live_bits.resize(word + 1, 0);
        }
        if live {
            self.live_bits[word] |= 1 << (slot % 64);
        } else {
            self.live_bits[word] &= !(1 << (slot % 64));
        }
    }

    /// The value of column `col` at `slot`. O(1).
    #[inline]
    pub(crate) fn get(&self, slot: u32, col: u16) -> ValueRef<'_> {
        self.columns[col as usize].get(slot)
    }

    /// Column `col`'s store.
    #[inline]
    pub(crate) fn column(&self, col: u16) -> &Column {
        &self.columns[col as usize]
    }

    /// Live slots in slot order. O(slots).
    pub(crate) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.ids().iter().enumerate().filter(|(_, &id)| id != 0).map(|(s, _)| s as u32)
    }

    /// Whether `col` has a hash index.
    pub(crate) fn is_indexed(&self, col: u16) -> bool {
        self.index_of.get(col as usize).is_some_and(|&i| i != usize::MAX)
    }

    /// The slots whose `col` equals `value`, through the column's index.
    /// `None` when the column has no index. O(1 + matches) expected.
    pub(crate) fn probe<'a>(&'a self, col: u16, value: ValueRef<'a>) -> Option<impl Iterator<Item = u32> + 'a> {
        if col == 0 {
            return None;
        }
        let i = *self.index_of.get(col as usize)?;
        let index = self.indexes.get(i)?;
        Some(index.probe(&self.hasher, &self.columns[col as usize], value))
    }

    /// A live slot other than `except` whose unique column `col` holds
    /// `value`. O(1) expected.
    pub(crate) fn unique_conflict(&self, col: u16, value: ValueRef<'_>, except: Option<u32>) -> Option<u32> {
        if col == 0 {
            let id = value.as_int()?;
            return self.slot_of(id).filter(|&s| Some(s) != except);
        }
        self.probe(col, value)?.find(|&s| Some(s) != except)
    }

    /// The slot an insert of the row with `id` takes, and whether it is
    /// appended (`true`) rather than the last freed slot reused. In
    /// identity mode a freed slot can hold only its own id, so an insert
    /// appends while the table's freed slots number fewer than half its
    /// live rows plus [`IDENTITY_FREE_FLOOR`], and reuses a slot (ending
    /// the mode) only past that; the row of a freed slot's own id, given
    /// explicitly just after its delete, goes back there. In the other
    /// modes an insert reuses the last freed slot. O(1).
    pub(crate) fn slot_for(&self, id: i64) -> (u32, bool) {
        let end = self.slot_count() as u32;
        if let PkMap::Identity = self.pk {
            let last = self.free.last().copied();
            if last.is_some_and(|s| i64::from(s) == id) {
                return (id as u32, false);
            }
            let room = self.free.len() < self.live / 2 + IDENTITY_FREE_FLOOR;
            if i64::from(end) == id && room && (end as usize) < MAX_SLOTS {
                return (end, true);
            }
        }
        self.free.last().map_or((end, true), |&s| (s, false))
    }

    /// Stores a validated row (`values[0]` is the id) at the slot
    /// [`slot_for`](Self::slot_for) names. Returns the slot and whether it
    /// was freshly appended (rather than reused). O(columns).
    pub(crate) fn insert(&mut self, values: Vec<Value>) -> (u32, bool) {
        let id = values[0].as_int().unwrap_or(0);
        let (slot, fresh) = self.slot_for(id);
        if fresh {
            for (c, v) in self.columns.iter_mut().zip(values) {
                c.push(v);
            }
        } else {
            let reused = self.free.pop();
            debug_assert_eq!(reused, Some(slot), "a reused slot is the last freed");
            for (c, v) in self.columns.iter_mut().zip(values) {
                c.replace(slot, v);
            }
        }
        self.live += 1;
        self.set_live(slot, true);
        self.next_id = self.next_id.max(id.saturating_add(1));
        self.pk_insert(id, slot);
        self.index_slot(slot);
        (slot, fresh)
    }

    /// Undoes the `insert` that returned `(slot, fresh)`: the slot goes back
    /// exactly where it came from.
    pub(crate) fn undo_insert(&mut self, slot: u32, fresh: bool) {
        self.unindex_slot(slot);
        let id = self.id_at(slot);
        self.pk_remove(id);
        self.live -= 1;
        self.set_live(slot, false);
        if fresh {
            for c in &mut self.columns {
                c.pop();
            }
        } else {
            for c in &mut self.columns {
                c.take(slot);
            }
            self.free.push(slot);
        }
    }

    /// Removes the row at `slot`, returning its values (id first). O(columns).
    pub(crate) fn remove(&mut self, slot: u32) -> Vec<Value> {
        self.unindex_slot(slot);
        let id = self.id_at(slot);
        self.pk_remove(id);
        self.live -= 1;
        self.set_live(slot, false);
        self.free.push(slot);
        self.columns.iter_mut().map(|c| c.take(slot)).collect()
    }

    /// Undoes the `remove` of `slot` (which must be the last slot freed).
    pub(crate) fn undo_remove(&mut self, slot: u32, values: Vec<Value>) {
        let popped = self.free.pop();
        debug_assert_eq!(popped, Some(slot));
        let id = values[0].as_int().unwrap_or(0);
        for (c, v) in self.columns.iter_mut().zip(values) {
            c.replace(slot, v);
        }
        self.live += 1;
        self.set_live(slot, true);
        self.pk_insert(id, slot);
        self.index_slot(slot);
    }

    /// Replaces one cell, returning the old value. O(1) expected.
    pub(crate) fn update(&mut self, slot: u32, col: u16, value: Value) -> Value {
        let c = col as usize;
        let index = self.index_of[c];
        if index != usize::MAX {
            self.indexes[index].remove(&self.hasher, &self.columns[c], slot);
        }
        let old = self.columns[c].replace(slot, value);
        if index != usize::MAX {
            self.indexes[index].insert(&self.hasher, &self.columns[c], slot);
        }
        old
    }

    fn index_slot(&mut self, slot: u32) {
        for index in &mut self.indexes {
            index.insert(&self.hasher, &self.columns[index.column as usize], slot);
        }
    }

    fn unindex_slot(&mut self, slot: u32) {
        for index in &mut self.indexes {
            index.remove(&self.hasher, &self.columns[index.column as usize], slot);
        }
    }

    fn pk_insert(&mut self, id: i64, slot: u32) {
        if let PkMap::Identity = self.pk {
            if id == i64::from(slot) {
                return;
            }
            self.pk = self.build_pk_map();
            return; // the ids column already holds the new row
        }
        let dense_limit = (self.live.max(1024) * 2) as i64;
        match &mut self.pk {
            PkMap::Dense(v) if id <= dense_limit => {
                let i = (id - 1) as usize;
                if v.len() <= i {
                    v.resize(i + 1, FREE);
                }
                v[i] = slot;
            }
            PkMap::Dense(_) => {
                self.pk = PkMap::Sparse(self.live_pairs().collect());
            }
            PkMap::Sparse(m) => {
                m.insert(id, slot);
            }
            PkMap::Identity => {}
        }
    }

    fn pk_remove(&mut self, id: i64) {
        match &mut self.pk {
            PkMap::Identity => {}
            PkMap::Dense(v) => {
                if let Some(s) = v.get_mut((id - 1) as usize) {
                    *s = FREE;
                }
            }
            PkMap::Sparse(m) => {
                m.remove(&id);
            }
        }
    }

    fn live_pairs(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        self.ids().iter().enumerate().filter(|(_, &id)| id != 0).map(|(s, &id)| (id, s as u32))
    }

    /// The map for the current ids when identity no longer holds. O(rows).
    fn build_pk_map(&self) -> PkMap {
        let max = self.live_pairs().map(|(id, _)| id).max().unwrap_or(0);
        if max <= (self.live.max(1024) * 2) as i64 {
            let mut v = vec![FREE; max as usize];
            for (id, s) in self.live_pairs() {
                v[(id - 1) as usize] = s;
            }
            PkMap::Dense(v)
        } else {
            PkMap::Sparse(self.live_pairs().collect())
        }
    }

    /// Checks the storage invariants; returns the first violation.
    pub(crate) fn verify(&self, name: &str) -> Result<(), String> {
        let slots = self.slot_count();
        for (i, c) in self.columns.iter().enumerate() {
            if c.len() != slots {
                return Err(format!("{name}: column {i} has {} slots, ids have {slots}", c.len()));
            }
        }
        let live: Vec<(i64, u32)> = self.live_pairs().collect();
        if let Some(s) = (0..slots as u32).find(|&s| self.is_live(s) != (self.id_at(s) != 0)) {
            return Err(format!("{name}: live bitmap disagrees with the ids at slot {s}"));
        }
        if live.len() != self.live {
            return Err(format!("{name}: live count {} but {} live slots", self.live, live.len()));
        }
        for &(id, s) in &live {
            if id < 1 || id >= self.next_id {
                return Err(format!("{name}: id {id} outside 1..next_id {}", self.next_id));
            }
            if self.slot_of(id) != Some(s) {
                return Err(format!("{name}: pk map sends id {id} to {:?}, not slot {s}", self.slot_of(id)));
            }
        }
        let pk_len = match &self.pk {
            PkMap::Identity => {
                if let Some((id, s)) = live.iter().find(|(id, s)| *id != i64::from(*s)) {
                    return Err(format!("{name}: identity pk map but id {id} at slot {s}"));
                }
                live.len()
            }
            PkMap::Dense(v) => v.iter().filter(|&&s| s != FREE).count(),
            PkMap::Sparse(m) => m.len(),
        };
        if pk_len != live.len() {
            return Err(format!("{name}: pk map holds {pk_len} ids for {} rows", live.len()));
        }
        let mut free = self.free.clone();
        free.sort_unstable();
        free.dedup();
        if slots == 0 || self.is_live(0) || self.id_at(0) != 0 {
            return Err(format!("{name}: slot 0 is not the free placeholder"));
        }
        if free.len() != self.free.len()
            || free.len() + live.len() + 1 != slots
            || free.iter().any(|&s| s == 0 || self.is_live(s))
        {
            return Err(format!("{name}: free list does not hold exactly the free slots"));
        }
        for index in &self.indexes {
            let col = &self.columns[index.column as usize];
            let mut held: Vec<u32> = index.iter().collect();
            held.sort_unstable();
            let mut want: Vec<u32> = live.iter().map(|&(_, s)| s).filter(|&s| !col.get(s).is_null()).collect();
            want.sort_unstable();
            if held != want {
                return Err(format!(
                    "{name}: index on column {} does not hold exactly the live non-null rows",
                    index.column
                ));
            }
            if index.unique {
                for &s in &want {
                    if index.probe(&self.hasher, col, col.get(s)).count() != 1 {
                        return Err(format!("{name}: unique column {} holds {} twice", index.column, col.get(s)));
                    }
                }
            }
            debug_assert_eq!(index.len(), held.len());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;
    use crate::value::Type;

    fn table() -> Table {
        let schema = Schema::builder()
            .table("t", |t| {
                t.column("n", Type::Int);
            })
            .build()
            .unwrap();
        Table::new(schema.def(schema.table("t").unwrap()))
    }

    #[test]
    fn slot_zero_holds_no_row_and_ids_are_slots() {
        let mut t = table();
        t.verify("t").unwrap();
        assert_eq!((t.len(), t.slot_count(), t.slot_for(1)), (0, 1, (1, true)));
        for id in 1..=3 {
            assert_eq!(t.insert(vec![Value::Int(id), Value::Int(10 * id)]), (id as u32, true));
            t.set_next_id(id + 1);
        }
        assert!(t.ids_are_slots());
        assert_eq!((t.slot_of(2), t.slot_of(0), t.slot_of(-1), t.slot_of(4)), (Some(2), None, None, None));
        assert_eq!((t.live_id(3), t.id_at(0)), (3, 0));
        assert_eq!(identity_slot(0), Some(0), "id 0 names slot 0, which holds no row");
        assert_eq!(t.slots().collect::<Vec<_>>(), [1, 2, 3]);
        t.verify("t").unwrap();
        // A deleted row's slot is not reused while the table keeps its
        // identity mode: a new id goes to a new slot, and only the deleted
        // row's own id (given explicitly) goes back to its slot.
        t.remove(1);
        assert_eq!(t.slot_for(4), (4, true));
        assert_eq!(t.insert(vec![Value::Int(4), Value::Int(40)]), (4, true));
        t.set_next_id(5);
        assert!(t.ids_are_slots(), "id 4 at slot 4");
        t.verify("t").unwrap();
        assert_eq!(t.insert(vec![Value::Int(1), Value::Int(11)]), (1, false));
        assert!(t.ids_are_slots(), "id 1 back at slot 1");
        t.verify("t").unwrap();
        // An explicit id out of step ends it; slot 0 is never used.
        t.remove(2);
        assert_eq!(t.insert(vec![Value::Int(9), Value::Int(90)]), (2, false));
        t.set_next_id(10);
        assert!(!t.ids_are_slots(), "id 9 at slot 2 ends the identity mode");
        assert_eq!((t.slot_of(9), t.slot_of(2)), (Some(2), None));
        t.verify("t").unwrap();
        // A table whose slot 0 holds a row, or whose free list names it, is broken.
        let mut live_zero = t.clone();
        live_zero.set_live(0, true);
        assert_eq!(live_zero.verify("t"), Err("t: live bitmap disagrees with the ids at slot 0".to_owned()));
        let mut freed_zero = t.clone();
        freed_zero.free.push(0);
        assert_eq!(freed_zero.verify("t"), Err("t: free list does not hold exactly the free slots".to_owned()));
    }

    /// In identity mode, inserts append until the freed slots reach half
    /// the live rows plus `IDENTITY_FREE_FLOOR`; the insert after that
    /// reuses the last freed slot, ending the mode, and undoing it does not
    /// bring the mode back (the map stays, right). From there on freed
    /// slots are reused.
    #[test]
    fn identity_mode_leaves_freed_slots_until_they_are_many() {
        let mut t = table();
        for id in 1..=3000 {
            t.insert(vec![Value::Int(id), Value::Int(id)]);
            t.set_next_id(id + 1);
        }
        // Each step deletes a row and inserts one: 2,999 live rows at
        // each insert, so the 2,523rd freed slot (1,499 + 1,024) is reused.
        let mut next = 3001;
        for id in 1.. {
            t.remove(id as u32);
            if id == 2523 {
                assert_eq!((t.len(), t.slot_for(next)), (2999, (id as u32, false)));
                break;
            }
            assert_eq!(t.insert(vec![Value::Int(next), Value::Int(next)]), (next as u32, true));
            next += 1;
            t.set_next_id(next);
            assert!(t.ids_are_slots());
        }
        t.verify("t").unwrap();
        let (slot, fresh) = t.insert(vec![Value::Int(next), Value::Int(next)]);
        assert!(!t.ids_are_slots() && !fresh);
        t.verify("t").unwrap();
        t.undo_insert(slot, fresh);
        assert!(!t.ids_are_slots());
        t.verify("t").unwrap();
        assert_eq!(t.insert(vec![Value::Int(next), Value::Int(next)]), (slot, false));
        assert_eq!(t.slot_of(next), Some(slot));
        t.verify("t").unwrap();
    }
}
