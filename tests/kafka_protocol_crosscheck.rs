//! Cross-check against an independent implementation of the v2 batch format,
//! the `kafka-protocol` crate, for every codec:
//!
//! 1. batches built by topiclog decode with `RecordBatchDecoder` to the
//!    records and batch fields that were written;
//! 2. batches written by `RecordBatchEncoder` pass topiclog's validation
//!    (CRC, framing) and decode to the records that were written.
//!
//! kafka-protocol keeps record headers in an `IndexMap`, so it cannot
//! represent a repeated header key: on decode the last value wins, at the
//! position of the key's first occurrence. Direction 1 compares against that
//! collapsed view (and checks the full list with topiclog's own decoder);
//! direction 2 can only ever produce distinct header keys.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{self as kp, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
use proptest::prelude::*;
use topiclog::format::{FileBatches, Tail};
use topiclog::{BatchBuilder, Compression, ConsumerRecord, Header, Record, RecordBatch, TimestampType};

const T0: i64 = 1_700_000_000_000;

fn kp_codec(codec: Compression) -> kp::Compression {
    match codec {
        Compression::None => kp::Compression::None,
        Compression::Gzip => kp::Compression::Gzip,
        Compression::Snappy => kp::Compression::Snappy,
        Compression::Lz4 => kp::Compression::Lz4,
        Compression::Zstd => kp::Compression::Zstd,
    }
}

/// The headers as kafka-protocol represents them (repeated keys collapsed).
fn collapsed(headers: &[Header]) -> IndexMap<StrBytes, Option<Bytes>> {
    let mut map = IndexMap::new();
    for h in headers {
        let key = StrBytes::try_from(h.key().clone()).expect("header keys are UTF-8");
        map.insert(key, h.value().cloned());
    }
    map
}

/// A mix of the awkward cases: null key, null value, empty value, repeated
/// header key, null header value, empty header key, a timestamp before the
/// first record's (negative delta), binary data, and a value long enough for
/// the codecs to have work to do.
fn mixed_records() -> Vec<Record> {
    let long: Vec<u8> = (0..2000u32).map(|i| (i % 7 + i / 100) as u8).collect();
    vec![
        Record::new()
            .key("k0")
            .value("v0")
            .timestamp(T0)
            .header("trace", "abc")
            .header("trace", "def")
            .push_header(Header::with_null_value("nullable"))
            .header("", ""),
        Record::new().value("null key").timestamp(T0 + 5),
        Record::new().key("tombstone").timestamp(T0 - 5_000),
        Record::new().key("empty").value(Bytes::new()).timestamp(T0 + 10),
        Record::new()
            .key(Bytes::from_static(&[0, 0xff, 0x80, 1]))
            .value(long)
            .timestamp(T0 - 1)
            .header("bin", Bytes::from_static(&[0xff, 0, 0xfe]))
            .push_header(Header::with_null_value("trace")),
        Record::new().timestamp(T0 + 1_000_000),
    ]
}

/// Batch-level fields topiclog's builder was configured with.
struct BatchFields {
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    log_append_time: Option<i64>,
}

const DEFAULT_FIELDS: BatchFields = BatchFields {
    base_offset: 0,
    partition_leader_epoch: -1,
    producer_id: -1,
    producer_epoch: -1,
    base_sequence: -1,
    transactional: false,
    log_append_time: None,
};

fn build(codec: Compression, records: &[Record], f: &BatchFields) -> Bytes {
    let mut builder = BatchBuilder::new(codec)
        .base_offset(f.base_offset)
        .partition_leader_epoch(f.partition_leader_epoch)
        .producer(f.producer_id, f.producer_epoch, f.base_sequence)
        .transactional(f.transactional);
    if let Some(t) = f.log_append_time {
        builder = builder.log_append_time(t);
    }
    for r in records {
        builder.append(r).unwrap();
    }
    builder.build().unwrap().into_bytes()
}

