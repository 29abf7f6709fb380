//! The `partition_compaction` check, shared by the fuzz target
//! (`fuzz/fuzz_targets/partition_compaction.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`).
//!
//! The cleaner's offset map is private, so it is fuzzed through compaction:
//! the input decodes to operations on a compacted [`Partition`] (in a
//! scratch directory, with a [`ManualClock`]) — append batches of keyed
//! records and tombstones, roll, compact (with an offset map of a few keys,
//! so passes end early), advance the clock past `delete.retention.ms`,
//! close and reopen — checked against an in-memory model of every record
//! appended.
//!
//! After every compaction and reopen: the log end is the model's; reading
//! the log gives strictly increasing offsets, each record exactly the one
//! appended at that offset; the latest record of every key that is not a
//! tombstone is still there. At the end, after a roll and two full passes
//! with the default map, no key is left with more than one record.
//!
//! Input: a sequence of operations, one byte each plus arguments (missing
//! bytes end the input); at most [`MAX_OPS`] operations, [`MAX_BATCH`]
//! records a batch.
//!
//! | op byte % 6 | operation | argument bytes |
//! |---|---|---|
//! | 0 | append a batch | count (1 + n % 8), then one byte per record: key `n & 15`, tombstone if `n & 0x80` |
//! | 1 | roll | |
//! | 2 | compact | map size: 0 the default map, else `n % 16 + 2` slots |
//! | 3 | advance the clock | hours (`n`) |
//! | 4 | close and reopen | |
//! | 5 | check the log against the model | |

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use topiclog::{CleanerOptions, CleanupPolicy, Clock, LogConfig, ManualClock, Partition, PartitionOptions, Record};

pub const MAX_OPS: usize = 48;
pub const MAX_BATCH: usize = 8;
const START_MS: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;

fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new().prefix("topiclog-fuzz").tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

/// One appended record.
#[derive(Debug, Clone, PartialEq)]
struct Appended {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
}

struct Run {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    partition: Option<Partition>,
    /// Every record appended, by offset.
    model: BTreeMap<i64, Appended>,
    next_offset: i64,
}

impl Run {
    fn options(&self) -> PartitionOptions {
        // Not Kafka's 10 MiB indexes: each reopen would scan them (see partition_model).
        let config = LogConfig::new()
            .cleanup_policy(CleanupPolicy::Compact)
            .segment_bytes(1 << 20)
            .segment_index_bytes(4096)
            .file_delete_delay_ms(0);
        PartitionOptions { config, clock: self.clock.clone(), ..PartitionOptions::default() }
    }

    fn partition(&self) -> &Partition {
        self.partition.as_ref().unwrap()
    }

    fn reopen(&mut self) {
        if let Some(p) = self.partition.take() {
            p.close().unwrap_or_else(|e| panic!("close: {e}"));
        }
        let p = Partition::open_with(self.dir.path(), self.options()).unwrap_or_else(|e| panic!("reopen: {e}"));
        self.partition = Some(p);
        self.check();
    }

