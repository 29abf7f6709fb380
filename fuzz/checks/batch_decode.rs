//! The `batch_decode` check, shared by the fuzz target
//! (`fuzz/fuzz_targets/batch_decode.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`).
//!
//! Decodes arbitrary bytes both as a file of batches ([`FileBatches`]) and as
//! one batch ([`RecordBatch::new`]). Decoding may fail, but must never panic,
//! and every batch that is accepted must satisfy the invariants asserted here.
//! Any panic, a failed assertion included, is a finding.

use std::ops::Range;

use bytes::Bytes;
use topiclog::format::{BatchHeader, FileBatches, LOG_OVERHEAD, MAGIC_V2, RecordBatch, Tail};
use topiclog::{BatchBuilder, Compression, ConsumerRecord, Error, Record, TimestampType};

/// The CRC-32C covers the batch from its attributes (byte 21) to its end.
const CRC_COVERED_FROM: usize = 21;

/// Runs every decoder over `data`, and over a copy whose `batchLength` and
/// CRC are made to fit it, and checks what they accept.
pub fn check(data: &[u8]) {
    check_bytes(data);
    // Mutated records almost never keep the CRC right, so without the fixed-up
    // copy the record decoding behind the CRC check would hardly be reached.
    if let Some(fixed) = with_fixed_length_and_crc(data)
        && fixed != data
    {
        check_bytes(&fixed);
    }
}

/// `data` as one batch: `batchLength` set to its size and the CRC recomputed.
fn with_fixed_length_and_crc(data: &[u8]) -> Option<Vec<u8>> {
    let batch_length = i32::try_from(data.len().checked_sub(LOG_OVERHEAD)?).ok()?;
    let mut fixed = data.to_vec();
    fixed.get_mut(8..12)?.copy_from_slice(&batch_length.to_be_bytes());
    let crc = crc32c::crc32c(fixed.get(CRC_COVERED_FROM..)?);
    fixed.get_mut(17..CRC_COVERED_FROM)?.copy_from_slice(&crc.to_be_bytes());
    Some(fixed)
}

fn check_bytes(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    let file = check_file_batches(&bytes);
    if let Ok(batch) = RecordBatch::new(bytes.clone()) {
        assert!(*batch.as_bytes() == bytes, "an accepted batch must be exactly its input");
        check_batch(&batch);
        // A buffer that is one valid batch is also a valid one-batch file.
        assert!(file.tail == Tail::Clean, "one valid batch read as a file ended {:?}", file.tail);
        assert!(
            matches!(file.accepted.as_slice(), [only] if *only == (0..bytes.len())),
            "one valid batch read as a file gave {:?}",
            file.accepted
        );
        assert!(file.errors == 0, "one valid batch read as a file gave an error");
    }
}

/// What a run of [`FileBatches`] over a buffer produced.
struct FileRun {
    tail: Tail,
    accepted: Vec<Range<usize>>,
    errors: usize,
}

fn check_file_batches(bytes: &Bytes) -> FileRun {
    let len = bytes.len() as u64;
    let mut iter = FileBatches::new(bytes.clone(), 0);
    let mut accepted = Vec::new();
    let mut errors = 0;
    let mut corrupt_at = None;
    let end = loop {
        let position = iter.file_position();
        // Only an error that ends iteration sets the tail early.
        assert!(iter.tail().is_some() == corrupt_at.is_some(), "tail {:?} set before iteration ended", iter.tail());
        assert!(position <= len, "file position {position} past the end ({len})");
        let Some(item) = iter.next() else { break position };
        assert!(corrupt_at.is_none(), "a batch was returned after a corrupt one");
        match item {
            Ok(batch) => {
                let size = batch.size_in_bytes() as u64;
                assert!(iter.file_position() == position + size, "file position does not advance by the batch size");
                let range = position as usize..(position + size) as usize;
                assert!(bytes.get(range.clone()) == Some(&batch.as_bytes()[..]), "batch bytes are not its file bytes");
                check_batch(&batch);
                accepted.push(range);
            }
            Err(Error::UnsupportedMagic { position: at, magic }) => {
                // Skipped by its length; iteration goes on.
                errors += 1;
                assert!(at == Some(position), "magic error at {at:?}, batch at {position}");
                assert!(magic != MAGIC_V2, "v2 batch reported as unsupported magic");
                assert!(
                    bytes.get(position as usize + 16) == Some(&(magic as u8)),
                    "reported magic is not the stored one"
                );
                assert!(iter.file_position() > position, "skipping a batch of another magic made no progress");
                assert!(iter.tail().is_none(), "iteration stopped after a batch of another magic");
            }
            Err(e) => {
                errors += 1;
                if let Some(at) = error_position(&e) {
                    assert!(at == Some(position), "error {e} reported at {at:?}, batch at {position}");
                }
                assert!(iter.tail() == Some(Tail::Corrupt { position }), "error {e} left tail {:?}", iter.tail());
                corrupt_at = Some(position);
            }
        }
    };
    let tail = iter.tail();
    assert!(iter.next().is_none(), "iteration resumed after it ended");
    assert!(iter.file_position() == len, "file position {} after the end of {len} bytes", iter.file_position());
    match tail {
        Some(Tail::Clean) => {
            assert!(end == len, "clean end at {end} of {len} bytes");
            assert!(corrupt_at.is_none(), "clean end after a corrupt batch");
        }
        Some(Tail::Torn { position, bytes: torn }) => {
            assert!(position == end && torn > 0 && position + torn == len, "torn tail {position}+{torn} of {len}");
        }
        Some(Tail::Corrupt { position }) => {
            assert!(corrupt_at == Some(position), "corrupt tail at {position} without an error there");
            assert!(position < len, "corrupt tail at {position} of {len} bytes");
        }
        None => panic!("iteration ended without a tail"),
    }
    FileRun { tail: tail.unwrap_or(Tail::Clean), accepted, errors }
}

