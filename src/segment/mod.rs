//! [`LogSegment`]: one `.log` file of record batches with its `.index` and
//! `.timeindex`, named by the segment's base offset. Append, read from an
//! offset, look up by time, truncate, recover, seal. Knows nothing of other
//! segments.
//!
//! Concurrency: appends, truncation and recovery are serialized by the
//! segment itself; reads run beside them and see only complete batches (the
//! logical size is published after the bytes are written).

mod files;
mod scan;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::error::{BatchProblem, Error, Result};
use crate::format::{
    BatchHeader, Compression, MAGIC_V2, NO_TIMESTAMP, RECORD_BATCH_OVERHEAD, RecordBatch, RecordRef, point_record,
};
use crate::index::{DEFAULT_MAX_INDEX_SIZE, OffsetIndex, OffsetPosition, TimeIndex, TimestampOffset, relative_offset};
use files::LogFile;
pub use files::{
    DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, base_offset_from_file_name, segment_file,
};
use scan::{ChunkReader, HeaderScan, ScanEnd, ScannedBatch, Source};

/// Kafka's default `index.interval.bytes`.
pub const DEFAULT_INDEX_INTERVAL_BYTES: u64 = 4096;

/// Appends up to this size are copied into the preallocated mapping; larger
/// ones are written with `pwrite` (measured: a 100 KiB append through the
/// mapping cost 25 page faults, several times one system call).
const MAPPED_APPEND_MAX: usize = 4096;

/// Bytes of page cache past the data that appends through the mapping
/// bring in at a time, ahead of the appends (see `LogSegment::write_mapped`).
const POPULATE_AHEAD_BYTES: u64 = 64 << 10;

/// Zeros for [`POPULATE_AHEAD_BYTES`] plus the pages an append (at most
/// [`MAPPED_APPEND_MAX`]) may reach into.
static ZEROS: [u8; (POPULATE_AHEAD_BYTES + 2 * PAGE) as usize] = [0; (POPULATE_AHEAD_BYTES + 2 * PAGE) as usize];

/// The page size the append mapping is aligned to.
const PAGE: u64 = 4096;

/// Every this many bytes appended, their writeback to the disk is started
/// (not waited for), so that a flush or close later finds little left to
/// write: on W1 (110 MB) close waited about 0.1 s for the whole log.
const WRITEBACK_BYTES: u64 = 8 << 20;

/// Largest `.log` a segment can address with 32-bit index positions.
const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;

/// The settings a segment needs from its log's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentConfig {
    /// `index.interval.bytes`: bytes appended between offset-index entries (default 4096).
    pub index_interval_bytes: u64,
    /// `segment.index.bytes`: the preallocated size of each index file (default 10 MiB).
    pub max_index_size: u64,
    /// Bytes of `.log` reserved on disk (and mapped) at a time for appends,
    /// which are then copied into the mapping with no system call; 0 writes
    /// every append with `pwrite`. The reserved tail is trimmed on seal and
    /// close, and recovery drops it silently (default 4 MiB).
    pub preallocate_bytes: u64,
}

/// Default [`SegmentConfig::preallocate_bytes`].
pub const DEFAULT_PREALLOCATE_BYTES: u64 = 4 << 20;

impl Default for SegmentConfig {
    fn default() -> Self {
        Self {
            index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES,
            max_index_size: DEFAULT_MAX_INDEX_SIZE,
            preallocate_bytes: DEFAULT_PREALLOCATE_BYTES,
        }
    }
}

/// How a segment's files are opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Never write: indexes are read into memory (and rebuilt there when
    /// missing or invalid); the `.log` is never cut. For inspecting foreign
    /// or damaged data.
    ReadOnly,
    /// Normal use: indexes are memory-mapped and repaired on disk.
    ReadWrite,
}

/// What an append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// First offset of the first batch.
    pub first_offset: i64,
    /// Last offset of the last batch.
    pub last_offset: i64,
    /// Largest batch `maxTimestamp` (-1 if none had a timestamp).
    pub max_timestamp: i64,
    /// Last offset of the batch that holds `max_timestamp`.
    pub offset_of_max_timestamp: i64,
    /// Byte position the data was written at.
    pub position: u64,
    /// Bytes written.
    pub size: u64,
}

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryReport {
    /// The segment's base offset.
    pub base_offset: i64,
    /// Bytes of valid batches kept.
    pub valid_bytes: u64,
    /// Bytes cut from the end (or, read-only, ignored).
    pub truncated_bytes: u64,
    /// Valid batches.
    pub batches: u64,
    /// Why the scan stopped before the end, or what else recovery did, if anything.
    pub cause: Option<RecoveryCause>,
}

/// Why recovery cut a segment, or what else it changed on open. Each is
/// also logged (the `log` facade, target `topiclog`) as a warning.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RecoveryCause {
    /// A batch failed validation (framing, CRC-32C, offsets, size); the
    /// error names the check and the byte position.
    Damaged(Arc<Error>),
    /// The file ends inside a batch at `position`: a write a crash cut short.
    TornBatch {
        /// Byte position of the incomplete batch.
        position: u64,
    },
    /// Bytes after the last whole batch, from `position`, do not start a batch.
    Fragment {
        /// Byte position of the fragment.
        position: u64,
    },
    /// The previous segment ends at `previous_end`, not at this segment's
    /// base offset: the log is cut from this segment on.
    Gap {
        /// Where the previous segment's offsets end.
        previous_end: i64,
    },
    /// Recovery cut the log below its recorded start (those records were
    /// deleted already): the log restarted empty at the recorded start.
    RestartedEmpty {
        /// The log end offset recovery left.
        log_end_offset: i64,
        /// The recorded log start offset, where the log restarted.
        log_start_offset: i64,
    },
    /// The recorded log start offset lies past the log end; every segment was
    /// kept and the log starts at its first segment.
    LogStartPastEnd {
        /// The recorded log start offset.
        recorded: i64,
        /// The log end offset found.
        log_end_offset: i64,
    },
    /// A segment the state file lists, after the last one present, is gone.
    ListedSegmentGone,
    /// A segment the state file lists is gone: offsets from its base to `to`
    /// cannot be read (reads there give [`Error::MissingSegment`]).
    MissingSegment {
        /// The first offset after the gap.
        to: i64,
    },
    /// The `.swap` file an interrupted compaction left was not whole and was
    /// discarded (the segments it would have replaced are kept).
    DiscardedSwap {
        /// The discarded file.
        path: PathBuf,
        /// What was wrong with it.
        problem: Box<RecoveryCause>,
    },
}

