//! Simulated power loss, in the manner of ALICE, CrashMonkey and LazyFS
//! (this module: one partition directory; [`store`]: a whole data
//! directory of topics, checkpoints, metadata and committed offsets): a
//! random workload runs on a [`Partition`] while a model follows every file
//! the library creates, renames, removes and syncs (the `fsutil::note`
//! hooks). At crash points the model builds on-disk states that a machine
//! crash could leave — for the directory, the names as of its last fsync plus
//! a prefix of the later creates, renames and removes (journaled file systems
//! commit metadata in order); for each file, the content of its last sync plus
//! any subset of its changed 4 KiB pages, at its synced or its current length
//! — and checks that each opens with every flushed record, dense offsets, no
//! read error and nothing undecodable.
//!
//! A file's content counts as durable only once the library synced it: fsync
//! or fdatasync of the file, or msync of an index mapping (which covers the
//! whole index file). A name counts as durable once the directory was fsynced.
//!
//! `TOPICLOG_POWER_LOSS_STATES=n` raises the number of crash states checked
//! (default [`DEFAULT_STATES`]; the store tests scale in proportion, 5 n in
//! all); `TOPICLOG_POWER_LOSS_SEED=s` starts the seeds
//! at `s`; `TOPICLOG_POWER_LOSS_SHRINK=1` shrinks the operation list of each
//! first failure to a short reproducer.

#![cfg(feature = "fault-injection")]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use topiclog::ManualClock;
use topiclog::Record;
use topiclog::fault_injection::{FsEvent, observe};
use topiclog::{CleanupPolicy, LogConfig};
use topiclog::{Partition, PartitionOptions};

#[path = "power_loss/store.rs"]
mod store;

/// Crash states the default run checks (the acceptance asks for 2,000).
const DEFAULT_STATES: usize = 2_000;
/// The simulated page size: the unit in which unsynced data survives or not.
const PAGE: usize = 4096;
/// The clock's time when a workload starts.
const START_MS: i64 = 1_000_000_000;

/// xorshift64*: a tiny seeded generator, so runs replay exactly.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that nearby seeds diverge at once.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------
// The file-system model.

/// A change to the directory's names not yet made durable by a directory fsync.
#[derive(Debug, Clone)]
enum NameOp {
    Create { name: String, id: u64 },
    Rename { from: String, to: String },
    Remove { name: String },
}

/// What the partition directory holds now and what a crash is sure to keep.
#[derive(Debug, Default)]
struct FsModel {
    dir: PathBuf,
    next_id: u64,
    /// Names now, to file ids (inodes).
    current: BTreeMap<String, u64>,
    /// Names as of the last directory fsync.
    durable_dir: BTreeMap<String, u64>,
    /// Each file's bytes as of its last sync (missing: never synced, empty).
    durable_content: HashMap<u64, Vec<u8>>,
    /// The last bytes of files no longer named in the directory.
    unlinked_content: HashMap<u64, Vec<u8>>,
    /// Name changes since the last directory fsync, in order.
    pending: Vec<NameOp>,
    /// Events seen, for the statistics.
    events: u64,
}

