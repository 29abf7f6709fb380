//! `Partition` append and read throughput, each workload beside a raw-file
//! baseline of the same bytes measured in the same run, in one
//! `tempfile::tempdir()` (the same ext4 disk for subject and baseline).
//!
//! Data: records with a pseudo-random lowercase-hex value (windows of one
//! shared buffer, so they differ), no key, no headers and a CreateTime
//! timestamp (`BASE_TIMESTAMP + offset`), all built before any timing. The
//! baselines' batches are encoded with `BatchBuilder` (uncompressed, base
//! offset set, partition leader epoch 0) and are byte for byte the `.log`
//! bytes `Partition::append` writes: the bench checks that once per workload.
//!
//! Groups (criterion IDs):
//! - `append_100B/{encode_write,raw_write,partition,partition_seg64MiB}`:
//!   1,000,000 records × 100-byte values appended 100 per
//!   `Partition::append(&records[i..i + 100])` call (10,000 batches, about
//!   109 MB) to a fresh partition, against `BatchBuilder` encoding of the same
//!   100-record batches plus one `write_all` each to a fresh file
//!   ("encode + write()"), and against `write_all` of the pre-encoded batches.
//!   `partition` uses `LogConfig::default()` (segment.bytes = 1 GiB: one
//!   segment); `partition_seg64MiB` sets segment.bytes = 64 MiB, so the
//!   append rolls once (two segments).
//! - `.../partition_borrowed` (each append group): the same appends through
//!   `Partition::append_borrowed`, over `BorrowedRecord`s borrowing the records'
//!   keys and values (built before timing); same bytes, checked once.
//! - `append_1KiB/{raw_write,partition}`: 200,000 records × 1 KiB values in
//!   appends of 100 (2,000 batches, about 207 MB); default config.
//! - `append_single/{raw_write,partition}`: 100,000 appends of one 100-byte
//!   record each, against one `write_all` per pre-encoded single-record
//!   batch; default config.
//! - The paired runs of these two also time encode + write of each batch
//!   (`encode_write`), which criterion leaves out to save time.
//! - `scan/{raw_read,decode_only,raw_walk,partition,partition_views}`: the 1,000,000-record partition
//!   (written with the default config: one segment, the active one, read
//!   through its mapping), read with `read_from(0)`, touching every record's value
//!   length, against `read()` of all its `.log` files into a 1 MiB buffer
//!   (I/O only) and a decode-only pass (`FileBatches` over the files' bytes
//!   held in memory, every record decoded, value length touched). Their sum
//!   is also reported as "I/O + decode". `raw_walk` is the raw floor of a
//!   decode: the in-memory files' batches CRC-checked and their records walked
//!   by hand (lengths only, no checks); `partition_views` is `read_from(0)`
//!   through `RecordReader::for_each_view` (borrowed views). Warm page cache,
//!   data flushed to disk before timing.
//! - `random_read/{raw_pread,raw_pread_decode,partition,partition_lazy,partition_view,partition_point}`: 10,000
//!   pseudo-random offsets of the same partition; `partition.read(offset, 1)`,
//!   then decode its first batch and find the record, against `pread` of the
//!   batch holding the offset at its precomputed file position (into a reused
//!   buffer), and the same `pread` into a fresh buffer plus the same decode
//!   and search. `partition_lazy` takes the batch through
//!   `FileBatches::new_lazy` (CRC up front, records checked as walked);
//!   `partition_view` does too, then finds the record with
//!   `RecordBatch::record_at` (borrowed views); `partition_point` is
//!   `Partition::read_record_at` (the point-read API: no copy, one CRC, one
//!   record decoded). Throughput in reads; the
//!   paired run also prints per-read latency percentiles.
//!
//! **No fsync in any timed phase**: `flush.messages` / `flush.ms` keep their
//! defaults (never), partitions written in timed phases are dropped without
//! `close` (which would flush), and the only `flush` (of the read fixture)
//! happens during setup. This measures the page cache.
//!
//! Following `/work/shared/BENCHMARKING.md`: a 512 MiB scratch file is written
//! and deleted before every timed append phase (each paired turn and each
//! criterion iteration), and under `cargo bench` each group first runs its
//! contenders interleaved (A B A B …, order rotated per round) and prints, per
//! round, each subject's speed relative to each baseline: that ratio is the
//! figure to quote. Criterion's separate figures follow. Under
//! `--profile-time` the paired runs and the scratch warm-up are skipped, so a
//! profile shows the workload.

mod common;

use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;
use topiclog::Partition;
use topiclog::format::{BatchHeader, RECORD_BATCH_OVERHEAD};
use topiclog::{BatchBuilder, BorrowedRecord, Compression, FileBatches, LogConfig, Record, RecordBatch};

