//! Partition behaviours ported from Kafka's UnifiedLogTest (SPEC §8, items
//! 26-43), with an injected clock instead of sleeps.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use topiclog::CleanupPolicy;
use topiclog::ManualClock;
use topiclog::format::{BatchBuilder, Compression, FileBatches, Record};
use topiclog::{Error, LogConfig, Partition};
use topiclog::{OffsetSpec, PartitionOptions, RecordProblem};

const T0: i64 = 1_700_000_000_000;

fn open(dir: &Path, config: LogConfig, clock: &ManualClock) -> Partition {
    Partition::open_with(dir, PartitionOptions { config, clock: Arc::new(clock.clone()), ..Default::default() })
        .unwrap()
}

fn rec(value: &str) -> Record {
    Record::new().key("k").value(value.to_string())
}

fn offsets_in(bytes: Bytes) -> Vec<i64> {
    FileBatches::new(bytes, 0).flat_map(|b| b.unwrap().records().unwrap().map(|r| r.unwrap().offset())).collect()
}

fn values(p: &Partition, from: i64) -> Vec<(i64, String)> {
    p.read_from(from)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.offset(), String::from_utf8(r.value().unwrap().to_vec()).unwrap())
        })
        .collect()
}

/// Size of one encoded single-record batch as `rec` makes them.
fn record_batch_size() -> i64 {
    let mut b = BatchBuilder::new(Compression::None);
    b.append(&rec("v").timestamp(T0)).unwrap();
    b.build().unwrap().size_in_bytes() as i64
}

#[test]
fn time_based_log_roll_during_append() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new().segment_ms(3600), &clock);
    // Records without timestamps: the wall clock decides.
    p.append(&[rec("a").timestamp(-1)]).unwrap();
    assert_eq!(p.segments().unwrap().len(), 1);
    clock.advance(3601);
    p.append(&[rec("b").timestamp(-1)]).unwrap();
    assert_eq!(p.segments().unwrap().len(), 2, "rolled after segment.ms");
    clock.advance(3601);
    // The new segment holds data now... an append into an *empty* segment never rolls by time.
    let dir2 = tempfile::tempdir().unwrap();
    let q = open(dir2.path(), LogConfig::new().segment_ms(3600), &clock);
    clock.advance(10_000);
    q.append(&[rec("a").timestamp(-1)]).unwrap();
    assert_eq!(q.segments().unwrap().len(), 1, "empty segment does not roll");
    // With timestamps, record time decides, not the wall clock.
    let dir3 = tempfile::tempdir().unwrap();
    let r = open(dir3.path(), LogConfig::new().segment_ms(3600), &clock);
    r.append(&[rec("a").timestamp(T0)]).unwrap();
    clock.advance(100_000);
    r.append(&[rec("b").timestamp(T0)]).unwrap();
    assert_eq!(r.segments().unwrap().len(), 1, "same record time, no roll however much wall time passes");
    r.append(&[rec("c").timestamp(T0 + 3601)]).unwrap();
    assert_eq!(r.segments().unwrap().len(), 2, "record time past segment.ms rolls");
    assert!(matches!(r.append(&[]), Err(Error::EmptyBatch)), "an empty append is refused and never rolls");
    assert_eq!(r.segments().unwrap().len(), 2);
}

#[test]
fn time_based_log_roll_jitter() {
    // The drawn jitter j satisfies 0 <= j < 1200, so a roll happens after
    // 3600 - j ms: never at 2400 ms, always by 3601 ms.
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new().segment_ms(3600).segment_jitter_ms(1200), &clock);
    p.append(&[rec("a").timestamp(-1)]).unwrap();
    clock.advance(3600 - 1200);
    p.append(&[rec("b").timestamp(-1)]).unwrap();
    assert_eq!(p.segments().unwrap().len(), 1, "no roll before segment.ms - jitter.ms");
    clock.advance(1201);
    p.append(&[rec("c").timestamp(-1)]).unwrap();
    assert_eq!(p.segments().unwrap().len(), 2, "rolled by segment.ms + 1");
}