impl FsModel {
    fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned(), ..Self::default() }
    }

    /// The name of `path` when it is directly in the modelled directory.
    fn name_of(&self, path: &Path) -> Option<String> {
        if path.parent()? != self.dir {
            return None;
        }
        path.file_name()?.to_str().map(str::to_owned)
    }

    fn on_event(&mut self, event: &FsEvent<'_>) {
        self.events += 1;
        match *event {
            FsEvent::Create(path) => {
                let Some(name) = self.name_of(path) else { return };
                if !self.current.contains_key(&name) {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.current.insert(name.clone(), id);
                    self.pending.push(NameOp::Create { name, id });
                }
            }
            FsEvent::SyncFile(path) => {
                let Some(name) = self.name_of(path) else { return };
                let id = *self.current.get(&name).unwrap_or_else(|| panic!("sync of unknown file {name}"));
                let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read synced {name}: {e}"));
                self.durable_content.insert(id, bytes);
            }
            FsEvent::SyncDir(dir) => {
                if dir == self.dir {
                    self.durable_dir = self.current.clone();
                    self.pending.clear();
                    let live: Vec<u64> = self.durable_dir.values().copied().collect();
                    self.unlinked_content.retain(|id, _| live.contains(id));
                }
            }
            FsEvent::Rename(from, to) => {
                let (Some(from_name), Some(to_name)) = (self.name_of(from), self.name_of(to)) else { return };
                let Some(id) = self.current.remove(&from_name) else { return };
                if let Some(victim) = self.current.insert(to_name.clone(), id) {
                    self.unlinked_content.insert(victim, std::fs::read(to).unwrap_or_default());
                }
                self.pending.push(NameOp::Rename { from: from_name, to: to_name });
            }
            FsEvent::Remove(path) => {
                let Some(name) = self.name_of(path) else { return };
                let Some(id) = self.current.remove(&name) else { return };
                self.unlinked_content.insert(id, std::fs::read(path).unwrap_or_default());
                self.pending.push(NameOp::Remove { name });
            }
            // Directories inside the partition directory: none (the
            // store-level model, `power_loss/store.rs`, follows these).
            FsEvent::CreateDir(_) | FsEvent::RemoveDir(_) => {}
        }
    }

    /// The bytes file `id` holds now (in the page cache).
    fn current_bytes(&self, id: u64) -> Vec<u8> {
        match self.current.iter().find(|(_, v)| **v == id) {
            Some((name, _)) => std::fs::read(self.dir.join(name)).unwrap_or_default(),
            None => self.unlinked_content.get(&id).cloned().unwrap_or_default(),
        }
    }

    /// Writes into `out` one state a power loss could leave, drawn with
    /// `seed`, and describes it.
    fn build_crash_state(&self, kind: StateKind, seed: u64, out: &Path) -> String {
        let mut rng = Rng::new(seed);
        let applied = match kind {
            StateKind::NothingUnsynced => 0,
            StateKind::EverythingWritten => self.pending.len(),
            StateKind::Random => rng.below(self.pending.len() as u64 + 1) as usize,
            StateKind::Files { names, .. } => names.min(self.pending.len()),
        };
        let mut names = self.durable_dir.clone();
        for op in &self.pending[..applied] {
            match op {
                NameOp::Create { name, id } => {
                    names.insert(name.clone(), *id);
                }
                NameOp::Rename { from, to } => {
                    if let Some(id) = names.remove(from) {
                        names.insert(to.clone(), id);
                    }
                }
                NameOp::Remove { name } => {
                    names.remove(name);
                }
            }
        }
        let mut description = format!("{kind:?} state {seed:#x}: {applied} of {} name changes;", self.pending.len());
        for (name, &id) in &names {
            let durable = self.durable_content.get(&id).cloned().unwrap_or_default();
            let current = self.current_bytes(id);
            let bytes = match kind {
                StateKind::NothingUnsynced => durable,
                StateKind::EverythingWritten => current,
                StateKind::Files { synced_only, .. } if synced_only.contains(&name.as_str()) => durable,
                StateKind::Files { .. } => current,
                StateKind::Random => {
                    let (bytes, what) = mix_pages(&durable, &current, &mut rng);
                    if !what.is_empty() {
                        let _ = write!(description, " {name}: {what};");
                    }
                    bytes
                }
            };
            std::fs::write(out.join(name), bytes).unwrap();
        }
        description
    }
}

/// Which kind of crash state to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateKind {
    /// Only what was synced survives.
    NothingUnsynced,
    /// Everything written survives (as after a process crash).
    EverythingWritten,
    /// A random prefix of name changes, random pages, random lengths.
    Random,
    /// The first `names` name changes; the files named in `synced_only` as
    /// of their last sync, every other file as written (regression tests).
    Files { names: usize, synced_only: &'static [&'static str] },
}

/// One file's content after a crash: its synced bytes with any subset of the
/// pages that changed since replaced by their current bytes, cut at the
/// synced or the current length. Pages taken from neither side read as zeros.
fn mix_pages(durable: &[u8], current: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    if durable == current {
        return (current.to_vec(), String::new());
    }
    let longest = durable.len().max(current.len());
    let page_of = |bytes: &[u8], start: usize, end: usize| -> Vec<u8> {
        let mut page = bytes.get(start.min(bytes.len())..end.min(bytes.len())).unwrap_or_default().to_vec();
        page.resize(end - start, 0);
        page
    };
    // Per file: keep no new page, every new page, or each with some probability.
    let keep_in_1024 = match rng.below(4) {
        0 => 0,
        1 => 1024,
        _ => rng.pick(&[256, 512, 768]),
    };
    let mut out = Vec::with_capacity(longest);
    let (mut changed, mut taken) = (0, Vec::new());
    for (i, start) in (0..longest).step_by(PAGE).enumerate() {
        let end = (start + PAGE).min(longest);
        let old = page_of(durable, start, end);
        let new = page_of(current, start, end);
        if old == new {
            out.extend_from_slice(&old);
            continue;
        }
        changed += 1;
        if rng.below(1024) < keep_in_1024 {
            taken.push(i);
            out.extend_from_slice(&new);
        } else {
            out.extend_from_slice(&old);
        }
    }
    let len = if rng.chance(1, 2) { durable.len() } else { current.len() };
    out.truncate(len);
    let what = format!(
        "length {len} (synced {}, now {}), new pages {taken:?} of {changed} changed",
        durable.len(),
        current.len()
    );
    (out, what)
}

// ---------------------------------------------------------------------------
// The workload.

