//! Storage: typed column vectors per table, the primary-key map, and hash
//! indexes whose keys are read through the column store. Nothing here knows
//! names, relations or transactions.

mod column;
mod index;
mod table;
mod text;

pub(crate) use column::Column;
pub(crate) use table::{identity_slot, Table, MAX_SLOTS};
