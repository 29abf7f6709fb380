//! A real size-limited run (issue 14): a child process sets
//! `RLIMIT_FSIZE` and ignores SIGXFSZ, so that a write or a reservation
//! past the limit fails with EFBIG, then appends with `flush.messages=1`
//! until an append fails. The failure must be a typed `Error::Io` naming the
//! file, with EFBIG; the partition is then poisoned (`Error::Poisoned`, the
//! I/O error as its source). The parent reopens the directory without the
//! limit and finds every acknowledged record, and the log opens cleanly.
//!
//! Two runs: records larger than a page (written with `pwrite`: the write
//! that crosses the limit is cut short) and records written through the
//! preallocated mapping (the next reservation, in a new segment, fails).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use topiclog::{Error, LogConfig, Partition, Record};

const CHILD_DIR: &str = "TOPICLOG_FSIZE_CHILD_DIR";
const CHILD_VALUE: &str = "TOPICLOG_FSIZE_CHILD_VALUE";
const LIMIT: u64 = 256 * 1024;

fn config() -> LogConfig {
    // Segments larger than the limit, indexes well below it.
    LogConfig::new().segment_bytes(512 * 1024).segment_index_bytes(16 * 1024).flush_messages(1)
}

fn value(offset: i64, size: usize) -> Vec<u8> {
    let mut v = format!("record-{offset}-").into_bytes();
    v.resize(size, b'z');
    v
}

#[test]
#[ignore = "run by appends_past_a_file_size_limit_fail_typed_and_lose_nothing_acknowledged"]
fn child_appends_under_a_file_size_limit() {
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let size: usize = std::env::var(CHILD_VALUE).unwrap().parse().unwrap();
    let p = Partition::open(&dir, config()).unwrap();
    let mut out = std::io::stdout().lock();
    // A few appends before the limit: the mapped run's first stretch is reserved then.
    for _ in 0..3 {
        let at = p.append(&[Record::new().value(value(p.log_end_offset(), size))]).unwrap();
        writeln!(out, "ack {}", at.first_offset).unwrap();
    }
    let limit = libc::rlimit { rlim_cur: LIMIT, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: plain system calls with a valid `rlimit` value; ignoring
    // SIGXFSZ installs no handler, so no Rust code runs in a signal context.
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
        assert_ne!(libc::signal(libc::SIGXFSZ, libc::SIG_IGN), libc::SIG_ERR);
    }
    let failure = loop {
        let offset = p.log_end_offset();
        match p.append(&[Record::new().value(value(offset, size))]) {
            Ok(at) => {
                assert_eq!(at.first_offset, offset);
                assert!(p.recovery_point() > offset, "flush.messages=1 flushed offset {offset}");
                writeln!(out, "ack {offset}").unwrap();
                out.flush().unwrap();
            }
            Err(e) => break e,
        }
        assert!(offset < 10_000, "no append failed under a limit of {LIMIT} bytes");
    };
    let Error::Io { op, path, source } = &failure else { panic!("not a typed I/O error: {failure:?}") };
    assert_eq!(source.raw_os_error(), Some(libc::EFBIG), "{failure}");
    assert!(path.starts_with(&dir) && path.file_name().is_some(), "{failure}: names the file");
    writeln!(out, "failed {op} {}", path.display()).unwrap();
    let next = p.append(&[Record::new().value(value(p.log_end_offset(), size))]).unwrap_err();
    let Error::Poisoned { .. } = &next else { panic!("not poisoned: {next:?}") };
    let cause = std::error::Error::source(&next).expect("a poisoned partition gives its cause");
    // The source is the shared `Arc<Error>` the partition keeps.
    let cause = cause.downcast_ref::<std::sync::Arc<Error>>().map(|e| &**e).or_else(|| cause.downcast_ref::<Error>());
    let Some(Error::Io { source, .. }) = cause else { panic!("cause {cause:?}") };
    assert_eq!(source.raw_os_error(), Some(libc::EFBIG));
    assert!(matches!(p.flush(), Err(Error::Poisoned { .. })), "flush refused too");
    writeln!(out, "poisoned").unwrap();
}

/// Runs the child on `dir` with records of `size` bytes; returns the acknowledged offsets and the failure line.
fn run_child(dir: &Path, size: usize) -> (Vec<i64>, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_appends_under_a_file_size_limit", "--ignored", "--test-threads=1", "--nocapture"])
        .env(CHILD_DIR, dir)
        .env(CHILD_VALUE, size.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("poisoned"),
        "child ({size}-byte records) failed ({}): {stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let acked = stdout.lines().filter_map(|l| l.rsplit_once("ack ").and_then(|(_, n)| n.parse().ok())).collect();
    let failed = stdout.lines().find_map(|l| l.split_once("failed ").map(|(_, f)| f.to_string())).unwrap();
    (acked, failed)
}

#[test]
fn appends_past_a_file_size_limit_fail_typed_and_lose_nothing_acknowledged() {
    // 8 KiB records go through `pwrite`; 3.5 KiB ones through the mapping.
    for size in [8 * 1024, 3500] {
        let dir = tempfile::tempdir().unwrap();
        let (acked, failed) = run_child(dir.path(), size);
        let what = format!("{size}-byte records, failure `{failed}`");
        assert!(acked.len() > 10, "{what}: {} acknowledged", acked.len());
        assert_eq!(acked, (0..acked.len() as i64).collect::<Vec<_>>(), "{what}: acknowledged offsets in order");

        let p = Partition::open(dir.path(), config()).unwrap();
        let end = p.log_end_offset();
        assert!(end >= acked.len() as i64, "{what}: log end {end} below {} acknowledged", acked.len());
        let mut expected = 0;
        for record in p.read_from(0).unwrap() {
            let record = record.unwrap_or_else(|e| panic!("{what}: reading offset {expected}: {e}"));
            assert_eq!(record.offset(), expected, "{what}: dense offsets");
            assert_eq!(record.value(), Some(value(expected, size).as_slice()), "{what}: value at {expected}");
            expected += 1;
        }
        assert_eq!(expected, end, "{what}: every offset below the log end reads back");
        // Nothing past the last acknowledged record but what recovery cut.
        assert!(end <= acked.len() as i64 + 1, "{what}: log end {end}");
        p.append(&[Record::new().value(value(end, size))]).unwrap();
        p.close().unwrap();
        eprintln!("EFBIG {what}: {} acknowledged, all read back; reopened at log end {end}", acked.len());
    }
}
