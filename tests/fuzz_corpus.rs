//! Replays the fuzz corpora and any crash artifacts through each fuzz
//! target's own check, so every input the fuzzer ever kept stays handled
//! without a panic, without needing cargo-fuzz or nightly.

#[path = "../fuzz/checks/batch_decode.rs"]
mod batch_decode;
#[path = "../fuzz/checks/config_parsing.rs"]
mod config_parsing;
#[path = "../fuzz/checks/index_open.rs"]
mod index_open;
#[path = "../fuzz/checks/partition_compaction.rs"]
mod partition_compaction;
#[path = "../fuzz/checks/partition_model.rs"]
mod partition_model;
#[path = "../fuzz/checks/segment_recovery.rs"]
mod segment_recovery;
#[path = "../fuzz/checks/state_parsing.rs"]
mod state_parsing;

use std::path::{Path, PathBuf};

/// The files directly inside `dir`, sorted; none when it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// Runs `check` over `fuzz/corpus/<target>` (at least `min` files) and
/// `fuzz/artifacts/<target>`; fails naming every input it panicked on.
fn replay(target: &str, min: usize, check: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = files_in(&fuzz.join("corpus").join(target));
    assert!(corpus.len() >= min, "expected the {target} corpus, found {} files", corpus.len());
    let artifacts = files_in(&fuzz.join("artifacts").join(target));
    let failed: Vec<String> = corpus
        .iter()
        .chain(&artifacts)
        .filter(|file| {
            let data = std::fs::read(file).unwrap();
            std::panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(failed.is_empty(), "the {target} check panicked on {failed:#?}");
}

#[test]
fn batch_decode_corpus_replays_without_panic() {
    replay("batch_decode", 50, batch_decode::check);
}

#[test]
fn segment_recovery_corpus_replays_without_panic() {
    replay("segment_recovery", 20, segment_recovery::check);
}

#[test]
fn index_open_corpus_replays_without_panic() {
    replay("index_open", 10, index_open::check);
}

#[test]
fn state_parsing_corpus_replays_without_panic() {
    replay("state_parsing", 10, state_parsing::check);
}

#[test]
fn config_parsing_corpus_replays_without_panic() {
    replay("config_parsing", 10, config_parsing::check);
}

#[test]
fn partition_compaction_corpus_replays_without_panic() {
    replay("partition_compaction", 5, partition_compaction::check);
}

#[test]
fn partition_model_corpus_replays_without_panic() {
    replay("partition_model", 5, partition_model::check);
}
