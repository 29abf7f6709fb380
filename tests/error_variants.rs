//! One test per `Error` variant a caller of the public API can meet, each
//! showing the situation that produces it and that the error names what and
//! where. Variants raised only inside the segment and index layers are shown
//! by the `internals` tests named at the end of this file.

use std::error::Error as _;
use std::path::Path;
use std::sync::Arc;

use topiclog::{
    AutoOffsetReset, BatchBuilder, BatchProblem, CleanupPolicy, Compression, ConsumerConfig, Error, FileBatches,
    LogConfig, ManualClock, NumberSerde, Partition, PartitionOptions, Producer, ProducerConfig, Record, RecordBatch,
    RecordProblem, Serializer, Store, StoreConfig, StringSerde, TopicConfig,
};

const T0: i64 = 1_700_000_000_000;

fn store(dir: &Path) -> Store {
    Store::open(dir, StoreConfig::new().maintenance(false)).unwrap()
}

/// CRC-32C (Castagnoli), bit by bit: the tests re-sign batches they edit.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// The bytes of a one-record uncompressed batch.
fn batch_bytes() -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    b.append(&Record::new().key("k").value("value").timestamp(T0)).unwrap();
    b.build().unwrap().as_bytes().to_vec()
}

/// Stores a new CRC over the attributes onward (byte 21 to the end).
fn resign(bytes: &mut [u8]) {
    let crc = crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn partition(dir: &Path, config: LogConfig) -> Partition {
    let clock = ManualClock::new(T0);
    Partition::open_with(dir, PartitionOptions { config, clock: Arc::new(clock), ..Default::default() }).unwrap()
}

#[test]
fn io_keeps_the_operation_path_and_os_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file, StoreConfig::new().maintenance(false)).unwrap_err();
    match &err {
        Error::Io { path, source, .. } => {
            assert!(path.starts_with(&file), "{err}");
            assert!(source.raw_os_error().is_some(), "{err}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.source().is_some(), "the I/O error is the source");
}

#[test]
fn crc_mismatch_names_both_checksums() {
    let mut bytes = batch_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let err = RecordBatch::new(bytes.into()).unwrap_err();
    assert!(matches!(err, Error::CrcMismatch { stored, computed, .. } if stored != computed), "{err}");
}

#[test]
fn malformed_batch_says_which_rule_it_breaks() {
    let bytes = batch_bytes();
    let err = RecordBatch::new(bytes[..40].to_vec().into()).unwrap_err();
    assert!(matches!(err, Error::MalformedBatch { problem: BatchProblem::Truncated { .. }, .. }), "{err}");
}

#[test]
fn unsupported_magic_is_reported_with_the_magic_found() {
    let mut bytes = batch_bytes();
    bytes[16] = 1;
    let err = RecordBatch::new(bytes.into()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedMagic { magic: 1, .. }), "{err}");
}

#[test]
fn unsupported_compression_leaves_the_raw_batch_readable() {
    let mut bytes = batch_bytes();
    bytes[22] |= 0x07; // codec id 7: unknown to Kafka
    resign(&mut bytes);
    let batch = RecordBatch::new(bytes.into()).expect("the batch itself is valid");
    let Err(err) = batch.records() else { panic!("its records cannot be decoded") };
    assert!(matches!(err, Error::UnsupportedCompression { codec_id: 7, .. }), "{err}");
}

#[cfg(feature = "gzip")]
#[test]
fn compression_failure_keeps_the_codec_error_as_source() {
    let mut bytes = batch_bytes();
    bytes[22] |= 0x01; // claims gzip, holds plain records
    resign(&mut bytes);
    let err = match RecordBatch::new(bytes.into()) {
        Ok(batch) => {
            let Err(e) = batch.records() else { panic!("not gzip data") };
            e
        }
        Err(e) => e,
    };
    assert!(matches!(err, Error::Compression { codec: Compression::Gzip, .. }), "{err}");
    assert!(err.source().is_some(), "the codec's error is the source");
}

#[test]
fn invalid_timestamp_for_a_negative_lookup_target() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), LogConfig::new());
    assert!(matches!(p.offset_for_timestamp(-1), Err(Error::InvalidTimestamp { timestamp: -1 })));
    let err = p.append(&[Record::new().value("v").timestamp(-5)]).unwrap_err();
    assert!(matches!(err, Error::InvalidTimestamp { timestamp: -5 }), "{err}");
}

