//! One writer, four readers and a retention thread for a few seconds: every
//! reader sees dense, increasing offsets with the right payloads, and no
//! error other than OffsetOutOfRange below a log start that moves up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use topiclog::format::Record;
use topiclog::{Error, LogConfig, Partition};

fn payload(offset: i64) -> Vec<u8> {
    format!("payload-{offset}-{}", "x".repeat((offset % 50) as usize)).into_bytes()
}

#[test]
fn one_writer_four_readers_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments and size retention, so segments roll and vanish under the readers.
    let config = LogConfig::new().segment_bytes(16 * 1024).retention_bytes(128 * 1024).file_delete_delay_ms(0);
    let p = Partition::open(dir.path(), config).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let run_for = Duration::from_secs(3);

    let writer = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut next = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let n = 1 + (next % 7);
                let records: Vec<Record> = (next..next + n).map(|o| Record::new().value(payload(o))).collect();
                let a = p.append(&records).unwrap();
                assert_eq!(a.first_offset, next);
                next += n;
            }
            next
        })
    };
    let retention = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut passes = 0;
            while !stop.load(Ordering::Relaxed) {
                p.enforce_retention().unwrap();
                passes += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            passes
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (p, stop) = (p.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut seen, mut out_of_range) = (0u64, 0u64);
                let mut expected = p.log_start_offset();
                let mut reader = p.read_from(expected).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    match reader.next() {
                        Some(Ok(r)) => {
                            assert_eq!(r.offset(), expected, "offsets are dense and increasing");
                            assert_eq!(r.value(), Some(payload(r.offset()).as_slice()));
                            expected += 1;
                            seen += 1;
                        }
                        Some(Err(Error::OffsetOutOfRange { offset, log_start_offset, .. })) => {
                            assert!(offset < log_start_offset, "only below a moving log start");
                            out_of_range += 1;
                            expected = reader.position();
                        }
                        Some(Err(e)) => panic!("reader error: {e}"),
                        None => {
                            p.wait_for_data(expected, Duration::from_millis(50));
                        }
                    }
                }
                (seen, out_of_range)
            })
        })
        .collect();

    let started = Instant::now();
    while started.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let passes = retention.join().unwrap();
    let results: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    assert!(written > 1000, "the writer made progress: {written}");
    assert!(passes > 10);
    assert!(p.log_start_offset() > 0, "retention moved the log start");
    for (seen, _) in &results {
        assert!(*seen > 100, "every reader made progress: {results:?}");
    }
    eprintln!("written {written}, retention passes {passes}, readers (seen, out-of-range) {results:?}");
}

/// Eight threads appending and flushing: every flush that returns has made
/// its thread's records durable (the recovery point is past them), whether
/// it synced them itself or a concurrent flush did (group commit).
#[test]
fn concurrent_flushes_each_cover_their_own_appends() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::new().segment_bytes(64 * 1024)).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let a = p.append(&[Record::new().value(format!("t{t}-{i}"))]).unwrap();
                    p.flush().unwrap();
                    assert!(p.recovery_point() > a.last_offset, "flush returned before covering {}", a.last_offset);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(p.log_end_offset(), 400);
    assert_eq!(p.recovery_point(), 400);
}
