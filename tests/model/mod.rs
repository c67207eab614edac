//! Model-based testing: a naive reference model of junctiondb's relational
//! semantics ([`state`]), a fixed schema ([`spec`]), an operation language
//! decoded from bytes ([`ops`]), and the [`Harness`] that applies every
//! operation to the engine and to the model, compares the results, compares
//! the full state (every table's rows, every relation's pairs as
//! multisets, every manager's reads, every index lookup) and runs
//! `verify()` after every operation.
//!
//! Used by `tests/model_relations.rs` (seeded generator),
//! `tests/fuzz_replay.rs` (committed corpus) and `fuzz/` (the `ops`
//! target), so there is one model.
#![allow(dead_code, unreachable_pub)]

pub mod ops;
pub mod spec;
pub mod state;

#[path = "../common/exact.rs"]
mod exact;
use exact::exact_state;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use junctiondb::{Database, Error, Key, M2mAction, M2mChanged, TableId, Value, View, WriteTxn};

use ops::{apply_engine, resolve, table_ids, Op, Step};
use spec::{spec, EndKind};
use state::{Model, Out, ROp, RRel};

/// The payload of an injected panic (filtered from the panic hook).
pub struct InjectedPanic;

/// Installs, once, a panic hook that stays quiet for [`InjectedPanic`]
/// and hands every other panic to the hook that was there before (the
/// default one, or libFuzzer's, which aborts).
pub fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<InjectedPanic>().is_none() {
                prev(info);
            }
        }));
    });
}

/// A comparable description of an error: its variant and the fields that
/// the semantics determine. `Protected` and `Restricted` are compared by
/// variant and every referencing row (which one is named first depends on
/// the engine's walk order); messages and handed-back rows are not
/// compared.
pub fn norm(e: &Error) -> String {
    match e {
        Error::UnknownTable { table } => format!("UnknownTable({table})"),
        Error::UnknownColumn { table, column, .. } => format!("UnknownColumn({table}.{column})"),
        Error::UnknownAccessor { table, name, .. } => format!("UnknownAccessor({table}.{name})"),
        Error::TypeMismatch { table, column, expected, value, .. } => {
            format!("TypeMismatch({table}.{column}: {expected}, {value:?})")
        }
        Error::NotNull { table, column, .. } => format!("NotNull({table}.{column})"),
        Error::Unique { table, column, value, .. } => format!("Unique({table}.{column} = {value:?})"),
        Error::ForeignKey { table, column, target, id, .. } => format!("ForeignKey({table}.{column} -> {target} {id})"),
        Error::NotFound { table, id } => format!("NotFound({table} {id})"),
        Error::WrongTable { expected, found, id } => format!("WrongTable({expected}, {found} {id})"),
        Error::WrongKey { table, column, expected, found, id, .. } => {
            format!("WrongKey({table}.{column} -> {expected:?}, {found} {id})")
        }
        Error::InvalidId { table, id, .. } => format!("InvalidId({table} {id})"),
        Error::Protected { referencing, .. } => format!("Protected({})", keys_sorted(referencing)),
        Error::Restricted { referencing, .. } => format!("Restricted({})", keys_sorted(referencing)),
        Error::MultipleFound { table, count } => format!("MultipleFound({table}, {count})"),
        Error::TableFull { table } => format!("TableFull({table})"),
        Error::Unsupported { table, .. } => format!("Unsupported({table})"),
        other => format!("{other:?}"),
    }
}

/// Keys as one sorted, comparable text.
fn keys_sorted(keys: &[Key]) -> String {
    let mut keys: Vec<String> = keys.iter().map(|k| format!("{:?}/{}", k.table(), k.id())).collect();
    keys.sort();
    keys.join(",")
}

