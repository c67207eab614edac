//! Arbitrary query paths, lookups and values against a fixed, populated
//! schema: never a panic, every error a clear `Error`. The logic is in
//! `tests/fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzzing/mod.rs"]
mod fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::query::query_case(data);
});