/// One step of a workload. Offsets are given as a fraction (per mille) of the
/// current range, so that any subsequence of steps is still a valid workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Append a batch of `records` after moving the clock `advance_ms`.
    Append {
        records: u8,
        advance_ms: u16,
    },
    Flush,
    Roll,
    /// `delete_records` at start + permille × (end − start).
    DeleteRecords {
        permille: u16,
    },
    /// Move the clock, then `enforce_retention`.
    Retention {
        advance_ms: u32,
    },
    /// `truncate_to` at start + permille × (end − start).
    Truncate {
        permille: u16,
    },
    /// `close`, then reopen.
    CloseReopen,
    /// Drop without closing (a process crash), then reopen.
    DropReopen,
    /// `compact` (a compacted log only): flushes, cleans and swaps segments.
    Compact,
}

/// A workload: the log's settings and its steps, all drawn from one seed.
#[derive(Debug, Clone)]
struct Workload {
    seed: u64,
    config: LogConfig,
    ops: Vec<Op>,
}

/// Which steps a workload draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// Every kind of step, small segments and indexes (rolls of every cause).
    Full,
    /// One segment that never rolls, and no truncation.
    OneSegment,
    /// `cleanup.policy=compact`: keyed records, rolls and compaction swaps
    /// (no delete-records, retention or truncation, which such a log refuses
    /// or cannot do inside a cleaned batch).
    Compacted,
}

/// Keys of a compacted workload: few, so that compaction has work.
const KEYS: i64 = 7;

/// The key of the record at `offset` in a compacted workload.
fn key_of(offset: i64) -> Vec<u8> {
    format!("k{}", offset.rem_euclid(KEYS) + (offset / 50) % 3 * KEYS).into_bytes()
}

impl Workload {
    fn generate(seed: u64, len: usize, mix: Mix) -> Self {
        let mut rng = Rng::new(seed);
        let segment_bytes = match mix {
            Mix::Full | Mix::Compacted => rng.pick(&[1_200, 2_500, 4_096, 9_000, 16_384]),
            Mix::OneSegment => 1 << 18,
        };
        let index_bytes = match mix {
            Mix::Full | Mix::Compacted => rng.pick(&[48, 96, 240, 1_200]),
            Mix::OneSegment => 1 << 16,
        };
        let policy = if mix == Mix::Compacted { CleanupPolicy::Compact } else { CleanupPolicy::Delete };
        let config = LogConfig::new()
            .cleanup_policy(policy)
            .segment_bytes(segment_bytes)
            .segment_index_bytes(index_bytes)
            .index_interval_bytes(rng.pick(&[0, 100, 300, 1_000]))
            .retention_ms(rng.pick(&[5_000, 20_000, -1]))
            .retention_bytes(rng.pick(&[-1, -1, segment_bytes * 3]))
            .file_delete_delay_ms(rng.pick(&[0, 2_000]));
        let mut ops = Vec::with_capacity(len);
        while ops.len() < len {
            let op = match rng.below(100) {
                0..50 => Op::Append { records: 1 + rng.below(20) as u8, advance_ms: rng.below(200) as u16 },
                50..64 => Op::Flush,
                64..71 => Op::Roll,
                71..76 => Op::DeleteRecords { permille: rng.below(1001) as u16 },
                76..84 => Op::Retention { advance_ms: rng.below(8_000) as u32 },
                84..88 => Op::Truncate { permille: rng.below(1001) as u16 },
                88..94 => Op::CloseReopen,
                _ => Op::DropReopen,
            };
            let op = match (mix, op) {
                // In a compacted log, compaction takes the place of the
                // steps such a log refuses.
                (Mix::Compacted, Op::DeleteRecords { .. } | Op::Retention { .. } | Op::Truncate { .. }) => Op::Compact,
                _ => op,
            };
            let excluded = match mix {
                Mix::Full | Mix::Compacted => false,
                Mix::OneSegment => matches!(op, Op::Roll | Op::Retention { .. } | Op::Truncate { .. }),
            };
            if !excluded {
                ops.push(op);
            }
        }
        Self { seed, config, ops }
    }

    /// The reproducer as Rust-like text.
    fn describe(&self, upto: usize) -> String {
        let c = &self.config;
        format!(
            "seed {}; LogConfig::new().cleanup_policy({}).segment_bytes({}).segment_index_bytes({})\
             .index_interval_bytes({}).retention_ms({}).retention_bytes({}).file_delete_delay_ms({}); ops ({}) = {:?}",
            self.seed,
            c.cleanup_policy,
            c.segment_bytes,
            c.segment_index_bytes,
            c.index_interval_bytes,
            c.retention_ms,
            c.retention_bytes,
            c.file_delete_delay_ms,
            upto,
            &self.ops[..upto]
        )
    }
}

/// A record's value: its offset and the truncation generation that wrote it,
/// then filler, so that every record can be checked on its own.
fn payload(offset: i64, generation: u32) -> Vec<u8> {
    let fill = ((offset as u64).wrapping_mul(31).wrapping_add(u64::from(generation) * 7) % 60) as usize;
    let mut value = format!("{offset}/{generation}/").into_bytes();
    value.extend(std::iter::repeat_n(b'a' + (offset % 26) as u8, fill));
    value
}