/// The variant name alone (for statistics).
pub fn kind(e: &Error) -> String {
    let n = norm(e);
    n.split('(').next().unwrap_or(&n).to_owned()
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn same_rows(a: &[Vec<Value>], b: &[Vec<Value>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| x.len() == y.len() && x.iter().zip(y).all(|(u, v)| same_value(u, v)))
}

fn sort_rows(rows: &mut [Vec<Value>]) {
    rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
}

/// Compares the engine's state with the model's, completely, and runs
/// `verify()`. Returns the first difference.
pub fn compare(view: &View, m: &Model, tids: &[TableId]) -> Result<(), String> {
    view.verify().map_err(|e| format!("verify() failed: {e}"))?;
    let s = spec();
    // Tables: rows (ids ignored for auto-created throughs) and counts.
    for (t, tab) in s.tabs.iter().enumerate() {
        let auto = tab.auto.is_some();
        let count = view.count(tids[t]).map_err(|e| e.to_string())?;
        if count != m.tables[t].rows.len() {
            return Err(format!("count({}) = {count}, model has {}", tab.name, m.tables[t].rows.len()));
        }
        let mut engine: Vec<Vec<Value>> = Vec::new();
        for r in view.scan(tids[t]).map_err(|e| e.to_string())? {
            let mut vals: Vec<Value> = tab
                .cols
                .iter()
                .map(|c| r.get(c.name).map_or(Value::Text("<missing>".into()), |v| v.to_owned()))
                .collect();
            let back =
                view.get(r.key()).ok_or_else(|| format!("{}: scanned row {:?} not found by get", tab.name, r.key()))?;
            let (a, b) = (back.to_row(), r.to_row());
            if a.len() != b.len() || a.iter().zip(b.iter()).any(|(x, y)| x.0 != y.0 || !same_value(x.1, y.1)) {
                return Err(format!("{}: get({:?}) differs from the scanned row", tab.name, r.key()));
            }
            if auto {
                vals[0] = Value::Null;
            } else if r.to_row().len() != tab.cols.len() {
                return Err(format!("{}: to_row has {} cells", tab.name, r.to_row().len()));
            }
            engine.push(vals);
        }
        let mut model = m.tables[t].rows.clone();
        sort_rows(&mut engine);
        sort_rows(&mut model);
        if !same_rows(&engine, &model) {
            return Err(format!("table {} differs:\n  engine {engine:?}\n  model  {model:?}", tab.name));
        }
    }
    // Managers' reads, from every row through every accessor.
    for (ai, a) in s.accs.iter().enumerate() {
        let other = s.other(a);
        let other_ids = m.ids(other);
        // The same reads through a relation handle resolved once.
        let accessor = view.schema().accessor(s.tabs[a.table].name, a.name).ok_or("accessor not declared")?;
        let handle = view.relation(accessor).map_err(|e| format!("relation({}): {e}", a.name))?;
        for me in m.ids(a.table) {
            let key = Key::new(tids[a.table], me);
            let rel = view.related(key, a.name).map_err(|e| format!("related({me}, {}): {e}", a.name))?;
            let mut by_handle: Vec<i64> = handle.ids(key).map_err(|e| e.to_string())?.collect();
            by_handle.sort_unstable();
            if handle.count(key).map_err(|e| e.to_string())? != by_handle.len() {
                return Err(format!("{}({me}).{}: the handle's count and ids differ", s.tabs[a.table].name, a.name));
            }
            let mut got: Vec<i64> = rel.ids().collect();
            let mut keys: Vec<i64> = rel.keys().map(Key::id).collect();
            let mut rows: Vec<i64> = rel.rows().map(|r| r.id()).collect();
            let mut want = m.related(ai, me);
            got.sort_unstable();
            keys.sort_unstable();
            rows.sort_unstable();
            want.sort_unstable();
            if got != want || keys != want || rows != want || by_handle != want {
                return Err(format!(
                    "{}({me}).{}: engine ids {got:?} keys {keys:?} rows {rows:?} handle {by_handle:?}, model {want:?}",
                    s.tabs[a.table].name, a.name
                ));
            }
            if rel.count() != want.len() || rel.exists() == want.is_empty() || rel.ids().len() != want.len() {
                return Err(format!(
                    "{}({me}).{}: count/exists/len disagree with {want:?}",
                    s.tabs[a.table].name, a.name
                ));
            }
            for &o in other_ids.iter().chain([0, i64::MAX].iter()) {
                let target = Key::new(tids[other], o);
                if rel.contains(target) != want.contains(&o) || handle.contains(key, target) != want.contains(&o) {
                    return Err(format!("{}({me}).{}: contains({o}) wrong", s.tabs[a.table].name, a.name));
                }
            }
            // A key of another table is never contained.
            let wrong = tids[(other + 1) % 6];
            if other_ids.iter().any(|&o| rel.contains(Key::new(wrong, o))) {
                return Err(format!("{}({me}).{}: contains a key of another table", s.tabs[a.table].name, a.name));
            }
        }
    }
    // Traversals over each relation from a table to itself, from a few
    // rows: `walk_ends` against the model's rows exactly k steps away,
    // `within_hops` against those at most k steps away.
    for (ai, a) in s.accs.iter().enumerate() {
        if s.other(a) != a.table {
            continue;
        }
        let accessor = view.schema().accessor(s.tabs[a.table].name, a.name).ok_or("accessor not declared")?;
        let ids = |keys: Result<Vec<Key>, Error>| -> Result<Vec<i64>, String> {
            let mut ids: Vec<i64> =
                keys.map_err(|e| format!("traversal over {}: {e}", a.name))?.iter().map(|k| k.id()).collect();
            ids.sort_unstable();
            Ok(ids)
        };
        for start in m.ids(a.table).into_iter().take(3) {
            let key = Key::new(tids[a.table], start);
            let (mut level, mut within) = (BTreeSet::from([start]), BTreeSet::new());
            for steps in 1..=3 {
                level = level.iter().flat_map(|&id| m.related(ai, id)).collect();
                within.extend(level.iter().copied().filter(|&id| id != start));
                let ends: Vec<i64> = level.iter().copied().filter(|&id| id != start).collect();
                let got = ids(view.walk_ends(key, accessor, steps))?;
                if got != ends {
                    return Err(format!(
                        "{}({start}).{}: walk_ends({steps}) = {got:?}, model {ends:?}",
                        s.tabs[a.table].name, a.name
                    ));
                }
                let near: Vec<i64> = within.iter().copied().collect();
                let got = ids(view.within_hops(key, accessor, steps))?;
                if got != near {
                    return Err(format!(
                        "{}({start}).{}: within_hops({steps}) = {got:?}, model {near:?}",
                        s.tabs[a.table].name, a.name
                    ));
                }
            }
        }
    }
    // Queries across each relation, from the side that declares it: one
    // result per link row whose source row exists, compared as multisets
    // with the model. A filter on an id that a dangling link names (and no
    // row has) matches that link's source too.
    for a in s.accs.iter() {
        let (source, field, target, r) = match a.kind {
            EndKind::Forward(r) => (a.table, s.rels[r].name, s.rels[r].target, Some(r)),
            EndKind::FkRev(f) => (s.fks[f].table, s.fks[f].field, a.table, None),
            EndKind::Reverse(_) => continue,
        };
        let mut targets: Vec<i64> = m.ids(target).into_iter().take(4).collect();
        for (_, t) in r.map(|r| m.pairs(r)).unwrap_or_default() {
            if !m.exists(target, t) && !targets.contains(&t) {
                targets.push(t);
            }
        }
        for t in targets {
            let q = view.query(tids[source]).and_then(|q| q.filter(field, Key::new(tids[target], t)));
            let mut got = q.map_err(|e| format!("query({}).filter({field}): {e}", s.tabs[source].name))?.ids();
            let mut want: Vec<i64> = match r {
                Some(r) => m.pairs(r).into_iter().filter(|p| p.1 == t && m.exists(source, p.0)).map(|p| p.0).collect(),
                None => m.related(s.accs.iter().position(|x| std::ptr::eq(x, a)).unwrap_or(0), t),
            };
            got.sort_unstable();
            want.sort_unstable();
            if got != want {
                return Err(format!("query({}).filter({field} = {t}) = {got:?}, model {want:?}", s.tabs[source].name));
            }
        }
    }
    // Index lookups: every value held by an indexed column.
    for (t, tab) in s.tabs.iter().enumerate() {
        if tab.auto.is_some() {
            continue;
        }
        for (c, col) in tab.cols.iter().enumerate().skip(1) {
            if !col.indexed {
                continue;
            }
            let mut values: Vec<&Value> = m.tables[t].rows.iter().map(|r| &r[c]).filter(|v| !v.is_null()).collect();
            values.dedup();
            values.truncate(6);
            // `NULL` finds the rows where the column is `NULL`.
            values.push(&Value::Null);
            for v in values {
                let mut got: Vec<i64> = view
                    .find_by(tids[t], col.name, v.clone())
                    .map_err(|e| format!("find_by({}.{}): {e}", tab.name, col.name))?
                    .iter()
                    .map(|r| r.id())
                    .collect();
                got.sort_unstable();
                let want: Vec<i64> = {
                    let mut w: Vec<i64> =
                        m.tables[t].rows.iter().filter(|r| r[c] == *v).filter_map(|r| r[0].as_int()).collect();
                    w.sort_unstable();
                    w
                };
                if got != want {
                    return Err(format!("find_by({}.{} = {v:?}) = {got:?}, model {want:?}", tab.name, col.name));
                }
            }
        }
    }
    Ok(())
}

/// What the operations returned.
#[derive(Debug, Default)]
pub struct Stats {
    /// Outcomes seen: "ok" or an error's variant, with counts.
    pub outcomes: BTreeMap<String, usize>,
    /// Operations compared.
    pub ops: usize,
    /// Operations after which the model stored a dangling link.
    pub dangling: usize,
    /// Inserts that turned a dangling link into a real one.
    pub promoted: usize,
    /// Print each operation (set `MODEL_TRACE=1`).
    pub trace: bool,
}

impl Stats {
    /// Compares one operation's results and records the outcome, and what
    /// it did to dangling links (`dangling`: the model's count before and
    /// after).
    fn check(
        &mut self,
        rop: &ROp,
        model: &Result<Out, Error>,
        engine: &Result<Out, Error>,
        dangling: (usize, usize),
    ) -> Result<(), String> {
        self.ops += 1;
        self.dangling += usize::from(dangling.1 > 0);
        // Only inserting a row makes a dangling link fewer without deleting it.
        let inserts = match rop {
            ROp::Insert { t, .. } => spec().tabs[*t].auto.is_none(),
            ROp::Rel { op, .. } => matches!(op, RRel::Create(..) | RRel::GetOrCreate(..) | RRel::UpdateOrCreate(..)),
            _ => false,
        };
        self.promoted += usize::from(inserts && model.is_ok() && dangling.1 < dangling.0);
        if self.trace {
            eprintln!("{rop:?}\n  -> model {model:?}\n  -> engine {engine:?}");
        }
        let same = match (model, engine) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => norm(a) == norm(b),
            _ => false,
        };
        if !same {
            return Err(format!("{rop:?}\n  model  {model:?}\n  engine {engine:?}"));
        }
        let outcome = match engine {
            Ok(_) => "ok".to_owned(),
            Err(e) => kind(e),
        };
        *self.outcomes.entry(outcome).or_default() += 1;
        Ok(())
    }
}