use common::{Units, XorShift, contender, interleave, paired_enabled, report, selected, timed, warm_pages};

const BATCH_RECORDS: usize = 100;
const SMALL_VALUE: usize = 100;
const SMALL_RECORDS: usize = 1_000_000;
const LARGE_VALUE: usize = 1024;
const LARGE_RECORDS: usize = 200_000;
const SINGLE_RECORDS: usize = 100_000;
const RANDOM_READS: usize = 10_000;
/// segment.bytes for the rolling variant and the read fixture.
const ROLL_SEGMENT_BYTES: i64 = 64 << 20;
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;
const READ_BUFFER: usize = 1 << 20;
/// Rounds of the interleaved comparisons; repetitions per contender per round
/// (their median is the round's figure).
const APPEND_ROUNDS: usize = 5;
const READ_ROUNDS: usize = 7;
const READ_REPS: usize = 3;

// ---------------------------------------------------------------- data

/// Records, and the batches `Partition::append` writes for them.
struct Workload {
    records: Vec<Record>,
    /// Records per `append` call (and per batch).
    per_append: usize,
    /// One encoded batch per `append` call, with the offsets and leader epoch
    /// the partition assigns.
    batches: Vec<Bytes>,
    /// Total bytes of `batches`.
    bytes: u64,
}

/// Encodes `records` as the batch `Partition::append` writes at `base_offset`.
fn encode(records: &[Record], base_offset: i64) -> RecordBatch {
    let mut builder = BatchBuilder::new(Compression::None).base_offset(base_offset).partition_leader_epoch(0);
    for record in records {
        builder.append(record).expect("append record");
    }
    builder.build().expect("build batch")
}

fn workload(count: usize, value_len: usize, per_append: usize, seed: u64) -> Workload {
    const SPREAD: usize = 4096;
    let mut rng = XorShift(seed);
    let hex = b"0123456789abcdef";
    let pool: Bytes = (0..value_len + SPREAD).map(|_| hex[rng.below(16) as usize]).collect::<Vec<u8>>().into();
    let records: Vec<Record> = (0..count)
        .map(|i| {
            let start = (i * 61) % SPREAD;
            Record::new().value(pool.slice(start..start + value_len)).timestamp(BASE_TIMESTAMP + i as i64)
        })
        .collect();
    let batches: Vec<Bytes> = records
        .chunks(per_append)
        .enumerate()
        .map(|(i, chunk)| encode(chunk, (i * per_append) as i64).into_bytes())
        .collect();
    let bytes = batches.iter().map(|b| b.len() as u64).sum();
    Workload { records, per_append, batches, bytes }
}

/// The 1,000,000 × 100 B workload, shared by the append and read groups.
fn small() -> &'static Workload {
    static SMALL: OnceLock<Workload> = OnceLock::new();
    SMALL.get_or_init(|| workload(SMALL_RECORDS, SMALL_VALUE, BATCH_RECORDS, 0x9e37_79b9_7f4a_7c15))
}

fn rolling_config() -> LogConfig {
    LogConfig::default().segment_bytes(ROLL_SEGMENT_BYTES)
}

/// The partition's `.log` files, oldest first.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list partition")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    paths.sort();
    paths
}

/// The records of `w` as borrowed [`BorrowedRecord`]s (built before any timing).
fn refs(w: &Workload) -> Vec<BorrowedRecord<'_>> {
    w.records.iter().map(BorrowedRecord::from).collect()
}

/// Appends `w` to a new partition in `dir` and checks that its `.log` files
/// hold exactly the baseline's bytes; returns the partition and its segment count.
fn append_and_verify(dir: &Path, w: &Workload, config: &LogConfig) -> (Partition, usize) {
    append_and_verify_with(dir, w, config, false)
}

