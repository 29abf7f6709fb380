//! The `segment_recovery` check, shared by the fuzz target
//! (`fuzz/fuzz_targets/segment_recovery.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`).
//!
//! Writes arbitrary bytes as one segment's `.log`, `.index` and `.timeindex`,
//! opens it read-write and (a copy) read-only, recovers it and checks what
//! recovery kept: whole CRC-valid batches with increasing offsets, indexes
//! that point at them, reads that find them, a recovery that changes nothing
//! when repeated, a segment that takes an append and reopens as it was left.
//! Opening and recovering must never fail or panic; any panic, a failed
//! assertion included, is a finding.
//!
//! Input layout (missing bytes read as zero; lengths are clamped to what is left):
//!
//! | bytes | meaning |
//! |---|---|
//! | 0 | flags: bit 0 no `.index` file, bit 1 no `.timeindex` file, bit 2 base offset taken from the log (see byte 1), bit 3 recompute every batch's CRC, bits 4-7 `index.interval.bytes` ([`INTERVALS`]) |
//! | 1 | with flag bit 2: subtracted from the first batch's base offset to give the segment's base offset; else the base offset itself |
//! | 2 | bits 0-3: `segment.index.bytes` ([`MAX_INDEX_SIZES`]) |
//! | 3-4 | length of the `.index` part (big-endian) |
//! | 5-6 | length of the `.timeindex` part (big-endian) |
//! | 7.. | the `.index` part, the `.timeindex` part, then the `.log` |

use std::path::Path;

use bytes::Bytes;
use topiclog::format::{BatchHeader, FileBatches, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD, Tail, TimestampType};
use topiclog::index::{OffsetPosition, TimestampOffset, relative_offset};
use topiclog::segment::{
    INDEX_SUFFIX, LOG_SUFFIX, LogSegment, OpenMode, RecoveryReport, SegmentConfig, TIME_INDEX_SUFFIX, segment_file,
};
use topiclog::{BatchBuilder, BatchProblem, Compression, Error, Record, RecordBatch};

/// Bytes before the file parts.
pub const HEADER_LEN: usize = 7;
/// Flag: write no `.index`.
pub const NO_INDEX: u8 = 0x01;
/// Flag: write no `.timeindex`.
pub const NO_TIME_INDEX: u8 = 0x02;
/// Flag: the base offset is the first batch's base offset less byte 1.
pub const BASE_FROM_LOG: u8 = 0x04;
/// Flag: recompute the CRC of every whole v2 batch of the `.log` part, so
/// that mutations inside batches reach the checks behind the CRC.
pub const FIX_CRCS: u8 = 0x08;
/// `index.interval.bytes`, chosen by the high nibble of byte 0.
pub const INTERVALS: [u64; 16] =
    [64, 0, 1, 16, 32, 100, 128, 256, 512, 1000, 1024, 2048, 4096, 8192, 1 << 20, i32::MAX as u64];
/// `segment.index.bytes` (at least one time-index entry, as the config
/// requires), chosen by the low nibble of byte 2.
pub const MAX_INDEX_SIZES: [u64; 16] = [4096, 12, 13, 16, 24, 25, 36, 48, 60, 96, 120, 240, 480, 1024, 2048, 65536];

/// Where the part the CRC covers starts (the attributes).
const CRC_COVERED_FROM: usize = 21;

/// One decoded fuzz input: the segment's files and settings.
#[derive(Debug, Clone)]
pub struct Input {
    pub base_offset: i64,
    pub config: SegmentConfig,
    pub index: Option<Vec<u8>>,
    pub time_index: Option<Vec<u8>>,
    pub log: Vec<u8>,
    pub fixed_crcs: bool,
}

impl Input {
    pub fn parse(data: &[u8]) -> Self {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        let flags = byte(0);
        let mut rest = data.get(HEADER_LEN..).unwrap_or_default();
        let mut take = |len: usize| {
            let (part, after) = rest.split_at(len.min(rest.len()));
            rest = after;
            part.to_vec()
        };
        let index = take(usize::from(u16::from_be_bytes([byte(3), byte(4)])));
        let time_index = take(usize::from(u16::from_be_bytes([byte(5), byte(6)])));
        let mut log = rest.to_vec();
        let fixed_crcs = flags & FIX_CRCS != 0;
        if fixed_crcs {
            fix_crcs(&mut log);
        }
        let base_offset = if flags & BASE_FROM_LOG != 0 {
            let first = log.first_chunk::<8>().map_or(0, |b| i64::from_be_bytes(*b));
            first.saturating_sub(i64::from(byte(1))).max(0)
        } else {
            i64::from(byte(1))
        };
        let config = SegmentConfig {
            index_interval_bytes: INTERVALS[usize::from(flags >> 4)],
            max_index_size: MAX_INDEX_SIZES[usize::from(byte(2) & 0x0f)],
            // Appends through a preallocated mapping, or with pwrite.
            preallocate_bytes: if byte(2) & 0x10 == 0 { 4096 } else { 0 },
        };
        Self {
            base_offset,
            config,
            index: (flags & NO_INDEX == 0).then_some(index),
            time_index: (flags & NO_TIME_INDEX == 0).then_some(time_index),
            log,
            fixed_crcs,
        }
    }

