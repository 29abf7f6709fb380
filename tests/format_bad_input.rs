//! Bad bytes give typed errors that say what and where, never a panic.

use bytes::Bytes;
use topiclog::format::{BatchBuilder, Compression, FileBatches, Record, RecordBatch, Tail};
use topiclog::{BatchProblem, Error};

fn sample() -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).base_offset(100);
    b.append(&Record::new().key("a").value("1").timestamp(10)).unwrap();
    b.append(&Record::new().key("b").value("2").header("h", "x").timestamp(15)).unwrap();
    b.build().unwrap().into_bytes().to_vec()
}

/// Recomputes the CRC after a test tampers with covered bytes, so the
/// decoder gets past the checksum to the problem under test.
fn fix_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn new(bytes: Vec<u8>) -> Result<RecordBatch, Error> {
    RecordBatch::new(Bytes::from(bytes))
}

fn problem(result: Result<RecordBatch, Error>) -> BatchProblem {
    match result {
        Err(Error::MalformedBatch { problem, .. }) => problem,
        other => panic!("expected MalformedBatch, got {other:?}"),
    }
}

/// Offset of the first record inside `sample()`.
const RECORDS: usize = 61;

#[test]
fn every_truncation_is_an_error() {
    let full = sample();
    for cut in 0..full.len() {
        let err = new(full[..cut].to_vec()).unwrap_err();
        assert!(
            matches!(err, Error::MalformedBatch { problem: BatchProblem::Truncated { .. }, .. }),
            "cut {cut}: {err}"
        );
    }
    assert!(new(full).is_ok());
}

#[test]
fn wrong_magic_is_named() {
    let mut b = sample();
    b[16] = 1;
    assert!(matches!(new(b), Err(Error::UnsupportedMagic { magic: 1, .. })));
}

#[test]
fn wrong_crc_carries_both_values() {
    let mut b = sample();
    let stored = u32::from_be_bytes(b[17..21].try_into().unwrap());
    let last = b.len() - 1;
    b[last] ^= 0x40;
    match new(b) {
        Err(Error::CrcMismatch { stored: s, computed, position: None }) => {
            assert_eq!(s, stored);
            assert_ne!(computed, stored);
        }
        other => panic!("expected CrcMismatch, got {other:?}"),
    }
}

#[test]
fn batch_lengths_that_overflow_or_go_negative() {
    for (len, truncated) in [(i32::MAX, true), (i32::MIN, false), (-1, false), (48, false)] {
        let mut b = sample();
        b[8..12].copy_from_slice(&len.to_be_bytes());
        let p = problem(new(b));
        if truncated {
            assert!(matches!(p, BatchProblem::Truncated { .. }), "{len}: {p}");
        } else {
            assert_eq!(p, BatchProblem::InvalidLength { batch_length: len });
        }
    }
}

#[test]
fn extra_bytes_after_the_declared_length() {
    let mut b = sample();
    b.extend_from_slice(&[0, 0, 0]);
    assert_eq!(problem(new(b)), BatchProblem::TrailingBytes { extra: 3 });
}

#[test]
fn a_varint_that_never_ends() {
    let mut b = sample();
    b[RECORDS..RECORDS + 5].copy_from_slice(&[0xff; 5]);
    fix_crc(&mut b);
    assert_eq!(problem(new(b)), BatchProblem::VarintTooLong);
}

#[test]
fn a_record_length_past_the_end() {
    let mut b = sample();
    // Record 0 length: zigzag varint of 1_000_000.
    let mut len = Vec::new();
    let mut v = (1_000_000u32) << 1;
    while v >= 0x80 {
        len.push(v as u8 | 0x80);
        v >>= 7;
    }
    len.push(v as u8);
    b.splice(RECORDS..RECORDS + 1, len.iter().copied());
    let total = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&total.to_be_bytes());
    fix_crc(&mut b);
    assert_eq!(problem(new(b)), BatchProblem::RecordTruncated { record: 0 });
}

#[test]
fn a_negative_key_length() {
    let mut b = sample();
    // Record 0 = len, attrs, tsDelta, offsetDelta, keyLength: zigzag(-5) = 9.
    b[RECORDS + 4] = 9;
    fix_crc(&mut b);
    assert_eq!(problem(new(b)), BatchProblem::InvalidFieldLength { record: 0, length: -5 });
}

#[test]
fn record_counts_that_lie() {
    for (count, want) in [
        (3, BatchProblem::RecordCountMismatch { declared: 3, found: 2 }),
        (1, BatchProblem::TrailingRecordBytes { extra: 13 }),
        (-1, BatchProblem::InvalidHeader { field: "recordsCount", value: -1 }),
        (i32::MAX, BatchProblem::RecordCountMismatch { declared: i32::MAX, found: 2 }),
    ] {
        let mut b = sample();
        b[57..61].copy_from_slice(&count.to_be_bytes());
        fix_crc(&mut b);
        assert_eq!(problem(new(b)), want, "count {count}");
    }
}

#[test]
fn offset_deltas_out_of_range() {
    let mut b = sample();
    b[23..27].copy_from_slice(&0i32.to_be_bytes()); // lastOffsetDelta 0, but record 1 has delta 1
    fix_crc(&mut b);
    assert_eq!(problem(new(b)), BatchProblem::InvalidOffsetDelta { record: 1, delta: 1 });
}