/// Direction 1: topiclog writes, kafka-protocol reads. Returns an error
/// message instead of panicking so proptest can shrink.
fn check_topiclog_to_kp(codec: Compression, records: &[Record], f: &BatchFields) -> Result<(), String> {
    let bytes = build(codec, records, f);
    let ctx = format!("codec {}", codec.name());

    let infos = RecordBatchDecoder::decode_batch_info(&mut bytes.clone()).map_err(|e| format!("{ctx}: {e:#}"))?;
    let [info] = infos.as_slice() else {
        return Err(format!("{ctx}: expected one batch, kafka-protocol saw {}", infos.len()));
    };
    let first_ts = records[0].timestamp.unwrap();
    let checks: [(&str, i64, i64); 9] = [
        ("record_count", info.record_count.into(), records.len() as i64),
        ("base offset", info.min_offset, f.base_offset),
        ("base timestamp", info.min_timestamp, first_ts),
        ("base sequence", info.base_sequence.into(), f.base_sequence.into()),
        ("partition leader epoch", info.partition_leader_epoch.into(), f.partition_leader_epoch.into()),
        ("producer id", info.producer_id, f.producer_id),
        ("producer epoch", info.producer_epoch.into(), f.producer_epoch.into()),
        ("version", info.version.into(), 2),
        ("transactional", info.transactional.into(), f.transactional.into()),
    ];
    for (what, got, want) in checks {
        if got != want {
            return Err(format!("{ctx}: batch {what}: kafka-protocol read {got}, wrote {want}"));
        }
    }
    let want_type =
        if f.log_append_time.is_some() { kp::TimestampType::LogAppend } else { kp::TimestampType::Creation };
    if info.control || info.delete_horizon || info.compression != kp_codec(codec) || info.timestamp_type != want_type {
        return Err(format!("{ctx}: batch attributes read as {info:?}"));
    }

    let mut buf = bytes.clone();
    let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| format!("{ctx}: {e:#}"))?;
    if !buf.is_empty() {
        return Err(format!("{ctx}: {} bytes left after the batch", buf.len()));
    }
    if set.version != 2 || set.compression != kp_codec(codec) || set.records.len() != records.len() {
        return Err(format!(
            "{ctx}: record set version {} compression {:?} with {} records",
            set.version,
            set.compression,
            set.records.len()
        ));
    }
    for (i, (got, want)) in set.records.iter().zip(records).enumerate() {
        // kafka-protocol derives each record's sequence as baseSequence + offsetDelta.
        let sequence = f.base_sequence.wrapping_add(i as i32);
        let expected = kp::Record {
            transactional: f.transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: f.partition_leader_epoch,
            producer_id: f.producer_id,
            producer_epoch: f.producer_epoch,
            // kafka-protocol reports the stored CreateTime-style timestamp
            // (base + delta) even for LogAppendTime batches.
            timestamp_type: want_type,
            offset: f.base_offset + i as i64,
            sequence,
            timestamp: want.timestamp.unwrap(),
            key: want.key.clone(),
            value: want.value.clone(),
            headers: collapsed(&want.headers),
        };
        if *got != expected {
            return Err(format!("{ctx}: record {i}:\n kafka-protocol read {got:?}\n expected {expected:?}"));
        }
    }

    // topiclog's own reading keeps what kafka-protocol cannot (repeated keys).
    let batch = RecordBatch::new(bytes).map_err(|e| format!("{ctx}: topiclog re-read: {e}"))?;
    let own: Vec<ConsumerRecord> = batch.records().unwrap().map(Result::unwrap).collect();
    for (i, (got, want)) in own.iter().zip(records).enumerate() {
        let want_ts = f.log_append_time.unwrap_or(want.timestamp.unwrap());
        if got.offset() != f.base_offset + i as i64
            || got.timestamp() != want_ts
            || got.key() != want.key.as_deref()
            || got.value() != want.value.as_deref()
            || got.headers() != want.headers.as_slice()
        {
            return Err(format!("{ctx}: topiclog re-read record {i}: {got:?}, wrote {want:?}"));
        }
    }
    if own.len() != records.len() {
        return Err(format!("{ctx}: topiclog re-read {} records, wrote {}", own.len(), records.len()));
    }
    Ok(())
}

