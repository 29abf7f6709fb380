//! Log compaction through the public API: Kafka's cleaner behaviours
//! (SPEC §8 items 56-57), swaps that survive reopening, readers during a
//! cleaning, the store's maintenance and checkpoint, and Kafka's own
//! compacted segments.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use topiclog::CleanupPolicy;
use topiclog::ManualClock;
use topiclog::PartitionOptions;
use topiclog::{CleanerOptions, Error, LogConfig, Partition, Record, Store, StoreConfig, TopicConfig};

const T0: i64 = 1_700_000_000_000;

fn compacted() -> LogConfig {
    LogConfig::new().cleanup_policy(CleanupPolicy::Compact)
}

fn open(dir: &Path, config: LogConfig, clock: &ManualClock) -> Partition {
    Partition::open_with(dir, PartitionOptions { config, clock: Arc::new(clock.clone()), ..Default::default() })
        .unwrap()
}

fn put(p: &Partition, key: &str, value: Option<&str>, timestamp: i64) -> i64 {
    let mut r = Record::new().key(key.to_string()).timestamp(timestamp);
    if let Some(v) = value {
        r = r.value(v.to_string());
    }
    p.append(&[r]).unwrap().first_offset
}

/// (offset, key, value) of every record, in order.
fn contents(p: &Partition) -> Vec<(i64, String, Option<String>)> {
    p.read_from(p.log_start_offset())
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
            (r.offset(), text(r.key().unwrap()), r.value().map(text))
        })
        .collect()
}

fn keys(p: &Partition) -> Vec<String> {
    contents(p).into_iter().map(|(_, k, _)| k).collect()
}

fn offsets(p: &Partition) -> Vec<i64> {
    contents(p).into_iter().map(|(o, _, _)| o).collect()
}

/// SPEC §8 item 56 (`testPartialSegmentClean`): an offset map with room for
/// one key still makes progress, one offset per pass.
#[test]
fn a_full_offset_map_ends_the_pass_early_and_the_next_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), compacted(), &clock);
    for k in ["0", "1", "0", "1", "0"] {
        put(&p, k, Some(k), T0);
    }
    p.roll().unwrap();
    // Two slots at a load factor of 0.75: one key.
    let one_key = CleanerOptions::new().dedupe_buffer_size(48).load_factor(0.75);
    let done = p.compact_with(&one_key.clone().first_dirty_offset(2)).unwrap();
    assert_eq!((done.first_dirty_offset, done.next_dirty_offset), (2, 3));
    assert_eq!(keys(&p), ["1", "0", "1", "0"]);
    assert_eq!(offsets(&p), [1, 2, 3, 4]);
    // The recorded first dirty offset carries on from there.
    assert_eq!(p.first_dirty_offset(), 3);
    p.compact_with(&one_key).unwrap();
    assert_eq!(keys(&p), ["0", "1", "0"]);
    assert_eq!(offsets(&p), [2, 3, 4]);
    p.compact_with(&one_key).unwrap();
    assert_eq!(keys(&p), ["1", "0"]);
    assert_eq!(offsets(&p), [3, 4]);
}

/// SPEC §8 item 57 (`testCleanTombstone`): a tombstone whose own timestamp is
/// long past survives the cleaning that first sees it (the delete horizon is
/// stamped then) and later cleanings before the horizon; the older value of
/// its key goes.
#[test]
fn a_tombstone_lives_until_its_delete_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let config = compacted();
    let retention = config.delete_retention_ms;
    let p = open(dir.path(), config, &clock);
    put(&p, "0", Some("0"), T0 + retention + 10_000);
    p.roll().unwrap();
    p.compact().unwrap();
    put(&p, "0", None, T0 - retention - 10_000);
    p.roll().unwrap();
    p.compact().unwrap();
    assert_eq!(contents(&p), [(1, "0".to_string(), None)], "the tombstone is retained, the old value gone");
    put(&p, "1", Some("1"), T0);
    p.roll().unwrap();
    p.compact().unwrap();
    assert_eq!(offsets(&p), [1, 2], "the tombstone is still retained before its horizon");
    // Past the horizon stamped by the first cleaning, the next cleaning drops it.
    clock.advance(retention + 1);
    put(&p, "2", Some("2"), T0);
    p.roll().unwrap();
    p.compact_with(&CleanerOptions::new().first_dirty_offset(0)).unwrap();
    assert_eq!(offsets(&p), [2, 3]);
}

