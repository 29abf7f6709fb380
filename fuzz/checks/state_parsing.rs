//! The `state_parsing` check, shared by the fuzz target
//! (`fuzz/fuzz_targets/state_parsing.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`).
//!
//! Writes arbitrary bytes as a data directory's text files — a partition's
//! `topiclog.state`, a topic's metadata file (`topiclog-meta/<topic>.topic`)
//! and Kafka's checkpoints at the root (`recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint`, `cleaner-offset-checkpoint`) — beside, at
//! will, the segments of a small real partition, then opens the directory
//! with [`Store::open_read_only`], [`Store::open`] and [`Partition::open_with`].
//!
//! Checked: nothing panics; an error is one of the typed errors a damaged
//! directory may give ([`expected_error`]); a read-only open changes no
//! file; nothing outside the data directory is touched; an open that
//! succeeds gives `0 ≤ log start ≤ log end`, reads increasing offsets inside
//! that range, takes an append, and after `close` reopens with the same
//! offsets.
//!
//! Input layout: byte 0 is flags, the rest is split at NUL bytes into up to
//! five parts — state, metadata, recovery-point checkpoint, log-start
//! checkpoint, cleaner checkpoint; a missing part is a missing file.
//!
//! | byte 0 bits | meaning |
//! |---|---|
//! | 0-1 | the topic ([`TOPICS`]) |
//! | 2 | copy the segments of a real partition (offsets 0-11, bases 0, 5, 10) into partition 0 |
//! | 3 | also create an empty directory for partition 1 |
//! | 4 | no metadata file (the topic is adopted from its directories) |
//! | 5 | no state file |
//!
//! Work per input is bounded: a `partitions=N` line with `N` over
//! [`MAX_FUZZ_PARTITIONS`] (and not over the library's own limit, which is
//! refused as corrupt before any directory is made) is rewritten to
//! `N % MAX_FUZZ_PARTITIONS + 1`, so that no input opens thousands of
//! partitions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use topiclog::{Error, LogConfig, ManualClock, Partition, PartitionOptions, Record, Store, StoreConfig};

/// Topic names the input picks from (byte 0, bits 0-1).
pub const TOPICS: [&str; 4] = ["t", "orders.v2_x", "...", "a-1"];
pub const WITH_SEGMENTS: u8 = 0x04;
pub const SECOND_PARTITION: u8 = 0x08;
pub const NO_METADATA: u8 = 0x10;
pub const NO_STATE: u8 = 0x20;
/// Most partitions an input may open.
pub const MAX_FUZZ_PARTITIONS: u32 = 4;
/// [`Store::MAX_PARTITIONS`].
const LIBRARY_MAX_PARTITIONS: u32 = Store::MAX_PARTITIONS;

const NOW_MS: i64 = 1_700_000_000_000;

/// A scratch directory, in memory when `/dev/shm` is there (fsyncs are free).
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new().prefix("topiclog-fuzz").tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

/// One decoded input.
#[derive(Debug, Clone)]
pub struct Input {
    pub topic: &'static str,
    pub flags: u8,
    pub state: Option<Vec<u8>>,
    pub meta: Option<Vec<u8>>,
    pub recovery: Option<Vec<u8>>,
    pub log_start: Option<Vec<u8>>,
    pub cleaner: Option<Vec<u8>>,
}

impl Input {
    pub fn parse(data: &[u8]) -> Self {
        let flags = data.first().copied().unwrap_or(0);
        let rest = data.get(1..).unwrap_or_default();
        let mut parts = rest.splitn(5, |&b| b == 0).map(<[u8]>::to_vec);
        let mut next = || parts.next();
        let (state, meta, recovery, log_start, cleaner) = (next(), next(), next(), next(), next());
        Self {
            topic: TOPICS[usize::from(flags & 3)],
            flags,
            state: state.filter(|_| flags & NO_STATE == 0),
            meta: meta.filter(|_| flags & NO_METADATA == 0).map(|m| bound_partitions(&m)),
            recovery,
            log_start,
            cleaner,
        }
    }

