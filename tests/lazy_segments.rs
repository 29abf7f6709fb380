//! Sizes and retention of a cleanly closed log never open its sealed
//! segments' files (one test in its own binary, so that counting this
//! process's open file descriptors is not disturbed by other tests).

use std::sync::Arc;

use topiclog::ManualClock;
use topiclog::PartitionOptions;
use topiclog::format::Record;
use topiclog::{LogConfig, Partition};

const T0: i64 = 1_700_000_000_000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn sizes_and_retention_do_not_open_sealed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = || LogConfig::new().retention_ms(-1);
    let open = || {
        Partition::open_with(
            dir.path(),
            PartitionOptions { config: config(), clock: Arc::new(ManualClock::new(T0)), ..Default::default() },
        )
        .unwrap()
    };
    let p = open();
    for i in 0..200 {
        p.append(&[Record::new().value(format!("v{i}")).timestamp(T0 + i)]).unwrap();
        p.roll().unwrap();
    }
    let total = p.size().unwrap();
    p.close().unwrap();
    drop(p);

    let before = open_fds();
    let p = open();
    assert_eq!(p.segments().unwrap().len(), 201);
    assert_eq!(p.size().unwrap(), total);
    p.enforce_retention().unwrap();
    let opened = open_fds().saturating_sub(before);
    assert!(opened < 20, "{opened} file descriptors opened for 200 sealed segments");
    assert_eq!(p.read_from(0).unwrap().count(), 200);
}