/// Every key's latest value stays at its offset; superseded values go; the
/// active segment is untouched; reopening finds the same log.
#[test]
fn compaction_keeps_the_latest_value_of_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let config = compacted().segment_bytes(2_000);
    let p = open(dir.path(), config.clone(), &clock);
    let mut latest = BTreeMap::new();
    for i in 0..600i64 {
        let key = format!("k{}", i % 37);
        let offset = put(&p, &key, Some(&format!("v{i}")), T0 + i);
        latest.insert(key, (offset, format!("v{i}")));
    }
    let active_base = p.segments().unwrap().last().unwrap().base_offset;
    let before = p.segment_count();
    let done = p.compact().unwrap();
    assert!(done.records_kept < done.records_read);
    // Cleaned again from the start, the now small segments are merged.
    let again = p.compact_with(&CleanerOptions::new().first_dirty_offset(0)).unwrap();
    assert_eq!(again.records_kept, again.records_read, "nothing more to drop");
    assert!(p.segment_count() < before, "groups of small segments are merged");
    let done = again;
    let check = |p: &Partition| {
        let got = contents(p);
        let mut seen = BTreeMap::new();
        for (offset, key, value) in &got {
            if *offset < active_base && latest[key].0 < active_base {
                assert!(seen.insert(key.clone(), ()).is_none(), "key {key} twice below the active segment");
            }
            let (latest_offset, _) = &latest[key];
            assert!(offset <= latest_offset);
            if *latest_offset < active_base {
                // A key whose latest is below the active segment has only that left.
                assert_eq!(offset, latest_offset, "{key}");
            }
            let _ = value;
        }
        for (key, (offset, value)) in &latest {
            assert!(got.iter().any(|(o, k, v)| o == offset && k == key && v.as_deref() == Some(value)), "{key}");
        }
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    };
    check(&p);
    assert_eq!(p.log_end_offset(), 600);
    drop(p);
    let p = open(dir.path(), config, &clock);
    check(&p);
    assert_eq!(p.first_dirty_offset(), done.next_dirty_offset);
    assert!(p.recovery_reports().is_empty(), "{:?}", p.recovery_reports());
}

/// Compaction is only for compacted logs; options that cannot make progress are refused.
#[test]
fn compaction_needs_a_compacted_log_and_a_usable_map() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), LogConfig::new(), &clock);
    assert!(matches!(p.compact(), Err(Error::InvalidConfig { ref key, .. }) if key == "cleanup.policy"));
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), compacted(), &clock);
    let tiny = CleanerOptions::new().dedupe_buffer_size(10);
    assert!(matches!(p.compact_with(&tiny), Err(Error::InvalidConfig { .. })));
    let bad = CleanerOptions::new().load_factor(1.5);
    assert!(matches!(p.compact_with(&bad), Err(Error::InvalidConfig { .. })));
    // Nothing to clean is not an error.
    let done = p.compact().unwrap();
    assert_eq!(done.segments_written, 0);
}

/// A reader inside a segment that a cleaning replaces finishes it and goes
/// on in the new segments without errors or duplicates.
#[test]
fn a_reader_inside_a_replaced_segment_goes_on_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), compacted().segment_bytes(1_500), &clock);
    for i in 0..300i64 {
        put(&p, &format!("k{}", i % 10), Some(&format!("{i}")), T0);
    }
    let mut reader = p.read_from(0).unwrap();
    let mut got = Vec::new();
    for _ in 0..25 {
        got.push(reader.next().unwrap().unwrap().offset());
    }
    p.compact().unwrap();
    for r in reader {
        got.push(r.unwrap().offset());
    }
    assert!(got.windows(2).all(|w| w[0] < w[1]), "offsets increase");
    assert_eq!(got.last(), Some(&299));
}

