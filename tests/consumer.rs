//! Consumers with committed offsets: at-least-once across restarts, commits
//! stored as Kafka's offset-commit records in `__consumer_offsets`, lag,
//! `auto.offset.reset`, fair polling, and group administration.

use std::path::Path;
use std::time::Duration;

use topiclog::{
    AutoOffsetReset, ConsumerConfig, Error, OFFSETS_TOPIC, OffsetReset, Record, Store, StoreConfig, TopicConfig,
};

fn store(dir: &Path) -> Store {
    Store::open(dir, StoreConfig::new().maintenance(false)).unwrap()
}

fn earliest(group: &str) -> ConsumerConfig {
    ConsumerConfig::new().group_id(group).auto_offset_reset(AutoOffsetReset::Earliest).enable_auto_commit(false)
}

fn fill(store: &Store, topic: &str, partitions: u32, per_partition: i64) {
    let t = store.create_topic(topic, partitions, TopicConfig::new()).unwrap();
    for p in 0..partitions {
        for i in 0..per_partition {
            t.send_to(p, Record::new().key(format!("k{i}")).value(format!("{p}-{i}"))).unwrap();
        }
    }
}

fn offsets(records: &[topiclog::PolledRecord]) -> Vec<(u32, i64)> {
    records.iter().map(|r| (r.partition, r.record.offset())).collect()
}

/// A consumer that processed records but was dropped before committing gets
/// them again; after a commit, a restarted consumer (and store) resumes.
#[test]
fn at_least_once_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    fill(&s, "orders", 1, 10);
    let mut c = s.consumer(earliest("billing")).unwrap();
    c.assign(&[("orders", 0)]).unwrap();
    assert_eq!(c.poll(Duration::ZERO).unwrap().len(), 10);
    drop(c);
    let mut c = s.consumer(earliest("billing")).unwrap();
    c.assign(&[("orders", 0)]).unwrap();
    let again = c.poll(Duration::ZERO).unwrap();
    assert_eq!(again.len(), 10, "not committed: delivered again");
    c.commit_offsets(&[("orders".into(), 0, 6)]).unwrap();
    drop(c);
    s.close().unwrap();
    let s = store(dir.path());
    let mut c = s.consumer(earliest("billing")).unwrap();
    c.assign(&[("orders", 0)]).unwrap();
    assert_eq!(c.position("orders", 0).unwrap(), 6);
    let rest = c.poll(Duration::ZERO).unwrap();
    assert_eq!(offsets(&rest), [(0, 6), (0, 7), (0, 8), (0, 9)]);
    c.commit_sync().unwrap();
    assert_eq!(s.committed_offset("billing", "orders", 0).unwrap(), Some(10));
    // Another group is independent.
    let mut other = s.consumer(earliest("audit")).unwrap();
    other.assign(&[("orders", 0)]).unwrap();
    assert_eq!(other.poll(Duration::ZERO).unwrap().len(), 10);
    // The internal topic is hidden unless asked for.
    assert_eq!(s.topics(), ["orders"]);
    assert!(s.all_topics().contains(&OFFSETS_TOPIC.to_string()));
}

/// `auto.offset.reset`: latest starts at the end, none refuses, and a
/// committed offset that delete-records moved below the log start resets.
#[test]
fn auto_offset_reset_applies_to_missing_and_out_of_range_positions() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    fill(&s, "t", 1, 10);
    let mut latest = s.consumer(ConsumerConfig::new().group_id("g1").enable_auto_commit(false)).unwrap();
    latest.assign(&[("t", 0)]).unwrap();
    assert!(latest.poll(Duration::ZERO).unwrap().is_empty());
    assert_eq!(latest.position("t", 0).unwrap(), 10);
    let mut none = s.consumer(earliest("g2").auto_offset_reset(AutoOffsetReset::None)).unwrap();
    none.assign(&[("t", 0)]).unwrap();
    assert!(matches!(none.poll(Duration::ZERO), Err(Error::OffsetOutOfRange { .. })));
    s.commit_offsets("g3", &[("t".into(), 0, 2)]).unwrap();
    s.existing_topic("t").unwrap().partition(0).unwrap().delete_records(5).unwrap();
    let lag = s.describe_consumer_group("g3").unwrap();
    assert_eq!((lag[0].committed, lag[0].log_end_offset, lag[0].lag), (Some(2), 10, Some(8)));
    let mut c = s.consumer(earliest("g3")).unwrap();
    c.assign(&[("t", 0)]).unwrap();
    let got = c.poll(Duration::ZERO).unwrap();
    assert_eq!(got.first().map(|r| r.record.offset()), Some(5), "reset to the new log start");
    assert_eq!(c.lag("t", 0).unwrap(), 0);
}