/// [`append_and_verify`], through `Partition::append_borrowed` when `borrowed`.
fn append_and_verify_with(dir: &Path, w: &Workload, config: &LogConfig, borrowed: bool) -> (Partition, usize) {
    let log = Partition::open(dir, config.clone()).expect("open partition");
    let refs = refs(w);
    for (i, (chunk, chunk_refs)) in w.records.chunks(w.per_append).zip(refs.chunks(w.per_append)).enumerate() {
        let appended = if borrowed { log.append_borrowed(chunk_refs) } else { log.append(chunk) }.expect("append");
        let first = (i * w.per_append) as i64;
        assert_eq!((appended.first_offset, appended.last_offset), (first, first + chunk.len() as i64 - 1));
    }
    assert_eq!(log.log_end_offset(), w.records.len() as i64, "log end offset");
    let files = log_files(dir);
    // An open partition's active `.log` ends in preallocated zeros: compare its data only.
    let sizes: Vec<usize> = log.segments().expect("segments").iter().map(|s| s.size as usize).collect();
    assert_eq!(sizes.len(), files.len(), "one .log per segment");
    let written: Vec<u8> = files
        .iter()
        .zip(&sizes)
        .flat_map(|(p, &size)| {
            let mut bytes = std::fs::read(p).expect("read .log");
            assert!(bytes.get(size..).unwrap_or_default().iter().all(|&b| b == 0), "only zeros past the data");
            bytes.truncate(size);
            bytes
        })
        .collect();
    let expected: Vec<u8> = w.batches.iter().flat_map(|b| b.iter().copied()).collect();
    assert_eq!(written.len(), expected.len(), "bytes written by the partition");
    if let Some(at) = written.iter().zip(&expected).position(|(a, b)| a != b) {
        panic!("partition bytes differ from BatchBuilder's at byte {at}");
    }
    (log, files.len())
}

// ---------------------------------------------------------------- append

fn append_group<'a>(c: &'a mut Criterion, name: &str, elements: u64, seconds: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(elements))
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(seconds))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat);
    group
}

/// Appends all of `w` to a fresh partition in a new directory under `dir`;
/// times the `append` calls only (open, drop and removal are outside).
fn time_partition_append(dir: &Path, w: &Workload, config: &LogConfig) -> Duration {
    let sub = tempfile::tempdir_in(dir).expect("partition dir");
    let log = Partition::open(sub.path(), config.clone()).expect("open partition");
    let start = Instant::now();
    for chunk in w.records.chunks(w.per_append) {
        black_box(log.append(black_box(chunk)).expect("append"));
    }
    let elapsed = start.elapsed();
    assert_eq!(log.log_end_offset(), w.records.len() as i64);
    drop(log);
    drop(sub);
    elapsed
}

