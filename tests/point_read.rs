//! `Partition::read_record_at`: the record at an offset, borrowed, as
//! `read_from(offset)?.next()` gives it (the first record at or after the
//! offset); typed errors out of range and for damaged batches.

use std::sync::Arc;

use bytes::Bytes;
use topiclog::CompressionType;
use topiclog::ManualClock;
use topiclog::PartitionOptions;
use topiclog::{BatchBuilder, Compression, ConsumerRecord, Error, LogConfig, Partition, Record, RecordBatch};

const T0: i64 = 1_700_000_000_000;

fn open(dir: &std::path::Path, config: LogConfig) -> Partition {
    let options = PartitionOptions { config, clock: Arc::new(ManualClock::new(T0)), ..Default::default() };
    Partition::open_with(dir, options).unwrap()
}

/// What `read_record_at` hands over: offset and owned record (timestamp,
/// key, value, headers).
fn point(p: &Partition, offset: i64) -> Result<Option<(i64, Record)>, Error> {
    p.read_record_at(offset, |r| (r.offset(), r.to_record()))
}

/// What the iterator gives for the same offset, in the same shape.
fn iterated(p: &Partition, offset: i64) -> Option<(i64, Record)> {
    let record: ConsumerRecord = p.read_from(offset).unwrap().next()?.unwrap();
    Some((record.offset(), record.to_record()))
}

fn records(from: usize, n: usize) -> Vec<Record> {
    (from..from + n)
        .map(|i| {
            let r = Record::new().value(format!("value {i}")).timestamp(T0 + i as i64);
            if i % 3 == 0 { r.key(format!("k{i}")).header("h", format!("x{i}")) } else { r }
        })
        .collect()
}

/// Every offset of a log of several segments (sealed and active, before and
/// after a reopen that leaves the sealed ones unopened), with batches of
/// several sizes, reads as the iterator reads it.
#[test]
fn every_offset_reads_what_the_iterator_reads() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig::default().segment_bytes(4096).index_interval_bytes(256);
    let p = open(dir.path(), config.clone());
    let mut n = 0;
    for size in [1, 7, 50, 3, 100, 1, 1, 40, 60, 90, 5, 30, 70] {
        p.append(&records(n, size)).unwrap();
        n += size;
    }
    assert!(p.segment_count() > 2, "{} segments", p.segment_count());
    let check = |p: &Partition| {
        for offset in 0..n as i64 {
            let got = point(p, offset).unwrap().expect("a record");
            assert_eq!(Some(got), iterated(p, offset), "offset {offset}");
        }
        assert_eq!(point(p, n as i64).unwrap(), None, "at the log end");
    };
    check(&p);
    p.close().unwrap();
    let p = open(dir.path(), config);
    check(&p);
}

/// Below the log start and past the log end: `OffsetOutOfRange`, as `read`.
#[test]
fn out_of_range_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::default());
    p.append(&records(0, 10)).unwrap();
    p.delete_records(4).unwrap();
    for offset in [-1, 0, 3, 11, 1_000] {
        match point(&p, offset) {
            Err(Error::OffsetOutOfRange { offset: o, log_start_offset: 4, log_end_offset: 10 }) => {
                assert_eq!(o, offset);
            }
            other => panic!("offset {offset}: {other:?}"),
        }
    }
    assert_eq!(point(&p, 4).unwrap().unwrap().1.value.as_deref(), Some(&b"value 4"[..]));
    assert_eq!(point(&p, 10).unwrap(), None);
    p.close().unwrap();
    assert!(matches!(point(&p, 4), Err(Error::Closed { .. })));
}