    /// Writes the data directory into `dir`.
    fn write_to(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let p0 = dir.join(format!("{}-0", self.topic));
        std::fs::create_dir_all(&p0).unwrap();
        if self.flags & WITH_SEGMENTS != 0 {
            for (name, bytes) in template() {
                std::fs::write(p0.join(name), bytes).unwrap();
            }
        }
        if self.flags & SECOND_PARTITION != 0 {
            std::fs::create_dir_all(dir.join(format!("{}-1", self.topic))).unwrap();
        }
        if let Some(state) = &self.state {
            std::fs::write(p0.join("topiclog.state"), state).unwrap();
        }
        if let Some(meta) = &self.meta {
            let meta_dir = dir.join("topiclog-meta");
            std::fs::create_dir_all(&meta_dir).unwrap();
            std::fs::write(meta_dir.join(format!("{}.topic", self.topic)), meta).unwrap();
        }
        for (name, part) in [
            ("recovery-point-offset-checkpoint", &self.recovery),
            ("log-start-offset-checkpoint", &self.log_start),
            ("cleaner-offset-checkpoint", &self.cleaner),
        ] {
            if let Some(bytes) = part {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
}

/// Rewrites `partitions=N` lines whose count would open more than
/// [`MAX_FUZZ_PARTITIONS`] partitions (see the module docs).
fn bound_partitions(meta: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(meta.len());
    for piece in meta.split_inclusive(|&b| b == b'\n') {
        let line = piece.strip_suffix(b"\n").unwrap_or(piece);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let count = line
            .strip_prefix(b"partitions=")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<u32>().ok());
        match count {
            Some(n) if n > MAX_FUZZ_PARTITIONS && n <= LIBRARY_MAX_PARTITIONS => {
                out.extend_from_slice(format!("partitions={}", n % MAX_FUZZ_PARTITIONS + 1).as_bytes());
                out.extend_from_slice(&piece[line.len()..]);
            }
            _ => out.extend_from_slice(piece),
        }
    }
    out
}

/// The files (but the state file and lock) of a partition holding offsets
/// 0-11 in segments based at 0, 5 and 10, closed cleanly; made once.
fn template() -> &'static [(String, Vec<u8>)] {
    static TEMPLATE: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = scratch();
        let clock = Arc::new(ManualClock::new(NOW_MS));
        let config = LogConfig::new().segment_index_bytes(4096);
        let options = PartitionOptions { config, clock, ..PartitionOptions::default() };
        let p = Partition::open_with(dir.path(), options).unwrap();
        for (i, n) in [5, 5, 2].into_iter().enumerate() {
            let records: Vec<Record> = (0..n)
                .map(|j| Record::new().key(format!("k{j}")).value(format!("v{i}-{j}")).timestamp(NOW_MS + j))
                .collect();
            p.append(&records).unwrap();
            if i < 2 {
                p.roll().unwrap();
            }
        }
        p.close().unwrap();
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| name.ends_with(".log") || name.ends_with("index"))
            .map(|(name, path)| (name, std::fs::read(path).unwrap()))
            .collect();
        files.sort();
        files
    })
}