/// Registers change hooks on three relations (the custom through, the
/// self relation with a reverse accessor, the one without its
/// constraint) that check each announcement against the state it carries,
/// and run `verify()` on it after each change, mid-transaction. `groups`
/// and `friends` have none, so the managers' unannounced fast paths stay
/// under test.
fn hook_checks(db: &Database) {
    for accessors in [["clubs", "user_set"], ["follows", "followers"], ["tags", "tagged"]] {
        let accessor = db.schema().accessor("user", accessors[0]).expect("declared");
        db.on_m2m_changed(accessor, move |e, tx| {
            if let Err(wrong) = check_announcement(e, tx, accessors) {
                panic!("{} of {:?}: {wrong}", e.action.name(), e.instance);
            }
            Ok(())
        })
        .expect("a many-to-many accessor");
    }
}

/// What an announcement must show: its ids ascending and once each; for
/// `pre_add` none linked yet, for `post_add` every one naming a row
/// linked, for `post_remove` none linked, for `post_clear` no link left;
/// and after a change, every invariant.
fn check_announcement(e: &M2mChanged<'_>, view: &View, accessors: [&str; 2]) -> Result<(), String> {
    let related = view.related(e.instance, accessors[usize::from(e.reverse)]).map_err(|e| e.to_string())?;
    let linked = |id: i64| related.contains(Key::new(e.model, id));
    let exists = |id: i64| view.get(Key::new(e.model, id)).is_some();
    let ids = e.pk_set.unwrap_or_default();
    if !ids.windows(2).all(|w| w[0] < w[1]) {
        return Err(format!("pk_set {ids:?} is not ascending and unique"));
    }
    let clear = matches!(e.action, M2mAction::PreClear | M2mAction::PostClear);
    if clear != e.pk_set.is_none() {
        return Err(format!("pk_set {:?} for this action", e.pk_set));
    }
    let wrong = match e.action {
        M2mAction::PreAdd => ids.iter().find(|&&id| linked(id)).map(|id| format!("{id} is linked already")),
        M2mAction::PostAdd => ids.iter().find(|&&id| exists(id) && !linked(id)).map(|id| format!("{id} is not linked")),
        M2mAction::PostRemove => ids.iter().find(|&&id| linked(id)).map(|id| format!("{id} is still linked")),
        M2mAction::PostClear => related.exists().then(|| format!("{} links left", related.count())),
        M2mAction::PreRemove | M2mAction::PreClear => None,
    };
    if let Some(wrong) = wrong {
        return Err(wrong);
    }
    if matches!(e.action, M2mAction::PostAdd | M2mAction::PostRemove | M2mAction::PostClear) {
        view.verify().map_err(|e| format!("verify() failed: {e}"))?;
    }
    Ok(())
}