#[test]
fn topiclog_batches_decode_with_kafka_protocol() {
    let records = mixed_records();
    for codec in Compression::ALL {
        check_topiclog_to_kp(codec, &records, &DEFAULT_FIELDS).unwrap_or_else(|e| panic!("{e}"));
        check_topiclog_to_kp(codec, &records, &BatchFields { base_offset: 1_000_000_007, ..DEFAULT_FIELDS })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn topiclog_idempotent_transactional_log_append_batches_decode_with_kafka_protocol() {
    let fields = BatchFields {
        base_offset: 77,
        partition_leader_epoch: 9,
        producer_id: 4242,
        producer_epoch: 7,
        base_sequence: 100,
        transactional: true,
        log_append_time: Some(T0 + 3_600_000),
    };
    for codec in Compression::ALL {
        check_topiclog_to_kp(codec, &mixed_records(), &fields).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// kafka-protocol's input records: offsets with gaps (as after compaction),
/// timestamps out of order, null key/value, empty value, null header value.
fn kp_records(producer_id: i64, producer_epoch: i16, sequence_of: impl Fn(i64) -> i32) -> Vec<kp::Record> {
    let rec = |offset: i64,
               timestamp: i64,
               key: Option<&'static [u8]>,
               value: Option<Bytes>,
               headers: &[(&'static str, Option<&'static [u8]>)]| kp::Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 5,
        producer_id,
        producer_epoch,
        timestamp_type: kp::TimestampType::Creation,
        offset,
        sequence: sequence_of(offset),
        timestamp,
        key: key.map(Bytes::from_static),
        value,
        headers: headers.iter().map(|&(k, v)| (StrBytes::from_static_str(k), v.map(Bytes::from_static))).collect(),
    };
    let long = Bytes::from((0..3000u32).map(|i| (i / 3 % 251) as u8).collect::<Vec<u8>>());
    vec![
        rec(500, T0, Some(b"k0"), Some(Bytes::from_static(b"v0")), &[("a", Some(b"1")), ("b", None)]),
        rec(501, T0 - 2_000, None, Some(Bytes::from_static(b"no key")), &[]),
        rec(503, T0 + 7, Some(b"tomb"), None, &[("", Some(b""))]),
        rec(504, T0 + 8, Some(b"empty"), Some(Bytes::new()), &[]),
        rec(510, T0 + 9, Some(&[0, 0xff]), Some(long), &[("x", Some(&[0xfe, 0]))]),
    ]
}

fn kp_encode(codec: Compression, records: &[kp::Record]) -> Bytes {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: kp_codec(codec) };
    RecordBatchEncoder::encode(&mut buf, records, &options).unwrap();
    buf.freeze()
}

/// Direction 2: decodes `bytes` with topiclog and compares with `records`;
/// returns the batches for further checks.
fn read_with_topiclog(codec: Compression, bytes: Bytes, records: &[kp::Record]) -> Vec<RecordBatch> {
    let ctx = format!("codec {}", codec.name());
    let mut iter = FileBatches::new(bytes, 0);
    let batches: Vec<RecordBatch> = iter.by_ref().map(|b| b.unwrap_or_else(|e| panic!("{ctx}: {e}"))).collect();
    assert_eq!(iter.tail(), Some(Tail::Clean), "{ctx}");
    let mut got = Vec::new();
    for batch in &batches {
        let h = batch.header();
        assert_eq!(h.compression(), Some(codec), "{ctx}: attributes {:#x}", h.attributes);
        assert_eq!(h.magic, 2, "{ctx}");
        assert!(!h.is_control() && !h.is_transactional() && !h.has_delete_horizon(), "{ctx}: {h:?}");
        got.extend(batch.records().unwrap().map(|r| {
            let r = r.unwrap_or_else(|e| panic!("{ctx}: {e}"));
            (r, *h)
        }));
    }
    assert_eq!(got.len(), records.len(), "{ctx}: record count");
    for (i, ((got, h), want)) in got.iter().zip(records).enumerate() {
        let at = format!("{ctx}, record {i}");
        assert_eq!(got.offset(), want.offset, "{at}: offset");
        assert_eq!(got.timestamp(), want.timestamp, "{at}: timestamp");
        assert_eq!(got.timestamp_type(), TimestampType::CreateTime, "{at}");
        assert_eq!(got.key(), want.key.as_deref(), "{at}: key");
        assert_eq!(got.value(), want.value.as_deref(), "{at}: value");
        let headers: Vec<(&[u8], Option<&Bytes>)> = got.headers().iter().map(|h| (&h.key()[..], h.value())).collect();
        let want_headers: Vec<(&[u8], Option<&Bytes>)> =
            want.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_ref())).collect();
        assert_eq!(headers, want_headers, "{at}: headers");
        assert_eq!(h.partition_leader_epoch, want.partition_leader_epoch, "{at}");
        assert_eq!(h.producer_id, want.producer_id, "{at}");
        assert_eq!(h.producer_epoch, want.producer_epoch, "{at}");
        let offset_delta = (want.offset - h.base_offset) as i32;
        assert_eq!(h.base_sequence.wrapping_add(offset_delta), want.sequence, "{at}: sequence");
    }
    batches
}

