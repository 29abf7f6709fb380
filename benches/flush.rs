//! Durable appends (workload F1): append one record of 100 B, then flush,
//! repeatedly; each contender beside the machine's fdatasync rate measured in
//! the same run, in one `tempfile::tempdir()` (the same ext4 disk for all).
//!
//! Criterion IDs (group `flush`), each timed over a fixed number of durable
//! appends (`OPS_PER_WRITER` per writer):
//! - `raw_fdatasync` (baseline): a plain file, `write_all` of 100 bytes at its
//!   end then `File::sync_data()`, repeated.
//! - `partition_1_writer`: `Partition::open(dir, LogConfig::default())`, then
//!   `append(&[Record::new().value(vec![b'x'; 100])])` + `flush()` repeated on
//!   one thread.
//! - `partition_8_writers`: `WRITERS` threads, each with a clone of one
//!   `Partition`, each doing append + flush in a loop; all start together at
//!   a barrier, and the time runs until the last one ends. Its throughput is
//!   the total of durable appends (`WRITERS × OPS_PER_WRITER`).
//!
//! Each contender keeps one file or partition for the whole bench, created
//! (and for the partitions, appended to and flushed once, so the first
//! flush's directory sync is out of the way) before any timing. After every
//! timed repetition the bench checks that the partition's log end offset moved
//! by the appends made and that its recovery point reached it (every append
//! durable).
//!
//! Under `cargo bench` the contenders first run interleaved (A B C, order
//! rotated each round, `ROUNDS` rounds; `common::interleave`) and the bench
//! prints each one's median rate and, per round, the ratios
//! `partition_1_writer / raw_fdatasync` and `partition_8_writers /
//! partition_1_writer` (of durable appends per second, so > 1 means faster):
//! those ratios are the figures to quote. Criterion's separate figures follow.
//!
//! No 512 MiB scratch warm-up (`common::warm_pages`) here: these phases write
//! a few tens of KiB and are bound by the disk's flushes, not by page-cache
//! speed, and the scratch file's writeback could still be queued on the disk
//! when a timed phase starts, slowing its first syncs.

mod common;

use std::fs::File;
use std::io::Write;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use topiclog::{LogConfig, Partition, Record};

use common::{contender, interleave, median, median_f64, paired_enabled, selected};

const GROUP: &str = "flush";
const VALUE_LEN: usize = 100;
/// Durable appends per writer in one timed repetition.
const OPS_PER_WRITER: u64 = 200;
const WRITERS: u64 = 8;
/// Rounds of the interleaved comparison, one repetition per contender each.
const ROUNDS: usize = 9;

/// `OPS_PER_WRITER` × (`write_all` of `payload` at the end of `file`, then fdatasync).
fn time_raw_fdatasync(file: &mut File, payload: &[u8]) -> Duration {
    let start = Instant::now();
    for _ in 0..OPS_PER_WRITER {
        file.write_all(payload).expect("write");
        file.sync_data().expect("fdatasync");
    }
    start.elapsed()
}

/// `OPS_PER_WRITER` × (append `record`, flush) on `log`.
fn append_flush_loop(log: &Partition, record: &[Record]) {
    for _ in 0..OPS_PER_WRITER {
        log.append(record).expect("append");
        log.flush().expect("flush");
    }
}

/// Checks that `log` holds `before + appended` records, all of them durable.
fn check_durable(log: &Partition, before: i64, appended: u64) {
    let end = log.log_end_offset();
    assert_eq!(end, before + appended as i64, "log end offset after the appends");
    assert_eq!(log.recovery_point(), end, "recovery point after the flushes");
}

/// One writer: `OPS_PER_WRITER` appends, each flushed.
fn time_partition_1(log: &Partition, record: &[Record]) -> Duration {
    let before = log.log_end_offset();
    let start = Instant::now();
    append_flush_loop(log, record);
    let elapsed = start.elapsed();
    check_durable(log, before, OPS_PER_WRITER);
    elapsed
}

/// `WRITERS` threads, each with a clone of `log`, each appending and flushing
/// `OPS_PER_WRITER` times; timed from the barrier that starts them all to the
/// end of the last.
fn time_partition_n(log: &Partition, record: &[Record]) -> Duration {
    let before = log.log_end_offset();
    let barrier = Barrier::new(WRITERS as usize + 1);
    let start = thread::scope(|s| {
        for _ in 0..WRITERS {
            let (log, barrier) = (log.clone(), &barrier);
            s.spawn(move || {
                barrier.wait();
                append_flush_loop(&log, record);
            });
        }
        barrier.wait();
        Instant::now()
        // The scope joins every writer before returning.
    });
    let elapsed = start.elapsed();
    check_durable(log, before, WRITERS * OPS_PER_WRITER);
    elapsed
}

