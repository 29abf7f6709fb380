//! `OffsetIndex` lookups and `LogSegment` append / read throughput, each
//! beside a baseline on the same disk, in one `tempfile::tempdir()`.
//!
//! Groups (criterion IDs):
//! - `offset_index_lookup/{random,warm_tail}`: an `OffsetIndex` at the
//!   default 10 MiB capacity, filled completely (1,310,720 entries, offset
//!   `base + 1 + i` → position `i * 64`). One iteration is 10,000 lookups of
//!   precomputed pseudo-random targets over the whole range, or 1,024 lookups
//!   of the last 1,024 entries; throughput in lookups.
//! - `append/{segment,raw_write}`: 1,000 pre-encoded batches (100 records ×
//!   100-byte values, uncompressed, base offsets set with `set_base_offset`)
//!   into a fresh segment, against `write_all_at` of exactly the same bytes,
//!   one call per batch, into a fresh file. Creating and deleting the
//!   segment / file is outside the timed region. **No fsync** anywhere: this
//!   measures the page cache. Throughput in bytes. The paired run also times
//!   the second 1,000 batches of a segment (the first appended untimed), which
//!   leaves out per-segment costs such as the first faults on the index mappings.
//! - `read/{sealed_mmap,unsealed_pread,raw_read}`: a whole ~65 MB segment read
//!   with `read(offset, 1 MiB, true)`, advancing by the last returned batch's
//!   next offset (found by walking batch headers, not by `FileBatches`, which
//!   would CRC-check every byte), sealed (zero-copy views of an mmap) and
//!   unsealed (positioned reads), against `read()` of the same `.log` into a
//!   1 MiB buffer. The page cache is warm. Throughput in bytes.
//! - `read_crc/…`: the same, but the consumer also runs CRC-32C over every
//!   returned byte, so that the mmap path pays for touching its pages.
//! - `random_read/{sealed_mmap,unsealed_pread}`: 10,000 `read(offset, 1, true)`
//!   calls (one batch each) of pseudo-random offsets; throughput in reads.
//!
//! Following `/work/shared/BENCHMARKING.md`: a 512 MiB scratch file is written
//! and deleted before every timed phase that writes (each criterion sample of
//! `append`, and each contender's turn in the paired runs), and under
//! `cargo bench` each group first runs its contenders interleaved
//! (A B A B …, order rotated per round) and prints the ratio of each round,
//! which is the figure to quote; criterion's separate figures follow. Under
//! `--profile-time` the paired runs and the scratch warm-up are skipped.

mod common;

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;
use topiclog::format::BatchHeader;
use topiclog::index::{DEFAULT_MAX_INDEX_SIZE, OffsetIndex};
use topiclog::segment::{LogSegment, SegmentConfig};
use topiclog::{BatchBuilder, Compression, Record};

use common::{Units, XorShift, contender, interleave, paired_enabled, report, timed, warm_pages};

const RECORDS_PER_BATCH: usize = 100;
const VALUE_LEN: usize = 100;
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;
/// Batches per `append` iteration (about 11 MB).
const APPEND_BATCHES: usize = 1_000;
/// Batches in the segments the read benchmarks read (about 65 MB).
const READ_BATCHES: usize = 6_000;
const READ_MAX_BYTES: u64 = 1 << 20;
const RANDOM_READS: usize = 10_000;
const INDEX_LOOKUPS: usize = 10_000;
const WARM_TAIL: usize = 1_024;
/// Rounds of the interleaved (paired) comparisons, and timed repetitions
/// per contender per round (their median is the round's figure).
const PAIRED_ROUNDS: usize = 6;
const PAIRED_REPS: usize = 5;

/// `count` batches of 100 records × 100-byte values, uncompressed, with base
/// offsets 0, 100, 200, … (encoded once, then re-based with `set_base_offset`).
fn batches(count: usize) -> Vec<Bytes> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let hex = b"0123456789abcdef";
    let mut builder = BatchBuilder::new(Compression::None);
    for i in 0..RECORDS_PER_BATCH {
        let value: Vec<u8> = (0..VALUE_LEN).map(|_| hex[rng.below(16) as usize]).collect();
        builder.append(&Record::new().value(value).timestamp(BASE_TIMESTAMP + i as i64)).expect("append record");
    }
    let template = builder.build().expect("build batch");
    (0..count)
        .map(|i| {
            let mut batch = template.clone();
            batch.set_base_offset((i * RECORDS_PER_BATCH) as i64);
            batch.into_bytes()
        })
        .collect()
}