/// A `.log.swap` left by a crash in the middle of a swap replaces every
/// segment of its group on open: the log is then exactly the cleaned one.
#[test]
fn an_interrupted_swap_is_completed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let clean_dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let config = compacted().segment_bytes(1_500);
    // The same log in both directories, cleaned once.
    let fill = |p: &Partition| {
        for i in 0..200i64 {
            put(p, &format!("k{}", i % 7), Some(&format!("{i}")), T0);
        }
        p.compact().unwrap();
    };
    let p = open(dir.path(), config.clone(), &clock);
    fill(&p);
    p.close().unwrap();
    // A second cleaning from the start merges the small segments: done in
    // the other directory, to learn its segments and the state it writes.
    let q = open(clean_dir.path(), config.clone(), &clock);
    fill(&q);
    let before: Vec<i64> = q.segments().unwrap().iter().map(|s| s.base_offset).collect();
    q.compact_with(&CleanerOptions::new().first_dirty_offset(0)).unwrap();
    let expected = contents(&q);
    let after: Vec<i64> = q.segments().unwrap().iter().map(|s| s.base_offset).collect();
    assert!(after.len() < before.len());
    let state = std::fs::read_to_string(clean_dir.path().join("topiclog.state")).unwrap();
    q.close().unwrap();
    // Rebuild the moment between steps 3 and 4: the old segments, every
    // cleaned one as `.log.swap`, the state listing the segments after.
    for base in &after {
        if before.contains(base) && after.last() != Some(base) {
            let name = format!("{base:020}.log");
            std::fs::copy(clean_dir.path().join(&name), dir.path().join(format!("{name}.swap"))).unwrap();
        }
    }
    std::fs::write(dir.path().join("topiclog.state"), state.replace("clean_shutdown true", "clean_shutdown false"))
        .unwrap();
    let p = open(dir.path(), config, &clock);
    assert_eq!(contents(&p), expected);
    let bases: Vec<i64> = p.segments().unwrap().iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, after);
}

/// The store's maintenance cleans a compacted topic whose dirty ratio
/// passes `min.cleanable.dirty.ratio`, and records the first dirty offset in
/// Kafka's `cleaner-offset-checkpoint`, which a reopened store reads.
#[test]
fn the_store_cleans_due_logs_and_checkpoints_the_first_dirty_offset() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let config = StoreConfig::new().clock(Arc::new(clock.clone())).maintenance(false);
    let store = Store::open(dir.path(), config.clone()).unwrap();
    let overrides = TopicConfig::new().set("cleanup.policy", "compact").unwrap().segment_bytes(2_000);
    let topic = store.create_topic("state", 1, overrides).unwrap();
    let p = topic.partition(0).unwrap();
    for i in 0..400i64 {
        put(&p, &format!("k{}", i % 5), Some(&format!("{i}")), T0);
    }
    let plain = store.create_topic("events", 1, TopicConfig::new().segment_bytes(2_000)).unwrap();
    for i in 0..100i64 {
        put(&plain.partition(0).unwrap(), "k", Some(&format!("{i}")), T0);
    }
    let report = store.run_maintenance();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.compacted.len(), 1, "only the compacted topic is cleaned");
    let (name, partition, done) = &report.compacted[0];
    assert_eq!((name.as_str(), *partition), ("state", 0));
    assert_eq!(keys(&p).len() as i64, 400 - done.next_dirty_offset + 5);
    let checkpoint = std::fs::read_to_string(dir.path().join("cleaner-offset-checkpoint")).unwrap();
    assert_eq!(checkpoint, format!("0\n1\nstate 0 {}\n", done.next_dirty_offset));
    // Right after a cleaning the log is clean: the next pass leaves it.
    clock.advance(60_000);
    assert!(store.run_maintenance().compacted.is_empty());
    drop((p, topic, plain));
    store.close().unwrap();
    let store = Store::open(dir.path(), config).unwrap();
    assert_eq!(store.topic("state").unwrap().partition(0).unwrap().first_dirty_offset(), done.next_dirty_offset);
}