/// The engine, the model, and statistics of what happened.
pub struct Harness {
    pub db: Database,
    pub model: Model,
    pub tids: Vec<TableId>,
    pub stats: Stats,
    /// Steps applied so far: every other one runs through the exclusive
    /// write path (`write_mut`, `begin_write_mut`), the rest through the
    /// lock.
    pub steps: usize,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        quiet_injected_panics();
        let db = Database::new(spec::schema());
        spec::check_schema_agrees(db.schema());
        hook_checks(&db);
        let tids = table_ids(db.schema());
        Harness {
            db,
            model: Model::new(),
            tids,
            stats: Stats { trace: std::env::var_os("MODEL_TRACE").is_some(), ..Stats::default() },
            steps: 0,
        }
    }

    /// Runs the steps decoded from `data`. Panics on the first divergence.
    pub fn run_bytes(&mut self, data: &[u8]) {
        let steps = ops::decode(data);
        self.run(&steps);
    }

    /// Runs `data` cut into chunks of `chunk` bytes, one after the other
    /// on this database (how the seeded test grows larger tables).
    pub fn run_chunks(&mut self, data: &[u8], chunk: usize) {
        for c in data.chunks(chunk) {
            self.run_bytes(c);
        }
    }

    /// Runs steps, comparing after each operation. Panics on divergence.
    pub fn run(&mut self, steps: &[Step]) {
        for (i, step) in steps.iter().enumerate() {
            if let Err(e) = self.step(step) {
                panic!("divergence at step {i} ({step:?}):\n{e}");
            }
        }
    }

    /// Applies one step. Returns the divergence, if any.
    pub fn step(&mut self, step: &Step) -> Result<(), String> {
        self.steps += 1;
        let exclusive = self.steps % 2 == 0;
        // A step that rolls back must leave the state exactly as it was,
        // order and places included.
        let exact_now = |db: &Database| db.begin_read().map(|r| exact_state(&r)).map_err(|e| e.to_string());
        let mut exact = match step {
            Step::Txn { commit: false, .. } | Step::Failing { .. } => Some(exact_now(&self.db)?),
            _ => None,
        };
        match step {
            Step::Op(op) => {
                let Some(rop) = resolve(&self.model, op) else { return Ok(()) };
                let mut next = self.model.clone();
                let model = next.apply(&rop);
                if model.is_err() {
                    exact = Some(exact_now(&self.db)?);
                }
                let tids = self.tids.clone();
                let engine = if exclusive {
                    self.db.write_mut(|tx| apply_engine(tx, &tids, &rop))
                } else {
                    self.db.write(|tx| apply_engine(tx, &tids, &rop))
                };
                self.stats.check(&rop, &model, &engine, (self.model.dangling(), next.dangling()))?;
                self.model = next;
            }
            Step::Txn { ops, commit } => {
                let mut tx = if exclusive {
                    self.db.begin_write_mut()
                } else {
                    self.db.begin_write().map_err(|e| e.to_string())?
                };
                let mut m = self.model.clone();
                let tids = self.tids.clone();
                let ops: Vec<&Op> = ops.iter().take(ops::MAX_TXN_OPS).collect();
                if self.steps % 3 == 0 {
                    // A transaction at every third step runs its operations
                    // in nested blocks, their lengths and fates drawn from
                    // the step count (so that the bytes decode as ever):
                    // `k` runs through every residue, and the three choices
                    // through all their combinations.
                    let k = self.steps / 3;
                    let mut run = Blocks { tx: &mut tx, m: &mut m, stats: &mut self.stats, tids: &tids };
                    let mut i = 0;
                    while i < ops.len() {
                        let len = 1 + (k + i) % 3;
                        let block = &ops[i..(i + len).min(ops.len())];
                        run.block(block, Fate::of(k / 3 + i), Fate::of(k / 9 + i))?;
                        i += len;
                    }
                } else {
                    for op in ops {
                        apply_checked(&mut tx, &mut m, &mut self.stats, &tids, op)?;
                    }
                }
                if *commit {
                    tx.commit();
                    self.model = m;
                } else {
                    drop(tx);
                }
            }
            Step::Failing { ops, at, panic } => {
                let ops: Vec<&Op> = ops.iter().take(ops::MAX_TXN_OPS).collect();
                let at = *at as usize % (ops.len() + 1);
                let tids = self.tids.clone();
                let mut m = self.model.clone();
                let mut inside = Ok(());
                let stats = &mut self.stats;
                let db = &mut self.db;
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    let body = |tx: &mut WriteTxn<'_>| -> Result<(), Failure> {
                        for (i, op) in ops.iter().enumerate() {
                            if i == at {
                                return inject(*panic);
                            }
                            let Some(rop) = resolve(&m, op) else { continue };
                            let before = m.dangling();
                            let model = m.apply(&rop);
                            let engine = apply_engine(tx, &tids, &rop);
                            let failed = engine.as_ref().err().cloned();
                            if let Err(e) = stats.check(&rop, &model, &engine, (before, m.dangling())) {
                                inside = Err(e);
                                return Err(Failure::Diverged);
                            }
                            if let Err(e) = compare(tx, &m, &tids) {
                                inside = Err(format!("inside a failing write: {e}"));
                                return Err(Failure::Diverged);
                            }
                            if let Some(e) = failed {
                                return Err(Failure::Engine(e));
                            }
                        }
                        inject(*panic)
                    };
                    if exclusive {
                        db.write_mut(body)
                    } else {
                        db.write(body)
                    }
                }));
                inside?;
                match outcome {
                    Ok(Ok(())) => return Err("a failing write committed".into()),
                    Ok(Err(_)) => {}
                    Err(payload) if payload.downcast_ref::<InjectedPanic>().is_some() => {}
                    Err(payload) => std::panic::resume_unwind(payload),
                }
            }
        }
        let read = self.db.begin_read().map_err(|e| e.to_string())?;
        if exact.is_some_and(|before| exact_state(&read) != before) {
            return Err("a write that rolled back left the order or the places of rows changed".into());
        }
        compare(&read, &self.model, &self.tids)
    }
}