/// [`time_partition_append`] through `Partition::append_borrowed` over
/// borrowed records (`refs`, the records of `w`, built before timing).
fn time_partition_append_borrowed(
    dir: &Path,
    w: &Workload,
    refs: &[BorrowedRecord<'_>],
    config: &LogConfig,
) -> Duration {
    let sub = tempfile::tempdir_in(dir).expect("partition dir");
    let log = Partition::open(sub.path(), config.clone()).expect("open partition");
    let start = Instant::now();
    for chunk in refs.chunks(w.per_append) {
        black_box(log.append_borrowed(black_box(chunk)).expect("append_borrowed"));
    }
    let elapsed = start.elapsed();
    assert_eq!(log.log_end_offset(), w.records.len() as i64);
    drop(log);
    drop(sub);
    elapsed
}

/// Encodes each batch of `w` with `BatchBuilder` and `write_all`s it to a
/// fresh file in a new directory under `dir`; times encoding and writing.
fn time_encode_write(dir: &Path, w: &Workload) -> Duration {
    let sub = tempfile::tempdir_in(dir).expect("raw dir");
    let mut file = File::create(sub.path().join("00000000000000000000.log")).expect("create raw file");
    let start = Instant::now();
    for (i, chunk) in w.records.chunks(w.per_append).enumerate() {
        let batch = encode(black_box(chunk), (i * w.per_append) as i64);
        file.write_all(batch.as_bytes()).expect("write");
    }
    let elapsed = start.elapsed();
    assert_eq!(file.metadata().expect("stat").len(), w.bytes);
    drop(file);
    drop(sub);
    elapsed
}

/// `write_all`s each pre-encoded batch of `w` to a fresh file in a new
/// directory under `dir`; times the writes.
fn time_raw_write(dir: &Path, w: &Workload) -> Duration {
    let sub = tempfile::tempdir_in(dir).expect("raw dir");
    let mut file = File::create(sub.path().join("00000000000000000000.log")).expect("create raw file");
    let start = Instant::now();
    for batch in &w.batches {
        file.write_all(black_box(batch)).expect("write");
    }
    let elapsed = start.elapsed();
    assert_eq!(file.metadata().expect("stat").len(), w.bytes);
    drop(file);
    drop(sub);
    elapsed
}

/// Criterion's figure for one contender: the scratch warm-up before each
/// iteration, outside the timed region.
fn per_iteration(dir: &Path, iters: u64, mut time: impl FnMut() -> Duration) -> Duration {
    (0..iters)
        .map(|_| {
            warm_pages(dir);
            time()
        })
        .sum()
}

fn bench_append_100b(c: &mut Criterion) {
    const GROUP: &str = "append_100B";
    if !selected(GROUP) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let w = small();
    let (default, rolling) = (LogConfig::default(), rolling_config());
    for config in [&default, &rolling] {
        let sub = tempfile::tempdir_in(dir).expect("verify dir");
        let (log, segments) = append_and_verify(sub.path(), w, config);
        println!("{GROUP}: segment.bytes = {} -> {segments} segment(s), {} bytes", config.segment_bytes, w.bytes);
        drop(log);
    }
    {
        let sub = tempfile::tempdir_in(dir).expect("verify dir");
        drop(append_and_verify_with(sub.path(), w, &default, true));
    }
    let refs = refs(w);
    let units = Units::Records { records: w.records.len() as u64, bytes: w.bytes };

    if paired_enabled(GROUP) {
        let names = ["encode_write", "raw_write", "partition", "partition_seg64MiB", "partition_borrowed"];
        let rounds = interleave(
            APPEND_ROUNDS,
            1,
            &mut || warm_pages(dir),
            &mut [
                contender(names[0], || time_encode_write(dir, w)),
                contender(names[1], || time_raw_write(dir, w)),
                contender(names[2], || time_partition_append(dir, w, &default)),
                contender(names[3], || time_partition_append(dir, w, &rolling)),
                contender(names[4], || time_partition_append_borrowed(dir, w, &refs, &default)),
            ],
        );
        let title = format!("{GROUP} (1,000,000 x 100 B, appends of 100, {} bytes, no fsync)", w.bytes);
        report(&title, &names, &rounds, 1, 2, units);
    }

    let mut group = append_group(c, GROUP, w.records.len() as u64, 4);
    group.bench_function("encode_write", |b| b.iter_custom(|n| per_iteration(dir, n, || time_encode_write(dir, w))));
    group.bench_function("raw_write", |b| b.iter_custom(|n| per_iteration(dir, n, || time_raw_write(dir, w))));
    group.bench_function("partition", |b| {
        b.iter_custom(|n| per_iteration(dir, n, || time_partition_append(dir, w, &default)))
    });
    group.bench_function("partition_seg64MiB", |b| {
        b.iter_custom(|n| per_iteration(dir, n, || time_partition_append(dir, w, &rolling)))
    });
    group.bench_function("partition_borrowed", |b| {
        b.iter_custom(|n| per_iteration(dir, n, || time_partition_append_borrowed(dir, w, &refs, &default)))
    });
    group.finish();
}

/// The 1 KiB and single-record groups: baselines raw write and encode + write.
fn bench_append_simple(c: &mut Criterion, group_name: &str, w: &Workload, seconds: u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let config = LogConfig::default();
    {
        let sub = tempfile::tempdir_in(dir).expect("verify dir");
        let (log, segments) = append_and_verify(sub.path(), w, &config);
        println!("{group_name}: segment.bytes = {} -> {segments} segment(s), {} bytes", config.segment_bytes, w.bytes);
        drop(log);
        let sub = tempfile::tempdir_in(dir).expect("verify dir");
        drop(append_and_verify_with(sub.path(), w, &config, true));
    }
    let refs = refs(w);
    let units = Units::Records { records: w.records.len() as u64, bytes: w.bytes };
    if paired_enabled(group_name) {
        let names = ["raw_write", "encode_write", "partition", "partition_borrowed"];
        let rounds = interleave(
            APPEND_ROUNDS,
            1,
            &mut || warm_pages(dir),
            &mut [
                contender(names[0], || time_raw_write(dir, w)),
                contender(names[1], || time_encode_write(dir, w)),
                contender(names[2], || time_partition_append(dir, w, &config)),
                contender(names[3], || time_partition_append_borrowed(dir, w, &refs, &config)),
            ],
        );
        let title = format!(
            "{group_name} ({} records, {} per append, {} bytes, no fsync)",
            w.records.len(),
            w.per_append,
            w.bytes
        );
        report(&title, &names, &rounds, 1, 2, units);
    }
    // encode_write only in the paired run, to keep the whole bench near two minutes.
    let mut group = append_group(c, group_name, w.records.len() as u64, seconds);
    group.bench_function("raw_write", |b| b.iter_custom(|n| per_iteration(dir, n, || time_raw_write(dir, w))));
    group.bench_function("partition", |b| {
        b.iter_custom(|n| per_iteration(dir, n, || time_partition_append(dir, w, &config)))
    });
    group.bench_function("partition_borrowed", |b| {
        b.iter_custom(|n| per_iteration(dir, n, || time_partition_append_borrowed(dir, w, &refs, &config)))
    });
    group.finish();
}

fn bench_append_1kib(c: &mut Criterion) {
    const GROUP: &str = "append_1KiB";
    if selected(GROUP) {
        let w = workload(LARGE_RECORDS, LARGE_VALUE, BATCH_RECORDS, 0x2545_f491_4f6c_dd1d);
        bench_append_simple(c, GROUP, &w, 5);
    }
}

fn bench_append_single(c: &mut Criterion) {
    const GROUP: &str = "append_single";
    if selected(GROUP) {
        let w = workload(SINGLE_RECORDS, SMALL_VALUE, 1, 0xd1b5_4a32_d192_ed03);
        bench_append_simple(c, GROUP, &w, 2);
    }
}

// ---------------------------------------------------------------- read

/// The 1,000,000 × 100 B partition (segment.bytes = 64 MiB), flushed, with
/// its `.log` files' paths and bytes.
struct ReadFixture {
    dir: TempDir,
    log: Partition,
    paths: Vec<PathBuf>,
    files: Vec<Bytes>,
    bytes: u64,
}

impl ReadFixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = small();
        // Workloads R1/R2: the default config, so one segment, the active one.
        let (log, segments) = append_and_verify(dir.path(), w, &LogConfig::default());
        // On disk now, so background writeback stays out of the timed phases.
        log.flush().expect("flush");
        let paths = log_files(dir.path());
        let files: Vec<Bytes> = paths.iter().map(|p| Bytes::from(std::fs::read(p).expect("read .log"))).collect();
        let bytes = files.iter().map(|f| f.len() as u64).sum();
        println!(
            "read fixture: {} records, {segments} segment(s) (default segment.bytes), {bytes} bytes",
            w.records.len()
        );
        Self { dir, log, paths, files, bytes }
    }
}

