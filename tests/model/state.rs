//! The reference model: every table a `Vec` of rows, every auto-created
//! through table a `Vec` of `(source_id, target_id)` pairs, every lookup a
//! linear scan. It knows nothing of slots, indexes, adjacency or undo logs;
//! it restates SEMANTICS.md (and the engine's documented choices where the
//! spec is silent, such as which check reports first) as plainly as it can.
//!
//! A relation with `db_constraint(false)` may store a pair naming an id
//! that no row has (a dangling link): it is a row of the through table but
//! relates nothing. Pairs are kept by id, so such a pair relates its two
//! rows as soon as both exist, with nothing to do on insert.
//!
//! Every operation is atomic the lazy way: it runs on a clone of the model
//! that replaces the model only when the operation succeeds.

use junctiondb::{CellValue, Error, OnDelete, Row, Value};

use super::spec::{spec, table_of, EndKind};

/// A model row: values in the table's column order (`Null` ids in
/// auto-created through tables, whose ids the engine derives from slots).
pub type MRow = Vec<Value>;

#[derive(Clone, Debug, Default)]
pub struct MTable {
    pub rows: Vec<MRow>,
    pub next_id: i64,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub tables: Vec<MTable>,
}

/// What a successful operation returned, in comparable form.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    Unit,
    /// The id of a new or found row of a plain table.
    Id(i64),
    /// A key of an auto-created through row (its id is slot-derived).
    AnyKey,
    Count(usize),
    /// Rows deleted per table, sorted by table name.
    Deleted(Vec<(String, usize)>),
    Got(i64, bool),
}

/// A row of the other end named by id or by key (with its table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RTarget {
    Id(i64),
    Key(usize, i64),
}

/// A related-manager operation with everything resolved to ids and rows.
#[derive(Clone, Debug)]
pub enum RRel {
    Add(Vec<RTarget>, Row),
    Remove(Vec<RTarget>),
    Clear,
    Set(Vec<RTarget>, Row),
    SetClearing(Vec<RTarget>, Row),
    Create(Row, Row),
    /// Lookup, defaults, through defaults.
    GetOrCreate(Row, Row, Row),
    UpdateOrCreate(Row, Row, Row),
}

/// One operation with concrete ids, applied alike to engine and model.
#[derive(Clone, Debug)]
pub enum ROp {
    Insert {
        t: usize,
        row: Row,
    },
    Update {
        t: usize,
        id: i64,
        row: Row,
    },
    /// `update_many` of rows of one table, all or nothing.
    UpdateMany {
        t: usize,
        ids: Vec<i64>,
        row: Row,
    },
    Delete {
        t: usize,
        id: i64,
    },
    /// `delete_many` of rows of tables with ids of their own.
    DeleteMany {
        keys: Vec<(usize, i64)>,
    },
    /// Deletes the through row of an auto-created table that links this
    /// pair (the engine's key is found by scanning for the pair).
    DeleteLink {
        t: usize,
        pair: (i64, i64),
    },
    Rel {
        acc: usize,
        me: i64,
        op: RRel,
    },
}

fn tname(t: usize) -> String {
    spec().tabs[t].name.to_owned()
}

fn cname(t: usize, c: usize) -> String {
    spec().tabs[t].cols[c].name.to_owned()
}

impl Default for Model {
    fn default() -> Self {
        Model::new()
    }
}

impl Model {
    pub fn new() -> Self {
        Model { tables: spec().tabs.iter().map(|_| MTable { rows: Vec::new(), next_id: 1 }).collect() }
    }

    /// Applies `op`; on error the model is unchanged.
    pub fn apply(&mut self, op: &ROp) -> Result<Out, Error> {
        let mut next = self.clone();
        let out = next.apply_in_place(op)?;
        *self = next;
        Ok(out)
    }

    fn apply_in_place(&mut self, op: &ROp) -> Result<Out, Error> {
        match op {
            ROp::Insert { t, row } => {
                let id = self.insert(*t, row)?;
                Ok(if spec().tabs[*t].auto.is_some() { Out::AnyKey } else { Out::Id(id) })
            }
            ROp::Update { t, id, row } => self.update(*t, *id, row).map(|()| Out::Unit),
            ROp::UpdateMany { t, ids, row } => {
                let mut done: Vec<i64> = Vec::new();
                for &id in ids {
                    if !done.contains(&id) {
                        self.update(*t, id, row)?;
                        done.push(id);
                    }
                }
                Ok(Out::Count(done.len()))
            }
            ROp::Delete { t, id } => self.delete(&[(*t, *id)]).map(Out::Deleted),
            ROp::DeleteMany { keys } => self.delete(keys).map(Out::Deleted),
            ROp::DeleteLink { t, pair } => {
                let rows = &mut self.tables[*t].rows;
                let i = rows
                    .iter()
                    .position(|r| r[1] == Value::Int(pair.0) && r[2] == Value::Int(pair.1))
                    .expect("DeleteLink names a stored pair");
                rows.remove(i);
                Ok(Out::Deleted(vec![(tname(*t), 1)]))
            }
            ROp::Rel { acc, me, op } => self.rel(*acc, *me, op),
        }
    }