#[test]
fn garbage_under_a_valid_crc_in_a_compressed_batch() {
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let mut b = sample();
        b[22] = codec.id();
        fix_crc(&mut b);
        assert!(matches!(new(b), Err(Error::Compression { codec: c, .. }) if c == codec), "{codec:?}");
    }
}

#[test]
fn an_unknown_codec_keeps_the_raw_bytes_readable() {
    let mut b = sample();
    b[22] = 6;
    fix_crc(&mut b);
    let batch = new(b.clone()).unwrap();
    assert_eq!(batch.as_bytes().as_ref(), b.as_slice());
    assert_eq!(batch.header().compression(), None);
    assert!(matches!(batch.records(), Err(Error::UnsupportedCompression { codec_id: 6, .. })));
}

#[test]
fn builder_rejects_bad_timestamps_and_empty_batches() {
    let mut b = BatchBuilder::new(Compression::None);
    assert!(matches!(b.append(&Record::new().timestamp(-2)), Err(Error::InvalidTimestamp { timestamp: -2 })));
    assert!(matches!(b.build(), Err(Error::EmptyBatch)));
}

#[test]
fn a_file_with_a_torn_tail_stops_cleanly_and_says_where() {
    let one = sample();
    let mut file = one.clone();
    file.extend_from_slice(&one);
    for cut in one.len()..file.len() {
        let mut it = FileBatches::new(Bytes::from(file[..cut].to_vec()), 4096);
        assert_eq!(it.by_ref().filter(|b| b.is_ok()).count(), 1, "cut {cut}");
        let want = if cut == one.len() {
            Tail::Clean
        } else {
            Tail::Torn { position: 4096 + one.len() as u64, bytes: (cut - one.len()) as u64 }
        };
        assert_eq!(it.tail(), Some(want), "cut {cut}");
    }
}

#[test]
fn a_zeroed_region_is_corruption_at_its_position() {
    let mut file = sample();
    let at = file.len() as u64;
    file.extend_from_slice(&[0; 100]);
    let mut it = FileBatches::new(Bytes::from(file), 0);
    assert!(it.next().unwrap().is_ok());
    let err = it.next().unwrap().unwrap_err();
    assert!(
        matches!(err, Error::MalformedBatch { position: Some(p), problem: BatchProblem::InvalidLength { batch_length: 0 } } if p == at),
        "{err}"
    );
    assert!(it.next().is_none());
    assert_eq!(it.tail(), Some(Tail::Corrupt { position: at }));
}

#[test]
fn a_crc_error_in_a_file_reports_the_batch_position() {
    let one = sample();
    let mut file = one.clone();
    file.extend_from_slice(&one);
    let last = file.len() - 1;
    file[last] ^= 1;
    let results: Vec<_> = FileBatches::new(Bytes::from(file), 0).collect();
    assert_eq!(results.len(), 2);
    assert!(matches!(results[1], Err(Error::CrcMismatch { position: Some(p), .. }) if p == one.len() as u64));
    let msg = results[1].as_ref().unwrap_err().to_string();
    assert!(msg.contains(&format!("at position {}", one.len())), "{msg}");
}

#[test]
fn a_legacy_batch_is_skipped_by_its_length() {
    let one = sample();
    let mut legacy = one.clone();
    legacy[16] = 1;
    let mut file = legacy;
    file.extend_from_slice(&one);
    let results: Vec<_> = FileBatches::new(Bytes::from(file), 0).collect();
    assert!(matches!(results[0], Err(Error::UnsupportedMagic { magic: 1, position: Some(0) })));
    assert!(results[1].is_ok());
}

#[test]
fn a_snappy_length_claim_the_block_cannot_back_is_refused() {
    // Found by the batch_decode fuzzer: 66 bytes whose snappy block claims
    // 256 MiB - 1 bytes made the decoder allocate them before decoding.
    if !Compression::Snappy.is_enabled() {
        return;
    }
    let hex = "000000000000000000000036ffffffff02a3500d4400020000000000000000000000000000000000000000ffffffffffffffffffffffffffff00000001ffffff7f00";
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    assert!(matches!(new(bytes), Err(Error::Compression { codec: Compression::Snappy, .. })));
}

#[cfg(feature = "snappy")]
#[test]
fn a_snappy_payload_cut_inside_its_xerial_header() {
    // snappy-java's magic, then 2 of the header's 8 version bytes: damaged,
    // not a payload of no records (the header's record count is kept at 2).
    let mut b = BatchBuilder::new(Compression::Snappy);
    b.append(&Record::new().value("1")).unwrap();
    b.append(&Record::new().value("2")).unwrap();
    let mut bytes = b.build().unwrap().into_bytes().to_vec();
    bytes.truncate(RECORDS);
    bytes.extend_from_slice(&[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0]);
    let batch_length = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&batch_length.to_be_bytes());
    fix_crc(&mut bytes);
    assert!(matches!(new(bytes), Err(Error::Compression { codec: Compression::Snappy, .. })));
}
