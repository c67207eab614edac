//! One column's values: a typed vector indexed by slot, with a null bitmap
//! when the column is nullable. Free slots hold a cheap placeholder.

use super::text::TextCell;
use crate::relation::prefetch::prefetch;
use crate::value::{Type, Value, ValueRef};

#[derive(Clone, Debug)]
enum Data {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Bool(Vec<bool>),
    /// Short strings in place (see [`TextCell`]).
    Text(Vec<TextCell>),
    Bytes(Vec<Box<[u8]>>),
}

/// A column store. Values are type-checked before they reach it.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    data: Data,
    /// Bit `slot` set = the value is `NULL`. `None` for non-nullable columns.
    nulls: Option<Vec<u64>>,
}

impl Column {
    pub(crate) fn new(ty: Type, nullable: bool) -> Self {
        let data = match ty {
            Type::Int => Data::Int(Vec::new()),
            Type::Float => Data::Float(Vec::new()),
            Type::Bool => Data::Bool(Vec::new()),
            Type::Text => Data::Text(Vec::new()),
            Type::Bytes => Data::Bytes(Vec::new()),
        };
        Column { data, nulls: nullable.then(Vec::new) }
    }

    #[inline]
    fn is_null(&self, slot: u32) -> bool {
        self.nulls.as_ref().is_some_and(|bits| bits.get(slot as usize / 64).is_some_and(|w| w >> (slot % 64) & 1 == 1))
    }

    fn set_null_bit(&mut self, slot: u32, null: bool) {
        if let Some(bits) = &mut self.nulls {
            let word = slot as usize / 64;
            if bits.len() <= word {
                bits.resize(word + 1, 0);
            }
            if null {
                bits[word] |= 1 << (slot % 64);
            } else {
                bits[word] &= !(1 << (slot % 64));
            }
        }
    }

    /// The value at `slot`. O(1).
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> ValueRef<'_> {
        if self.is_null(slot) {
            return ValueRef::Null;
        }
        let s = slot as usize;
        match &self.data {
            Data::Int(v) => ValueRef::Int(v[s]),
            Data::Float(v) => ValueRef::Float(v[s]),
            Data::Bool(v) => ValueRef::Bool(v[s]),
            Data::Text(v) => ValueRef::Text(v[s].as_str()),
            Data::Bytes(v) => ValueRef::Bytes(&v[s]),
        }
    }

    /// Passes `each` the value at every slot of `slots`, in order, as
    /// [`get`](Self::get) of each, reading them `window` slots at a time so
    /// that their cache misses overlap: the next window's cells are
    /// prefetched while this one is read, and this window's values that lie
    /// apart from their cells (text too long for its cell, bytes) just
    /// before it is read (their pointers are in the cells prefetched a
    /// window earlier). The column's kind and nullability are matched once
    /// for the whole gather (a nullable column tests its null bit per
    /// value). Inlined into the caller. O(slots).
    ///
    /// Panics if a slot is past the column's end, as `get` does: callers
    /// pass slots of live rows.
    #[inline(always)]
    pub(crate) fn gather<'c>(&'c self, slots: &[u32], window: usize, mut each: impl FnMut(ValueRef<'c>)) {
        #[inline(always)]
        fn run<'c, T>(
            v: &'c [T],
            column: &Column,
            slots: &[u32],
            window: usize,
            outside: impl Fn(&T) -> Option<&u8>,
            read: impl Fn(&'c T) -> ValueRef<'c>,
            each: &mut impl FnMut(ValueRef<'c>),
        ) {
            let cells = |w: &[u32]| w.iter().filter_map(|&s| v.get(s as usize)).for_each(prefetch);
            let mut windows = slots.chunks(window.max(1)).peekable();
            if let Some(first) = windows.peek() {
                cells(first);
            }
            while let Some(this) = windows.next() {
                this.iter().filter_map(|&s| v.get(s as usize).and_then(&outside)).for_each(prefetch);
                if let Some(next) = windows.peek() {
                    cells(next);
                }
                if column.nulls.is_some() {
                    this.iter()
                        .for_each(|&s| each(if column.is_null(s) { ValueRef::Null } else { read(&v[s as usize]) }));
                } else {
                    this.iter().for_each(|&s| each(read(&v[s as usize])));
                }
            }
        }
        match &self.data {
            Data::Int(v) => run(v, self, slots, window, |_| None, |&x| ValueRef::Int(x), &mut each),
            Data::Float(v) => run(v, self, slots, window, |_| None, |&x| ValueRef::Float(x), &mut each),
            Data::Bool(v) => run(v, self, slots, window, |_| None, |&x| ValueRef::Bool(x), &mut each),
            Data::Text(v) => run(v, self, slots, window, TextCell::outside, |x| ValueRef::Text(x.as_str()), &mut each),
            Data::Bytes(v) => run(v, self, slots, window, |b| b.first(), |x| ValueRef::Bytes(x), &mut each),
        }
    }

    /// The whole integer vector of an `Int` column.
    #[inline]
    pub(crate) fn ints(&self) -> &[i64] {
        match &self.data {
            Data::Int(v) => v,
            _ => &[],
        }
    }

    /// Appends a value for a new slot.
    pub(crate) fn push(&mut self, value: Value) {
        let slot = self.len() as u32;
        let null = value.is_null();
        match (&mut self.data, value) {
            (Data::Int(v), Value::Int(x)) => v.push(x),
            (Data::Float(v), Value::Float(x)) => v.push(x),
            (Data::Bool(v), Value::Bool(x)) => v.push(x),
            (Data::Text(v), Value::Text(x)) => v.push(TextCell::new(x)),
            (Data::Bytes(v), Value::Bytes(x)) => v.push(x.into_boxed_slice()),
            (data, _) => data.push_placeholder(),
        }
        self.set_null_bit(slot, null);
    }

    /// Appends a free slot's placeholder (not `NULL`), as `take` leaves.
    pub(crate) fn push_free(&mut self) {
        self.data.push_placeholder();
    }

    /// Drops the last slot.
    pub(crate) fn pop(&mut self) {
        let slot = self.len().saturating_sub(1) as u32;
        self.set_null_bit(slot, false);
        match &mut self.data {
            Data::Int(v) => drop(v.pop()),
            Data::Float(v) => drop(v.pop()),
            Data::Bool(v) => drop(v.pop()),
            Data::Text(v) => drop(v.pop()),
            Data::Bytes(v) => drop(v.pop()),
        }
    }

    /// Replaces the value at `slot`, returning the old one.
    pub(crate) fn replace(&mut self, slot: u32, value: Value) -> Value {
        let old = self.get(slot).to_owned();
        let s = slot as usize;
        let null = value.is_null();
        match (&mut self.data, value) {
            (Data::Int(v), Value::Int(x)) => v[s] = x,
            (Data::Float(v), Value::Float(x)) => v[s] = x,
            (Data::Bool(v), Value::Bool(x)) => v[s] = x,
            (Data::Text(v), Value::Text(x)) => v[s] = TextCell::new(x),
            (Data::Bytes(v), Value::Bytes(x)) => v[s] = x.into_boxed_slice(),
            (data, _) => data.clear_at(s),
        }
        self.set_null_bit(slot, null);
        old
    }

    /// Takes the value out of `slot`, leaving a placeholder.
    pub(crate) fn take(&mut self, slot: u32) -> Value {
        let old = self.replace(slot, Value::Null);
        self.set_null_bit(slot, false);
        old
    }

    pub(crate) fn len(&self) -> usize {
        match &self.data {
            Data::Int(v) => v.len(),
            Data::Float(v) => v.len(),
            Data::Bool(v) => v.len(),
            Data::Text(v) => v.len(),
            Data::Bytes(v) => v.len(),
        }
    }
}