#[test]
fn empty_batch_is_refused() {
    assert!(matches!(BatchBuilder::new(Compression::None).build(), Err(Error::EmptyBatch)));
}

#[test]
fn invalid_config_names_key_and_value() {
    let err = LogConfig::new().set("segment.bytes", "ten").unwrap_err();
    assert!(matches!(&err, Error::InvalidConfig { key, value, .. } if key == "segment.bytes" && value == "ten"));
    let err = TopicConfig::new().set("no.such.key", "1").unwrap_err();
    assert!(matches!(&err, Error::InvalidConfig { key, .. } if key == "no.such.key"));
    let err = StoreConfig::new().set("num.partitions", "0").unwrap_err();
    assert!(matches!(&err, Error::InvalidConfig { key, .. } if key == "num.partitions"));
}

#[test]
fn offset_out_of_range_gives_the_readable_range() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), LogConfig::new());
    p.append(&[Record::new().value("a")]).unwrap();
    let err = p.get(5).unwrap_err();
    assert!(matches!(err, Error::OffsetOutOfRange { offset: 5, log_start_offset: 0, log_end_offset: 1 }), "{err}");
}

#[test]
fn record_batch_too_large_names_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), LogConfig::new().max_message_bytes(200));
    let err = p.append(&[Record::new().value(vec![0u8; 500])]).unwrap_err();
    assert!(matches!(err, Error::RecordBatchTooLarge { limit: 200, limit_name: "max.message.bytes", .. }), "{err}");
    assert_eq!(p.log_end_offset(), 0, "nothing written");
}

#[test]
fn invalid_record_says_why_for_each_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), LogConfig::new());
    let problem = |result: topiclog::Result<topiclog::AppendResult>| match result {
        Err(Error::InvalidRecord { problem }) => problem,
        other => panic!("{other:?}"),
    };

    let mut control = batch_bytes();
    control[22] |= 0x20; // the control bit
    resign(&mut control);
    let control = RecordBatch::new(control.into()).unwrap();
    assert_eq!(problem(p.append_batch(control)), RecordProblem::ControlBatch);

    let mut sparse = batch_bytes();
    sparse[23..27].copy_from_slice(&5i32.to_be_bytes()); // lastOffsetDelta 5 for one record
    resign(&mut sparse);
    let sparse = RecordBatch::new(sparse.into()).unwrap();
    assert_eq!(problem(p.append_batch(sparse)), RecordProblem::SparseOffsets { record_count: 1, last_offset_delta: 5 });

    let mut idempotent = BatchBuilder::new(Compression::None).producer(7, 0, -1);
    idempotent.append(&Record::new().value("v")).unwrap();
    assert_eq!(
        problem(p.append_batch(idempotent.build().unwrap())),
        RecordProblem::MissingBaseSequence { producer_id: 7 }
    );

    p.append(&[Record::new().value("a"), Record::new().value("b")]).unwrap();
    let mut behind = BatchBuilder::new(Compression::None).base_offset(1);
    behind.append(&Record::new().value("old")).unwrap();
    assert_eq!(
        problem(p.append_with_offsets(behind.build().unwrap())),
        RecordProblem::BelowLogEnd { base_offset: 1, log_end_offset: 2 }
    );

    let compacted_dir = tempfile::tempdir().unwrap();
    let compacted = partition(compacted_dir.path(), LogConfig::new().cleanup_policy(CleanupPolicy::Compact));
    let refused = compacted.append(&[Record::new().key("k").value("v"), Record::new().value("no key")]);
    assert_eq!(problem(refused), RecordProblem::NullKeyInCompactedLog { record: 1 });
    assert_eq!(compacted.log_end_offset(), 0, "nothing written");
}

#[test]
fn truncate_inside_a_batch_that_compaction_thinned() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), LogConfig::new().cleanup_policy(CleanupPolicy::Compact));
    let rec = |k: &str, v: &str| Record::new().key(k.to_string()).value(v.to_string());
    p.append(&[rec("a", "1"), rec("a", "2"), rec("b", "1"), rec("c", "1")]).unwrap();
    p.roll().unwrap();
    p.append(&[rec("d", "1")]).unwrap();
    p.compact().unwrap();
    assert_eq!(p.get(0).unwrap(), None, "offset 0 was compacted away");
    let err = p.truncate_to(2).unwrap_err();
    assert!(matches!(err, Error::TruncateInsideSparseBatch { offset: 2, batch_base_offset: 0 }), "{err}");
    assert_eq!(p.log_end_offset(), 5, "nothing cut");
}