/// Applies `op` (when it resolves) to the engine through `tx` and to the
/// model `m`, compares the results, then the full state.
fn apply_checked(
    tx: &mut WriteTxn<'_>,
    m: &mut Model,
    stats: &mut Stats,
    tids: &[TableId],
    op: &Op,
) -> Result<(), String> {
    let Some(rop) = resolve(m, op) else { return Ok(()) };
    let before = m.dangling();
    let model = m.apply(&rop);
    // A refused call must leave the state exactly as it was, order too.
    let exact = model.is_err().then(|| exact_state(tx));
    let engine = apply_engine(tx, tids, &rop);
    stats.check(&rop, &model, &engine, (before, m.dangling()))?;
    if let Some(exact) = exact {
        if exact_state(tx) != exact {
            return Err(format!("a refused {rop:?} changed the order or the places of rows"));
        }
    }
    compare(tx, m, tids).map_err(|e| format!("inside a transaction: {e}"))
}

/// How a nested block (`WriteTxn::atomic`) of the harness ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    /// Returns `Ok`: its changes stay.
    Keep,
    /// Returns an error after its operations: its changes are undone.
    Fail,
    /// Panics after its operations, caught around the block: its changes
    /// are undone.
    Panic,
}

impl Fate {
    fn of(n: usize) -> Fate {
        [Fate::Keep, Fate::Fail, Fate::Panic][n % 3]
    }
}