impl Data {
    fn push_placeholder(&mut self) {
        match self {
            Data::Int(v) => v.push(0),
            Data::Float(v) => v.push(0.0),
            Data::Bool(v) => v.push(false),
            Data::Text(v) => v.push(TextCell::EMPTY),
            Data::Bytes(v) => v.push(Box::from([])),
        }
    }

    fn clear_at(&mut self, s: usize) {
        match self {
            Data::Int(v) => v[s] = 0,
            Data::Float(v) => v[s] = 0.0,
            Data::Bool(v) => v[s] = false,
            Data::Text(v) => v[s] = TextCell::EMPTY,
            Data::Bytes(v) => v[s] = Box::from([]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_text_round_trip() {
        let mut c = Column::new(Type::Text, true);
        c.push(Value::from("a"));
        c.push(Value::Null);
        assert_eq!(c.get(0), ValueRef::Text("a"));
        assert_eq!(c.get(1), ValueRef::Null);
        assert_eq!(c.replace(1, Value::from("b")), Value::Null);
        assert_eq!(c.get(1), ValueRef::Text("b"));
        assert_eq!(c.take(0), Value::from("a"));
        c.pop();
        assert_eq!(c.len(), 1);
    }

    /// Text both in place and boxed goes through push, replace, take and
    /// pop, and a freed slot holds the empty placeholder.
    #[test]
    fn short_and_long_text_round_trip() {
        let long = "a username longer than twenty-two bytes";
        let mut c = Column::new(Type::Text, false);
        c.push(Value::from("short"));
        c.push(Value::from(long));
        c.push_free();
        assert_eq!(c.get(0), ValueRef::Text("short"));
        assert_eq!(c.get(1), ValueRef::Text(long));
        assert_eq!(c.get(2), ValueRef::Text(""));
        assert_eq!(c.replace(0, Value::from(long)), Value::from("short"));
        assert_eq!(c.replace(1, Value::from("now short")), Value::from(long));
        assert_eq!(c.get(0), ValueRef::Text(long));
        assert_eq!(c.get(1), ValueRef::Text("now short"));
        assert_eq!(c.take(0), Value::from(long));
        assert_eq!(c.get(0), ValueRef::Text(""));
        c.pop();
        assert_eq!((c.len(), c.get(1)), (2, ValueRef::Text("now short")));
    }

    /// `gather`, with its prefetches, reads as `get` for every type, for
    /// empty values, nulls, repeated slots and any window.
    #[test]
    fn gather_reads_as_get() {
        let values = [
            Value::Int(3),
            Value::Float(0.5),
            Value::Bool(true),
            Value::from(""),
            Value::from("ab"),
            Value::from("a text too long to be kept in its cell"),
            Value::Bytes(vec![]),
            Value::Bytes(vec![1, 2]),
        ];
        for v in values {
            let mut c = Column::new(v.type_of().expect("not NULL"), true);
            c.push(v.clone());
            c.push(Value::Null);
            assert_eq!(c.get(0), v.as_ref());
            assert_eq!(c.get(1), ValueRef::Null);
            // Windows of 1, 2 and more than all: the same values.
            for window in [0, 1, 2, 64] {
                let mut got = Vec::new();
                c.gather(&[1, 0, 0], window, |x| got.push(x));
                assert_eq!(got, [ValueRef::Null, v.as_ref(), v.as_ref()]);
            }
            // The non-nullable path.
            let mut d = Column::new(v.type_of().expect("not NULL"), false);
            d.push(v.clone());
            d.push(v.clone());
            let mut got = Vec::new();
            d.gather(&[1, 0, 1], 2, |x| got.push(x));
            assert_eq!(got, [v.as_ref(); 3]);
        }
    }
}
