//! The `query` target (waits for the query layer).

/// The `query` target.
pub fn query_case(_data: &[u8]) {}