/// Every partition with records gets a share of each poll, and the first
/// partition read rotates.
#[test]
fn polls_take_turns_across_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    fill(&s, "t", 3, 100);
    let mut c = s.consumer(earliest("g").max_poll_records(30)).unwrap();
    c.assign(&[("t", 0), ("t", 1), ("t", 2)]).unwrap();
    let first = c.poll(Duration::ZERO).unwrap();
    assert_eq!(first.len(), 30);
    for p in 0..3 {
        assert_eq!(first.iter().filter(|r| r.partition == p).count(), 10, "partition {p}");
    }
    let second = c.poll(Duration::ZERO).unwrap();
    assert_eq!(second.first().map(|r| r.partition), Some(1), "the next poll starts at the next partition");
    let mut total = first.len() + second.len();
    loop {
        let more = c.poll(Duration::ZERO).unwrap();
        if more.is_empty() {
            break;
        }
        total += more.len();
    }
    assert_eq!(total, 300);
}

/// A poll waiting on several partitions wakes when any of them gets a record.
#[test]
fn a_waiting_poll_wakes_on_a_record_in_any_partition() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.create_topic("t", 4, TopicConfig::new()).unwrap();
    let mut c = s.consumer(ConsumerConfig::new()).unwrap();
    c.assign(&[("t", 0), ("t", 1), ("t", 2), ("t", 3)]).unwrap();
    assert!(c.poll(Duration::ZERO).unwrap().is_empty());
    let writer = std::thread::spawn(move || {
        t.send_to(2, Record::new().value("hello")).unwrap();
    });
    let got = c.poll(Duration::from_secs(30)).unwrap();
    writer.join().unwrap();
    assert_eq!(offsets(&got), [(2, 0)]);
    assert!(matches!(c.commit_sync(), Err(Error::NoGroup { .. })));
}

/// Listing, describing, resetting (dry run and execute) and deleting groups.
#[test]
fn group_administration() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    fill(&s, "t", 2, 10);
    s.commit_offsets("g", &[("t".into(), 0, 4), ("t".into(), 1, 9)]).unwrap();
    s.commit_offsets("h", &[("t".into(), 0, 1)]).unwrap();
    assert_eq!(s.consumer_groups().unwrap(), ["g", "h"]);
    let described = s.describe_consumer_group("g").unwrap();
    let lags: Vec<_> = described.iter().map(|d| (d.partition, d.lag)).collect();
    assert_eq!(lags, [(0, Some(6)), (1, Some(1))]);
    let dry = s.reset_consumer_group_offsets("g", "t", OffsetReset::ShiftBy(-2), false).unwrap();
    assert_eq!(dry, [(0, 2), (1, 7)]);
    assert_eq!(s.committed_offset("g", "t", 0).unwrap(), Some(4), "a dry run writes nothing");
    s.reset_consumer_group_offsets("g", "t", OffsetReset::Earliest, true).unwrap();
    assert_eq!(s.committed_offset("g", "t", 1).unwrap(), Some(0));
    assert_eq!(s.reset_consumer_group_offsets("g", "t", OffsetReset::To(99), false).unwrap(), [(0, 10), (1, 10)]);
    s.delete_consumer_group("h").unwrap();
    assert_eq!(s.consumer_groups().unwrap(), ["g"]);
    assert!(matches!(s.describe_consumer_group("h"), Err(Error::UnknownGroup { .. })));
    s.close().unwrap();
    let s = store(dir.path());
    assert_eq!(s.consumer_groups().unwrap(), ["g"], "deletions and commits survive reopening");
    assert!(matches!(s.commit_offsets("g", &[("t".into(), 0, -1)]), Err(Error::InvalidOffset { .. })));
}

const KEY_SCHEMA: &str = r#"{ "name": "OffsetCommitKey", "validVersions": "0-1", "fields": [
    { "name": "group", "type": "string", "versions": "0-1" },
    { "name": "topic", "type": "string", "versions": "0-1" },
    { "name": "partition", "type": "int32", "versions": "0-1" } ] }"#;