/// Causes are equal when they are the same kind at the same place; two
/// validation errors are equal when they say the same (errors hold I/O
/// errors, which have no equality of their own).
impl PartialEq for RecoveryCause {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Damaged(a), Self::Damaged(b)) => a.to_string() == b.to_string(),
            (Self::TornBatch { position: a }, Self::TornBatch { position: b })
            | (Self::Fragment { position: a }, Self::Fragment { position: b }) => a == b,
            (Self::Gap { previous_end: a }, Self::Gap { previous_end: b }) => a == b,
            (
                Self::RestartedEmpty { log_end_offset: a, log_start_offset: b },
                Self::RestartedEmpty { log_end_offset: c, log_start_offset: d },
            )
            | (
                Self::LogStartPastEnd { recorded: a, log_end_offset: b },
                Self::LogStartPastEnd { recorded: c, log_end_offset: d },
            ) => (a, b) == (c, d),
            (Self::ListedSegmentGone, Self::ListedSegmentGone) => true,
            (Self::MissingSegment { to: a }, Self::MissingSegment { to: b }) => a == b,
            (Self::DiscardedSwap { path: a, problem: b }, Self::DiscardedSwap { path: c, problem: d }) => {
                a == c && b == d
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for RecoveryCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Damaged(e) => write!(f, "{e}"),
            Self::TornBatch { position } => write!(f, "incomplete batch at position {position}"),
            Self::Fragment { position } => write!(f, "a fragment of a batch at position {position}"),
            Self::Gap { previous_end } => {
                write!(
                    f,
                    "the previous segment ends at offset {previous_end}, not at this segment's base: cut from here"
                )
            }
            Self::RestartedEmpty { log_end_offset, log_start_offset } => write!(
                f,
                "after recovery the log ends at {log_end_offset}, below its start {log_start_offset}: restarted empty there"
            ),
            Self::LogStartPastEnd { recorded, log_end_offset } => write!(
                f,
                "the recorded log start offset {recorded} lies past the log end {log_end_offset}; \
                 kept every segment and started the log at its first segment"
            ),
            Self::ListedSegmentGone => f.write_str("a segment listed in the state file is gone"),
            Self::MissingSegment { to } => write!(f, "segment missing: offsets up to {to} cannot be read"),
            Self::DiscardedSwap { path, problem } => write!(f, "discarded {}: {problem}", path.display()),
        }
    }
}

/// The indexes and the running figures appends and reads share.
#[derive(Debug)]
struct State {
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Largest batch max timestamp seen, and the last offset of that batch.
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    bytes_since_last_index_entry: u64,
    /// Max timestamp of the first batch (time-based roll).
    rolling_based_timestamp: Option<i64>,
    /// The offset after the last batch.
    next_offset: i64,
}

/// The `.log` file and its read-only mapping, through which reads copy
/// nothing: exactly the file once sealed; for the active segment, a
/// reservation of the largest segment size, of which only published bytes
/// (written before their size was published) are ever touched.
#[derive(Debug)]
struct LogAccess {
    file: LogFile,
    mapped: Option<Bytes>,
    /// Sealed segments refuse appends.
    sealed: bool,
}

/// One segment of a partition log.
#[derive(Debug)]
pub struct LogSegment {
    base_offset: i64,
    dir: PathBuf,
    config: SegmentConfig,
    mode: OpenMode,
    log: RwLock<LogAccess>,
    /// Logical size: bytes of complete batches, published after they are written.
    size: AtomicU64,
    state: RwLock<State>,
    /// Serializes appends, truncation and recovery, and holds the active
    /// segment's writable mapping of preallocated space (which only they
    /// touch): one lock per append for both.
    writer: Mutex<Option<Appender>>,
    /// Index rebuilds done after open (an index found wrong by a read).
    reports: Mutex<Vec<RecoveryReport>>,
    /// Where the last early writeback started (see [`WRITEBACK_BYTES`]).
    written_back: AtomicU64,
    /// Appended to every file name: `""`, or [`CLEANED_SUFFIX`] for a
    /// segment the cleaner is writing.
    suffix: &'static str,
}

/// A writable mapping of `.log` bytes `[start, end)`, all preallocated.
#[derive(Debug)]
struct Appender {
    map: memmap2::MmapMut,
    start: u64,
    end: u64,
    /// Pages below this file position were brought into the page cache
    /// ahead of appends.
    populated: u64,
}

/// Where a lookup by offset landed.
enum Translated {
    /// The first batch whose last offset is ≥ the offset.
    Found(ScannedBatch),
    /// The segment holds no such batch.
    NotHere,
    /// The offset index disagrees with the log: rebuild it and look again.
    BadIndex,
}

impl LogSegment {
    /// Creates a new, empty segment in `dir` with indexes preallocated.
    pub fn create(dir: &Path, base_offset: i64, config: SegmentConfig) -> Result<Self> {
        Self::create_with_suffix(dir, base_offset, config, "")
    }

    /// Creates a new, empty segment whose files carry `suffix` after their
    /// usual names (the cleaner writes `.cleaned` segments, renamed into
    /// place once complete). It never preallocates.
    pub(crate) fn create_staged(dir: &Path, base_offset: i64, config: SegmentConfig) -> Result<Self> {
        let config = SegmentConfig { preallocate_bytes: 0, ..config };
        Self::create_with_suffix(dir, base_offset, config, CLEANED_SUFFIX)
    }

    fn create_with_suffix(dir: &Path, base_offset: i64, config: SegmentConfig, suffix: &'static str) -> Result<Self> {
        let path = |kind: &str| staged_file(dir, base_offset, kind, suffix);
        let file = LogFile::create(&path(LOG_SUFFIX))?;
        let offset_index = OffsetIndex::open(&path(INDEX_SUFFIX), base_offset, Some(config.max_index_size))?;
        let time_index = TimeIndex::open(&path(TIME_INDEX_SUFFIX), base_offset, Some(config.max_index_size))?;
        let mut segment =
            Self::assemble(dir, base_offset, config, OpenMode::ReadWrite, file, 0, offset_index, time_index);
        segment.suffix = suffix;
        {
            let mut log = segment.log.write();
            log.mapped = Some(log.file.map_reserved(MAX_SEGMENT_BYTES)?);
        }
        Ok(segment)
    }

    #[allow(clippy::too_many_arguments)] // private constructor of the struct's parts
    fn assemble(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        mode: OpenMode,
        file: LogFile,
        size: u64,
        offset_index: OffsetIndex,
        time_index: TimeIndex,
    ) -> Self {
        let last_time = time_index.last_entry();
        Self {
            base_offset,
            dir: dir.to_owned(),
            config,
            mode,
            log: RwLock::new(LogAccess { file, mapped: None, sealed: false }),
            size: AtomicU64::new(size),
            state: RwLock::new(State {
                offset_index,
                time_index,
                max_timestamp: last_time.timestamp,
                offset_of_max_timestamp: last_time.offset,
                bytes_since_last_index_entry: 0,
                rolling_based_timestamp: None,
                next_offset: base_offset,
            }),
            writer: Mutex::new(None),
            reports: Mutex::new(Vec::new()),
            written_back: AtomicU64::new(size),
            suffix: "",
        }
    }

