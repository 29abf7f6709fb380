//! Simulated power loss over a whole [`Store`] data directory: the root
//! (checkpoints, lock file), `topiclog-meta/`, every topic-partition
//! directory and those of `__consumer_offsets`. A random workload creates,
//! deletes, grows and reconfigures topics, appends, flushes, rolls, deletes
//! records, compacts, runs maintenance passes (retention, cleaning, removal
//! of deleted topics' directories, checkpoints), commits consumer offsets
//! and closes or drops and reopens the store, all on the test thread (no
//! maintenance thread: every sync reaches the thread-local observer).
//!
//! The model is the partition model of the parent module spread over a
//! tree: every file and directory is an inode; each directory has the names
//! it holds now and those of its last fsync. Name changes not yet made
//! durable form one sequence across all directories (journaled file systems
//! commit metadata in order): a crash keeps, in each directory, its durable
//! names plus its changes among a prefix of that sequence. A new directory
//! holds nothing durable until it is fsynced itself, and its own name only
//! once its parent is. `remove_dir_all` is modelled as the removal of every
//! file and directory under it, deepest first, then of the directory, so a
//! crash can leave it half emptied. File contents are as in the parent
//! module (synced bytes plus any subset of the changed pages).
//!
//! What each crash state must satisfy, by the durability contract of the
//! crate's documentation:
//! - `Store::open` succeeds (no typed error is legitimate here: the workload
//!   never writes anything but what topiclog writes);
//! - the topics are exactly those whose creation returned and whose deletion
//!   did not (a deletion that returned is durable: the topic does not come
//!   back, under its name or adopted from a leftover directory), each with
//!   the partition count of the last `add_partitions` that returned and the
//!   overrides of the last config change that returned;
//! - in each partition, every offset below its recovery point (the log end
//!   when the last flush returned: explicit flushes, flushes of `close`,
//!   compaction and commits) down to the durable log start is there, dense,
//!   with the value written; no record that was never written; for a
//!   compacted topic, every key's latest flushed value (or a later one);
//!   after a process crash (everything written kept) every record appended;
//! - every committed offset whose commit returned reads back exactly (the
//!   last commit of its key: no commit is in flight at a crash point);
//! - the store closes cleanly.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use super::{Rng, START_MS, env_number, mix_pages};
use topiclog::ConsumerConfig;
use topiclog::ManualClock;
use topiclog::Partition;
use topiclog::Record;
use topiclog::TopicConfig;
use topiclog::fault_injection::{FsEvent, observe};
use topiclog::{Store, StoreConfig};

/// Crash states the default run of the mixed store workload checks. With
/// the partition tests' 3,000 the default run checks 10,500 states.
const DEFAULT_MIXED_STATES: usize = 2_500;
/// Crash states of the retention and reopen workload.
const DEFAULT_RETENTION_STATES: usize = 2_000;
/// Crash states of each of the two focused store workloads.
const DEFAULT_FOCUSED_STATES: usize = 1_500;

// ---------------------------------------------------------------------------
// The file-system model.

/// A change to a directory's names not yet made durable by its fsync.
#[derive(Debug, Clone)]
enum NameOp {
    Create { name: String, id: u64 },
    Rename { from: String, to: String },
    Remove { name: String },
}

/// A directory's names now and as of its last fsync.
#[derive(Debug, Default, Clone)]
struct DirNode {
    current: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
}

/// The data directory as a tree of inodes.
#[derive(Debug)]
struct TreeModel {
    root: PathBuf,
    next_id: u64,
    /// Directory inodes (the root is 0); every other inode is a file.
    dirs: HashMap<u64, DirNode>,
    /// Each file's bytes as of its last sync.
    durable_content: HashMap<u64, Vec<u8>>,
    /// The last bytes of files no longer named.
    unlinked_content: HashMap<u64, Vec<u8>>,
    /// Name changes not yet durable, in order, with their directory.
    pending: Vec<(u64, NameOp)>,
    events: u64,
    /// Events under the root in a directory the model does not know (a
    /// directory created without a `CreateDir` hook): the model is blind
    /// there, so the test fails.
    unknown: Vec<String>,
}

const ROOT: u64 = 0;

impl TreeModel {
    fn new(root: &Path) -> Self {
        let mut dirs = HashMap::new();
        dirs.insert(ROOT, DirNode::default());
        Self {
            root: root.to_owned(),
            next_id: 1,
            dirs,
            durable_content: HashMap::new(),
            unlinked_content: HashMap::new(),
            pending: Vec::new(),
            events: 0,
            unknown: Vec::new(),
        }
    }

    /// The names of `path` below the root; `None` outside it.
    fn components(&self, path: &Path) -> Option<Vec<String>> {
        let rest = path.strip_prefix(&self.root).ok()?;
        let mut out = Vec::new();
        for c in rest.components() {
            match c {
                Component::Normal(n) => out.push(n.to_str()?.to_owned()),
                _ => return None,
            }
        }
        Some(out)
    }

    /// The directory holding `path` and its name there, when the directory is known.
    fn resolve(&self, path: &Path) -> Option<(u64, String)> {
        let mut names = self.components(path)?;
        let last = names.pop()?;
        let mut dir = ROOT;
        for n in &names {
            dir = *self.dirs.get(&dir)?.current.get(n)?;
            if !self.dirs.contains_key(&dir) {
                return None;
            }
        }
        Some((dir, last))
    }

    /// The inode named by `path` now (the root for the root).
    fn lookup(&self, path: &Path) -> Option<u64> {
        if self.components(path)?.is_empty() {
            return Some(ROOT);
        }
        let (dir, name) = self.resolve(path)?;
        self.dirs.get(&dir)?.current.get(&name).copied()
    }