/// A batch with the offset gaps compaction leaves: records 0, 2, 3 of
/// offsets `base..=base + 3`.
fn compacted_batch(base: i64) -> RecordBatch {
    let mut builder = BatchBuilder::new(Compression::None).base_offset(base);
    for v in ["a", "c", "d"] {
        builder.append(&Record::new().value(v).timestamp(T0)).unwrap();
    }
    let mut b = builder.build().unwrap().into_bytes().to_vec();
    // Each record: length, attributes, timestamp delta (0), offset delta, …;
    // 8 bytes each (null key, one-byte value, no headers), from byte 61.
    for (record, delta) in [(1usize, 2u8), (2, 3)] {
        let at = 61 + record * 8 + 3;
        assert_eq!(b[at], (record as u8) << 1, "zigzag offset delta of record {record}");
        b[at] = delta << 1;
    }
    b[23..27].copy_from_slice(&3i32.to_be_bytes()); // lastOffsetDelta
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    RecordBatch::new(Bytes::from(b)).unwrap()
}

/// Offsets that no record has (inside a compacted batch, between batches
/// appended with their own offsets) give the next record, as the iterator.
#[test]
fn an_offset_without_a_record_gives_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::default());
    p.append(&records(0, 5)).unwrap();
    p.append_with_offsets(compacted_batch(5)).unwrap(); // 5, 7, 8
    let mut later = BatchBuilder::new(Compression::None).base_offset(12);
    later.append(&Record::new().value("e").timestamp(T0)).unwrap();
    p.append_with_offsets(later.build().unwrap()).unwrap(); // 12
    let value_at = |offset: i64| {
        p.read_record_at(offset, |r| (r.offset(), r.value().map(<[u8]>::to_vec))).unwrap().map(|(o, v)| (o, v.unwrap()))
    };
    assert_eq!(value_at(5), Some((5, b"a".to_vec())));
    assert_eq!(value_at(6), Some((7, b"c".to_vec())), "inside the batch's gap");
    assert_eq!(value_at(7), Some((7, b"c".to_vec())));
    assert_eq!(value_at(8), Some((8, b"d".to_vec())));
    for gap in 9..12 {
        assert_eq!(value_at(gap), Some((12, b"e".to_vec())), "between batches, offset {gap}");
    }
    for offset in 0..13 {
        assert_eq!(point(&p, offset).unwrap(), iterated(&p, offset), "offset {offset}");
    }
}

/// Compressed batches (read the general way) give the same records.
#[test]
fn compressed_batches_read_the_same() {
    for codec in Compression::ALL.iter().copied().filter(|c| c.is_enabled() && *c != Compression::None) {
        let dir = tempfile::tempdir().unwrap();
        let p = open(dir.path(), LogConfig::default().compression_type(CompressionType::Codec(codec)));
        p.append(&records(0, 30)).unwrap();
        p.append(&records(30, 30)).unwrap();
        for offset in 0..60 {
            assert_eq!(point(&p, offset).unwrap(), iterated(&p, offset), "{codec:?} offset {offset}");
        }
    }
}

/// A damaged batch (one flipped bit in a record of a sealed segment, which a
/// clean reopen trusts) is `CorruptSegment` naming the file; records of
/// other batches still read.
#[test]
fn a_damaged_batch_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::default());
    p.append(&records(0, 10)).unwrap();
    p.roll().unwrap();
    p.append(&records(10, 10)).unwrap();
    p.close().unwrap();
    drop(p);
    let log = dir.path().join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&log).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x10;
    std::fs::write(&log, &bytes).unwrap();

    let p = open(dir.path(), LogConfig::default());
    for offset in [0, 5, 9] {
        match point(&p, offset) {
            Err(Error::CorruptSegment { path, position: 0, .. }) => assert_eq!(path, log),
            other => panic!("offset {offset}: {other:?}"),
        }
    }
    assert_eq!(point(&p, 10).unwrap(), iterated(&p, 10));
}

/// The view may call back into the log (no lock is held while it runs).
#[test]
fn the_closure_may_use_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::default().segment_bytes(1024));
    p.append(&records(0, 3)).unwrap();
    let appended = p
        .read_record_at(1, |r| {
            let copy = r.to_record();
            (0..20).map(|_| p.append(std::slice::from_ref(&copy)).unwrap().first_offset).last()
        })
        .unwrap();
    assert_eq!(appended, Some(Some(22)));
    assert!(p.segment_count() > 1);
    assert_eq!(point(&p, 22).unwrap().unwrap().1.value.as_deref(), Some(&b"value 1"[..]));
}
