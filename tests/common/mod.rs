//! Helpers shared by the integration tests.
#![allow(dead_code)]

use junctiondb::{Row, View};

/// Every table's rows in scan order (slot order; auto-created through
/// tables by source slot and adjacency order), so that two snapshots are
/// equal exactly when the databases are identical, order included.
pub(crate) fn snapshot(view: &View) -> Vec<(String, Vec<Row>)> {
    let names: Vec<String> = view.schema().table_names().map(str::to_owned).collect();
    names
        .into_iter()
        .map(|name| {
            let rows = view.scan(name.as_str()).expect("table exists").map(|r| r.to_row()).collect();
            (name, rows)
        })
        .collect()
}

/// Asserts the invariants hold.
#[track_caller]
pub(crate) fn verify(view: &View) {
    if let Err(e) = view.verify() {
        panic!("invariant violated: {e}");
    }
}
