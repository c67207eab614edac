//! Arbitrary schema declarations: `build()` never panics, every rejection
//! is a diagnostic with a well-formed id, the result is deterministic, and
//! a schema that builds can be used (inserts, managers, deletes) without a
//! panic or a broken invariant. The logic is in `tests/fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzzing/mod.rs"]
mod fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::schema_case(data);
});