fn total_len(batches: &[Bytes]) -> u64 {
    batches.iter().map(|b| b.len() as u64).sum()
}

// ---------------------------------------------------------------- index

fn bench_offset_index(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let base: i64 = 1_000_000;
    let mut index =
        OffsetIndex::open(&dir.path().join("lookup.index"), base, Some(DEFAULT_MAX_INDEX_SIZE)).expect("open index");
    let entries = index.max_entries();
    assert_eq!(entries, 1_310_720, "default capacity");
    for i in 0..entries {
        index.append(base + 1 + i as i64, (i * 64) as u32).expect("append entry");
    }
    assert!(index.is_full());

    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let span = entries as u64 + 2; // base ..= base + entries + 1: below the first entry up to past the last
    let random: Vec<i64> = (0..INDEX_LOOKUPS).map(|_| base + rng.below(span) as i64).collect();
    let tail: Vec<i64> = (0..WARM_TAIL).map(|i| base + (entries - WARM_TAIL + 1 + i) as i64).collect();
    let expected = |t: i64| match t - base {
        0 => 0,
        rel => ((rel - 1).min(entries as i64 - 1) * 64) as u32,
    };
    for &t in random.iter().chain(&tail) {
        assert_eq!(index.lookup(t).position, expected(t), "lookup({t})");
    }
    let lookups =
        |targets: &[i64]| targets.iter().map(|&t| u64::from(index.lookup(black_box(t)).position)).sum::<u64>();

    if paired_enabled("offset_index_lookup") {
        // The tail loop runs as many lookups as the random one.
        let tail_x = INDEX_LOOKUPS / WARM_TAIL;
        let rounds = interleave(
            PAIRED_ROUNDS,
            PAIRED_REPS,
            &mut || {},
            &mut [
                contender("random", || timed(|| lookups(&random))),
                contender("warm_tail", || timed(|| (0..tail_x).map(|_| lookups(&tail)).sum::<u64>())),
            ],
        );
        let per_tail = rounds[1].iter().map(|d| d.mul_f64(INDEX_LOOKUPS as f64 / (tail_x * WARM_TAIL) as f64));
        let rounds = [rounds[0].clone(), per_tail.collect()];
        let units = Units::Ops(INDEX_LOOKUPS as u64, "lookup");
        report("offset_index_lookup", &["random", "warm_tail"], &rounds, PAIRED_REPS, 1, units);
    }

    let mut group = c.benchmark_group("offset_index_lookup");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    group.throughput(Throughput::Elements(INDEX_LOOKUPS as u64));
    group.bench_function("random", |b| b.iter(|| lookups(black_box(&random))));
    group.throughput(Throughput::Elements(WARM_TAIL as u64));
    group.bench_function("warm_tail", |b| b.iter(|| lookups(black_box(&tail))));
    group.finish();
}

// ---------------------------------------------------------------- append

/// Appends `untimed`, then `timed`, to a fresh segment in a new directory
/// under `dir`; times the appends of `timed` only.
fn time_segment_append(dir: &Path, untimed: &[Bytes], timed: &[Bytes]) -> Duration {
    let sub = tempfile::tempdir_in(dir).expect("segment dir");
    let segment = LogSegment::create(sub.path(), 0, SegmentConfig::default()).expect("create segment");
    for batch in untimed {
        segment.append(batch).expect("append");
    }
    let start = Instant::now();
    for batch in timed {
        black_box(segment.append(batch).expect("append"));
    }
    let elapsed = start.elapsed();
    assert_eq!(segment.size(), total_len(untimed) + total_len(timed));
    drop(segment);
    drop(sub);
    elapsed
}

/// Writes `untimed`, then `timed`, with one `write_all_at` per batch to a
/// fresh file in a new directory under `dir`; times the writes of `timed` only.
fn time_raw_write(dir: &Path, untimed: &[Bytes], timed: &[Bytes]) -> Duration {
    let sub = tempfile::tempdir_in(dir).expect("raw dir");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(sub.path().join("00000000000000000000.log"))
        .expect("create raw file");
    let mut position = 0u64;
    let mut write = |batch: &Bytes| {
        file.write_all_at(batch, position).expect("write");
        position += batch.len() as u64;
    };
    untimed.iter().for_each(&mut write);
    let start = Instant::now();
    timed.iter().for_each(&mut write);
    let elapsed = start.elapsed();
    drop(file);
    drop(sub);
    elapsed
}