    /// Opens an existing segment. A missing or invalid index, or a `.log`
    /// whose tail is not whole batches, makes the segment recover (rebuild
    /// its indexes from the `.log`; in [`OpenMode::ReadWrite`] also cut the
    /// invalid tail); the report says what was done. Indexes are left at
    /// their file size: call [`LogSegment::activate`] before appending.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        mode: OpenMode,
    ) -> Result<(Self, Option<RecoveryReport>)> {
        Self::open_inner(dir, base_offset, config, mode, true, "")
    }

    /// Opens, read-only, the segment of an interrupted swap whose files
    /// carry [`SWAP_SUFFIX`] (a read-write open would complete the swap by
    /// renaming them): what a read-only open reads in place of the group it
    /// replaces. Index files that are not there (already renamed) are
    /// rebuilt in memory.
    pub(crate) fn open_swapped_read_only(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
    ) -> Result<(Self, Option<RecoveryReport>)> {
        Self::open_inner(dir, base_offset, config, OpenMode::ReadOnly, true, SWAP_SUFFIX)
    }

    /// Opens a sealed segment that was trusted (below the recovery point, or
    /// after a clean shutdown): a missing or wrong index is rebuilt, but the
    /// `.log` is never cut; damage in it stays where it is, and reads of it
    /// fail with [`Error::CorruptSegment`].
    pub(crate) fn open_sealed(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
    ) -> Result<(Self, Option<RecoveryReport>)> {
        Self::open_inner(dir, base_offset, config, OpenMode::ReadWrite, false, "")
    }

    fn open_inner(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        mode: OpenMode,
        cut: bool,
        suffix: &'static str,
    ) -> Result<(Self, Option<RecoveryReport>)> {
        let writable = mode == OpenMode::ReadWrite;
        let log_path = staged_file(dir, base_offset, LOG_SUFFIX, suffix);
        let file = LogFile::open(&log_path, writable)?;
        let size = file.len()?;
        if size > MAX_SEGMENT_BYTES {
            return Err(Error::SegmentFull { path: log_path, size });
        }
        let index_path = staged_file(dir, base_offset, INDEX_SUFFIX, suffix);
        let time_path = staged_file(dir, base_offset, TIME_INDEX_SUFFIX, suffix);
        let missing = !index_path.exists() || !time_path.exists();
        let (offset_index, time_index) = if writable {
            (OffsetIndex::open(&index_path, base_offset, None)?, TimeIndex::open(&time_path, base_offset, None)?)
        } else {
            (
                OffsetIndex::open_read_only(&index_path, base_offset, None)?,
                TimeIndex::open_read_only(&time_path, base_offset, None)?,
            )
        };
        let mut segment = Self::assemble(dir, base_offset, config, mode, file, size, offset_index, time_index);
        segment.suffix = suffix;
        let healthy = !missing && segment.load_tail().is_ok();
        let report = if healthy { None } else { Some(segment.recover_with(cut, MAX_SEGMENT_BYTES)?) };
        Ok((segment, report))
    }

    /// Checks the indexes and reads the batches after the last index entry,
    /// which gives the next offset and completes the max timestamp.
    fn load_tail(&self) -> Result<()> {
        let size = self.size();
        // Lock order everywhere: `log` before `state`.
        let log = self.log.read();
        let mut state = self.state.write();
        state.offset_index.sanity_check()?;
        state.time_index.sanity_check()?;
        let start = state.offset_index.last_entry();
        if start.position > 0 && u64::from(start.position) >= size {
            return Err(Error::CorruptIndex {
                path: state.offset_index.path().to_owned(),
                problem: format!("last entry points at position {} past the log's {size} bytes", start.position),
            });
        }
        let mut reader = ChunkReader::new(source(&log), size);
        if let Some(first) = HeaderScan::new(&mut reader, 0).next_batch()? {
            state.rolling_based_timestamp = Some(first.header.max_timestamp);
        }
        let mut scan = HeaderScan::new(&mut reader, u64::from(start.position));
        let mut next_offset = self.base_offset;
        let mut last_position = u64::from(start.position);
        let mut first_after_entry = true;
        while let Some(batch) = scan.next_batch()? {
            // The last entry must name a batch boundary at or before its offset.
            if first_after_entry && !state.offset_index.is_empty() && batch.header.base_offset > start.offset {
                return Err(Error::CorruptIndex {
                    path: state.offset_index.path().to_owned(),
                    problem: format!(
                        "last entry (offset {}) points at a batch starting at {}",
                        start.offset, batch.header.base_offset
                    ),
                });
            }
            first_after_entry = false;
            if !batch.header.offsets_fit() {
                return Err(Error::OffsetOverflow { base_offset: self.base_offset, offset: batch.header.base_offset });
            }
            next_offset = batch.header.next_offset();
            last_position = batch.position + batch.size;
            if batch.header.max_timestamp > state.max_timestamp {
                state.max_timestamp = batch.header.max_timestamp;
                state.offset_of_max_timestamp = batch.header.last_offset();
            }
        }
        match scan.end() {
            Some(ScanEnd::End) if last_position == size => {}
            Some(ScanEnd::Corrupt(e)) => return Err(e),
            _ => {
                return Err(Error::CorruptIndex {
                    path: log.file.path().to_owned(),
                    problem: format!("the log does not end in a whole batch (last at {last_position} of {size})"),
                });
            }
        }
        state.next_offset = next_offset.max(self.base_offset);
        if !state.offset_index.is_empty() && start.offset >= state.next_offset {
            return Err(Error::CorruptIndex {
                path: state.offset_index.path().to_owned(),
                problem: format!("last entry names offset {} past the log's end {}", start.offset, state.next_offset),
            });
        }
        // The last time entry gives the segment's max timestamp (retention,
        // time lookups): it must agree with the batch holding its offset.
        if !state.time_index.is_empty() {
            let entry = state.time_index.last_entry();
            let from = u64::from(state.offset_index.lookup(entry.offset).position);
            let mut scan = HeaderScan::new(&mut reader, from);
            let mut agrees = false;
            while let Some(batch) = scan.next_batch()? {
                if batch.header.last_offset() >= entry.offset {
                    agrees = batch.header.base_offset <= entry.offset && batch.header.max_timestamp == entry.timestamp;
                    break;
                }
            }
            if !agrees {
                return Err(Error::CorruptIndex {
                    path: state.time_index.path().to_owned(),
                    problem: format!(
                        "last entry (timestamp {}, offset {}) does not match the log",
                        entry.timestamp, entry.offset
                    ),
                });
            }
        }
        Ok(())
    }

    /// The segment's base offset (its file name).
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The directory holding the segment's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `.log` file's path.
    pub fn log_path(&self) -> PathBuf {
        staged_file(&self.dir, self.base_offset, LOG_SUFFIX, self.suffix)
    }

    /// Bytes of the offset and time indexes' entries.
    pub(crate) fn index_bytes(&self) -> (u64, u64) {
        let state = self.state.read();
        (state.offset_index.len() as u64 * 8, state.time_index.len() as u64 * 12)
    }

    /// Sets the `.log` file's modification time (retention falls back on it
    /// for segments without timestamps; the cleaner keeps the original's).
    pub(crate) fn set_modified(&self, time: std::time::SystemTime) -> Result<()> {
        self.log.read().file.set_modified(time)
    }

    /// The `.log` file's modification time.
    pub(crate) fn modified(&self) -> Result<std::time::SystemTime> {
        self.log.read().file.modified()
    }

    /// How the segment was opened.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the layer tests
    pub fn mode(&self) -> OpenMode {
        self.mode
    }

    /// Bytes of complete batches.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Whether the segment holds no batch.
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }

    /// The offset after the segment's last batch (its base offset when empty).
    pub fn next_offset(&self) -> i64 {
        self.state.read().next_offset
    }

    /// The largest record timestamp in the segment, or -1 if none has one.
    pub fn max_timestamp(&self) -> i64 {
        self.state.read().max_timestamp
    }

    /// The largest timestamp as retention sees it: [`LogSegment::max_timestamp`]
    /// if the segment has one, else the `.log` file's modification time.
    pub fn largest_timestamp(&self) -> Result<i64> {
        let ts = self.max_timestamp();
        if ts >= 0 {
            return Ok(ts);
        }
        let path = self.log_path();
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).map_err(|e| Error::io("stat", &path, e))?;
        Ok(modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64))
    }

    /// Max timestamp of the first batch, used for time-based rolling.
    pub fn rolling_based_timestamp(&self) -> Option<i64> {
        self.state.read().rolling_based_timestamp
    }

    /// Whether either index has no room for another entry.
    pub fn indexes_full(&self) -> bool {
        let state = self.state.read();
        state.offset_index.is_full() || state.time_index.is_full()
    }

    /// The offset index's entries (for inspection and tests).
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the layer tests
    pub fn offset_index_entries(&self) -> Vec<OffsetPosition> {
        let state = self.state.read();
        (0..state.offset_index.len()).filter_map(|i| state.offset_index.entry(i)).collect()
    }

    /// The time index's entries (for inspection and tests).
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the layer tests
    pub fn time_index_entries(&self) -> Vec<TimestampOffset> {
        let state = self.state.read();
        (0..state.time_index.len()).filter_map(|i| state.time_index.entry(i)).collect()
    }

    /// Appends one or more batches whose offsets are already assigned and
    /// continue the segment. Adds index entries as Kafka does (SPEC §2.4).
    pub fn append(&self, batches: &[u8]) -> Result<AppendInfo> {
        let mut appender = self.writer.lock();
        // Lock order everywhere: `log` before `state`.
        let log = self.log.read();
        let info = {
            // Refuse before writing anything, so a failed append leaves no trace.
            let state = self.state.read();
            let info = self.describe_append(batches, state.next_offset)?;
            if log.sealed {
                return Err(Error::SegmentSealed { path: self.log_path() });
            }
            let entry_due = state.bytes_since_last_index_entry > self.config.index_interval_bytes;
            if entry_due && (state.offset_index.is_full() || state.time_index.is_full()) {
                let index =
                    if state.offset_index.is_full() { &state.offset_index.path() } else { &state.time_index.path() };
                let entries = state.offset_index.len().max(state.time_index.len());
                return Err(Error::IndexFull { path: index.to_path_buf(), entries });
            }
            info
        };
        if !self.write_mapped(&log, &mut appender, info.position, batches)? {
            log.file.write_at(info.position, batches)?;
        }
        // Published before index entries name the new bytes: a reader that
        // sees an entry always sees the bytes it points at.
        let end = info.position + info.size;
        self.size.store(end, Ordering::Release);
        let from = self.written_back.load(Ordering::Relaxed);
        if end.saturating_sub(from) >= WRITEBACK_BYTES {
            log.file.start_writeback(from, end - from);
            self.written_back.store(end, Ordering::Relaxed);
        }
        let mut state = self.state.write();
        if info.position == 0 {
            state.rolling_based_timestamp = Some(info.max_timestamp);
        }
        if info.max_timestamp > state.max_timestamp {
            state.max_timestamp = info.max_timestamp;
            state.offset_of_max_timestamp = info.offset_of_max_timestamp;
        }
        if state.bytes_since_last_index_entry > self.config.index_interval_bytes {
            state.offset_index.append(info.last_offset, info.position as u32)?;
            let (ts, off) = (state.max_timestamp, state.offset_of_max_timestamp);
            state.time_index.maybe_append(ts, off, false)?;
            state.bytes_since_last_index_entry = 0;
        }
        state.bytes_since_last_index_entry += info.size;
        state.next_offset = info.last_offset + 1;
        Ok(info)
    }

    /// Copies `data` into the preallocated mapping at `position`, reserving
    /// and mapping the next stretch first when needed. `false` when the file
    /// system cannot preallocate (the caller writes with `pwrite`).
    fn write_mapped(
        &self,
        log: &LogAccess,
        appender: &mut Option<Appender>,
        position: u64,
        data: &[u8],
    ) -> Result<bool> {
        let chunk = self.config.preallocate_bytes;
        // Large appends go through `pwrite`: each page they cover would cost
        // a page fault here, which is dearer than the one system call. The
        // mapping pays off for appends smaller than a page (single records).
        if chunk == 0 || data.len() > MAPPED_APPEND_MAX {
            return Ok(false);
        }
        let end = position + data.len() as u64;
        if appender.as_ref().is_none_or(|a| position < a.start || end > a.end) {
            *appender = None;
            // Map from the page holding `position`: earlier bytes are written.
            let start = position & !4095;
            let reserve = end.saturating_sub(start).max(chunk).div_ceil(4096) * 4096;
            let stretch_end = (start + reserve).min(MAX_SEGMENT_BYTES).max(end);
            if !log.file.preallocate(stretch_end)? {
                return Ok(false);
            }
            let map = log.file.map_writable(start, stretch_end - start)?;
            *appender = Some(Appender { map, start, end: stretch_end, populated: start });
        }
        let Some(a) = appender.as_mut() else { return Ok(false) };
        if end > a.populated {
            // Bring the next pages into the page cache with one `pwrite` of
            // zeros over the whole pages past the data (preallocated zeros
            // already: nothing changes on disk or for recovery). A write
            // through the mapping into a page not in the cache costs a page
            // fault that reads ahead and zero-fills through the file system
            // (measured: 39 % of one-record appends; MADV_POPULATE_WRITE
            // did the same work in one call, no faster); into a cached page
            // it costs a minor fault. Best effort: a failure leaves the
            // faults to do it.
            let from = a.populated.max(position.div_ceil(PAGE) * PAGE);
            let to = (end + POPULATE_AHEAD_BYTES).div_ceil(PAGE).saturating_mul(PAGE).min(a.end);
            if let Some(zeros) = ZEROS.get(..to.saturating_sub(from) as usize)
                && !zeros.is_empty()
            {
                let _ = log.file.write_at(from, zeros);
            }
            a.populated = to;
        }
        let from = (position - a.start) as usize;
        let Some(target) = a.map.get_mut(from..from + data.len()) else {
            return Err(Error::SegmentFull { path: self.log_path(), size: end });
        };
        target.copy_from_slice(data);
        Ok(true)
    }

    /// Drops the appender and cuts the preallocated space past the data.
    fn release_preallocation(&self, log: &LogAccess, appender: &mut Option<Appender>) -> Result<()> {
        if appender.take().is_some() && log.file.len()? > self.size() {
            log.file.truncate(self.size())?;
        }
        Ok(())
    }

    /// Checks `batches` can be appended and sums up their headers.
    fn describe_append(&self, batches: &[u8], next: i64) -> Result<AppendInfo> {
        if self.mode == OpenMode::ReadOnly {
            return Err(Error::ReadOnly { path: self.log_path() });
        }
        let position = self.size();
        let mut offsets: Option<(i64, i64)> = None;
        let (mut max_timestamp, mut offset_of_max_timestamp) = (NO_TIMESTAMP, -1);
        let mut at = 0usize;
        while let Some(rest) = batches.get(at..).filter(|rest| !rest.is_empty()) {
            let header = BatchHeader::parse(rest).map_err(|e| e.at_position(position + at as u64))?;
            let size = header.size_in_bytes()? as usize;
            if size > rest.len() {
                let problem = BatchProblem::Truncated { needed: size as u64, available: rest.len() as u64 };
                return Err(Error::MalformedBatch { position: Some(position + at as u64), problem });
            }
            if !header.offsets_fit() {
                return Err(Error::OffsetOverflow { base_offset: self.base_offset, offset: header.base_offset });
            }
            offsets = match offsets {
                None => Some((header.base_offset, header.last_offset())),
                Some((first, last)) if header.base_offset > last => Some((first, header.last_offset())),
                Some((first, last)) => return Err(self.non_monotonic(first, header.last_offset(), last + 1)),
            };
            if header.max_timestamp > max_timestamp {
                max_timestamp = header.max_timestamp;
                offset_of_max_timestamp = header.last_offset();
            }
            at += size;
        }
        let (first_offset, last_offset) = offsets.ok_or(Error::EmptyBatch)?;
        let info = AppendInfo {
            first_offset,
            last_offset,
            max_timestamp,
            offset_of_max_timestamp,
            position,
            size: batches.len() as u64,
        };
        if info.first_offset < self.base_offset || relative_offset(self.base_offset, info.last_offset).is_none() {
            return Err(Error::OffsetOverflow { base_offset: self.base_offset, offset: info.last_offset });
        }
        if info.first_offset < next {
            return Err(self.non_monotonic(info.first_offset, info.last_offset, next));
        }
        if position + info.size > MAX_SEGMENT_BYTES {
            return Err(Error::SegmentFull { path: self.log_path(), size: position + info.size });
        }
        Ok(info)
    }

    /// The error for data at `first..=last` that does not follow offset `next`.
    fn non_monotonic(&self, first: i64, last: i64, next: i64) -> Error {
        Error::NonMonotonicOffsets { base_offset: self.base_offset, first, last, next }
    }

    /// Finds the first batch whose last offset is ≥ `offset`. The index
    /// entry is looked up before the size is read: an entry is added only
    /// after the size covering its batch is published, so an entry past the
    /// size is wrong, never a race with an append.
    fn translate_offset(&self, log: &LogAccess, offset: i64) -> Result<(Translated, u64)> {
        let entry = self.state.read().offset_index.lookup(offset);
        let end = self.size();
        let is_entry = entry.position > 0 || entry.offset != self.base_offset;
        let start = u64::from(entry.position);
        if start >= end {
            return Ok((if is_entry { Translated::BadIndex } else { Translated::NotHere }, end));
        }
        let mut reader = ChunkReader::new(source(log), end);
        let mut scan = HeaderScan::new(&mut reader, start);
        let mut first = true;
        loop {
            match scan.next_batch() {
                Ok(Some(batch)) => {
                    if first && is_entry && batch.header.base_offset > entry.offset {
                        return Ok((Translated::BadIndex, end));
                    }
                    first = false;
                    if batch.header.last_offset() >= offset {
                        return Ok((Translated::Found(batch), end));
                    }
                }
                // Garbage where an index entry points: suspect the index first.
                Ok(None) | Err(_) if first && is_entry => return Ok((Translated::BadIndex, end)),
                Ok(None) => {
                    return match scan.finish() {
                        Ok(()) => Ok((Translated::NotHere, end)),
                        Err((position, e)) => Err(self.damaged(position, offset, e)),
                    };
                }
                Err(e) => return Err(self.damaged(scan.position(), offset, e)),
            }
        }
    }

    /// [`LogSegment::translate_offset`], rebuilding a wrong index once.
    fn locate(&self, log: &LogAccess, offset: i64) -> Result<(Option<ScannedBatch>, u64)> {
        match self.translate_offset(log, offset)? {
            (Translated::Found(batch), end) => Ok((Some(batch), end)),
            (Translated::NotHere, end) => Ok((None, end)),
            (Translated::BadIndex, _) => Err(Error::CorruptIndex {
                path: segment_file(&self.dir, self.base_offset, INDEX_SUFFIX),
                problem: format!("the entry for offset {offset} does not match the log"),
            }),
        }
    }

    /// Runs `op`; when it finds the indexes wrong, rebuilds them from the
    /// `.log` (never cutting it; reported through [`LogSegment::take_reports`])
    /// and runs it once more.
    fn with_index_repair<T>(&self, op: impl Fn() -> Result<T>) -> Result<T> {
        match op() {
            Err(Error::CorruptIndex { .. }) => {
                let report = self.rebuild_indexes()?;
                self.reports.lock().push(report);
                op()
            }
            other => other,
        }
    }

    /// The error for damaged bytes at `position` found while reading `offset`.
    fn damaged(&self, position: u64, offset: i64, cause: Error) -> Error {
        Error::CorruptSegment { path: self.log_path(), position, offset, source: Box::new(cause.at_position(position)) }
    }

    /// Index rebuilds done since the segment was opened (a read found an
    /// index that disagreed with the log), oldest first; each is returned once.
    pub fn take_reports(&self) -> Vec<RecoveryReport> {
        std::mem::take(&mut *self.reports.lock())
    }

    /// Byte position of the batch holding `offset` (or the first batch after
    /// it, when `offset` falls in a gap), if the segment has one.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the layer tests
    pub fn position_of(&self, offset: i64) -> Result<Option<u64>> {
        self.with_index_repair(|| {
            let log = self.log.read();
            Ok(self.locate(&log, offset)?.0.map(|b| b.position))
        })
    }

    /// Calls `f` with the first record at or after `offset` in this segment,
    /// borrowed from the segment's mapping: the offset index gives where to
    /// start, batch headers are walked in the mapping (no system call, no
    /// copy, no allocation), only the batch holding `offset` has its CRC-32C
    /// checked, and only the wanted record is decoded (see
    /// [`crate::format::point_record`]).
    ///
    /// Gives `f` back (`Ok(Err(f))`) whenever this quick path cannot answer
    /// and the caller must read the general way, which also reports and
    /// repairs what it finds: the segment has no mapping (read-only), the
    /// index entry disagrees with the log, framing is damaged, the batch is
    /// compressed or a control batch, or the segment holds no record at or
    /// after `offset` in the batch that spans it.
    ///
    /// # Errors
    ///
    /// [`Error::CorruptSegment`] when the batch spanning `offset` fails its
    /// CRC or holds a malformed record at or before the one wanted.
    pub(crate) fn point_read<R, F: FnOnce(RecordRef<'_>) -> R>(
        &self,
        offset: i64,
        f: F,
    ) -> Result<std::result::Result<R, F>> {
        // The mapping is cloned (one reference count), so that no lock is
        // held while `f` runs: it may call back into the log.
        let Some(map) = self.log.read().mapped.clone() else { return Ok(Err(f)) };
        // Index before size (see `translate_offset`).
        let (entry, next) = self.state.read().offset_index.lookup_with_next(offset);
        let end = self.size();
        let Some(data) = map.get(..end as usize) else { return Ok(Err(f)) };
        // The next entry names the batch holding `offset` when that batch
        // starts at its position (one batch per entry: batches of at least
        // `index.interval.bytes`): read it without walking from the floor.
        // Any doubt (the header there does not span `offset`, or its CRC
        // fails) walks from the floor entry instead, which repairs or reports.
        if let Some(next) = next.filter(|n| n.position > entry.position) {
            let position = next.position as usize;
            let batch = data.get(position..).and_then(|rest| {
                let header = BatchHeader::parse(rest).ok()?;
                let size = header.size_in_bytes().ok()? as usize;
                let spans = header.magic == MAGIC_V2 && header.base_offset <= offset && offset <= header.last_offset();
                if spans { rest.get(..size) } else { None }
            });
            if let Some(batch) = batch
                && let Ok(header) = BatchHeader::parse_verified(batch)
            {
                return self.point_in_batch(batch, &header, position, offset, f);
            }
        }
        let is_entry = entry.position > 0 || entry.offset != self.base_offset;
        let mut position = entry.position as usize;
        let mut first = true;
        loop {
            let Some(header) = data.get(position..).and_then(|rest| BatchHeader::parse(rest).ok()) else {
                return Ok(Err(f));
            };
            let size = match header.size_in_bytes() {
                Ok(size) if header.magic == MAGIC_V2 => size as usize,
                _ => return Ok(Err(f)),
            };
            let Some(batch) = data.get(position..position.saturating_add(size)) else { return Ok(Err(f)) };
            if first && is_entry && header.base_offset > entry.offset {
                return Ok(Err(f));
            }
            first = false;
            if header.last_offset() < offset {
                position += size;
                continue;
            }
            let header = BatchHeader::parse_verified(batch).map_err(|e| self.damaged(position as u64, offset, e))?;
            return self.point_in_batch(batch, &header, position, offset, f);
        }
    }

    /// The end of [`LogSegment::point_read`]: `f` with the first record at or
    /// after `offset` of the CRC-checked `batch` at `position`.
    fn point_in_batch<R, F: FnOnce(RecordRef<'_>) -> R>(
        &self,
        batch: &[u8],
        header: &BatchHeader,
        position: usize,
        offset: i64,
        f: F,
    ) -> Result<std::result::Result<R, F>> {
        if header.is_control() || header.compression() != Some(Compression::None) {
            return Ok(Err(f));
        }
        // The caller verified the batch (header included), so this cannot fail.
        let records = batch.get(RECORD_BATCH_OVERHEAD..).ok_or_else(|| {
            let problem =
                BatchProblem::Truncated { needed: RECORD_BATCH_OVERHEAD as u64, available: batch.len() as u64 };
            self.damaged(position as u64, offset, Error::malformed(problem))
        })?;
        match point_record(header, records, offset).map_err(|e| self.damaged(position as u64, offset, e))? {
            Some(record) => Ok(Ok(f(record))),
            None => Ok(Err(f)),
        }
    }

    /// Reads whole batches starting with the one that holds `start_offset`
    /// (or the first after it), up to `max_bytes`; with `min_one_batch`, at
    /// least that first batch however large. `None` when the segment holds no
    /// batch with an offset ≥ `start_offset`. The first batch may begin
    /// before `start_offset`; readers skip records below it.
    ///
    /// Damaged bytes where the first batch should be give
    /// [`Error::CorruptSegment`]; damage after it ends the read early, and the
    /// next read (from the damaged batch's offsets) reports it.
    pub fn read(&self, start_offset: i64, max_bytes: u64, min_one_batch: bool) -> Result<Option<Bytes>> {
        Ok(self.read_at(start_offset, max_bytes, min_one_batch)?.map(|(bytes, _)| bytes))
    }

    /// [`LogSegment::read`], with the file position of the first byte read.
    pub(crate) fn read_at(
        &self,
        start_offset: i64,
        max_bytes: u64,
        min_one_batch: bool,
    ) -> Result<Option<(Bytes, u64)>> {
        self.with_index_repair(|| {
            let log = self.log.read();
            let (first, end) = self.locate(&log, start_offset)?;
            let Some(first) = first else { return Ok(None) };
            let limit = if min_one_batch { max_bytes.max(first.size) } else { max_bytes };
            let mut reader = ChunkReader::new(source(&log), end);
            // The first batch's header is known: scan on from the one after
            // it (a point read, `max_bytes` within one batch, scans nothing).
            let mut total = if first.size <= limit { first.size } else { 0 };
            if total > 0 && total < limit {
                let mut scan = HeaderScan::new(&mut reader, first.position + first.size);
                // Damage after the first batch ends the read; it is reported when read from.
                while let Ok(Some(batch)) = scan.next_batch() {
                    if total + batch.size > limit {
                        break;
                    }
                    total += batch.size;
                }
            }
            // Usually already in the reader's cache: no further system call.
            let bytes = reader.get(first.position, total as usize)?;
            if bytes.len() as u64 == total {
                return Ok(Some((bytes, first.position)));
            }
            // A concurrent truncation shortened the file: keep whole batches only.
            let mut whole = 0usize;
            while let Some(size) = bytes
                .get(whole..)
                .and_then(|rest| BatchHeader::parse(rest).ok())
                .and_then(|h| h.size_in_bytes().ok())
                .filter(|&size| whole as u64 + size <= bytes.len() as u64)
            {
                whole += size as usize;
            }
            Ok(Some((bytes.slice(..whole), first.position)))
        })
    }

    /// The first record with timestamp ≥ `target` and offset ≥
    /// `starting_offset` (SPEC §2.7), as (its timestamp, its offset).
    pub fn find_offset_by_timestamp(&self, target: i64, starting_offset: i64) -> Result<Option<TimestampOffset>> {
        self.with_index_repair(|| self.find_offset_by_timestamp_once(target, starting_offset))
    }

    fn find_offset_by_timestamp_once(&self, target: i64, starting_offset: i64) -> Result<Option<TimestampOffset>> {
        let floor = self.state.read().time_index.lookup(target);
        let log = self.log.read();
        if floor.timestamp != NO_TIMESTAMP {
            // Trust the time entry only if its batch agrees with it.
            let agrees = match self.locate(&log, floor.offset)?.0 {
                Some(b) => b.header.base_offset <= floor.offset && b.header.max_timestamp == floor.timestamp,
                None => false,
            };
            if !agrees {
                return Err(Error::CorruptIndex {
                    path: segment_file(&self.dir, self.base_offset, TIME_INDEX_SUFFIX),
                    problem: format!(
                        "entry (timestamp {}, offset {}) does not match the log",
                        floor.timestamp, floor.offset
                    ),
                });
            }
        }
        let from = floor.offset.max(starting_offset);
        let (Some(first), end) = self.locate(&log, from)? else { return Ok(None) };
        let mut reader = ChunkReader::new(source(&log), end);
        let mut scan = HeaderScan::new(&mut reader, first.position);
        loop {
            let batch = match scan.next_batch() {
                Ok(Some(batch)) => batch,
                Ok(None) => {
                    return match scan.finish() {
                        Ok(()) => Ok(None),
                        Err((position, e)) => Err(self.damaged(position, from, e)),
                    };
                }
                Err(e) => return Err(self.damaged(scan.position(), from, e)),
            };
            if batch.header.max_timestamp < target || batch.header.last_offset() < starting_offset {
                continue;
            }
            let bytes = read_range(&log, batch.position, batch.size)?;
            let offset = batch.header.base_offset;
            let decoded = RecordBatch::new(bytes).map_err(|e| self.damaged(batch.position, offset, e))?;
            for record in decoded.records().map_err(|e| self.damaged(batch.position, offset, e))? {
                let record = record.map_err(|e| self.damaged(batch.position, offset, e))?;
                if record.timestamp() >= target && record.offset() >= starting_offset {
                    return Ok(Some(TimestampOffset { timestamp: record.timestamp(), offset: record.offset() }));
                }
            }
        }
    }

    /// Removes every batch from the one holding `offset` (or the first after
    /// it) on, and the index entries for them. Returns the bytes removed.
    pub fn truncate_to(&self, offset: i64) -> Result<u64> {
        let mut appender = self.writer.lock();
        if self.mode == OpenMode::ReadOnly {
            return Err(Error::ReadOnly { path: self.log_path() });
        }
        let old_size = self.size();
        let new_size = {
            let log = self.log.read();
            match self.translate_offset(&log, offset)? {
                (Translated::Found(batch), _) => batch.position,
                (Translated::NotHere, _) => old_size,
                (Translated::BadIndex, _) => {
                    drop(log);
                    return Err(Error::CorruptIndex {
                        path: segment_file(&self.dir, self.base_offset, INDEX_SUFFIX),
                        problem: format!("the entry for offset {offset} does not match the log; reopen to rebuild it"),
                    });
                }
            }
        };
        self.size.store(new_size, Ordering::Release);
        self.written_back.fetch_min(new_size, Ordering::Relaxed);
        if new_size < old_size {
            let mut log = self.log.write();
            // The appender maps the file being cut (or replaced).
            *appender = None;
            // A cut segment takes appends again (until sealed anew).
            log.sealed = false;
            if log.mapped.take().is_some() {
                // Readers may hold views of the mapping: never shrink it.
                log.file.replace_with_prefix(new_size)?;
            } else {
                log.file.truncate(new_size)?;
            }
        }
        {
            let mut state = self.state.write();
            state.offset_index.truncate_to(offset);
            state.time_index.truncate_to(offset);
            state.offset_index.resize(self.config.max_index_size)?;
            state.time_index.resize(self.config.max_index_size)?;
            state.bytes_since_last_index_entry = 0;
            let last = state.time_index.last_entry();
            state.max_timestamp = if state.time_index.is_empty() { NO_TIMESTAMP } else { last.timestamp };
            state.offset_of_max_timestamp = last.offset;
            if new_size < old_size {
                state.rolling_based_timestamp = None;
            }
        }
        self.load_tail()?;
        Ok(old_size - new_size)
    }

    /// Validates every batch from the start (framing, CRC-32C, offsets that
    /// increase and fit the segment, size ≤ `max_batch_bytes`), rebuilds both
    /// indexes from scratch and cuts everything from the first invalid batch
    /// on. Read-only segments rebuild in memory and cut nothing on disk.
    pub fn recover(&self, max_batch_bytes: u64) -> Result<RecoveryReport> {
        self.recover_with(true, max_batch_bytes)
    }

    /// Rebuilds both indexes from the `.log` without cutting anything: for a
    /// sealed segment whose data is trusted but whose index disagrees with
    /// it. Damaged bytes stay in place, and reads of them report them.
    pub(crate) fn rebuild_indexes(&self) -> Result<RecoveryReport> {
        self.recover_with(false, MAX_SEGMENT_BYTES)
    }

    fn recover_with(&self, cut: bool, max_batch_bytes: u64) -> Result<RecoveryReport> {
        let mut appender = self.writer.lock();
        let writable = self.mode == OpenMode::ReadWrite;
        // Readers wait while the segment is rebuilt; lock order `log`, then `state`.
        let mut log = self.log.write();
        *appender = None;
        let file_size = log.file.len()?;
        let mut state = self.state.write();
        state.offset_index.reset(self.config.max_index_size)?;
        state.time_index.reset(self.config.max_index_size)?;
        state.max_timestamp = NO_TIMESTAMP;
        state.offset_of_max_timestamp = self.base_offset;
        state.bytes_since_last_index_entry = 0;
        state.rolling_based_timestamp = None;
        state.next_offset = self.base_offset;

        let (valid_bytes, batches, cause, zero_tail) = {
            // A temporary mapping: CRCs are checked over the file's pages with no copy.
            let whole = log.file.map(file_size)?;
            let mut reader = ChunkReader::new(Source::Mapped(&whole), file_size);
            let mut scan = HeaderScan::new(&mut reader, 0);
            let (mut valid, mut batches, mut cause) = (0u64, 0u64, None);
            loop {
                let batch = match scan.next_batch() {
                    Ok(Some(b)) => b,
                    Ok(None) => break,
                    Err(e) => {
                        cause = Some(RecoveryCause::Damaged(Arc::new(e)));
                        break;
                    }
                };
                let bytes = whole.slice(batch.position as usize..(batch.position + batch.size) as usize);
                if let Err(e) = self.check_recovered_batch(&state, &batch, &bytes, max_batch_bytes) {
                    cause = Some(RecoveryCause::Damaged(Arc::new(e.at_position(batch.position))));
                    break;
                }
                let h = batch.header;
                if batches == 0 {
                    state.rolling_based_timestamp = Some(h.max_timestamp);
                }
                if h.max_timestamp > state.max_timestamp {
                    state.max_timestamp = h.max_timestamp;
                    state.offset_of_max_timestamp = h.last_offset();
                }
                // A full index (a smaller segment.index.bytes than the data
                // was written with) stays sparser; lookups remain correct.
                let due = state.bytes_since_last_index_entry > self.config.index_interval_bytes;
                if due && !state.offset_index.is_full() && !state.time_index.is_full() {
                    state.offset_index.append(h.last_offset(), batch.position as u32)?;
                    let (ts, off) = (state.max_timestamp, state.offset_of_max_timestamp);
                    state.time_index.maybe_append(ts, off, false)?;
                    state.bytes_since_last_index_entry = 0;
                }
                state.bytes_since_last_index_entry += batch.size;
                state.next_offset = h.next_offset();
                valid = batch.position + batch.size;
                batches += 1;
            }
            match (cause.is_none(), scan.end()) {
                (true, Some(ScanEnd::Corrupt(e))) => cause = Some(RecoveryCause::Damaged(Arc::new(e))),
                (true, Some(ScanEnd::Torn)) => cause = Some(RecoveryCause::TornBatch { position: valid }),
                (true, _) if valid < file_size => cause = Some(RecoveryCause::Fragment { position: valid }),
                _ => {}
            }
            // Zeros to the end are preallocated space never written (a crash
            // before the trim): the end of the data, not damage.
            let zero_tail = whole.get(valid as usize..).is_some_and(|rest| rest.iter().all(|&b| b == 0));
            if zero_tail {
                cause = None;
            }
            (valid, batches, cause, zero_tail)
        };
        let (valid_bytes, batches, cause, zero_tail) = (valid_bytes, batches, cause, zero_tail);
        let data_end = if zero_tail { valid_bytes } else { file_size };
        // Only damage counts as cut: trimming preallocated zeros loses nothing.
        let truncated_bytes = if cut { data_end - valid_bytes } else { 0 };
        if writable && cut && file_size > valid_bytes {
            if log.mapped.take().is_some() {
                log.file.replace_with_prefix(valid_bytes)?;
            } else {
                log.file.truncate(valid_bytes)?;
            }
        }
        // Without a cut, damaged bytes stay inside the published size, so
        // that reading them is an error rather than a silent end.
        self.size.store(if cut { valid_bytes } else { data_end }, Ordering::Release);
        self.written_back.fetch_min(valid_bytes, Ordering::Relaxed);
        state.offset_index.trim()?;
        let (ts, off) = (state.max_timestamp, state.offset_of_max_timestamp);
        state.time_index.maybe_append(ts, off, true)?;
        state.time_index.trim()?;
        if !cut && !log.sealed && writable {
            // A segment that may still take appends keeps room for entries.
            state.offset_index.resize(self.config.max_index_size)?;
            state.time_index.resize(self.config.max_index_size)?;
        }
        if let Some(cause) = &cause {
            log::warn!(
                "{}: recovery kept {valid_bytes} bytes ({batches} batches), cut {truncated_bytes}: {cause}",
                self.log_path().display()
            );
        }
        Ok(RecoveryReport { base_offset: self.base_offset, valid_bytes, truncated_bytes, batches, cause })
    }

    fn check_recovered_batch(
        &self,
        state: &State,
        batch: &ScannedBatch,
        bytes: &[u8],
        max_batch_bytes: u64,
    ) -> Result<()> {
        BatchHeader::parse_verified(bytes)?;
        let h = &batch.header;
        if !h.offsets_fit() {
            return Err(Error::OffsetOverflow { base_offset: self.base_offset, offset: h.base_offset });
        }
        if batch.size > max_batch_bytes {
            return Err(Error::TooLarge { what: "record batch", size: batch.size, limit: max_batch_bytes });
        }
        if h.base_offset < self.base_offset || relative_offset(self.base_offset, h.last_offset()).is_none() {
            return Err(Error::OffsetOverflow { base_offset: self.base_offset, offset: h.last_offset() });
        }
        if h.base_offset < state.next_offset {
            return Err(self.non_monotonic(h.base_offset, h.last_offset(), state.next_offset));
        }
        Ok(())
    }

    /// Makes the segment appendable again after open, sealing or truncation:
    /// resizes the indexes to `segment.index.bytes` and maps the `.log` with
    /// room to grow, so that reads of the active segment copy nothing either
    /// (views already handed out stay valid; a mapped file never shrinks).
    pub fn activate(&self) -> Result<()> {
        if self.mode == OpenMode::ReadOnly {
            return Ok(());
        }
        let _writer = self.writer.lock();
        {
            let mut log = self.log.write();
            log.mapped = Some(log.file.map_reserved(MAX_SEGMENT_BYTES)?);
            log.sealed = false;
        }
        let mut state = self.state.write();
        state.offset_index.resize(self.config.max_index_size)?;
        state.time_index.resize(self.config.max_index_size)
    }

    /// Ends the segment's active life (on roll): writes the final time-index
    /// entry (the segment's max timestamp), trims both index files to their
    /// entries, and maps the `.log` so later reads copy nothing.
    pub fn seal(&self) -> Result<()> {
        let mut appender = self.writer.lock();
        self.finish_indexes()?;
        let mut log = self.log.write();
        self.release_preallocation(&log, &mut appender)?;
        if !log.sealed {
            // The exact size from now on: the reservation is address space
            // the active segment needs and a sealed one does not.
            let size = self.size();
            log.mapped = Some(log.file.map(size)?);
            log.sealed = true;
        }
        Ok(())
    }

    fn finish_indexes(&self) -> Result<()> {
        let mut state = self.state.write();
        let (ts, off) = (state.max_timestamp, state.offset_of_max_timestamp);
        if ts >= 0 {
            // The index is a cache: when it was trimmed to fewer slots than
            // its closing entry needs (its last page lost in a crash), grow it.
            let needed = (state.time_index.len() as u64 + 2) * 12;
            if state.time_index.is_full() {
                state.time_index.resize(needed)?;
            }
            state.time_index.maybe_append(ts, off, true)?;
        }
        if self.mode == OpenMode::ReadWrite {
            state.offset_index.trim()?;
            state.time_index.trim()?;
        }
        Ok(())
    }

    /// fsyncs the `.log`, then writes both index mappings to disk.
    pub fn flush(&self) -> Result<()> {
        if self.mode == OpenMode::ReadOnly {
            return Ok(());
        }
        self.log.read().file.sync()?;
        let state = self.state.read();
        state.offset_index.flush()?;
        state.time_index.flush()
    }

    /// Closes the segment as Kafka does: final time-index entry, indexes
    /// trimmed so that a reopen reads exactly their entries. The segment stays
    /// readable; dropping it releases the files.
    pub fn close(&self) -> Result<()> {
        if self.mode == OpenMode::ReadWrite {
            let mut appender = self.writer.lock();
            self.finish_indexes()?;
            self.release_preallocation(&self.log.read(), &mut appender)?;
        }
        Ok(())
    }

    /// Renames the segment's files to `*.deleted` (the first step of
    /// deletion; readers holding the segment keep reading) and returns the new paths.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the layer tests
    pub fn rename_to_deleted(&self) -> Result<Vec<PathBuf>> {
        rename_segment_to_deleted(&self.dir, self.base_offset)
    }

    /// Deletes the segment: renames its files to `*.deleted`, then removes them.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the layer tests
    pub fn delete(self) -> Result<()> {
        if self.mode == OpenMode::ReadOnly {
            return Err(Error::ReadOnly { path: self.log_path() });
        }
        for path in self.rename_to_deleted()? {
            crate::fsutil::remove_file_if_present(&path)?;
        }
        Ok(())
    }
}