#[test]
fn size_based_log_roll() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let size = record_batch_size();
    let p = open(dir.path(), LogConfig::new().segment_bytes(10 * (size - 1)), &clock);
    for i in 0..11 {
        p.append(&[rec("v").timestamp(T0 + i)]).unwrap();
    }
    assert_eq!(p.segments().unwrap().len(), 2);
}

#[test]
fn append_and_read_with_sequential_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    // Kafka's 71 bytes held one magic-1 record; 80 holds one of these v2 batches.
    let p = open(dir.path(), LogConfig::new().segment_bytes(80), &clock);
    for i in 0..50 {
        let a = p.append(&[rec(&format!("value-{i}"))]).unwrap();
        assert_eq!((a.first_offset, a.last_offset), (i, i));
    }
    assert!(p.segments().unwrap().len() > 40, "tiny segments");
    for i in 0..50 {
        let bytes = p.read(i, 1).unwrap();
        let batch = FileBatches::new(bytes, 0).next().unwrap().unwrap();
        assert_eq!(batch.last_offset(), i);
        let r = batch.records().unwrap().next().unwrap().unwrap();
        assert_eq!(r.value(), Some(format!("value-{i}").as_bytes()));
    }
    assert!(p.read(50, 1).unwrap().is_empty(), "read at the log end is empty");
}

#[test]
fn append_and_read_with_non_sequential_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new().segment_bytes(1000), &clock);
    let mut offsets: Vec<i64> = (0..50).collect();
    offsets.extend((50..200).step_by(7));
    for &o in &offsets {
        let mut b = BatchBuilder::new(Compression::None).base_offset(o);
        b.append(&rec(&o.to_string()).timestamp(T0)).unwrap();
        p.append_with_offsets(b.build().unwrap()).unwrap();
    }
    for i in 50..*offsets.last().unwrap() {
        let want = *offsets.iter().find(|&&o| o >= i).unwrap();
        let got = values(&p, i).first().unwrap().0;
        assert_eq!(got, want, "read from {i}");
    }
    let mut behind = BatchBuilder::new(Compression::None).base_offset(3);
    behind.append(&rec("x")).unwrap();
    assert!(matches!(p.append_with_offsets(behind.build().unwrap()), Err(Error::InvalidRecord { .. })));
}

#[test]
fn read_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new(), &clock);
    p.truncate_to(0).unwrap();
    let mut b = BatchBuilder::new(Compression::None).base_offset(1024);
    b.append(&rec("x")).unwrap();
    // Start the log at 1024 by truncating fully below the first segment.
    drop(p);
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::new(), &clock);
    p.append_with_offsets(b.build().unwrap()).unwrap();
    p.delete_records(1024).unwrap();
    assert_eq!(p.log_end_offset(), 1025);
    assert!(p.read(1025, 1000).unwrap().is_empty());
    for bad in [0, 1023, 1026] {
        assert!(
            matches!(p.read(bad, 1000), Err(Error::OffsetOutOfRange { offset, log_start_offset: 1024, log_end_offset: 1025 }) if offset == bad),
            "read({bad})"
        );
        assert!(matches!(p.read_from(bad), Err(Error::OffsetOutOfRange { .. })));
    }
}

#[test]
fn compressed_messages_read_from_the_batch_start() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new(), &clock);
    for _ in 0..2 {
        let mut b = BatchBuilder::new(Compression::Gzip);
        b.append(&rec("a")).unwrap();
        b.append(&rec("b")).unwrap();
        p.append_batch(b.build().unwrap()).unwrap();
    }
    assert_eq!(offsets_in(p.read(1, 1).unwrap())[0], 0);
    assert_eq!(offsets_in(p.read(3, 1).unwrap())[0], 2);
    assert_eq!(
        values(&p, 1).iter().map(|v| v.0).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "the reader skips below its start"
    );
}

