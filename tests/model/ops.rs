//! The operation language shared by the seeded generator and the `ops`
//! fuzz target: raw inputs decoded from bytes with `arbitrary`, bounded so
//! that ids collide and constraint errors really happen, then resolved
//! against the model's current state into concrete [`ROp`]s that both the
//! engine ([`apply_engine`]) and the model apply.

use arbitrary::{Arbitrary, Unstructured};
use junctiondb::{Error, Key, Row, TableId, Target, Value, WriteTxn};

use super::spec::{key_of, spec, EndKind};
use super::state::{Model, Out, ROp, RRel, RTarget};

/// At most this many steps per input, ops per transaction, cells per row
/// and targets per manager call.
pub const MAX_STEPS: usize = 200;
pub const MAX_TXN_OPS: usize = 6;
pub const MAX_CELLS: usize = 4;
pub const MAX_TARGETS: usize = 4;

/// One unit of work against the database.
#[derive(Clone, Debug)]
pub enum Step {
    /// One operation in its own `Database::write`.
    Op(Op),
    /// `begin_write`, the operations (each atomic on its own), then commit
    /// or drop.
    Txn { ops: Vec<Op>, commit: bool },
    /// A `Database::write` closure running the operations with `?`, that
    /// fails at operation `at` (or at the end) by returning an error or by
    /// panicking: nothing of it may remain.
    Failing { ops: Vec<Op>, at: u8, panic: bool },
}

#[derive(Clone, Debug)]
pub enum Op {
    /// Unless `mode % 4 == 0`, every required column (every column when
    /// `mode % 4 == 3`) first gets a value of its type (derived from
    /// `seed`), so that most inserts can succeed; the given cells are added
    /// when `mode % 4 < 2`.
    Insert {
        t: u8,
        mode: u8,
        seed: u8,
        cells: Vec<Cell>,
    },
    Update {
        t: u8,
        id: Sel,
        cells: Vec<Cell>,
    },
    Delete {
        t: u8,
        id: Sel,
    },
    /// Rows of tables with ids of their own (the others are left out).
    DeleteMany {
        keys: Vec<(u8, Sel)>,
    },
    Rel {
        acc: u8,
        me: Sel,
        op: RelOp,
    },
}

impl<'a> Arbitrary<'a> for Step {
    /// Weighted: 60% single operations, 25% explicit transactions (70% of
    /// them committed), 15% failing writes.
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u.int_in_range(0..=19u8)? {
            0..=11 => Step::Op(u.arbitrary()?),
            12..=16 => Step::Txn { ops: u.arbitrary()?, commit: u.int_in_range(0..=9u8)? < 7 },
            _ => Step::Failing { ops: u.arbitrary()?, at: u.arbitrary()?, panic: u.arbitrary()? },
        })
    }
}

impl<'a> Arbitrary<'a> for Op {
    /// Weighted: 40% inserts, 10% updates, 5% deletes, 2% deletes of
    /// several rows, 43% manager calls.
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u.int_in_range(0..=99u8)? {
            0..=39 => {
                Op::Insert { t: u.arbitrary()?, mode: u.arbitrary()?, seed: u.arbitrary()?, cells: u.arbitrary()? }
            }
            40..=49 => Op::Update { t: u.arbitrary()?, id: u.arbitrary()?, cells: u.arbitrary()? },
            50..=54 => Op::Delete { t: u.arbitrary()?, id: u.arbitrary()? },
            55..=56 => Op::DeleteMany { keys: u.arbitrary()? },
            _ => Op::Rel { acc: u.arbitrary()?, me: u.arbitrary()?, op: u.arbitrary()? },
        })
    }
}

#[derive(Arbitrary, Clone, Debug)]
pub enum RelOp {
    Add(Vec<Tgt>),
    AddWith(Vec<Tgt>, Vec<Cell>),
    Remove(Vec<Tgt>),
    Clear,
    Set(Vec<Tgt>),
    SetWith(Vec<Tgt>, Vec<Cell>),
    SetClearing(Vec<Tgt>, Vec<Cell>),
    Create(Vec<Cell>),
    CreateWith(Vec<Cell>, Vec<Cell>),
    GetOrCreate(Vec<Cell>, Vec<Cell>),
    UpdateOrCreate(Vec<Cell>, Vec<Cell>),
    /// `get_or_create_with`: lookup, defaults, through defaults.
    GetOrCreateWith(Vec<Cell>, Vec<Cell>, Vec<Cell>),
    UpdateOrCreateWith(Vec<Cell>, Vec<Cell>, Vec<Cell>),
}

