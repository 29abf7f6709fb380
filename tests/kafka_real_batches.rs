//! Every record-batch file written by a real Kafka broker decodes, with every
//! CRC verified, to exactly what the independent decoder's dump says.

mod common;

use bytes::Bytes;
use topiclog::format::{FileBatches, Tail, TimestampType};

#[test]
fn every_kafka_batch_file_decodes_as_its_dump_says() {
    let Some(dir) = common::kafka_real_dir() else { return };
    let files = common::batch_files(&dir);
    assert!(files.len() >= 28, "expected the 28 record-batch files of the fixtures, found {}", files.len());
    let (mut batches_seen, mut records_seen, mut compressed_seen, mut control_seen) = (0, 0, 0, 0);
    for file in &files {
        let ctx = file.display().to_string();
        let data = Bytes::from(std::fs::read(file).unwrap());
        let dump = common::read_log_dump(&common::dump_path(file));
        let mut iter = FileBatches::new(data, 0);
        let decoded: Vec<_> = iter.by_ref().map(|b| b.unwrap_or_else(|e| panic!("{ctx}: {e}"))).collect();
        assert_eq!(iter.tail(), Some(Tail::Clean), "{ctx}");
        assert_eq!(decoded.len(), dump.len(), "{ctx}: batch count");
        let mut position = 0u64;
        for (batch, want) in decoded.iter().zip(&dump) {
            let h = batch.header();
            let at = format!("{ctx} batch at {position}");
            assert_eq!(position as i64, want.int("position"), "{at}");
            assert_eq!(h.base_offset, want.int("baseOffset"), "{at}");
            assert_eq!(h.last_offset(), want.int("lastOffset"), "{at}");
            assert_eq!(i64::from(h.batch_length), want.int("batchLength"), "{at}");
            assert_eq!(i64::from(h.partition_leader_epoch), want.int("partitionLeaderEpoch"), "{at}");
            assert_eq!(i64::from(h.crc), want.int("stored"), "{at}");
            assert_eq!(want.text("computed"), want.text("stored"), "{at}: the dump itself saw a CRC mismatch");
            assert_eq!(i64::from(h.attributes), want.int("attributes"), "{at}");
            assert_eq!(h.compression().map(|c| c.name()), Some(want.text("compression")), "{at}");
            assert_eq!(h.timestamp_type().name(), want.text("timestampType"), "{at}");
            assert_eq!(h.is_transactional().to_string(), want.text("transactional").to_lowercase(), "{at}");
            assert_eq!(h.is_control().to_string(), want.text("control").to_lowercase(), "{at}");
            assert_eq!(h.has_delete_horizon().to_string(), want.text("hasDeleteHorizon").to_lowercase(), "{at}");
            assert_eq!(i64::from(h.last_offset_delta), want.int("lastOffsetDelta"), "{at}");
            assert_eq!(h.base_timestamp, want.int("baseTimestamp"), "{at}");
            assert_eq!(h.max_timestamp, want.int("maxTimestamp"), "{at}");
            assert_eq!(h.producer_id, want.int("producerId"), "{at}");
            assert_eq!(i64::from(h.producer_epoch), want.int("producerEpoch"), "{at}");
            assert_eq!(i64::from(h.base_sequence), want.int("baseSequence"), "{at}");
            assert_eq!(i64::from(h.record_count), want.int("recordsCount"), "{at}");

            let records: Vec<_> = batch.records().unwrap().map(|r| r.unwrap_or_else(|e| panic!("{at}: {e}"))).collect();
            assert_eq!(records.len(), want.records.len(), "{at}: record count");
            for (r, w) in records.iter().zip(&want.records) {
                let at = format!("{at} record {}", w.offset);
                assert_eq!(r.offset(), w.offset, "{at}");
                assert_eq!(r.timestamp(), w.timestamp, "{at}");
                assert_eq!(r.timestamp_type(), TimestampType::CreateTime, "{at}");
                assert_eq!(r.key().map_or(-1, |k| k.len() as i64), w.key_length, "{at}");
                assert_eq!(r.value().map_or(-1, |v| v.len() as i64), w.value_length, "{at}");
                assert_eq!(r.headers().len(), w.headers, "{at}");
            }
            batches_seen += 1;
            records_seen += records.len();
            compressed_seen += usize::from(h.compression_id() != 0);
            control_seen += usize::from(h.is_control());
            position += batch.size_in_bytes() as u64;
        }
    }
    // The fixtures README's totals: nothing may be silently skipped.
    assert_eq!(batches_seen, 11_078);
    assert_eq!(records_seen, 21_793);
    assert_eq!(compressed_seen, 50, "gzip batches");
    assert!(control_seen > 0, "control batches must decode, not be rejected");
}

#[test]
fn header_values_of_spring_records_are_readable() {
    let Some(dir) = common::kafka_real_dir() else { return };
    let data =
        Bytes::from(std::fs::read(dir.join("lewi217-kafka-zk-2024/wanjohi-0/00000000000000000000.log")).unwrap());
    let with_headers: Vec<_> = FileBatches::new(data, 0)
        .flat_map(|b| b.unwrap().records().unwrap().collect::<Vec<_>>())
        .map(|r| r.unwrap())
        .filter(|r| !r.headers().is_empty())
        .collect();
    assert_eq!(with_headers.len(), 3);
    for r in with_headers {
        assert_eq!(r.headers()[0].key_str(), Some("__TypeId__"));
        assert!(r.headers()[0].value().is_some_and(|v| !v.is_empty()));
    }
}