    fn fresh(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn on_event(&mut self, event: &FsEvent<'_>) {
        self.events += 1;
        let path = match *event {
            FsEvent::Create(p)
            | FsEvent::SyncFile(p)
            | FsEvent::SyncDir(p)
            | FsEvent::Rename(p, _)
            | FsEvent::Remove(p)
            | FsEvent::CreateDir(p)
            | FsEvent::RemoveDir(p) => p,
        };
        if path.starts_with(&self.root) && path != self.root && !matches!(event, FsEvent::CreateDir(_)) {
            let known =
                path.parent().and_then(|parent| self.lookup(parent)).is_some_and(|d| self.dirs.contains_key(&d));
            if !known {
                self.unknown.push(format!("{event:?}"));
                return;
            }
        }
        match *event {
            FsEvent::Create(path) => {
                let Some((dir, name)) = self.resolve(path) else { return };
                if !self.dirs[&dir].current.contains_key(&name) {
                    let id = self.fresh();
                    self.dirs.get_mut(&dir).unwrap().current.insert(name.clone(), id);
                    self.pending.push((dir, NameOp::Create { name, id }));
                }
            }
            FsEvent::CreateDir(path) => {
                let Some(names) = self.components(path) else { return };
                let mut dir = ROOT;
                for name in names {
                    let existing = self.dirs[&dir].current.get(&name).copied();
                    dir = match existing {
                        Some(id) => {
                            assert!(self.dirs.contains_key(&id), "{name} is a file, not a directory");
                            id
                        }
                        None => {
                            let id = self.fresh();
                            self.dirs.insert(id, DirNode::default());
                            self.dirs.get_mut(&dir).unwrap().current.insert(name.clone(), id);
                            self.pending.push((dir, NameOp::Create { name, id }));
                            id
                        }
                    };
                }
            }
            FsEvent::SyncFile(path) => {
                let Some(id) = self.lookup(path) else { return };
                if !self.dirs.contains_key(&id) {
                    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read synced {}: {e}", path.display()));
                    self.durable_content.insert(id, bytes);
                }
            }
            FsEvent::SyncDir(path) => {
                let Some(id) = self.lookup(path) else { return };
                if let Some(node) = self.dirs.get_mut(&id) {
                    node.durable = node.current.clone();
                    self.pending.retain(|(d, _)| *d != id);
                }
            }
            FsEvent::Rename(from, to) => {
                let (Some((from_dir, from_name)), Some((to_dir, to_name))) = (self.resolve(from), self.resolve(to))
                else {
                    return;
                };
                assert_eq!(from_dir, to_dir, "rename across directories: {} to {}", from.display(), to.display());
                let node = self.dirs.get_mut(&from_dir).unwrap();
                let Some(id) = node.current.remove(&from_name) else { return };
                if let Some(victim) = node.current.insert(to_name.clone(), id) {
                    assert!(!self.dirs.contains_key(&victim), "rename over directory {}", to.display());
                    self.unlinked_content.insert(victim, std::fs::read(to).unwrap_or_default());
                }
                self.pending.push((from_dir, NameOp::Rename { from: from_name, to: to_name }));
            }
            FsEvent::Remove(path) => {
                let Some((dir, name)) = self.resolve(path) else { return };
                let Some(id) = self.dirs.get_mut(&dir).unwrap().current.remove(&name) else { return };
                self.unlinked_content.insert(id, std::fs::read(path).unwrap_or_default());
                self.pending.push((dir, NameOp::Remove { name }));
            }
            FsEvent::RemoveDir(path) => {
                let Some((dir, name)) = self.resolve(path) else { return };
                let Some(&id) = self.dirs[&dir].current.get(&name) else { return };
                self.remove_tree(id, path);
                self.dirs.get_mut(&dir).unwrap().current.remove(&name);
                self.pending.push((dir, NameOp::Remove { name }));
            }
        }
    }

    /// Unlinks everything under directory `id` (at `path`), deepest first.
    fn remove_tree(&mut self, id: u64, path: &Path) {
        let children = std::mem::take(&mut self.dirs.get_mut(&id).unwrap().current);
        for (name, child) in children {
            let child_path = path.join(&name);
            if self.dirs.contains_key(&child) {
                self.remove_tree(child, &child_path);
            } else {
                self.unlinked_content.insert(child, std::fs::read(&child_path).unwrap_or_default());
            }
            self.pending.push((id, NameOp::Remove { name }));
        }
    }

    /// The bytes of every file named now (the page cache), by inode.
    fn snapshot(&self) -> HashMap<u64, Vec<u8>> {
        let mut out = HashMap::new();
        let mut stack = vec![(ROOT, self.root.clone())];
        while let Some((dir, path)) = stack.pop() {
            for (name, &id) in &self.dirs[&dir].current {
                let child = path.join(name);
                if self.dirs.contains_key(&id) {
                    stack.push((id, child));
                } else {
                    out.insert(id, std::fs::read(&child).unwrap_or_default());
                }
            }
        }
        out
    }

    /// Writes into `out` (an empty directory) one state a power loss could
    /// leave, drawn with `seed`; describes what it drew.
    fn build_crash_state(&self, kind: Kind, seed: u64, now: &HashMap<u64, Vec<u8>>, out: &Path) -> String {
        let mut rng = Rng::new(seed);
        let applied = match kind {
            Kind::NothingUnsynced => 0,
            Kind::EverythingWritten => self.pending.len(),
            Kind::Random => rng.below(self.pending.len() as u64 + 1) as usize,
        };
        let mut names: HashMap<u64, BTreeMap<String, u64>> =
            self.dirs.iter().map(|(&id, node)| (id, node.durable.clone())).collect();
        for (dir, op) in &self.pending[..applied] {
            let entries = names.get_mut(dir).unwrap();
            match op {
                NameOp::Create { name, id } => {
                    entries.insert(name.clone(), *id);
                }
                NameOp::Rename { from, to } => {
                    if let Some(id) = entries.remove(from) {
                        entries.insert(to.clone(), id);
                    }
                }
                NameOp::Remove { name } => {
                    entries.remove(name);
                }
            }
        }
        let mut description = format!("{kind:?} state {seed:#x}: {applied} of {} name changes;", self.pending.len());
        let mut stack = vec![(ROOT, out.to_path_buf(), String::new())];
        while let Some((dir, path, shown)) = stack.pop() {
            for (name, &id) in &names[&dir] {
                let child = path.join(name);
                let shown = format!("{shown}{name}");
                if self.dirs.contains_key(&id) {
                    std::fs::create_dir(&child).unwrap();
                    stack.push((id, child, format!("{shown}/")));
                    continue;
                }
                let empty = Vec::new();
                let durable = self.durable_content.get(&id).unwrap_or(&empty);
                let current = now.get(&id).or_else(|| self.unlinked_content.get(&id)).unwrap_or(&empty);
                match kind {
                    Kind::NothingUnsynced => std::fs::write(&child, durable).unwrap(),
                    Kind::EverythingWritten => std::fs::write(&child, current).unwrap(),
                    Kind::Random => {
                        let (bytes, what) = mix_pages(durable, current, &mut rng);
                        if !what.is_empty() {
                            let _ = write!(description, " {shown}: {what};");
                        }
                        std::fs::write(&child, bytes).unwrap();
                    }
                }
            }
        }
        description
    }
}

/// Which kind of crash state to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Only what was synced survives.
    NothingUnsynced,
    /// Everything written survives (as after a process crash).
    EverythingWritten,
    /// A random prefix of name changes, random pages, random lengths.
    Random,
}

