//! A cleanly closed log of 1,000 segments: opening it opens only the active
//! segment, and sizes and retention hold no sealed segment's file open
//! afterwards (its own binary, so that counting this process's open file
//! descriptors and resident pages is not disturbed by other tests). The
//! open time and an idle partition's resident memory are printed (run with
//! `--nocapture`), not asserted: timings are for benches.

use std::sync::Arc;
use std::time::Instant;

use topiclog::ManualClock;
use topiclog::PartitionOptions;
use topiclog::format::Record;
use topiclog::{LogConfig, Partition};

const T0: i64 = 1_700_000_000_000;
const SEGMENTS: usize = 1_000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Resident pages of this process (second field of /proc/self/statm).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

fn open(dir: &std::path::Path) -> Partition {
    let config = LogConfig::new().retention_ms(-1);
    let options = PartitionOptions { config, clock: Arc::new(ManualClock::new(T0)), ..Default::default() };
    Partition::open_with(dir, options).unwrap()
}

#[test]
fn a_thousand_sealed_segments_open_lazily() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path());
    for i in 0..SEGMENTS as i64 {
        p.append(&[Record::new().value(format!("v{i}")).timestamp(T0 + i)]).unwrap();
        p.roll().unwrap();
    }
    p.close().unwrap();
    drop(p);

    let before = open_fds();
    let started = Instant::now();
    let p = open(dir.path());
    let opened_in = started.elapsed();
    let after_open = open_fds().saturating_sub(before);
    assert_eq!(p.segment_count(), SEGMENTS + 1);
    // The active segment's three files and the directory lock.
    assert!(after_open <= 8, "{after_open} file descriptors after opening {SEGMENTS} sealed segments");

    let started = Instant::now();
    let size = p.size().unwrap();
    let sized_in = started.elapsed();
    assert!(size > 0);
    p.segments().unwrap();
    p.enforce_retention().unwrap();
    let held = open_fds().saturating_sub(before);
    assert!(held <= 8, "{held} file descriptors held after sizes and retention");
    println!(
        "open of {SEGMENTS} cleanly closed segments: {opened_in:?}; first size(): {sized_in:?}; \
         descriptors held: {held}"
    );
    // Reading opens (and then keeps) only the segments read.
    assert_eq!(p.read_record_at(500, |r| r.offset()).unwrap(), Some(500));
    assert!(open_fds().saturating_sub(before) <= 12);
}

/// Resident memory of idle open partitions (each written to, then left):
/// printed per partition.
#[test]
fn idle_partitions_resident_memory() {
    const PARTITIONS: usize = 50;
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..PARTITIONS).map(|i| root.path().join(format!("p{i}"))).collect();
    for dir in &dirs {
        let p = open(dir);
        for i in 0..100 {
            p.append(&[Record::new().value(vec![b'x'; 100]).timestamp(T0 + i)]).unwrap();
        }
        p.close().unwrap();
    }
    let before = resident_bytes();
    let open: Vec<Partition> = dirs.iter().map(|d| open(d)).collect();
    for p in &open {
        assert_eq!(p.log_end_offset(), 100);
    }
    let after_open = resident_bytes();
    for p in &open {
        p.append(&[Record::new().value(vec![b'y'; 100]).timestamp(T0 + 100)]).unwrap();
    }
    let after_append = resident_bytes();
    let per = |from: u64, to: u64| to.saturating_sub(from) / PARTITIONS as u64 / 1024;
    println!(
        "idle partition resident memory: {} KiB each after open, {} KiB each after one append \
         (including mapped index and log pages touched)",
        per(before, after_open),
        per(before, after_append)
    );
}