    // ---- reads ----------------------------------------------------------

    pub fn ids(&self, t: usize) -> Vec<i64> {
        let mut ids: Vec<i64> = self.tables[t].rows.iter().filter_map(|r| r[0].as_int()).collect();
        ids.sort_unstable();
        ids
    }

    pub fn exists(&self, t: usize, id: i64) -> bool {
        self.row(t, id).is_some()
    }

    pub fn row(&self, t: usize, id: i64) -> Option<&MRow> {
        self.tables[t].rows.iter().find(|r| r[0] == Value::Int(id))
    }

    fn row_mut(&mut self, t: usize, id: i64) -> Option<&mut MRow> {
        self.tables[t].rows.iter_mut().find(|r| r[0] == Value::Int(id))
    }

    /// The pairs `(source_id, target_id)` of relation `r`, one per through
    /// row: the auto-created table's pairs (dangling links included), or
    /// the custom through table's rows whose two link columns are set.
    pub fn pairs(&self, r: usize) -> Vec<(i64, i64)> {
        let rel = &spec().rels[r];
        let (a, b) = (rel.source_col, rel.target_col);
        self.tables[rel.through].rows.iter().filter_map(|row| Some((row[a].as_int()?, row[b].as_int()?))).collect()
    }

    /// The pairs of relation `r` that relate two rows: those whose two
    /// ends exist. Only a relation without `db_constraint` stores others.
    pub fn live_pairs(&self, r: usize) -> Vec<(i64, i64)> {
        let rel = &spec().rels[r];
        self.pairs(r).into_iter().filter(|p| self.exists(rel.source, p.0) && self.exists(rel.target, p.1)).collect()
    }

