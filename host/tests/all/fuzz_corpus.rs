//! Replays the fuzz corpora (`host/fuzz/corpus/<target>`: real identity-provider filters and
//! PATCH bodies, and hostile ones) through the fuzz entry points, so every seed and every
//! crash the fuzzer ever found stays a regression test without `cargo fuzz`.

use std::fs;

/// Runs every file of `host/fuzz/corpus/<target>` through `run`, which must not panic.
fn replay(target: &str, run: fn(&[u8])) {
    let dir = format!("{}/fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap();
    files.retain(|p| p.is_file());
    files.sort();
    assert!(files.len() >= 10, "expected at least 10 seeds in {dir}, found {}", files.len());
    for path in files {
        let data = fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} breaks an invariant", path.display());
    }
}

#[test]
fn filter_corpus_runs_clean() {
    replay("filter", usersync::scim::filter::fuzz_one);
}

/// The filters and paths as PATCH paths (`members[value eq "…"]`).
#[test]
fn filter_corpus_runs_clean_as_patch_paths() {
    replay("filter", usersync::scim::patch::fuzz_one);
}

#[test]
fn patch_corpus_runs_clean() {
    replay("patch", usersync::scim::patch::fuzz_one);
}

/// The directory codec's seeds (control values as servers send them, DNs, filters, times).
#[test]
fn codec_corpus_runs_clean() {
    replay("codec", usersync::directory::codec::fuzz_one);
}
