//! Model-based property test of log compaction: random keyed appends,
//! tombstones, rolls, cleanings (with roomy and tiny offset maps), clock
//! advances and reopens, checked after every step against the history of
//! every record appended:
//! - nothing is invented: every record read was appended, at that offset,
//!   with that key, value and timestamp; offsets increase;
//! - every key's latest record is there, a tombstone at least until the
//!   earliest its delete horizon can be (the first cleaning after it, plus
//!   `delete.retention.ms`);
//! - the active segment, never cleaned, holds everything appended to it;
//! - reading from any offset gives the first record at or after it.
//!
//! 200 cases by default; `PROPTEST_CASES` sets more.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use topiclog::CleanupPolicy;
use topiclog::PartitionOptions;
use topiclog::format::Record;
use topiclog::{CleanerOptions, LogConfig, Partition};
use topiclog::{Clock, ManualClock};

const T0: i64 = 1_700_000_000_000;
const DELETE_RETENTION_MS: i64 = 60_000;

#[derive(Debug, Clone)]
enum Op {
    /// Records: (key, value length or `None` for a tombstone).
    Append(Vec<(u8, Option<usize>)>),
    Roll,
    /// Clean, with an offset map for this many keys (0: the default map).
    Compact(usize),
    /// Clean again from the log start.
    CompactAll,
    Advance(i64),
    Reopen,
    Read(prop::sample::Index),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => prop::collection::vec((0u8..8, prop::option::weighted(0.8, 0usize..60)), 1..5).prop_map(Op::Append),
        3 => Just(Op::Roll),
        3 => prop_oneof![Just(0usize), 1usize..4].prop_map(Op::Compact),
        1 => Just(Op::CompactAll),
        2 => (0i64..2 * DELETE_RETENTION_MS).prop_map(Op::Advance),
        1 => Just(Op::Reopen),
        2 => any::<prop::sample::Index>().prop_map(Op::Read),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    key: String,
    value: Option<Vec<u8>>,
    timestamp: i64,
}

/// Everything appended, by offset, and what the checks need to know.
#[derive(Default)]
struct Model {
    history: BTreeMap<i64, Rec>,
    /// The time of the first cleaning after each tombstone was appended.
    first_cleaned_after: BTreeMap<i64, i64>,
}

impl Model {
    fn latest(&self) -> BTreeMap<&str, i64> {
        let mut latest = BTreeMap::new();
        for (offset, rec) in &self.history {
            latest.insert(rec.key.as_str(), *offset);
        }
        latest
    }
}

fn config() -> LogConfig {
    LogConfig::new().cleanup_policy(CleanupPolicy::Compact).segment_bytes(700).delete_retention_ms(DELETE_RETENTION_MS)
}

fn open(dir: &Path, clock: &ManualClock) -> Partition {
    let options = PartitionOptions { config: config(), clock: Arc::new(clock.clone()), ..Default::default() };
    Partition::open_with(dir, options).unwrap()
}

fn read_all(p: &Partition) -> Vec<(i64, Rec)> {
    p.read_from(p.log_start_offset())
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            let key = String::from_utf8(r.key().unwrap().to_vec()).unwrap();
            (r.offset(), Rec { key, value: r.value().map(<[u8]>::to_vec), timestamp: r.timestamp() })
        })
        .collect()
}

fn check(p: &Partition, m: &Model, now: i64) -> Result<(), TestCaseError> {
    let got = read_all(p);
    prop_assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "offsets increase");
    for (offset, rec) in &got {
        prop_assert_eq!(m.history.get(offset), Some(rec), "record at {} was appended so", offset);
    }
    let present: BTreeMap<i64, &Rec> = got.iter().map(|(o, r)| (*o, r)).collect();
    for (key, offset) in m.latest() {
        let tombstone = m.history[&offset].value.is_none();
        let must_stay = !tombstone
            || m.first_cleaned_after.get(&offset).is_none_or(|t| now < t.saturating_add(DELETE_RETENTION_MS));
        if must_stay {
            prop_assert!(present.contains_key(&offset), "latest of key {} at {} is gone", key, offset);
        }
    }
    let active = p.segments().unwrap().last().unwrap().base_offset;
    for offset in m.history.range(active..).map(|(o, _)| *o) {
        prop_assert!(present.contains_key(&offset), "record {} of the active segment is gone", offset);
    }
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut p = open(dir.path(), &clock);
    let mut m = Model::default();
    for op in ops {
        let now = clock.now_ms();
        match op {
            Op::Append(records) => {
                let batch: Vec<Record> = records
                    .iter()
                    .map(|(k, v)| {
                        let r = Record::new().key(format!("k{k}")).timestamp(now);
                        match v {
                            Some(len) => r.value(vec![*k; *len]),
                            None => r,
                        }
                    })
                    .collect();
                let appended = p.append(&batch).unwrap();
                for (i, (k, v)) in records.iter().enumerate() {
                    let rec = Rec { key: format!("k{k}"), value: v.map(|len| vec![*k; len]), timestamp: now };
                    m.history.insert(appended.first_offset + i as i64, rec);
                }
            }
            Op::Roll => p.roll().unwrap(),
            op @ (Op::Compact(_) | Op::CompactAll) => {
                let mut options = CleanerOptions::new().dedupe_buffer_size(1 << 20);
                if let Op::Compact(keys) = op
                    && keys > 0
                {
                    options = options.dedupe_buffer_size(24 * keys).load_factor(1.0);
                }
                if matches!(op, Op::CompactAll) {
                    options = options.first_dirty_offset(0);
                }
                let done = p.compact_with(&options).unwrap();
                prop_assert!(done.next_dirty_offset >= done.first_dirty_offset.min(done.first_uncleanable_offset));
                let tombstones: Vec<i64> =
                    m.history.iter().filter(|(_, r)| r.value.is_none()).map(|(o, _)| *o).collect();
                for offset in tombstones {
                    m.first_cleaned_after.entry(offset).or_insert(now);
                }
            }
            Op::Advance(ms) => clock.advance(ms),
            Op::Reopen => {
                p.close().unwrap();
                p = open(dir.path(), &clock);
                prop_assert!(p.recovery_reports().is_empty(), "{:?}", p.recovery_reports());
            }
            Op::Read(index) => {
                let end = p.log_end_offset();
                let from = index.index(end as usize + 1) as i64;
                let from = from.max(p.log_start_offset());
                let expected = read_all(&p).into_iter().find(|(o, _)| *o >= from).map(|(o, _)| o);
                let first = p.read_from(from).unwrap().next().transpose().unwrap().map(|r| r.offset());
                prop_assert_eq!(first, expected, "first record from {}", from);
            }
        }
        check(&p, &m, clock.now_ms())?;
    }
    p.close().unwrap();
    let p = open(dir.path(), &clock);
    check(&p, &m, clock.now_ms())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn compaction_keeps_every_latest_value(ops in prop::collection::vec(op(), 1..40)) {
        run(ops)?;
    }
}
