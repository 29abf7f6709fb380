//! Loading and recovery behaviours ported from Kafka's LogLoaderTest (SPEC §8,
//! items 44-51). A crash is simulated by dropping the partition without
//! `close`, optionally damaging files, and rewriting its state file.

use std::path::Path;
use std::sync::Arc;

use topiclog::ManualClock;
use topiclog::PartitionOptions;
use topiclog::format::Record;

/// The partition state file's name (an internal detail these tests reach into).
const STATE_FILE: &str = "topiclog.state";
use topiclog::{LogConfig, Partition};

const T0: i64 = 1_700_000_000_000;

fn open(dir: &Path, config: LogConfig) -> Partition {
    Partition::open_with(dir, PartitionOptions { config, clock: Arc::new(ManualClock::new(T0)), ..Default::default() })
        .unwrap()
}

/// Rewrites the partition's state file: what a crash at a chosen moment leaves.
fn set_state(dir: &Path, log_start: i64, recovery_point: i64, clean: bool) {
    let text =
        format!("version 0\nlog_start_offset {log_start}\nrecovery_point {recovery_point}\nclean_shutdown {clean}\n");
    std::fs::write(dir.join(STATE_FILE), text).unwrap();
}

fn files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn append_n(p: &Partition, n: i64) {
    for i in 0..n {
        p.append(&[Record::new().key(format!("k{i}")).value(format!("value-{i}")).timestamp(T0 + i)]).unwrap();
    }
}

fn assert_all_records(p: &Partition, n: i64) {
    let records: Vec<_> = p.read_from(p.log_start_offset()).unwrap().map(Result::unwrap).collect();
    assert_eq!(records.len() as i64, n - p.log_start_offset());
    for r in records {
        let i = r.offset();
        assert_eq!(r.key(), Some(format!("k{i}").as_bytes()));
        assert_eq!(r.value(), Some(format!("value-{i}").as_bytes()));
        assert_eq!(r.timestamp(), T0 + i);
        assert_eq!(p.offset_for_timestamp(T0 + i).unwrap().map(|e| e.offset), Some(i));
    }
}

fn small_segments() -> LogConfig {
    LogConfig::new().segment_bytes(700).index_interval_bytes(300)
}

#[test]
fn log_recovers_to_correct_offset() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), small_segments());
    append_n(&p, 100);
    let index_sizes: Vec<u64> =
        files(dir.path(), "index").iter().map(|f| std::fs::metadata(f).unwrap().len()).collect();
    p.close().unwrap();
    let closed_sizes: Vec<u64> =
        files(dir.path(), "index").iter().map(|f| std::fs::metadata(f).unwrap().len()).collect();
    assert_eq!(index_sizes.len(), closed_sizes.len());

    set_state(dir.path(), 0, 100, false);
    let p = open(dir.path(), small_segments());
    assert_eq!(p.log_end_offset(), 100);
    assert_eq!(p.recovery_point(), 100);
    assert_all_records(&p, 100);
    drop(p);

    set_state(dir.path(), 0, 10, false);
    let p = open(dir.path(), small_segments());
    assert_eq!(p.log_end_offset(), 100);
    assert_eq!(p.recovery_point(), 10, "the recovery point only moves on flush");
    p.flush().unwrap();
    assert_eq!(p.recovery_point(), 100);
    assert!(p.recovery_reports().iter().all(|r| r.truncated_bytes == 0));
}

#[test]
fn index_rebuild_and_corrupt_index_rebuild() {
    for corrupt in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig::new().segment_bytes(2000).index_interval_bytes(1);
        let p = open(dir.path(), config.clone());
        append_n(&p, 200);
        drop(p);
        for f in files(dir.path(), "index").into_iter().chain(files(dir.path(), "timeindex")) {
            if corrupt {
                std::fs::write(&f, b"  ").unwrap();
            } else {
                std::fs::remove_file(&f).unwrap();
            }
        }
        set_state(dir.path(), 0, 0, false);
        let p = open(dir.path(), config);
        assert_eq!(p.log_end_offset(), 200);
        assert_all_records(&p, 200);
        assert!(files(dir.path(), "index").iter().all(|f| std::fs::metadata(f).unwrap().len() > 0));
    }
}

#[test]
fn bogus_index_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00000000000000000005.index"), [0u8; 16]).unwrap();
    std::fs::write(dir.path().join("00000000000000000005.timeindex"), [0u8; 24]).unwrap();
    let p = open(dir.path(), LogConfig::new());
    assert!(!dir.path().join("00000000000000000005.index").exists());
    assert!(!dir.path().join("00000000000000000005.timeindex").exists());
    p.append(&[Record::new().value("v")]).unwrap();
}

