//! Crash test: a child process appends (flushing now and then) and is killed
//! with SIGKILL at arbitrary moments. Reopening must give a dense prefix of
//! what was written, with every payload intact, including everything the
//! child had flushed before it died.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use topiclog::format::Record;
use topiclog::{LogConfig, Partition};

fn payload(offset: i64) -> Vec<u8> {
    format!("record-{offset}-{}", "y".repeat((offset % 97) as usize)).into_bytes()
}

fn config() -> LogConfig {
    // Small segments so that kills also land around rolls.
    LogConfig::new().segment_bytes(64 * 1024)
}

#[test]
#[ignore = "run by a_killed_writer_leaves_a_prefix_with_everything_flushed"]
fn child_appends_until_killed() {
    let dir = std::path::PathBuf::from(std::env::var("TOPICLOG_CHILD_DIR").unwrap());
    let p = Partition::open(dir.join("log"), config()).unwrap();
    let mut flushed_file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("flushed")).unwrap();
    let mut next = p.log_end_offset();
    loop {
        let n = 1 + (next % 5);
        let records: Vec<Record> = (next..next + n).map(|o| Record::new().value(payload(o))).collect();
        p.append(&records).unwrap();
        next += n;
        if next % 50 < n {
            p.flush().unwrap();
            // Only after the flush returned: this offset must survive.
            writeln!(flushed_file, "{next}").unwrap();
            flushed_file.sync_all().unwrap();
        }
    }
}

fn last_flushed(dir: &Path) -> i64 {
    std::fs::read_to_string(dir.join("flushed"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_killed_writer_leaves_a_prefix_with_everything_flushed() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..6u64 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_appends_until_killed", "--ignored", "--test-threads=1"])
            .env("TOPICLOG_CHILD_DIR", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment each round; the timing is arbitrary, not asserted.
        std::thread::sleep(Duration::from_millis(200 + 131 * round));
        child.kill().unwrap();
        child.wait().unwrap();

        let flushed = last_flushed(dir.path());
        let p = Partition::open(dir.path().join("log"), config()).unwrap();
        let end = p.log_end_offset();
        assert!(end >= flushed, "round {round}: log end {end} lost flushed offset {flushed}");
        let mut expected = 0;
        for record in p.read_from(0).unwrap() {
            let record = record.unwrap();
            assert_eq!(record.offset(), expected, "round {round}: dense offsets");
            assert_eq!(record.value(), Some(payload(expected).as_slice()), "round {round}: payload of {expected}");
            expected += 1;
        }
        assert_eq!(expected, end, "round {round}: every offset below the log end reads back");
        drop(p);
    }
    assert!(last_flushed(dir.path()) > 0, "the child flushed at least once, so the test tested something");
}