/// `read_from(0)` over every record; returns (records, value bytes).
fn scan_partition(log: &Partition) -> (u64, u64) {
    let (mut records, mut value_bytes) = (0u64, 0u64);
    for record in log.read_from(0).expect("read_from") {
        let record = record.expect("record");
        value_bytes += record.value().map_or(0, <[u8]>::len) as u64;
        records += 1;
    }
    (records, value_bytes)
}

/// `read_from(0)` with `for_each_view` (borrowed views, no per-record
/// allocation); returns (records, value bytes).
fn scan_partition_views(log: &Partition) -> (u64, u64) {
    let mut value_bytes = 0u64;
    let records = log
        .read_from(0)
        .expect("read_from")
        .for_each_view(|record| value_bytes += record.value().map_or(0, <[u8]>::len) as u64)
        .expect("scan");
    (records, value_bytes)
}

/// A zigzag varint at `at` of `data`: (value, bytes).
fn raw_varint(data: &[u8], at: usize) -> (i64, usize) {
    let (mut raw, mut shift, mut n) = (0u64, 0, 0);
    loop {
        let b = data[at + n];
        raw |= u64::from(b & 0x7f) << shift;
        n += 1;
        if b & 0x80 == 0 {
            return (((raw >> 1) as i64) ^ -((raw & 1) as i64), n);
        }
        shift += 7;
    }
}

/// The raw floor of a scan: every batch of the in-memory files CRC-checked,
/// and every record walked by hand (length, attributes, timestamp and offset
/// deltas, key and value lengths, then a jump to the next record) with no
/// checks beyond the CRC; returns (records, value bytes).
fn scan_raw_walk(files: &[Bytes]) -> (u64, u64) {
    let (mut records, mut value_bytes) = (0u64, 0u64);
    for data in files {
        let mut at = 0usize;
        while at < data.len() {
            let header = BatchHeader::parse(&data[at..]).expect("batch header");
            let size = header.size_in_bytes().expect("batch size") as usize;
            let batch = &data[at..at + size];
            assert_eq!(crc32c::crc32c(&batch[21..]), header.crc, "crc");
            let mut pos = RECORD_BATCH_OVERHEAD;
            for _ in 0..header.record_count {
                let (len, n) = raw_varint(batch, pos);
                let body = pos + n;
                let mut p = body + 1;
                p += raw_varint(batch, p).1; // timestamp delta
                p += raw_varint(batch, p).1; // offset delta
                let (key_len, n) = raw_varint(batch, p);
                p += n + key_len.max(0) as usize;
                let (value_len, _) = raw_varint(batch, p);
                value_bytes += value_len.max(0) as u64;
                records += 1;
                pos = body + len as usize;
            }
            at += size;
        }
    }
    (records, value_bytes)
}

/// `read()`s every file into a 1 MiB buffer; returns the bytes read.
fn scan_raw_read(paths: &[PathBuf]) -> u64 {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut total = 0u64;
    for path in paths {
        let mut file = File::open(path).expect("open .log");
        loop {
            let n = file.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            black_box(&buf);
            total += n as u64;
        }
    }
    total
}

