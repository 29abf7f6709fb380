//! [`Partition`]: one partition log — a directory of segments that behaves
//! like a single Kafka partition. Append with offset assignment, read, look up
//! by time, roll, retention, delete-records, truncate, flush, and recovery on
//! open (SPEC §3-§4). Knows nothing of topics or keys.
//!
//! Durability: when `append` returns, the data is in the operating system's
//! page cache and survives a crash of the process; when `flush` returns (or
//! `flush.messages` / `flush.ms` fire) it survives a crash of the machine.
//! Recovery on open keeps the longest valid prefix of every segment past the
//! recovery point and never invents or reorders records.
//!
//! Concurrency: appends and other changes are serialized by one writer lock;
//! readers only clone a snapshot of the segment list, and see a prefix of the
//! log. A reader holding a segment that retention deletes keeps reading it.

mod append;
mod compaction;
mod flush;
mod load;
mod lookup;
mod policy;
mod reader;
mod retention;
mod roll;
mod slot;
mod state;
mod truncate;
#[cfg(feature = "async")]
mod wait_async;
mod waiting;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::clock::{Clock, SystemClock};
use crate::config::LogConfig;
use crate::dirlock::{DirLock, SharedLock};
use crate::error::{Error, Result};
use crate::segment::{LogSegment, RecoveryReport};
use append::AppendRules;
pub use compaction::CompactionResult;
pub use policy::RetentionReason;
pub use reader::RecordReader;
use roll::{next_random, seed};
use slot::SegmentSlot;
pub(crate) use state::STATE_FILE;
#[cfg(feature = "async")]
pub use wait_async::WaitForData;
#[cfg(feature = "async")]
pub(crate) use waiting::OwnedWaiting;

/// What [`Partition::offset_for`] looks up: the special targets Kafka's
/// `ListOffsets` encodes as -2, -1 and -3, or a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// The record with the largest timestamp.
    MaxTimestamp,
    /// The first record with a timestamp at or after this (ms since the epoch).
    Timestamp(i64),
}

/// What an append assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Offset of the first record.
    pub first_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Largest record timestamp (the append time for LogAppendTime).
    pub max_timestamp: i64,
    /// The append time when the log uses LogAppendTime, else -1.
    pub log_append_time: i64,
}

/// What a retention pass did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetentionResult {
    /// Segments deleted, oldest first, by base offset.
    pub deleted_segments: Vec<i64>,
    /// The rules that chose them, in the order applied.
    pub reasons: Vec<RetentionReason>,
    /// The log start offset afterwards.
    pub log_start_offset: i64,
}

/// A segment's numbers, as `describe` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Base offset (the file name).
    pub base_offset: i64,
    /// Bytes of the `.log`.
    pub size: u64,
}

/// Options for opening a partition.
#[derive(Debug, Clone)]
pub struct PartitionOptions {
    /// The log's settings.
    pub config: LogConfig,
    /// The clock for timestamps, rolling and retention.
    pub clock: Arc<dyn Clock>,
    /// A log start offset known from outside the directory, such as Kafka's
    /// `log-start-offset-checkpoint` when adopting a Kafka data directory:
    /// the log starts at the largest of it, the partition's own state and its
    /// first segment's base, capped at the log end.
    pub known_log_start_offset: Option<i64>,
    /// The cleaner's first dirty offset known from outside the directory
    /// (a store's `cleaner-offset-checkpoint`); it takes precedence over the
    /// one in the partition's state.
    pub known_first_dirty_offset: Option<i64>,
    /// Opens without changing any file: no recovery cut, no state written,
    /// no index resized, a shared lock instead of an exclusive one; every
    /// call that would write returns [`Error::ReadOnly`]. For inspecting a
    /// data directory (the CLI's read-only commands). A log left by a crash
    /// is read as it is: damaged bytes past the last good batch are an error
    /// when read, not cut.
    pub read_only: bool,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        Self {
            config: LogConfig::default(),
            clock: Arc::new(SystemClock),
            known_log_start_offset: None,
            known_first_dirty_offset: None,
            read_only: false,
        }
    }
}

/// The segment list readers take a snapshot of.
#[derive(Debug)]
struct SegmentList {
    slots: Vec<Arc<SegmentSlot>>,
}

impl SegmentList {
    /// Index of the segment that would hold `offset` (largest base ≤ offset).
    fn floor(&self, offset: i64) -> usize {
        self.slots.partition_point(|s| s.base_offset() <= offset).saturating_sub(1)
    }
}