/// Every file under `dir` with its bytes (directories as `None`).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            let rel = entry.path().strip_prefix(dir).unwrap().to_path_buf();
            assert!(!kind.is_symlink(), "a symbolic link {} appeared", entry.path().display());
            if kind.is_dir() {
                stack.push(entry.path());
                out.insert(rel, None);
            } else {
                out.insert(rel, Some(std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    out
}

/// Whether `e` is an error a damaged data directory may give.
fn expected_error(e: &Error, read_only: bool) -> bool {
    match e {
        Error::CorruptState { .. }
        | Error::CorruptTopicMetadata { .. }
        | Error::CorruptCheckpoint { .. }
        | Error::InvalidConfig { .. } => true,
        // A file that is not UTF-8 text.
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::InvalidData => true,
        // A read-only open of a partition directory without a segment, or
        // of a partition whose directory is missing (it creates neither).
        Error::ReadOnly { .. } => read_only,
        Error::Io { source, .. } if read_only && source.kind() == std::io::ErrorKind::NotFound => true,
        _ => false,
    }
}

fn store_config() -> StoreConfig {
    // Small indexes: opening a partition after an unclean shutdown scans
    // its whole preallocated index, which at Kafka's 10 MiB is slow.
    StoreConfig::new()
        .set("log.index.size.max.bytes", "4096")
        .unwrap()
        .clock(Arc::new(ManualClock::new(NOW_MS)))
        .maintenance(false)
}

/// `(topic, partition) → (log start, log end)` of every partition.
type Offsets = BTreeMap<(String, usize), (i64, i64)>;

fn offsets_of(store: &Store) -> Offsets {
    let mut out = BTreeMap::new();
    for name in store.all_topics() {
        let topic = store.existing_topic(&name).unwrap();
        for (i, p) in topic.partitions().iter().enumerate() {
            out.insert((name.clone(), i), (p.log_start_offset(), p.log_end_offset()));
        }
    }
    out
}

/// Offsets are in range; reading from the log start gives increasing offsets.
fn check_partition(p: &Partition) {
    let (start, end) = (p.log_start_offset(), p.log_end_offset());
    assert!(0 <= start && start <= end, "log start {start}, log end {end}");
    let reader = match p.read_from(start) {
        Ok(r) => r,
        Err(Error::MissingSegment { .. } | Error::OffsetOutOfRange { .. }) => return,
        Err(e) => panic!("read_from({start}) of [{start}, {end}) failed: {e}"),
    };
    let mut previous = start - 1;
    for record in reader.take(64) {
        match record {
            Ok(r) => {
                assert!(r.offset() > previous && r.offset() < end, "offset {} after {previous}, end {end}", r.offset());
                previous = r.offset();
            }
            Err(Error::MissingSegment { .. }) => break,
            Err(e) => panic!("reading [{start}, {end}) failed: {e}"),
        }
    }
}

pub fn check(data: &[u8]) {
    let input = Input::parse(data);
    let outer = scratch();
    let sentinel = outer.path().join("sentinel");
    std::fs::write(&sentinel, b"outside the data directory").unwrap();
    let (ro_dir, rw_dir, p_dir) = (outer.path().join("ro"), outer.path().join("rw"), outer.path().join("p"));
    for dir in [&ro_dir, &rw_dir, &p_dir] {
        input.write_to(dir);
    }

    // Read-only: typed error or a store; no file changes either way.
    let before = snapshot(&ro_dir);
    match Store::open_read_only(&ro_dir, store_config()) {
        Ok(store) => {
            for name in store.all_topics() {
                for p in store.existing_topic(&name).unwrap().partitions() {
                    check_partition(&p);
                }
            }
            store.close().unwrap_or_else(|e| panic!("closing a read-only store: {e}"));
        }
        Err(e) => assert!(expected_error(&e, true), "Store::open_read_only: unexpected error {e:?}"),
    }
    // Lock files are the one thing a read-only open may create.
    let not_lock = |path: &PathBuf, _: &mut Option<Vec<u8>>| path.file_name().is_none_or(|n| n != ".lock");
    let mut after = snapshot(&ro_dir);
    after.retain(not_lock);
    let mut before = before;
    before.retain(not_lock);
    assert!(before == after, "a read-only open changed files: {:?}", changed(&before, &after));

    // Read-write: typed error, or a store that takes an append and reopens as it closed.
    match Store::open(&rw_dir, store_config()) {
        Ok(store) => {
            for name in store.all_topics() {
                let topic = store.existing_topic(&name).unwrap();
                for p in topic.partitions() {
                    check_partition(&p);
                }
                match topic.send_to(0, Record::new().key("k").value("after open").timestamp(NOW_MS)) {
                    Ok(sent) => assert!(sent.offset >= 0, "sent at {}", sent.offset),
                    // Overrides may leave no room for a record.
                    Err(
                        Error::OffsetOverflow { .. }
                        | Error::RecordBatchTooLarge { .. }
                        | Error::TooLarge { .. }
                        | Error::TimestampOutOfBounds { .. },
                    ) => {}
                    Err(e) => panic!("appending to {name} after open failed: {e}"),
                }
            }
            let offsets = offsets_of(&store);
            store.close().unwrap_or_else(|e| panic!("close: {e}"));
            let store = Store::open(&rw_dir, store_config()).unwrap_or_else(|e| panic!("reopen after close: {e}"));
            assert!(offsets_of(&store) == offsets, "reopened as {:?}, closed as {offsets:?}", offsets_of(&store));
            store.close().unwrap_or_else(|e| panic!("second close: {e}"));
        }
        Err(e) => assert!(expected_error(&e, false), "Store::open: unexpected error {e:?}"),
    }

    // The partition directory on its own.
    let dir = p_dir.join(format!("{}-0", input.topic));
    let options = PartitionOptions {
        config: LogConfig::new().segment_index_bytes(4096),
        clock: Arc::new(ManualClock::new(NOW_MS)),
        ..PartitionOptions::default()
    };
    match Partition::open_with(&dir, options.clone()) {
        Ok(p) => {
            check_partition(&p);
            let offsets = (p.log_start_offset(), p.log_end_offset());
            p.close().unwrap_or_else(|e| panic!("partition close: {e}"));
            let p = Partition::open_with(&dir, options).unwrap_or_else(|e| panic!("partition reopen: {e}"));
            assert!((p.log_start_offset(), p.log_end_offset()) == offsets, "partition reopened differently");
            p.close().unwrap();
        }
        Err(e) => assert!(expected_error(&e, false), "Partition::open: unexpected error {e:?}"),
    }

    // Nothing outside the three data directories.
    let mut names: Vec<String> =
        std::fs::read_dir(outer.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    names.sort();
    assert!(names == ["p", "ro", "rw", "sentinel"], "files outside the data directories: {names:?}");
    assert!(std::fs::read(&sentinel).unwrap() == b"outside the data directory");
}

fn changed(before: &BTreeMap<PathBuf, Option<Vec<u8>>>, after: &BTreeMap<PathBuf, Option<Vec<u8>>>) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = before.keys().chain(after.keys()).cloned().collect();
    paths.sort();
    paths.dedup();
    paths.retain(|p| before.get(p) != after.get(p));
    paths
}