#[test]
fn garbage_collecting_segments_does_not_change_offsets() {
    for old_records in [0, 1, 25] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let p = open(dir.path(), LogConfig::new().retention_ms(0).segment_bytes(200), &clock);
        for i in 0..old_records {
            p.append(&[rec(&i.to_string()).timestamp(T0 - 10_000)]).unwrap();
        }
        let end = p.log_end_offset();
        clock.advance(1);
        p.enforce_retention().unwrap();
        assert_eq!(p.log_end_offset(), end);
        assert_eq!(p.segments().unwrap().len(), 1);
        assert!(p.enforce_retention().unwrap().deleted_segments.is_empty(), "a second pass deletes nothing");
        assert_eq!(p.append(&[rec("new")]).unwrap().first_offset, end);
    }
}

#[test]
fn message_size_checks() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new().max_message_bytes(10_000).segment_bytes(400), &clock);
    let big = Record::new().value(vec![7u8; 450]);
    assert!(matches!(p.append(&[big]), Err(Error::RecordBatchTooLarge { limit_name: "segment.bytes", .. })));
    let p2 = open(&dir.path().join("b"), LogConfig::new().max_message_bytes(300), &clock);
    assert!(matches!(
        p2.append(&[Record::new().value(vec![7u8; 400])]),
        Err(Error::RecordBatchTooLarge { limit_name: "max.message.bytes", limit: 300, .. })
    ));
    p2.append(&[Record::new().value(vec![7u8; 100])]).unwrap();
}

#[test]
fn truncate_to() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new(), &clock);
    for i in 0..10 {
        p.append(&[rec(&i.to_string())]).unwrap();
    }
    let size = p.size().unwrap();
    p.truncate_to(10).unwrap();
    p.truncate_to(11).unwrap();
    assert_eq!((p.log_end_offset(), p.size().unwrap()), (10, size));
    p.truncate_to(5).unwrap();
    assert_eq!(p.log_end_offset(), 5);
    assert!(p.size().unwrap() < size);
    assert_eq!(values(&p, 0).len(), 5);
    p.truncate_to(0).unwrap();
    assert_eq!((p.log_end_offset(), p.size().unwrap()), (0, 0));
    assert_eq!(p.append(&[rec("again")]).unwrap().first_offset, 0);
}

#[test]
fn index_resizing_at_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let size = record_batch_size();
    let config = LogConfig::new().segment_bytes(10 * size).index_interval_bytes(size - 1).segment_index_bytes(1000);
    let p = open(dir.path(), config, &clock);
    for _ in 0..11 {
        p.append(&[rec("v").timestamp(T0)]).unwrap();
    }
    assert_eq!(p.segments().unwrap().len(), 2);
    let first_index = dir.path().join("00000000000000000000.index");
    assert_eq!(std::fs::metadata(&first_index).unwrap().len(), 9 * 8, "trimmed to its 9 entries on roll");
    p.truncate_to(0).unwrap();
    assert_eq!(p.segments().unwrap().len(), 1);
    assert_eq!(std::fs::metadata(&first_index).unwrap().len(), 1000 / 8 * 8, "resized for appends again");
    for _ in 0..10 {
        p.append(&[rec("v").timestamp(T0)]).unwrap();
    }
    assert_eq!(p.segments().unwrap().len(), 1, "no roll from a full index");
}

#[test]
fn async_delete() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let size = record_batch_size();
    let p =
        open(dir.path(), LogConfig::new().retention_ms(999).file_delete_delay_ms(1000).segment_bytes(size + 2), &clock);
    for _ in 0..3 {
        p.append(&[rec("old").timestamp(T0 - 5_000)]).unwrap();
    }
    assert_eq!(p.segments().unwrap().len(), 3);
    let deleted = p.enforce_retention().unwrap();
    assert_eq!(deleted.deleted_segments, vec![0, 1, 2]);
    assert_eq!(p.segments().unwrap().len(), 1);
    let names = |dir: &Path| {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    };
    let files = names(dir.path());
    assert!(files.contains(&"00000000000000000000.log.deleted".to_string()), "{files:?}");
    assert!(!files.contains(&"00000000000000000000.log".to_string()));
    clock.advance(1001);
    p.delete_expired_files().unwrap();
    assert!(names(dir.path()).iter().all(|f| !f.ends_with(".deleted")));
}

