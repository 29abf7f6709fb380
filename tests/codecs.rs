//! Each codec round-trips large and small payloads; with a codec's feature
//! disabled, its batches stay readable as bytes and their records give
//! `UnsupportedCompression`. CI runs this file with and without default features.

use bytes::Bytes;
use topiclog::Error;
use topiclog::format::{BatchBuilder, Compression, FileBatches, Record, RecordBatch};

fn records(n: usize, value_len: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new().key(format!("key-{i}")).value(vec![(i % 251) as u8; value_len]).timestamp(1_000 + i as i64)
        })
        .collect()
}

fn build(codec: Compression, records: &[Record]) -> Result<RecordBatch, Error> {
    let mut b = BatchBuilder::new(codec);
    for r in records {
        b.append(r)?;
    }
    b.build()
}

#[test]
fn enabled_codecs_round_trip_across_block_boundaries() {
    // 300 KiB of records spans many snappy (32 KiB) and lz4 (64 KiB) blocks.
    let input = records(300, 1024);
    for codec in Compression::ALL.into_iter().filter(|c| c.is_enabled()) {
        let built = build(codec, &input).unwrap();
        if codec != Compression::None {
            assert!(built.size_in_bytes() < 300 * 1024 / 4, "{codec:?} did not compress repetitive data");
        }
        let decoded = RecordBatch::new(built.as_bytes().clone()).unwrap();
        let got: Vec<_> = decoded.records().unwrap().map(Result::unwrap).collect();
        assert_eq!(got.len(), input.len(), "{codec:?}");
        for (g, w) in got.iter().zip(&input) {
            assert_eq!(g.value(), w.value.as_deref(), "{codec:?}");
            assert_eq!(g.key(), w.key.as_deref(), "{codec:?}");
        }
    }
}

/// A batch with codec id `codec` over an arbitrary payload and a valid CRC.
fn opaque_compressed_batch(codec: u8) -> Vec<u8> {
    let mut b = build(Compression::None, &records(3, 10)).unwrap().into_bytes().to_vec();
    b[22] = codec;
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn disabled_codecs_give_a_typed_error_and_keep_the_bytes() {
    for codec in Compression::ALL.into_iter().filter(|c| !c.is_enabled()) {
        let raw = opaque_compressed_batch(codec.id());
        let batch = RecordBatch::new(Bytes::from(raw.clone())).expect("header and CRC are valid");
        assert_eq!(batch.as_bytes().as_ref(), raw.as_slice());
        assert_eq!(batch.record_count(), 3);
        assert!(
            matches!(batch.records(), Err(Error::UnsupportedCompression { codec_id, .. }) if codec_id == codec.id())
        );
        assert!(matches!(build(codec, &records(1, 1)), Err(Error::UnsupportedCompression { .. })));
        // In a file, such a batch does not stop iteration.
        let mut file = raw.clone();
        file.extend_from_slice(&raw);
        assert_eq!(FileBatches::new(Bytes::from(file), 0).filter(|b| b.is_ok()).count(), 2);
    }
}

#[test]
fn real_gzip_batches_from_kafka_decode_or_report_unsupported() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../shared/fixtures/kafka-real/toy-node-log-collector-cp-kafka-gzip/topic-logx-001-0/00000000000000000000.log",
    );
    let Ok(data) = std::fs::read(&path) else {
        eprintln!("SKIPPED: {} is absent", path.display());
        return;
    };
    let mut n = 0;
    for batch in FileBatches::new(Bytes::from(data), 0) {
        let batch = batch.unwrap();
        assert_eq!(batch.header().compression(), Some(Compression::Gzip));
        match batch.records() {
            Ok(records) => assert!(records.map(Result::unwrap).all(|r| r.value().is_some())),
            Err(e) => {
                assert!(!Compression::Gzip.is_enabled());
                assert!(matches!(e, Error::UnsupportedCompression { codec_id: 1, .. }));
            }
        }
        n += 1;
    }
    assert!(n > 0);
}
