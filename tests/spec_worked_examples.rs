//! SPEC §1.10: the worked examples, reproduced byte for byte.

use bytes::Bytes;
use topiclog::format::{BatchBuilder, Compression, Header, Record, RecordBatch};

const T: i64 = 1_700_000_000_000;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn build(base_offset: i64, records: &[Record]) -> RecordBatch {
    let mut b = BatchBuilder::new(Compression::None).base_offset(base_offset).partition_leader_epoch(0);
    for r in records {
        b.append(r).unwrap();
    }
    b.build().unwrap()
}

#[test]
fn example_a_one_record() {
    let batch = build(0, &[Record::new().key("k").value("v").timestamp(T)]);
    let want = hex(
        "00000000000000000000003a0000000002e99b8dd80000000000000000018bcfe568000000018bcfe56800ffffffffffffffffffffffffffff0000000110000000026b027600",
    );
    assert_eq!(batch.as_bytes().as_ref(), want.as_slice());
    assert_eq!(batch.header().crc, 0xE99B_8DD8);
    // And the expected bytes decode to the same record.
    let decoded = RecordBatch::new(Bytes::from(want)).unwrap();
    let r = decoded.records().unwrap().next().unwrap().unwrap();
    assert_eq!((r.offset(), r.timestamp()), (0, T));
    assert_eq!(r.key(), Some(&b"k"[..]));
    assert_eq!(r.value(), Some(&b"v"[..]));
}

#[test]
fn example_a_keeps_its_crc_when_rebased_or_restamped() {
    let mut batch = build(0, &[Record::new().key("k").value("v").timestamp(T)]);
    batch.set_base_offset(123_456);
    batch.set_partition_leader_epoch(-1);
    let reparsed = RecordBatch::new(batch.as_bytes().clone()).unwrap();
    assert_eq!(reparsed.header().crc, 0xE99B_8DD8);
    assert_eq!(reparsed.base_offset(), 123_456);
    assert_eq!(reparsed.records().unwrap().next().unwrap().unwrap().offset(), 123_456);
}

#[test]
fn example_b_tombstone() {
    let batch = build(0, &[Record::new().key("k").timestamp(T)]);
    let want = hex(
        "0000000000000000000000390000000002cfd5eff80000000000000000018bcfe568000000018bcfe56800ffffffffffffffffffffffffffff000000010e000000026b0100",
    );
    assert_eq!(batch.as_bytes().as_ref(), want.as_slice());
    let r = batch.records().unwrap().next().unwrap().unwrap();
    assert_eq!(r.value(), None);
}

#[test]
fn example_c_two_records_with_a_header() {
    let batch = build(
        100,
        &[
            Record::new().key("a").value("1").timestamp(T),
            Record::new().key("b").value("2").timestamp(T + 5).push_header(Header::new("h", "x")),
        ],
    );
    let want = hex(
        "000000000000006400000047000000000207270a9b0000000000010000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000210000000026102310018000a02026202320202680278",
    );
    assert_eq!(batch.as_bytes().as_ref(), want.as_slice());
    assert_eq!(batch.header().crc, 0x0727_0A9B);
    let records: Vec<_> = RecordBatch::new(Bytes::from(want)).unwrap().records().unwrap().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2);
    assert_eq!((records[1].offset(), records[1].timestamp()), (101, T + 5));
    assert_eq!(records[1].headers(), &[Header::new("h", "x")]);
}
