//! The borrowed record views ([`RecordRef`]) against the owned records
//! ([`ConsumerRecord`]) over random batches: every codec, control batches,
//! LogAppendTime, headers with null values, null keys and values; damaged
//! records (CRC still valid) must give the same records and then the same
//! error; and a partition scanned through `next_batch_views` /
//! `for_each_view` must give what its iterator gives.

use bytes::Bytes;
use proptest::prelude::*;
use topiclog::Partition;
use topiclog::{BatchBuilder, Compression, ConsumerRecord, Header, LogConfig, Record, RecordBatch, RecordRef};

/// Cases per property: `default`, or `PROPTEST_CASES` when set.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn bytes_of(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..max))
}

fn record() -> impl Strategy<Value = Record> {
    let header = ("[a-z]{0,6}", bytes_of(12))
        .prop_map(|(k, v)| v.map_or_else(|| Header::with_null_value(k.clone()), |v| Header::new(k.clone(), v)));
    (bytes_of(24), bytes_of(200), prop::collection::vec(header, 0..4), prop::option::of(0i64..1 << 45)).prop_map(
        |(k, v, headers, ts)| Record { key: k.map(Bytes::from), value: v.map(Bytes::from), headers, timestamp: ts },
    )
}

fn codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(Compression::ALL.iter().copied().filter(|c| c.is_enabled()).collect::<Vec<_>>())
}