// ---------------------------------------------------------------------------
// The workload.

/// Topics of the workloads: few, so that they are created, deleted and
/// created again.
const TOPICS: [&str; 3] = ["t0", "t1", "t2"];
/// Consumer groups that commit.
const GROUPS: [&str; 3] = ["g0", "g1", "g2"];

/// One step. Steps naming a topic that does not exist (or exists, for
/// `Create`) do nothing, so that any subsequence is a valid workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `create_topic` with 1 or 2 partitions, compacted or not, with a
    /// segment size drawn by `segment`.
    Create {
        t: u8,
        partitions: u8,
        compacted: bool,
        segment: u8,
    },
    /// `delete_topic`.
    Delete {
        t: u8,
    },
    /// `set_topic_config` (or `delete_topic_config` for `which` 0).
    SetConfig {
        t: u8,
        which: u8,
    },
    /// `add_partitions` by one.
    AddPartition {
        t: u8,
    },
    /// Append a batch of `records` to partition `p` (modulo the count)
    /// after moving the clock `advance_ms`.
    Append {
        t: u8,
        p: u8,
        records: u8,
        advance_ms: u16,
    },
    /// `flush` every partition of the topic.
    Flush {
        t: u8,
    },
    Roll {
        t: u8,
        p: u8,
    },
    /// `delete_records` at start + permille × (end − start) (delete-policy topics).
    DeleteRecords {
        t: u8,
        p: u8,
        permille: u16,
    },
    /// `compact` every partition of a compacted topic.
    Compact {
        t: u8,
    },
    /// Move the clock, then `run_maintenance` on this thread: retention,
    /// file deletions, removal of deleted topics' directories, cleaning
    /// (of `__consumer_offsets` too), checkpoints.
    Maintenance {
        advance_ms: u32,
    },
    /// Commit an offset of topic `t` partition `p` for a group, through
    /// `Store::commit_offsets` or a `Consumer`.
    Commit {
        group: u8,
        t: u8,
        p: u8,
        offset: u16,
        via_consumer: bool,
    },
    CloseReopen,
    DropReopen,
}

/// Which steps a workload draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// Every kind of step.
    Mixed,
    /// Topic creation, deletion, growth and configuration, with few appends.
    Lifecycle,
    /// Commits and maintenance passes that compact `__consumer_offsets`.
    Offsets,
    /// Log starts that move (retention, delete-records, retention settings
    /// changed), rolls, and many closes and drops with reopens.
    Retention,
}

#[derive(Debug, Clone)]
struct Workload {
    seed: u64,
    ops: Vec<Op>,
}

