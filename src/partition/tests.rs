use super::*;
use crate::config::CompressionType;
use crate::format::{BorrowedRecord, Compression, Record, TimestampType};

/// `append_borrowed` writes exactly the bytes `append` writes for the same
/// records (keys, null values, headers, missing timestamps), in both
/// timestamp types.
#[test]
fn append_borrowed_writes_what_append_writes() {
    let records = vec![
        Record::new().key("k").value("v").timestamp(5),
        Record::new().value("no timestamp"),
        Record::new().key("tombstone").header("h", "x").push_header(crate::Header::with_null_value("n")),
    ];
    let refs: Vec<BorrowedRecord<'_>> = records.iter().map(BorrowedRecord::from).collect();
    for config in [LogConfig::default(), LogConfig::default().message_timestamp_type(TimestampType::LogAppendTime)] {
        let clock = Arc::new(crate::clock::ManualClock::new(1_000));
        let open = |dir: &Path| {
            let options =
                PartitionOptions { config: config.clone(), clock: clock.clone(), ..PartitionOptions::default() };
            Partition::open_with(dir, options).unwrap()
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (pa, pb) = (open(a.path()), open(b.path()));
        for _ in 0..3 {
            assert_eq!(pa.append(&records).unwrap(), pb.append_borrowed(&refs).unwrap());
        }
        assert_eq!(pa.read(0, u64::MAX).unwrap(), pb.read(0, u64::MAX).unwrap());
        assert!(matches!(pb.append_borrowed(&[]), Err(Error::EmptyBatch)));
    }
}

/// `read_record_at`'s quick path answers every offset of uncompressed
/// batches itself (with and without the offset index's help), and hands
/// compressed ones back to the general path.
#[test]
fn point_reads_take_the_quick_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig::default().index_interval_bytes(100);
    let p = Partition::open(dir.path(), config).unwrap();
    for n in [1, 5, 20, 3, 1] {
        p.append(&vec![Record::new().key("k").value("some value"); n]).unwrap();
    }
    let active = p.inner.writer.lock().active.clone();
    assert!(active.offset_index_entries().len() > 1);
    for offset in 0..p.log_end_offset() {
        assert!(matches!(active.point_read(offset, |r| r.offset()), Ok(Ok(o)) if o == offset), "{offset}");
    }
    let end = p.log_end_offset();
    assert!(matches!(active.point_read(end, |r| r.offset()), Ok(Err(_))), "past the data");
    if !Compression::Gzip.is_enabled() {
        return;
    }
    p.set_config(LogConfig::default().compression_type(CompressionType::Codec(Compression::Gzip))).unwrap();
    p.append(&[Record::new().value("compressed")]).unwrap();
    assert!(matches!(active.point_read(end, |r| r.offset()), Ok(Err(_))), "compressed");
    assert_eq!(p.read_record_at(end, |r| r.value().map(<[u8]>::to_vec)).unwrap(), Some(Some(b"compressed".to_vec())));
}

/// A batch in the segment file past the published log end (an append
/// between writing the segment and moving the log end) is not returned by
/// a reader: found by tests/concurrency_stress.rs, where a consumer then
/// held a position past the log end and reset to `auto.offset.reset`.
#[test]
fn readers_stop_at_the_published_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    p.append(&[Record::new().key("k").value("published")]).unwrap();
    // The same batch again at offset 1, written as `append_locked` writes
    // it, but the log end not yet moved (the base offset is outside the CRC).
    let mut unpublished = p.read(0, u64::MAX).unwrap().to_vec();
    unpublished[..8].copy_from_slice(&1i64.to_be_bytes());
    p.inner.writer.lock().active.append(&unpublished).unwrap();
    assert_eq!(p.log_end_offset(), 1);
    let mut reader = p.read_from(0).unwrap();
    assert_eq!(reader.next().transpose().unwrap().map(|r| r.offset()), Some(0));
    assert!(reader.next().is_none(), "a record past the log end");
    assert_eq!(reader.position(), 1);
    let mut views = p.read_from(0).unwrap();
    assert_eq!(views.for_each_view(|r| assert!(r.offset() < 1)).unwrap(), 1);
}

/// An I/O failure on a write path poisons the partition: later writes get
/// `Poisoned` (reads still work) until it is reopened.
#[test]
fn an_io_failure_poisons_writes_until_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    p.append(&[Record::new().value("before")]).unwrap();
    {
        let mut writer = p.inner.writer.lock();
        let failed: Result<()> = Err(Error::io("fsync segment log", dir.path(), std::io::Error::other("EIO")));
        assert!(p.poison_on_io(&mut writer, failed).is_err());
    }
    for result in [p.append(&[Record::new().value("after")]).map(|_| ()), p.flush(), p.roll(), p.truncate_to(0)] {
        assert!(matches!(result, Err(Error::Poisoned { .. })), "{result:?}");
    }
    assert_eq!(p.read_from(0).unwrap().count(), 1, "reads still work");
    drop(p);
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(p.append(&[Record::new().value("after reopen")]).unwrap().first_offset, 1);
}