/// Cleaner settings use Kafka's keys and rules.
#[test]
fn cleaner_settings_are_validated() {
    assert!(StoreConfig::new().set("log.cleaner.dedupe.buffer.size", "1048576").is_err());
    assert!(StoreConfig::new().set("log.cleaner.dedupe.buffer.size", "2097152").is_ok());
    assert!(StoreConfig::new().set("log.cleaner.io.buffer.load.factor", "2").is_err());
    assert!(StoreConfig::new().set("log.cleaner.io.max.bytes.per.second", "1e6").is_ok());
    assert!(StoreConfig::new().set("log.cleaner.enable", "maybe").is_err());
    let c = StoreConfig::new().set("log.cleaner.backoff.ms", "5").unwrap();
    assert_eq!(c.cleaner_backoff_ms(), 5);
}

/// `compact,delete` applies both: retention deletes whole old segments, and
/// cleaning keeps the latest value of each key in what is left; a first
/// dirty offset below the new log start restarts there.
#[test]
fn compact_and_delete_apply_both() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let config =
        LogConfig::new().cleanup_policy(CleanupPolicy::CompactDelete).segment_bytes(1_000).retention_ms(60_000);
    let p = open(dir.path(), config, &clock);
    for i in 0..100i64 {
        put(&p, &format!("k{}", i % 4), Some("old"), T0);
    }
    clock.advance(120_000);
    for i in 0..100i64 {
        put(&p, &format!("k{}", i % 4), Some("new"), T0 + 120_000);
    }
    let retention = p.enforce_retention().unwrap();
    assert!(!retention.deleted_segments.is_empty(), "time retention applies");
    let start = p.log_start_offset();
    assert!(start > 50, "segments of only old records are gone: {start}");
    p.compact_with(&CleanerOptions::new().first_dirty_offset(0)).unwrap();
    assert!(p.first_dirty_offset() >= start);
    let got = contents(&p);
    assert!(got.iter().all(|(_, _, v)| v.as_deref() == Some("new")));
    let mut per_key = BTreeMap::new();
    for (o, k, _) in &got {
        per_key.insert(k.clone(), *o);
    }
    assert_eq!(per_key.len(), 4, "every key still has its latest value");
    // DeleteRecords is allowed when the policy deletes too.
    p.delete_records(p.log_start_offset() + 1).unwrap();
}

/// Appends and rolls during a cleaning: only segments below the recovery
/// point are cleaned, and the log stays exact (every key's latest value,
/// every record appended during the cleaning).
#[test]
fn appends_and_rolls_during_cleaning_keep_the_log_exact() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), compacted().segment_bytes(1_200), &clock);
    for i in 0..400i64 {
        put(&p, &format!("k{}", i % 9), Some(&i.to_string()), T0);
    }
    let writer = {
        let p = p.clone();
        std::thread::spawn(move || {
            for i in 400..1_400i64 {
                put(&p, &format!("k{}", i % 9), Some(&i.to_string()), T0);
            }
        })
    };
    for _ in 0..5 {
        let done = p.compact_with(&CleanerOptions::new().first_dirty_offset(0)).unwrap();
        assert!(done.first_uncleanable_offset <= p.recovery_point().max(done.first_dirty_offset));
    }
    writer.join().unwrap();
    p.compact().unwrap();
    let got = contents(&p);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    for k in 0..9i64 {
        let last = (0..1_400i64).rev().find(|i| i % 9 == k).unwrap();
        assert!(
            got.iter()
                .any(|(o, key, v)| *o == last && *key == format!("k{k}") && v.as_deref() == Some(&*last.to_string()))
        );
    }
    assert!(got.iter().all(|(o, _, v)| v.as_deref() == Some(&*o.to_string())));
}

/// A batch built by `BatchBuilder` turned into a transaction marker of
/// `kind` (0 abort, 1 commit) for producer `pid`, at `offset`.
fn marker(offset: i64, pid: i64, kind: i16) -> topiclog::RecordBatch {
    let mut key = 0i16.to_be_bytes().to_vec();
    key.extend_from_slice(&kind.to_be_bytes());
    control_batch(offset, pid, key)
}

