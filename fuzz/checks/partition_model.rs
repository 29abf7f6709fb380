//! The `partition_model` check, shared by the fuzz target
//! (`fuzz/fuzz_targets/partition_model.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`).
//!
//! Model-based: the input decodes to operations on a [`Partition`] (scratch
//! directory, [`ManualClock`]) — append, roll, delete_records, truncate_to,
//! flush, close and reopen, drop without close and reopen, read_from,
//! offset_for_timestamp, clock advance and retention — applied as well to a
//! model: the records appended, by offset, and the log start and end.
//! After every operation the partition's log start and end offsets equal
//! the model's, and reading from the log start gives exactly the model's
//! records (offset, timestamp, key, value) from there to the end.
//!
//! Retention is checked by its rule rather than modelled segment by
//! segment: the log start only moves forward, and every record it passes
//! over is older than `retention.ms`.
//!
//! Input: byte 0 picks `segment.bytes` ([`SEGMENT_BYTES`], bits 0-1) and
//! `index.interval.bytes` ([`INDEX_INTERVALS`], bits 2-3) and
//! `segment.index.bytes` ([`INDEX_BYTES`], bits 4-5); then operations,
//! one byte each plus arguments (missing bytes end the input); at most
//! [`MAX_OPS`] operations and [`MAX_BATCH`] records a batch.
//!
//! | op byte % 11 | operation | argument bytes |
//! |---|---|---|
//! | 0 | append | count (1 + n % 8), then one byte per record: its timestamp is `n` minutes before now; `n & 1` gives it no key |
//! | 1 | roll | |
//! | 2 | delete_records | offset picked around the log (see [`pick_offset`]) |
//! | 3 | truncate_to | offset picked around the log |
//! | 4 | flush | |
//! | 5 | close and reopen | |
//! | 6 | read_from | offset picked around the log |
//! | 7 | offset_for_timestamp | minutes before now |
//! | 8 | advance the clock | minutes |
//! | 9 | enforce_retention | |
//! | 10 | drop without close, reopen | |

use std::path::Path;
use std::sync::Arc;

use topiclog::{Clock, Error, LogConfig, ManualClock, Partition, PartitionOptions, Record};

pub const MAX_OPS: usize = 64;
pub const MAX_BATCH: usize = 8;
/// `segment.bytes` choices: small ones make appends roll often.
pub const SEGMENT_BYTES: [i64; 4] = [1 << 20, 300, 1000, 4096];
/// `index.interval.bytes` choices.
pub const INDEX_INTERVALS: [i64; 4] = [4096, 0, 100, 1];
/// `segment.index.bytes` choices. Small: an open after a drop without close
/// scans the whole preallocated index for its last entry, which at Kafka's
/// 10 MiB costs the fuzzer about a second per reopen.
pub const INDEX_BYTES: [i64; 4] = [4096, 120, 1024, 65536];
const START_MS: i64 = 1_700_000_000_000;
const MINUTE_MS: i64 = 60_000;
/// `retention.ms`: two hours.
const RETENTION_MS: i64 = 2 * 60 * MINUTE_MS;

fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new().prefix("topiclog-fuzz").tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

#[derive(Debug, Clone, PartialEq)]
struct Rec {
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Vec<u8>,
}

struct Run {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    config: LogConfig,
    partition: Option<Partition>,
    /// Records at offsets below `end`, in offset order (those below `start` too).
    records: Vec<Rec>,
    start: i64,
    end: i64,
}

/// An offset around the log: below the start, at it, inside, at the end,
/// past it, picked by `n`.
fn pick_offset(start: i64, end: i64, n: u8) -> i64 {
    let span = end - start;
    match n % 8 {
        0 => start,
        1 => end,
        2 => end + 1,
        3 => start - 1,
        4 => -1,
        5 => start + i64::from(n / 8) % (span + 1),
        6 => (start - i64::from(n / 8)).max(0),
        _ => end - i64::from(n / 8) % (span + 1),
    }
}

impl Run {
    fn partition(&self) -> &Partition {
        self.partition.as_ref().unwrap()
    }