/// Sets attribute bits of a built batch and recomputes its CRC.
fn with_attributes(batch: &RecordBatch, bits: u16) -> Bytes {
    let mut b = batch.as_bytes().to_vec();
    let attributes = u16::from_be_bytes([b[21], b[22]]) | bits;
    b[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

fn build(records: &[Record], codec: Compression, base: i64, append_time: Option<i64>) -> RecordBatch {
    let mut builder = BatchBuilder::new(codec).base_offset(base).default_timestamp(7);
    if let Some(t) = append_time {
        builder = builder.log_append_time(t);
    }
    for r in records {
        builder.append(r).unwrap();
    }
    builder.build().unwrap()
}

/// The owned and borrowed walks of `batch` agree record by record, and on
/// the error (its text) that ends either.
fn assert_same_walk(batch: &RecordBatch) -> Result<(), TestCaseError> {
    let owned: Vec<Result<ConsumerRecord, String>> = match batch.records() {
        Ok(records) => records.map(|r| r.map_err(|e| e.to_string())).collect(),
        Err(e) => vec![Err(e.to_string())],
    };
    let views: Vec<Result<RecordRef<'_>, String>> = match batch.record_refs() {
        Ok(refs) => refs.map(|r| r.map_err(|e| e.to_string())).collect(),
        Err(e) => vec![Err(e.to_string())],
    };
    prop_assert_eq!(owned.len(), views.len());
    for (o, v) in owned.iter().zip(&views) {
        match (o, v) {
            (Ok(o), Ok(v)) => {
                prop_assert!(v == o, "view {:?} != owned {:?}", v, o);
                prop_assert_eq!(v.header_count(), o.headers().len());
                prop_assert_eq!(&v.to_record(), &o.to_record());
                // record_at finds the same record.
                let at = batch.record_at(o.offset()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(at.is_some_and(|r| r == *o));
            }
            (Err(o), Err(v)) => prop_assert_eq!(o, v),
            _ => prop_assert!(false, "owned {:?} vs view {:?}", o, v),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    #[test]
    fn views_match_owned_records(
        records in prop::collection::vec(record(), 1..30),
        codec in codec(),
        base in 0i64..1 << 40,
        append_time in prop::option::of(0i64..1 << 45),
        control in any::<bool>(),
    ) {
        let batch = build(&records, codec, base, append_time);
        let batch = if control { RecordBatch::new(with_attributes(&batch, 0x30)).unwrap() } else { batch };
        assert_same_walk(&batch)?;
        // From the stored bytes too (lazy: records checked as walked).
        let lazy = topiclog::FileBatches::new_lazy(batch.as_bytes().clone(), 0).next().unwrap().unwrap();
        assert_same_walk(&lazy)?;
        prop_assert!(batch.record_at(base - 1).unwrap().is_none());
        prop_assert!(batch.record_at(batch.last_offset() + 1).unwrap().is_none());
    }

    /// Damaged records under a valid CRC: both walks give the same records
    /// up to the damage and the same error there (uncompressed batches, so
    /// the damage reaches the record framing).
    #[test]
    fn damaged_records_fail_alike(
        records in prop::collection::vec(record(), 1..12),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        count in prop::option::of(0i32..16),
    ) {
        let batch = build(&records, Compression::None, 0, None);
        let mut b = batch.as_bytes().to_vec();
        let i = 61 + at.index(b.len() - 61);
        b[i] = byte;
        if let Some(count) = count {
            b[57..61].copy_from_slice(&count.to_be_bytes());
        }
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        if let Some(Ok(lazy)) = topiclog::FileBatches::new_lazy(Bytes::from(b), 0).next() {
            assert_same_walk(&lazy)?;
        }
    }

    /// A partition read through views gives what its iterator gives, from
    /// any start offset, control batches skipped, and mixing both.
    #[test]
    fn partition_views_match_iterator(
        appends in prop::collection::vec((prop::collection::vec(record(), 1..8), codec()), 1..8),
        control_after in any::<prop::sample::Index>(),
        start in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let log = Partition::open(dir.path(), LogConfig::default().segment_bytes(4096)).unwrap();
        let control_at = control_after.index(appends.len());
        for (i, (records, codec)) in appends.iter().enumerate() {
            let batch = build(records, *codec, 0, None);
            log.append_batch(batch).unwrap();
            if i == control_at {
                // A control batch (a transaction marker's attributes) with its own offsets.
                let marker = build(&[Record::new().key("m").value("x")], Compression::None, log.log_end_offset(), None);
                let marker = RecordBatch::new(with_attributes(&marker, 0x30)).unwrap();
                let _ = log.append_with_offsets(marker);
            }
        }
        let end = log.log_end_offset();
        let from = start.index(end as usize + 1) as i64;
        let owned: Vec<ConsumerRecord> = log.read_from(from).unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert!(owned.windows(2).all(|w| w[0].offset() < w[1].offset()));
        prop_assert!(owned.first().is_none_or(|r| r.offset() >= from));

        let mut seen = Vec::new();
        let n = log.read_from(from).unwrap().for_each_view(|r| seen.push(r.to_record().key.map(|k| (r.offset(), k)))).unwrap();
        prop_assert_eq!(n as usize, owned.len());
        let want: Vec<_> = owned.iter().map(|r| r.key_bytes().map(|k| (r.offset(), k))).collect();
        prop_assert_eq!(&seen, &want);

        // Mixed: one record by the iterator, then a batch of views, and so on.
        let mut reader = log.read_from(from).unwrap();
        let mut offsets = Vec::new();
        loop {
            match reader.next() {
                Some(r) => offsets.push(r.unwrap().offset()),
                None => break,
            }
            match reader.next_batch_views(|r| offsets.push(r.offset())) {
                Some(r) => prop_assert!(r.unwrap() > 0),
                None => break,
            }
        }
        let want: Vec<i64> = owned.iter().map(ConsumerRecord::offset).collect();
        prop_assert_eq!(offsets, want);
        prop_assert_eq!(reader.position(), end);
        let caught_up = reader.next_batch_views(|_| ()).is_none();
        prop_assert!(caught_up);
    }
}

/// `next_views` with any limit visits the same records as the iterator,
/// stopping inside batches and going on from there.
#[test]
fn next_views_with_a_limit_stops_inside_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = topiclog::Partition::open(dir.path(), topiclog::LogConfig::default()).unwrap();
    for b in 0..7i64 {
        let batch: Vec<topiclog::Record> = (0..=b).map(|i| topiclog::Record::new().value(format!("{b}-{i}"))).collect();
        log.append(&batch).unwrap();
    }
    let all: Vec<(i64, Vec<u8>)> =
        log.read_from(0).unwrap().map(|r| r.unwrap()).map(|r| (r.offset(), r.value().unwrap().to_vec())).collect();
    for max in 1..10 {
        let mut reader = log.read_from(0).unwrap();
        let mut seen = Vec::new();
        while let Some(n) = reader.next_views(max, |r| seen.push((r.offset(), r.value().unwrap().to_vec()))) {
            assert!(n.unwrap() <= max);
        }
        assert_eq!(seen, all, "max {max}");
    }
}