/// State only the writer touches.
#[derive(Debug)]
struct Writer {
    active: Arc<LogSegment>,
    active_created_ms: i64,
    active_jitter_ms: i64,
    recovery_point: i64,
    /// The recovery point last written to the state file.
    checkpointed_recovery_point: i64,
    last_flush_ms: i64,
    /// Segment files were created since the last flush: fsync the directory.
    dir_dirty: bool,
    poisoned: Option<Arc<Error>>,
    pending_deletes: Vec<(i64, Vec<PathBuf>)>,
    /// Segments sealed since the last flush: their closing index entries
    /// (and any tail) must reach the disk before the recovery point passes them.
    sealed_unflushed: Vec<Arc<LogSegment>>,
    /// Truncations so far: a flush that ran beside one does not move the recovery point.
    truncations: u64,
    random: u64,
    /// The log's settings (as [`Inner::config`]), and what appends need of them.
    config: Arc<LogConfig>,
    rules: AppendRules,
    /// The active segment's rolling timestamp, once asked (`None`: ask it).
    rolling_ts: Option<Option<i64>>,
    /// The buffer appends encode their batch into, kept between appends.
    scratch: Vec<u8>,
    /// Where the cleaner's next pass starts (`None`: never cleaned).
    first_dirty_offset: Option<i64>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    config: RwLock<Arc<LogConfig>>,
    segments: RwLock<Arc<SegmentList>>,
    log_start_offset: AtomicI64,
    log_end_offset: AtomicI64,
    writer: Mutex<Writer>,
    closed: AtomicBool,
    arrivals: Mutex<()>,
    arrived: Condvar,
    /// Callers inside [`Partition::wait_for_data`]: appends notify only when some.
    waiters: AtomicUsize,
    recovery: Mutex<Vec<RecoveryReport>>,
    /// Offset ranges whose segment files are missing (see [`Error::MissingSegment`]).
    gaps: Vec<(i64, i64)>,
    /// Serializes `flush` calls (group commit; see [`Partition::flush`]).
    /// Fair: a flusher that just synced must not barge ahead of those
    /// queued (its next sync would cover only its own new record, and theirs
    /// wait), so the gate goes to the longest waiter.
    flush_gate: parking_lot::FairMutex<()>,
    /// The directory's lock, held until the partition is closed or its last
    /// handle is dropped.
    lock: Mutex<Option<DirLock>>,
    /// For a partition of a store: the store's lock, held as long as this.
    store_lock: Mutex<Option<SharedLock>>,
    /// Held by a cleaning pass: one at a time.
    cleaning: Mutex<()>,
    /// Consumers' notifiers, pinged with the waiters when records arrive.
    listeners: Mutex<Vec<std::sync::Weak<crate::notify::Notifier>>>,
    /// Opened with [`PartitionOptions::read_only`]: every write is refused.
    read_only: bool,
    /// Pinged with the waiters: wakes [`Partition::wait_for_data_async`] futures.
    #[cfg(feature = "async")]
    async_arrivals: crate::notify::Notifier,
}

/// One partition log in its own directory. Cheap to clone: clones share the log.
///
/// A directory has one owner: while a partition (or any clone of it) is open,
/// opening its directory again, from this process or another, fails with
/// [`Error::Locked`]. The lock (the file `.lock` inside the directory) is
/// released by [`Partition::close`] or when the last clone is dropped.
///
/// ```
/// use topiclog::Partition;
/// use topiclog::{LogConfig, Record};
///
/// let dir = tempfile::tempdir()?;
/// let log = Partition::open(dir.path(), LogConfig::default())?;
/// let appended = log.append(&[Record::new().key("k").value("v")])?;
/// assert_eq!(appended.first_offset, 0);
/// for record in log.read_from(0)? {
///     let record = record?;
///     assert_eq!(record.value(), Some(&b"v"[..]));
/// }
/// log.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Partition {
    inner: Arc<Inner>,
}

impl Partition {
    /// Opens (creating if needed) the partition log in `dir` with the system clock.
    ///
    /// # Errors
    ///
    /// As [`Partition::open_with`].
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Self> {
        Self::open_with(dir, PartitionOptions { config, ..PartitionOptions::default() })
    }

