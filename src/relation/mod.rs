//! Relations: the junction (a many-to-many relation's bidirectional index)
//! and its adjacency lists. Mutation primitives report what they changed so
//! the transaction layer can undo it exactly; nothing here knows names.

pub(crate) mod adjacency;
pub(crate) mod dangling;
pub(crate) mod junction;
pub(crate) mod pool;
pub(crate) mod prefetch;

pub(crate) use dangling::DanglingLinks;
pub(crate) use junction::{Junction, Links};
