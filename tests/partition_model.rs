//! Model-based property test: random sequences of partition operations,
//! checked after every step against a plain vector of records.
//!
//! Operations: append (random sizes, keys, timestamps), read from an offset,
//! offset_for_timestamp, roll, truncate, delete_records, retention with a
//! manual clock, flush, close and reopen, and "crash" (drop without close,
//! then cut the active segment's `.log` at a random byte past what was
//! flushed). 2,000 cases by default; `PROPTEST_CASES` sets more.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use topiclog::ManualClock;
use topiclog::PartitionOptions;
use topiclog::format::Record;
use topiclog::{Error, LogConfig, Partition};

const T0: i64 = 1_700_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    /// Records: (key, value length); timestamps rise by `ts_step` from the last one.
    Append(Vec<(Option<u8>, usize)>, i64),
    Read(i64),
    TimeLookup(i64),
    Roll,
    Truncate(prop::sample::Index),
    DeleteRecords(prop::sample::Index),
    Retention(i64),
    Flush,
    Reopen,
    Crash(prop::sample::Index),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (prop::collection::vec((prop::option::of(0u8..5), 0usize..120), 1..6), 0i64..50).prop_map(|(r, s)| Op::Append(r, s)),
        3 => (-3i64..3).prop_map(Op::Read),
        2 => (0i64..3000).prop_map(Op::TimeLookup),
        1 => Just(Op::Roll),
        1 => any::<prop::sample::Index>().prop_map(Op::Truncate),
        1 => any::<prop::sample::Index>().prop_map(Op::DeleteRecords),
        2 => (0i64..2000).prop_map(Op::Retention),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => any::<prop::sample::Index>().prop_map(Op::Crash),
    ]
}

fn config() -> impl Strategy<Value = LogConfig> {
    (800i64..4000, 1i64..600, prop::option::of(200i64..5000), prop::option::of(300i64..6000), 0i64..2, 5i64..40)
        .prop_map(|(segment, interval, retention_ms, retention_bytes, delay, index_entries)| {
            LogConfig::new()
                .segment_bytes(segment)
                .index_interval_bytes(interval)
                .segment_index_bytes(index_entries * 12)
                .retention_ms(retention_ms.unwrap_or(-1))
                .retention_bytes(retention_bytes.unwrap_or(-1))
                .file_delete_delay_ms(delay * 1000)
        })
}

#[derive(Debug, Clone, PartialEq)]
struct Rec {
    offset: i64,
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    timestamp: i64,
}

struct Model {
    records: Vec<Rec>,
    log_start: i64,
    log_end: i64,
    last_ts: i64,
}

impl Model {
    fn visible(&self) -> impl Iterator<Item = &Rec> {
        self.records.iter().filter(|r| r.offset >= self.log_start)
    }
    fn truncate(&mut self, offset: i64) {
        self.records.retain(|r| r.offset < offset);
        self.log_end = offset;
        self.log_start = self.log_start.min(offset);
    }
}

fn open(dir: &Path, config: &LogConfig, clock: &ManualClock) -> Partition {
    Partition::open_with(
        dir,
        PartitionOptions { config: config.clone(), clock: Arc::new(clock.clone()), ..Default::default() },
    )
    .unwrap()
}

fn read_all(p: &Partition, from: i64) -> Vec<Rec> {
    p.read_from(from)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            Rec {
                offset: r.offset(),
                key: r.key().map(<[u8]>::to_vec),
                value: r.value().unwrap().to_vec(),
                timestamp: r.timestamp(),
            }
        })
        .collect()
}

fn check(p: &Partition, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(p.log_start_offset(), m.log_start);
    prop_assert_eq!(p.log_end_offset(), m.log_end);
    let got = read_all(p, m.log_start);
    let want: Vec<Rec> = m.visible().cloned().collect();
    prop_assert_eq!(got, want);
    Ok(())
}

/// The last `.log` file of the directory and its length.
fn active_log(dir: &Path) -> (PathBuf, u64) {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    let last = logs.pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    (last, len)
}