/// Durable appends per second of each repetition.
fn rates(times: &[Duration], ops: u64) -> Vec<f64> {
    times.iter().map(|t| ops as f64 / t.as_secs_f64()).collect()
}

fn spread(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// Prints each contender's median time and rate, then the two ratios per
/// round and their medians, as `common::report` does (it assumes the same
/// work for every contender; here the 8-writer run does `WRITERS` times more).
fn report_flush(names: &[&str; 3], rounds: &[Vec<Duration>]) {
    let ops = [OPS_PER_WRITER, OPS_PER_WRITER, WRITERS * OPS_PER_WRITER];
    println!(
        "paired {GROUP} (F1: append 1 record of {VALUE_LEN} B + flush, {OPS_PER_WRITER} per writer, \
         {} rounds interleaved):",
        rounds[0].len()
    );
    let rates: Vec<Vec<f64>> = rounds.iter().zip(ops).map(|(times, n)| rates(times, n)).collect();
    for ((name, times), r) in names.iter().zip(rounds).zip(&rates) {
        let (lo, hi) = spread(r);
        let m = median(times.clone());
        println!(
            "  {name:<24} median {m:>10.3?}  {:8.0} durable appends/s  (rounds {lo:.0}..{hi:.0})",
            median_f64(r.clone())
        );
    }
    for (subject, base) in [(1, 0), (2, 1)] {
        let ratios: Vec<f64> = rates[subject].iter().zip(&rates[base]).map(|(s, b)| s / b).collect();
        let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
        let (lo, hi) = spread(&ratios);
        println!(
            "  speed {} / {}: median {:.3}  range {lo:.3}..{hi:.3}  per round [{}]",
            names[subject],
            names[base],
            median_f64(ratios),
            shown.join(" ")
        );
    }
}

/// A fresh partition in `dir` with one record appended and flushed, so the
/// first flush's file and directory syncs happen before any timing.
fn open_partition(dir: &std::path::Path, record: &[Record]) -> Partition {
    let log = Partition::open(dir, LogConfig::default()).expect("open partition");
    log.append(record).expect("append");
    log.flush().expect("flush");
    log
}

fn bench_flush(c: &mut Criterion) {
    if !selected(GROUP) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let payload = vec![b'x'; VALUE_LEN];
    let record = [Record::new().value(payload.clone())];

    let mut raw = File::create(dir.join("raw.log")).expect("create raw file");
    raw.write_all(&payload).expect("write");
    raw.sync_all().expect("fsync raw file");
    std::fs::create_dir(dir.join("p1")).expect("p1 dir");
    std::fs::create_dir(dir.join("p8")).expect("p8 dir");
    let log1 = open_partition(&dir.join("p1"), &record);
    let log8 = open_partition(&dir.join("p8"), &record);

    if paired_enabled(GROUP) {
        let names = ["raw_fdatasync", "partition_1_writer", "partition_8_writers"];
        let rounds = interleave(
            ROUNDS,
            1,
            &mut || {},
            &mut [
                contender(names[0], || time_raw_fdatasync(&mut raw, &payload)),
                contender(names[1], || time_partition_1(&log1, &record)),
                contender(names[2], || time_partition_n(&log8, &record)),
            ],
        );
        report_flush(&names, &rounds);
    }

    let mut group = c.benchmark_group(GROUP);
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(OPS_PER_WRITER));
    group.bench_function("raw_fdatasync", |b| {
        b.iter_custom(|n| (0..n).map(|_| time_raw_fdatasync(&mut raw, &payload)).sum())
    });
    group.bench_function("partition_1_writer", |b| {
        b.iter_custom(|n| (0..n).map(|_| time_partition_1(&log1, &record)).sum())
    });
    group.throughput(Throughput::Elements(WRITERS * OPS_PER_WRITER));
    group.bench_function("partition_8_writers", |b| {
        b.iter_custom(|n| (0..n).map(|_| time_partition_n(&log8, &record)).sum())
    });
    group.finish();
}

criterion_group!(benches, bench_flush);
criterion_main!(benches);