impl Workload {
    fn generate(seed: u64, len: usize, mix: Mix) -> Self {
        let mut rng = Rng::new(seed);
        let mut ops = Vec::with_capacity(len);
        // Start with a topic, so that early steps have something to work on.
        ops.push(Op::Create { t: 0, partitions: 2, compacted: false, segment: rng.below(3) as u8 });
        let weights: &[(Kind2, u64)] = match mix {
            Mix::Mixed => &[
                (Kind2::Create, 6),
                (Kind2::Delete, 3),
                (Kind2::SetConfig, 3),
                (Kind2::AddPartition, 1),
                (Kind2::Append, 34),
                (Kind2::Flush, 12),
                (Kind2::Roll, 5),
                (Kind2::DeleteRecords, 4),
                (Kind2::Compact, 4),
                (Kind2::Maintenance, 8),
                (Kind2::Commit, 10),
                (Kind2::CloseReopen, 5),
                (Kind2::DropReopen, 5),
            ],
            Mix::Lifecycle => &[
                (Kind2::Create, 14),
                (Kind2::Delete, 10),
                (Kind2::SetConfig, 10),
                (Kind2::AddPartition, 5),
                (Kind2::Append, 25),
                (Kind2::Flush, 10),
                (Kind2::Maintenance, 10),
                (Kind2::Commit, 3),
                (Kind2::CloseReopen, 6),
                (Kind2::DropReopen, 7),
            ],
            Mix::Retention => &[
                (Kind2::Create, 4),
                (Kind2::Delete, 2),
                (Kind2::SetConfig, 6),
                (Kind2::Append, 30),
                (Kind2::Flush, 10),
                (Kind2::Roll, 8),
                (Kind2::DeleteRecords, 8),
                (Kind2::Maintenance, 15),
                (Kind2::Commit, 3),
                (Kind2::CloseReopen, 7),
                (Kind2::DropReopen, 7),
            ],
            Mix::Offsets => &[
                (Kind2::Create, 3),
                (Kind2::Delete, 1),
                (Kind2::Append, 20),
                (Kind2::Flush, 6),
                (Kind2::Compact, 6),
                (Kind2::Maintenance, 14),
                (Kind2::Commit, 40),
                (Kind2::CloseReopen, 5),
                (Kind2::DropReopen, 5),
            ],
        };
        let total: u64 = weights.iter().map(|(_, w)| w).sum();
        while ops.len() < len {
            let mut draw = rng.below(total);
            let kind = weights
                .iter()
                .find(|(_, w)| {
                    if draw < *w {
                        true
                    } else {
                        draw -= w;
                        false
                    }
                })
                .unwrap()
                .0;
            let t = rng.below(TOPICS.len() as u64) as u8;
            let p = rng.below(4) as u8;
            ops.push(match kind {
                Kind2::Create => Op::Create {
                    t,
                    partitions: 1 + rng.below(2) as u8,
                    compacted: rng.chance(1, 3),
                    segment: rng.below(3) as u8,
                },
                Kind2::Delete => Op::Delete { t },
                Kind2::SetConfig => Op::SetConfig { t, which: rng.below(4) as u8 },
                Kind2::AddPartition => Op::AddPartition { t },
                Kind2::Append => {
                    Op::Append { t, p, records: 1 + rng.below(12) as u8, advance_ms: rng.below(300) as u16 }
                }
                Kind2::Flush => Op::Flush { t },
                Kind2::Roll => Op::Roll { t, p },
                Kind2::DeleteRecords => Op::DeleteRecords { t, p, permille: rng.below(1001) as u16 },
                Kind2::Compact => Op::Compact { t },
                Kind2::Maintenance => Op::Maintenance { advance_ms: rng.below(10_000) as u32 },
                Kind2::Commit => Op::Commit {
                    group: rng.below(GROUPS.len() as u64) as u8,
                    t,
                    p,
                    offset: rng.below(1_000) as u16,
                    via_consumer: rng.chance(1, 3),
                },
                Kind2::CloseReopen => Op::CloseReopen,
                Kind2::DropReopen => Op::DropReopen,
            });
        }
        Self { seed, ops }
    }
}

/// The kinds of step, for drawing them with weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind2 {
    Create,
    Delete,
    SetConfig,
    AddPartition,
    Append,
    Flush,
    Roll,
    DeleteRecords,
    Compact,
    Maintenance,
    Commit,
    CloseReopen,
    DropReopen,
}

/// Keys of compacted topics: few, so that compaction has work.
fn key_of(offset: i64) -> Vec<u8> {
    format!("k{}", offset % 5 + (offset / 40) % 2 * 5).into_bytes()
}

/// A record's value: which creation of the topic, which partition and
/// offset wrote it, then filler, so that a record of a deleted topic's
/// earlier life or of another partition is told apart.
fn payload(generation: u32, partition: u32, offset: i64) -> Vec<u8> {
    let fill = ((offset as u64).wrapping_mul(37).wrapping_add(u64::from(generation) * 11) % 70) as usize;
    let mut value = format!("{generation}/{partition}/{offset}/").into_bytes();
    value.extend(std::iter::repeat_n(b'a' + (offset % 26) as u8, fill));
    value
}

/// The overrides a `SetConfig` step sets (key, value), or the key it removes.
fn config_change(which: u8, compacted: bool) -> (&'static str, Option<&'static str>) {
    match which {
        0 => ("retention.ms", None),
        1 => ("retention.ms", Some("20000")),
        2 if compacted => ("min.cleanable.dirty.ratio", Some("0.2")),
        2 => ("retention.bytes", Some("6000")),
        _ => ("max.message.bytes", Some("500000")),
    }
}

/// What must survive of one partition.
#[derive(Debug, Clone, Default)]
struct PartExpect {
    /// The value of each offset written.
    values: Vec<Vec<u8>>,
    /// The partition's recovery point when the last step returned.
    flushed_end: i64,
    /// The log start offset after the last step (recorded durably).
    durable_start: i64,
}

/// What must survive of one topic.
#[derive(Debug, Clone)]
struct TopicExpect {
    generation: u32,
    compacted: bool,
    overrides: BTreeMap<String, String>,
    parts: Vec<PartExpect>,
}

/// A workload in progress.
struct StoreRun {
    dir: tempfile::TempDir,
    root: PathBuf,
    clock: ManualClock,
    store: Option<Store>,
    model: Rc<RefCell<TreeModel>>,
    topics: BTreeMap<String, TopicExpect>,
    generations: u32,
    /// Steps that did something, by kind, and what maintenance passes did.
    done: BTreeMap<String, usize>,
    /// The last commit of each (group, topic, partition).
    commits: BTreeMap<(String, String, u32), i64>,
    /// Crash states built so far (for fresh directory names).
    built: u64,
}

impl StoreRun {
    fn config(&self) -> StoreConfig {
        let clock: Arc<dyn topiclog::Clock> = Arc::new(self.clock.clone());
        let set = |c: StoreConfig, k: &str, v: &str| c.set(k, v).unwrap();
        let c = StoreConfig::new().maintenance(false).clock(clock);
        let c = set(c, "offsets.topic.num.partitions", "2");
        let c = set(c, "log.segment.bytes", "4096");
        let c = set(c, "log.index.size.max.bytes", "240");
        let c = set(c, "log.index.interval.bytes", "300");
        let c = set(c, "log.retention.bytes", "-1");
        let c = set(c, "log.segment.delete.delay.ms", "0");
        set(c, "log.cleaner.min.cleanable.ratio", "0.1")
    }