const VALUE_SCHEMA: &str = r#"{ "name": "OffsetCommitValue", "validVersions": "0-4", "flexibleVersions": "4+", "fields": [
    { "name": "offset", "type": "int64", "versions": "0+" },
    { "name": "leaderEpoch", "type": "int32", "versions": "3+", "default": -1, "ignorable": true},
    { "name": "metadata", "type": "string", "versions": "0+" },
    { "name": "commitTimestamp", "type": "int64", "versions": "0+" },
    { "name": "expireTimestamp", "type": "int64", "versions": "1", "default": -1, "ignorable": true} ] }"#;

/// Encodes `values` (by field name) at `version` following the fields of a
/// Kafka message schema, independently of the library: int16 version, then
/// each field present at that version (non-flexible encoding).
fn encode_from_schema(schema: &str, version: i16, values: &[(&str, Value)]) -> Vec<u8> {
    let mut out = version.to_be_bytes().to_vec();
    for field in schema.split("{ \"name\": ").skip(2) {
        let name = field.split('"').nth(1).unwrap();
        let ty = field.split("\"type\": \"").nth(1).unwrap().split('"').next().unwrap();
        let versions = field.split("\"versions\": \"").nth(1).unwrap().split('"').next().unwrap();
        let present = if let Some(from) = versions.strip_suffix('+') {
            version >= from.parse().unwrap()
        } else if let Some((a, b)) = versions.split_once('-') {
            (a.parse().unwrap()..=b.parse().unwrap()).contains(&version)
        } else {
            version == versions.parse::<i16>().unwrap()
        };
        if !present {
            continue;
        }
        let value = &values.iter().find(|(n, _)| *n == name).unwrap().1;
        match (ty, value) {
            ("string", Value::Str(s)) => {
                out.extend_from_slice(&(s.len() as i16).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            ("int32", Value::Int(v)) => out.extend_from_slice(&(*v as i32).to_be_bytes()),
            ("int64", Value::Int(v)) => out.extend_from_slice(&v.to_be_bytes()),
            other => panic!("unexpected field {name}: {other:?}"),
        }
    }
    out
}

#[derive(Debug)]
enum Value {
    Str(&'static str),
    Int(i64),
}

/// The records a commit writes are Kafka's: key v1 and value v3 as encoded
/// from the schema text, on the group's partition, and they decode with the
/// independent `kafka_dump.py`.
#[test]
fn commits_are_kafka_offset_commit_records() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    fill(&s, "orders", 1, 3);
    s.commit_offsets("billing", &[("orders".into(), 0, 3)]).unwrap();
    let p = s.existing_topic(OFFSETS_TOPIC).unwrap().partition(0).unwrap();
    let records: Vec<_> = p.read_from(0).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    let key = encode_from_schema(
        KEY_SCHEMA,
        1,
        &[("group", Value::Str("billing")), ("topic", Value::Str("orders")), ("partition", Value::Int(0))],
    );
    assert_eq!(r.key(), Some(&key[..]));
    let value = encode_from_schema(
        VALUE_SCHEMA,
        3,
        &[
            ("offset", Value::Int(3)),
            ("leaderEpoch", Value::Int(-1)),
            ("metadata", Value::Str("")),
            ("commitTimestamp", Value::Int(r.timestamp())),
            ("expireTimestamp", Value::Int(-1)),
        ],
    );
    assert_eq!(r.value(), Some(&value[..]));
    s.close().unwrap();
    let log = dir.path().join(format!("{OFFSETS_TOPIC}-0")).join("00000000000000000000.log");
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/kafka_dump.py");
    if tool.exists() {
        let out = std::process::Command::new("python3").arg(&tool).arg(&log).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// With Kafka's 50 partitions, a group's commits land where Kafka puts them.
#[test]
fn a_group_commits_to_the_partition_kafka_chooses() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new().maintenance(false).set("offsets.topic.num.partitions", "50").unwrap();
    let s = Store::open(dir.path(), config).unwrap();
    fill(&s, "t", 1, 1);
    s.commit_offsets("group", &[("t".into(), 0, 1)]).unwrap();
    // "group".hashCode() = 98629247; 98629247 % 50 = 47.
    let offsets = s.existing_topic(OFFSETS_TOPIC).unwrap();
    assert_eq!(offsets.partition_count(), 50);
    assert_eq!(offsets.partition(47).unwrap().log_end_offset(), 1);
    assert_eq!(s.committed_offset("group", "t", 0).unwrap(), Some(1));
}

/// The small conveniences: borrowed keys, typed topic settings, named
/// offsets, and reading one record by offset.
#[test]
fn plain_api_conveniences() {
    use topiclog::OffsetSpec;
    use topiclog::{CleanupPolicy, CompressionType};
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let overrides = TopicConfig::new()
        .flush_messages(1)
        .cleanup_policy(CleanupPolicy::CompactDelete)
        .compression_type(CompressionType::Codec(topiclog::Compression::Lz4));
    let t = s.create_topic("t", 1, overrides).unwrap();
    assert_eq!(t.config().flush_messages, 1);
    assert_eq!(t.config().cleanup_policy, CleanupPolicy::CompactDelete);
    let key = String::from("user-1");
    t.send_to(0, Record::new().key(key.as_str()).value(&b"v1"[..]).timestamp(100)).unwrap();
    t.send_to(0, Record::new().key(&key).value(b"v2").timestamp(200)).unwrap();
    let p = t.partition(0).unwrap();
    assert_eq!(p.get(1).unwrap().unwrap().value(), Some(&b"v2"[..]));
    assert!(matches!(p.get(2), Err(Error::OffsetOutOfRange { .. })));
    assert_eq!(p.offset_for(OffsetSpec::Earliest).unwrap().map(|t| t.offset), Some(0));
    assert_eq!(p.offset_for(OffsetSpec::MaxTimestamp).unwrap().map(|t| t.offset), Some(1));
    assert_eq!(p.offset_for(OffsetSpec::Timestamp(150)).unwrap().map(|t| t.offset), Some(1));
}

/// `offsets_for_times` finds the first record at or after a timestamp.
#[test]
fn offsets_for_times_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.create_topic("t", 1, TopicConfig::new()).unwrap();
    for (i, ts) in [100i64, 200, 300].iter().enumerate() {
        t.send_to(0, Record::new().value(i.to_string()).timestamp(*ts)).unwrap();
    }
    let c = s.consumer(ConsumerConfig::new()).unwrap();
    assert_eq!(c.offsets_for_times(&[("t", 0, 150), ("t", 0, 300), ("t", 0, 301)]).unwrap(), [Some(1), Some(2), None]);
    assert!(matches!(c.offsets_for_times(&[("nope", 0, 1)]), Err(Error::UnknownTopic { .. })));
}

/// A Kafka-written transactional partition ends with a commit marker: a
/// consumer's position moves past it (as Kafka's does), so a poll with
/// nothing to read waits instead of finding offsets it can never read.
#[test]
fn the_position_moves_past_a_transaction_marker_at_the_log_end() {
    use topiclog::{BatchBuilder, Compression};
    let dir = tempfile::tempdir().unwrap();
    let mut batch = BatchBuilder::new(Compression::None).base_offset(0).producer(7, 0, 0).transactional(true);
    batch.append(&Record::new().key("k").value("in a transaction").timestamp(1)).unwrap();
    let mut marker = BatchBuilder::new(Compression::None).base_offset(1).producer(7, 0, -1).transactional(true);
    marker.append(&Record::new().key(vec![0, 0, 0, 1]).value(vec![0u8; 6]).timestamp(1)).unwrap();
    let mut marker = marker.build().unwrap().into_bytes().to_vec();
    // Attributes (bytes 21-22): set the control bit, then the CRC over bytes 21..
    marker[22] |= 0x20;
    let crc = crc32c::crc32c(&marker[21..]);
    marker[17..21].copy_from_slice(&crc.to_be_bytes());
    let mut log = batch.build().unwrap().into_bytes().to_vec();
    log.extend_from_slice(&marker);
    std::fs::create_dir_all(dir.path().join("txn-0")).unwrap();
    std::fs::write(dir.path().join("txn-0/00000000000000000000.log"), log).unwrap();

    let s = store(dir.path());
    assert_eq!(s.existing_topic("txn").unwrap().partition(0).unwrap().log_end_offset(), 2);
    let mut c = s.consumer(earliest("g")).unwrap();
    c.assign(&[("txn", 0)]).unwrap();
    assert_eq!(offsets(&c.poll(Duration::ZERO).unwrap()), [(0, 0)]);
    assert_eq!(c.position("txn", 0).unwrap(), 2, "past the marker");
    assert_eq!(c.lag("txn", 0).unwrap(), 0);
    let started = std::time::Instant::now();
    assert!(c.poll(Duration::from_millis(200)).unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(190), "it waited for its timeout");
}