impl Drop for LogSegment {
    /// Gives back the preallocated space past the data (best effort: a
    /// crash leaves it, and recovery drops it silently).
    fn drop(&mut self) {
        if self.mode == OpenMode::ReadWrite {
            let mut appender = self.writer.get_mut().take();
            let _ = self.release_preallocation(&self.log.read(), &mut appender);
        }
    }
}

/// Suffix of the files of a segment the cleaner is writing.
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a rewritten segment's files while it replaces the old ones.
pub const SWAP_SUFFIX: &str = ".swap";

/// The path of a segment file of kind `kind` (`.log`, ...) with `suffix` after it.
pub(crate) fn staged_file(dir: &Path, base_offset: i64, kind: &str, suffix: &str) -> PathBuf {
    let mut name = segment_file(dir, base_offset, kind).into_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Renames the three files of the segment at `base_offset` from suffix
/// `from` to suffix `to`, the `.log` last (recovery keys on it). Files
/// already renamed are skipped.
pub(crate) fn rename_segment_suffix(dir: &Path, base_offset: i64, from: &str, to: &str) -> Result<()> {
    for kind in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX] {
        let (source, target) = (staged_file(dir, base_offset, kind, from), staged_file(dir, base_offset, kind, to));
        if source.exists() {
            crate::fsutil::note(crate::fsutil::FsEvent::Rename(&source, &target));
            crate::faults::check_rename(&source, &target)
                .and_then(|()| std::fs::rename(&source, &target))
                .map_err(|e| Error::io("rename", &source, e))?;
        }
    }
    Ok(())
}

