//! Log compaction (issue 10): cleaning throughput in MB/s of dirty data,
//! beside a plain copy of the same segment bytes measured in the same run,
//! and the memory one cleaning takes beside the configured map size.
//!
//! Data: a compacted partition (`cleanup.policy=compact`, segment.bytes =
//! 4 MiB) of 200,000 records in appends of 100, keys `key-NNNNN` drawn from
//! 10,000 at random (about 20 versions each), 150-byte values, rolled so that
//! every segment is sealed: about 36 MB of dirty data in 9 segments, never
//! cleaned. It is built once and copied for each repetition.
//!
//! Groups (criterion IDs):
//! - `compaction/plain_copy`: each sealed `.log` read whole, written to a new
//!   file, `fsync`ed; then the directory `fsync`ed. The cleaner does more
//!   (reads the dirty bytes twice: the offset map, then the rewrite; writes
//!   only what it keeps, plus indexes, and swaps the segments in with
//!   renames and a state file), so the ratio is a cost figure, not a target.
//! - `compaction/clean`: `Partition::compact_with(first_dirty_offset(0))`
//!   with a 16 MiB offset map on a fresh copy of the partition, opened
//!   before timing. Throughput = the dirty bytes.
//!
//! Memory: before the groups, one cleaning with a 16 MiB and one with a
//! 64 MiB map print the peak resident memory they added: anonymous memory
//! (the map and the cleaner's buffers; sampled every millisecond from
//! `/proc/self/status`) and the whole resident set (`VmHWM` after resetting
//! it through `/proc/self/clear_refs`; it also counts the pages of the
//! segment files the cleaner maps, which the kernel can drop).
//!
//! Following `/work/shared/BENCHMARKING.md`: a 512 MiB scratch file is
//! written and deleted before each timed phase, and under `cargo bench` the
//! contenders first run interleaved, printing per round the cleaning speed
//! relative to the copy: that ratio is the figure to quote.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;
use topiclog::CleanupPolicy;
use topiclog::{CleanerOptions, CompactionResult, LogConfig, Partition, Record};

use common::{Units, XorShift, contender, interleave, paired_enabled, report, selected, timed, warm_pages};

const GROUP: &str = "compaction";
const RECORDS: usize = 200_000;
const KEYS: u64 = 10_000;
const VALUE: usize = 150;
const PER_APPEND: usize = 100;
const SEGMENT_BYTES: i64 = 4 << 20;
const MAP_BYTES: usize = 16 << 20;
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;
const ROUNDS: usize = 5;

fn config() -> LogConfig {
    LogConfig::new().cleanup_policy(CleanupPolicy::Compact).segment_bytes(SEGMENT_BYTES)
}

fn options(map_bytes: usize) -> CleanerOptions {
    CleanerOptions::new().first_dirty_offset(0).dedupe_buffer_size(map_bytes)
}

/// The never-cleaned partition, closed, and its sealed `.log` files.
struct Fixture {
    tmp: TempDir,
    template: PathBuf,
    sealed: Vec<PathBuf>,
    dirty_bytes: u64,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let template = tmp.path().join("template");
    let log = Partition::open(&template, config()).expect("open partition");
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let hex = b"0123456789abcdef";
    let pool: Bytes = (0..VALUE + 4096).map(|_| hex[rng.below(16) as usize]).collect::<Vec<u8>>().into();
    for first in (0..RECORDS).step_by(PER_APPEND) {
        let records: Vec<Record> = (first..first + PER_APPEND)
            .map(|i| {
                let start = (i * 61) % 4096;
                Record::new()
                    .key(format!("key-{:05}", rng.below(KEYS)))
                    .value(pool.slice(start..start + VALUE))
                    .timestamp(BASE_TIMESTAMP + i as i64)
            })
            .collect();
        log.append(&records).expect("append");
    }
    log.roll().expect("roll");
    let segments = log.segments().expect("segments");
    let (_, sealed) = segments.split_last().expect("segments");
    let dirty_bytes = sealed.iter().map(|s| s.size).sum();
    let sealed = sealed.iter().map(|s| template.join(format!("{:020}.log", s.base_offset))).collect();
    log.close().expect("close");
    Fixture { tmp, template, sealed, dirty_bytes }
}

/// A fresh copy of the template, opened.
fn fresh_copy(fx: &Fixture) -> (TempDir, Partition) {
    let sub = tempfile::tempdir_in(fx.tmp.path()).expect("copy dir");
    for entry in std::fs::read_dir(&fx.template).expect("list template") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), sub.path().join(entry.file_name())).expect("copy");
    }
    let log = Partition::open(sub.path(), config()).expect("open copy");
    (sub, log)
}

fn clean(log: &Partition, map_bytes: usize) -> CompactionResult {
    log.compact_with(&options(map_bytes)).expect("compact")
}