    /// The ids of `t` that stored pairs name and no row has (what an
    /// insert turns into real links).
    pub fn dangling_ids(&self, t: usize) -> Vec<i64> {
        let mut ids = Vec::new();
        for (r, rel) in spec().rels.iter().enumerate() {
            for (a, b) in self.pairs(r) {
                for (side, id) in [(rel.source, a), (rel.target, b)] {
                    if side == t && !self.exists(t, id) && !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
        }
        ids
    }

    /// How many stored pairs, over all relations, name a missing row.
    pub fn dangling(&self) -> usize {
        (0..spec().rels.len()).map(|r| self.pairs(r).len() - self.live_pairs(r).len()).sum()
    }

    /// The ids at the other end of accessor `acc` from row `me`, one per
    /// link row relating two rows (a multiset, in no particular order):
    /// dangling links are not related rows.
    pub fn related(&self, acc: usize, me: i64) -> Vec<i64> {
        let s = spec();
        match s.accs[acc].kind {
            EndKind::Forward(r) => self.live_pairs(r).into_iter().filter(|p| p.0 == me).map(|p| p.1).collect(),
            EndKind::Reverse(r) => self.live_pairs(r).into_iter().filter(|p| p.1 == me).map(|p| p.0).collect(),
            EndKind::FkRev(f) => {
                let fk = &s.fks[f];
                self.tables[fk.table]
                    .rows
                    .iter()
                    .filter(|row| row[fk.col] == Value::Int(me))
                    .filter_map(|row| row[0].as_int())
                    .collect()
            }
        }
    }

    /// `related`, deduplicated.
    fn current(&self, acc: usize, me: i64) -> Vec<i64> {
        dedup(self.related(acc, me))
    }

    /// The ids at the other end of every link row of this end, dangling
    /// links included, deduplicated (what `clear` and `set` work from).
    fn linked(&self, acc: usize, me: i64) -> Vec<i64> {
        match spec().accs[acc].kind {
            EndKind::Forward(r) => dedup(self.pairs(r).into_iter().filter(|p| p.0 == me).map(|p| p.1).collect()),
            EndKind::Reverse(r) => dedup(self.pairs(r).into_iter().filter(|p| p.1 == me).map(|p| p.0).collect()),
            EndKind::FkRev(_) => self.current(acc, me),
        }
    }

    /// What `clear` removes: [`linked`](Self::linked), and on a symmetrical
    /// relation also the rows naming `me` as target without their mirror
    /// (Django's `clear` deletes rows naming `me` on either side).
    fn linked_both_ways(&self, acc: usize, me: i64) -> Vec<i64> {
        let mut linked = self.linked(acc, me);
        if let EndKind::Forward(r) = spec().accs[acc].kind {
            if spec().rels[r].symmetrical {
                linked.extend(self.pairs(r).into_iter().filter(|p| p.1 == me).map(|p| p.0));
                linked = dedup(linked);
            }
        }
        linked
    }

    /// Whether the relation behind accessor `acc` stores links naming
    /// missing ids (`db_constraint(false)`).
    fn stores_dangling(&self, acc: usize) -> bool {
        let s = spec();
        match s.accs[acc].kind {
            EndKind::Forward(r) | EndKind::Reverse(r) => !s.rels[r].constraint,
            EndKind::FkRev(_) => false,
        }
    }

    // ---- checks ---------------------------------------------------------

    fn col_of(&self, t: usize, name: &str) -> Result<usize, Error> {
        spec().col_of(t, name).ok_or_else(|| Error::UnknownColumn {
            table: tname(t),
            column: name.to_owned(),
            row: None,
        })
    }

    /// Type and nullability of one value (`NULL` is fine for `id`: it asks
    /// for an assigned one).
    fn check_value(&self, t: usize, c: usize, cell: &CellValue) -> Result<(), Error> {
        let col = &spec().tabs[t].cols[c];
        if let Some(key) = cell.key() {
            let refs = spec().refs(t, c);
            if refs != Some(table_of(key)) {
                return Err(Error::WrongKey {
                    table: tname(t),
                    column: cname(t, c),
                    expected: refs.map(tname),
                    found: tname(table_of(key)),
                    id: key.id(),
                    row: None,
                });
            }
        }
        let v = cell.value();
        match v.type_of() {
            None if col.nullable || c == 0 => Ok(()),
            None => Err(Error::NotNull { table: tname(t), column: cname(t, c), row: None }),
            Some(ty) if ty == col.ty => Ok(()),
            Some(_) => Err(Error::TypeMismatch {
                table: tname(t),
                column: cname(t, c),
                expected: col.ty,
                value: v.clone(),
                row: None,
            }),
        }
    }

    /// Uniqueness (other than row `except`) and foreign key existence.
    fn check_constraints(&self, t: usize, c: usize, v: &Value, except: Option<i64>) -> Result<(), Error> {
        if v.is_null() {
            return Ok(());
        }
        let s = spec();
        let col = &s.tabs[t].cols[c];
        if col.unique && self.tables[t].rows.iter().any(|r| r[c] == *v && r[0].as_int() != except) {
            return Err(Error::Unique { table: tname(t), column: cname(t, c), value: v.clone(), row: None });
        }
        if let Some(f) = col.fk {
            let fk = &s.fks[f];
            let id = v.as_int().unwrap_or(0);
            if fk.constraint && !self.exists(fk.target, id) {
                return Err(Error::ForeignKey {
                    table: tname(t),
                    column: cname(t, c),
                    target: tname(fk.target),
                    id,
                    row: None,
                });
            }
        }
        Ok(())
    }

    // ---- writes ---------------------------------------------------------

    /// Inserts a row; returns its id (0 for an auto-created through row).
    /// Checks in the engine's order: each given cell (name, type, null) in
    /// the order given, then the id, then missing columns in column order,
    /// then each column's uniqueness and foreign key in column order.
    pub fn insert(&mut self, t: usize, row: &Row) -> Result<i64, Error> {
        let tab = &spec().tabs[t];
        if let Some(r) = tab.auto {
            return self.insert_auto(t, r, row);
        }
        let mut values: Vec<Option<Value>> = vec![None; tab.cols.len()];
        for (name, cell) in row.cells() {
            let c = self.col_of(t, name)?;
            self.check_value(t, c, cell)?;
            values[c] = Some(cell.value().clone());
        }
        let id = match values[0].take() {
            Some(Value::Int(id)) => {
                if id < 1 || id == i64::MAX {
                    return Err(Error::InvalidId { table: tname(t), id, row: None });
                }
                if self.exists(t, id) {
                    return Err(Error::Unique {
                        table: tname(t),
                        column: "id".into(),
                        value: Value::Int(id),
                        row: None,
                    });
                }
                id
            }
            _ if self.tables[t].next_id == i64::MAX => return Err(Error::TableFull { table: tname(t) }),
            _ => self.tables[t].next_id,
        };
        let mut full = vec![Value::Int(id)];
        for (c, v) in values.into_iter().enumerate().skip(1) {
            let col = &tab.cols[c];
            full.push(match (v, &col.default, col.nullable) {
                (Some(v), _, _) => v,
                (None, Some(d), _) => d.clone(),
                (None, None, true) => Value::Null,
                (None, None, false) => return Err(Error::NotNull { table: tname(t), column: cname(t, c), row: None }),
            });
        }
        for (c, v) in full.iter().enumerate().skip(1) {
            self.check_constraints(t, c, v, None)?;
        }
        let table = &mut self.tables[t];
        table.next_id = table.next_id.max(id + 1);
        table.rows.push(full);
        Ok(id)
    }

    /// A direct insert into an auto-created through table: both link
    /// columns required, both rows must exist (without `db_constraint`, a
    /// pair naming a missing id is stored: a dangling link), the pair must
    /// be new.
    fn insert_auto(&mut self, t: usize, r: usize, row: &Row) -> Result<i64, Error> {
        let s = spec();
        let rel = &s.rels[r];
        let mut ends = [None, None];
        for (name, cell) in row.cells() {
            let c = self.col_of(t, name)?;
            if c == 0 {
                return Err(Error::Unsupported { table: tname(t), reason: String::new() });
            }
            self.check_value(t, c, cell)?;
            ends[c - 1] = cell.value().as_int();
        }
        for (i, side) in [rel.source, rel.target].into_iter().enumerate() {
            let id = ends[i].ok_or_else(|| Error::NotNull { table: tname(t), column: cname(t, i + 1), row: None })?;
            if rel.constraint && !self.exists(side, id) {
                return Err(Error::ForeignKey {
                    table: tname(t),
                    column: cname(t, i + 1),
                    target: tname(side),
                    id,
                    row: None,
                });
            }
        }
        let (a, b) = (ends[0].unwrap_or(0), ends[1].unwrap_or(0));
        if self.pairs(r).contains(&(a, b)) {
            return Err(Error::Unique {
                table: tname(t),
                column: format!("{}, {}", cname(t, 1), cname(t, 2)),
                value: Value::Text(format!("({a}, {b})")),
                row: None,
            });
        }
        self.tables[t].rows.push(vec![Value::Null, Value::Int(a), Value::Int(b)]);
        Ok(0)
    }

    /// Updates some columns; each cell is checked (name, not `id`, type,
    /// null, uniqueness, foreign key) against the row as it was.
    pub fn update(&mut self, t: usize, id: i64, row: &Row) -> Result<(), Error> {
        if spec().tabs[t].auto.is_some() {
            return Err(Error::Unsupported { table: tname(t), reason: String::new() });
        }
        if !self.exists(t, id) {
            return Err(Error::NotFound { table: tname(t), id });
        }
        let mut cells = Vec::new();
        for (name, cell) in row.cells() {
            let c = self.col_of(t, name)?;
            if c == 0 {
                return Err(Error::Unsupported { table: tname(t), reason: String::new() });
            }
            self.check_value(t, c, cell)?;
            let v = cell.value();
            self.check_constraints(t, c, v, Some(id))?;
            cells.push((c, v.clone()));
        }
        let r = self.row_mut(t, id).expect("checked");
        for (c, v) in cells {
            r[c] = v;
        }
        Ok(())
    }

    /// Deletes rows (`(table, id)`, repeats counted once) and what
    /// `on_delete` says, in one delete, all or nothing.
    pub fn delete(&mut self, keys: &[(usize, i64)]) -> Result<Vec<(String, usize)>, Error> {
        let s = spec();
        let mut doomed: Vec<(usize, i64)> = Vec::new();
        for &(t, id) in keys {
            // Auto-through ids are slot-derived; the harness uses DeleteLink.
            if s.tabs[t].auto.is_some() || !self.exists(t, id) {
                return Err(Error::NotFound { table: tname(t), id });
            }
            if !doomed.contains(&(t, id)) {
                doomed.push((t, id));
            }
        }
        // The cascade closure.
        let mut i = 0;
        while i < doomed.len() {
            let (dt, did) = doomed[i];
            i += 1;
            for fk in s.fks.iter().filter(|f| f.target == dt && f.on_delete == OnDelete::Cascade) {
                for r in self.referencing(fk.table, fk.col, did) {
                    if !doomed.contains(&(fk.table, r)) {
                        doomed.push((fk.table, r));
                    }
                }
            }
        }
        let gone = |t: usize, id: i64| doomed.contains(&(t, id));
        let mut updates: Vec<(usize, i64, usize, Value)> = Vec::new();
        // Every refusing row is listed; the first is whichever the walk
        // meets first (not compared, see `norm`).
        let mut refused: Option<Error> = None;
        let mut referencing: Vec<junctiondb::Key> = Vec::new();
        for &(dt, did) in &doomed {
            for fk in s.fks.iter().filter(|f| f.target == dt) {
                let refs = self.referencing(fk.table, fk.col, did);
                if refs.is_empty() {
                    continue;
                }
                match fk.on_delete {
                    OnDelete::Cascade => {}
                    OnDelete::Protect => {
                        referencing.extend(refs.iter().map(|&r| super::spec::key_of(fk.table, r)));
                        refused.get_or_insert(Error::Protected {
                            table: tname(dt),
                            id: did,
                            referenced_by: tname(fk.table),
                            field: fk.field.into(),
                            count: refs.len(),
                            referencing: Vec::new(),
                        });
                    }
                    OnDelete::Restrict | OnDelete::DoNothing => {}
                    OnDelete::SetNull => updates.extend(refs.iter().map(|&r| (fk.table, r, fk.col, Value::Null))),
                    OnDelete::SetDefault => {
                        let d = s.tabs[fk.table].cols[fk.col].default.clone().unwrap_or(Value::Null);
                        updates.extend(refs.iter().map(|&r| (fk.table, r, fk.col, d.clone())));
                    }
                }
            }
        }
        referencing.sort_unstable();
        referencing.dedup();
        if let Some(Error::Protected { table, id, referenced_by, field, count, .. }) = refused {
            return Err(Error::Protected { table, id, referenced_by, field, count, referencing });
        }
        for &(dt, did) in &doomed {
            for fk in s.fks.iter().filter(|f| f.target == dt) {
                let blocks =
                    fk.on_delete == OnDelete::Restrict || (fk.on_delete == OnDelete::DoNothing && fk.constraint);
                if !blocks {
                    continue;
                }
                let left: Vec<i64> =
                    self.referencing(fk.table, fk.col, did).into_iter().filter(|&r| !gone(fk.table, r)).collect();
                if !left.is_empty() {
                    referencing.extend(left.iter().map(|&r| super::spec::key_of(fk.table, r)));
                    refused.get_or_insert(Error::Restricted {
                        table: tname(dt),
                        id: did,
                        referenced_by: tname(fk.table),
                        field: fk.field.into(),
                        count: left.len(),
                        referencing: Vec::new(),
                    });
                }
            }
        }
        referencing.sort_unstable();
        referencing.dedup();
        if let Some(Error::Restricted { table, id, referenced_by, field, count, .. }) = refused {
            return Err(Error::Restricted { table, id, referenced_by, field, count, referencing });
        }
        updates.retain(|u| !gone(u.0, u.1));
        for (ut, _, c, v) in &updates {
            let fk = &s.fks[s.tabs[*ut].cols[*c].fk.expect("fk column")];
            if let Some(target) = v.as_int() {
                if fk.constraint && (gone(fk.target, target) || !self.exists(fk.target, target)) {
                    return Err(Error::ForeignKey {
                        table: tname(*ut),
                        column: cname(*ut, *c),
                        target: tname(fk.target),
                        id: target,
                        row: None,
                    });
                }
            }
        }
        // A default written into a unique column must stay unique.
        for (i, (ut, uid, c, v)) in updates.iter().enumerate() {
            if v.is_null() || !s.tabs[*ut].cols[*c].unique {
                continue;
            }
            let updated = |id: i64| updates.iter().any(|u| u.0 == *ut && u.1 == id && u.2 == *c);
            let kept = self.tables[*ut]
                .rows
                .iter()
                .filter_map(|r| Some((r[0].as_int()?, &r[*c])))
                .any(|(id, x)| x == v && id != *uid && !gone(*ut, id) && !updated(id));
            if kept || updates[..i].iter().any(|u| u.0 == *ut && u.2 == *c && u.3 == *v) {
                return Err(Error::Unique { table: tname(*ut), column: cname(*ut, *c), value: v.clone(), row: None });
            }
        }
        // Apply.
        for (ut, uid, c, v) in updates {
            self.row_mut(ut, uid).expect("live")[c] = v;
        }
        let mut counts: Vec<(String, usize)> = Vec::new();
        let mut count = |name: String, n: usize| {
            if n == 0 {
                return;
            }
            match counts.iter_mut().find(|(t, _)| *t == name) {
                Some((_, c)) => *c += n,
                None => counts.push((name, n)),
            }
        };
        // Every auto-created through row naming a deleted row goes, its
        // dangling links included.
        for rel in s.rels.iter().filter(|r| r.auto) {
            let rows = &mut self.tables[rel.through].rows;
            let before = rows.len();
            rows.retain(|r| {
                let (a, b) = (r[1].as_int().unwrap_or(0), r[2].as_int().unwrap_or(0));
                !(gone(rel.source, a) || gone(rel.target, b))
            });
            count(tname(rel.through), before - rows.len());
        }
        for &(dt, did) in &doomed {
            let rows = &mut self.tables[dt].rows;
            rows.retain(|r| r[0] != Value::Int(did));
            count(tname(dt), 1);
        }
        counts.sort();
        Ok(counts)
    }

    /// Ids of rows of `t` whose column `c` holds `id`.
    fn referencing(&self, t: usize, c: usize, id: i64) -> Vec<i64> {
        self.tables[t].rows.iter().filter(|r| r[c] == Value::Int(id)).filter_map(|r| r[0].as_int()).collect()
    }

    // ---- related managers -----------------------------------------------

    fn rel(&mut self, acc: usize, me: i64, op: &RRel) -> Result<Out, Error> {
        let s = spec();
        let a = &s.accs[acc];
        if !self.exists(a.table, me) {
            return Err(Error::NotFound { table: tname(a.table), id: me });
        }
        let other = s.other(a);
        match op {
            RRel::Add(targets, defaults) => {
                let targets = self.resolve(acc, targets, true)?;
                self.add_ids(acc, me, &targets, defaults).map(Out::Count)
            }
            RRel::Remove(targets) => {
                let targets = self.resolve(acc, targets, false)?;
                self.remove_ids(acc, me, &targets).map(Out::Count)
            }
            RRel::Clear => {
                let linked = self.linked_both_ways(acc, me);
                self.remove_ids(acc, me, &linked).map(Out::Count)
            }
            RRel::Set(targets, defaults) => {
                let targets = self.resolve(acc, targets, true)?;
                let linked = self.linked(acc, me);
                let stale: Vec<i64> = linked.iter().copied().filter(|c| !targets.contains(c)).collect();
                let only_adds =
                    matches!(a.kind, EndKind::FkRev(f) if !s.tabs[s.fks[f].table].cols[s.fks[f].col].nullable);
                // A kept pair of a symmetrical relation without its mirror
                // row is healed first (the engine heals only live rows; a
                // missing target's pair is completed by the add below).
                if let EndKind::Forward(r) = a.kind {
                    if s.rels[r].symmetrical {
                        let pairs = self.pairs(r);
                        let other = s.other(a);
                        let heal: Vec<i64> = targets
                            .iter()
                            .copied()
                            .filter(|&t| linked.contains(&t) && t != me && !pairs.contains(&(t, me)))
                            .filter(|&t| self.exists(other, t))
                            .collect();
                        self.add_ids(acc, me, &heal, defaults)?;
                    }
                }
                if !only_adds {
                    self.remove_ids(acc, me, &stale)?;
                }
                let new: Vec<i64> = targets.into_iter().filter(|t| !linked.contains(t)).collect();
                self.add_ids(acc, me, &new, defaults)?;
                Ok(Out::Unit)
            }
            RRel::SetClearing(targets, defaults) => {
                let targets = self.resolve(acc, targets, true)?;
                // On a non-nullable reverse foreign key Django's
                // `set(clear=True)` only adds, as its `set` does.
                let only_adds =
                    matches!(a.kind, EndKind::FkRev(f) if !s.tabs[s.fks[f].table].cols[s.fks[f].col].nullable);
                if !only_adds {
                    let linked = self.linked_both_ways(acc, me);
                    self.remove_ids(acc, me, &linked)?;
                }
                self.add_ids(acc, me, &targets, defaults)?;
                Ok(Out::Unit)
            }
            RRel::Create(values, defaults) => self.create_linked(acc, me, values, defaults).map(Out::Id),
            RRel::GetOrCreate(lookup, defaults, through_defaults)
            | RRel::UpdateOrCreate(lookup, defaults, through_defaults) => {
                // A reverse foreign key's lookup is about its own row's key;
                // through defaults are refused there, found row or not.
                let pinned;
                let lookup = match spec().accs[acc].kind {
                    EndKind::FkRev(f) => {
                        let fk = &spec().fks[f];
                        if !through_defaults.is_empty() {
                            return Err(Error::Unsupported { table: tname(fk.table), reason: String::new() });
                        }
                        let col = spec().tabs[fk.table].cols[fk.col].name;
                        let others = lookup.cells().filter(|&(n, _)| n != fk.field && n != col);
                        pinned = others.fold(Row::new(), |r, (n, cell)| r.with(n, cell.clone())).with(col, me);
                        &pinned
                    }
                    _ => lookup,
                };
                if let Some(found) = self.find_related(acc, me, lookup)? {
                    if let RRel::UpdateOrCreate(..) = op {
                        self.update(other, found, defaults)?;
                    }
                    return Ok(Out::Got(found, false));
                }
                let mut values = lookup.clone();
                for (n, cell) in defaults.cells() {
                    values.set(n, cell.clone());
                }
                let id = self.create_linked(acc, me, &values, through_defaults)?;
                Ok(Out::Got(id, true))
            }
        }
    }

    /// Targets to ids of the other end of `acc`, deduplicated in input
    /// order: a key of another table is `WrongTable` (checked over all
    /// targets first); then a missing id is kept where the relation stores
    /// dangling links, else it is `NotFound` (the first one) when targets
    /// must exist, else skipped.
    fn resolve(&self, acc: usize, targets: &[RTarget], must_exist: bool) -> Result<Vec<i64>, Error> {
        let other = spec().other(&spec().accs[acc]);
        let mut ids = Vec::new();
        for t in targets {
            let id = match *t {
                RTarget::Key(kt, id) if kt != other => {
                    return Err(Error::WrongTable { expected: tname(other), found: tname(kt), id })
                }
                RTarget::Key(_, id) | RTarget::Id(id) => id,
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if self.stores_dangling(acc) {
            return Ok(ids);
        }
        if must_exist {
            if let Some(&id) = ids.iter().find(|&&id| !self.exists(other, id)) {
                return Err(Error::NotFound { table: tname(other), id });
            }
        }
        ids.retain(|&id| self.exists(other, id));
        Ok(ids)
    }

    fn add_ids(&mut self, acc: usize, me: i64, targets: &[i64], defaults: &Row) -> Result<usize, Error> {
        let s = spec();
        let a = &s.accs[acc];
        let (r, forward) = match a.kind {
            EndKind::FkRev(f) => {
                let fk = &s.fks[f];
                if !defaults.is_empty() {
                    // A reverse foreign key has no through row to fill.
                    return Err(Error::Unsupported { table: tname(fk.table), reason: String::new() });
                }
                let mut n = 0;
                for &t in targets {
                    if self.row(fk.table, t).expect("resolved")[fk.col] != Value::Int(me) {
                        let col = s.tabs[fk.table].cols[fk.col].name;
                        self.update(fk.table, t, &Row::new().with(col, me))?;
                        n += 1;
                    }
                }
                return Ok(n);
            }
            EndKind::Forward(r) => (r, true),
            EndKind::Reverse(r) => (r, false),
        };
        let rel = &s.rels[r];
        let mut created = 0;
        for &t in targets {
            let p = if forward { (me, t) } else { (t, me) };
            created += self.link_once(r, p, defaults)?;
            if rel.symmetrical && p.0 != p.1 {
                created += self.link_once(r, (p.1, p.0), defaults)?;
            }
        }
        Ok(created)
    }

    fn link_once(&mut self, r: usize, p: (i64, i64), defaults: &Row) -> Result<usize, Error> {
        if self.pairs(r).contains(&p) {
            return Ok(0);
        }
        let s = spec();
        let rel = &s.rels[r];
        let through = &s.tabs[rel.through];
        if rel.auto {
            // No column takes a default: refused once a row would be made.
            if let Some((name, _)) = defaults.iter().next() {
                return Err(Error::UnknownColumn { table: tname(rel.through), column: name.to_owned(), row: None });
            }
            self.tables[rel.through].rows.push(vec![Value::Null, Value::Int(p.0), Value::Int(p.1)]);
            return Ok(1);
        }
        let mut row = defaults.clone();
        row.set(through.cols[rel.source_col].name, p.0);
        row.set(through.cols[rel.target_col].name, p.1);
        self.insert(rel.through, &row)?;
        Ok(1)
    }

    fn remove_ids(&mut self, acc: usize, me: i64, targets: &[i64]) -> Result<usize, Error> {
        let s = spec();
        let a = &s.accs[acc];
        let (r, forward) = match a.kind {
            EndKind::FkRev(f) => {
                let fk = &s.fks[f];
                let col = &s.tabs[fk.table].cols[fk.col];
                if !col.nullable {
                    return Err(Error::Unsupported { table: tname(fk.table), reason: String::new() });
                }
                let mut n = 0;
                for &t in targets {
                    if self.row(fk.table, t).expect("resolved")[fk.col] == Value::Int(me) {
                        self.update(fk.table, t, &Row::new().with(col.name, Value::Null))?;
                        n += 1;
                    }
                }
                return Ok(n);
            }
            EndKind::Forward(r) => (r, true),
            EndKind::Reverse(r) => (r, false),
        };
        let rel = &s.rels[r];
        let mut pairs = Vec::new();
        for &t in targets {
            let p = if forward { (me, t) } else { (t, me) };
            pairs.push(p);
            if rel.symmetrical && p.0 != p.1 {
                pairs.push((p.1, p.0));
            }
        }
        self.unlink_pairs(r, &pairs)
    }

    /// Removes every through row of the pairs: an auto-created through's
    /// rows as they are, a custom through's rows in one delete (with their
    /// own `on_delete` consequences), counting every row of the through
    /// table it took.
    fn unlink_pairs(&mut self, r: usize, pairs: &[(i64, i64)]) -> Result<usize, Error> {
        let rel = &spec().rels[r];
        let (a, b) = (rel.source_col, rel.target_col);
        let links = |row: &Vec<Value>| pairs.iter().any(|p| row[a] == Value::Int(p.0) && row[b] == Value::Int(p.1));
        let rows = &mut self.tables[rel.through].rows;
        if rel.auto {
            let before = rows.len();
            rows.retain(|row| !links(row));
            return Ok(before - rows.len());
        }
        let ids: Vec<(usize, i64)> =
            rows.iter().filter(|row| links(row)).filter_map(|row| Some((rel.through, row[0].as_int()?))).collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let deleted = self.delete(&ids)?;
        Ok(deleted.iter().find(|(t, _)| *t == tname(rel.through)).map_or(0, |(_, n)| *n))
    }

    fn create_linked(&mut self, acc: usize, me: i64, values: &Row, through_defaults: &Row) -> Result<i64, Error> {
        let s = spec();
        let a = &s.accs[acc];
        let other = s.other(a);
        let mut values = values.clone();
        if let EndKind::FkRev(f) = a.kind {
            let fk = &s.fks[f];
            if !through_defaults.is_empty() {
                return Err(Error::Unsupported { table: tname(fk.table), reason: String::new() });
            }
            values.set(s.tabs[fk.table].cols[fk.col].name, me);
        }
        let id = self.insert(other, &values)?;
        if !matches!(a.kind, EndKind::FkRev(_)) {
            self.add_ids(acc, me, &[id], through_defaults)?;
        }
        Ok(id)
    }

    /// The one related row equal to `lookup` on every column it names.
    fn find_related(&self, acc: usize, me: i64, lookup: &Row) -> Result<Option<i64>, Error> {
        let s = spec();
        let other = s.other(&s.accs[acc]);
        let mut cols = Vec::new();
        for (name, cell) in lookup.cells() {
            let c = self.col_of(other, name)?;
            if !cell.value().is_null() {
                self.check_value(other, c, cell)?;
            }
            cols.push((c, cell.value()));
        }
        // One candidate per link row, as Django's `get()` over the join:
        // a row linked twice matches twice.
        let found: Vec<i64> = self
            .related(acc, me)
            .into_iter()
            .filter(|&id| {
                let row = self.row(other, id).expect("related rows are live");
                cols.iter().all(|(c, v)| lookup_eq(&row[*c], v))
            })
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(Some(found[0])),
            n => Err(Error::MultipleFound { table: tname(other), count: n }),
        }
    }
}

/// Equality as a query's `exact` filter has it (and so `get_or_create`'s
/// lookup): NaN equals NaN and `-0.0` equals `0.0`, `NULL` equals `NULL`.
fn lookup_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        _ => a == b,
    }
}

/// `ids` without repeats, in first-seen order.
fn dedup(ids: Vec<i64>) -> Vec<i64> {
    let mut out = Vec::new();
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}