/// Picks a row id: mostly an existing row (the n-th, wrapping), sometimes a
/// raw small id (0..8) that may not exist, or the id the table's next
/// insert takes or the one after (a link to it dangles until then).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Sel(pub u8);

/// A manager target: an id or key of the right table, or a key of some
/// other table.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Tgt {
    Id(Sel),
    Key(Sel),
    Foreign(u8, Sel),
}

/// A named value: the column is picked from the table's names (foreign key
/// field aliases included) plus one unknown name; the value is mostly of
/// the column's type.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Cell {
    pub col: u8,
    pub val: Val,
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Val {
    /// A value of the column's type (an existing id for a foreign key).
    Good(u8),
    Null,
    /// A value of any type.
    Any(u8),
}

const INTS: [i64; 9] = [1, 2, 3, 4, 5, 0, -1, 2020, i64::MAX];
const TEXTS: [&str; 8] = ["a", "b", "c", "", "ä", "d", "e", "f"];
const FLOATS: [f64; 4] = [0.0, 1.5, -0.0, f64::NAN];
const BYTES: [&[u8]; 3] = [b"", b"\0", b"\x01\x02"];

/// Decodes bytes into steps (as many as the bytes give, at most
/// [`MAX_STEPS`]). Never fails: a short input gives fewer steps.
pub fn decode(data: &[u8]) -> Vec<Step> {
    let mut u = Unstructured::new(data);
    let mut steps = Vec::new();
    while !u.is_empty() && steps.len() < MAX_STEPS {
        match Step::arbitrary(&mut u) {
            Ok(s) => steps.push(s),
            Err(_) => break,
        }
    }
    steps
}

impl Sel {
    pub fn pick(self, m: &Model, t: usize) -> i64 {
        let ids = m.ids(t);
        if self.0 < 200 && !ids.is_empty() {
            ids[self.0 as usize % ids.len()]
        } else if self.0 >= 232 {
            m.tables[t].next_id.saturating_add(i64::from(self.0 % 2))
        } else {
            i64::from(self.0 % 8)
        }
    }
}

fn typed(m: &Model, t: usize, c: Option<usize>, n: u8) -> Value {
    let s = spec();
    let Some(c) = c else { return Value::Int(1) };
    let col = &s.tabs[t].cols[c];
    let n = n as usize;
    if let Some(f) = col.fk {
        return Value::Int(Sel(n as u8).pick(m, s.fks[f].target));
    }
    if let Some(r) = s.tabs[t].auto {
        if c > 0 {
            let rel = &s.rels[r];
            return Value::Int(Sel(n as u8).pick(m, if c == 1 { rel.source } else { rel.target }));
        }
    }
    if c == 0 {
        // Now and then an id that a dangling link names, so that the
        // insert makes it a real link.
        let dangling: Vec<i64> = m.dangling_ids(t).into_iter().filter(|&id| id > 0).collect();
        if n % 4 == 2 && !dangling.is_empty() {
            return Value::Int(dangling[n / 4 % dangling.len()]);
        }
        // Small ids collide; now and then the largest ones, or one just
        // past the next, which ends the table's identity mode (ids equal
        // to slots) so that later inserts reuse freed slots.
        return Value::Int(match n % 16 {
            15 => i64::MAX - 1 - (n as i64 / 16) % 2,
            13 => m.tables[t].next_id.saturating_add(1),
            _ => INTS[n % 6],
        });
    }
    match col.ty {
        junctiondb::Type::Int => Value::Int(INTS[n % INTS.len()]),
        junctiondb::Type::Text => Value::from(TEXTS[n % TEXTS.len()]),
        junctiondb::Type::Float => Value::Float(FLOATS[n % FLOATS.len()]),
        junctiondb::Type::Bool => Value::Bool(n % 2 == 0),
        junctiondb::Type::Bytes => Value::from(BYTES[n % BYTES.len()]),
    }
}