/// The file position a batch error carries, for the variants that carry one.
fn error_position(e: &Error) -> Option<Option<u64>> {
    match e {
        Error::CrcMismatch { position, .. }
        | Error::MalformedBatch { position, .. }
        | Error::UnsupportedMagic { position, .. }
        | Error::UnsupportedCompression { position, .. }
        | Error::Compression { position, .. } => Some(*position),
        _ => None,
    }
}

/// Invariants of one accepted batch.
fn check_batch(batch: &RecordBatch) {
    let h = *batch.header();
    assert!(BatchHeader::parse_verified(batch.as_bytes()).ok() == Some(h), "header disagrees with its bytes");
    assert!(h.magic == MAGIC_V2, "accepted magic {}", h.magic);
    assert!(h.record_count >= 0 && h.last_offset_delta >= 0, "accepted negative count or delta: {h:?}");
    assert!(h.size_in_bytes().ok() == Some(batch.size_in_bytes() as u64), "batchLength disagrees with the size");
    assert!(batch.base_offset() == h.base_offset && batch.last_offset() == h.last_offset());
    assert!(batch.record_count() == h.record_count);

    let codec = h.compression();
    let mut records = match batch.records() {
        Ok(records) => records,
        Err(Error::UnsupportedCompression { codec_id, .. }) => {
            assert!(codec_id == h.compression_id(), "unsupported codec {codec_id}, header says {}", h.compression_id());
            assert!(codec.is_none_or(|c| !c.is_enabled()), "records of enabled codec {codec:?} refused");
            return;
        }
        Err(e) => panic!("records() failed on an accepted batch: {e}"),
    };
    assert!(codec.is_some_and(|c| c.is_enabled()), "records of unknown codec {} given", h.compression_id());

    let count = h.record_count as usize;
    assert!(records.size_hint() == (count, Some(count)), "size_hint {:?} for {count} records", records.size_hint());
    let mut decoded = Vec::with_capacity(count.min(1 << 16));
    for record in records.by_ref() {
        match record {
            Ok(r) => decoded.push(r),
            Err(e) => panic!("record {} of an accepted batch failed: {e}", decoded.len()),
        }
    }
    assert!(records.next().is_none(), "records resumed after ending");
    assert!(decoded.len() == count, "{} records yielded, header says {count}", decoded.len());

    let mut previous_delta = None;
    for r in &decoded {
        // Offsets are base + delta, wrapping like Kafka's Java arithmetic;
        // without overflow this is `base_offset..=last_offset`.
        let delta = r.offset().wrapping_sub(h.base_offset);
        assert!((0..=i64::from(h.last_offset_delta)).contains(&delta), "offset delta {delta} outside the batch");
        if let Some(last) = h.base_offset.checked_add(i64::from(h.last_offset_delta)) {
            assert!((h.base_offset..=last).contains(&r.offset()), "offset {} outside the batch", r.offset());
        }
        assert!(previous_delta.is_none_or(|p| delta > p), "offset delta {delta} after {previous_delta:?}");
        previous_delta = Some(delta);
        assert!(r.timestamp_type() == h.timestamp_type(), "record timestamp type differs from its batch");
        if h.timestamp_type() == TimestampType::LogAppendTime {
            assert!(r.timestamp() == h.max_timestamp, "LogAppendTime record not stamped maxTimestamp");
        }
    }

    if codec == Some(Compression::None) {
        check_zero_copy(batch, &decoded);
        check_header_rewrites(batch, &decoded);
        check_reencode(&h, &decoded);
    }
}