    /// Writes the segment's files into `dir` (created).
    fn write_to(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(segment_file(dir, self.base_offset, LOG_SUFFIX), &self.log).unwrap();
        if let Some(index) = &self.index {
            std::fs::write(segment_file(dir, self.base_offset, INDEX_SUFFIX), index).unwrap();
        }
        if let Some(time_index) = &self.time_index {
            std::fs::write(segment_file(dir, self.base_offset, TIME_INDEX_SUFFIX), time_index).unwrap();
        }
    }
}

/// Recomputes the CRC of every v2 batch, walking the log by `batchLength`.
fn fix_crcs(log: &mut [u8]) {
    let mut at = 0usize;
    while let Some(head) = log.get(at..at + RECORD_BATCH_OVERHEAD) {
        let batch_length = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let Ok(len) = usize::try_from(batch_length) else { break };
        let size = LOG_OVERHEAD + len;
        if size < RECORD_BATCH_OVERHEAD {
            break;
        }
        let Some(batch) = log.get_mut(at..at + size) else { break };
        if batch[16] == 2 {
            let crc = crc32c::crc32c(&batch[CRC_COVERED_FROM..]);
            batch[17..CRC_COVERED_FROM].copy_from_slice(&crc.to_be_bytes());
        }
        at += size;
    }
}

/// A scratch directory, in memory when `/dev/shm` is there.
fn scratch_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap()
}

pub fn check(data: &[u8]) {
    let input = Input::parse(data);
    let scratch = scratch_dir();
    let rw_dir = scratch.path().join("rw");
    let ro_dir = scratch.path().join("ro");
    input.write_to(&rw_dir);
    input.write_to(&ro_dir);
    let rw = check_mode(&input, &rw_dir, OpenMode::ReadWrite);
    let ro = check_mode(&input, &ro_dir, OpenMode::ReadOnly);
    // Both modes keep the same batches and build the same indexes.
    assert!(rw.valid_bytes == ro.valid_bytes, "read-write kept {} bytes, read-only {}", rw.valid_bytes, ro.valid_bytes);
    assert!(rw.batches == ro.batches, "read-write kept {} batches, read-only {}", rw.batches, ro.batches);
    assert!(
        rw.next_offset == ro.next_offset,
        "next offset {} read-write, {} read-only",
        rw.next_offset,
        ro.next_offset
    );
    assert!(rw.offset_entries == ro.offset_entries, "offset index differs between read-write and read-only");
    assert!(rw.time_entries == ro.time_entries, "time index differs between read-write and read-only");
}

/// What recovery left, for comparing the two modes.
struct Recovered {
    valid_bytes: u64,
    batches: u64,
    next_offset: i64,
    offset_entries: Vec<OffsetPosition>,
    time_entries: Vec<TimestampOffset>,
}

/// A batch of the recovered `.log`.
#[derive(Debug, Clone, Copy)]
struct Kept {
    position: u64,
    size: u64,
    header: BatchHeader,
}

fn log_len(dir: &Path, base_offset: i64) -> u64 {
    std::fs::metadata(segment_file(dir, base_offset, LOG_SUFFIX)).unwrap().len()
}