#[test]
fn open_deletes_obsolete_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig::new().segment_bytes(200).retention_ms(1).file_delete_delay_ms(1_000_000);
    let p = open(dir.path(), config.clone());
    for _ in 0..20 {
        p.append(&[Record::new().value("old").timestamp(T0 - 10)]).unwrap();
    }
    p.enforce_retention().unwrap();
    let deleted = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().to_string_lossy().ends_with(".deleted"))
        .count();
    assert!(deleted > 0);
    drop(p); // a crash: the delayed deletions never ran
    let p = open(dir.path(), config);
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().path().to_string_lossy().ends_with(".deleted")));
    assert_eq!(p.segments().unwrap().len(), 1);
}

#[test]
fn corrupt_log_tail_is_cut_and_everything_before_it_kept() {
    for n in [50, 73, 99] {
        let dir = tempfile::tempdir().unwrap();
        let p = open(dir.path(), LogConfig::new());
        append_n(&p, n);
        drop(p);
        let log = dir.path().join("00000000000000000000.log");
        let index = dir.path().join("00000000000000000000.index");
        for f in [&log, &index] {
            let mut bytes = std::fs::read(f).unwrap();
            let len = if f == &index { (n as usize) * 8 } else { bytes.len() };
            bytes.truncate(len);
            bytes.extend((0..97u32).map(|i| (i * 31 + 7) as u8));
            std::fs::write(f, bytes).unwrap();
        }
        set_state(dir.path(), 0, 50, false);
        let p = open(dir.path(), LogConfig::new());
        assert_eq!(p.log_end_offset(), n);
        assert_all_records(&p, n);
        let reports = p.recovery_reports();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].truncated_bytes, 97);
    }
}

#[test]
fn clean_shutdown_skips_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), small_segments());
    append_n(&p, 100);
    p.close().unwrap();
    // Garbage in a sealed segment is not noticed: a clean log is trusted.
    let state = std::fs::read_to_string(dir.path().join(STATE_FILE)).unwrap();
    assert!(state.contains("clean_shutdown true"));
    let p = open(dir.path(), small_segments());
    assert_eq!(p.log_end_offset(), 100);
    assert!(p.recovery_reports().is_empty());
    assert_all_records(&p, 100);
}

#[test]
fn log_end_less_than_start_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig::new().segment_bytes(90);
    let p = open(dir.path(), config.clone());
    append_n(&p, 5);
    p.roll().unwrap();
    assert_eq!(p.segments().unwrap().len(), 6);
    p.delete_records(4).unwrap();
    drop(p);
    let seg1 = dir.path().join("00000000000000000001.log");
    let len = std::fs::metadata(&seg1).unwrap().len() as usize;
    std::fs::write(&seg1, vec![0xEE; len]).unwrap();
    set_state(dir.path(), 4, 0, false);
    let p = open(dir.path(), config);
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (4, 4));
    let segments = p.segments().unwrap();
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0].base_offset, 4);
    for ext in ["log", "index", "timeindex"] {
        assert!(dir.path().join(format!("00000000000000000004.{ext}")).exists(), "{ext}");
    }
    assert_eq!(p.append(&[Record::new().value("v")]).unwrap().first_offset, 4);
}

#[test]
fn recover_with_empty_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::new());
    append_n(&p, 10);
    p.roll().unwrap();
    drop(p);
    set_state(dir.path(), 0, 10, false);
    let p = open(dir.path(), LogConfig::new());
    assert_eq!(p.log_end_offset(), 10);
    assert!(dir.path().join("00000000000000000010.index").exists());
    assert_eq!(p.append(&[Record::new().value("v")]).unwrap().first_offset, 10);
    assert_all_records_after(&p, 10);
}

fn assert_all_records_after(p: &Partition, n: i64) {
    let records: Vec<_> = p.read_from(0).unwrap().map(Result::unwrap).collect();
    assert_eq!(records.len() as i64, n + 1);
}

#[test]
fn unclean_open_of_a_kafka_directory_without_state_recovers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), small_segments());
    append_n(&p, 60);
    p.close().unwrap();
    std::fs::remove_file(dir.path().join(STATE_FILE)).unwrap();
    let p = open(dir.path(), small_segments());
    assert_eq!(p.log_end_offset(), 60);
    assert_all_records(&p, 60);
}