    fn start() -> Self {
        let dir = super::scratch_dir();
        let root = dir.path().join("data");
        std::fs::create_dir(&root).unwrap();
        let model = Rc::new(RefCell::new(TreeModel::new(&root)));
        let observer = model.clone();
        observe::set(Box::new(move |event| observer.borrow_mut().on_event(event)));
        observe::simulate_syncs();
        let mut run = Self {
            dir,
            root,
            clock: ManualClock::new(START_MS),
            store: None,
            model,
            topics: BTreeMap::new(),
            generations: 0,
            done: BTreeMap::new(),
            commits: BTreeMap::new(),
            built: 0,
        };
        let store = Store::open(&run.root, run.config()).unwrap();
        // `__consumer_offsets` as the first commit would create it, but with
        // small segments: its default `segment.bytes` (100 MiB) preallocates
        // 4 MiB log files, which would make each crash state cost 10 times
        // as much (the partition tests cover preallocated tails); and small
        // enough that commits roll segments, which maintenance then cleans.
        let offsets =
            TopicConfig::new().set("cleanup.policy", "compact").unwrap().set("segment.bytes", "1500").unwrap();
        store.create_topic(topiclog::OFFSETS_TOPIC, 2, offsets).unwrap();
        run.store = Some(store);
        run
    }

    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    fn partition(&self, t: &str, p: u8) -> Option<(u32, Partition)> {
        let expect = self.topics.get(t)?;
        let n = u32::from(p) % expect.parts.len() as u32;
        Some((n, self.store().existing_topic(t).ok()?.partition(n).ok()?))
    }

    /// Runs one step; an error is a failure of the workload itself.
    fn apply(&mut self, op: Op) -> Result<(), String> {
        let fail = |e: topiclog::Error| format!("{op:?} failed: {e}");
        match op {
            Op::Create { t, partitions, compacted, segment } => {
                let name = TOPICS[t as usize];
                if self.topics.contains_key(name) {
                    return Ok(());
                }
                let mut expected = BTreeMap::new();
                expected
                    .insert("segment.bytes".to_string(), ["1200", "2500", "16384"][segment as usize % 3].to_string());
                if compacted {
                    expected.insert("cleanup.policy".to_string(), "compact".to_string());
                } else {
                    expected.insert("retention.ms".to_string(), "30000".to_string());
                }
                let mut overrides = TopicConfig::new();
                for (key, value) in &expected {
                    overrides = overrides.set(key, value).unwrap();
                }
                self.store().create_topic(name, u32::from(partitions), overrides).map_err(fail)?;
                self.generations += 1;
                self.topics.insert(
                    name.to_string(),
                    TopicExpect {
                        generation: self.generations,
                        compacted,
                        overrides: expected,
                        parts: vec![PartExpect::default(); partitions as usize],
                    },
                );
            }
            Op::Delete { t } => {
                let name = TOPICS[t as usize];
                if self.topics.remove(name).is_some() {
                    self.store().delete_topic(name).map_err(fail)?;
                }
            }
            Op::SetConfig { t, which } => {
                let name = TOPICS[t as usize];
                let Some(expect) = self.topics.get(name) else { return Ok(()) };
                let (key, value) = config_change(which, expect.compacted);
                match value {
                    Some(v) => self.store().set_topic_config(name, key, v).map_err(fail)?,
                    None => self.store().delete_topic_config(name, key).map_err(fail)?,
                }
                let expect = self.topics.get_mut(name).unwrap();
                match value {
                    Some(v) => expect.overrides.insert(key.to_string(), v.to_string()),
                    None => expect.overrides.remove(key),
                };
            }
            Op::AddPartition { t } => {
                let name = TOPICS[t as usize];
                let Some(expect) = self.topics.get(name) else { return Ok(()) };
                let count = expect.parts.len() as u32;
                if count >= 3 {
                    return Ok(());
                }
                self.store().add_partitions(name, count + 1).map_err(fail)?;
                self.topics.get_mut(name).unwrap().parts.push(PartExpect::default());
            }
            Op::Append { t, p, records, advance_ms } => {
                let name = TOPICS[t as usize];
                let Some((n, partition)) = self.partition(name, p) else { return Ok(()) };
                self.clock.advance(i64::from(advance_ms));
                let expect = &self.topics[name];
                let end = partition.log_end_offset();
                let values: Vec<Vec<u8>> =
                    (end..end + i64::from(records)).map(|o| payload(expect.generation, n, o)).collect();
                let batch: Vec<Record> = (end..)
                    .zip(&values)
                    .map(|(o, v)| {
                        let record = Record::new().value(v.clone());
                        if expect.compacted { record.key(key_of(o)) } else { record }
                    })
                    .collect();
                let appended = partition.append(&batch).map_err(fail)?;
                if appended.first_offset != end {
                    return Err(format!("{op:?}: first offset {} where the log end was {end}", appended.first_offset));
                }
                self.topics.get_mut(name).unwrap().parts[n as usize].values.extend(values);
            }
            Op::Flush { t } => {
                let name = TOPICS[t as usize];
                let Some(expect) = self.topics.get(name) else { return Ok(()) };
                for n in 0..expect.parts.len() as u32 {
                    let partition = self.store().existing_topic(name).unwrap().partition(n).unwrap();
                    let end = partition.log_end_offset();
                    partition.flush().map_err(fail)?;
                    if partition.recovery_point() < end {
                        return Err(format!(
                            "{op:?}: recovery point {} below {end} after flush",
                            partition.recovery_point()
                        ));
                    }
                }
            }
            Op::Roll { t, p } => {
                let Some((_, partition)) = self.partition(TOPICS[t as usize], p) else { return Ok(()) };
                partition.roll().map_err(fail)?;
            }
            Op::DeleteRecords { t, p, permille } => {
                let name = TOPICS[t as usize];
                if self.topics.get(name).is_none_or(|e| e.compacted) {
                    return Ok(());
                }
                let Some((_, partition)) = self.partition(name, p) else { return Ok(()) };
                let (start, end) = (partition.log_start_offset(), partition.log_end_offset());
                partition.delete_records(start + (end - start) * i64::from(permille) / 1000).map_err(fail)?;
            }
            Op::Compact { t } => {
                let name = TOPICS[t as usize];
                if self.topics.get(name).is_none_or(|e| !e.compacted) {
                    return Ok(());
                }
                for partition in self.store().existing_topic(name).unwrap().partitions() {
                    partition.compact().map_err(fail)?;
                }
            }
            Op::Maintenance { advance_ms } => {
                self.clock.advance(i64::from(advance_ms));
                let report = self.store().run_maintenance();
                if let Some(e) = report.errors.first() {
                    return Err(format!("{op:?}: {e}"));
                }
                for (what, n) in [
                    ("maintenance: segments deleted by retention", report.deleted_segments.len()),
                    ("maintenance: partitions cleaned", report.compacted.len()),
                    ("maintenance: deleted topics' directories removed", report.removed_topic_dirs),
                ] {
                    *self.done.entry(what.to_string()).or_default() += n;
                }
            }
            Op::Commit { group, t, p, offset, via_consumer } => {
                let (group, topic) = (GROUPS[group as usize], TOPICS[t as usize]);
                let (partition, offset) = (u32::from(p % 2), i64::from(offset));
                let offsets = [(topic.to_string(), partition, offset)];
                if via_consumer {
                    let config = ConsumerConfig::new().group_id(group).enable_auto_commit(false);
                    let mut consumer = self.store().consumer(config).map_err(fail)?;
                    consumer.commit_offsets(&offsets).map_err(fail)?;
                } else {
                    self.store().commit_offsets(group, &offsets).map_err(fail)?;
                }
                self.commits.insert((group.to_string(), topic.to_string(), partition), offset);
            }
            Op::CloseReopen => {
                self.store.take().unwrap().close().map_err(fail)?;
                self.store =
                    Some(Store::open(&self.root, self.config()).map_err(|e| format!("reopen after close: {e}"))?);
            }
            Op::DropReopen => {
                self.store = None;
                self.store =
                    Some(Store::open(&self.root, self.config()).map_err(|e| format!("reopen after drop: {e}"))?);
            }
        }
        // What the contract now promises: each partition's recovery point,
        // its log start; and the log end is what was written.
        for (name, expect) in &mut self.topics {
            let topic = self.store.as_ref().unwrap().existing_topic(name).map_err(|e| format!("after {op:?}: {e}"))?;
            if topic.partition_count() as usize != expect.parts.len() {
                return Err(format!("after {op:?}: {name} has {} partitions", topic.partition_count()));
            }
            for (n, part) in expect.parts.iter_mut().enumerate() {
                let p = topic.partition(n as u32).unwrap();
                let end = p.log_end_offset();
                if end != part.values.len() as i64 {
                    return Err(format!("after {op:?}: {name}-{n} log end {end}, {} written", part.values.len()));
                }
                part.flushed_end = p.recovery_point();
                part.durable_start = p.log_start_offset();
            }
        }
        let kind = format!("{op:?}");
        let kind = kind.split([' ', '{']).next().unwrap_or_default();
        *self.done.entry(kind.to_string()).or_default() += 1;
        Ok(())
    }

