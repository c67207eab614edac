//! Hash indexes over one column. The table stores slots only; hashing and
//! equality read the key through the column store, so there is no second
//! copy of any key. `NULL`s are not indexed.

use std::hash::{BuildHasher, Hash, Hasher};

use hashbrown::{DefaultHashBuilder, HashTable};

use super::column::Column;
use crate::value::ValueRef;

/// Hash of a value as indexes see it: floats by their bits with `-0.0`
/// folded into `0.0` and every NaN equal.
pub(crate) fn hash_value(state: &DefaultHashBuilder, value: ValueRef<'_>) -> u64 {
    let mut h = state.build_hasher();
    match value {
        ValueRef::Null => 0u8.hash(&mut h),
        ValueRef::Int(v) => (1u8, v).hash(&mut h),
        ValueRef::Float(v) => (2u8, float_key(v)).hash(&mut h),
        ValueRef::Bool(v) => (3u8, v).hash(&mut h),
        ValueRef::Text(v) => (4u8, v).hash(&mut h),
        ValueRef::Bytes(v) => (5u8, v).hash(&mut h),
    }
    h.finish()
}

fn float_key(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// Equality as indexes see it (consistent with [`hash_value`]).
pub(crate) fn index_eq(a: ValueRef<'_>, b: ValueRef<'_>) -> bool {
    match (a, b) {
        (ValueRef::Float(x), ValueRef::Float(y)) => float_key(x) == float_key(y),
        _ => a == b,
    }
}

/// A hash index on one column: unique or not.
#[derive(Clone, Debug)]
pub(crate) struct ColumnIndex {
    pub(crate) column: u16,
    pub(crate) unique: bool,
    slots: HashTable<u32>,
}

impl ColumnIndex {
    pub(crate) fn new(column: u16, unique: bool) -> Self {
        ColumnIndex { column, unique, slots: HashTable::new() }
    }

    /// Indexes `slot`, whose value is already in `col`. O(1) expected.
    pub(crate) fn insert(&mut self, state: &DefaultHashBuilder, col: &Column, slot: u32) {
        let value = col.get(slot);
        if value.is_null() {
            return;
        }
        let hash = hash_value(state, value);
        self.slots.insert_unique(hash, slot, |&s| hash_value(state, col.get(s)));
    }

    /// Removes `slot`, whose value is still in `col`. O(1) expected.
    pub(crate) fn remove(&mut self, state: &DefaultHashBuilder, col: &Column, slot: u32) {
        let value = col.get(slot);
        if value.is_null() {
            return;
        }
        let hash = hash_value(state, value);
        if let Ok(entry) = self.slots.find_entry(hash, |&s| s == slot) {
            entry.remove();
        }
    }

    /// The slots holding `value`. O(1 + matches) expected.
    pub(crate) fn probe<'a>(
        &'a self,
        state: &DefaultHashBuilder,
        col: &'a Column,
        value: ValueRef<'a>,
    ) -> impl Iterator<Item = u32> + 'a {
        let hash = hash_value(state, value);
        let live = !value.is_null();
        self.slots.iter_hash(hash).filter(move |&&s| live && index_eq(col.get(s), value)).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().copied()
    }
}