/// A control batch whose one record has `key` (a marker's is version and type).
fn control_batch(offset: i64, pid: i64, key: Vec<u8>) -> topiclog::RecordBatch {
    use topiclog::{BatchBuilder, Compression};
    let mut b = BatchBuilder::new(Compression::None).base_offset(offset).producer(pid, 0, -1).transactional(true);
    b.append(&Record::new().key(key).value(vec![0u8; 6]).timestamp(T0)).unwrap();
    let mut bytes = b.build().unwrap().into_bytes().to_vec();
    // Attributes (bytes 21-22): set the control bit, then the CRC over bytes 21..
    bytes[22] |= 0x20;
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    topiclog::RecordBatch::new(bytes::Bytes::from(bytes)).unwrap()
}

fn txn_batch(offset: i64, pid: i64, key: &str) -> topiclog::RecordBatch {
    use topiclog::{BatchBuilder, Compression};
    let mut b = BatchBuilder::new(Compression::None).base_offset(offset).producer(pid, 0, 0).transactional(true);
    b.append(&Record::new().key(key.to_string()).value("txn").timestamp(T0)).unwrap();
    b.build().unwrap()
}

/// Aborted transactional records go at the first cleaning; committed ones
/// stay; control records never show. (Markers cannot be appended through
/// the API: the log is written as a Kafka broker would leave it.)
#[test]
fn aborted_transactions_are_removed_and_committed_ones_kept() {
    use topiclog::{BatchBuilder, Compression};
    let dir = tempfile::tempdir().unwrap();
    let mut log = Vec::new();
    let mut plain = BatchBuilder::new(Compression::None).base_offset(2);
    plain.append(&Record::new().key("plain").value("v").timestamp(T0)).unwrap();
    for batch in [
        txn_batch(0, 1, "aborted"),
        marker(1, 1, 0),
        plain.build().unwrap(),
        txn_batch(3, 2, "committed"),
        marker(4, 2, 1),
    ] {
        log.extend_from_slice(batch.as_bytes());
    }
    std::fs::write(dir.path().join("00000000000000000000.log"), log).unwrap();
    std::fs::write(dir.path().join("00000000000000000005.log"), b"").unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), compacted(), &clock);
    assert_eq!(keys(&p), ["aborted", "plain", "committed"], "readers skip markers, not aborted data");
    p.compact().unwrap();
    assert_eq!(keys(&p), ["plain", "committed"]);
    // Later cleanings past the delete horizon keep the data as it is.
    clock.advance(2 * 86_400_000);
    p.compact_with(&CleanerOptions::new().first_dirty_offset(0)).unwrap();
    p.compact_with(&CleanerOptions::new().first_dirty_offset(0)).unwrap();
    assert_eq!(keys(&p), ["plain", "committed"]);
    assert_eq!(p.log_end_offset(), 5);
}

/// A control record whose key is too short for a version and a type is
/// malformed: compaction refuses it (Kafka's `ControlRecordType.parse` does
/// too) rather than taking the batch for an empty one and dropping it.
#[test]
fn a_control_record_without_its_type_stops_compaction() {
    use topiclog::{BatchBuilder, BatchProblem, Compression};
    let dir = tempfile::tempdir().unwrap();
    let mut log = Vec::new();
    let mut plain = BatchBuilder::new(Compression::None).base_offset(2);
    plain.append(&Record::new().key("plain").value("v").timestamp(T0)).unwrap();
    for batch in [txn_batch(0, 1, "txn"), control_batch(1, 1, vec![0, 0]), plain.build().unwrap()] {
        log.extend_from_slice(batch.as_bytes());
    }
    std::fs::write(dir.path().join("00000000000000000000.log"), log).unwrap();
    std::fs::write(dir.path().join("00000000000000000003.log"), b"").unwrap();
    let clock = ManualClock::new(T0);
    let p = open(dir.path(), compacted(), &clock);
    let err = p.compact().unwrap_err();
    assert!(
        matches!(err, Error::MalformedBatch { problem: BatchProblem::InvalidFieldLength { record: 0, length: 2 }, .. }),
        "{err:?}"
    );
    assert_eq!(keys(&p), ["txn", "plain"], "nothing was replaced");
    assert_eq!(p.log_end_offset(), 3);
}