    /// Builds `kinds.len()` crash states of the present moment and checks
    /// each; returns the failures as (tag, message).
    fn check_crash_states(&mut self, states: &[(Kind, u64)]) -> Vec<(&'static str, Kind, u64, String)> {
        let now = self.model.borrow().snapshot();
        let mut failures = Vec::new();
        for &(kind, seed) in states {
            self.built += 1;
            let out = self.dir.path().join(format!("crash-{}", self.built));
            std::fs::create_dir(&out).unwrap();
            let description = self.model.borrow().build_crash_state(kind, seed, &now, &out);
            if let Err((tag, message)) = self.check_recovered(&out, kind == Kind::EverythingWritten) {
                failures.push((tag, kind, seed, format!("{message}\n  {description}")));
            }
            let _ = std::fs::remove_dir_all(&out);
        }
        failures
    }

    /// Opens a crash state and checks what the contract promises of it.
    fn check_recovered(&self, dir: &Path, everything_written: bool) -> Result<(), (&'static str, String)> {
        let store = Store::open(dir, self.config()).map_err(|e| ("open", format!("Store::open failed: {e}")))?;
        let found: BTreeSet<String> = store.topics().into_iter().collect();
        let expected: BTreeSet<String> = self.topics.keys().cloned().collect();
        if found != expected {
            return Err(("topics", format!("topics {found:?}, expected {expected:?}")));
        }
        for (name, expect) in &self.topics {
            let topic = store.existing_topic(name).unwrap();
            if topic.partition_count() as usize != expect.parts.len() {
                return Err((
                    "partitions",
                    format!("{name}: {} partitions, expected {}", topic.partition_count(), expect.parts.len()),
                ));
            }
            if topic.overrides() != expect.overrides {
                return Err((
                    "config",
                    format!("{name}: overrides {:?}, expected {:?}", topic.overrides(), expect.overrides),
                ));
            }
            for (n, part) in expect.parts.iter().enumerate() {
                let p = topic.partition(n as u32).unwrap();
                check_partition(&p, part, expect.compacted, everything_written).map_err(|(tag, m)| {
                    (tag, format!("{name}-{n}: {m}; recovery reports {:?}", p.recovery_reports()))
                })?;
            }
        }
        for ((group, topic, partition), offset) in &self.commits {
            let got = store.committed_offset(group, topic, *partition).map_err(|e| ("commit", format!("{e}")))?;
            if got != Some(*offset) {
                return Err(("commit", format!("{group} {topic}-{partition}: committed {got:?}, expected {offset}")));
            }
        }
        store.close().map_err(|e| ("close", format!("close after recovery failed: {e}")))
    }
}

impl Drop for StoreRun {
    fn drop(&mut self) {
        self.store = None;
        observe::clear();
    }
}