/// Runs operations of one transaction in nested blocks, the model
/// restored from a copy wherever a block's changes are undone.
struct Blocks<'a, 'db> {
    tx: &'a mut WriteTxn<'db>,
    m: &'a mut Model,
    stats: &'a mut Stats,
    tids: &'a [TableId],
}

impl Blocks<'_, '_> {
    /// Runs `ops` in a block that ends as `fate` says; a block of two or
    /// more runs its second operation in a block of its own that ends as
    /// `inner` says. Checks the full state after the block.
    fn block(&mut self, ops: &[&Op], fate: Fate, inner: Fate) -> Result<(), String> {
        let saved = self.m.clone();
        let exact = exact_state(self.tx);
        self.atomic(fate, |b| {
            for (i, op) in ops.iter().enumerate() {
                if i == 1 {
                    let saved = b.m.clone();
                    let exact = exact_state(b.tx);
                    if !b.atomic(inner, |b| apply_checked(b.tx, b.m, b.stats, b.tids, op))? {
                        *b.m = saved;
                        if exact_state(b.tx) != exact {
                            return Err(format!("an inner {inner:?} block left the order or places changed"));
                        }
                    }
                    compare(b.tx, b.m, b.tids).map_err(|e| format!("after an inner {inner:?} block: {e}"))?;
                } else {
                    apply_checked(b.tx, b.m, b.stats, b.tids, op)?;
                }
            }
            Ok(())
        })
        .and_then(|kept| {
            if !kept {
                *self.m = saved;
                if exact_state(self.tx) != exact {
                    return Err(format!("a {fate:?} block left the order or places changed"));
                }
            }
            compare(self.tx, self.m, self.tids).map_err(|e| format!("after a {fate:?} block: {e}"))
        })
    }