    fn open(&mut self) {
        let options =
            PartitionOptions { config: self.config.clone(), clock: self.clock.clone(), ..PartitionOptions::default() };
        let p = Partition::open_with(self.dir.path(), options).unwrap_or_else(|e| panic!("open: {e}"));
        self.partition = Some(p);
    }

    fn readable(&self, from: i64) -> impl Iterator<Item = &Rec> {
        self.records.iter().filter(move |r| r.offset >= from && r.offset >= self.start)
    }

    /// Start, end and every readable record equal the model's.
    fn check(&self, after: &str) {
        let p = self.partition();
        let (start, end) = (p.log_start_offset(), p.log_end_offset());
        assert!(
            (start, end) == (self.start, self.end),
            "after {after}: log [{start}, {end}), model [{}, {})",
            self.start,
            self.end
        );
        self.check_read(self.start, after);
    }

    fn check_read(&self, from: i64, after: &str) {
        let got: Vec<Rec> = self
            .partition()
            .read_from(from)
            .unwrap_or_else(|e| panic!("after {after}: read_from({from}): {e}"))
            .map(|r| {
                let r = r.unwrap_or_else(|e| panic!("after {after}: reading from {from}: {e}"));
                Rec {
                    offset: r.offset(),
                    timestamp: r.timestamp(),
                    key: r.key().map(<[u8]>::to_vec),
                    value: r.value().unwrap_or_default().to_vec(),
                }
            })
            .collect();
        let want: Vec<Rec> = self.readable(from).cloned().collect();
        if got != want {
            let offsets = |v: &[Rec]| v.iter().map(|r| r.offset).collect::<Vec<_>>();
            panic!(
                "after {after}: read_from({from}) gave {:?}, model {:?}\n{got:?}\n{want:?}",
                offsets(&got),
                offsets(&want)
            );
        }
    }

    fn append(&mut self, spec: &[u8]) {
        let now = self.clock.now_ms();
        let mut recs = Vec::new();
        let records: Vec<Record> = spec
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let offset = self.end + i as i64;
                let timestamp = now - i64::from(n) * MINUTE_MS;
                let key = (n & 1 == 0).then(|| format!("k{}", n % 7).into_bytes());
                let value = format!("v{offset}").into_bytes();
                recs.push(Rec { offset, timestamp, key: key.clone(), value: value.clone() });
                let record = Record::new().value(value).timestamp(timestamp);
                match key {
                    Some(k) => record.key(k),
                    None => record,
                }
            })
            .collect();
        let done = self.partition().append(&records).unwrap_or_else(|e| panic!("append at {}: {e}", self.end));
        assert!(done.first_offset == self.end && done.last_offset == self.end + spec.len() as i64 - 1, "{done:?}");
        let max = recs.iter().map(|r| r.timestamp).max().unwrap();
        assert!(done.max_timestamp == max, "max timestamp {} of {max}", done.max_timestamp);
        self.end += spec.len() as i64;
        self.records.extend(recs);
    }

    fn delete_records(&mut self, offset: i64) {
        let result = self.partition().delete_records(offset);
        let target = if offset == -1 { self.end } else { offset };
        if target < 0 || target > self.end {
            assert!(matches!(result, Err(Error::OffsetOutOfRange { .. })), "delete_records({offset}) gave {result:?}");
            return;
        }
        self.start = self.start.max(target);
        match result {
            Ok(start) => {
                assert!(start == self.start, "delete_records({offset}) returned {start}, model {}", self.start)
            }
            Err(e) => panic!("delete_records({offset}) of [{}, {}): {e}", self.start, self.end),
        }
    }

    fn truncate_to(&mut self, offset: i64) {
        let result = self.partition().truncate_to(offset);
        if offset < 0 {
            assert!(matches!(result, Err(Error::OffsetOutOfRange { .. })), "truncate_to({offset}) gave {result:?}");
            return;
        }
        if let Err(e) = result {
            panic!("truncate_to({offset}) of [{}, {}): {e}", self.start, self.end);
        }
        if offset < self.end {
            self.records.retain(|r| r.offset < offset);
            self.end = offset;
            self.start = self.start.min(offset);
        }
    }

    fn read_from(&self, offset: i64) {
        if offset < self.start || offset > self.end {
            let result = self.partition().read_from(offset).map(|_| ());
            assert!(
                matches!(result, Err(Error::OffsetOutOfRange { .. })),
                "read_from({offset}) of [{}, {}) gave {result:?}",
                self.start,
                self.end
            );
        } else {
            self.check_read(offset, "read_from");
        }
    }

    fn offset_for_timestamp(&self, timestamp: i64) {
        let got = self
            .partition()
            .offset_for_timestamp(timestamp)
            .unwrap_or_else(|e| panic!("offset_for_timestamp({timestamp}): {e}"));
        let want = self.readable(self.start).find(|r| r.timestamp >= timestamp);
        let got = got.map(|hit| (hit.offset, hit.timestamp));
        let want = want.map(|r| (r.offset, r.timestamp));
        assert!(
            got == want,
            "offset_for_timestamp({timestamp}) = {got:?}, model {want:?} in [{}, {})",
            self.start,
            self.end
        );
    }

    fn enforce_retention(&mut self) {
        let result = self.partition().enforce_retention().unwrap_or_else(|e| panic!("enforce_retention: {e}"));
        let start = self.partition().log_start_offset();
        assert!(result.log_start_offset == start, "{result:?}, log start {start}");
        assert!(
            start >= self.start && start <= self.end,
            "retention moved the log start from {} to {start} (end {})",
            self.start,
            self.end
        );
        let cutoff = self.clock.now_ms() - RETENTION_MS;
        for r in self.readable(self.start).take_while(|r| r.offset < start) {
            // The segment's newest record, not this one, decides; this one is no newer.
            assert!(
                r.timestamp < cutoff,
                "retention deleted record {} of time {} (cutoff {cutoff})",
                r.offset,
                r.timestamp
            );
        }
        self.start = start;
    }
}