    fn append(&mut self, keys: &[u8]) {
        let now = self.clock.now_ms();
        let records: Vec<Record> = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let key = format!("key-{}", k & 15);
                let offset = self.next_offset + i as i64;
                let record = Record::new().key(key).timestamp(now);
                if k & 0x80 != 0 { record } else { record.value(format!("value-{offset}")) }
            })
            .collect();
        let appended = self.partition().append(&records).unwrap_or_else(|e| panic!("append: {e}"));
        assert!(
            appended.first_offset == self.next_offset,
            "appended at {}, want {}",
            appended.first_offset,
            self.next_offset
        );
        assert!(
            appended.last_offset == self.next_offset + keys.len() as i64 - 1,
            "last offset {}",
            appended.last_offset
        );
        for (i, &k) in keys.iter().enumerate() {
            let offset = self.next_offset + i as i64;
            let value = (k & 0x80 == 0).then(|| format!("value-{offset}").into_bytes());
            self.model.insert(offset, Appended { key: format!("key-{}", k & 15).into_bytes(), value });
        }
        self.next_offset += keys.len() as i64;
    }

    fn compact(&mut self, map: u8) {
        let options = if map == 0 {
            CleanerOptions::new()
        } else {
            CleanerOptions::new().dedupe_buffer_size(24 * (usize::from(map % 16) + 2))
        };
        let done = self.partition().compact_with(&options).unwrap_or_else(|e| panic!("compact: {e}"));
        assert!(done.records_kept <= done.records_read, "{done:?}");
        assert!(done.first_dirty_offset <= done.next_dirty_offset, "{done:?}");
        assert!(done.next_dirty_offset <= self.next_offset, "{done:?} past the log end {}", self.next_offset);
        self.check();
    }

    /// The log against the model.
    fn check(&self) {
        let p = self.partition();
        let (start, end) = (p.log_start_offset(), p.log_end_offset());
        assert!(end == self.next_offset, "log end {end}, model {}", self.next_offset);
        assert!(0 <= start && start <= end, "log start {start}, end {end}");
        let mut previous = -1;
        let mut present = BTreeMap::new();
        for record in p.read_from(start).unwrap_or_else(|e| panic!("read_from({start}): {e}")) {
            let record = record.unwrap_or_else(|e| panic!("reading after {previous}: {e}"));
            let offset = record.offset();
            assert!(offset > previous && offset < end, "offset {offset} after {previous}, end {end}");
            previous = offset;
            let Some(want) = self.model.get(&offset) else { panic!("offset {offset} was never appended") };
            assert!(record.key() == Some(want.key.as_slice()), "key at {offset}");
            assert!(record.value() == want.value.as_deref(), "value at {offset}");
            present.insert(offset, ());
        }
        // The latest record of every key, unless a tombstone, survives.
        let mut latest: BTreeMap<&[u8], (i64, &Appended)> = BTreeMap::new();
        for (&offset, a) in &self.model {
            latest.insert(a.key.as_slice(), (offset, a));
        }
        for (key, (offset, a)) in latest {
            if offset >= start && a.value.is_some() {
                assert!(
                    present.contains_key(&offset),
                    "latest record of {:?} at {offset} is gone",
                    String::from_utf8_lossy(key)
                );
            }
        }
    }
}

pub fn check(data: &[u8]) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let mut run = Run { dir: scratch(), clock, partition: None, model: BTreeMap::new(), next_offset: 0 };
    run.reopen();
    let mut bytes = data.iter().copied();
    for _ in 0..MAX_OPS {
        let Some(op) = bytes.next() else { break };
        match op % 6 {
            0 => {
                let Some(n) = bytes.next() else { break };
                let keys: Vec<u8> = bytes.by_ref().take(usize::from(n) % MAX_BATCH + 1).collect();
                if keys.is_empty() {
                    break;
                }
                run.append(&keys);
            }
            1 => run.partition().roll().unwrap_or_else(|e| panic!("roll: {e}")),
            2 => {
                let map = bytes.next().unwrap_or(0);
                run.compact(map);
            }
            3 => run.clock.advance(i64::from(bytes.next().unwrap_or(1)) * HOUR_MS),
            4 => run.reopen(),
            _ => run.check(),
        }
    }
    run.check();
    // A last full pass once every tombstone's horizon is past.
    run.partition().roll().unwrap_or_else(|e| panic!("roll: {e}"));
    run.clock.advance(48 * HOUR_MS);
    run.compact(0);
    run.compact(0);
    run.reopen();
    let p = run.partition.take().unwrap();
    let mut seen = BTreeMap::new();
    for record in p.read_from(p.log_start_offset()).unwrap() {
        let record = record.unwrap();
        let key = record.key().unwrap().to_vec();
        if let Some(earlier) = seen.insert(key, record.offset()) {
            panic!("offsets {earlier} and {} of one key survive full compaction", record.offset());
        }
    }
    p.close().unwrap_or_else(|e| panic!("close: {e}"));
}
