//! Replays the fuzz corpora (`batch_decode`, `segment_recovery`) and any
//! crash artifacts through each fuzz target's own check, so every input the
//! fuzzer ever kept stays handled without a panic, without needing
//! cargo-fuzz or nightly.

#[path = "../fuzz/checks/batch_decode.rs"]
mod batch_decode;
#[path = "../fuzz/checks/segment_recovery.rs"]
mod segment_recovery;

use std::path::{Path, PathBuf};

/// The files directly inside `dir`, sorted; none when it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn batch_decode_corpus_replays_without_panic() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = files_in(&fuzz.join("corpus/batch_decode"));
    assert!(corpus.len() >= 50, "expected the batch_decode corpus, found {} files", corpus.len());
    let artifacts = files_in(&fuzz.join("artifacts/batch_decode"));
    let failed: Vec<String> = corpus
        .iter()
        .chain(&artifacts)
        .filter(|file| {
            let data = std::fs::read(file).unwrap();
            std::panic::catch_unwind(|| batch_decode::check(&data)).is_err()
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(failed.is_empty(), "the batch_decode check panicked on {failed:#?}");
}

#[test]
fn segment_recovery_corpus_replays_without_panic() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = files_in(&fuzz.join("corpus/segment_recovery"));
    assert!(corpus.len() >= 20, "expected the segment_recovery corpus, found {} files", corpus.len());
    let artifacts = files_in(&fuzz.join("artifacts/segment_recovery"));
    let failed: Vec<String> = corpus
        .iter()
        .chain(&artifacts)
        .filter(|file| {
            let data = std::fs::read(file).unwrap();
            std::panic::catch_unwind(|| segment_recovery::check(&data)).is_err()
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(failed.is_empty(), "the segment_recovery check panicked on {failed:#?}");
}