fn check_mode(input: &Input, dir: &Path, mode: OpenMode) -> Recovered {
    let base = input.base_offset;
    let original_len = input.log.len() as u64;
    let writable = mode == OpenMode::ReadWrite;
    let (seg, open_report) = match LogSegment::open(dir, base, input.config, mode) {
        Ok(opened) => opened,
        Err(e) => panic!("{mode:?} open of base offset {base} failed: {e}"),
    };
    assert!(seg.base_offset() == base && seg.mode() == mode);
    if let Some(r) = &open_report {
        check_report_sums(r, base, original_len);
        assert!(seg.size() == r.valid_bytes, "size {} after an open that kept {} bytes", seg.size(), r.valid_bytes);
        let on_disk = log_len(dir, base);
        let want = if writable { r.valid_bytes } else { original_len };
        assert!(on_disk == want, "{mode:?} open left a {on_disk}-byte log, want {want} ({r:?})");
    } else {
        assert!(seg.size() == original_len, "healthy open gave size {} of {original_len}", seg.size());
    }
    let opened_next = seg.next_offset();
    let opened_max_ts = seg.max_timestamp();
    let opened_offset_entries = seg.offset_index_entries();
    let opened_time_entries = seg.time_index_entries();

    let len_before = log_len(dir, base);
    let report = match seg.recover(u64::MAX) {
        Ok(r) => r,
        Err(e) => panic!("{mode:?} recover failed: {e}"),
    };
    check_report_sums(&report, base, len_before);
    if let Some(r) = &open_report {
        assert!(r.valid_bytes == report.valid_bytes && r.batches == report.batches, "{r:?} then {report:?}");
    }
    let on_disk = log_len(dir, base);
    let want = if writable { report.valid_bytes } else { original_len };
    assert!(on_disk == want, "{mode:?} recovery left a {on_disk}-byte log, want {want} ({report:?})");
    assert!(seg.size() == report.valid_bytes, "size {} after recovery kept {}", seg.size(), report.valid_bytes);

    let file = Bytes::from(std::fs::read(seg.log_path()).unwrap());
    let valid = file.slice(..report.valid_bytes as usize);
    let kept = walk_batches(&valid, input.fixed_crcs);
    assert!(kept.len() as u64 == report.batches, "{} batches in the kept bytes, report says {report:?}", kept.len());
    check_offsets(base, &kept);
    let next = seg.next_offset();
    let want_next = match kept.last() {
        Some(b) => b.header.last_offset().checked_add(1),
        None => Some(base),
    };
    assert!(Some(next) == want_next, "next offset {next}, batches end at {:?}", kept.last().map(|b| b.header));
    let max_ts = seg.max_timestamp();
    let want_max_ts = kept.iter().map(|b| b.header.max_timestamp).max().unwrap_or(-1).max(-1);
    assert!(max_ts == want_max_ts, "max timestamp {max_ts}, batches say {want_max_ts}");

    let offset_entries = seg.offset_index_entries();
    let time_entries = seg.time_index_entries();
    check_offset_index(&input.config, &kept, &offset_entries);
    check_time_index(&input.config, &kept, &time_entries);

    // An open that found nothing to recover read exactly what recovery builds.
    if open_report.is_none() && report.truncated_bytes == 0 && opened_offset_entries == offset_entries {
        assert!(opened_next == next, "healthy open gave next offset {opened_next}, recovery {next}");
        if opened_time_entries == time_entries {
            assert!(opened_max_ts == max_ts, "healthy open gave max timestamp {opened_max_ts}, recovery {max_ts}");
        }
    }

    check_reads(&seg, &valid, &kept);
    check_find_by_timestamp(&seg, base, &kept, input.fixed_crcs);

    // Recovering again changes nothing.
    let again = match seg.recover(u64::MAX) {
        Ok(r) => r,
        Err(e) => panic!("{mode:?} second recover failed: {e}"),
    };
    if writable {
        let want = RecoveryReport { truncated_bytes: 0, cause: None, ..report.clone() };
        assert!(again == want, "second recovery {again:?} after {report:?}");
    } else {
        assert!(again == report, "second read-only recovery {again:?} after {report:?}");
    }
    assert!(seg.offset_index_entries() == offset_entries, "second recovery changed the offset index");
    assert!(seg.time_index_entries() == time_entries, "second recovery changed the time index");
    assert!(seg.next_offset() == next && seg.max_timestamp() == max_ts, "second recovery changed the figures");

    let recovered = Recovered {
        valid_bytes: report.valid_bytes,
        batches: report.batches,
        next_offset: next,
        offset_entries: offset_entries.clone(),
        time_entries: time_entries.clone(),
    };
    let appended = check_append(&seg, base, mode);
    let (final_next, final_max_ts) = (seg.next_offset(), seg.max_timestamp());
    let final_offset_entries = seg.offset_index_entries();
    let final_time_entries = seg.time_index_entries();
    let final_size = seg.size();
    drop(seg);

    // Reopening finds the segment as it was left.
    let (reopened, reopen_report) = match LogSegment::open(dir, base, input.config, mode) {
        Ok(opened) => opened,
        Err(e) => panic!("{mode:?} reopen failed: {e}"),
    };
    if writable {
        assert!(reopen_report.is_none(), "a recovered segment recovered again on reopen: {reopen_report:?}");
        assert!(reopened.offset_index_entries() == final_offset_entries, "offset index changed by the reopen");
        // An all-zero entry (timestamp 0 at the base offset) reads as padding.
        let zero_entry = [TimestampOffset { timestamp: 0, offset: base }];
        if final_time_entries != zero_entry {
            assert!(reopened.time_index_entries() == final_time_entries, "time index changed by the reopen");
            assert!(reopened.max_timestamp() == final_max_ts, "max timestamp changed by the reopen");
        }
    } else {
        assert!(reopen_report == open_report, "read-only reopen {reopen_report:?}, first open {open_report:?}");
    }
    // A read-only segment that was healthy on open trusts its untouched
    // index again, as the first open did.
    let rebuilt = writable || open_report.is_some();
    let (want_size, want_next) = if rebuilt { (final_size, final_next) } else { (original_len, opened_next) };
    assert!(reopened.size() == want_size, "reopened size {}, want {want_size}", reopened.size());
    assert!(
        reopened.next_offset() == want_next,
        "reopened next offset {}, want {want_next} (appended: {appended})",
        reopened.next_offset()
    );
    recovered
}