/// Whether `value` is the payload of `offset` written by some generation.
fn is_payload_of(value: &[u8], offset: i64) -> bool {
    let Ok(text) = std::str::from_utf8(value) else { return false };
    let mut parts = text.splitn(3, '/');
    let (Some(o), Some(g)) = (parts.next(), parts.next()) else { return false };
    let (Ok(o), Ok(g)) = (o.parse::<i64>(), g.parse::<u32>()) else { return false };
    o == offset && payload(offset, g) == value
}

/// What must survive a power loss at this point of the workload.
#[derive(Debug, Clone)]
struct Expectation {
    /// The value of each offset written and not truncated.
    values: Vec<Vec<u8>>,
    /// The log end offset when the last flush returned (lowered by truncation).
    flushed_end: i64,
    /// The log start offset as last written to the (synced) state file.
    durable_start: i64,
}

/// A workload in progress.
struct Run {
    dir: tempfile::TempDir,
    log_dir: PathBuf,
    clock: ManualClock,
    config: LogConfig,
    partition: Option<Partition>,
    model: Rc<RefCell<FsModel>>,
    expect: Expectation,
    generation: u32,
}

impl Run {
    fn start(config: &LogConfig) -> Self {
        let dir = scratch_dir();
        let log_dir = dir.path().join("log");
        std::fs::create_dir(&log_dir).unwrap();
        let model = Rc::new(RefCell::new(FsModel::new(&log_dir)));
        let observer = model.clone();
        observe::set(Box::new(move |event| observer.borrow_mut().on_event(event)));
        // The model decides what a crash keeps: real fsyncs would only cost time.
        observe::simulate_syncs();
        let clock = ManualClock::new(START_MS);
        let mut run = Self {
            dir,
            log_dir,
            clock,
            config: config.clone(),
            partition: None,
            model,
            expect: Expectation { values: Vec::new(), flushed_end: 0, durable_start: 0 },
            generation: 0,
        };
        run.partition = Some(run.open(&run.log_dir.clone()).unwrap());
        run
    }

    fn open(&self, dir: &Path) -> topiclog::Result<Partition> {
        let clock: Arc<dyn topiclog::Clock> = Arc::new(self.clock.clone());
        Partition::open_with(
            dir,
            PartitionOptions { config: self.config.clone(), clock, ..PartitionOptions::default() },
        )
    }

    fn partition(&self) -> &Partition {
        self.partition.as_ref().unwrap()
    }

    /// Runs one step; an error is a failure of the workload itself.
    fn apply(&mut self, op: Op) -> Result<(), String> {
        let p = self.partition();
        let (start, end) = (p.log_start_offset(), p.log_end_offset());
        let at = |permille: u16| start + (end - start) * i64::from(permille) / 1000;
        let fail = |e: topiclog::Error| format!("{op:?} failed: {e}");
        match op {
            Op::Append { records, advance_ms } => {
                self.clock.advance(i64::from(advance_ms));
                let values: Vec<Vec<u8>> =
                    (end..end + i64::from(records)).map(|o| payload(o, self.generation)).collect();
                let compacted = self.config.cleanup_policy.compacts();
                let batch: Vec<Record> = (end..)
                    .zip(&values)
                    .map(|(o, v)| {
                        let record = Record::new().value(v.clone());
                        if compacted { record.key(key_of(o)) } else { record }
                    })
                    .collect();
                let result = p.append(&batch).map_err(fail)?;
                if result.first_offset != end {
                    return Err(format!("{op:?}: first offset {} where the log end was {end}", result.first_offset));
                }
                self.expect.values.extend(values);
            }
            Op::Flush => {
                p.flush().map_err(fail)?;
                self.expect.flushed_end = end;
            }
            Op::Roll => p.roll().map_err(fail)?,
            Op::DeleteRecords { permille } => {
                p.delete_records(at(permille)).map_err(fail)?;
            }
            Op::Retention { advance_ms } => {
                self.clock.advance(i64::from(advance_ms));
                p.enforce_retention().map_err(fail)?;
            }
            Op::Truncate { permille } => {
                let to = at(permille);
                p.truncate_to(to).map_err(fail)?;
                if to < end {
                    self.generation += 1;
                    self.expect.values.truncate(to as usize);
                    self.expect.flushed_end = self.expect.flushed_end.min(to);
                }
            }
            Op::CloseReopen => {
                p.close().map_err(fail)?;
                self.expect.flushed_end = end;
                self.partition = None;
                self.partition = Some(self.open(&self.log_dir).map_err(|e| format!("reopen after close: {e}"))?);
            }
            Op::DropReopen => {
                self.partition = None;
                self.partition = Some(self.open(&self.log_dir).map_err(|e| format!("reopen after drop: {e}"))?);
            }
            Op::Compact => {
                // Compaction flushes first and cleans only flushed data.
                p.compact().map_err(fail)?;
                self.expect.flushed_end = end;
            }
        }
        let (start, end) = (self.partition().log_start_offset(), self.partition().log_end_offset());
        self.expect.durable_start = start;
        if end != self.expect.values.len() as i64 {
            return Err(format!("after {op:?}: log end {end} but {} offsets written", self.expect.values.len()));
        }
        Ok(())
    }

