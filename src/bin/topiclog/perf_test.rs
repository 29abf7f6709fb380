//! `topiclog perf-test`: kafka-producer-perf-test.sh, then a read pass, each
//! beside a raw `write()`/`read()` of the same bytes in the same run.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use topiclog::{Record, TopicConfig};

use crate::common::{Access, CliError, CliResult, Global, close_store, open_store};

/// Options of `perf-test`.
#[derive(Debug, Args)]
#[command(after_help = "Appends N records of B bytes (batches of --batch-size records, round-robin over the \
    partitions), flushing every --flush-every records and at the end, and reports records/s, MB/s and append \
    latency percentiles; then reads them back. Each pass is shown beside a raw write()/read() of the same bytes \
    (same number of write calls and fsyncs) to a scratch file in the data directory, removed afterwards.\n\n\
    Examples:\n  \
    topiclog perf-test --topic perf --num-records 100000 --record-size 100\n  \
    topiclog perf-test --topic perf --num-records 20000 --record-size 1024 --batch-size 10 --partitions 3 --flush-every 1000")]
pub struct PerfTestArgs {
    /// The topic (created with --partitions when missing).
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// Records to append.
    #[arg(long, value_name = "N")]
    num_records: u64,
    /// Bytes of each record's value.
    #[arg(long, value_name = "B")]
    record_size: usize,
    /// Records per append call (one batch).
    #[arg(long, value_name = "N", default_value_t = 100)]
    batch_size: usize,
    /// Partitions of the topic if it is created.
    #[arg(long, value_name = "P", default_value_t = 1)]
    partitions: u32,
    /// Flush (fsync) after this many records; 0: only at the end.
    #[arg(long, value_name = "N", default_value_t = 0)]
    flush_every: u64,
}

/// Runs `perf-test`.
pub fn run(global: &Global, args: PerfTestArgs) -> CliResult<ExitCode> {
    if args.num_records == 0 || args.record_size == 0 || args.batch_size == 0 || args.partitions == 0 {
        return Err(CliError::msg("--num-records, --record-size, --batch-size and --partitions must be at least 1"));
    }
    let store = open_store(global, Access::Write)?;
    let topic = match store.existing_topic(&args.topic) {
        Ok(t) => t,
        Err(_) => store.create_topic(&args.topic, args.partitions, TopicConfig::new())?,
    };
    let partitions = topic.partitions();
    let starts: Vec<i64> = partitions.iter().map(|p| p.log_end_offset()).collect();
    let payload = Bytes::from(pseudo_random(args.record_size));
    let count = partitions.len().max(1);

    // Write pass.
    let mut latencies: Vec<Duration> = Vec::new();
    let mut sent = 0u64;
    let mut since_flush = 0u64;
    let mut calls = 0u64;
    let started = Instant::now();
    while sent < args.num_records {
        let n = (args.num_records - sent).min(args.batch_size as u64) as usize;
        let records: Vec<Record> = (0..n).map(|_| Record::new().value(payload.clone())).collect();
        let p = partitions.get((calls as usize) % count).ok_or_else(|| CliError::msg("topic has no partition"))?;
        let t0 = Instant::now();
        p.append(&records)?;
        if args.flush_every > 0 && since_flush + n as u64 >= args.flush_every {
            p.flush()?;
            since_flush = 0;
        } else {
            since_flush += n as u64;
        }
        latencies.push(t0.elapsed());
        sent += n as u64;
        calls += 1;
    }
    for p in &partitions {
        p.flush()?;
    }
    let write_time = started.elapsed();
    let bytes = args.num_records * args.record_size as u64;

    // Read pass: the records just written.
    let started = Instant::now();
    let mut read_records = 0u64;
    let mut read_bytes = 0u64;
    for (p, &start) in partitions.iter().zip(&starts) {
        read_records += p.read_from(start)?.for_each_view(|r| read_bytes += r.value().map_or(0, |v| v.len() as u64))?;
    }
    let read_time = started.elapsed();
    close_store(store)?;
    if read_records != args.num_records || read_bytes != bytes {
        return Err(CliError::msg(format!(
            "read pass found {read_records} records ({read_bytes} bytes), expected {} ({bytes} bytes)",
            args.num_records
        )));
    }

    // The same bytes through raw write()/read().
    let (raw_write, raw_read) = raw_baseline(&global.data_dir, &args, &payload)?;

    let mb = |b: u64, t: Duration| b as f64 / (1024.0 * 1024.0) / t.as_secs_f64().max(1e-9);
    let rps = |n: u64, t: Duration| n as f64 / t.as_secs_f64().max(1e-9);
    latencies.sort();
    let pct = |q: f64| -> f64 {
        let i = ((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
        latencies.get(i.min(latencies.len().saturating_sub(1))).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let avg = latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / latencies.len().max(1) as f64;
    outln!(
        "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.3} ms avg latency, {:.3} ms max latency, \
         {:.3} ms 50th, {:.3} ms 95th, {:.3} ms 99th, {:.3} ms 99.9th (per append of up to {} records).",
        args.num_records,
        rps(args.num_records, write_time),
        mb(bytes, write_time),
        avg,
        pct(1.0),
        pct(0.50),
        pct(0.95),
        pct(0.99),
        pct(0.999),
        args.batch_size
    )?;
    outln!(
        "  raw write() of the same {bytes} value bytes in {calls} calls: {:.2} MB/sec; topiclog/raw = {:.2}",
        mb(bytes, raw_write),
        raw_write.as_secs_f64() / write_time.as_secs_f64().max(1e-9)
    )?;
    outln!(
        "{read_records} records read, {:.1} records/sec ({:.2} MB/sec).",
        rps(read_records, read_time),
        mb(read_bytes, read_time)
    )?;
    outln!(
        "  raw read() of the same bytes: {:.2} MB/sec; topiclog/raw = {:.2}",
        mb(bytes, raw_read),
        raw_read.as_secs_f64() / read_time.as_secs_f64().max(1e-9)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the values' bytes with one write() per batch (and an fsync where
/// the log flushed), then reads them back with read(); returns both times.
fn raw_baseline(dir: &Path, args: &PerfTestArgs, payload: &[u8]) -> CliResult<(Duration, Duration)> {
    let path = dir.join(format!(".perf-test-raw-{}", std::process::id()));
    let result = (|| -> std::io::Result<(Duration, Duration)> {
        let chunk: Vec<u8> = payload.repeat(args.batch_size);
        let started = Instant::now();
        let mut file = File::create(&path)?;
        let mut sent = 0u64;
        let mut since_flush = 0u64;
        while sent < args.num_records {
            let n = (args.num_records - sent).min(args.batch_size as u64) as usize;
            file.write_all(chunk.get(..n * payload.len()).unwrap_or(&chunk))?;
            if args.flush_every > 0 && since_flush + n as u64 >= args.flush_every {
                file.sync_data()?;
                since_flush = 0;
            } else {
                since_flush += n as u64;
            }
            sent += n as u64;
        }
        file.sync_all()?;
        drop(file);
        let write = started.elapsed();
        let started = Instant::now();
        let mut file = File::open(&path)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        std::hint::black_box(total);
        Ok((write, started.elapsed()))
    })();
    let _ = std::fs::remove_file(&path);
    result.map_err(|e| CliError::msg(format!("raw baseline in {}: {e}", dir.display())))
}

/// Incompressible bytes (xorshift), so codecs and sparse files flatter nobody.
fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