fn check_report_sums(r: &RecoveryReport, base: i64, len: u64) {
    assert!(r.base_offset == base, "report for base offset {}, segment {base}", r.base_offset);
    // Trailing zeros are preallocated space: dropped silently, counted as neither.
    let counted = r.valid_bytes + r.truncated_bytes;
    assert!(counted <= len, "report {r:?} counts more than the {len}-byte log");
    assert!(
        counted == len || (r.truncated_bytes == 0 && r.cause.is_none()),
        "report {r:?} leaves bytes of the {len}-byte log unexplained"
    );
    if r.cause.is_some() {
        assert!(r.truncated_bytes > 0, "recovery stopped ({:?}) but cut nothing", r.cause);
    }
}

/// Splits recovered bytes into their batches, each of which must be a whole,
/// CRC-valid v2 batch.
fn walk_batches(valid: &Bytes, fixed_crcs: bool) -> Vec<Kept> {
    let len = valid.len() as u64;
    let mut kept = Vec::new();
    let mut at = 0u64;
    while at < len {
        let rest = &valid[at as usize..];
        let header = match BatchHeader::parse(rest) {
            Ok(h) => h,
            Err(e) => panic!("kept bytes at {at} are no batch header: {e}"),
        };
        let size = match header.size_in_bytes() {
            Ok(s) if s <= rest.len() as u64 => s,
            other => panic!("kept batch at {at} has size {other:?}, {} bytes left", rest.len()),
        };
        let bytes = &rest[..size as usize];
        if let Err(e) = BatchHeader::parse_verified(bytes) {
            panic!("kept batch at {at} does not verify: {e}");
        }
        kept.push(Kept { position: at, size, header });
        at += size;
    }
    // Recovery checks framing and CRCs, not records (as Kafka does): a batch
    // under a valid CRC may still hold records that do not decode, whether
    // the input fixed the CRCs or the fuzzer solved one. Such a batch may
    // only be refused for its records, never for its framing or CRC.
    if !fixed_crcs {
        let mut iter = FileBatches::new(valid.clone(), 0);
        let mut i = 0;
        for batch in iter.by_ref() {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    let framing = matches!(
                        e,
                        Error::CrcMismatch { .. }
                            | Error::UnsupportedMagic { .. }
                            | Error::MalformedBatch {
                                problem: BatchProblem::Truncated { .. }
                                    | BatchProblem::InvalidLength { .. }
                                    | BatchProblem::TrailingBytes { .. },
                                ..
                            }
                    );
                    assert!(!framing, "recovery kept batch {i}, which fails framing or CRC: {e}");
                    return kept;
                }
            };
            let k = kept[i];
            assert!(batch.as_bytes().len() as u64 == k.size && *batch.header() == k.header, "batch {i} differs");
            i += 1;
        }
        assert!(i == kept.len(), "FileBatches read {i} of {} kept batches", kept.len());
        assert!(iter.tail() == Some(Tail::Clean), "kept bytes end {:?}", iter.tail());
    }
    kept
}