/// Removes the three files of the segment at `base_offset` carrying `suffix`.
pub(crate) fn remove_segment_files(dir: &Path, base_offset: i64, suffix: &str) -> Result<()> {
    for kind in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX] {
        crate::fsutil::remove_file_if_present(&staged_file(dir, base_offset, kind, suffix))?;
    }
    Ok(())
}

/// Renames the files of the segment at `base_offset` in `dir` to `*.deleted`
/// without opening it; returns the new paths.
pub(crate) fn rename_segment_to_deleted(dir: &Path, base_offset: i64) -> Result<Vec<PathBuf>> {
    let mut renamed = Vec::new();
    for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
        if let Some(p) = files::rename_to_deleted(&segment_file(dir, base_offset, suffix))? {
            renamed.push(p);
        }
    }
    Ok(renamed)
}

fn source(log: &LogAccess) -> Source<'_> {
    match &log.mapped {
        Some(m) => Source::Mapped(m),
        None => Source::File(&log.file),
    }
}

fn read_range(log: &LogAccess, position: u64, len: u64) -> Result<Bytes> {
    match &log.mapped {
        Some(m) => {
            let (start, end) = (position as usize, (position + len) as usize);
            Ok(if end <= m.len() { m.slice(start..end) } else { Bytes::new() })
        }
        None => log.file.read_at(position, len as usize),
    }
}