    /// Opens the partition log in `dir` with explicit options (for example a manual clock).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the configuration fails [`LogConfig::validate`];
    /// [`Error::Locked`] when the directory is already open, in this process or another;
    /// [`Error::CorruptState`] when the partition's state file cannot be parsed; [`Error::Symlink`]
    /// when a segment file is a symbolic link; [`Error::Io`] when creating, listing, reading,
    /// recovering or syncing the directory's files fails. Recovery itself cuts damaged tails (see
    /// [`Partition::recovery_reports`]) rather than fail.
    pub fn open_with(dir: impl AsRef<Path>, options: PartitionOptions) -> Result<Self> {
        options.config.validate()?;
        let dir = dir.as_ref();
        let lock = if options.read_only {
            DirLock::acquire_read_only(dir)?
        } else {
            crate::fsutil::create_dir_all(dir)?;
            DirLock::acquire(dir)?
        };
        let loaded = load::load(dir, &options.config, options.known_log_start_offset, options.read_only)?;
        let now = options.clock.now_ms();
        let mut random = seed();
        let jitter = policy::draw_jitter(
            options.config.segment_jitter_ms,
            options.config.max_segment_ms(),
            next_random(&mut random),
        );
        let writer = Writer {
            active: loaded.active.clone(),
            active_created_ms: now,
            active_jitter_ms: jitter,
            recovery_point: loaded.recovery_point,
            checkpointed_recovery_point: loaded.recovery_point,
            last_flush_ms: now,
            dir_dirty: true,
            poisoned: None,
            pending_deletes: Vec::new(),
            sealed_unflushed: Vec::new(),
            truncations: 0,
            random,
            rules: AppendRules::of(&options.config),
            config: Arc::new(options.config.clone()),
            rolling_ts: None,
            scratch: Vec::new(),
            first_dirty_offset: options.known_first_dirty_offset.or(loaded.first_dirty_offset),
        };
        let inner = Inner {
            dir: dir.to_owned(),
            clock: options.clock,
            config: RwLock::new(Arc::clone(&writer.config)),
            segments: RwLock::new(Arc::new(SegmentList { slots: loaded.slots })),
            log_start_offset: AtomicI64::new(loaded.log_start_offset),
            log_end_offset: AtomicI64::new(loaded.active.next_offset()),
            writer: Mutex::new(writer),
            closed: AtomicBool::new(false),
            arrivals: Mutex::new(()),
            arrived: Condvar::new(),
            waiters: AtomicUsize::new(0),
            recovery: Mutex::new(loaded.reports),
            gaps: loaded.gaps,
            flush_gate: parking_lot::FairMutex::new(()),
            lock: Mutex::new(Some(lock)),
            store_lock: Mutex::new(None),
            cleaning: Mutex::new(()),
            listeners: Mutex::new(Vec::new()),
            read_only: options.read_only,
            #[cfg(feature = "async")]
            async_arrivals: crate::notify::Notifier::default(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Keeps the store's lock held for as long as this partition is open.
    pub(crate) fn hold_store_lock(&self, lock: SharedLock) {
        *self.inner.store_lock.lock() = Some(lock);
    }

    /// Marks the partition closed without flushing (for one that could not
    /// be closed cleanly and is going away) and releases its locks.
    pub(crate) fn abandon(&self) {
        let writer = self.inner.writer.lock();
        self.inner.closed.store(true, Ordering::Release);
        drop(writer);
        self.notify_arrivals();
        self.release_locks();
    }

    fn release_locks(&self) {
        drop(self.inner.lock.lock().take());
        drop(self.inner.store_lock.lock().take());
    }

    /// The partition directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The log's current settings.
    #[must_use]
    pub fn config(&self) -> Arc<LogConfig> {
        self.inner.config.read().clone()
    }

    /// Replaces the log's settings; they apply from the next operation on.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `config` fails [`LogConfig::validate`]; the settings in force
    /// are then unchanged.
    pub fn set_config(&self, config: LogConfig) -> Result<()> {
        config.validate()?;
        let config = Arc::new(config);
        let mut writer = self.inner.writer.lock();
        writer.rules = AppendRules::of(&config);
        writer.config = Arc::clone(&config);
        *self.inner.config.write() = config;
        Ok(())
    }

    /// The first offset readers can read.
    #[must_use]
    pub fn log_start_offset(&self) -> i64 {
        self.inner.log_start_offset.load(Ordering::Acquire)
    }

    /// The offset the next record will get.
    #[must_use]
    pub fn log_end_offset(&self) -> i64 {
        self.inner.log_end_offset.load(Ordering::Acquire)
    }

    /// The first offset not yet known to be on disk.
    #[must_use]
    pub fn recovery_point(&self) -> i64 {
        self.inner.writer.lock().recovery_point
    }

    /// What recovery cut or rebuilt since the partition was opened (on open,
    /// and for sealed segments repaired when first read).
    #[must_use]
    pub fn recovery_reports(&self) -> Vec<RecoveryReport> {
        let mut all = self.inner.recovery.lock();
        for slot in &self.snapshot().slots {
            all.extend(slot.take_reports());
        }
        all.clone()
    }

    fn snapshot(&self) -> Arc<SegmentList> {
        self.inner.segments.read().clone()
    }

    /// Base offset and size of every segment, oldest first. Sealed segments
    /// that are not open are not opened for this (their size is learnt once).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the files of a sealed segment not yet open cannot be read to learn its
    /// size.
    pub fn segments(&self) -> Result<Vec<SegmentInfo>> {
        self.snapshot()
            .slots
            .iter()
            .map(|slot| Ok(SegmentInfo { base_offset: slot.base_offset(), size: slot.figures()?.size }))
            .collect()
    }

    /// Base offset of the oldest segment.
    #[must_use]
    pub fn first_segment_base_offset(&self) -> i64 {
        self.snapshot().slots.first().map_or(0, |s| s.base_offset())
    }

    /// Number of segments.
    #[must_use]
    pub fn segment_count(&self) -> usize {
        self.snapshot().slots.len()
    }

    /// Bytes of all segments.
    ///
    /// # Errors
    ///
    /// As [`Partition::segments`].
    pub fn size(&self) -> Result<u64> {
        Ok(self.segments()?.iter().map(|s| s.size).sum())
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed { dir: self.inner.dir.clone() });
        }
        Ok(())
    }

    fn check_writable(&self, writer: &Writer) -> Result<()> {
        self.check_open()?;
        if self.inner.read_only {
            return Err(Error::ReadOnly { path: self.inner.dir.clone() });
        }
        match &writer.poisoned {
            Some(cause) => Err(Error::Poisoned { dir: self.inner.dir.clone(), source: Arc::clone(cause) }),
            None => Ok(()),
        }
    }

    /// Remembers an I/O failure on a write path: the partition then refuses
    /// writes until reopened, rather than guess what reached the disk.
    fn poison_on_io<T>(&self, writer: &mut Writer, result: Result<T>) -> Result<T> {
        if let Err(Error::Io { op, path, source }) = &result {
            log::error!(
                "partition {}: {op} {} failed ({source}); writes refused until the partition is reopened",
                self.inner.dir.display(),
                path.display()
            );
            let copy = Error::Io { op, path: path.clone(), source: crate::error::copy_io_error(source) };
            writer.poisoned = Some(Arc::new(copy));
        }
        result
    }

    /// Flushes, closes the segments (trimming their indexes) and records a
    /// clean shutdown, so the next open scans nothing, then releases the
    /// directory. Later calls on this partition (and its clones) return
    /// [`Error::Closed`].
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] after an earlier I/O failure (nothing is flushed); [`Error::Io`] when
    /// the final flush, closing a segment or writing the state file fails. The partition counts as
    /// closed and its directory is released even then; a second `close` returns `Ok(())`.
    pub fn close(&self) -> Result<()> {
        let mut writer = self.inner.writer.lock();
        if self.inner.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        if !self.inner.read_only {
            self.check_writable(&writer)?;
        }
        let now = self.inner.clock.now_ms();
        // A read-only partition has nothing to flush or record.
        let closed = if self.inner.read_only { Ok(()) } else { self.close_locked(&mut writer, now) };
        self.inner.closed.store(true, Ordering::Release);
        drop(writer);
        self.notify_arrivals();
        self.release_locks();
        closed
    }

    fn close_locked(&self, writer: &mut Writer, now: i64) -> Result<()> {
        self.flush_locked(writer, now)?;
        for slot in &self.snapshot().slots {
            if let Some(seg) = slot.get_if_open() {
                seg.close()?;
            }
        }
        self.delete_expired_files_locked(writer, i64::MAX)?;
        self.write_state(writer, true)
    }

    /// Deletes the partition: every file and the directory.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when removing the directory fails; the partition is closed and its lock
    /// released either way.
    pub fn delete(self) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::ReadOnly { path: self.inner.dir.clone() });
        }
        let writer = self.inner.writer.lock();
        self.inner.closed.store(true, Ordering::Release);
        drop(writer);
        self.notify_arrivals();
        let removed = crate::fsutil::remove_dir_all(&self.inner.dir);
        self.release_locks();
        removed
    }
}

#[cfg(test)]
mod tests;