fn check_offsets(base: i64, kept: &[Kept]) {
    let mut previous: Option<i64> = None;
    for b in kept {
        let h = &b.header;
        assert!(h.last_offset_delta >= 0 && h.record_count >= 0, "kept batch at {} has {h:?}", b.position);
        assert!(h.base_offset >= base, "kept batch at {} starts at offset {} below {base}", b.position, h.base_offset);
        assert!(
            relative_offset(base, h.last_offset()).is_some(),
            "kept batch at {} ends outside the segment",
            b.position
        );
        assert!(h.last_offset() >= h.base_offset, "kept batch at {} ends before it starts", b.position);
        if let Some(p) = previous {
            assert!(h.base_offset > p, "kept batch at {} starts at {} after offset {p}", b.position, h.base_offset);
        }
        previous = Some(h.last_offset());
    }
}

fn check_offset_index(config: &SegmentConfig, kept: &[Kept], entries: &[OffsetPosition]) {
    assert!(entries.len() as u64 <= config.max_index_size / 8, "{} offset entries in {config:?}", entries.len());
    let mut previous: Option<OffsetPosition> = None;
    for e in entries {
        let Ok(i) = kept.binary_search_by_key(&u64::from(e.position), |b| b.position) else {
            panic!("offset entry {e:?} is not at a batch boundary");
        };
        assert!(kept[i].header.last_offset() == e.offset, "offset entry {e:?} names batch {:?}", kept[i].header);
        let gap = u64::from(e.position) - previous.map_or(0, |p| u64::from(p.position));
        assert!(gap > config.index_interval_bytes, "offset entry {e:?} only {gap} bytes after the last");
        if let Some(p) = previous {
            assert!(e.offset > p.offset, "offset entries {p:?} then {e:?}");
        }
        previous = Some(*e);
    }
}

fn check_time_index(config: &SegmentConfig, kept: &[Kept], entries: &[TimestampOffset]) {
    assert!(entries.len() as u64 <= config.max_index_size / 12, "{} time entries in {config:?}", entries.len());
    // The running maximum before each batch.
    let mut before = Vec::with_capacity(kept.len());
    let mut running = i64::MIN;
    for b in kept {
        before.push(running);
        running = running.max(b.header.max_timestamp);
    }
    let mut previous: Option<TimestampOffset> = None;
    for e in entries {
        // The entry names the first batch to reach a new running maximum.
        let Ok(i) = kept.binary_search_by_key(&e.offset, |b| b.header.last_offset()) else {
            panic!("time entry {e:?} names no batch's last offset");
        };
        assert!(kept[i].header.max_timestamp == e.timestamp, "time entry {e:?} for batch {:?}", kept[i].header);
        assert!(before[i] < e.timestamp, "time entry {e:?} is not a new maximum (was {})", before[i]);
        if let Some(p) = previous {
            assert!(e.timestamp > p.timestamp && e.offset > p.offset, "time entries {p:?} then {e:?}");
        }
        previous = Some(*e);
    }
    // The last entry holds the segment's largest timestamp.
    let max = kept.iter().map(|b| b.header.max_timestamp).max().unwrap_or(-1);
    if max >= 0 {
        assert!(entries.last().is_some_and(|e| e.timestamp == max), "time index {entries:?} misses max {max}");
    } else {
        assert!(entries.is_empty(), "time index {entries:?} without a timestamp ≥ 0");
    }
}

/// Reads find the batches; at most 64 of them are tried.
fn check_reads(seg: &LogSegment, valid: &Bytes, kept: &[Kept]) {
    let step = kept.len().div_ceil(64).max(1);
    for b in kept.iter().step_by(step).chain(kept.last()) {
        let want = valid.slice(b.position as usize..(b.position + b.size) as usize);
        for offset in [b.header.base_offset, b.header.last_offset()] {
            match seg.read(offset, 1, true) {
                Ok(Some(got)) => {
                    assert!(got == want, "read({offset}) gave {} bytes, not batch at {}", got.len(), b.position)
                }
                other => panic!("read({offset}) of the batch at {} gave {other:?}", b.position),
            }
        }
        match seg.position_of(b.header.base_offset) {
            Ok(Some(p)) => {
                assert!(p == b.position, "position_of({}) = {p}, batch at {}", b.header.base_offset, b.position)
            }
            other => panic!("position_of({}) gave {other:?}", b.header.base_offset),
        }
    }
    let next = seg.next_offset();
    assert!(matches!(seg.read(next, 1, true), Ok(None)), "read at the next offset {next} found something");
    // A read of everything returns the kept bytes.
    if let Some(first) = kept.first() {
        match seg.read(first.header.base_offset, u64::MAX, false) {
            Ok(Some(got)) => assert!(got == *valid, "full read gave {} of {} bytes", got.len(), valid.len()),
            other => panic!("full read gave {other:?}"),
        }
    }
}

