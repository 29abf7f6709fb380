//! Kafka's own segments, compacted by topiclog: every `__consumer_offsets`
//! partition in the fixtures (some already written by Kafka's cleaner) opens,
//! is cleaned again, keeps every key's latest value at its offset, and the
//! segments topiclog wrote decode with the independent `kafka_dump.py`, with
//! every index entry pointing where it should.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use topiclog::CleanupPolicy;
use topiclog::{CleanerOptions, LogConfig, Partition};

type Latest = BTreeMap<Vec<u8>, (i64, Option<Vec<u8>>)>;

fn latest_per_key(p: &Partition) -> Latest {
    let mut latest = BTreeMap::new();
    for r in p.read_from(p.log_start_offset()).unwrap() {
        let r = r.unwrap();
        latest.insert(r.key().unwrap().to_vec(), (r.offset(), r.value().map(<[u8]>::to_vec)));
    }
    latest
}

/// Checks each `.index` entry of `dir` names a batch boundary holding its offset.
fn check_offset_indexes(dir: &Path) -> usize {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some(base) = name.strip_suffix(".index") else { continue };
        let base_offset: i64 = base.parse().unwrap();
        let log = std::fs::read(dir.join(format!("{base}.log"))).unwrap();
        let index = std::fs::read(&path).unwrap();
        // Batch starts and their offset ranges.
        let mut batches = BTreeMap::new();
        let mut at = 0usize;
        while at + 61 <= log.len() {
            let base_off = i64::from_be_bytes(log[at..at + 8].try_into().unwrap());
            let length = i32::from_be_bytes(log[at + 8..at + 12].try_into().unwrap()) as usize;
            let delta = i32::from_be_bytes(log[at + 23..at + 27].try_into().unwrap());
            batches.insert(at as u32, (base_off, base_off + i64::from(delta)));
            at += 12 + length;
        }
        for entry in index.chunks_exact(8) {
            let relative = i32::from_be_bytes(entry[..4].try_into().unwrap());
            let position = u32::from_be_bytes(entry[4..].try_into().unwrap());
            if relative == 0 && position == 0 {
                continue; // preallocated space
            }
            let offset = base_offset + i64::from(relative);
            let (first, last) = batches[&position];
            assert!(first <= offset && offset <= last, "{}: entry {offset} at {position}", path.display());
            checked += 1;
        }
    }
    checked
}

#[test]
fn kafka_compacted_partitions_are_cleaned_again_without_losing_a_latest_value() {
    let Some(root) = common::kafka_real_dir() else { return };
    let mut dirs: Vec<_> = common::files_under(&root, &|n| n.ends_with(".log"))
        .into_iter()
        .map(|p| p.parent().unwrap().to_path_buf())
        .filter(|d| d.file_name().unwrap().to_str().unwrap().starts_with("__consumer_offsets"))
        .collect();
    dirs.sort();
    dirs.dedup();
    assert!(dirs.len() >= 5, "consumer offsets partitions found: {}", dirs.len());
    let python = std::process::Command::new("python3").arg("--version").output().is_ok();
    let (mut cleaned_records, mut index_entries) = (0, 0);
    for dir in &dirs {
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join(dir.file_name().unwrap());
        common::copy_fixture_dir(dir, &copy);
        // Dense indexes, so that the rewritten segments have entries to check.
        let config = LogConfig::new().cleanup_policy(CleanupPolicy::Compact).index_interval_bytes(64);
        let p = Partition::open(&copy, config.clone()).unwrap();
        let before = latest_per_key(&p);
        // Everything becomes cleanable: the active segment is never cleaned.
        p.roll().unwrap();
        let done = p.compact_with(&CleanerOptions::new().first_dirty_offset(0)).unwrap();
        cleaned_records += done.records_read;
        let after = latest_per_key(&p);
        for (key, (offset, value)) in &before {
            // Tombstones stamped by Kafka years ago are past their horizon.
            if value.is_some() {
                assert_eq!(after.get(key), Some(&(*offset, value.clone())), "{}: key {key:?}", dir.display());
            }
        }
        p.close().unwrap();
        let p = Partition::open(&copy, config).unwrap();
        assert_eq!(latest_per_key(&p), after, "{} reopened", dir.display());
        p.close().unwrap();
        index_entries += check_offset_indexes(&copy);
        if python {
            let mut files: Vec<_> = std::fs::read_dir(&copy)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "log" || e == "index" || e == "timeindex"))
                .collect();
            files.sort();
            let out = std::process::Command::new("python3")
                .arg(root.join("../../tools/kafka_dump.py"))
                .arg("--summary")
                .args(&files)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}: {}", dir.display(), String::from_utf8_lossy(&out.stdout));
        }
    }
    assert!(cleaned_records > 500, "records cleaned: {cleaned_records}");
    assert!(index_entries > 5, "index entries checked: {index_entries}");
}