fn any(n: u8) -> Value {
    let n = n as usize;
    match n % 5 {
        0 => Value::Int(INTS[n / 5 % INTS.len()]),
        1 => Value::from(TEXTS[n / 5 % TEXTS.len()]),
        2 => Value::Float(FLOATS[n / 5 % FLOATS.len()]),
        3 => Value::Bool(n / 5 % 2 == 0),
        _ => Value::from(BYTES[n / 5 % BYTES.len()]),
    }
}

/// Cells to a [`Row`] naming columns of table `t`.
pub fn row_of(m: &Model, t: usize, cells: &[Cell]) -> Row {
    let s = spec();
    let mut names = s.names(t);
    names.push("bogus");
    let mut row = Row::new();
    for cell in cells.iter().take(MAX_CELLS) {
        let name = names[cell.col as usize % names.len()];
        let c = s.col_of(t, name);
        // Now and then a key instead of an id: of the table the column
        // refers to for a good value, of any table for any value.
        let refs = c.and_then(|c| s.refs(t, c));
        match cell.val {
            Val::Good(n) if n % 8 == 7 && refs.is_some() => {
                let to = refs.unwrap_or(t);
                row.set(name, key_of(to, Sel(n / 8).pick(m, to)));
            }
            Val::Good(n) => {
                row.set(name, typed(m, t, c, n));
            }
            Val::Null => {
                row.set(name, Value::Null);
            }
            Val::Any(n) if n >= 240 => {
                let to = usize::from(n) % s.tabs.len();
                row.set(name, key_of(to, Sel(n).pick(m, to)));
            }
            Val::Any(n) => {
                row.set(name, any(n));
            }
        }
    }
    row
}

fn targets_of(m: &Model, other: usize, tgts: &[Tgt]) -> Vec<RTarget> {
    let n = spec().tabs.len();
    tgts.iter()
        .take(MAX_TARGETS)
        .map(|t| match *t {
            Tgt::Id(s) => RTarget::Id(s.pick(m, other)),
            Tgt::Key(s) => RTarget::Key(other, s.pick(m, other)),
            Tgt::Foreign(t, s) => {
                let t = t as usize % n;
                RTarget::Key(t, if spec().tabs[t].auto.is_some() { i64::from(s.0) } else { s.pick(m, t) })
            }
        })
        .collect()
}

