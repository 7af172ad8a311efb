//! Replays the filter fuzz corpus (`host/fuzz/corpus/filter`: real identity-provider
//! filters and hostile ones) through the fuzz entry point, so every seed and every crash the
//! fuzzer ever found stays a regression test without `cargo fuzz`.

use std::fs;

#[test]
fn filter_corpus_runs_clean() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/filter");
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap();
    files.retain(|p| p.is_file());
    files.sort();
    assert!(files.len() >= 10, "expected at least 10 seeds in {dir}, found {}", files.len());
    for path in files {
        let data = fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| usersync::scim::filter::fuzz_one(&data));
        assert!(outcome.is_ok(), "{} breaks an invariant", path.display());
    }
}