#[test]
fn timestamp_out_of_bounds_for_a_record_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), LogConfig::new().message_timestamp_before_max_ms(1_000));
    let err = p.append(&[Record::new().value("old").timestamp(T0 - 5_000)]).unwrap_err();
    assert!(matches!(err, Error::TimestampOutOfBounds { too_old: true, bound: 1_000, .. }), "{err}");
}

#[test]
fn policy_violation_for_delete_records_on_a_compacted_log() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), LogConfig::new().cleanup_policy(CleanupPolicy::Compact));
    p.append(&[Record::new().key("k").value("v")]).unwrap();
    assert!(matches!(p.delete_records(1), Err(Error::PolicyViolation { .. })));
}

#[test]
fn corrupt_state_names_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    partition(dir.path(), LogConfig::new()).close().unwrap();
    std::fs::write(dir.path().join("topiclog.state"), "version=99\ngarbage\n").unwrap();
    let opened = Partition::open(dir.path(), LogConfig::new());
    assert!(matches!(&opened, Err(Error::CorruptState { path, .. }) if path.ends_with("topiclog.state")), "{opened:?}");
}

#[test]
fn corrupt_topic_metadata_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path()).create_topic("t", 1, TopicConfig::new()).unwrap();
    let meta = dir.path().join("topiclog-meta");
    let file = std::fs::read_dir(&meta).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&file, "partitions=many\n").unwrap();
    let opened = Store::open(dir.path(), StoreConfig::new().maintenance(false));
    assert!(matches!(&opened, Err(Error::CorruptTopicMetadata { path, .. }) if *path == file), "{opened:?}");
}

#[test]
fn corrupt_checkpoint_at_the_root_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.create_topic("t", 1, TopicConfig::new()).unwrap();
    s.close().unwrap();
    std::fs::write(dir.path().join("cleaner-offset-checkpoint"), "0\n1\nt zero 5\n").unwrap();
    let opened = Store::open(dir.path(), StoreConfig::new().maintenance(false));
    assert!(matches!(&opened, Err(Error::CorruptCheckpoint { .. })), "{opened:?}");
}

#[test]
fn topic_names_partitions_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    assert!(matches!(s.create_topic("a/b", 1, TopicConfig::new()), Err(Error::InvalidTopicName { .. })));
    assert!(matches!(s.existing_topic("nope"), Err(Error::UnknownTopic { .. })));
    let t = s.create_topic("t", 2, TopicConfig::new()).unwrap();
    assert!(matches!(s.create_topic("t", 2, TopicConfig::new()), Err(Error::TopicExists { .. })));
    assert!(matches!(t.partition(2), Err(Error::UnknownPartition { partition: 2, count: 2, .. })));
    assert!(matches!(s.add_partitions("t", 1), Err(Error::InvalidPartitionCount { current: 2, requested: 1, .. })));
}

#[test]
fn locked_while_open_and_closed_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    assert!(matches!(Store::open(dir.path(), StoreConfig::new()), Err(Error::Locked { .. })));
    let t = s.create_topic("t", 1, TopicConfig::new()).unwrap();
    let p = t.partition(0).unwrap();
    p.close().unwrap();
    assert!(matches!(p.append(&[Record::new().value("v")]), Err(Error::Closed { .. })));
}

#[test]
fn consumer_errors_name_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.create_topic("t", 1, TopicConfig::new()).unwrap();
    assert!(matches!(s.describe_consumer_group("nobody"), Err(Error::UnknownGroup { .. })));
    let mut c = s.consumer(ConsumerConfig::new().auto_offset_reset(AutoOffsetReset::Earliest)).unwrap();
    assert!(matches!(c.position("t", 0), Err(Error::NotAssigned { partition: 0, .. })));
    c.assign(&[("t", 0)]).unwrap();
    assert!(matches!(c.seek("t", 0, -1), Err(Error::InvalidOffset { offset: -1 })));
    assert!(matches!(c.commit_sync(), Err(Error::NoGroup { .. })));
}

