//! Replays the `batch_decode` fuzz corpus (and any crash artifacts) through
//! the fuzz target's own check, so every input the fuzzer ever kept stays
//! decodable without a panic, without needing cargo-fuzz or nightly.

#[path = "../fuzz/checks/batch_decode.rs"]
mod batch_decode;

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