    /// Builds one crash state in a fresh directory and checks it; on failure
    /// returns the kind of failure and a description.
    fn check_crash_state(&self, kind: StateKind, seed: u64) -> Result<(), (&'static str, String)> {
        let state_dir = tempfile::tempdir_in(self.dir.path()).unwrap();
        let description = self.model.borrow().build_crash_state(kind, seed, state_dir.path());
        check_recovered(self, state_dir.path(), kind == StateKind::EverythingWritten)
            .map_err(|(tag, message)| (tag, format!("{message}\n  {description}")))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.partition = None;
        observe::clear();
    }
}

/// Opens a crash state and checks what the acceptance asks of it.
/// With `everything_written` (the state a process crash leaves), every
/// record written must come back, flushed or not.
fn check_recovered(run: &Run, dir: &Path, everything_written: bool) -> Result<(), (&'static str, String)> {
    if run.config.cleanup_policy.compacts() {
        return check_recovered_compacted(run, dir, everything_written);
    }
    let expect = &run.expect;
    let p = run.open(dir).map_err(|e| ("open", format!("open failed: {e}")))?;
    let (start, end) = (p.log_start_offset(), p.log_end_offset());
    let reports = || format!("recovery reports {:?}", p.recovery_reports());
    let flushed = expect.durable_start < expect.flushed_end;
    let written = expect.values.len() as i64;
    if everything_written && end != written {
        return Err((
            "process-crash",
            format!("log end {end} after a process crash; {written} written; {}", reports()),
        ));
    }
    if start < expect.durable_start {
        return Err(("start", format!("log start {start} below the durable log start {}", expect.durable_start)));
    }
    if flushed && (start > expect.durable_start || end < expect.flushed_end) {
        return Err((
            "lost-flushed",
            format!(
                "flushed offsets [{}, {}) not all kept: log is [{start}, {end}); {}",
                expect.durable_start,
                expect.flushed_end,
                reports()
            ),
        ));
    }
    let mut next = start;
    let reader = p.read_from(start).map_err(|e| ("read-error", format!("read_from({start}) failed: {e}")))?;
    for record in reader {
        let record = record.map_err(|e| {
            let what = if next < expect.flushed_end { "flushed" } else { "unflushed" };
            ("read-error", format!("reading {what} offset {next} of [{start}, {end}) failed: {e}; {}", reports()))
        })?;
        let offset = record.offset();
        if offset != next {
            return Err((
                "gap",
                format!("offsets not dense: {offset} follows {} in [{start}, {end}); {}", next - 1, reports()),
            ));
        }
        let value = record.value().unwrap_or_default();
        let good = match expect.values.get(offset as usize) {
            Some(v) if offset < expect.flushed_end || everything_written => v.as_slice() == value,
            _ => is_payload_of(value, offset),
        };
        if !good {
            return Err((
                "bad-record",
                format!("offset {offset} holds {:?}; {}", String::from_utf8_lossy(value), reports()),
            ));
        }
        next += 1;
        if next > end {
            break;
        }
    }
    if next != end {
        return Err(("short-read", format!("reading stopped at {next}, log end {end}; {}", reports())));
    }
    p.offset_for_timestamp(0).map_err(|e| ("time-lookup", format!("offset_for_timestamp failed: {e}")))?;
    let appended = p
        .append(&[Record::new().value(payload(end, u32::MAX))])
        .map_err(|e| ("append", format!("append after recovery failed: {e}")))?;
    if appended.first_offset != end {
        return Err(("append", format!("append after recovery got offset {}, log end {end}", appended.first_offset)));
    }
    p.close().map_err(|e| ("close", format!("close after recovery failed: {e}")))?;
    Ok(())
}