#[test]
fn kafka_protocol_batches_decode_with_topiclog() {
    for codec in Compression::ALL {
        // Idempotent producer, sequences following offsets: one batch.
        let records = kp_records(4242, 3, |offset| (offset - 500 + 20) as i32);
        let batches = read_with_topiclog(codec, kp_encode(codec, &records), &records);
        assert_eq!(batches.len(), 1, "codec {}: batch count", codec.name());
        let h = batches[0].header();
        assert_eq!((h.base_offset, h.last_offset(), h.record_count), (500, 510, 5), "codec {}", codec.name());
        assert_eq!(h.base_sequence, 20, "codec {}", codec.name());
        assert_eq!(batches[0].max_timestamp(), T0 + 9, "codec {}", codec.name());
    }
}

#[test]
fn kafka_protocol_multi_batch_output_decodes_with_topiclog() {
    for codec in Compression::ALL {
        // Non-idempotent (sequence -1 on every record): kafka-protocol's
        // batching rule (offset - sequence constant) splits every record
        // into its own batch, back to back in one buffer.
        let records = kp_records(-1, -1, |_| -1);
        let batches = read_with_topiclog(codec, kp_encode(codec, &records), &records);
        assert_eq!(batches.len(), records.len(), "codec {}: batch count", codec.name());
    }
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=max).prop_map(Bytes::from))
}

fn arb_record() -> impl Strategy<Value = Record> {
    let header = ("\\PC{0,6}", arb_bytes(40)).prop_map(|(k, v): (String, Option<Bytes>)| match v {
        Some(v) => Header::new(k, v),
        None => Header::with_null_value(k),
    });
    let timestamp = prop_oneof![0..=i64::MAX, T0 - 86_400_000..T0 + 86_400_000];
    (arb_bytes(200), arb_bytes(200), proptest::collection::vec(header, 0..=3), timestamp)
        .prop_map(|(key, value, headers, timestamp)| Record { key, value, headers, timestamp: Some(timestamp) })
}

fn proptest_config() -> ProptestConfig {
    // `with_cases` would override PROPTEST_CASES, so read it here first.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn arbitrary_topiclog_batches_decode_with_kafka_protocol(
        records in proptest::collection::vec(arb_record(), 1..=8),
        base_offset in 0..=i64::MAX / 2,
    ) {
        for codec in Compression::ALL {
            let fields = BatchFields { base_offset, ..DEFAULT_FIELDS };
            if let Err(e) = check_topiclog_to_kp(codec, &records, &fields) {
                return Err(TestCaseError::fail(e));
            }
        }
    }
}
