//! The flat projections' reader: one column's values of a query's result
//! rows, into a [`Sink`] (a vector, or a caller's function), gathered from
//! the column's store a batch of slots at a time (see `Column::gather`),
//! or read row by row where the rows are not slots or the column is across
//! a foreign key. An index walk across a many-to-many relation hands its
//! far end's whole list of slots, which is gathered in place.

use smallvec::SmallVec;

use super::{Item, Matched, OrderKey, Query};
use crate::storage::Column;
use crate::txn::Loc;
use crate::value::{Value, ValueRef};

/// Rows whose column values [`Query::values_list_flat`] loads ahead
/// together: enough misses in flight to cover a memory latency, few enough
/// that their lines are still cached when the values are copied.
const GATHER_WINDOW: usize = 32;

impl<'v> Query<'v> {
    /// The body of the flat projections: each result's value of `key`
    /// into `sink`, in result order, gathered a batch of rows at a time
    /// (see [`values_list_flat`](Self::values_list_flat)). Inlined, so
    /// that a vector's `put` writes its fields straight into it.
    #[inline(always)]
    pub(super) fn gather(&self, key: &OrderKey, sink: &mut impl Sink<'v>) {
        // A column of the results' own table is gathered from its store,
        // by slot; other paths, and rows that are not slots (an
        // auto-created through's pairs), are read one by one.
        let store = key.hops.is_empty().then(|| self.view.tables[key.table.index()].column(key.column));
        let mut batch = Batch { slots: SmallVec::new(), store, sink };
        let read = |loc| self.read(key, loc);
        if self.distinct || !self.order.is_empty() || self.offset > 0 || self.limit.is_some() {
            let locs = self.projected(std::slice::from_ref(key));
            batch.sink.expect(locs.len());
            locs.into_iter().for_each(|l| batch.take(l, 1, read));
        } else {
            self.matched(u64::MAX, Gathering { batch: &mut batch, first: true, read });
        }
        batch.flush();
    }
}

/// The rows [`Query::gather`] reads together: at most this many slots
/// are kept (on the stack) before their values are read.
const GATHER_BATCH: usize = 512;

/// [`Query::gather`]'s reader of results: into its batch, after telling
/// the sink how many to expect.
pub(super) struct Gathering<'b, 'v, 's, S, R> {
    batch: &'b mut Batch<'v, 's, S>,
    first: bool,
    read: R,
}

impl<'v, S: Sink<'v>, R: Fn(Loc) -> ValueRef<'v>> Gathering<'_, 'v, '_, S, R> {
    #[inline(always)]
    fn expect(&mut self, n: usize) {
        if std::mem::take(&mut self.first) {
            self.batch.sink.expect(n);
        }
    }
}

impl<'v, S: Sink<'v>, R: Fn(Loc) -> ValueRef<'v>> Matched for Gathering<'_, 'v, '_, S, R> {
    #[inline(always)]
    fn item(&mut self, item: Item, times: u64, expected: usize) -> bool {
        self.expect(expected);
        self.batch.take(item.loc, times, &self.read);
        true
    }

    #[inline(always)]
    fn slots(&mut self, slots: &[u32], expected: usize) -> bool {
        self.expect(expected);
        self.batch.take_slots(slots, &self.read);
        true
    }
}

/// Where [`Query::gather`] puts the values it reads.
pub(super) trait Sink<'v> {
    /// `n` values are expected (called before the first).
    fn expect(&mut self, n: usize);
    fn put(&mut self, value: ValueRef<'v>);
}

impl<'v> Sink<'v> for Vec<ValueRef<'v>> {
    fn expect(&mut self, n: usize) {
        self.reserve_exact(n);
    }

    #[inline(always)]
    fn put(&mut self, value: ValueRef<'v>) {
        self.push(value);
    }
}

impl<'v> Sink<'v> for Vec<Value> {
    fn expect(&mut self, n: usize) {
        self.reserve_exact(n);
    }

    #[inline(always)]
    fn put(&mut self, value: ValueRef<'v>) {
        self.push(value.to_owned());
    }
}

/// A caller's function as a [`Sink`].
pub(super) struct Each<F>(pub(super) F);

impl<'v, F: FnMut(ValueRef<'v>)> Sink<'v> for Each<F> {
    fn expect(&mut self, _: usize) {}

    #[inline(always)]
    fn put(&mut self, value: ValueRef<'v>) {
        (self.0)(value);
    }
}

/// Result rows waiting to have one column's values read
/// ([`Query::gather`]).
pub(super) struct Batch<'v, 's, S> {
    slots: SmallVec<[u32; GATHER_BATCH]>,
    /// The column's store, when the rows' own table holds it.
    store: Option<&'v Column>,
    sink: &'s mut S,
}

impl<'v, S: Sink<'v>> Batch<'v, '_, S> {
    /// Takes the row at `loc`, `times` times (its multiplicity): a slot
    /// waits for the batch's gather; another row (or any row when the
    /// column is not the rows' own) is read by `read` once the rows
    /// before it are.
    #[inline(always)]
    fn take(&mut self, loc: Loc, times: u64, read: impl Fn(Loc) -> ValueRef<'v>) {
        match (loc, self.store) {
            (Loc::Slot(s), Some(_)) => {
                for _ in 0..times {
                    if self.slots.len() == GATHER_BATCH {
                        self.flush();
                    }
                    self.slots.push(s);
                }
            }
            _ => {
                self.flush();
                let v = read(loc);
                (0..times).for_each(|_| self.sink.put(v));
            }
        }
    }

    /// Takes the rows at `slots`, once each: with the column in their own
    /// table, gathered from the list itself once the rows before them are.
    #[inline(always)]
    fn take_slots(&mut self, slots: &[u32], read: impl Fn(Loc) -> ValueRef<'v>) {
        match self.store {
            Some(store) => {
                self.flush();
                store.gather(slots, GATHER_WINDOW, |v| self.sink.put(v));
            }
            None => slots.iter().for_each(|&s| self.take(Loc::Slot(s), 1, &read)),
        }
    }

    /// Reads the waiting rows' values, in order, into the sink.
    #[inline(always)]
    fn flush(&mut self) {
        if let (Some(store), false) = (self.store, self.slots.is_empty()) {
            store.gather(&self.slots, GATHER_WINDOW, |v| self.sink.put(v));
            self.slots.clear();
        }
    }
}