#[test]
fn serialization_and_deserialization_failures_are_typed() {
    struct Refuses;
    impl Serializer<str> for Refuses {
        fn serialize(&self, _: &str) -> Result<Option<Vec<u8>>, String> {
            Err("not today".into())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.create_topic("t", 1, TopicConfig::new()).unwrap();
    let producer: Producer<str, str> = Producer::new(t.clone(), ProducerConfig::new(), StringSerde, Refuses);
    let err = producer.send(None, Some("v")).unwrap_err();
    assert!(matches!(&err, Error::Serialization { topic, .. } if topic == "t"), "{err}");

    t.send(Record::new().value("abc")).unwrap(); // three bytes are not an i64
    let mut c = s.consumer(ConsumerConfig::new().auto_offset_reset(AutoOffsetReset::Earliest)).unwrap();
    c.assign(&[("t", 0)]).unwrap();
    let polled = c.poll(std::time::Duration::from_secs(1)).unwrap();
    let record = polled.first().expect("one record");
    let err = record.value_as::<i64>(&NumberSerde).unwrap_err();
    assert!(matches!(err, Error::Deserialization { partition: 0, offset: 0, .. }), "{err}");
}

#[test]
fn producer_append_failure_carries_the_append_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.create_topic("t", 1, TopicConfig::new().cleanup_policy(CleanupPolicy::Compact)).unwrap();
    let producer: Producer<str, str> = Producer::new(t, ProducerConfig::new(), StringSerde, StringSerde);
    let err = producer.send(None, Some("keyless in a compacted topic")).unwrap_err();
    assert!(matches!(&err, Error::ProducerAppend { partition: 0, .. }), "{err}");
    let source = err.source().expect("the append's error");
    assert!(source.to_string().contains("null key"), "{source}");
}

#[test]
fn corrupt_segment_names_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), LogConfig::new());
    p.append(&[Record::new().value("first")]).unwrap();
    p.append(&[Record::new().value("second")]).unwrap();
    p.roll().unwrap();
    let second_at = {
        let bytes = p.read(0, 1 << 20).unwrap();
        FileBatches::new(bytes, 0).next().unwrap().unwrap().size_in_bytes() as u64
    };
    let log = dir.path().join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&log).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0xff;
    std::fs::write(&log, bytes).unwrap();
    let err = p.read_from(1).unwrap().next().unwrap().unwrap_err();
    match &err {
        Error::CorruptSegment { path, position, .. } => {
            assert_eq!((path, *position), (&log, second_at), "{err}");
            assert!(err.source().is_some(), "the batch error is the source");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_segment_names_the_unreadable_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), LogConfig::new());
    for v in ["a", "b", "c"] {
        p.append(&[Record::new().value(v)]).unwrap();
        p.roll().unwrap();
    }
    p.close().unwrap();
    for suffix in ["log", "index", "timeindex"] {
        std::fs::remove_file(dir.path().join(format!("{:020}.{suffix}", 1))).unwrap();
    }
    let p = Partition::open(dir.path(), LogConfig::new()).unwrap();
    let err = p.read(1, 1 << 20).unwrap_err();
    assert!(matches!(err, Error::MissingSegment { from: 1, to: 2, .. }), "{err}");
}

#[cfg(unix)]
#[test]
fn symlink_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.create_topic("t", 1, TopicConfig::new()).unwrap();
    s.close().unwrap();
    // A partition directory replaced by a link to somewhere else.
    std::fs::rename(dir.path().join("t-0"), outside.path().join("moved")).unwrap();
    std::fs::remove_dir_all(outside.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("t-0")).unwrap();
    let err = Store::open(dir.path(), StoreConfig::new().maintenance(false)).unwrap_err();
    assert!(matches!(&err, Error::Symlink { path } if path.ends_with("t-0")), "{err}");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing written outside");
}

// Shown elsewhere:
// - `Poisoned` (and its `source`): the unit test
//   `partition::tests::an_io_failure_poisons_writes_until_reopen`, which
//   injects a failed fsync; a real one comes from a full or failing disk.
// - `GroupHasMembers`: tests/consumer_groups.rs.
// - `Internal`: tests/index_behaviours.rs
//   `creating_an_index_smaller_than_one_entry_fails` (internals feature).
// - `CorruptIndex`, `IndexFull`, `IndexOutOfOrder`, `OffsetOverflow`,
//   `SegmentFull`, `SegmentSealed`, `ReadOnly`, `NonMonotonicOffsets`:
//   tests/index_behaviours.rs and tests/segment_behaviours.rs (internals
//   feature); the partition rolls or rebuilds on each before a caller sees it.
// - `TooLarge`: the format unit tests (a batch past i32 lengths, a
//   decompression bomb past `MAX_DECOMPRESSED_BYTES`).
