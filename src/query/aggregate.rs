//! Aggregates over a query's results: Django's `aggregate()`.
//!
//! [`Query::aggregate`](super::Query::aggregate) reads one column path of
//! every result and folds the values here, one at a time with their
//! multiplicity, so no vector of values is built. `NULL`s are skipped, as
//! SQL's aggregates skip them; an aggregate of no values is `NULL`, except
//! the counts, which are 0 (as Django's `Count`).

use hashbrown::HashSet;

use super::cond::cmp_values;
use super::Distinct;
use crate::value::{Type, Value, ValueRef};

/// What [`Query::aggregate`](super::Query::aggregate) computes from the
/// results' values of one column. Each is Django's aggregate of that name
/// over the query (`Count`, `Count(distinct=True)`, `Sum`, `Avg`, `Min`,
/// `Max`), with `NULL`s left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Aggregate {
    /// The number of values that are not `NULL`, as an `Int` (0 for none;
    /// at most `i64::MAX`).
    Count,
    /// The number of distinct values that are not `NULL`, as an `Int`:
    /// values are equal as `distinct` takes them (`-0.0` and `0.0` are
    /// one value, and so is every NaN).
    CountDistinct,
    /// The sum: an `Int` for an `Int` column (an
    /// [`Error::Overflow`](crate::Error::Overflow) when it does not fit
    /// an `i64`), a `Float` for a `Float` column; `NULL` for no values.
    /// Only for those two types.
    Sum,
    /// The mean, as a `Float`; `NULL` for no values. Only for `Int` and
    /// `Float` columns.
    Avg,
    /// The smallest value, in the order `order_by` uses (NaN above every
    /// number, text and bytes by byte, `false` before `true`); `NULL` for
    /// no values. For columns of any type.
    Min,
    /// The largest value, in the same order as [`Min`](Self::Min); `NULL`
    /// for no values.
    Max,
}

impl Aggregate {
    /// Django's name for the aggregate, for messages.
    fn name(self) -> &'static str {
        match self {
            Aggregate::Count => "Count",
            Aggregate::CountDistinct => "Count(distinct=True)",
            Aggregate::Sum => "Sum",
            Aggregate::Avg => "Avg",
            Aggregate::Min => "Min",
            Aggregate::Max => "Max",
        }
    }
}

/// The running state of one aggregate over values of one column type.
pub(super) struct Fold<'v> {
    how: Aggregate,
    /// Values added, `NULL`s not counted, with their multiplicity (in 128
    /// bits, so that a mean's divisor is right wherever its sum is).
    count: u128,
    /// The exact sum of an `Int` column's values, `None` once a partial
    /// sum leaves the `i128` range (results repeated about 2^64 times):
    /// past that a `Sum` is an overflow even if later values would bring
    /// it back, as SQLite's is past the `i64` range.
    int_sum: Option<i128>,
    /// The sum of the values as floats (an `Int` column's too, for a mean
    /// whose exact sum left the `i128` range).
    float_sum: f64,
    /// The smallest or largest value so far.
    best: Option<ValueRef<'v>>,
    /// The distinct values so far, for `CountDistinct`.
    seen: HashSet<Distinct<'v>>,
    /// The column's type.
    ty: Type,
}

impl<'v> Fold<'v> {
    /// A fold of `how` over a column of type `ty`; the reason, as an
    /// error message, when `how` does not apply to that type.
    pub(super) fn new(how: Aggregate, ty: Type) -> Result<Self, String> {
        if matches!(how, Aggregate::Sum | Aggregate::Avg) && !matches!(ty, Type::Int | Type::Float) {
            return Err(format!("{} needs an Int or Float column, and this one is {ty}", how.name()));
        }
        Ok(Fold { how, count: 0, int_sum: Some(0), float_sum: 0.0, best: None, seen: HashSet::new(), ty })
    }

    /// Adds `value`, which `times` results read (a row that a filter across
    /// a multi-valued relation matches more than once). O(1) expected.
    pub(super) fn add(&mut self, value: ValueRef<'v>, times: u64) {
        if value.is_null() || times == 0 {
            return;
        }
        self.count += u128::from(times);
        match (self.how, value) {
            (Aggregate::Count, _) => {}
            (Aggregate::CountDistinct, v) => {
                self.seen.insert(Distinct::of(v));
            }
            (Aggregate::Sum | Aggregate::Avg, ValueRef::Int(i)) => {
                self.int_sum = self.int_sum.and_then(|s| s.checked_add(i128::from(i).checked_mul(i128::from(times))?));
                self.float_sum += i as f64 * times as f64;
            }
            (Aggregate::Sum | Aggregate::Avg, ValueRef::Float(f)) => self.float_sum += f * times as f64,
            (Aggregate::Min, v) => {
                if self.best.is_none_or(|b| cmp_values(v, b).is_lt()) {
                    self.best = Some(v);
                }
            }
            (Aggregate::Max, v) => {
                if self.best.is_none_or(|b| cmp_values(v, b).is_gt()) {
                    self.best = Some(v);
                }
            }
            // `new` refused the other types for `Sum` and `Avg`.
            (Aggregate::Sum | Aggregate::Avg, _) => {}
        }
    }