/// Reads each sealed `.log` and writes it to a new file in `into`, synced,
/// then syncs the directory.
fn plain_copy(fx: &Fixture, into: &Path) {
    for path in &fx.sealed {
        let bytes = std::fs::read(path).expect("read segment");
        let target = into.join(path.file_name().expect("file name"));
        let mut file = std::fs::File::create(&target).expect("create copy");
        std::io::Write::write_all(&mut file, &bytes).expect("write copy");
        file.sync_all().expect("fsync copy");
    }
    std::fs::File::open(into).expect("open dir").sync_all().expect("fsync dir");
}

// ---------------------------------------------------------------- memory

/// A field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// One cleaning of a fresh copy with a `map_bytes` map: the peak anonymous
/// and total resident memory it added (`None` for the total where `VmHWM`
/// cannot be reset).
fn memory_of_one_cleaning(fx: &Fixture, map_bytes: usize) -> (u64, Option<u64>, CompactionResult) {
    let (_sub, log) = fresh_copy(fx);
    let anon_before = status_bytes("RssAnon");
    // Resets VmHWM to the current resident set (Linux ≥ 4.0).
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before = status_bytes("VmRSS");
    let done = AtomicBool::new(false);
    let (peak_anon, result) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = status_bytes("RssAnon");
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(status_bytes("RssAnon"));
                std::thread::sleep(Duration::from_millis(1));
            }
            peak.max(status_bytes("RssAnon"))
        });
        let result = clean(&log, map_bytes);
        done.store(true, Ordering::Relaxed);
        (sampler.join().expect("sampler"), result)
    });
    let hwm = hwm_reset.then(|| status_bytes("VmHWM").saturating_sub(rss_before));
    (peak_anon.saturating_sub(anon_before), hwm, result)
}

fn print_memory(fx: &Fixture) {
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    for map_bytes in [MAP_BYTES, 4 * MAP_BYTES] {
        let (anon, total, result) = memory_of_one_cleaning(fx, map_bytes);
        let verdict = if anon <= map_bytes as u64 { "within" } else { "OVER" };
        let total = total.map_or("n/a".to_string(), |t| format!("+{:.1} MiB", mib(t)));
        println!(
            "{GROUP} memory: map {:.0} MiB ({} keys): peak anonymous +{:.1} MiB ({verdict} the map size), \
             peak resident {total} (with mapped segment pages), cleaning {:.1} MiB of dirty data",
            mib(map_bytes as u64),
            result.map_keys,
            mib(anon),
            mib(fx.dirty_bytes)
        );
    }
}

// ---------------------------------------------------------------- groups

fn bench_compaction(c: &mut Criterion) {
    if !selected(GROUP) {
        return;
    }
    let fx = fixture();
    let (_sub, log) = fresh_copy(&fx);
    let first = clean(&log, MAP_BYTES);
    drop(log);
    assert_eq!(first.map_keys as u64, KEYS, "every key is drawn");
    assert_eq!(first.records_read, RECORDS as u64);
    assert_eq!(first.records_kept, KEYS, "one record per key is left");
    println!(
        "{GROUP}: {} bytes of dirty data in {} sealed segments; cleaned to {} bytes in {} segments",
        fx.dirty_bytes,
        fx.sealed.len(),
        first.bytes_written,
        first.segments_written
    );
    print_memory(&fx);

    if paired_enabled(GROUP) {
        let names = ["plain_copy", "clean"];
        let rounds = interleave(
            ROUNDS,
            1,
            &mut || warm_pages(fx.tmp.path()),
            &mut [
                contender(names[0], || {
                    let sub = tempfile::tempdir_in(fx.tmp.path()).expect("copy dir");
                    timed(|| plain_copy(&fx, sub.path()))
                }),
                contender(names[1], || {
                    let (_sub, log) = fresh_copy(&fx);
                    timed(|| clean(&log, MAP_BYTES))
                }),
            ],
        );
        let title = format!("{GROUP} ({} bytes of dirty data, {} keys)", fx.dirty_bytes, KEYS);
        report(&title, &names, &rounds, 1, 1, Units::Bytes(fx.dirty_bytes));
    }

    let mut group = c.benchmark_group(GROUP);
    group
        .throughput(Throughput::Bytes(fx.dirty_bytes))
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat);
    group.bench_function("plain_copy", |b| {
        b.iter_batched(
            || {
                warm_pages(fx.tmp.path());
                tempfile::tempdir_in(fx.tmp.path()).expect("copy dir")
            },
            |sub| {
                plain_copy(&fx, sub.path());
                sub
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("clean", |b| {
        b.iter_batched(
            || {
                warm_pages(fx.tmp.path());
                fresh_copy(&fx)
            },
            |(sub, log)| {
                clean(&log, MAP_BYTES);
                (sub, log)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_compaction);
criterion_main!(benches);