/// What a crash may not lose: each segment's bytes of data at the last flush
/// (files may be longer: preallocated space), and the log end then.
#[derive(Debug, Default)]
struct Durable {
    lens: std::collections::HashMap<PathBuf, u64>,
    end: i64,
}

impl Durable {
    /// Everything on disk now (after a flush, a clean close, or a recovery).
    fn now(p: &Partition, dir: &Path, end: i64) -> Self {
        let lens =
            p.segments().unwrap().iter().map(|s| (dir.join(format!("{:020}.log", s.base_offset)), s.size)).collect();
        Durable { lens, end }
    }

    /// After a truncation: what was flushed below the cut stays flushed.
    fn cut(&mut self, p: &Partition, dir: &Path, log_end: i64) {
        let sizes: std::collections::HashMap<PathBuf, u64> =
            p.segments().unwrap().iter().map(|s| (dir.join(format!("{:020}.log", s.base_offset)), s.size)).collect();
        self.lens.retain(|path, len| match sizes.get(path) {
            Some(&size) => {
                *len = (*len).min(size);
                true
            }
            None => false,
        });
        self.end = self.end.min(log_end);
    }
}

/// Runs `ops`; with `MODEL_DEBUG` set, a failing run prints the partition's
/// state before each step (what proptest's shrunk input alone does not show).
fn run(config: LogConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut trace = Vec::new();
    let r = run_traced(config, ops, &mut trace);
    if r.is_err() && std::env::var("MODEL_DEBUG").is_ok() {
        eprintln!("TRACE-BEGIN\n{}\nTRACE-END {r:?}", trace.join("\n"));
    }
    r
}

