//! The active segment is preallocated and written through a mapping: a
//! crash leaves a tail of zeros, which recovery drops without a report; a
//! full disk when reserving space is an error, never a signal.

use std::path::Path;

use topiclog::format::Record;
use topiclog::{Error, LogConfig, Partition};

fn value(i: i64) -> String {
    format!("value-{i}")
}

fn log_file(dir: &Path) -> std::path::PathBuf {
    dir.join("00000000000000000000.log")
}

/// A crash while the active segment is preallocated and mapped: the files
/// as the process left them (copied while it runs) hold the data and then
/// zeros to the reserved length. Reopening keeps every record and reports
/// nothing, and the tail is gone.
#[test]
fn a_crash_with_a_preallocated_tail_recovers_every_record_silently() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let config = || LogConfig::new().segment_bytes(1 << 20);
    let p = Partition::open(dir.path(), config()).unwrap();
    for i in 0..100 {
        p.append(&[Record::new().value(value(i))]).unwrap();
    }
    let data = p.size().unwrap();
    let reserved = std::fs::metadata(log_file(dir.path())).unwrap().len();
    assert!(reserved > data, "the active segment is preallocated ({reserved} bytes for {data})");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != ".lock" {
            std::fs::copy(&path, crashed.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    drop(p);
    assert_eq!(std::fs::metadata(log_file(dir.path())).unwrap().len(), data, "drop trims the reservation");

    let p = Partition::open(crashed.path(), config()).unwrap();
    assert_eq!(p.log_end_offset(), 100);
    assert!(p.recovery_reports().is_empty(), "zeros past the data are not damage: {:?}", p.recovery_reports());
    let values: Vec<String> =
        p.read_from(0).unwrap().map(|r| String::from_utf8(r.unwrap().value().unwrap().to_vec()).unwrap()).collect();
    assert_eq!(values, (0..100).map(value).collect::<Vec<_>>());
    assert_eq!(std::fs::metadata(log_file(crashed.path())).unwrap().len(), data, "recovery trimmed the tail");
    assert_eq!(p.append(&[Record::new().value(value(100))]).unwrap().first_offset, 100);
}

/// Zeros past the data are the only tail recovery drops silently: anything
/// else after the last whole batch is reported.
#[test]
fn a_tail_that_is_not_all_zeros_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::new()).unwrap();
    for i in 0..10 {
        p.append(&[Record::new().value(value(i))]).unwrap();
    }
    drop(p);
    let log = log_file(dir.path());
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0]);
    std::fs::write(&log, bytes).unwrap();
    std::fs::write(
        dir.path().join("topiclog.state"),
        "version 0\nlog_start_offset 0\nrecovery_point 0\nclean_shutdown false\n",
    )
    .unwrap();
    let p = Partition::open(dir.path(), LogConfig::new()).unwrap();
    assert_eq!(p.log_end_offset(), 10);
    assert_eq!(p.recovery_reports().len(), 1, "{:?}", p.recovery_reports());
}

#[test]
#[ignore = "run by a_full_disk_when_reserving_space_is_an_error"]
fn child_appends_past_its_file_size_limit() {
    // The file size limit stands in for a full disk: fallocate past it fails
    // (EFBIG) as it would with ENOSPC; the signal it raises is ignored.
    // SAFETY: plain system calls changing this child process's own signal
    // disposition and resource limit; `limit` outlives the call.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit { rlim_cur: 256 * 1024, rlim_max: libc::RLIM_INFINITY };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
    let dir = std::path::PathBuf::from(std::env::var("TOPICLOG_CHILD_DIR").unwrap());
    // 1 MiB segments: the first append reserves more than the limit allows.
    let p = Partition::open(&dir, LogConfig::new().segment_bytes(1 << 20).segment_index_bytes(4096)).unwrap();
    match p.append(&[Record::new().value("v")]) {
        Err(Error::Io { op, .. }) => assert_eq!(op, "preallocate segment log"),
        other => panic!("expected an I/O error from preallocation, got {other:?}"),
    }
    assert_eq!(p.log_end_offset(), 0, "nothing was appended");
    assert!(matches!(p.append(&[Record::new().value("w")]), Err(Error::Poisoned { .. })));
    println!("CHILD-OK");
}

#[test]
fn a_full_disk_when_reserving_space_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_appends_past_its_file_size_limit", "--ignored", "--nocapture", "--test-threads=1"])
        .env("TOPICLOG_CHILD_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD-OK"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Reopened without the limit, the log is empty and takes appends.
    let p = Partition::open(dir.path(), LogConfig::new().segment_bytes(1 << 20)).unwrap();
    assert_eq!(p.log_end_offset(), 0);
    assert_eq!(p.append(&[Record::new().value("v")]).unwrap().first_offset, 0);
}