/// [`check_recovered`] for a compacted log, where compaction removes
/// superseded records: offsets only increase, each record is the one written
/// at its offset (key and value), and for every key the latest flushed value
/// (or a later one) is there — every written one after a process crash.
fn check_recovered_compacted(run: &Run, dir: &Path, everything_written: bool) -> Result<(), (&'static str, String)> {
    let expect = &run.expect;
    let p = run.open(dir).map_err(|e| ("open", format!("open failed: {e}")))?;
    let (start, end) = (p.log_start_offset(), p.log_end_offset());
    let reports = || format!("recovery reports {:?}", p.recovery_reports());
    let written = expect.values.len() as i64;
    let must_reach = if everything_written { written } else { expect.flushed_end };
    if end < must_reach {
        return Err(("lost-flushed", format!("log end {end} below {must_reach}; {}", reports())));
    }
    // The latest offset of each key that must survive.
    let mut latest: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for offset in 0..must_reach {
        latest.insert(key_of(offset), offset);
    }
    let mut found: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    let mut previous = -1;
    let reader = p.read_from(start).map_err(|e| ("read-error", format!("read_from({start}) failed: {e}")))?;
    for record in reader {
        let record = record
            .map_err(|e| ("read-error", format!("reading after offset {previous} failed: {e}; {}", reports())))?;
        let offset = record.offset();
        if offset <= previous || offset >= end {
            return Err(("order", format!("offset {offset} after {previous}, log end {end}; {}", reports())));
        }
        previous = offset;
        let (key, value) = (record.key().unwrap_or_default(), record.value().unwrap_or_default());
        let good = key == key_of(offset).as_slice()
            && match expect.values.get(offset as usize) {
                Some(v) if offset < must_reach => v.as_slice() == value,
                _ => is_payload_of(value, offset),
            };
        if !good {
            return Err(("bad-record", format!("offset {offset} holds {key:?}={value:?}; {}", reports())));
        }
        found.insert(key.to_vec(), offset);
    }
    for (key, offset) in &latest {
        if found.get(key).is_none_or(|f| f < offset) {
            let key = String::from_utf8_lossy(key);
            let last = found.get(key.as_bytes());
            return Err(("lost-key", format!("key {key}: latest kept offset {offset}, found {last:?}; {}", reports())));
        }
    }
    let appended = p
        .append(&[Record::new().key(key_of(end)).value(payload(end, u32::MAX))])
        .map_err(|e| ("append", format!("append after recovery failed: {e}")))?;
    if appended.first_offset != end {
        return Err(("append", format!("append after recovery got offset {}, log end {end}", appended.first_offset)));
    }
    p.compact().map_err(|e| ("compact", format!("compaction after recovery failed: {e}")))?;
    p.close().map_err(|e| ("close", format!("close after recovery failed: {e}")))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Driving runs.

/// The first failure of one kind.
#[derive(Debug, Clone)]
struct Failure {
    tag: &'static str,
    workload: Workload,
    /// Steps run before the crash.
    upto: usize,
    kind: StateKind,
    state_seed: u64,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] crash after {} steps, {:?} state {:#x}: {}\n  reproduce: {}",
            self.tag,
            self.upto,
            self.kind,
            self.state_seed,
            self.message,
            self.workload.describe(self.upto)
        )
    }
}

/// Counts of a set of runs.
#[derive(Debug, Default)]
struct Tally {
    states: usize,
    workloads: usize,
    steps: usize,
    failed_states: usize,
    failures: BTreeMap<&'static str, Failure>,
}

/// Runs `workload`, checking `states_per_point` crash states after steps
/// chosen at random, until `budget` states were checked or the steps end.
fn run_workload(workload: &Workload, states_per_point: usize, budget: usize, tally: &mut Tally) {
    let mut rng = Rng::new(workload.seed ^ 0x5eed);
    let mut run = Run::start(&workload.config);
    let mut checked = 0;
    tally.workloads += 1;
    for (i, &op) in workload.ops.iter().enumerate() {
        if let Err(message) = run.apply(op) {
            tally.failures.entry("workload").or_insert_with(|| Failure {
                tag: "workload",
                workload: workload.clone(),
                upto: i + 1,
                kind: StateKind::EverythingWritten,
                state_seed: 0,
                message,
            });
            return;
        }
        tally.steps += 1;
        if !rng.chance(1, 3) {
            continue;
        }
        for n in 0..states_per_point {
            let kind = match n {
                0 if rng.chance(1, 4) => StateKind::NothingUnsynced,
                1 if rng.chance(1, 4) => StateKind::EverythingWritten,
                _ => StateKind::Random,
            };
            let state_seed = rng.next();
            tally.states += 1;
            checked += 1;
            if let Err((tag, message)) = run.check_crash_state(kind, state_seed) {
                let tag = classify(tag, &message);
                tally.failed_states += 1;
                tally.failures.entry(tag).or_insert_with(|| Failure {
                    tag,
                    workload: workload.clone(),
                    upto: i + 1,
                    kind,
                    state_seed,
                    message,
                });
            }
        }
        if checked >= budget {
            return;
        }
    }
}