fn run_traced(config: LogConfig, ops: Vec<Op>, trace: &mut Vec<String>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut p = open(dir.path(), &config, &clock);
    let mut m = Model { records: Vec::new(), log_start: 0, log_end: 0, last_ts: T0 };
    // What a crash may not lose: the active `.log` and its length at the last flush.
    let mut flushed = Durable::default();
    for op in ops {
        if std::env::var("MODEL_DEBUG").is_ok() {
            let segs: Vec<(i64, u64)> = p.segments().unwrap().iter().map(|s| (s.base_offset, s.size)).collect();
            trace.push(format!(
                "state: start {} end {} rp {} segs {segs:?} flushed {flushed:?}; next {op:?}",
                p.log_start_offset(),
                p.log_end_offset(),
                p.recovery_point()
            ));
        }
        match op {
            Op::Append(specs, step) => {
                let mut records = Vec::new();
                for (i, (key, len)) in specs.iter().enumerate() {
                    let ts = m.last_ts + step * i as i64;
                    let value: Vec<u8> = (0..*len).map(|b| (b as u8).wrapping_add(m.log_end as u8)).collect();
                    let key = key.map(|k| vec![b'k', k]);
                    let mut r = Record::new().value(value.clone()).timestamp(ts);
                    r.key = key.clone().map(Bytes::from);
                    records.push(r);
                    m.records.push(Rec { offset: m.log_end + i as i64, key, value, timestamp: ts });
                }
                m.last_ts += step * specs.len() as i64;
                let a = p.append(&records).unwrap();
                prop_assert_eq!(a.first_offset, m.log_end);
                m.log_end += specs.len() as i64;
                prop_assert_eq!(a.last_offset, m.log_end - 1);
            }
            Op::Read(delta) => {
                let offset = if delta < 0 { m.log_start + delta } else { m.log_end + delta - 1 };
                match p.read_from(offset) {
                    Ok(reader) => {
                        prop_assert!(offset >= m.log_start && offset <= m.log_end);
                        let got: Vec<i64> = reader.map(|r| r.unwrap().offset()).collect();
                        let want: Vec<i64> = m.visible().map(|r| r.offset).filter(|&o| o >= offset).collect();
                        prop_assert_eq!(got, want);
                    }
                    Err(Error::OffsetOutOfRange { .. }) => prop_assert!(offset < m.log_start || offset > m.log_end),
                    Err(e) => return Err(TestCaseError::fail(e.to_string())),
                }
            }
            Op::TimeLookup(t) => {
                let target = T0 + t;
                let got = p.offset_for_timestamp(target).unwrap().map(|e| (e.offset, e.timestamp));
                let want = m.visible().find(|r| r.timestamp >= target).map(|r| (r.offset, r.timestamp));
                prop_assert_eq!(got, want);
            }
            Op::Roll => p.roll().unwrap(),
            Op::Truncate(i) => {
                let target = m.log_start + i.index((m.log_end - m.log_start + 1) as usize) as i64;
                p.truncate_to(target).unwrap();
                m.truncate(target);
                // What was flushed below the cut stays flushed.
                flushed.cut(&p, dir.path(), m.log_end);
            }
            Op::DeleteRecords(i) => {
                let target = m.log_start + i.index((m.log_end - m.log_start + 2) as usize) as i64;
                match p.delete_records(target) {
                    Ok(start) => {
                        prop_assert!(target <= m.log_end);
                        if target > m.log_start {
                            // delete_records makes the records below its target durable first.
                            flushed = Durable::now(&p, dir.path(), m.log_end);
                        }
                        m.log_start = m.log_start.max(target);
                        prop_assert_eq!(start, m.log_start);
                    }
                    Err(Error::OffsetOutOfRange { .. }) => prop_assert!(target > m.log_end),
                    Err(e) => return Err(TestCaseError::fail(e.to_string())),
                }
            }
            Op::Retention(advance) => {
                clock.advance(advance);
                let result = p.enforce_retention().unwrap();
                prop_assert!(result.log_start_offset >= m.log_start);
                prop_assert!(result.log_start_offset <= m.log_end);
                if config.retention_ms < 0 && config.retention_bytes < 0 {
                    // Only whole segments below the log start can go.
                    prop_assert_eq!(result.log_start_offset, m.log_start);
                }
                m.log_start = result.log_start_offset;
            }
            Op::Flush => {
                p.flush().unwrap();
                flushed = Durable::now(&p, dir.path(), m.log_end);
            }
            Op::Reopen => {
                p.close().unwrap();
                p = open(dir.path(), &config, &clock);
                // A clean close flushed everything.
                flushed = Durable::now(&p, dir.path(), m.log_end);
            }
            Op::Crash(at) => {
                drop(p);
                let (path, len) = active_log(dir.path());
                // The crash loses only bytes of the active segment past what was flushed.
                let from = flushed.lens.get(&path).copied().unwrap_or(0).min(len);
                let durable_end = flushed.end.max(m.log_start.min(m.log_end));
                let cut = from + at.index((len - from + 1) as usize) as u64;
                let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                file.set_len(cut).unwrap();
                drop(file);
                p = open(dir.path(), &config, &clock);
                if std::env::var("MODEL_DEBUG").is_ok() {
                    let files: Vec<_> =
                        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
                    trace.push(format!(
                        "state: after crash cut {cut} of {path:?}: reports {:?} files {files:?} state {:?}",
                        p.recovery_reports(),
                        std::fs::read_to_string(dir.path().join("topiclog.state"))
                    ));
                }
                let end = p.log_end_offset();
                prop_assert!(end <= m.log_end, "recovery invented records: {} > {}", end, m.log_end);
                prop_assert!(
                    end >= durable_end.min(m.log_end),
                    "recovery lost flushed records: {} < {}",
                    end,
                    durable_end
                );
                prop_assert!(
                    end >= m.log_start,
                    "recovery lost records below the log start: {} < {}",
                    end,
                    m.log_start
                );
                m.truncate(end.max(m.log_start));
                m.log_end = end;
                m.log_start = p.log_start_offset();
                // What survived the crash was read back from the disk.
                flushed = Durable::now(&p, dir.path(), end);
            }
        }
        check(&p, &m)?;
    }
    p.close().unwrap();
    let p = open(dir.path(), &config, &clock);
    check(&p, &m)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn partition_behaves_like_a_vector(config in config(), ops in prop::collection::vec(op(), 1..40)) {
        run(config, ops)?;
    }
}
