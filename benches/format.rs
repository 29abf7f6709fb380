//! Record batch v2 encode/decode throughput, per codec, against a raw
//! CRC-32C pass over the same (uncompressed) batch bytes as a baseline.
//!
//! Workload: one batch of 100 records, each with an 8-byte key
//! (`key-0000`..`key-0099`), a 100-byte value (pseudo-random lowercase hex
//! digits, so codecs have something to do but not a trivial run) and a
//! CreateTime timestamp; no headers. Every benchmark reports 100 elements
//! (records) per iteration.

mod common;

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use topiclog::{BatchBuilder, Compression, Record, RecordBatch};

use common::XorShift;

const RECORDS: usize = 100;
const VALUE_LEN: usize = 100;
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

fn records() -> Vec<Record> {
    // Deterministic xorshift so every run encodes the same bytes.
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let hex = b"0123456789abcdef";
    (0..RECORDS)
        .map(|i| {
            let value: Vec<u8> = (0..VALUE_LEN).map(|_| hex[rng.below(16) as usize]).collect();
            Record::new().key(format!("key-{i:04}")).value(value).timestamp(BASE_TIMESTAMP + i as i64)
        })
        .collect()
}

fn encode(compression: Compression, records: &[Record]) -> RecordBatch {
    let mut builder = BatchBuilder::new(compression).base_offset(0);
    for record in records {
        builder.append(record).expect("append");
    }
    builder.build().expect("build")
}

fn decode_verify(bytes: &Bytes) -> usize {
    let batch = RecordBatch::new(bytes.clone()).expect("valid batch");
    let mut n = 0;
    for record in batch.records().expect("records") {
        let record = record.expect("record");
        black_box(record.key().map(<[u8]>::len));
        black_box(record.value().map(<[u8]>::len));
        n += 1;
    }
    n
}

fn bench_format(c: &mut Criterion) {
    let records = records();
    let mut group = c.benchmark_group("format");
    group
        .throughput(Throughput::Elements(RECORDS as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);

    for compression in Compression::ALL {
        let name = compression.name();
        let bytes = encode(compression, &records).into_bytes();
        assert_eq!(decode_verify(&bytes), RECORDS, "{name}: round trip");

        group.bench_function(BenchmarkId::new("encode", name), |b| b.iter(|| encode(compression, black_box(&records))));
        group.bench_function(BenchmarkId::new("decode_verify", name), |b| b.iter(|| decode_verify(black_box(&bytes))));
        if compression == Compression::None {
            group.bench_function("crc32c_baseline", |b| b.iter(|| crc32c::crc32c(black_box(&bytes[..]))));
        }
    }
    group.finish();
}

criterion_group!(benches, bench_format);
criterion_main!(benches);