/// Uncompressed records are slices of the batch's own bytes.
fn check_zero_copy(batch: &RecordBatch, records: &[ConsumerRecord]) {
    let whole = batch.as_bytes().as_ptr_range();
    let inside = |b: &[u8]| {
        let r = b.as_ptr_range();
        b.is_empty() || (whole.start <= r.start && r.end <= whole.end)
    };
    for r in records {
        assert!(r.key().is_none_or(inside) && r.value().is_none_or(inside), "uncompressed key or value was copied");
        let shared = r.key_bytes().is_none_or(|k| inside(&k)) && r.value_bytes().is_none_or(|v| inside(&v));
        assert!(shared, "uncompressed key or value bytes were copied");
        for h in r.headers() {
            assert!(inside(h.key()) && h.value().is_none_or(|v| inside(v)), "uncompressed header was copied");
        }
    }
}

/// The base offset and leader epoch lie outside the CRC: rewriting them keeps
/// the batch valid and shifts the record offsets.
fn check_header_rewrites(batch: &RecordBatch, records: &[ConsumerRecord]) {
    let shift = 1_000_003;
    let mut moved = batch.clone();
    moved.set_base_offset(batch.base_offset().wrapping_add(shift));
    moved.set_partition_leader_epoch(batch.header().partition_leader_epoch.wrapping_add(7));
    let reread = match RecordBatch::new(moved.as_bytes().clone()) {
        Ok(b) => b,
        Err(e) => panic!("batch with a rewritten base offset or epoch refused: {e}"),
    };
    assert!(reread.header() == moved.header(), "rewritten header reads back differently");
    let offsets: Vec<i64> = match reread.records() {
        Ok(rs) => {
            rs.map(|r| r.unwrap_or_else(|e| panic!("record of a rewritten batch failed: {e}")).offset()).collect()
        }
        Err(e) => panic!("records() of a rewritten batch failed: {e}"),
    };
    let want: Vec<i64> = records.iter().map(|r| r.offset().wrapping_add(shift)).collect();
    assert!(offsets == want, "offsets after rewriting the base offset: {offsets:?}, want {want:?}");
}

/// Re-encoding the records with [`BatchBuilder`] (same base offset and
/// timestamps) gives back the same keys, values, headers and timestamps.
fn check_reencode(h: &BatchHeader, records: &[ConsumerRecord]) {
    let log_append_time = h.timestamp_type() == TimestampType::LogAppendTime;
    let mut builder = BatchBuilder::new(Compression::None).base_offset(h.base_offset);
    if log_append_time {
        builder = builder.log_append_time(h.max_timestamp);
    }
    for r in records {
        let record = Record { timestamp: if log_append_time { None } else { Some(r.timestamp()) }, ..r.to_record() };
        match builder.append(&record) {
            Ok(_) => {}
            // The builder refuses timestamps a reader tolerates.
            Err(Error::InvalidTimestamp { timestamp }) => {
                assert!(timestamp == r.timestamp() && timestamp < -1, "valid timestamp {timestamp} refused");
                return;
            }
            Err(e) => panic!("re-encoding a decoded record failed: {e}"),
        }
    }
    let built = match builder.build() {
        Ok(b) => b,
        Err(Error::EmptyBatch) if records.is_empty() => return,
        Err(e) => panic!("building the re-encoded batch failed: {e}"),
    };
    let reread = match RecordBatch::new(built.as_bytes().clone()) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded batch does not validate: {e}"),
    };
    assert!(reread.header() == built.header(), "re-encoded header reads back differently");
    let contiguous = records.iter().enumerate().all(|(i, r)| r.offset() == h.base_offset.wrapping_add(i as i64));
    for view in [&built, &reread] {
        let again: Vec<ConsumerRecord> = match view.records() {
            Ok(rs) => rs.map(|r| r.unwrap_or_else(|e| panic!("re-encoded record failed: {e}"))).collect(),
            Err(e) => panic!("re-encoded records() failed: {e}"),
        };
        assert!(again.len() == records.len(), "re-encoded {} records of {}", again.len(), records.len());
        for (i, (a, r)) in again.iter().zip(records).enumerate() {
            assert!(a.key() == r.key() && a.value() == r.value(), "record {i}: key or value changed");
            assert!(a.headers() == r.headers(), "record {i}: headers changed");
            assert!(a.timestamp() == r.timestamp(), "record {i}: timestamp {} became {}", r.timestamp(), a.timestamp());
            assert!(a.timestamp_type() == r.timestamp_type(), "record {i}: timestamp type changed");
            assert!(a.offset() == h.base_offset.wrapping_add(i as i64), "record {i}: builder offset");
            if contiguous {
                assert!(a.offset() == r.offset(), "record {i}: offset changed");
            }
        }
    }
}