/// Decodes every record of the in-memory files; returns (records, value bytes).
fn scan_decode_only(files: &[Bytes]) -> (u64, u64) {
    let (mut records, mut value_bytes) = (0u64, 0u64);
    for data in files {
        for batch in FileBatches::new(data.clone(), 0) {
            let batch = batch.expect("batch");
            for record in batch.records().expect("records") {
                let record = record.expect("record");
                value_bytes += record.value().map_or(0, <[u8]>::len) as u64;
                records += 1;
            }
        }
    }
    (records, value_bytes)
}

fn bench_scan(c: &mut Criterion, fx: &ReadFixture) {
    const GROUP: &str = "scan";
    let expected = (SMALL_RECORDS as u64, (SMALL_RECORDS * SMALL_VALUE) as u64);
    assert_eq!(scan_partition(&fx.log), expected, "partition scan");
    assert_eq!(scan_partition_views(&fx.log), expected, "partition view scan");
    assert_eq!(scan_raw_walk(&fx.files), expected, "raw walk");
    assert_eq!(scan_decode_only(&fx.files), expected, "decode-only scan");
    assert_eq!(scan_raw_read(&fx.paths), fx.bytes, "raw read");
    let units = Units::Records { records: SMALL_RECORDS as u64, bytes: fx.bytes };

    if paired_enabled(GROUP) {
        // Page-cache state before the read phases, as for the writes.
        warm_pages(fx.dir.path());
        let names = ["raw_read", "decode_only", "raw_walk", "partition", "partition_views"];
        let mut rounds = interleave(
            READ_ROUNDS,
            READ_REPS,
            &mut || {},
            &mut [
                contender(names[0], || timed(|| scan_raw_read(&fx.paths))),
                contender(names[1], || timed(|| scan_decode_only(&fx.files))),
                contender(names[2], || timed(|| scan_raw_walk(&fx.files))),
                contender(names[3], || timed(|| scan_partition(&fx.log))),
                contender(names[4], || timed(|| scan_partition_views(&fx.log))),
            ],
        );
        // "I/O + decode": the two baselines of each round added up, and I/O + raw walk.
        let sum: Vec<Duration> = rounds[0].iter().zip(&rounds[1]).map(|(a, b)| *a + *b).collect();
        let raw: Vec<Duration> = rounds[0].iter().zip(&rounds[2]).map(|(a, b)| *a + *b).collect();
        rounds.insert(3, sum);
        rounds.insert(4, raw);
        let names = [
            "raw_read",
            "decode_only",
            "raw_walk",
            "raw_read+decode_only",
            "raw_read+raw_walk",
            "partition",
            "partition_views",
        ];
        let title = format!("{GROUP} (read_from(0) over 1,000,000 records, {} bytes, warm page cache)", fx.bytes);
        report(&title, &names, &rounds, READ_REPS, 5, units);
    }

    let mut group = c.benchmark_group(GROUP);
    group
        .throughput(Throughput::Elements(SMALL_RECORDS as u64))
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat);
    group.bench_function("raw_read", |b| b.iter_custom(|n| (0..n).map(|_| timed(|| scan_raw_read(&fx.paths))).sum()));
    group.bench_function("decode_only", |b| {
        b.iter_custom(|n| (0..n).map(|_| timed(|| scan_decode_only(&fx.files))).sum())
    });
    group.bench_function("raw_walk", |b| b.iter_custom(|n| (0..n).map(|_| timed(|| scan_raw_walk(&fx.files))).sum()));
    group.bench_function("partition", |b| b.iter_custom(|n| (0..n).map(|_| timed(|| scan_partition(&fx.log))).sum()));
    group.bench_function("partition_views", |b| {
        b.iter_custom(|n| (0..n).map(|_| timed(|| scan_partition_views(&fx.log))).sum())
    });
    group.finish();
}

/// Where the batch holding an offset is: file index, position, size.
#[derive(Clone, Copy)]
struct Location {
    file: usize,
    position: u64,
    size: usize,
}

/// Locates the batch holding each target by walking the files' batch headers.
fn locate(files: &[Bytes], targets: &[i64]) -> Vec<Location> {
    let mut batches: Vec<(i64, Location)> = Vec::new();
    for (file, data) in files.iter().enumerate() {
        let mut at = 0usize;
        while at < data.len() {
            let header = BatchHeader::parse(&data[at..]).expect("batch header");
            let size = header.size_in_bytes().expect("batch size") as usize;
            batches.push((header.last_offset(), Location { file, position: at as u64, size }));
            at += size;
        }
    }
    targets.iter().map(|&t| batches[batches.partition_point(|(last, _)| *last < t)].1).collect()
}

