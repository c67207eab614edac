//! Differential fuzzing of writes: the input decodes into steps (single
//! operations, explicit transactions committed or dropped, writes failing
//! at a chosen step by error or panic) applied to the engine and to the
//! naive model of `tests/model`; results and the full state are compared
//! and `verify()` runs after every operation. Any divergence panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/mod.rs"]
mod model;

fuzz_target!(|data: &[u8]| {
    model::Harness::new().run_bytes(data);
});