/// `find_offset_by_timestamp` against a scan of every record, when the
/// batches decode and their `maxTimestamp` is their records' maximum (the
/// time index relies on it).
fn check_find_by_timestamp(seg: &LogSegment, base: i64, kept: &[Kept], fixed_crcs: bool) {
    if fixed_crcs || kept.is_empty() {
        return;
    }
    let valid = std::fs::read(seg.log_path()).unwrap();
    let mut records: Vec<(i64, i64)> = Vec::new(); // (offset, timestamp) in file order
    for b in kept {
        let bytes = Bytes::copy_from_slice(&valid[b.position as usize..(b.position + b.size) as usize]);
        let Ok(batch) = RecordBatch::new(bytes) else { return };
        let Ok(iter) = batch.records() else { return };
        let mut batch_max = None;
        for r in iter {
            let Ok(r) = r else { return };
            batch_max = batch_max.max(Some(r.timestamp()));
            records.push((r.offset(), r.timestamp()));
        }
        let consistent = match b.header.timestamp_type() {
            TimestampType::LogAppendTime => true,
            TimestampType::CreateTime => batch_max == Some(b.header.max_timestamp),
        };
        if !consistent {
            return;
        }
    }
    let mut targets: Vec<i64> = vec![i64::MIN, -1, 0, i64::MAX];
    let step = kept.len().div_ceil(8).max(1);
    targets.extend(
        kept.iter().step_by(step).flat_map(|b| [b.header.max_timestamp, b.header.max_timestamp.saturating_add(1)]),
    );
    let middle = kept[kept.len() / 2].header.base_offset;
    for target in targets {
        for start in [base, middle] {
            let want = records
                .iter()
                .find(|&&(o, t)| t >= target && o >= start)
                .map(|&(offset, timestamp)| TimestampOffset { timestamp, offset });
            match seg.find_offset_by_timestamp(target, start) {
                Ok(got) => assert!(got == want, "find_offset_by_timestamp({target}, {start}) = {got:?}, want {want:?}"),
                Err(e) => panic!("find_offset_by_timestamp({target}, {start}) failed: {e}"),
            }
        }
    }
}

/// `activate`, then append a one-record batch at the next offset and read it
/// back. Returns whether it was appended.
fn check_append(seg: &LogSegment, base: i64, mode: OpenMode) -> bool {
    seg.activate().unwrap();
    let next = seg.next_offset();
    if next == i64::MAX {
        // A batch here would end at `i64::MAX`, which a segment refuses.
        return false;
    }
    let size = seg.size();
    let timestamp = seg.max_timestamp().saturating_add(1).max(0);
    let mut builder = BatchBuilder::new(Compression::None).base_offset(next);
    builder.append(&Record::new().key("k").value("appended after recovery").timestamp(timestamp)).unwrap();
    let batch = builder.build().unwrap().into_bytes();
    let full_before = seg.indexes_full();
    match seg.append(&batch) {
        Err(Error::ReadOnly { .. }) if mode == OpenMode::ReadOnly => false,
        Err(Error::OffsetOverflow { .. }) if relative_offset(base, next).is_none() => false,
        // Indexes sized smaller than the entries recovery wanted stay full.
        Err(Error::IndexFull { .. }) if full_before => false,
        Err(e) => panic!("{mode:?} append at offset {next} failed: {e}"),
        Ok(info) => {
            assert!(mode == OpenMode::ReadWrite, "read-only segment took an append");
            assert!(info.first_offset == next && info.last_offset == next && info.position == size, "{info:?}");
            assert!(seg.size() == size + batch.len() as u64, "size after append");
            assert!(seg.next_offset() == next + 1, "next offset {} after appending {next}", seg.next_offset());
            match seg.read(next, 1, true) {
                Ok(Some(got)) => assert!(got == batch, "appended batch reads back as {} bytes", got.len()),
                other => panic!("reading the appended batch gave {other:?}"),
            }
            let decoded = RecordBatch::new(seg.read(next, u64::MAX, false).unwrap().unwrap()).unwrap();
            assert!(decoded.records().unwrap().count() == 1);
            true
        }
    }
}