/// The value length of the record at `offset` in `batch`.
fn find_record(batch: &RecordBatch, offset: i64) -> u64 {
    let record = batch
        .records()
        .expect("records")
        .map(|r| r.expect("record"))
        .find(|r| r.offset() == offset)
        .expect("record at offset");
    record.value().map_or(0, <[u8]>::len) as u64
}

/// One `read(offset, 1)` of the partition, decoded down to the record.
fn read_partition(log: &Partition, offset: i64) -> u64 {
    let bytes = log.read(offset, 1).expect("read");
    let batch = FileBatches::new(bytes, 0).next().expect("a batch").expect("valid batch");
    find_record(&batch, offset)
}

/// The point-read adapter: `read(offset, 1)`, the first batch through
/// `FileBatches::new_lazy` (CRC up front, records validated as walked), then
/// owned records walked to the offset.
fn read_partition_lazy(log: &Partition, offset: i64) -> u64 {
    let bytes = log.read(offset, 1).expect("read");
    let batch = FileBatches::new_lazy(bytes, 0).next().expect("a batch").expect("valid batch");
    find_record(&batch, offset)
}

/// `read(offset, 1)`, `FileBatches::new_lazy`, then `RecordBatch::record_at`
/// (borrowed views walked to the offset).
fn read_partition_view(log: &Partition, offset: i64) -> u64 {
    let bytes = log.read(offset, 1).expect("read");
    let batch = FileBatches::new_lazy(bytes, 0).next().expect("a batch").expect("valid batch");
    let record = batch.record_at(offset).expect("valid record").expect("record at offset");
    record.value().map_or(0, <[u8]>::len) as u64
}

/// `Partition::read_record_at`: the point-read API (index, header walk and
/// one CRC in the mapping, only the wanted record decoded).
fn read_partition_point(log: &Partition, offset: i64) -> u64 {
    let len = log.read_record_at(offset, |r| {
        assert_eq!(r.offset(), offset, "record at offset");
        r.value().map_or(0, <[u8]>::len) as u64
    });
    len.expect("read").expect("record at offset")
}

/// One `pread` of the batch at `loc` into a fresh buffer, decoded down to the record.
fn read_pread_decode(files: &[File], loc: Location, offset: i64) -> u64 {
    let mut buf = vec![0u8; loc.size];
    files[loc.file].read_exact_at(&mut buf, loc.position).expect("pread");
    let batch = RecordBatch::new(Bytes::from(buf)).expect("valid batch");
    find_record(&batch, offset)
}

/// `pread`s of the batches at `locs` into one reused buffer; returns a checksum.
fn pread_only(files: &[File], locs: &[Location], buf: &mut [u8]) -> u64 {
    let mut sum = 0u64;
    for loc in locs {
        let dst = &mut buf[..loc.size];
        files[loc.file].read_exact_at(dst, loc.position).expect("pread");
        sum += u64::from(dst[loc.size - 1]);
    }
    sum
}