    /// The aggregate's value; `None` when an `Int` `Sum` does not fit an
    /// `i64`. O(1), plus a copy of a `Min` or `Max` text or bytes value.
    pub(super) fn finish(self) -> Option<Value> {
        let count = i64::try_from(self.count).unwrap_or(i64::MAX);
        let none = self.count == 0;
        Some(match self.how {
            Aggregate::Count => Value::Int(count),
            Aggregate::CountDistinct => Value::Int(i64::try_from(self.seen.len()).unwrap_or(i64::MAX)),
            _ if none => Value::Null,
            Aggregate::Sum if self.ty == Type::Int => Value::Int(i64::try_from(self.int_sum?).ok()?),
            Aggregate::Sum => Value::Float(self.float_sum),
            // An `Int` mean is exact up to the `f64` rounding of its exact
            // sum; a sum past the `i128` range (results repeated about 2^64
            // times) falls back to the floats' sum.
            Aggregate::Avg => Value::Float(
                match (self.ty, self.int_sum) {
                    (Type::Int, Some(exact)) => exact as f64,
                    _ => self.float_sum,
                } / self.count as f64,
            ),
            Aggregate::Min | Aggregate::Max => self.best.map_or(Value::Null, |v| v.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(how: Aggregate, ty: Type, values: &[(ValueRef<'static>, u64)]) -> Option<Value> {
        let mut f = Fold::new(how, ty).expect("applies");
        for &(v, times) in values {
            f.add(v, times);
        }
        f.finish()
    }

    #[test]
    fn nulls_are_skipped_and_none_is_null_or_zero() {
        let only_null = [(ValueRef::Null, 3)];
        for how in [Aggregate::Sum, Aggregate::Avg, Aggregate::Min, Aggregate::Max] {
            assert_eq!(fold(how, Type::Int, &only_null), Some(Value::Null), "{how:?}");
        }
        assert_eq!(fold(Aggregate::Count, Type::Int, &only_null), Some(Value::Int(0)));
        assert_eq!(fold(Aggregate::CountDistinct, Type::Int, &only_null), Some(Value::Int(0)));
        let some = [(ValueRef::Int(4), 1), (ValueRef::Null, 1), (ValueRef::Int(-1), 2)];
        assert_eq!(fold(Aggregate::Count, Type::Int, &some), Some(Value::Int(3)));
        assert_eq!(fold(Aggregate::CountDistinct, Type::Int, &some), Some(Value::Int(2)));
        assert_eq!(fold(Aggregate::Sum, Type::Int, &some), Some(Value::Int(2)));
        assert_eq!(fold(Aggregate::Avg, Type::Int, &some), Some(Value::Float(2.0 / 3.0)));
        assert_eq!(fold(Aggregate::Min, Type::Int, &some), Some(Value::Int(-1)));
        assert_eq!(fold(Aggregate::Max, Type::Int, &some), Some(Value::Int(4)));
    }

    #[test]
    fn an_int_sum_is_exact_in_between_and_must_fit_only_at_the_end() {
        let big = [(ValueRef::Int(i64::MAX), 1), (ValueRef::Int(1), 1)];
        assert_eq!(fold(Aggregate::Sum, Type::Int, &big), None);
        let back = [(ValueRef::Int(i64::MAX), 2), (ValueRef::Int(i64::MIN), 2)];
        assert_eq!(fold(Aggregate::Sum, Type::Int, &back), Some(Value::Int(-2)));
        assert_eq!(fold(Aggregate::Avg, Type::Int, &back), Some(Value::Float(-0.5)));
    }

    #[test]
    fn an_int_mean_past_the_exact_range_falls_back_to_floats() {
        // Only results repeated about 2^64 times leave the `i128` range.
        let huge = [(ValueRef::Int(i64::MAX), u64::MAX), (ValueRef::Int(i64::MAX), u64::MAX)];
        assert_eq!(fold(Aggregate::Sum, Type::Int, &huge), None);
        assert_eq!(fold(Aggregate::Avg, Type::Int, &huge), Some(Value::Float(i64::MAX as f64)));
        assert_eq!(fold(Aggregate::Count, Type::Int, &huge), Some(Value::Int(i64::MAX)));
        // Past that range a sum that comes back is still an overflow.
        let back = [huge[0], huge[1], (ValueRef::Int(-i64::MAX), u64::MAX), (ValueRef::Int(-i64::MAX), u64::MAX)];
        assert_eq!(fold(Aggregate::Sum, Type::Int, &back), None);
        assert_eq!(fold(Aggregate::Avg, Type::Int, &back), Some(Value::Float(0.0)));
    }

    #[test]
    fn floats_text_and_bools_follow_the_ordering() {
        let floats = [(ValueRef::Float(-0.0), 1), (ValueRef::Float(0.0), 1), (ValueRef::Float(f64::NAN), 1)];
        assert_eq!(fold(Aggregate::CountDistinct, Type::Float, &floats), Some(Value::Int(2)));
        assert!(fold(Aggregate::Max, Type::Float, &floats).and_then(|v| v.as_float()).is_some_and(f64::is_nan));
        assert_eq!(fold(Aggregate::Sum, Type::Float, &floats[..2]), Some(Value::Float(0.0)));
        let text = [(ValueRef::Text("b"), 1), (ValueRef::Text("B"), 1), (ValueRef::Text("ab"), 1)];
        assert_eq!(fold(Aggregate::Min, Type::Text, &text), Some(Value::from("B")));
        assert_eq!(fold(Aggregate::Max, Type::Text, &text), Some(Value::from("b")));
        let bools = [(ValueRef::Bool(true), 1), (ValueRef::Bool(false), 1)];
        assert_eq!(fold(Aggregate::Min, Type::Bool, &bools), Some(Value::Bool(false)));
    }

    #[test]
    fn sum_and_avg_refuse_other_types() {
        for ty in [Type::Bool, Type::Text, Type::Bytes] {
            assert!(Fold::new(Aggregate::Sum, ty).is_err());
            assert!(Fold::new(Aggregate::Avg, ty).is_err());
            assert!(Fold::new(Aggregate::Max, ty).is_ok());
        }
    }
}
