//! Replays every committed fuzz input on stable under `cargo test`: the
//! seed corpus (`fuzz/corpus/<target>/`) and the regression inputs
//! (`fuzz/regressions/<target>/`) of each target, through the same code
//! the fuzz targets run (`tests/model` for `ops`, `tests/fuzzing` for
//! `schema` and `query`).
//!
//! `REPLAY=<file> REPLAY_TARGET=<target> cargo test --test fuzz_replay
//! replay_one -- --nocapture` replays one file (with `MODEL_TRACE=1`, every
//! operation of an `ops` input is printed; with `REPLAY_CHUNK=4000`, an
//! input saved by `tests/model_relations.rs` is replayed chunk by chunk).

// `fuzzing::query` loads `model/spec.rs` for its schema too.
#[allow(clippy::duplicate_mod)]
mod fuzzing;
mod model;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() && p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.') && n != "README") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn replay(target: &str, run: impl Fn(&[u8])) -> usize {
    let files = inputs(target);
    for f in &files {
        let data = std::fs::read(f).expect("read input");
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&data))) {
            eprintln!("{target}: {} failed", f.display());
            std::panic::resume_unwind(e);
        }
    }
    files.len()
}

fn run_target(target: &str, data: &[u8]) {
    match target {
        "ops" => model::Harness::new().run_bytes(data),
        "schema" => fuzzing::schema_case(data),
        "query" => fuzzing::query::query_case(data),
        other => panic!("unknown target {other}"),
    }
}

#[test]
fn ops_corpus_and_regressions() {
    let n = replay("ops", |d| run_target("ops", d));
    assert!(n >= 3, "the ops corpus is missing ({n} files)");
}

#[test]
fn schema_corpus_and_regressions() {
    let n = replay("schema", |d| run_target("schema", d));
    assert!(n >= 3, "the schema corpus is missing ({n} files)");
}

#[test]
fn query_corpus_and_regressions() {
    let n = replay("query", |d| run_target("query", d));
    assert!(n >= 3, "the query corpus is missing ({n} files)");
}

/// Replays the file named by `REPLAY` with target `REPLAY_TARGET`
/// (default `ops`); does nothing without it.
#[test]
fn replay_one() {
    let Some(path) = std::env::var_os("REPLAY") else { return };
    let target = std::env::var("REPLAY_TARGET").unwrap_or_else(|_| "ops".into());
    let data = std::fs::read(path).expect("read REPLAY");
    match std::env::var("REPLAY_CHUNK").ok().and_then(|c| c.parse().ok()) {
        Some(chunk) => model::Harness::new().run_chunks(&data, chunk),
        None => run_target(&target, &data),
    }
}