/// Per-read latency percentiles (p50, p99) of `read` over `targets`.
fn latencies(targets: &[i64], mut read: impl FnMut(usize, i64) -> u64) -> (Duration, Duration) {
    let mut times: Vec<Duration> = targets.iter().enumerate().map(|(i, &t)| timed(|| read(i, t))).collect();
    times.sort_unstable();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn bench_random_read(c: &mut Criterion, fx: &ReadFixture) {
    const GROUP: &str = "random_read";
    let w = small();
    let mut rng = XorShift(0x6a09_e667_f3bc_c909);
    let targets: Vec<i64> = (0..RANDOM_READS).map(|_| rng.below(SMALL_RECORDS as u64) as i64).collect();
    let locs = locate(&fx.files, &targets);
    let files: Vec<File> = fx.paths.iter().map(|p| File::open(p).expect("open .log")).collect();
    let mut buf = vec![0u8; locs.iter().map(|l| l.size).max().unwrap_or(0)];
    // Check both paths return the right record (value length, and the value itself once).
    for (&t, &loc) in targets.iter().zip(&locs) {
        assert_eq!(read_partition(&fx.log, t), SMALL_VALUE as u64, "partition read of {t}");
        assert_eq!(read_partition_lazy(&fx.log, t), SMALL_VALUE as u64, "lazy partition read of {t}");
        assert_eq!(read_partition_view(&fx.log, t), SMALL_VALUE as u64, "view partition read of {t}");
        assert_eq!(read_partition_point(&fx.log, t), SMALL_VALUE as u64, "point read of {t}");
        assert_eq!(read_pread_decode(&files, loc, t), SMALL_VALUE as u64, "pread of {t}");
    }
    for &t in targets.iter().take(100) {
        let bytes = fx.log.read(t, 1).expect("read");
        let batch = FileBatches::new(bytes, 0).next().expect("a batch").expect("valid batch");
        let record = batch.records().expect("records").map(|r| r.expect("record")).find(|r| r.offset() == t);
        let record = record.expect("record at offset");
        assert_eq!(record.value(), w.records[t as usize].value.as_deref(), "value at {t}");
        assert_eq!(record.timestamp(), BASE_TIMESTAMP + t, "timestamp at {t}");
        let point = fx.log.read_record_at(t, |r| (r.value().map(<[u8]>::to_vec), r.timestamp())).expect("read");
        assert_eq!(point, Some((record.value().map(<[u8]>::to_vec), record.timestamp())), "point read at {t}");
    }
    let run_partition = || targets.iter().map(|&t| read_partition(&fx.log, black_box(t))).sum::<u64>();
    let run_lazy = || targets.iter().map(|&t| read_partition_lazy(&fx.log, black_box(t))).sum::<u64>();
    let run_view = || targets.iter().map(|&t| read_partition_view(&fx.log, black_box(t))).sum::<u64>();
    let run_point = || targets.iter().map(|&t| read_partition_point(&fx.log, black_box(t))).sum::<u64>();
    let run_pread_decode = || targets.iter().zip(&locs).map(|(&t, &l)| read_pread_decode(&files, l, t)).sum::<u64>();

    if paired_enabled(GROUP) {
        let names =
            ["raw_pread", "raw_pread_decode", "partition", "partition_lazy", "partition_view", "partition_point"];
        let rounds = interleave(
            READ_ROUNDS,
            READ_REPS,
            &mut || {},
            &mut [
                contender(names[0], || timed(|| pread_only(&files, &locs, &mut buf))),
                contender(names[1], || timed(run_pread_decode)),
                contender(names[2], || timed(run_partition)),
                contender(names[3], || timed(run_lazy)),
                contender(names[4], || timed(run_view)),
                contender(names[5], || timed(run_point)),
            ],
        );
        let title = format!("{GROUP} ({RANDOM_READS} reads of one record by offset)");
        report(&title, &names, &rounds, READ_REPS, 2, Units::Ops(RANDOM_READS as u64, "read"));
        for _ in 0..2 {
            let (p50, p99) = latencies(&targets, |_, t| read_partition(&fx.log, t));
            let (l50, l99) = latencies(&targets, |_, t| read_partition_lazy(&fx.log, t));
            let (v50, v99) = latencies(&targets, |_, t| read_partition_view(&fx.log, t));
            let (q50, q99) = latencies(&targets, |_, t| read_partition_point(&fx.log, t));
            let (b50, b99) = latencies(&targets, |i, t| read_pread_decode(&files, locs[i], t));
            println!(
                "  per-read latency: partition p50 {p50:?} p99 {p99:?}; partition_lazy p50 {l50:?} p99 {l99:?}; \
                 partition_view p50 {v50:?} p99 {v99:?}; partition_point p50 {q50:?} p99 {q99:?}; \
                 raw_pread_decode p50 {b50:?} p99 {b99:?}"
            );
        }
    }

    let mut group = c.benchmark_group(GROUP);
    group
        .throughput(Throughput::Elements(RANDOM_READS as u64))
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(1))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat);
    group.bench_function("raw_pread", |b| {
        b.iter_custom(|n| (0..n).map(|_| timed(|| pread_only(&files, &locs, &mut buf))).sum())
    });
    group.bench_function("raw_pread_decode", |b| b.iter_custom(|n| (0..n).map(|_| timed(run_pread_decode)).sum()));
    group.bench_function("partition", |b| b.iter_custom(|n| (0..n).map(|_| timed(run_partition)).sum()));
    group.bench_function("partition_lazy", |b| b.iter_custom(|n| (0..n).map(|_| timed(run_lazy)).sum()));
    group.bench_function("partition_view", |b| b.iter_custom(|n| (0..n).map(|_| timed(run_view)).sum()));
    group.bench_function("partition_point", |b| b.iter_custom(|n| (0..n).map(|_| timed(run_point)).sum()));
    group.finish();
}

/// The read groups share one fixture, built only when either is selected
/// (and removed at the end).
fn bench_read(c: &mut Criterion) {
    let (scan, random) = (selected("scan"), selected("random_read"));
    if !scan && !random {
        return;
    }
    let fx = ReadFixture::new();
    if scan {
        bench_scan(c, &fx);
    }
    if random {
        bench_random_read(c, &fx);
    }
}

criterion_group!(benches, bench_append_100b, bench_append_1kib, bench_append_single, bench_read);
criterion_main!(benches);
