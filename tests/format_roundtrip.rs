//! Round trip: arbitrary records through every codec decode to what went in.

use bytes::Bytes;
use proptest::prelude::*;
use topiclog::format::{BatchBuilder, Compression, FileBatches, Header, Record, RecordBatch};

fn bytes_opt() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..300))
}

fn header() -> impl Strategy<Value = Header> {
    // A small key alphabet so that repeated header keys are common.
    (prop::sample::select(vec!["", "h", "trace", "h"]), bytes_opt()).prop_map(|(k, v)| match v {
        Some(v) => Header::new(k, v),
        None => Header::with_null_value(k),
    })
}

fn timestamp() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        Just(Some(-1)),
        (0i64..=i64::MAX / 4).prop_map(Some),
        (1_600_000_000_000i64..1_800_000_000_000).prop_map(Some),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (bytes_opt(), bytes_opt(), prop::collection::vec(header(), 0..4), timestamp()).prop_map(|(k, v, headers, ts)| {
        Record { key: k.map(Bytes::from), value: v.map(Bytes::from), headers, timestamp: ts }
    })
}

fn codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(Compression::ALL.iter().copied().filter(|c| c.is_enabled()).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn encode_decode_is_identity(
        records in prop::collection::vec(record(), 1..40),
        codec in codec(),
        base_offset in 0i64..=i64::MAX / 2,
        default_ts in 0i64..=i64::MAX / 4,
    ) {
        let mut builder = BatchBuilder::new(codec).base_offset(base_offset).default_timestamp(default_ts);
        for (i, r) in records.iter().enumerate() {
            prop_assert_eq!(builder.append(r).unwrap(), i as i32);
        }
        let built = builder.build().unwrap();
        // Decode from the raw bytes, as a reader of the file would.
        let decoded = RecordBatch::new(built.as_bytes().clone()).unwrap();
        prop_assert_eq!(decoded.header(), built.header());
        prop_assert_eq!(decoded.record_count() as usize, records.len());
        prop_assert_eq!(decoded.header().compression(), Some(codec));
        let want_max = records.iter().map(|r| r.timestamp.unwrap_or(default_ts)).max().unwrap();
        prop_assert_eq!(decoded.max_timestamp(), want_max);

        let got: Vec<_> = decoded.records().unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(got.len(), records.len());
        for (i, (g, w)) in got.iter().zip(&records).enumerate() {
            prop_assert_eq!(g.offset(), base_offset + i as i64);
            prop_assert_eq!(g.timestamp(), w.timestamp.unwrap_or(default_ts));
            prop_assert_eq!(g.key(), w.key.as_deref());
            prop_assert_eq!(g.value(), w.value.as_deref());
            prop_assert_eq!(g.headers(), w.headers.as_slice());
        }

        // Concatenated batches read back as a file, each rebased.
        let mut file = Vec::new();
        for k in 0..3 {
            let mut b = decoded.clone();
            b.set_base_offset(base_offset + k * 1000);
            file.extend_from_slice(b.as_bytes());
        }
        let batches: Vec<_> = FileBatches::new(Bytes::from(file), 0).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(batches.len(), 3);
        prop_assert_eq!(batches[2].base_offset(), base_offset + 2000);
    }
}

/// Cases per property: `default`, or `PROPTEST_CASES` when set (for longer runs).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