pub fn check(data: &[u8]) {
    let Some((&setup, ops)) = data.split_first() else { return };
    let config = LogConfig::new()
        .segment_bytes(SEGMENT_BYTES[usize::from(setup & 3)])
        .index_interval_bytes(INDEX_INTERVALS[usize::from((setup >> 2) & 3)])
        .segment_index_bytes(INDEX_BYTES[usize::from((setup >> 4) & 3)])
        .retention_ms(RETENTION_MS)
        .file_delete_delay_ms(0);
    let clock = Arc::new(ManualClock::new(START_MS));
    let mut run = Run { dir: scratch(), clock, config, partition: None, records: Vec::new(), start: 0, end: 0 };
    run.open();
    run.check("open");
    let mut bytes = ops.iter().copied();
    for _ in 0..MAX_OPS {
        let Some(op) = bytes.next() else { break };
        let mut arg = || bytes.next().unwrap_or(0);
        let name = match op % 11 {
            0 => {
                let n = usize::from(arg()) % MAX_BATCH + 1;
                let spec: Vec<u8> = (0..n).map(|_| arg()).collect();
                run.append(&spec);
                "append"
            }
            1 => {
                run.partition().roll().unwrap_or_else(|e| panic!("roll: {e}"));
                "roll"
            }
            2 => {
                let offset = pick_offset(run.start, run.end, arg());
                run.delete_records(offset);
                "delete_records"
            }
            3 => {
                let offset = pick_offset(run.start, run.end, arg());
                run.truncate_to(offset);
                "truncate_to"
            }
            4 => {
                run.partition().flush().unwrap_or_else(|e| panic!("flush: {e}"));
                "flush"
            }
            5 => {
                run.partition.take().unwrap().close().unwrap_or_else(|e| panic!("close: {e}"));
                run.open();
                "reopen"
            }
            6 => {
                let offset = pick_offset(run.start, run.end, arg());
                run.read_from(offset);
                "read_from"
            }
            7 => {
                let timestamp = run.clock.now_ms() - i64::from(arg()) * MINUTE_MS;
                run.offset_for_timestamp(timestamp);
                "offset_for_timestamp"
            }
            8 => {
                run.clock.advance(i64::from(arg()) * MINUTE_MS);
                "advance"
            }
            9 => {
                run.enforce_retention();
                "enforce_retention"
            }
            _ => {
                drop(run.partition.take());
                run.open();
                "drop and reopen"
            }
        };
        run.check(name);
    }
    run.partition.take().unwrap().close().unwrap_or_else(|e| panic!("close: {e}"));
}