/// Resolves a raw operation against the model's current state. `None`
/// when it names nothing to do (a link delete on an empty table).
pub fn resolve(m: &Model, op: &Op) -> Option<ROp> {
    let s = spec();
    let ntab = s.tabs.len();
    Some(match op {
        Op::Insert { t, mode, seed, cells } => {
            let t = *t as usize % ntab;
            let mut row = Row::new();
            if mode % 4 != 0 {
                for (c, col) in s.tabs[t].cols.iter().enumerate().skip(1) {
                    if mode % 4 == 3 || (!col.nullable && col.default.is_none()) {
                        row.set(col.name, typed(m, t, Some(c), seed.wrapping_add(c as u8 * 3)));
                    }
                }
            }
            if mode % 4 < 2 {
                for (name, cell) in row_of(m, t, cells).cells() {
                    row.set(name, cell.clone());
                }
            }
            ROp::Insert { t, row }
        }
        // A quarter of the updates (by the table byte's top bits, evenly
        // spread) name a second row, through `update_many`: half of them
        // the row the next selector picks (which may be the same), half a
        // row that does not exist, so that the call must undo the first
        // row's update.
        Op::Update { t, id, cells } if *t >= 192 => {
            let second = if *t & 32 == 0 { Sel(id.0.wrapping_add(1)) } else { Sel(u8::MAX) };
            let t = *t as usize % ntab;
            let ids = vec![id.pick(m, t), second.pick(m, t)];
            ROp::UpdateMany { t, ids, row: row_of(m, t, cells) }
        }
        Op::Update { t, id, cells } => {
            let t = *t as usize % ntab;
            ROp::Update { t, id: id.pick(m, t), row: row_of(m, t, cells) }
        }
        Op::Delete { t, id } => {
            let t = *t as usize % ntab;
            if s.tabs[t].auto.is_some() {
                let mut pairs: Vec<(i64, i64)> =
                    m.tables[t].rows.iter().map(|r| (r[1].as_int().unwrap_or(0), r[2].as_int().unwrap_or(0))).collect();
                pairs.sort_unstable();
                if pairs.is_empty() {
                    return None;
                }
                ROp::DeleteLink { t, pair: pairs[id.0 as usize % pairs.len()] }
            } else {
                ROp::Delete { t, id: id.pick(m, t) }
            }
        }
        Op::DeleteMany { keys } => {
            let keys = keys.iter().map(|&(t, id)| (t as usize % ntab, id)).filter(|&(t, _)| s.tabs[t].auto.is_none());
            ROp::DeleteMany { keys: keys.map(|(t, id)| (t, id.pick(m, t))).collect() }
        }
        Op::Rel { acc, me, op } => {
            let acc_i = *acc as usize % s.accs.len();
            let a = &s.accs[acc_i];
            let other = s.other(a);
            let through = s.through_of(a);
            let me = me.pick(m, a.table);
            let tg = |t: &[Tgt]| targets_of(m, other, t);
            let orow = |c: &[Cell]| row_of(m, other, c);
            let trow = |c: &[Cell]| row_of(m, through, c);
            let op = match op {
                RelOp::Add(t) => RRel::Add(tg(t), Row::new()),
                RelOp::AddWith(t, d) => RRel::Add(tg(t), trow(d)),
                RelOp::Remove(t) => RRel::Remove(tg(t)),
                RelOp::Clear => RRel::Clear,
                RelOp::Set(t) => RRel::Set(tg(t), Row::new()),
                RelOp::SetWith(t, d) => RRel::Set(tg(t), trow(d)),
                RelOp::SetClearing(t, d) => RRel::SetClearing(tg(t), trow(d)),
                RelOp::Create(v) => RRel::Create(orow(v), Row::new()),
                RelOp::CreateWith(v, d) => RRel::Create(orow(v), trow(d)),
                RelOp::GetOrCreate(l, d) => RRel::GetOrCreate(orow(l), orow(d), Row::new()),
                RelOp::UpdateOrCreate(l, d) => RRel::UpdateOrCreate(orow(l), orow(d), Row::new()),
                RelOp::GetOrCreateWith(l, d, t) => RRel::GetOrCreate(orow(l), orow(d), trow(t)),
                RelOp::UpdateOrCreateWith(l, d, t) => RRel::UpdateOrCreate(orow(l), orow(d), trow(t)),
            };
            ROp::Rel { acc: acc_i, me, op }
        }
    })
}

/// The engine's table handles, by model table index.
pub fn table_ids(schema: &junctiondb::Schema) -> Vec<TableId> {
    spec().tabs.iter().map(|t| schema.table(t.name).expect("table")).collect()
}

fn target(tids: &[TableId], t: &RTarget) -> Target {
    match *t {
        RTarget::Id(id) => Target::Id(id),
        RTarget::Key(t, id) => Target::Key(Key::new(tids[t], id)),
    }
}