    /// Runs `body` in `self.tx.atomic`, ending the block as `fate` says
    /// once `body` is done. Returns whether the block's changes were kept,
    /// or `body`'s divergence (the block then fails, whatever its fate).
    fn atomic(
        &mut self,
        fate: Fate,
        body: impl FnOnce(&mut Blocks<'_, '_>) -> Result<(), String>,
    ) -> Result<bool, String> {
        let mut diverged = Ok(());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let Blocks { m, stats, tids, .. } = self;
            self.tx.atomic(|tx| {
                diverged = body(&mut Blocks { tx, m, stats, tids });
                if diverged.is_err() {
                    return Err(Failure::Diverged);
                }
                match fate {
                    Fate::Keep => Ok(()),
                    Fate::Fail => Err(Failure::Injected),
                    Fate::Panic => std::panic::panic_any(InjectedPanic),
                }
            })
        }));
        diverged?;
        match (fate, outcome) {
            (Fate::Keep, Ok(Ok(()))) => Ok(true),
            (Fate::Fail, Ok(Err(Failure::Injected))) => Ok(false),
            (Fate::Panic, Err(payload)) if payload.downcast_ref::<InjectedPanic>().is_some() => Ok(false),
            (_, Err(payload)) => std::panic::resume_unwind(payload),
            (fate, Ok(other)) => Err(format!("a {fate:?} block ended {other:?}")),
        }
    }
}

/// Why a failing write's closure stopped.
#[derive(Debug)]
pub enum Failure {
    Engine(Error),
    Injected,
    Diverged,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Engine(e)
    }
}

fn inject(panic: bool) -> Result<(), Failure> {
    if panic {
        std::panic::panic_any(InjectedPanic);
    }
    Err(Failure::Injected)
}