#[test]
fn cannot_delete_segments_at_or_above_the_log_end_and_log_start_stays_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let size = record_batch_size();
    let p = open(dir.path(), LogConfig::new().retention_ms(1).segment_bytes(size * 5), &clock);
    for _ in 0..100 {
        p.append(&[rec("v").timestamp(T0 - 100)]).unwrap();
    }
    let result = p.enforce_retention().unwrap();
    assert_eq!(result.log_start_offset, 100);
    assert_eq!(p.log_start_offset(), 100);
    assert_eq!(p.segments().unwrap().len(), 1);
    assert_eq!(p.segments().unwrap()[0].size, 0, "one empty segment at the log end");
}

#[test]
fn log_deletion_after_delete_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let size = record_batch_size();
    let p = open(dir.path(), LogConfig::new().segment_bytes(size * 5).retention_ms(-1), &clock);
    for _ in 0..15 {
        p.append(&[rec("v").timestamp(T0)]).unwrap();
    }
    assert_eq!(p.segments().unwrap().len(), 3);
    for (start, left) in [(1, 3), (6, 2), (15, 1)] {
        assert_eq!(p.delete_records(start).unwrap(), start);
        p.enforce_retention().unwrap();
        assert_eq!(p.segments().unwrap().len(), left, "after delete_records({start})");
    }
    assert!(matches!(p.delete_records(16), Err(Error::OffsetOutOfRange { offset: 16, .. })));
    assert_eq!(p.delete_records(3).unwrap(), 15, "moving back is a no-op");
}

#[test]
fn log_reinitialize_after_manual_delete() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new(), &clock);
    for _ in 0..500 {
        p.append(&[rec("v")]).unwrap();
    }
    p.delete_records(500).unwrap();
    p.close().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log" || e == "index" || e == "timeindex") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let p = open(dir.path(), LogConfig::new(), &clock);
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (500, 500));
    assert_eq!(p.segments().unwrap()[0].base_offset, 500);
}

#[test]
fn flushing_empty_active_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new(), &clock);
    p.append(&[rec("v")]).unwrap();
    p.roll().unwrap();
    p.flush().unwrap();
    let count = |ext: &str| {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == ext))
            .count()
    };
    assert_eq!((count("log"), count("index"), count("timeindex")), (2, 2, 2));
    assert_eq!(p.recovery_point(), 1);
}

#[test]
fn fetch_up_to_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new(), &clock);
    for i in 0..5 {
        p.append(&[rec(&i.to_string())]).unwrap();
    }
    for o in 0..5 {
        assert!(!p.read(o, 100).unwrap().is_empty());
    }
    assert!(p.read(5, 100).unwrap().is_empty());
}

#[test]
fn offset_for_timestamp_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let size = record_batch_size();
    let p = open(dir.path(), LogConfig::new().segment_bytes(size * 3), &clock);
    for i in 0..10 {
        p.append(&[rec("v").timestamp(T0 + i * 10)]).unwrap();
    }
    let find = |t| p.offset_for_timestamp(t).unwrap().map(|e| e.offset);
    assert_eq!(find(T0), Some(0));
    assert_eq!(find(T0 + 35), Some(4));
    assert_eq!(find(T0 + 90), Some(9));
    assert_eq!(find(T0 + 91), None);
    assert_eq!(p.offset_for(OffsetSpec::Earliest).unwrap().map(|e| e.offset), Some(0));
    assert_eq!(p.offset_for(OffsetSpec::Latest).unwrap().map(|e| e.offset), Some(10));
    assert_eq!(p.offset_for(OffsetSpec::MaxTimestamp).unwrap().map(|e| (e.timestamp, e.offset)), Some((T0 + 90, 9)));
    p.delete_records(5).unwrap();
    assert_eq!(find(T0), Some(5), "never below the log start");
}