fn bench_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let all = batches(2 * APPEND_BATCHES);
    let (first, second) = all.split_at(APPEND_BATCHES);
    let bytes = total_len(first);
    assert_eq!(total_len(second), bytes);

    if paired_enabled("append") {
        let names = ["raw_write", "segment"];
        let rounds = interleave(
            PAIRED_ROUNDS,
            PAIRED_REPS,
            &mut || warm_pages(dir),
            &mut [
                contender(names[0], || time_raw_write(dir, &[], first)),
                contender(names[1], || time_segment_append(dir, &[], first)),
            ],
        );
        let title = format!("append ({APPEND_BATCHES} batches, {bytes} bytes, fresh segment / file, no fsync)");
        report(&title, &names, &rounds, PAIRED_REPS, 1, Units::Bytes(bytes));
        // The same, timing only the second 1,000 batches: the segment's
        // per-segment costs (first faults on its index mappings) are paid untimed.
        let rounds = interleave(
            PAIRED_ROUNDS,
            PAIRED_REPS,
            &mut || warm_pages(dir),
            &mut [
                contender(names[0], || time_raw_write(dir, first, second)),
                contender(names[1], || time_segment_append(dir, first, second)),
            ],
        );
        let title = format!("append, steady state (batches {APPEND_BATCHES}..{}, no fsync)", 2 * APPEND_BATCHES);
        report(&title, &names, &rounds, PAIRED_REPS, 1, Units::Bytes(bytes));
    }

    let mut group = c.benchmark_group("append");
    group
        .throughput(Throughput::Bytes(bytes))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    // The scratch warm-up runs before each sample, outside the timed region.
    group.bench_function("raw_write", |b| {
        b.iter_custom(|iters| {
            warm_pages(dir);
            (0..iters).map(|_| time_raw_write(dir, &[], first)).sum()
        })
    });
    group.bench_function("segment", |b| {
        b.iter_custom(|iters| {
            warm_pages(dir);
            (0..iters).map(|_| time_segment_append(dir, &[], first)).sum()
        })
    });
    group.finish();
}

// ---------------------------------------------------------------- read

/// Two segments of the same `READ_BATCHES` batches, one sealed, one not.
struct ReadFixture {
    dir: TempDir,
    sealed: LogSegment,
    unsealed: LogSegment,
    /// The unsealed segment's `.log`, for the raw baseline.
    raw_path: PathBuf,
    size: u64,
}

impl ReadFixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let batches = batches(READ_BATCHES);
        let build = |name: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir(&path).expect("segment dir");
            let segment = LogSegment::create(&path, 0, SegmentConfig::default()).expect("create segment");
            for batch in &batches {
                segment.append(batch).expect("append");
            }
            // Written back now, so background writeback stays out of the timed phases.
            File::open(segment.log_path()).and_then(|f| f.sync_all()).expect("sync");
            segment
        };
        let sealed = build("sealed");
        sealed.seal().expect("seal");
        let unsealed = build("unsealed");
        let raw_path = unsealed.log_path();
        let size = total_len(&batches);
        assert_eq!(sealed.size(), size);
        let fixture = Self { dir, sealed, unsealed, raw_path, size };
        // Warm the page cache (and the sealed mapping), and check the loops read everything.
        assert_eq!(read_segment(&fixture.sealed, false), size);
        assert_eq!(read_segment(&fixture.unsealed, false), size);
        assert_eq!(read_raw(&fixture.raw_path, false), size);
        fixture
    }
}

/// The offset after the last batch in `bytes` (whole batches), found by
/// walking the batch headers.
fn next_offset_after(bytes: &[u8]) -> i64 {
    let (mut at, mut next) = (0usize, -1);
    while let Some(rest) = bytes.get(at..).filter(|r| !r.is_empty()) {
        let header = BatchHeader::parse(rest).expect("batch header");
        next = header.next_offset();
        at += header.size_in_bytes().expect("batch size") as usize;
    }
    next
}

/// Reads the whole segment 1 MiB at a time; returns the bytes read. With
/// `touch`, also CRCs every byte.
fn read_segment(segment: &LogSegment, touch: bool) -> u64 {
    let (mut offset, mut total, mut crc) = (segment.base_offset(), 0u64, 0u32);
    while let Some(bytes) = segment.read(offset, READ_MAX_BYTES, true).expect("read") {
        if bytes.is_empty() {
            break;
        }
        if touch {
            crc = crc32c::crc32c_append(crc, &bytes);
        }
        offset = next_offset_after(&bytes);
        total += bytes.len() as u64;
    }
    black_box(crc);
    total
}

