//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) and every input that once crashed a
//! target (`fuzz/regressions/<target>/`) through the harness of `switchyard_fuzz`, on
//! stable and without cargo-fuzz: what a campaign found stays found.
//!
//! What this proves: no committed input panics its target, each target has a corpus
//! (so a deleted directory fails here rather than passing on nothing), and every
//! regression directory belongs to a real target.
#![expect(
    clippy::unwrap_used,
    reason = "test crate: a failed step is a failed test"
)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// The repository's `fuzz/` directory.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every file under `dir` (none when it does not exist), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Run every file of `kind/<target>/` through `target`; the files that panicked.
fn replay(target: &str, kind: &str) -> (usize, Vec<String>) {
    let inputs = files(&fuzz_dir().join(kind).join(target));
    let mut failed = Vec::new();
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let ok = catch_unwind(AssertUnwindSafe(|| {
            assert!(
                switchyard_fuzz::run(target, &data),
                "unknown target {target}"
            );
        }));
        if ok.is_err() {
            failed.push(path.display().to_string());
        }
    }
    (inputs.len(), failed)
}

fn corpus_and_regressions_run_clean(target: &str) {
    let (corpus, failed) = replay(target, "corpus");
    assert!(corpus > 0, "fuzz/corpus/{target}/ is empty or missing");
    assert!(failed.is_empty(), "corpus inputs that panic: {failed:#?}");
    let (_, failed) = replay(target, "regressions");
    assert!(
        failed.is_empty(),
        "regression inputs that panic: {failed:#?}"
    );
}

#[test]
fn every_request_prepare_corpus_input_runs_without_panic() {
    corpus_and_regressions_run_clean("request_prepare");
}

#[test]
fn every_sse_stream_corpus_input_runs_without_panic() {
    corpus_and_regressions_run_clean("sse_stream");
}

#[test]
fn every_parse_error_corpus_input_runs_without_panic() {
    corpus_and_regressions_run_clean("parse_error");
}

#[test]
fn every_config_parse_corpus_input_runs_without_panic() {
    corpus_and_regressions_run_clean("config_parse");
}

#[test]
fn every_other_apis_corpus_input_runs_without_panic() {
    corpus_and_regressions_run_clean("other_apis");
}

#[test]
fn corpus_and_regression_directories_name_real_targets() {
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for e in entries {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                switchyard_fuzz::TARGETS.contains(&name.as_str()),
                "fuzz/{kind}/{name} is not a target (targets: {:?})",
                switchyard_fuzz::TARGETS
            );
        }
    }
}

/// `(name, version)` of every package in a `Cargo.lock`.
fn locked(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            out.push((n, v.trim_matches('"').to_string()));
        }
    }
    out
}

#[test]
fn fuzz_lockfile_pins_the_versions_the_workspace_ships() {
    // fuzz/ is its own workspace with its own lockfile; a campaign must exercise the
    // dependency versions the gateway is built with. After `cargo update`, copy
    // Cargo.lock to fuzz/Cargo.lock and let cargo trim it (`cargo +nightly fuzz build`).
    let shipped = locked(&fuzz_dir().join("../Cargo.lock"));
    let fuzzed = locked(&fuzz_dir().join("Cargo.lock"));
    let differ: Vec<_> = fuzzed
        .iter()
        .filter(|(n, _)| shipped.iter().any(|(s, _)| s == n))
        .filter(|p| !shipped.contains(p))
        .collect();
    assert!(
        differ.is_empty(),
        "fuzz/Cargo.lock differs from Cargo.lock: {differ:?}"
    );
}

#[test]
fn every_target_has_a_cargo_fuzz_entry_point() {
    for target in switchyard_fuzz::TARGETS {
        let path = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            text.contains(&format!("switchyard_fuzz::{target}(")),
            "{} does not call switchyard_fuzz::{target}",
            path.display()
        );
    }
}
