//! The engine's state as it reads, order included: what a write refused or
//! rolled back must leave exactly as it was. Shared by the model harness
//! and the `schema` fuzz target (each loads it by path, as the fuzz crate
//! builds them too), so that both compare the same thing.

use junctiondb::View;

/// Every table's rows in scan order (slot order; auto-created throughs'
/// ids and dangling links' places too), and each row's related ids
/// through every accessor in the manager's order. A rollback restores all
/// of it (the model's `compare` sorts rows and ignores link ids, so it
/// cannot see order). Printed, so that a `NaN` equals itself, which a
/// float does not, and `-0.0` differs from `0.0`.
pub fn exact_state(view: &View) -> String {
    let mut out = String::new();
    let schema = view.schema();
    for name in schema.table_names() {
        let t = schema.table(name).expect("listed table");
        let accessors: Vec<&str> = schema.accessor_names(t).collect();
        for r in view.scan(t).expect("listed table") {
            out += &format!("{:?}", r.to_row());
            for &a in &accessors {
                let ids: Vec<i64> = view.related(r.key(), a).map(|m| m.ids().collect()).unwrap_or_default();
                out += &format!(" {a}={ids:?}");
            }
            out.push('\n');
        }
    }
    out
}