/// `read()`s the whole file into a 1 MiB buffer; returns the bytes read.
fn read_raw(path: &Path, touch: bool) -> u64 {
    let mut file = File::open(path).expect("open raw");
    let mut buf = vec![0u8; READ_MAX_BYTES as usize];
    let (mut total, mut crc) = (0u64, 0u32);
    loop {
        let n = file.read(&mut buf).expect("read raw");
        if n == 0 {
            break;
        }
        if touch {
            crc = crc32c::crc32c_append(crc, &buf[..n]);
        }
        black_box(&buf);
        total += n as u64;
    }
    black_box(crc);
    total
}

fn bench_read_group(c: &mut Criterion, fx: &ReadFixture, touch: bool) {
    let name = if touch { "read_crc" } else { "read" };
    if paired_enabled(name) {
        let names = ["raw_read", "unsealed_pread", "sealed_mmap"];
        let rounds = interleave(
            PAIRED_ROUNDS,
            PAIRED_REPS,
            &mut || {},
            &mut [
                contender(names[0], || timed(|| read_raw(&fx.raw_path, touch))),
                contender(names[1], || timed(|| read_segment(&fx.unsealed, touch))),
                contender(names[2], || timed(|| read_segment(&fx.sealed, touch))),
            ],
        );
        let title = format!("{name} ({} bytes, warm page cache)", fx.size);
        report(&title, &names, &rounds, PAIRED_REPS, 1, Units::Bytes(fx.size));
    }
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Bytes(fx.size))
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat);
    group.bench_function("sealed_mmap", |b| b.iter(|| read_segment(&fx.sealed, touch)));
    group.bench_function("unsealed_pread", |b| b.iter(|| read_segment(&fx.unsealed, touch)));
    group.bench_function("raw_read", |b| b.iter(|| read_raw(&fx.raw_path, touch)));
    group.finish();
}

fn bench_read(c: &mut Criterion) {
    let fx = ReadFixture::new();
    if paired_enabled("read") {
        // Page-cache state before the read phases, as for the writes.
        warm_pages(fx.dir.path());
    }
    bench_read_group(c, &fx, false);
    bench_read_group(c, &fx, true);

    // ------------------------------------------------------------ random_read
    let next_offset = fx.sealed.next_offset();
    assert_eq!(next_offset, (READ_BATCHES * RECORDS_PER_BATCH) as i64);
    let mut rng = XorShift(0xd1b5_4a32_d192_ed03);
    let targets: Vec<i64> = (0..RANDOM_READS).map(|_| rng.below(next_offset as u64) as i64).collect();
    let random_reads = |segment: &LogSegment| {
        let mut total = 0u64;
        for &offset in &targets {
            let bytes = segment.read(black_box(offset), 1, true).expect("read").expect("a batch");
            total += bytes.len() as u64;
        }
        total
    };
    let batch_len = total_len(&batches(1));
    assert_eq!(random_reads(&fx.sealed), RANDOM_READS as u64 * batch_len);
    assert_eq!(random_reads(&fx.unsealed), RANDOM_READS as u64 * batch_len);

    if paired_enabled("random_read") {
        let names = ["unsealed_pread", "sealed_mmap"];
        let rounds = interleave(
            PAIRED_ROUNDS,
            PAIRED_REPS,
            &mut || {},
            &mut [
                contender(names[0], || timed(|| random_reads(&fx.unsealed))),
                contender(names[1], || timed(|| random_reads(&fx.sealed))),
            ],
        );
        let title = format!("random_read ({RANDOM_READS} reads of one offset)");
        report(&title, &names, &rounds, PAIRED_REPS, 1, Units::Ops(RANDOM_READS as u64, "read"));
    }
    let mut group = c.benchmark_group("random_read");
    group
        .throughput(Throughput::Elements(RANDOM_READS as u64))
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat);
    group.bench_function("sealed_mmap", |b| b.iter(|| random_reads(&fx.sealed)));
    group.bench_function("unsealed_pread", |b| b.iter(|| random_reads(&fx.unsealed)));
    group.finish();
}

criterion_group!(benches, bench_offset_index, bench_append, bench_read);
criterion_main!(benches);
