//! Conditions: the user's [`Q`] trees of `(path, Arg)` leaves, and the
//! compiled [`Test`] each leaf's lookup and value become once the path is
//! resolved (values type-checked, case folded, `in` lists sorted).

use std::cmp::Ordering;
use std::fmt;
use std::ops::{BitAnd, BitOr, Not};

use super::path::{Lookup, Terminal};
use crate::error::{Error, Result};
use crate::schema::Schema;
use crate::txn::Key;
use crate::value::{CellValue, Type, Value, ValueRef};

/// The right-hand side of a lookup: a value, a [`Key`] (for `id`, a
/// foreign key or a relation; its table is checked), or a list (for `in`
/// and `range`).
///
/// Build it with `into()` from an `i64`, `i32` or `u32`, an `f64`, a
/// `bool`, a string (`&str`, `String`, `&String`), bytes (`&[u8]` or
/// `Vec<u8>`: one value, not a list), a [`Value`] or a [`ValueRef`], an `Option`
/// of one of those (`None` is `NULL`), a [`Key`], `&Key` or `Option<Key>`,
/// a `&`[`CellValue`] (its key if it was set from one), or an array, `Vec`
/// or slice of arguments, which makes a list: `filter("id__in", [1, 2])`.
///
/// Cloning, comparing, formatting and dropping an argument do not recurse,
/// so lists nested to any depth are safe to handle (a query refuses them).
pub enum Arg {
    /// A single value. `Null` with `exact` means `isnull`.
    Value(Value),
    /// A row, compared by id; its table must be the one the column refers
    /// to.
    Key(Key),
    /// Several values, for `in` (any number) and `range` (exactly two).
    List(Vec<Arg>),
}

macro_rules! arg_from_value {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Arg {
            fn from(v: $t) -> Self {
                Arg::Value(Value::from(v))
            }
        }
    )*};
}