/// Checks one recovered partition against what must survive of it.
fn check_partition(
    p: &Partition,
    expect: &PartExpect,
    compacted: bool,
    everything_written: bool,
) -> Result<(), (&'static str, String)> {
    let (start, end) = (p.log_start_offset(), p.log_end_offset());
    let written = expect.values.len() as i64;
    let must_reach = if everything_written { written } else { expect.flushed_end };
    if end < must_reach {
        return Err(("lost-flushed", format!("log end {end} below {must_reach} (log [{start}, {end}))")));
    }
    if end > written {
        return Err(("phantom", format!("log end {end} above the {written} offsets written")));
    }
    if start < expect.durable_start.min(end) && !compacted {
        return Err(("start", format!("log start {start} below the durable log start {}", expect.durable_start)));
    }
    if !compacted && expect.durable_start < must_reach && start > expect.durable_start {
        return Err((
            "lost-flushed",
            format!("log start {start} above the durable log start {}, flushed to {must_reach}", expect.durable_start),
        ));
    }
    let mut latest: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    if compacted {
        for offset in expect.durable_start.min(must_reach)..must_reach {
            latest.insert(key_of(offset), offset);
        }
    }
    let mut found: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    let mut previous = start - 1;
    let reader = p.read_from(start).map_err(|e| ("read-error", format!("read_from({start}) failed: {e}")))?;
    for record in reader {
        let record = record.map_err(|e| ("read-error", format!("reading after offset {previous} failed: {e}")))?;
        let offset = record.offset();
        if offset >= end {
            break;
        }
        let dense = offset == previous + 1;
        if (!compacted && !dense) || offset <= previous {
            return Err(("gap", format!("offset {offset} follows {previous} in [{start}, {end})")));
        }
        previous = offset;
        let value = record.value().unwrap_or_default();
        if expect.values.get(offset as usize).is_none_or(|v| v.as_slice() != value) {
            return Err(("bad-record", format!("offset {offset} holds {:?}", String::from_utf8_lossy(value))));
        }
        if compacted {
            if record.key() != Some(key_of(offset).as_slice()) {
                return Err(("bad-record", format!("offset {offset} has key {:?}", record.key())));
            }
            found.insert(key_of(offset), offset);
        }
    }
    if !compacted && previous + 1 != end {
        return Err(("short-read", format!("reading stopped after {previous}, log [{start}, {end})")));
    }
    for (key, offset) in &latest {
        if found.get(key).is_none_or(|f| f < offset) {
            let shown = String::from_utf8_lossy(key);
            return Err((
                "lost-key",
                format!("key {shown}: latest flushed offset {offset}, found {:?}", found.get(key)),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Driving runs.

/// The first failure of one kind.
#[derive(Debug, Clone)]
struct Failure {
    workload: Workload,
    upto: usize,
    kind: Kind,
    state_seed: u64,
    message: String,
}

#[derive(Debug, Default)]
struct Tally {
    states: usize,
    workloads: usize,
    steps: usize,
    events: u64,
    failed_states: usize,
    /// Steps that did something, by kind (see `StoreRun::done`).
    done: BTreeMap<String, usize>,
    failures: BTreeMap<&'static str, Failure>,
}

/// Runs `workload`, checking `per_point` crash states after steps chosen at
/// random, until `budget` states were checked or the steps end.
fn run_workload(workload: &Workload, per_point: usize, budget: usize, tally: &mut Tally) {
    let mut rng = Rng::new(workload.seed ^ 0x5707e);
    let mut run = StoreRun::start();
    let mut checked = 0;
    tally.workloads += 1;
    for (i, &op) in workload.ops.iter().enumerate() {
        if let Err(message) = run.apply(op) {
            tally.failures.entry("workload").or_insert_with(|| Failure {
                workload: workload.clone(),
                upto: i + 1,
                kind: Kind::EverythingWritten,
                state_seed: 0,
                message,
            });
            break;
        }
        tally.steps += 1;
        if !rng.chance(1, 3) {
            continue;
        }
        let states: Vec<(Kind, u64)> = (0..per_point)
            .map(|n| {
                let kind = match n {
                    0 if rng.chance(1, 4) => Kind::NothingUnsynced,
                    1 if rng.chance(1, 4) => Kind::EverythingWritten,
                    _ => Kind::Random,
                };
                (kind, rng.next())
            })
            .collect();
        tally.states += states.len();
        checked += states.len();
        for (tag, kind, state_seed, message) in run.check_crash_states(&states) {
            tally.failed_states += 1;
            tally.failures.entry(tag).or_insert_with(|| Failure {
                workload: workload.clone(),
                upto: i + 1,
                kind,
                state_seed,
                message,
            });
        }
        if checked >= budget {
            break;
        }
    }
    for (kind, n) in &run.done {
        *tally.done.entry(kind.clone()).or_default() += n;
    }
    let model = run.model.borrow();
    tally.events += model.events;
    if let Some(event) = model.unknown.first() {
        tally.failures.entry("unmodelled").or_insert_with(|| Failure {
            workload: workload.clone(),
            upto: workload.ops.len(),
            kind: Kind::EverythingWritten,
            state_seed: 0,
            message: format!(
                "{} events in directories the model never saw created, first {event}",
                model.unknown.len()
            ),
        });
    }
}

/// Runs workloads from consecutive seeds until `target` states were checked.
fn run_many(target: usize, len: usize, mix: Mix) -> Tally {
    let first_seed = env_number("TOPICLOG_POWER_LOSS_SEED").unwrap_or(1);
    let mut tally = Tally::default();
    let mut seed = first_seed;
    while tally.states < target {
        let workload = Workload::generate(seed, len, mix);
        run_workload(&workload, 4, 120.min(target - tally.states), &mut tally);
        seed += 1;
    }
    tally
}

fn report(name: &str, tally: &Tally, elapsed: std::time::Duration) -> String {
    let mut text = format!(
        "{name}: {} crash states ({} failed) over {} workloads, {} steps, {} file-system events, in {:.1?}",
        tally.states, tally.failed_states, tally.workloads, tally.steps, tally.events, elapsed
    );
    let _ = write!(text, "; done: {:?}", tally.done);
    for (tag, f) in &tally.failures {
        let _ = write!(
            text,
            "\n- [{tag}] seed {} crash after {} steps, {:?} state {:#x}: {}\n  ops: {:?}",
            f.workload.seed,
            f.upto,
            f.kind,
            f.state_seed,
            f.message,
            &f.workload.ops[..f.upto]
        );
    }
    text
}

/// `TOPICLOG_POWER_LOSS_STATES` scales the store runs as it does the
/// partition runs: the default total of the partition tests is 2,000 +
/// 500 + 500, and each store test gets its share of the same ratio.
fn target(default: usize) -> usize {
    env_number("TOPICLOG_POWER_LOSS_STATES")
        .map_or(default, |n| (n as usize).saturating_mul(default) / super::DEFAULT_STATES)
}

/// Runs `mix` until its share of crash states was checked; asserts that
/// none failed and that each kind of step in `covered` did something.
fn run_test(name: &str, default: usize, len: usize, mix: Mix, covered: &[&str]) {
    let target = target(default);
    let started = std::time::Instant::now();
    let tally = run_many(target, len, mix);
    let text = report(name, &tally, started.elapsed());
    eprintln!("{text}");
    assert!(tally.states >= target, "{text}");
    assert!(tally.failures.is_empty(), "{text}");
    for kind in covered {
        assert!(tally.done.get(*kind).is_some_and(|&n| n > 0), "no step {kind:?} did anything: {text}");
    }
}

/// The store-level test: every kind of store step, power loss after
/// any of them, every directory of the store modelled.
#[test]
fn power_loss_store_keeps_topics_records_configs_and_commits() {
    let covered = [
        "Create",
        "Delete",
        "SetConfig",
        "AddPartition",
        "Append",
        "Flush",
        "Roll",
        "DeleteRecords",
        "Compact",
        "Maintenance",
        "Commit",
        "CloseReopen",
        "DropReopen",
        "maintenance: partitions cleaned",
        "maintenance: deleted topics' directories removed",
    ];
    run_test("power loss, store", DEFAULT_MIXED_STATES, 60, Mix::Mixed, &covered);
}

/// Topics created, deleted, created again, grown and reconfigured: no
/// deleted topic comes back, no acknowledged topic or config is lost.
#[test]
fn power_loss_store_topic_lifecycle() {
    let covered = ["Create", "Delete", "SetConfig", "AddPartition", "maintenance: deleted topics' directories removed"];
    run_test("power loss, store topic lifecycle", DEFAULT_FOCUSED_STATES, 60, Mix::Lifecycle, &covered);
}

/// Offset commits (store and consumer) with `__consumer_offsets` compacted
/// by maintenance passes: every commit that returned reads back.
#[test]
fn power_loss_store_committed_offsets() {
    let covered = ["Commit", "maintenance: partitions cleaned"];
    run_test("power loss, store offsets", DEFAULT_FOCUSED_STATES, 60, Mix::Offsets, &covered);
}

/// Log starts moved by retention (time and size) and delete-records, with
/// rolls and frequent closes and drops: flushed records above the durable
/// log start all come back, and the log start never goes back.
#[test]
fn power_loss_store_retention_and_reopen() {
    let covered = ["DeleteRecords", "Roll", "CloseReopen", "DropReopen", "maintenance: segments deleted by retention"];
    run_test("power loss, store retention", DEFAULT_RETENTION_STATES, 60, Mix::Retention, &covered);
}
// ---------------------------------------------------------------------------
// Regression tests.

/// Runs `ops` on a fresh store, then checks the crash state `kind`.
fn replay(ops: &[Op], kind: Kind) {
    let mut run = StoreRun::start();
    for &op in ops {
        run.apply(op).unwrap_or_else(|message| panic!("workload failed: {message}"));
    }
    if let Some((tag, _, _, message)) = run.check_crash_states(&[(kind, 0)]).into_iter().next() {
        panic!("[{tag}] {message}\n  after {ops:?}");
    }
}

/// S1: directories were created without an fsync of their parent: the data
/// directory's entry for `topiclog-meta/` (so every acknowledged topic), for
/// each new partition directory (so its flushed records) and for the
/// partitions of `__consumer_offsets` (so committed offsets) could all be
/// lost to a power loss, although each file inside was synced.
#[test]
fn power_loss_regression_s1_new_directories_not_durable() {
    let ops = [
        Op::Create { t: 1, partitions: 2, compacted: false, segment: 0 },
        Op::Append { t: 1, p: 1, records: 5, advance_ms: 10 },
        Op::Flush { t: 1 },
        Op::Commit { group: 0, t: 1, p: 1, offset: 5, via_consumer: false },
    ];
    replay(&ops, Kind::NothingUnsynced);
}

/// S2: a topic created again under the name of a deleted one took the
/// deleted topic's entry in `log-start-offset-checkpoint` (written by a
/// maintenance pass, a close or a drop before the deletion, and not rewritten
/// by it): `open_partition` reads that checkpoint for any partition
/// directory without a state file, which a new directory is, so the new
/// partition's log started (and ended) at the old log start, 9 here, instead
/// of 0. Found by the long run (`TOPICLOG_POWER_LOSS_STATES=20000`, seed 88
/// of the mixed store workload). A deletion now drops the topic's entries
/// from the checkpoints before its metadata file goes.
#[test]
fn power_loss_regression_s2_recreated_topic_inherits_log_start_checkpoint() {
    let mut run = StoreRun::start();
    let ops = [
        Op::Create { t: 0, partitions: 1, compacted: false, segment: 0 },
        Op::Append { t: 0, p: 0, records: 10, advance_ms: 10 },
        Op::DeleteRecords { t: 0, p: 0, permille: 981 },
        Op::Maintenance { advance_ms: 10 },
        Op::Delete { t: 0 },
        Op::Create { t: 0, partitions: 1, compacted: false, segment: 0 },
    ];
    for op in ops {
        run.apply(op).unwrap_or_else(|message| panic!("{message}"));
    }
    if let Some((tag, _, _, message)) = run.check_crash_states(&[(Kind::NothingUnsynced, 0)]).into_iter().next() {
        panic!("[{tag}] {message}");
    }
}