/// Applies a resolved operation to the engine, through the public API
/// (alternating name-taking and handle-taking calls).
pub fn apply_engine(tx: &mut WriteTxn<'_>, tids: &[TableId], op: &ROp) -> Result<Out, Error> {
    let s = spec();
    match op {
        ROp::Insert { t, row } => {
            let key = if row.len() % 2 == 0 {
                tx.insert(s.tabs[*t].name, row.clone())?
            } else {
                tx.insert(tids[*t], row.clone())?
            };
            assert_eq!(key.table(), tids[*t], "insert returned a key of another table");
            Ok(if s.tabs[*t].auto.is_some() { Out::AnyKey } else { Out::Id(key.id()) })
        }
        // The updates of a row of an odd number of cells go through
        // `update_many` of the one key, given twice (it counts once), as
        // inserts take a name or a handle by the row's length.
        ROp::Update { t, id, row } if row.len() % 2 == 1 => {
            let key = Key::new(tids[*t], *id);
            let updated = tx.update_many([key, key], row.clone())?;
            assert_eq!(updated, 1, "update_many of one key given twice");
            Ok(Out::Unit)
        }
        ROp::Update { t, id, row } => tx.update(Key::new(tids[*t], *id), row.clone()).map(|()| Out::Unit),
        ROp::UpdateMany { t, ids, row } => {
            tx.update_many(ids.iter().map(|&id| Key::new(tids[*t], id)), row.clone()).map(Out::Count)
        }
        ROp::Delete { t, id } => tx.delete(Key::new(tids[*t], *id)).map(|d| Out::Deleted(sorted_counts(&d))),
        ROp::DeleteMany { keys } => {
            let keys = keys.iter().map(|&(t, id)| Key::new(tids[t], id));
            tx.delete_many(keys).map(|d| Out::Deleted(sorted_counts(&d)))
        }
        ROp::DeleteLink { t, pair } => {
            let key = tx
                .scan(tids[*t])
                .expect("table")
                .find(|r| {
                    r.int(s.tabs[*t].cols[1].name) == Some(pair.0) && r.int(s.tabs[*t].cols[2].name) == Some(pair.1)
                })
                .map(|r| r.key())
                .unwrap_or_else(|| panic!("the engine has no row for pair {pair:?} of {}", s.tabs[*t].name));
            tx.delete(key).map(|d| Out::Deleted(sorted_counts(&d)))
        }
        ROp::Rel { acc, me, op } => {
            let a = &s.accs[*acc];
            let key = Key::new(tids[a.table], *me);
            let mut m = if me % 2 == 0 {
                let handle = tx.schema().accessor(s.tabs[a.table].name, a.name).expect("accessor");
                tx.related_at(key, handle)?
            } else {
                tx.related(key, a.name)?
            };
            let tg = |t: &[RTarget]| t.iter().map(|t| target(tids, t)).collect::<Vec<_>>();
            match op {
                RRel::Add(t, d) if d.is_empty() => m.add(tg(t)).map(Out::Count),
                RRel::Add(t, d) => m.add_with(tg(t), d.clone()).map(Out::Count),
                RRel::Remove(t) => m.remove(tg(t)).map(Out::Count),
                RRel::Clear => m.clear().map(Out::Count),
                RRel::Set(t, d) if d.is_empty() => m.set(tg(t)).map(|()| Out::Unit),
                RRel::Set(t, d) => m.set_with(tg(t), d.clone()).map(|()| Out::Unit),
                RRel::SetClearing(t, d) => m.set_clearing(tg(t), d.clone()).map(|()| Out::Unit),
                RRel::Create(v, d) if d.is_empty() => m.create(v.clone()).map(|k| Out::Id(k.id())),
                RRel::Create(v, d) => m.create_with(v.clone(), d.clone()).map(|k| Out::Id(k.id())),
                RRel::GetOrCreate(l, d, t) if t.is_empty() => {
                    m.get_or_create(l.clone(), d.clone()).map(|(k, c)| Out::Got(k.id(), c))
                }
                RRel::GetOrCreate(l, d, t) => {
                    m.get_or_create_with(l.clone(), d.clone(), t.clone()).map(|(k, c)| Out::Got(k.id(), c))
                }
                RRel::UpdateOrCreate(l, d, t) if t.is_empty() => {
                    m.update_or_create(l.clone(), d.clone()).map(|(k, c)| Out::Got(k.id(), c))
                }
                RRel::UpdateOrCreate(l, d, t) => {
                    m.update_or_create_with(l.clone(), d.clone(), t.clone()).map(|(k, c)| Out::Got(k.id(), c))
                }
            }
        }
    }
}

fn sorted_counts(d: &junctiondb::Deleted) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = d.iter().map(|(t, n)| (t.to_owned(), n)).collect();
    v.sort();
    v
}

/// Whether an accessor's end is a reverse foreign key (for stats).
pub fn is_fk_end(acc: usize) -> bool {
    matches!(spec().accs[acc].kind, EndKind::FkRev(_))
}