arg_from_value!(i64, i32, u32, f64, bool, String, &str, &String, &[u8], Vec<u8>, Value, ValueRef<'_>);

impl<T: Into<Value>> From<Option<T>> for Arg {
    fn from(v: Option<T>) -> Self {
        Arg::Value(v.map_or(Value::Null, Into::into))
    }
}

impl From<Key> for Arg {
    fn from(k: Key) -> Self {
        Arg::Key(k)
    }
}

impl From<&Key> for Arg {
    fn from(k: &Key) -> Self {
        Arg::Key(*k)
    }
}

/// `None` is `NULL` (with `exact`, `isnull`).
impl From<Option<Key>> for Arg {
    fn from(k: Option<Key>) -> Self {
        k.map_or(Arg::Value(Value::Null), Arg::Key)
    }
}

/// A cell set from a key is that key; any other, its value.
impl From<&CellValue> for Arg {
    fn from(c: &CellValue) -> Self {
        c.key().map_or_else(|| Arg::Value(c.value().clone()), Arg::Key)
    }
}

impl<T: Into<Arg>> From<Vec<T>> for Arg {
    fn from(v: Vec<T>) -> Self {
        Arg::List(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Arg>, const N: usize> From<[T; N]> for Arg {
    fn from(v: [T; N]) -> Self {
        Arg::List(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Arg> + Clone> From<&[T]> for Arg {
    fn from(v: &[T]) -> Self {
        Arg::List(v.iter().cloned().map(Into::into).collect())
    }
}

/// Lists nested deeper than this are shown as `[...]` in messages, so
/// that formatting an argument (for an error) cannot exhaust the stack.
const SHOWN_DEPTH: usize = 8;

impl Arg {
    fn show(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        match self {
            Arg::Value(v) => fmt::Display::fmt(v, f),
            Arg::Key(k) => write!(f, "{}", k.id()),
            Arg::List(_) if depth == SHOWN_DEPTH => f.write_str("[...]"),
            Arg::List(items) => {
                f.write_str("[")?;
                for (i, a) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    a.show(f, depth + 1)?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.show(f, 0)
    }
}

/// Frees an argument without recursion, as [`Q`]'s drop does: nested
/// lists move to a stack before each is dropped.
impl Drop for Arg {
    fn drop(&mut self) {
        let Arg::List(items) = self else { return };
        let mut stack = std::mem::take(items);
        while let Some(mut arg) = stack.pop() {
            if let Arg::List(inner) = &mut arg {
                stack.append(inner);
            }
        }
    }
}

/// A condition: `(path, value)` leaves combined with `&` (and), `|` (or)
/// and `!` (not), the role of Django's `Q` objects. Paths are resolved when
/// the condition is given to [`Query::filter_q`](crate::Query::filter_q)
/// or [`Query::exclude_q`](crate::Query::exclude_q).
///
/// Inside one filter call, every leaf that crosses the same multi-valued
/// relation (by the same path prefix) talks about the same related row.
/// A negated part (`!q`) asks that *no* related row satisfies `q`, on its
/// own (Django's subquery for negated multi-valued conditions).
///
/// ```
/// use junctiondb::Q;
/// let q = Q::new("groups__name", "rock") | (Q::new("username__startswith", "j") & !Q::new("id", 3));
/// assert_eq!(q.to_string(), "(groups__name = \"rock\" OR (username__startswith = \"j\" AND NOT id = 3))");
/// ```
///
/// `&` and `|` keep a chain of one operator flat however it is grouped, as
/// Django's `Q` does: `a | (b | c)` is the one node `a | b | c`, so a
/// condition folded from either side nests one level (a fold from the
/// right costs O(n²) moves, one from the left or `Q::any` O(n)); and
/// `!!q` is `q`, as Django's `~~q` is. Cloning, comparing,
/// formatting and dropping a condition do not recurse, so one nested to
/// any depth (which [`Query::filter_q`](crate::Query::filter_q) refuses
/// past 64 levels) is safe to handle.
pub struct Q(pub(crate) QNode);

pub(crate) enum QNode {
    Leaf(String, Arg),
    And(Vec<Q>),
    Or(Vec<Q>),
    Not(Box<Q>),
}

impl Q {
    /// The condition `path = value` (or `path__lookup value`). O(1); the
    /// path is checked when the condition is used.
    pub fn new(path: impl Into<String>, value: impl Into<Arg>) -> Q {
        Q(QNode::Leaf(path.into(), value.into()))
    }

    /// All of `conditions` (true when empty). O(conditions).
    pub fn all(conditions: impl IntoIterator<Item = Q>) -> Q {
        Q(QNode::And(conditions.into_iter().collect()))
    }

    /// Any of `conditions` (false when empty). O(conditions).
    pub fn any(conditions: impl IntoIterator<Item = Q>) -> Q {
        Q(QNode::Or(conditions.into_iter().collect()))
    }
}

impl Q {
    /// The path and value of the `n`-th `(path, value)` leaf, counting
    /// from 0 in the order written (left to right, depth first). When `q`
    /// has fewer, `n` is left reduced by the number it has. O(size of `q`).
    pub(crate) fn nth_leaf_mut(&mut self, n: &mut usize) -> Option<(&str, &mut Arg)> {
        match &mut self.0 {
            QNode::Leaf(path, arg) if *n == 0 => Some((path.as_str(), arg)),
            QNode::Leaf(..) => {
                *n -= 1;
                None
            }
            QNode::And(items) | QNode::Or(items) => items.iter_mut().find_map(|q| q.nth_leaf_mut(n)),
            QNode::Not(inner) => inner.nth_leaf_mut(n),
        }
    }

    /// The node, leaving an empty `And` in its place (`Q` has a `Drop`, so
    /// its node cannot be moved out).
    fn take(&mut self) -> QNode {
        std::mem::replace(&mut self.0, QNode::And(Vec::new()))
    }
}

/// Frees a condition without recursion: each node's children move to a
/// stack before it is dropped, so a condition nested deeper than the
/// stack allows (which `filter_q` refuses, and drops) is freed too.
impl Drop for Q {
    fn drop(&mut self) {
        fn children(node: &mut QNode, stack: &mut Vec<Q>) {
            match node {
                QNode::And(items) | QNode::Or(items) => stack.append(items),
                QNode::Not(inner) => stack.push(Q(inner.take())),
                QNode::Leaf(..) => {}
            }
        }
        let mut stack = Vec::new();
        children(&mut self.0, &mut stack);
        while let Some(mut q) = stack.pop() {
            children(&mut q.0, &mut stack);
        }
    }
}

impl Q {
    /// `self & rhs` (`and`) or `self | rhs`: either side that is already
    /// a node of that operator gives its items instead of itself, as
    /// Django's `Q._combine` squashes them. O(items of the right side),
    /// so a fold from the right moves O(n²) items in all (as Django's
    /// copies do); from the left, or with `Q::any`/`Q::all`, O(n).
    fn combine(mut self, mut rhs: Q, and: bool) -> Q {
        let mut items = match self.take() {
            QNode::And(items) if and => items,
            QNode::Or(items) if !and => items,
            node => vec![Q(node)],
        };
        match rhs.take() {
            QNode::And(more) if and => items.extend(more),
            QNode::Or(more) if !and => items.extend(more),
            node => items.push(Q(node)),
        }
        Q(if and { QNode::And(items) } else { QNode::Or(items) })
    }
}

impl BitAnd for Q {
    type Output = Q;

    fn bitand(self, rhs: Q) -> Q {
        self.combine(rhs, true)
    }
}

impl BitOr for Q {
    type Output = Q;

    fn bitor(self, rhs: Q) -> Q {
        self.combine(rhs, false)
    }
}

/// `!q` negates `q`; `!` of a negation is the condition negated, as
/// Django's `~` flips a flag, so that `!!q` is `q` itself (a double
/// negation across a multi-valued relation would otherwise ask for a
/// related row existing, counted once, where `q` repeats a row per
/// related row that matches). O(1).
impl Not for Q {
    type Output = Q;

    fn not(mut self) -> Q {
        match self.take() {
            QNode::Not(negated) => *negated,
            node => Q(QNode::Not(Box::new(Q(node)))),
        }
    }
}

/// Written without recursion: a stack of what is left to write.
impl fmt::Display for Q {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        enum Next<'a> {
            Node(&'a Q),
            Text(&'static str),
        }
        let mut next = vec![Next::Node(self)];
        while let Some(step) = next.pop() {
            let q = match step {
                Next::Text(text) => {
                    f.write_str(text)?;
                    continue;
                }
                Next::Node(q) => q,
            };
            let (items, op) = match &q.0 {
                QNode::Leaf(path, arg) => {
                    write!(f, "{path} = {arg}")?;
                    continue;
                }
                QNode::Not(inner) => {
                    f.write_str("NOT ")?;
                    next.push(Next::Node(inner));
                    continue;
                }
                QNode::And(items) if items.is_empty() => {
                    f.write_str("TRUE")?;
                    continue;
                }
                QNode::Or(items) if items.is_empty() => {
                    f.write_str("FALSE")?;
                    continue;
                }
                QNode::And(items) => (items, " AND "),
                QNode::Or(items) => (items, " OR "),
            };
            f.write_str("(")?;
            next.push(Next::Text(")"));
            for (i, item) in items.iter().enumerate().rev() {
                next.push(Next::Node(item));
                if i > 0 {
                    next.push(Next::Text(op));
                }
            }
        }
        Ok(())
    }
}

/// A tree of conditions or of arguments, taken apart one node at a time
/// so that cloning, comparing and formatting it need no recursion: a
/// caller can nest either as deep as memory allows, and a derived
/// implementation would recurse once per level and overflow the stack.
trait Tree: Sized {
    /// What a node is apart from its children, compared and copied alone.
    type Part<'a>: PartialEq + fmt::Debug
    where
        Self: 'a;

    /// The node's own part, and its children if it is a branch (`None`
    /// for a leaf, so that an empty branch still shows its brackets).
    fn split(&self) -> (Self::Part<'_>, Option<&[Self]>);

    /// The node of `part` over `children` (as many as `split` gave).
    fn join(part: Self::Part<'_>, children: Vec<Self>) -> Self;

    /// A deep copy, built bottom-up from a stack. O(nodes).
    fn clone_tree(&self) -> Self {
        enum Step<'a, T: Tree + 'a> {
            Visit(&'a T),
            Join(T::Part<'a>, usize),
        }
        let mut steps = vec![Step::Visit(self)];
        let mut built: Vec<Self> = Vec::new();
        while let Some(step) = steps.pop() {
            match step {
                Step::Visit(node) => {
                    let (part, children) = node.split();
                    let children = children.unwrap_or_default();
                    steps.push(Step::Join(part, children.len()));
                    steps.extend(children.iter().rev().map(Step::Visit));
                }
                Step::Join(part, 0) => built.push(Self::join(part, Vec::new())),
                Step::Join(part, n) => {
                    let children = built.split_off(built.len() - n);
                    built.push(Self::join(part, children));
                }
            }
        }
        built.pop().expect("the root is joined last")
    }

    /// Structural equality, pair by pair from a stack. O(nodes).
    fn eq_tree(&self, other: &Self) -> bool {
        let mut pairs = vec![(self, other)];
        while let Some((a, b)) = pairs.pop() {
            let ((part_a, children_a), (part_b, children_b)) = (a.split(), b.split());
            if part_a != part_b || children_a.map(<[Self]>::len) != children_b.map(<[Self]>::len) {
                return false;
            }
            pairs.extend(children_a.unwrap_or_default().iter().zip(children_b.unwrap_or_default()));
        }
        true
    }

    /// Each node's part in `Debug` form, a branch's children after it in
    /// brackets: `And[Leaf("id", Value(Int(1))), Not[...]]`. O(nodes).
    fn debug_tree(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        enum Next<'a, T> {
            Node(&'a T),
            Text(&'static str),
        }
        let mut next = vec![Next::Node(self)];
        while let Some(step) = next.pop() {
            match step {
                Next::Text(text) => f.write_str(text)?,
                Next::Node(node) => {
                    let (part, children) = node.split();
                    fmt::Debug::fmt(&part, f)?;
                    let Some(children) = children else { continue };
                    f.write_str("[")?;
                    next.push(Next::Text("]"));
                    for (i, child) in children.iter().enumerate().rev() {
                        next.push(Next::Node(child));
                        if i > 0 {
                            next.push(Next::Text(", "));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A node of a [`Q`] without its children.
#[derive(PartialEq, Debug)]
enum QPart<'a> {
    Leaf(&'a str, &'a Arg),
    And,
    Or,
    Not,
}

impl Tree for Q {
    type Part<'a> = QPart<'a>;

    fn split(&self) -> (QPart<'_>, Option<&[Q]>) {
        match &self.0 {
            QNode::Leaf(path, arg) => (QPart::Leaf(path, arg), None),
            QNode::And(items) => (QPart::And, Some(items)),
            QNode::Or(items) => (QPart::Or, Some(items)),
            QNode::Not(inner) => (QPart::Not, Some(std::slice::from_ref(&**inner))),
        }
    }

    fn join(part: QPart<'_>, mut children: Vec<Q>) -> Q {
        Q(match part {
            QPart::Leaf(path, arg) => QNode::Leaf(path.to_owned(), arg.clone()),
            QPart::And => QNode::And(children),
            QPart::Or => QNode::Or(children),
            QPart::Not => QNode::Not(Box::new(children.pop().expect("a negation has one condition"))),
        })
    }
}

/// A node of an [`Arg`] without its items.
#[derive(PartialEq, Debug)]
enum ArgPart<'a> {
    Value(&'a Value),
    Key(Key),
    List,
}

impl Tree for Arg {
    type Part<'a> = ArgPart<'a>;

    fn split(&self) -> (ArgPart<'_>, Option<&[Arg]>) {
        match self {
            Arg::Value(v) => (ArgPart::Value(v), None),
            Arg::Key(k) => (ArgPart::Key(*k), None),
            Arg::List(items) => (ArgPart::List, Some(items)),
        }
    }

    fn join(part: ArgPart<'_>, children: Vec<Arg>) -> Arg {
        match part {
            ArgPart::Value(v) => Arg::Value(v.clone()),
            ArgPart::Key(k) => Arg::Key(k),
            ArgPart::List => Arg::List(children),
        }
    }
}

/// A deep copy, without recursion. O(size).
impl Clone for Q {
    fn clone(&self) -> Q {
        self.clone_tree()
    }
}

/// Structural equality (the same tree, leaf for leaf), without
/// recursion. O(size).
impl PartialEq for Q {
    fn eq(&self, other: &Q) -> bool {
        self.eq_tree(other)
    }
}

/// The tree, node by node, without recursion:
/// `Or[Leaf("id", Value(Int(1))), Not[Leaf("name", Value(Text("a")))]]`.
impl fmt::Debug for Q {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.debug_tree(f)
    }
}

/// A deep copy, without recursion. O(size).
impl Clone for Arg {
    fn clone(&self) -> Arg {
        self.clone_tree()
    }
}

/// Structural equality, without recursion; values compare as
/// [`Value`]'s `PartialEq` does. O(size).
impl PartialEq for Arg {
    fn eq(&self, other: &Arg) -> bool {
        self.eq_tree(other)
    }
}

/// The argument, node by node, without recursion: `Value(Int(1))`,
/// `Key(..)`, `List[Value(Int(1)), List[]]`.
impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.debug_tree(f)
    }
}

/// A lookup and its value, compiled for one column.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Test {
    Eq(Value),
    IsNull(bool),
    /// Sorted by [`cmp_values`], without repeats.
    In(Vec<Value>),
    Range(Value, Value),
    Cmp(Ordering, bool, Value),
    Text(TextOp, String, bool),
    Bytes(TextOp, Vec<u8>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextOp {
    Exact,
    Contains,
    Starts,
    Ends,
}

/// The total order of values of one type used by comparisons, `in`,
/// `range` and ordering: numbers by value (`-0.0 == 0.0`, NaN equal to
/// itself and above every number), text and bytes lexicographically by
/// byte, `false < true`. `Null` sorts before everything.
pub(crate) fn cmp_values(a: ValueRef<'_>, b: ValueRef<'_>) -> Ordering {
    match (a, b) {
        (ValueRef::Null, ValueRef::Null) => Ordering::Equal,
        (ValueRef::Null, _) => Ordering::Less,
        (_, ValueRef::Null) => Ordering::Greater,
        (ValueRef::Int(x), ValueRef::Int(y)) => x.cmp(&y),
        (ValueRef::Float(x), ValueRef::Float(y)) => match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        },
        (ValueRef::Bool(x), ValueRef::Bool(y)) => x.cmp(&y),
        (ValueRef::Text(x), ValueRef::Text(y)) => x.cmp(y),
        (ValueRef::Bytes(x), ValueRef::Bytes(y)) => x.cmp(y),
        // Different types never meet in one column; order them by type.
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

fn type_rank(v: ValueRef<'_>) -> u8 {
    match v {
        ValueRef::Null => 0,
        ValueRef::Int(_) => 1,
        ValueRef::Float(_) => 2,
        ValueRef::Bool(_) => 3,
        ValueRef::Text(_) => 4,
        ValueRef::Bytes(_) => 5,
    }
}

/// The text case-insensitive lookups compare: each character's Unicode
/// lowercase, taken one character at a time, with the final sigma `ς` as
/// `σ`. `str::to_lowercase` is not used: it lowercases a word-final `Σ` to
/// `ς` and a lone one to `σ`, so `icontains("Σ")` missed `"ΟΔΟΣ"`; folded
/// here, every sigma is `σ` on both sides (PostgreSQL's `UPPER` on both
/// sides matches these too; SQLite's `LIKE` folds ASCII only).
pub(crate) fn fold(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        let lower = s.chars().flat_map(char::to_lowercase);
        std::borrow::Cow::Owned(lower.map(|c| if c == 'ς' { 'σ' } else { c }).collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn text_match(op: TextOp, hay: &str, needle: &str) -> bool {
    match op {
        TextOp::Exact => hay == needle,
        TextOp::Contains => hay.contains(needle),
        TextOp::Starts => hay.starts_with(needle),
        TextOp::Ends => hay.ends_with(needle),
    }
}

/// Whether ASCII `a` lowercased equals `folded` (already lowercase).
fn ascii_folded_eq(a: &[u8], folded: &[u8]) -> bool {
    a.len() == folded.len() && a.iter().zip(folded).all(|(x, y)| x.to_ascii_lowercase() == *y)
}

/// A case-insensitive match of `hay` against a needle folded once, at
/// compile time. An ASCII haystack folds byte by byte (its Unicode
/// lowercase is its ASCII lowercase), with no allocation: in place for
/// `exact`, `startswith` and `endswith`, in a stack buffer for `contains`
/// of short text. Other text is folded with [`fold`].
fn folded_match(op: TextOp, hay: &str, needle: &str) -> bool {
    const SHORT: usize = 128;
    if !hay.is_ascii() {
        return text_match(op, &fold(hay), needle);
    }
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    match op {
        TextOp::Exact => ascii_folded_eq(h, n),
        TextOp::Starts => h.len() >= n.len() && ascii_folded_eq(&h[..n.len()], n),
        TextOp::Ends => h.len() >= n.len() && ascii_folded_eq(&h[h.len() - n.len()..], n),
        TextOp::Contains if h.len() <= SHORT => {
            let mut buf = [0u8; SHORT];
            let lower = &mut buf[..h.len()];
            lower.copy_from_slice(h);
            lower.make_ascii_lowercase();
            std::str::from_utf8(lower).is_ok_and(|l| l.contains(needle))
        }
        TextOp::Contains => fold(hay).contains(needle),
    }
}

/// Equality in the order of [`cmp_values`], without ordering: lengths
/// first for text and bytes.
#[inline]
fn eq_values(a: ValueRef<'_>, b: ValueRef<'_>) -> bool {
    match (a, b) {
        (ValueRef::Int(x), ValueRef::Int(y)) => x == y,
        (ValueRef::Text(x), ValueRef::Text(y)) => x == y,
        (ValueRef::Bytes(x), ValueRef::Bytes(y)) => x == y,
        (ValueRef::Bool(x), ValueRef::Bool(y)) => x == y,
        _ => cmp_values(a, b) == Ordering::Equal,
    }
}

impl Test {
    /// Whether `v` passes. A `NULL` passes only `isnull = true`. O(1),
    /// O(log n) for `in`, O(length) for text; a bytes `contains` compares
    /// the needle at each position, O(length × needle) at worst.
    pub(crate) fn eval(&self, v: ValueRef<'_>) -> bool {
        if v.is_null() {
            return matches!(self, Test::IsNull(true));
        }
        match self {
            Test::IsNull(want) => !want,
            Test::Eq(x) => eq_values(v, x.as_ref()),
            Test::In(xs) => xs.binary_search_by(|x| cmp_values(x.as_ref(), v)).is_ok(),
            Test::Range(lo, hi) => {
                cmp_values(v, lo.as_ref()) != Ordering::Less && cmp_values(v, hi.as_ref()) != Ordering::Greater
            }
            Test::Cmp(ord, or_equal, x) => {
                let c = cmp_values(v, x.as_ref());
                c == *ord || (*or_equal && c == Ordering::Equal)
            }
            Test::Text(op, needle, ci) => match v {
                ValueRef::Text(s) if *ci => folded_match(*op, s, needle),
                ValueRef::Text(s) => text_match(*op, s, needle),
                _ => false,
            },
            Test::Bytes(op, needle) => match v {
                ValueRef::Bytes(b) => match op {
                    TextOp::Exact => b == needle.as_slice(),
                    TextOp::Contains => needle.is_empty() || b.windows(needle.len()).any(|w| w == needle.as_slice()),
                    TextOp::Starts => b.starts_with(needle),
                    TextOp::Ends => b.ends_with(needle),
                },
                _ => false,
            },
        }
    }

    /// The values an index probe can look up to find every row that
    /// passes, when there are such values (`exact`, `in`).
    pub(crate) fn probe_values(&self) -> Option<&[Value]> {
        match self {
            Test::Eq(v) => Some(std::slice::from_ref(v)),
            Test::In(vs) => Some(vs),
            _ => None,
        }
    }
}

/// Compiles the lookup of `r` (at the end of `path`) with `arg` into a
/// [`Test`].
///
/// # Errors
/// [`Error::Query`] for a lookup the column's type does not support or an
/// argument of the wrong shape, [`Error::TypeMismatch`] for a value of the
/// wrong type, [`Error::WrongTable`] for a key of the wrong table.
pub(crate) fn compile(schema: &Schema, root: &str, path: &str, r: Terminal, arg: &Arg) -> Result<Test> {
    let def = schema.def(r.table);
    let col = &def.columns[r.column as usize];
    let fail = |reason: String| Error::Query { table: root.to_owned(), path: path.to_owned(), reason };
    let lookup = r.lookup;
    let scalar = |arg: &Arg| -> Result<Value> {
        match arg {
            Arg::Value(v) => match v.type_of() {
                None => Err(fail(format!(
                    "NULL is only compared with exact or iexact (meaning isnull); use {}__isnull",
                    col.name
                ))),
                Some(t) if t == col.ty => Ok(v.clone()),
                Some(_) => Err(def.type_mismatch(r.column, v.clone())),
            },
            Arg::Key(k) => match r.refs {
                Some(t) if t == k.table() => Ok(Value::Int(k.id())),
                Some(t) => Err(Error::WrongTable {
                    expected: schema.table_name(t).to_owned(),
                    found: schema.table_name(k.table()).to_owned(),
                    id: k.id(),
                }),
                None => Err(fail(format!(
                    "a key compares with an id, a foreign key or a relation, and column {}.{} is none of these",
                    def.name, col.name
                ))),
            },
            Arg::List(_) => Err(fail(format!("the lookup {} takes one value, not a list", lookup.name()))),
        }
    };
    // The items of a list; `in` drops its NULLs, which equal nothing, as
    // Django does (a list of NULLs alone matches no row).
    let list = |arg: &Arg, drop_nulls: bool| -> Result<Vec<Value>> {
        match arg {
            Arg::List(items) => {
                items.iter().filter(|a| !(drop_nulls && matches!(a, Arg::Value(Value::Null)))).map(scalar).collect()
            }
            _ => Err(fail(format!("the lookup {} takes a list", lookup.name()))),
        }
    };
    let text_only = |ci: bool| -> Result<()> {
        match col.ty {
            Type::Text => Ok(()),
            Type::Bytes if !ci => Ok(()),
            ty => Err(fail(format!(
                "the lookup {} applies to Text{} columns, and {}.{} is {ty}",
                lookup.name(),
                if ci { "" } else { " and Bytes" },
                def.name,
                col.name
            ))),
        }
    };
    let text = |op: TextOp, ci: bool| -> Result<Test> {
        text_only(ci)?;
        match scalar(arg)? {
            Value::Text(s) if ci => Ok(Test::Text(op, fold(&s).into_owned(), true)),
            Value::Text(s) => Ok(Test::Text(op, s, false)),
            Value::Bytes(b) => Ok(Test::Bytes(op, b)),
            _ => unreachable!("scalar checked the column type"),
        }
    };
    Ok(match lookup {
        Lookup::Exact => match arg {
            Arg::Value(Value::Null) => Test::IsNull(true),
            _ => Test::Eq(scalar(arg)?),
        },
        // As Django, `iexact` with NULL is `isnull` too.
        Lookup::IExact => match arg {
            Arg::Value(Value::Null) => Test::IsNull(true),
            _ => text(TextOp::Exact, true)?,
        },
        Lookup::Contains => text(TextOp::Contains, false)?,
        Lookup::IContains => text(TextOp::Contains, true)?,
        Lookup::StartsWith => text(TextOp::Starts, false)?,
        Lookup::IStartsWith => text(TextOp::Starts, true)?,
        Lookup::EndsWith => text(TextOp::Ends, false)?,
        Lookup::IEndsWith => text(TextOp::Ends, true)?,
        Lookup::Gt => Test::Cmp(Ordering::Greater, false, scalar(arg)?),
        Lookup::Gte => Test::Cmp(Ordering::Greater, true, scalar(arg)?),
        Lookup::Lt => Test::Cmp(Ordering::Less, false, scalar(arg)?),
        Lookup::Lte => Test::Cmp(Ordering::Less, true, scalar(arg)?),
        Lookup::In => {
            let mut vs = list(arg, true)?;
            vs.sort_by(|a, b| cmp_values(a.as_ref(), b.as_ref()));
            vs.dedup_by(|a, b| cmp_values(a.as_ref(), b.as_ref()) == Ordering::Equal);
            Test::In(vs)
        }
        Lookup::Range => match list(arg, false)?.as_slice() {
            [lo, hi] => Test::Range(lo.clone(), hi.clone()),
            other => return Err(fail(format!("the lookup range takes two values, not {}", other.len()))),
        },
        Lookup::IsNull => match arg {
            Arg::Value(Value::Bool(b)) => Test::IsNull(*b),
            _ => return Err(fail(format!("the lookup isnull takes true or false, not {arg}"))),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_order_is_total_and_matches_index_equality() {
        let f = |x: f64| ValueRef::Float(x);
        assert_eq!(cmp_values(f(-0.0), f(0.0)), Ordering::Equal);
        assert_eq!(cmp_values(f(f64::NAN), f(f64::NAN)), Ordering::Equal);
        assert_eq!(cmp_values(f(f64::NAN), f(f64::INFINITY)), Ordering::Greater);
        assert_eq!(cmp_values(ValueRef::Null, ValueRef::Int(i64::MIN)), Ordering::Less);
        assert_eq!(cmp_values(ValueRef::Text("Z"), ValueRef::Text("a")), Ordering::Less);
        assert_eq!(cmp_values(ValueRef::Bool(false), ValueRef::Bool(true)), Ordering::Less);
    }

    #[test]
    fn tests_reject_null_except_isnull() {
        let t = Test::In(vec![Value::Int(1), Value::Int(3)]);
        assert!(t.eval(ValueRef::Int(3)) && !t.eval(ValueRef::Int(2)) && !t.eval(ValueRef::Null));
        assert!(Test::IsNull(true).eval(ValueRef::Null));
        assert!(!Test::IsNull(false).eval(ValueRef::Null));
        assert!(!Test::Cmp(Ordering::Less, true, Value::Int(0)).eval(ValueRef::Null));
        assert!(Test::Text(TextOp::Contains, "ß".into(), true).eval(ValueRef::Text("STRAßE")));
        assert!(Test::Bytes(TextOp::Contains, vec![]).eval(ValueRef::Bytes(&[])));
    }

    #[test]
    fn folded_matches_agree_with_folding_both_sides() {
        let hays = ["", "a", "AbC", "xABCy", "abc", "STRAßE", "ΣΑΣ", "K", "\u{212A}elvin", &"Ab".repeat(100)];
        let needles = ["", "a", "abc", "bc", "ab", "straße", "σας", "k", "kelvin", "bab", "xy", "Σ", "ς"];
        for hay in hays {
            for needle in needles {
                let (lower, needle) = (fold(hay), fold(needle));
                for op in [TextOp::Exact, TextOp::Contains, TextOp::Starts, TextOp::Ends] {
                    assert_eq!(
                        folded_match(op, hay, &needle),
                        text_match(op, &lower, &needle),
                        "{op:?} {hay:?} {needle:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_sigma_folds_to_one_letter() {
        // A word-final capital sigma, a lone one and the final form match
        // each other, whatever the position.
        assert_eq!(fold("ΟΔΟΣ"), "οδοσ");
        assert_eq!(fold("Σ"), "σ");
        assert_eq!(fold("σας"), "σασ");
        assert!(folded_match(TextOp::Contains, "ΟΔΟΣ", &fold("Σ")));
        assert!(folded_match(TextOp::Ends, "ΟΔΟΣ", &fold("ς")));
        assert!(folded_match(TextOp::Exact, "ΣΑΣ", &fold("σας")));
        assert!(!folded_match(TextOp::Exact, "ΣΑΣ", &fold("σα")));
        // One character at a time: the dotted capital I becomes two.
        assert_eq!(fold("İ"), "i\u{307}");
    }

    #[test]
    fn q_operators_flatten() {
        let q = Q::new("a", 1) & Q::new("b", 2) & Q::new("c", 3);
        assert!(matches!(&q.0, QNode::And(v) if v.len() == 3));
        let q = Q::new("a", 1) | Q::new("b", 2) | Q::new("c", 3);
        assert!(matches!(&q.0, QNode::Or(v) if v.len() == 3));
        assert_eq!(Arg::from([1, 2]), Arg::List(vec![Arg::from(1), Arg::from(2)]));
        assert_eq!(Arg::from(None::<i64>), Arg::Value(Value::Null));
    }
}