/// Splits failures of one check by their cause where it is recognizable,
/// so that one defect does not hide another behind the same check.
fn classify(tag: &'static str, message: &str) -> &'static str {
    if !message.contains("is full") {
        return tag;
    }
    match tag {
        "open" => "open: index full",
        "read-error" => "read-error: index full",
        "time-lookup" => "time-lookup: index full",
        _ => "other: index full",
    }
}

/// Whether running `ops` and then crashing gives a failure tagged `tag`,
/// trying both extremes and `tries` random states.
fn reproduces(workload: &Workload, tag: &str, tries: u64) -> Option<(StateKind, u64, String)> {
    let mut run = Run::start(&workload.config);
    for &op in &workload.ops {
        if let Err(message) = run.apply(op) {
            return (tag == "workload").then_some((StateKind::EverythingWritten, 0, message));
        }
    }
    let kinds = [StateKind::NothingUnsynced, StateKind::EverythingWritten].into_iter().map(|k| (k, 0));
    for (kind, seed) in kinds.chain((1..=tries).map(|s| (StateKind::Random, s))) {
        if let Err((t, message)) = run.check_crash_state(kind, seed)
            && classify(t, &message) == tag
        {
            return Some((kind, seed, message));
        }
    }
    None
}

/// Shortens a failure's steps (removing chunks, then single steps) while it
/// still reproduces; returns the shortened workload and its failure.
fn shrink(failure: &Failure) -> Failure {
    let mut best = failure.workload.clone();
    best.ops.truncate(failure.upto);
    let Some(found) = reproduces(&best, failure.tag, 64) else {
        let mut f = failure.clone();
        f.message = format!("(does not replay at the end of its steps) {}", f.message);
        return f;
    };
    let mut found = found;
    let mut chunk = best.ops.len() / 2;
    while chunk >= 1 {
        let mut i = 0;
        while i < best.ops.len() {
            let mut candidate = best.clone();
            candidate.ops.drain(i..(i + chunk).min(candidate.ops.len()));
            match reproduces(&candidate, failure.tag, 64) {
                Some(f) => {
                    best = candidate;
                    found = f;
                }
                None => i += chunk,
            }
        }
        chunk /= 2;
    }
    let upto = best.ops.len();
    Failure { tag: failure.tag, workload: best, upto, kind: found.0, state_seed: found.1, message: found.2 }
}

/// A fresh directory for a workload and its crash states: in memory
/// (`/dev/shm`) where there is one, as nothing here needs a disk and each
/// state writes dozens of files; else the usual temporary directory.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new().prefix("topiclog-power-loss").tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs workloads from consecutive seeds (drawn by `generate`) until
/// `target` crash states were checked; returns the tally.
fn run_many(target: usize, generate: impl Fn(u64) -> Workload) -> Tally {
    let first_seed = env_number("TOPICLOG_POWER_LOSS_SEED").unwrap_or(1);
    let mut tally = Tally::default();
    let mut seed = first_seed;
    while tally.states < target {
        let workload = generate(seed);
        run_workload(&workload, 4, 160.min(target - tally.states), &mut tally);
        seed += 1;
    }
    tally
}

fn report(name: &str, tally: &Tally, elapsed: std::time::Duration) -> String {
    let mut text = format!(
        "{name}: {} crash states ({} failed) over {} workloads, {} steps, in {:.1?}",
        tally.states, tally.failed_states, tally.workloads, tally.steps, elapsed
    );
    let shrinking = std::env::var("TOPICLOG_POWER_LOSS_SHRINK").is_ok_and(|v| v == "1");
    for failure in tally.failures.values() {
        let failure = if shrinking { shrink(failure) } else { failure.clone() };
        let _ = write!(text, "\n- {failure}");
    }
    text
}

fn states_target() -> usize {
    env_number("TOPICLOG_POWER_LOSS_STATES").map_or(DEFAULT_STATES, |n| n as usize)
}

/// The acceptance's test: any subset of unsynced data lost, page by page,
/// index files and unsynced renames included; at least 2,000 states, over
/// every kind of step (truncation included: D3, a truncation inside a
/// flushed batch, rewrote the kept records without syncing them).
#[test]
fn power_loss_keeps_flushed_records_dense_and_readable() {
    let target = states_target();
    let started = std::time::Instant::now();
    let tally = run_many(target, |seed| Workload::generate(seed, 120, Mix::Full));
    let text = report("power loss", &tally, started.elapsed());
    eprintln!("{text}");
    assert!(tally.states >= target.min(DEFAULT_STATES), "{text}");
    assert!(tally.failures.is_empty(), "{text}");
}

/// A compacted log: compaction's `.cleaned` files, swap renames and state
/// updates cut by power loss at any point; every key's latest flushed value
/// survives and nothing unwritten appears.
#[test]
fn power_loss_during_compaction_keeps_every_key() {
    let target = states_target() / 4;
    let started = std::time::Instant::now();
    let tally = run_many(target, |seed| Workload::generate(seed, 120, Mix::Compacted));
    let text = report("power loss, compacted", &tally, started.elapsed());
    eprintln!("{text}");
    assert!(tally.states >= target.min(DEFAULT_STATES / 4), "{text}");
    assert!(tally.failures.is_empty(), "{text}");
}

/// Long-lived single segments (no roll, retention or truncation): large
/// segments and indexes, a shape the small-segment mix never reaches
/// (256 KiB segments, preallocated, and 64 KiB indexes, far more than a
/// workload writes; 1 GiB segments preallocated 4 MiB per file and made
/// this test take a minute for the same paths).
#[test]
fn power_loss_in_one_long_segment() {
    let target = states_target() / 4;
    let started = std::time::Instant::now();
    let tally = run_many(target, |seed| Workload::generate(seed, 120, Mix::OneSegment));
    let text = report("power loss, one segment", &tally, started.elapsed());
    eprintln!("{text}");
    assert!(tally.states >= target.min(DEFAULT_STATES / 4), "{text}");
    assert!(tally.failures.is_empty(), "{text}");
}

// ---------------------------------------------------------------------------
// Regression tests: the shortest reproducers found of each known defect,
// with the crash state spelled out file by file.

/// The settings drawn by seed 1 of the full mix.
fn small_segments() -> LogConfig {
    LogConfig::new()
        .segment_bytes(1_200)
        .segment_index_bytes(48)
        .index_interval_bytes(300)
        .retention_ms(-1)
        .retention_bytes(3_600)
        .file_delete_delay_ms(0)
}

/// Runs `ops`, then checks the crash state `kind`; panics with the failure.
fn replay(config: LogConfig, ops: &[Op], kind: StateKind) {
    let mut run = Run::start(&config);
    for &op in ops {
        run.apply(op).unwrap_or_else(|message| panic!("workload failed: {message}"));
    }
    if let Err((tag, message)) = run.check_crash_state(kind, 0) {
        panic!("[{}] {message}\n  after {ops:?}", classify(tag, &message));
    }
}

const fn append(records: u8, advance_ms: u16) -> Op {
    Op::Append { records, advance_ms }
}

/// D1: the closing time-index entry a roll writes to the sealed segment (and
/// the trim of its index files) is never synced, as the next flush starts at
/// the segment holding the recovery point. Lost, the segment is trusted on
/// open and reading it fails for ever with IndexFull.
#[test]
fn power_loss_regression_d1_sealed_time_index_not_synced() {
    let ops = [append(14, 38), append(20, 73), Op::Flush, append(17, 64)];
    replay(
        small_segments(),
        &ops,
        StateKind::Files { names: usize::MAX, synced_only: &["00000000000000000014.timeindex"] },
    );
}

/// D1, never-flushed variant: a segment sealed by a roll before any flush,
/// whose time index survives empty (as created), fails to open.
#[test]
fn power_loss_regression_d1_time_index_of_unflushed_sealed_segment() {
    let ops = [append(19, 150), append(12, 47), Op::DeleteRecords { permille: 884 }];
    replay(
        small_segments(),
        &ops,
        StateKind::Files { names: usize::MAX, synced_only: &["00000000000000000000.timeindex"] },
    );
}

/// D2: an unflushed segment loses its data while the next one's survives:
/// recovery keeps both, so offsets 0..13 are missing with no report.
#[test]
fn power_loss_regression_d2_hole_between_segments() {
    let ops = [append(11, 103), append(2, 150), append(15, 34)];
    replay(small_segments(), &ops, StateKind::Files { names: usize::MAX, synced_only: &["00000000000000000000.log"] });
}

/// D2, empty variant: both segments lose their data, and the log comes back
/// as [0, 13) with no record in it.
#[test]
fn power_loss_regression_d2_empty_range_below_log_end() {
    let ops = [append(11, 103), append(2, 150), append(15, 34)];
    let synced_only = &["00000000000000000000.log", "00000000000000000013.log"];
    replay(small_segments(), &ops, StateKind::Files { names: usize::MAX, synced_only });
}

/// D3: `truncate_to` inside a flushed batch cuts the whole batch and writes
/// the kept records back unsynced: a power loss right after loses flushed records.
#[test]
fn power_loss_regression_d3_truncate_loses_flushed_records() {
    let ops = [append(19, 30), append(10, 52), Op::Flush, Op::Truncate { permille: 42 }];
    replay(small_segments(), &ops, StateKind::NothingUnsynced);
}

/// D4: a truncation followed by a roll is never made durable (the flush
/// starts at the new segment): after a power loss the truncated records come
/// back and shadow the flushed records written after the truncation.
#[test]
fn power_loss_regression_d4_truncated_records_come_back() {
    let config = LogConfig::new()
        .segment_bytes(9_000)
        .segment_index_bytes(240)
        .index_interval_bytes(100)
        .retention_ms(5_000)
        .retention_bytes(-1)
        .file_delete_delay_ms(2_000);
    let ops = [append(16, 143), Op::Flush, Op::Truncate { permille: 132 }, Op::Roll, append(4, 29), Op::Flush];
    replay(config, &ops, StateKind::Files { names: usize::MAX, synced_only: &["00000000000000000000.log"] });
}

/// D5: after `truncate_to`, the truncated segment's time index is cut in the
/// page cache only; a power loss brings back its stale entries (naming
/// offsets the log no longer holds), recovery keeps them, and time lookups
/// fail on the out-of-order entries.
#[test]
fn power_loss_regression_d5_stale_time_index_after_truncation() {
    let config = LogConfig::new()
        .segment_bytes(1_200)
        .segment_index_bytes(48)
        .index_interval_bytes(0)
        .retention_ms(20_000)
        .retention_bytes(-1)
        .file_delete_delay_ms(2_000);
    let ops = [
        append(18, 144),
        append(3, 114),
        Op::Flush,
        Op::Truncate { permille: 87 },
        append(8, 83),
        append(18, 173),
        Op::DeleteRecords { permille: 648 },
    ];
    replay(config, &ops, StateKind::Files { names: usize::MAX, synced_only: &["00000000000000000000.timeindex"] });
}