#[test]
fn log_append_time_stamps_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new().message_timestamp_type(topiclog::TimestampType::LogAppendTime), &clock);
    let a = p.append(&[rec("a").timestamp(5)]).unwrap();
    assert_eq!(a.log_append_time, T0);
    let r = p.read_from(0).unwrap().next().unwrap().unwrap();
    assert_eq!((r.timestamp(), r.timestamp_type()), (T0, topiclog::TimestampType::LogAppendTime));
    let mut b = BatchBuilder::new(Compression::None);
    b.append(&rec("b").timestamp(7)).unwrap();
    clock.advance(10);
    assert_eq!(p.append_batch(b.build().unwrap()).unwrap().max_timestamp, T0 + 10);
}

#[test]
fn timestamp_bounds_reject_far_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(
        dir.path(),
        LogConfig::new().message_timestamp_before_max_ms(1000).message_timestamp_after_max_ms(1000),
        &clock,
    );
    assert!(matches!(
        p.append(&[rec("a").timestamp(T0 - 1001)]),
        Err(Error::TimestampOutOfBounds { too_old: true, .. })
    ));
    assert!(matches!(
        p.append(&[rec("a").timestamp(T0 + 1001)]),
        Err(Error::TimestampOutOfBounds { too_old: false, .. })
    ));
    p.append(&[rec("a").timestamp(T0 + 1000), rec("b").timestamp(-1)]).unwrap();
}

#[test]
fn wait_for_data_wakes_on_append_and_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::new()).unwrap();
    assert!(!p.wait_for_data(0, std::time::Duration::from_millis(10)));
    let writer = p.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        writer.append(&[rec("x")]).unwrap();
    });
    assert!(p.wait_for_data(0, std::time::Duration::from_secs(10)));
    t.join().unwrap();
}

#[test]
fn closed_partitions_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::new()).unwrap();
    p.close().unwrap();
    assert!(matches!(p.append(&[rec("x")]), Err(Error::Closed { .. })));
}

#[test]
fn truncating_below_the_first_segment_restarts_the_log_and_leaves_no_files_behind() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let size = record_batch_size();
    let p = open(dir.path(), LogConfig::new().segment_bytes(size * 2).retention_ms(1).file_delete_delay_ms(0), &clock);
    for _ in 0..10 {
        p.append(&[rec("v").timestamp(T0 - 100)]).unwrap();
    }
    p.enforce_retention().unwrap();
    assert_eq!(p.segments().unwrap().iter().map(|s| s.base_offset).collect::<Vec<_>>(), vec![10]);
    p.truncate_to(3).unwrap();
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (3, 3));
    assert_eq!(p.segments().unwrap().iter().map(|s| s.base_offset).collect::<Vec<_>>(), vec![3]);
    p.delete_expired_files().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".deleted") || n.starts_with("00000000000000000010"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(p.append(&[rec("again")]).unwrap().first_offset, 3);
}

/// A compacted log refuses records without a key (in any codec) and
/// DeleteRecords (as Kafka refuses it for `cleanup.policy=compact`).
#[test]
fn compacted_topic_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new().cleanup_policy(CleanupPolicy::Compact), &clock);
    let err = p.append(&[rec("a"), Record::new().value("no key")]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidRecord { problem: RecordProblem::NullKeyInCompactedLog { record: 1 } }),
        "{err}"
    );
    for codec in [Compression::None, Compression::Gzip] {
        let mut b = BatchBuilder::new(codec);
        b.append(&rec("a")).unwrap();
        b.append(&Record::new().value("no key")).unwrap();
        assert!(matches!(p.append_batch(b.build().unwrap()), Err(Error::InvalidRecord { .. })));
    }
    p.append(&[rec("a"), rec("b")]).unwrap();
    assert!(matches!(p.delete_records(1), Err(Error::PolicyViolation { .. })));
}
