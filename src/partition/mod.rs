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

mod compaction;
mod load;
mod policy;
mod reader;
mod slot;
mod state;
#[cfg(feature = "async")]
mod wait_async;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering, fence};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::clock::{Clock, SystemClock};
use crate::config::{CompressionType, LogConfig};
use crate::dirlock::{DirLock, SharedLock};
use crate::error::{Error, RecordProblem, Result};
use crate::format::{
    AsBorrowedRecord, BatchBuilder, BorrowedRecord, Compression, FileBatches, Record, RecordBatch, RecordRef,
    TimestampType, encode_records, finish_batch,
};
use crate::index::TimestampOffset;
use crate::segment::{LogSegment, RecoveryReport};
pub use compaction::CompactionResult;
pub use policy::RetentionReason;
use policy::{ActiveSegment, PendingAppend, SegmentFacts};
pub use reader::RecordReader;
use slot::SegmentSlot;
use state::PartitionState;
pub(crate) use state::STATE_FILE;
#[cfg(feature = "async")]
pub use wait_async::WaitForData;

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

/// Kafka's `ListOffsets` target for the log start offset.
const EARLIEST_TIMESTAMP: i64 = -2;
/// Kafka's `ListOffsets` target for the log end offset.
const LATEST_TIMESTAMP: i64 = -1;
/// Kafka's `ListOffsets` target for the record with the largest timestamp.
const MAX_TIMESTAMP: i64 = -3;

/// Default bytes per read of a [`RecordReader`].
const READ_CHUNK: u64 = 1 << 20;

/// Bytes per read when [`Partition::read_record_at`] falls back to a reader.
const POINT_READ_CHUNK: u64 = 64 << 10;

/// Largest encoding buffer the writer keeps between appends.
const MAX_KEPT_SCRATCH: usize = 4 << 20;

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
}

impl Default for PartitionOptions {
    fn default() -> Self {
        Self {
            config: LogConfig::default(),
            clock: Arc::new(SystemClock),
            known_log_start_offset: None,
            known_first_dirty_offset: None,
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

/// What the append path needs of the [`LogConfig`], copied out of it.
#[derive(Debug, Clone, Copy)]
struct AppendRules {
    /// The log encodes its batches with a codec (`compression.type`).
    compressed: bool,
    log_append_time: bool,
    compacts: bool,
    timestamp_before_max_ms: i64,
    timestamp_after_max_ms: i64,
    max_message_bytes: u64,
    segment_bytes: u64,
    roll_ms: i64,
    flush_messages: i64,
}

impl AppendRules {
    fn of(config: &LogConfig) -> Self {
        Self {
            compressed: config.compression_type.codec() != Compression::None,
            log_append_time: config.message_timestamp_type == TimestampType::LogAppendTime,
            compacts: config.cleanup_policy.compacts(),
            timestamp_before_max_ms: config.message_timestamp_before_max_ms,
            timestamp_after_max_ms: config.message_timestamp_after_max_ms,
            max_message_bytes: config.max_message_bytes as u64,
            segment_bytes: config.segment_bytes as u64,
            roll_ms: config.max_segment_ms(),
            flush_messages: config.flush_messages,
        }
    }

    /// Whether CreateTime timestamps are checked against the clock.
    fn bounds_timestamps(&self) -> bool {
        self.timestamp_before_max_ms != i64::MAX || self.timestamp_after_max_ms != i64::MAX
    }

    /// Refuses a batch of `size` bytes past `max.message.bytes` or `segment.bytes`.
    fn check_size(&self, size: u64) -> Result<()> {
        if size > self.max_message_bytes {
            return Err(Error::RecordBatchTooLarge {
                size,
                limit: self.max_message_bytes,
                limit_name: "max.message.bytes",
            });
        }
        if size > self.segment_bytes {
            return Err(Error::RecordBatchTooLarge { size, limit: self.segment_bytes, limit_name: "segment.bytes" });
        }
        Ok(())
    }
}

/// The clock's time, read at most once, and only when something needs it.
struct Now<'a> {
    clock: &'a dyn Clock,
    ms: Option<i64>,
}

impl<'a> Now<'a> {
    fn new(clock: &'a dyn Clock) -> Self {
        Self { clock, ms: None }
    }

    fn known(clock: &'a dyn Clock, ms: i64) -> Self {
        Self { clock, ms: Some(ms) }
    }

    fn get(&mut self) -> i64 {
        *self.ms.get_or_insert_with(|| self.clock.now_ms())
    }
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
    /// Pinged with the waiters: wakes [`Partition::wait_for_data_async`] futures.
    #[cfg(feature = "async")]
    async_arrivals: crate::notify::Notifier,
}

/// What a [`Partition::flush`] syncs, decided under the writer lock.
struct FlushPlan {
    /// The log end offset the flush makes durable.
    end: i64,
    /// Segments to fsync: first the `sealed` ones sealed since the last flush.
    to_sync: Vec<Arc<LogSegment>>,
    sealed: usize,
    /// Whether the directory needs an fsync (files created or renamed).
    dir_dirty: bool,
    /// [`Writer::truncations`] when the plan was made.
    truncations: u64,
}

/// Bytes read from one segment, with where they came from.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// Whole batches.
    pub bytes: Bytes,
    /// The segment they were read from (its path names damage, if any).
    pub segment: Arc<LogSegment>,
    /// File position of the first byte.
    pub position: u64,
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
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Self> {
        Self::open_with(dir, PartitionOptions { config, ..PartitionOptions::default() })
    }

    /// Opens the partition log in `dir` with explicit options (for example a manual clock).
    pub fn open_with(dir: impl AsRef<Path>, options: PartitionOptions) -> Result<Self> {
        options.config.validate()?;
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
        let lock = DirLock::acquire(dir)?;
        let loaded = load::load(dir, &options.config, options.known_log_start_offset)?;
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
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The log's current settings.
    pub fn config(&self) -> Arc<LogConfig> {
        self.inner.config.read().clone()
    }

    /// Replaces the log's settings; they apply from the next operation on.
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
    pub fn log_start_offset(&self) -> i64 {
        self.inner.log_start_offset.load(Ordering::Acquire)
    }

    /// The offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.inner.log_end_offset.load(Ordering::Acquire)
    }

    /// The first offset not yet known to be on disk.
    pub fn recovery_point(&self) -> i64 {
        self.inner.writer.lock().recovery_point
    }

    /// What recovery cut or rebuilt since the partition was opened (on open,
    /// and for sealed segments repaired when first read).
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
    pub fn segments(&self) -> Result<Vec<SegmentInfo>> {
        self.snapshot()
            .slots
            .iter()
            .map(|slot| Ok(SegmentInfo { base_offset: slot.base_offset(), size: slot.figures()?.size }))
            .collect()
    }

    /// Base offset of the oldest segment.
    pub fn first_segment_base_offset(&self) -> i64 {
        self.snapshot().slots.first().map_or(0, |s| s.base_offset())
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.snapshot().slots.len()
    }

    /// Bytes of all segments.
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

    /// Appends records as one batch; offsets are assigned from the log end
    /// offset. Records without a timestamp get the clock's time.
    pub fn append(&self, records: &[Record]) -> Result<AppendResult> {
        self.append_records(records)
    }

    /// Appends records whose keys, values and headers the caller holds, as
    /// one batch: [`Partition::append`] without building [`Record`]s first.
    /// The data is encoded straight into the batch written to the log.
    ///
    /// ```
    /// use topiclog::Partition;
    /// use topiclog::{LogConfig, BorrowedRecord};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::default())?;
    /// let values = [vec![1u8; 100], vec![2u8; 100]];
    /// let records: Vec<BorrowedRecord<'_>> = values.iter().map(|v| BorrowedRecord::value(v)).collect();
    /// let appended = log.append_borrowed(&records)?;
    /// assert_eq!((appended.first_offset, appended.last_offset), (0, 1));
    /// let keyed = log.append_borrowed(&[BorrowedRecord::new(Some(b"k"), Some(b"v")).timestamp(1_700_000_000_000)])?;
    /// assert_eq!(keyed.max_timestamp, 1_700_000_000_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Partition::append`]: [`Error::EmptyBatch`] for no records;
    /// [`Error::InvalidRecord`] for a null key in a compacted log;
    /// [`Error::InvalidTimestamp`] for a timestamp below -1;
    /// [`Error::TimestampOutOfBounds`] outside
    /// `message.timestamp.{before,after}.max.ms`;
    /// [`Error::RecordBatchTooLarge`] past `max.message.bytes` or
    /// `segment.bytes`; [`Error::Closed`] or [`Error::Poisoned`] when the
    /// partition takes no writes; [`Error::Io`] when writing fails (the
    /// partition is then poisoned).
    pub fn append_borrowed(&self, records: &[BorrowedRecord<'_>]) -> Result<AppendResult> {
        self.append_records(records)
    }

    /// [`Partition::append`] for any record type. An uncompressed log
    /// (`compression.type` producer or uncompressed) encodes the batch under
    /// the writer lock into a buffer the writer keeps, with its final offsets:
    /// one pass, one CRC, no offset patch, and no allocation once the buffer
    /// has grown to the batch size.
    fn append_records<T: AsBorrowedRecord>(&self, records: &[T]) -> Result<AppendResult> {
        let mut writer = self.inner.writer.lock();
        let rules = writer.rules;
        if rules.compressed {
            drop(writer);
            return self.append_compressed(records);
        }
        let mut now = Now::new(&*self.inner.clock);
        let mut buf = std::mem::take(&mut writer.scratch);
        let appended = self.append_encoded(&mut writer, &mut buf, records, rules, &mut now);
        if buf.capacity() <= MAX_KEPT_SCRATCH {
            writer.scratch = buf;
        }
        appended
    }

    /// The body of [`Partition::append_records`]: encodes `records` into
    /// `buf`, with the offsets they get, checks them and appends them.
    fn append_encoded<T: AsBorrowedRecord>(
        &self,
        writer: &mut Writer,
        buf: &mut Vec<u8>,
        records: &[T],
        rules: AppendRules,
        now: &mut Now<'_>,
    ) -> Result<AppendResult> {
        let encoded = encode_records(
            buf,
            records,
            || now.get(),
            |i, record| {
                if rules.compacts && record.key.is_none() { Err(null_key(i)) } else { Ok(()) }
            },
        )?;
        if rules.log_append_time {
            now.get();
        } else if rules.bounds_timestamps() {
            let now = now.get();
            let timestamps = records.iter().map(|r| r.as_borrowed().timestamp.unwrap_or(now));
            check_timestamp_bounds(rules.timestamp_before_max_ms, rules.timestamp_after_max_ms, now, timestamps)?;
        }
        let size = buf.len() as u64;
        rules.check_size(size)?;
        self.check_writable(writer)?;
        let end = self.log_end_offset();
        let count = i64::from(encoded.count);
        if end.checked_add(count).is_none() {
            return Err(Error::OffsetOverflow { base_offset: end, offset: end });
        }
        let log_append_time = rules.log_append_time.then(|| now.get());
        let header = finish_batch(buf, &encoded, end, 0, log_append_time)?;
        let pending = PendingAppend { bytes: size, last_offset: end + count - 1, max_timestamp: header.max_timestamp };
        self.append_locked(writer, buf, end, &pending, now)?;
        Ok(AppendResult {
            first_offset: end,
            last_offset: pending.last_offset,
            max_timestamp: header.max_timestamp,
            log_append_time: log_append_time.unwrap_or(-1),
        })
    }

    /// [`Partition::append`] for a log that compresses the batches it
    /// encodes: built (and compressed) before taking the writer lock.
    fn append_compressed<T: AsBorrowedRecord>(&self, records: &[T]) -> Result<AppendResult> {
        let config = self.config();
        let now = self.inner.clock.now_ms();
        let mut builder = BatchBuilder::new(config.compression_type.codec()).default_timestamp(now);
        if config.message_timestamp_type == TimestampType::LogAppendTime {
            builder = builder.log_append_time(now);
        }
        for (i, record) in records.iter().enumerate() {
            let record = record.as_borrowed();
            if config.cleanup_policy.compacts() && record.key.is_none() {
                return Err(null_key(i));
            }
            builder.append_borrowed(&record)?;
        }
        let batch = builder.build()?;
        if config.message_timestamp_type == TimestampType::CreateTime {
            let (before, after) = (config.message_timestamp_before_max_ms, config.message_timestamp_after_max_ms);
            let timestamps = records.iter().map(|r| r.as_borrowed().timestamp.unwrap_or(now));
            check_timestamp_bounds(before, after, now, timestamps)?;
        }
        self.append_validated(batch, &config, now, Offsets::Assign)
    }

    /// Appends a batch a producer encoded (any base offset; offsets are
    /// reassigned). It must be a valid, non-control batch with dense offsets.
    /// With `compression.type` set to a codec, the batch is re-encoded with it.
    pub fn append_batch(&self, batch: RecordBatch) -> Result<AppendResult> {
        self.append_producer_batch(batch, Offsets::Assign)
    }

    /// Appends a batch keeping its offsets, as a Kafka follower does: for
    /// importing data whose offsets must not change. Its first offset must be
    /// at least the log end offset; gaps are allowed.
    pub fn append_with_offsets(&self, batch: RecordBatch) -> Result<AppendResult> {
        self.append_producer_batch(batch, Offsets::Keep)
    }

    fn append_producer_batch(&self, batch: RecordBatch, offsets: Offsets) -> Result<AppendResult> {
        let config = self.config();
        let now = self.inner.clock.now_ms();
        let h = *batch.header();
        let invalid = |problem| Error::InvalidRecord { problem };
        if h.is_control() {
            return Err(invalid(RecordProblem::ControlBatch));
        }
        let dense = h.record_count > 0 && i64::from(h.last_offset_delta) + 1 == i64::from(h.record_count);
        if offsets == Offsets::Assign && !dense {
            let (record_count, last_offset_delta) = (h.record_count, h.last_offset_delta);
            return Err(invalid(RecordProblem::SparseOffsets { record_count, last_offset_delta }));
        }
        if h.producer_id >= 0 && h.base_sequence < 0 {
            return Err(invalid(RecordProblem::MissingBaseSequence { producer_id: h.producer_id }));
        }
        let records: Vec<_> = batch.records()?.collect::<Result<_>>()?;
        if config.cleanup_policy.compacts()
            && let Some(i) = records.iter().position(|r| r.key().is_none())
        {
            return Err(null_key(i));
        }
        let target = match config.compression_type {
            CompressionType::Producer => h.compression(),
            CompressionType::Codec(c) => Some(c),
        };
        let mut batch = if target != h.compression() {
            let mut builder = BatchBuilder::new(target.unwrap_or_default())
                .base_offset(h.base_offset)
                .producer(h.producer_id, h.producer_epoch, h.base_sequence)
                .transactional(h.is_transactional());
            for r in &records {
                builder.append(&r.to_record())?;
            }
            builder.build()?
        } else {
            batch
        };
        match config.message_timestamp_type {
            TimestampType::LogAppendTime => batch.set_max_timestamp(TimestampType::LogAppendTime, now),
            TimestampType::CreateTime => {
                let (before, after) = (config.message_timestamp_before_max_ms, config.message_timestamp_after_max_ms);
                check_timestamp_bounds(before, after, now, records.iter().map(|r| r.timestamp()))?;
                let max = records.iter().map(|r| r.timestamp()).max().unwrap_or(-1);
                if max != batch.max_timestamp() || batch.header().timestamp_type() != TimestampType::CreateTime {
                    batch.set_max_timestamp(TimestampType::CreateTime, max);
                }
            }
        }
        self.append_validated(batch, &config, now, offsets)
    }

    fn append_validated(
        &self,
        mut batch: RecordBatch,
        config: &LogConfig,
        now: i64,
        offsets: Offsets,
    ) -> Result<AppendResult> {
        let size = batch.size_in_bytes() as u64;
        if size > config.max_message_bytes as u64 {
            return Err(Error::RecordBatchTooLarge {
                size,
                limit: config.max_message_bytes as u64,
                limit_name: "max.message.bytes",
            });
        }
        if size > config.segment_bytes as u64 {
            return Err(Error::RecordBatchTooLarge {
                size,
                limit: config.segment_bytes as u64,
                limit_name: "segment.bytes",
            });
        }
        let count = i64::from(batch.header().last_offset_delta) + 1;
        if batch.base_offset().checked_add(count).is_none() {
            return Err(Error::OffsetOverflow { base_offset: batch.base_offset(), offset: batch.last_offset() });
        }
        let mut writer = self.inner.writer.lock();
        self.check_writable(&writer)?;
        let end = self.log_end_offset();
        if end.checked_add(count).is_none() {
            return Err(Error::OffsetOverflow { base_offset: end, offset: end });
        }
        let first = match offsets {
            Offsets::Assign => {
                batch.set_base_offset_and_epoch(end, 0);
                end
            }
            Offsets::Keep if batch.base_offset() >= end => {
                batch.set_partition_leader_epoch(0);
                batch.base_offset()
            }
            Offsets::Keep => {
                let problem = RecordProblem::BelowLogEnd { base_offset: batch.base_offset(), log_end_offset: end };
                return Err(Error::InvalidRecord { problem });
            }
        };
        let pending =
            PendingAppend { bytes: size, last_offset: first + count - 1, max_timestamp: batch.max_timestamp() };
        let mut now = Now::known(&*self.inner.clock, now);
        self.append_locked(&mut writer, batch.as_bytes(), first, &pending, &mut now)?;
        let log_append_time =
            if batch.header().timestamp_type() == TimestampType::LogAppendTime { batch.max_timestamp() } else { -1 };
        Ok(AppendResult {
            first_offset: first,
            last_offset: pending.last_offset,
            max_timestamp: batch.max_timestamp(),
            log_append_time,
        })
    }

    /// Writes one batch, whose offsets start at the log end offset or above,
    /// under the writer lock: rolls first when due, publishes the new log end
    /// offset, wakes waiting readers and flushes when `flush.messages` says so.
    fn append_locked(
        &self,
        writer: &mut Writer,
        bytes: &[u8],
        first: i64,
        pending: &PendingAppend,
        now: &mut Now<'_>,
    ) -> Result<()> {
        let rules = writer.rules;
        let active = &writer.active;
        let size_before = active.size();
        let facts = ActiveSegment {
            base_offset: active.base_offset(),
            size: size_before,
            rolling_based_timestamp: *writer.rolling_ts.get_or_insert_with(|| active.rolling_based_timestamp()),
            created_ms: writer.active_created_ms,
            jitter_ms: writer.active_jitter_ms,
            indexes_full: active.indexes_full(),
        };
        if policy::should_roll(&facts, pending, rules.segment_bytes, rules.roll_ms, || now.get()) {
            let config = Arc::clone(&writer.config);
            let rolled = self.roll_locked(writer, &config, now.get(), first);
            self.poison_on_io(writer, rolled)?;
        }
        let written = writer.active.append(bytes);
        let info = self.poison_on_io(writer, written)?;
        if info.position == 0 {
            // The first batch set the segment's rolling timestamp: ask it again.
            writer.rolling_ts = None;
        }
        let end = pending.last_offset + 1;
        self.inner.log_end_offset.store(end, Ordering::Release);
        self.notify_waiters();
        if end - writer.recovery_point >= rules.flush_messages {
            let flushed = self.flush_locked(writer, now.get());
            self.poison_on_io(writer, flushed)?;
        }
        Ok(())
    }

    /// Wakes [`Partition::wait_for_data`] callers after the log end offset
    /// moved, touching the condvar only when one is waiting.
    fn notify_waiters(&self) {
        // Pairs with the fence in `wait_for_data`: either this sees its
        // registration, or it sees the new log end offset.
        fence(Ordering::SeqCst);
        if self.inner.waiters.load(Ordering::Relaxed) > 0 {
            self.notify_arrivals();
        }
    }

    fn notify_arrivals(&self) {
        {
            let _guard = self.inner.arrivals.lock();
            self.inner.arrived.notify_all();
        }
        #[cfg(feature = "async")]
        self.inner.async_arrivals.ping();
        let mut listeners = self.inner.listeners.lock();
        listeners.retain(|l| match l.upgrade() {
            Some(notifier) => {
                notifier.ping();
                true
            }
            None => false,
        });
    }

    /// Pings `notifier` whenever records arrive while someone is registered
    /// as waiting (see [`Partition::waiting`]) or the partition closes.
    pub(crate) fn listen(&self, notifier: &Arc<crate::notify::Notifier>) {
        let mut listeners = self.inner.listeners.lock();
        if !listeners.iter().any(|l| std::ptr::eq(l.as_ptr(), Arc::as_ptr(notifier))) {
            listeners.push(Arc::downgrade(notifier));
        }
    }

    /// Registers a waiter until the guard drops: appends notify while one is.
    pub(crate) fn waiting(&self) -> Waiting<'_> {
        Waiting::register(&self.inner.waiters)
    }

    /// [`Partition::waiting`] for a future, which cannot borrow the partition.
    #[cfg(feature = "async")]
    pub(crate) fn waiting_owned(&self) -> OwnedWaiting {
        // The count taken here is given back by `OwnedWaiting`'s drop.
        std::mem::forget(Waiting::register(&self.inner.waiters));
        OwnedWaiting(self.clone())
    }

    /// Seals the active segment and starts a new one at the log end offset
    /// (nothing happens when the active segment is empty).
    pub fn roll(&self) -> Result<()> {
        let config = self.config();
        let mut writer = self.inner.writer.lock();
        self.check_writable(&writer)?;
        let now = self.inner.clock.now_ms();
        let end = self.log_end_offset();
        let rolled = self.roll_locked(&mut writer, &config, now, end);
        self.poison_on_io(&mut writer, rolled)
    }

    /// Starts a new active segment at `new_base` (the log end offset, or the
    /// first offset of an append that keeps its offsets).
    fn roll_locked(&self, writer: &mut Writer, config: &LogConfig, now: i64, new_base: i64) -> Result<()> {
        if writer.active.is_empty() && writer.active.base_offset() == new_base {
            return Ok(());
        }
        writer.active.seal()?;
        writer.sealed_unflushed.push(writer.active.clone());
        if new_base != writer.active.next_offset() {
            // A gap between segments is legitimate only below the recovery
            // point (recovery cuts at gaps above it): make the sealed segment
            // durable and move the recovery point to the new base first.
            self.flush_locked(writer, now)?;
            writer.recovery_point = new_base;
            self.write_state(writer, false)?;
        }
        let segment = Arc::new(LogSegment::create(&self.inner.dir, new_base, config.segment_config())?);
        let mut list = self.inner.segments.write();
        let mut slots = list.slots.clone();
        slots.push(Arc::new(SegmentSlot::open_now(segment.clone())));
        *list = Arc::new(SegmentList { slots });
        drop(list);
        writer.active = segment;
        writer.rolling_ts = None;
        writer.active_created_ms = now;
        writer.active_jitter_ms =
            policy::draw_jitter(config.segment_jitter_ms, config.max_segment_ms(), next_random(&mut writer.random));
        writer.dir_dirty = true;
        Ok(())
    }

    fn check_range(&self, offset: i64) -> Result<(i64, i64)> {
        self.check_open()?;
        // Log end first, then the list: any offset below it is in the list.
        let end = self.log_end_offset();
        let start = self.log_start_offset();
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange { offset, log_start_offset: start, log_end_offset: end });
        }
        Ok((start, end))
    }

    /// Reads whole batches starting with the one holding `offset`, about
    /// `max_bytes` of them but at least one. The first batch may start below
    /// `offset`. Empty at the log end; [`Error::OffsetOutOfRange`] below the
    /// log start or past the end.
    ///
    /// Damaged bytes where the batch holding `offset` should be give
    /// [`Error::CorruptSegment`] (file and position); offsets of a segment
    /// whose files are gone give [`Error::MissingSegment`]. Reads never
    /// modify the log's files.
    pub fn read(&self, offset: i64, max_bytes: u64) -> Result<Bytes> {
        Ok(self.read_chunk(offset, max_bytes)?.map_or_else(Bytes::new, |c| c.bytes))
    }

    /// [`Partition::read`], saying which file and position the bytes come from.
    pub(crate) fn read_chunk(&self, offset: i64, max_bytes: u64) -> Result<Option<Chunk>> {
        let (_, end) = self.check_range(offset)?;
        if offset == end {
            return Ok(None);
        }
        let list = self.snapshot();
        // Retention may have removed the segment holding `offset` since the
        // range check: never answer with a later segment's records.
        if list.slots.first().is_none_or(|s| s.base_offset() > offset) {
            let (start, end) = (self.log_start_offset(), self.log_end_offset());
            return Err(Error::OffsetOutOfRange { offset, log_start_offset: start, log_end_offset: end });
        }
        if let Some(&(from, to)) = self.inner.gaps.iter().find(|(from, to)| (*from..*to).contains(&offset)) {
            return Err(Error::MissingSegment { dir: self.inner.dir.clone(), from, to });
        }
        for slot in list.slots.iter().skip(list.floor(offset)) {
            if slot.base_offset() > offset
                && let Some(&(from, to)) = self.inner.gaps.iter().find(|(_, to)| *to == slot.base_offset())
            {
                return Err(Error::MissingSegment { dir: self.inner.dir.clone(), from, to });
            }
            let seg = slot.get()?;
            if let Some((bytes, position)) = seg.read_at(offset, max_bytes, true)? {
                return Ok(Some(Chunk { bytes, segment: seg, position }));
            }
        }
        Ok(None)
    }

    /// The base offset of the first segment after the one holding `offset`.
    pub(crate) fn next_segment_base(&self, offset: i64) -> Option<i64> {
        let list = self.snapshot();
        let gap_end = self.inner.gaps.iter().find(|(from, to)| (*from..*to).contains(&offset)).map(|g| g.1);
        gap_end.or_else(|| list.slots.get(list.floor(offset) + 1).map(|s| s.base_offset()))
    }

    /// An iterator over records from `offset` on, across segments, up to the
    /// log end as it moves (control records and records below `offset` skipped).
    pub fn read_from(&self, offset: i64) -> Result<RecordReader> {
        self.check_range(offset)?;
        Ok(RecordReader::new(self.clone(), offset, READ_CHUNK))
    }

    /// Point read: calls `f` with the record at `offset`, borrowed from the
    /// segment's mapping, and returns what `f` returns; `None` at the log end.
    ///
    /// When no record has offset `offset` (compaction removed it, it lies in
    /// a gap left by [`Partition::append_with_offsets`], or it is a control
    /// record) `f` gets the first record after it, exactly the record
    /// `read_from(offset)?.next()` returns: compare [`RecordRef::offset`]
    /// with `offset` to tell. A record not yet appended is never waited for.
    ///
    /// The quick path, taken for any uncompressed batch: the segment by a
    /// binary search of the segment list, the batch by the offset index and
    /// a walk of batch headers in the mapping, one CRC-32C check of that one
    /// batch, and the decoding of the wanted record only — no system call,
    /// no copy and no allocation. Anything else (a compressed or control
    /// batch, an index that disagrees with the log, the next record being in
    /// a later batch) is read through a [`RecordReader`], with its rules.
    ///
    /// # Errors
    ///
    /// [`Error::OffsetOutOfRange`] below the log start offset or past the log
    /// end offset; [`Error::CorruptSegment`] when the batch holding the
    /// record fails its CRC or is malformed (file and position);
    /// [`Error::MissingSegment`] for offsets of a segment whose files are
    /// gone; [`Error::Closed`] after [`Partition::close`]; [`Error::Io`]
    /// when opening a sealed segment fails.
    ///
    /// ```
    /// use topiclog::Partition;
    /// use topiclog::{LogConfig, Record};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::default())?;
    /// log.append(&[Record::new().value("a"), Record::new().key("k").value("bb")])?;
    /// let value = log.read_record_at(1, |record| record.value().map(<[u8]>::to_vec))?;
    /// assert_eq!(value, Some(Some(b"bb".to_vec())));
    /// assert_eq!(log.read_record_at(2, |record| record.offset())?, None, "the log end");
    /// assert!(log.read_record_at(3, |record| record.offset()).is_err(), "past the log end");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_record_at<R>(&self, offset: i64, f: impl FnOnce(RecordRef<'_>) -> R) -> Result<Option<R>> {
        let (_, end) = self.check_range(offset)?;
        if offset == end {
            return Ok(None);
        }
        let found = {
            let list = self.inner.segments.read();
            list.slots
                .get(list.floor(offset))
                // Retention may have removed the segment holding `offset`
                // since the range check: the general path says so.
                .filter(|s| s.base_offset() <= offset)
                .map(|s| s.get_if_open().ok_or_else(|| Arc::clone(s)))
        };
        let segment = match found {
            Some(Ok(segment)) => Some(segment),
            // A sealed segment not opened yet: open it outside the list's lock.
            Some(Err(slot)) => Some(slot.get()?),
            None => None,
        };
        let f = match segment {
            Some(segment) => match segment.point_read(offset, f)? {
                Ok(read) => return Ok(Some(read)),
                Err(f) => f,
            },
            None => f,
        };
        // The general way: a reader of small chunks, stopped after one record.
        let mut reader = RecordReader::new(self.clone(), offset, POINT_READ_CHUNK);
        let mut f = Some(f);
        let mut read = None;
        match reader.next_views(1, |record| read = f.take().map(|f| f(record))) {
            None | Some(Ok(_)) => Ok(read),
            Some(Err(e)) => Err(e),
        }
    }

    /// Blocks until the log end offset passes `offset` or `timeout` elapses;
    /// returns whether data past `offset` is there.
    pub fn wait_for_data(&self, offset: i64, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let _waiting = Waiting::register(&self.inner.waiters);
        let mut guard = self.inner.arrivals.lock();
        while self.log_end_offset() <= offset {
            if self.inner.closed.load(Ordering::Acquire) {
                return false;
            }
            if self.inner.arrived.wait_until(&mut guard, deadline).timed_out() {
                return self.log_end_offset() > offset;
            }
        }
        true
    }

    /// [`Partition::offset_for_timestamp`] with a named target.
    ///
    /// ```
    /// use topiclog::{OffsetSpec, Partition};
    /// use topiclog::{LogConfig, Record};
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::default())?;
    /// log.append(&[Record::new().value("a").timestamp(10), Record::new().value("b").timestamp(20)])?;
    /// assert_eq!(log.offset_for(OffsetSpec::Latest)?.map(|t| t.offset), Some(2));
    /// assert_eq!(log.offset_for(OffsetSpec::Timestamp(15))?.map(|t| t.offset), Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Partition::offset_for_timestamp`].
    pub fn offset_for(&self, spec: OffsetSpec) -> Result<Option<TimestampOffset>> {
        let target = match spec {
            OffsetSpec::Earliest => EARLIEST_TIMESTAMP,
            OffsetSpec::Latest => LATEST_TIMESTAMP,
            OffsetSpec::MaxTimestamp => MAX_TIMESTAMP,
            OffsetSpec::Timestamp(t) if t < 0 => return Err(Error::InvalidTimestamp { timestamp: t }),
            OffsetSpec::Timestamp(t) => t,
        };
        self.lookup_offset(target)
    }

    /// The record at exactly `offset`, or `None` when there is none there
    /// (compacted away, a control record, or a gap).
    ///
    /// # Errors
    ///
    /// [`Error::OffsetOutOfRange`] outside the log; read errors.
    pub fn get(&self, offset: i64) -> Result<Option<crate::format::ConsumerRecord>> {
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset < start || offset >= end {
            return Err(Error::OffsetOutOfRange { offset, log_start_offset: start, log_end_offset: end });
        }
        let record = self.read_from(offset)?.next().transpose()?;
        Ok(record.filter(|r| r.offset() == offset))
    }

    /// Kafka's `offsetsForTimes`: the first record with a timestamp at or
    /// after `timestamp` (ms since the epoch; SPEC §2.7), or `None` when every
    /// record is older. For the log start, the log end or the record with the
    /// largest timestamp, use [`Partition::offset_for`] with an [`OffsetSpec`].
    ///
    /// ```
    /// use topiclog::{LogConfig, Partition, Record};
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::default())?;
    /// log.append(&[Record::new().value("a").timestamp(10), Record::new().value("b").timestamp(20)])?;
    /// assert_eq!(log.offset_for_timestamp(15)?.map(|hit| hit.offset), Some(1));
    /// assert_eq!(log.offset_for_timestamp(21)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTimestamp`] for a negative timestamp (Kafka's -1, -2
    /// and -3 targets are [`OffsetSpec`] variants here); [`Error::Closed`]
    /// after `close`; an I/O or corruption error reading an index or segment.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        if timestamp < 0 {
            return Err(Error::InvalidTimestamp { timestamp });
        }
        self.lookup_offset(timestamp)
    }

    /// The lookup behind [`Partition::offset_for`]: a timestamp, or one of
    /// Kafka's negative special targets.
    fn lookup_offset(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        self.check_open()?;
        let start = self.log_start_offset();
        match timestamp {
            EARLIEST_TIMESTAMP => return Ok(Some(TimestampOffset { timestamp: -1, offset: start })),
            LATEST_TIMESTAMP => return Ok(Some(TimestampOffset { timestamp: -1, offset: self.log_end_offset() })),
            _ => {}
        }
        let list = self.snapshot();
        if timestamp == MAX_TIMESTAMP {
            let mut best: Option<Arc<LogSegment>> = None;
            for slot in &list.slots {
                let seg = slot.get()?;
                if best.as_ref().is_none_or(|b| seg.max_timestamp() > b.max_timestamp()) {
                    best = Some(seg);
                }
            }
            return match best {
                Some(seg) if seg.max_timestamp() >= 0 => seg.find_offset_by_timestamp(seg.max_timestamp(), start),
                _ => Ok(None),
            };
        }
        for slot in &list.slots {
            let seg = slot.get()?;
            if seg.next_offset() <= start {
                continue;
            }
            if seg.largest_timestamp()? >= timestamp
                && let Some(found) = seg.find_offset_by_timestamp(timestamp, start)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Advances the log start offset to `offset` (-1 means the log end):
    /// records below it can no longer be read, and retention deletes segments
    /// wholly below it. Durable when it returns. Returns the new log start.
    pub fn delete_records(&self, offset: i64) -> Result<i64> {
        let config = self.config();
        if !config.cleanup_policy.deletes() {
            return Err(Error::PolicyViolation {
                operation: "delete_records",
                policy: config.cleanup_policy.to_string(),
            });
        }
        let mut writer = self.inner.writer.lock();
        self.check_writable(&writer)?;
        let end = self.log_end_offset();
        let target = if offset == -1 { end } else { offset };
        let start = self.log_start_offset();
        if target < 0 || target > end {
            return Err(Error::OffsetOutOfRange { offset, log_start_offset: start, log_end_offset: end });
        }
        if target > start {
            // The records below the new start must be on disk before the new
            // start is: recovery then never finds the log ending below its start.
            if target > writer.recovery_point {
                let now = self.inner.clock.now_ms();
                let flushed = self.flush_locked(&mut writer, now);
                self.poison_on_io(&mut writer, flushed)?;
            }
            // Durable first, visible second: a failed write moves nothing.
            let saved = self.write_state_with(&mut writer, target, false);
            self.poison_on_io(&mut writer, saved)?;
            self.inner.log_start_offset.store(target, Ordering::Release);
        }
        Ok(self.log_start_offset())
    }

    /// Applies retention (SPEC §4.4): segments wholly below the log start
    /// offset, then `retention.bytes`, then `retention.ms`. If every segment
    /// goes, a new empty one is rolled first. Files are renamed `.deleted` and
    /// removed after `file.delete.delay.ms`.
    pub fn enforce_retention(&self) -> Result<RetentionResult> {
        let config = self.config();
        let mut writer = self.inner.writer.lock();
        self.check_writable(&writer)?;
        let now = self.inner.clock.now_ms();
        let mut result = RetentionResult::default();
        loop {
            let list = self.snapshot();
            let mut facts = Vec::with_capacity(list.slots.len());
            for slot in &list.slots {
                let figures = slot.figures()?;
                facts.push(SegmentFacts {
                    base_offset: slot.base_offset(),
                    size: figures.size,
                    largest_timestamp: figures.largest_timestamp,
                });
            }
            let deletes = config.cleanup_policy.deletes();
            let retention_bytes = (deletes && config.retention_bytes >= 0).then_some(config.retention_bytes as u64);
            let retention_ms = (deletes && config.retention_ms >= 0).then_some(config.retention_ms);
            let end = self.log_end_offset();
            let Some((count, reason)) =
                policy::deletable_segments(&facts, self.log_start_offset(), end, retention_bytes, retention_ms, now)
            else {
                break;
            };
            if count == list.slots.len() {
                let rolled = self.roll_locked(&mut writer, &config, now, end);
                self.poison_on_io(&mut writer, rolled)?;
            }
            let deleted = self.remove_oldest(&mut writer, count, &config, now);
            let deleted = self.poison_on_io(&mut writer, deleted)?;
            log::info!(
                "partition {}: retention ({reason:?}) deleted segments {deleted:?}; log start offset now {}",
                self.inner.dir.display(),
                self.log_start_offset()
            );
            result.deleted_segments.extend(deleted);
            result.reasons.push(reason);
        }
        self.delete_expired_files_locked(&mut writer, now)?;
        result.log_start_offset = self.log_start_offset();
        Ok(result)
    }

    /// Takes the `count` oldest segments out of the list, raises the log
    /// start offset to the first survivor, and schedules their files' deletion.
    fn remove_oldest(&self, writer: &mut Writer, count: usize, config: &LogConfig, now: i64) -> Result<Vec<i64>> {
        let mut list = self.inner.segments.write();
        let survivors: Vec<_> = list.slots.iter().skip(count).cloned().collect();
        let removed: Vec<_> = list.slots.iter().take(count).cloned().collect();
        if let Some(first) = survivors.first() {
            self.inner.log_start_offset.fetch_max(first.base_offset(), Ordering::AcqRel);
        }
        *list = Arc::new(SegmentList { slots: survivors });
        drop(list);
        self.write_state(writer, false)?;
        let mut bases = Vec::new();
        for slot in removed {
            bases.push(slot.base_offset());
            // Renamed without opening: readers holding it open keep reading.
            let paths = crate::segment::rename_segment_to_deleted(&self.inner.dir, slot.base_offset())?;
            writer.pending_deletes.push((now.saturating_add(config.file_delete_delay_ms), paths));
        }
        writer.dir_dirty = true;
        Ok(bases)
    }

    /// Removes `.deleted` files whose delay has passed.
    pub fn delete_expired_files(&self) -> Result<()> {
        let mut writer = self.inner.writer.lock();
        let now = self.inner.clock.now_ms();
        self.delete_expired_files_locked(&mut writer, now)
    }

    fn delete_expired_files_locked(&self, writer: &mut Writer, now: i64) -> Result<()> {
        let (due, later): (Vec<_>, Vec<_>) = writer.pending_deletes.drain(..).partition(|(at, _)| *at <= now);
        writer.pending_deletes = later;
        for (_, paths) in due {
            for path in paths {
                crate::fsutil::remove_file_if_present(&path)?;
            }
        }
        Ok(())
    }

    /// Removes every record at or above `offset` (SPEC §4.7). Below the first
    /// segment, the log restarts empty at `offset`.
    pub fn truncate_to(&self, offset: i64) -> Result<()> {
        let config = self.config();
        let mut writer = self.inner.writer.lock();
        self.check_writable(&writer)?;
        let now = self.inner.clock.now_ms();
        if offset < 0 {
            let (start, end) = (self.log_start_offset(), self.log_end_offset());
            return Err(Error::OffsetOutOfRange { offset, log_start_offset: start, log_end_offset: end });
        }
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        log::warn!(
            "partition {}: truncating from offset {offset} (log end was {})",
            self.inner.dir.display(),
            self.log_end_offset()
        );
        let done = self.truncate_locked(&mut writer, offset, &config, now);
        self.poison_on_io(&mut writer, done)
    }

    fn truncate_locked(&self, writer: &mut Writer, offset: i64, config: &LogConfig, now: i64) -> Result<()> {
        writer.truncations += 1;
        let list = self.snapshot();
        let first_base = list.slots.first().map_or(0, |s| s.base_offset());
        let keep = if offset < first_base { 0 } else { list.floor(offset) + 1 };
        let mut survivors: Vec<_> = list.slots.iter().take(keep).cloned().collect();
        let removed: Vec<_> = list.slots.iter().skip(keep).cloned().collect();
        // Removed segments go first (opened, so readers holding them keep
        // reading): a new active segment may reuse one of their names.
        let delete_at = now.saturating_add(config.file_delete_delay_ms);
        // The state first, so that a crash part-way never finds listed
        // segments gone: it records the survivors and a recovery point at or
        // below the cut.
        writer.recovery_point = writer.recovery_point.min(offset);
        let start = self.log_start_offset().min(offset);
        let listed: Vec<i64> = survivors.iter().map(|s| s.base_offset()).collect();
        self.write_state_listing(writer, start, false, listed)?;
        for slot in &removed {
            let paths = crate::segment::rename_segment_to_deleted(&self.inner.dir, slot.base_offset())?;
            writer.pending_deletes.push((delete_at, paths));
        }
        writer.dir_dirty = true;
        let active = match survivors.last() {
            Some(slot) => {
                let seg = slot.get()?;
                // Kafka cuts whole batches; the records of the cut batch below
                // `offset` are kept by writing them back as a batch of their own.
                let kept = kept_prefix_of_batch(&seg, offset)?;
                seg.truncate_to(offset)?;
                seg.activate()?;
                if let Some(batch) = kept {
                    seg.append(batch.as_bytes())?;
                }
                // Durable when it returns: the cut (and the kept records,
                // which may have been flushed before and are rewritten) are
                // on disk, so a crash never brings back what was cut.
                seg.flush()?;
                seg
            }
            None => {
                // Truncated below the first segment: start afresh at `offset`.
                let seg = Arc::new(LogSegment::create(&self.inner.dir, offset, config.segment_config())?);
                survivors.push(Arc::new(SegmentSlot::open_now(seg.clone())));
                writer.dir_dirty = true;
                self.inner.log_start_offset.store(offset, Ordering::Release);
                seg
            }
        };
        *self.inner.segments.write() = Arc::new(SegmentList { slots: survivors });
        writer.active = active;
        writer.rolling_ts = None;
        writer.active_created_ms = now;
        self.inner.log_end_offset.store(offset, Ordering::Release);
        self.inner.log_start_offset.fetch_min(offset, Ordering::AcqRel);
        writer.recovery_point = writer.recovery_point.min(offset);
        // The renames and any new segment, durable before the call returns.
        crate::fsutil::sync_dir(&self.inner.dir)?;
        writer.dir_dirty = false;
        self.write_state(writer, false)
    }

    /// fsyncs every segment written since the last flush (log, then
    /// indexes, then the directory when files were created) and advances the
    /// recovery point to the log end offset.
    ///
    /// Concurrent flushers share their fsyncs (group commit): one at a time
    /// syncs everything appended so far, without holding up appends, and
    /// those queued behind it return at once when that covered their records.
    pub fn flush(&self) -> Result<()> {
        // What this call must make durable: everything appended before it.
        // Read before queueing, so that a flush by another thread while this
        // one waits, covering it, lets it return without an fsync of its own.
        let target = self.log_end_offset();
        let _gate = self.inner.flush_gate.lock();
        let plan = {
            let mut writer = self.inner.writer.lock();
            self.check_writable(&writer)?;
            if writer.recovery_point >= target {
                return Ok(());
            }
            self.plan_flush(&mut writer)
        };
        // The slow part, with appends going on beside it.
        let synced = self.sync_planned(&plan);
        let mut writer = self.inner.writer.lock();
        let now = self.inner.clock.now_ms();
        let finished = self.finish_flush(&mut writer, plan, synced, now);
        self.poison_on_io(&mut writer, finished)
    }

    /// Flushes if `flush.ms` has passed since the last flush (the store's
    /// maintenance calls this).
    pub fn flush_if_due(&self) -> Result<bool> {
        let config = self.config();
        let mut writer = self.inner.writer.lock();
        self.check_writable(&writer)?;
        let now = self.inner.clock.now_ms();
        if now.saturating_sub(writer.last_flush_ms) < config.flush_ms {
            return Ok(false);
        }
        let flushed = self.flush_locked(&mut writer, now);
        self.poison_on_io(&mut writer, flushed)?;
        Ok(true)
    }

    /// A flush done entirely under the writer lock (appends with
    /// `flush.messages`, `flush.ms`, close, and changes that need the data
    /// durable first).
    fn flush_locked(&self, writer: &mut Writer, now: i64) -> Result<()> {
        let plan = self.plan_flush(writer);
        let synced = self.sync_planned(&plan);
        self.finish_flush(writer, plan, synced, now)
    }

    /// What a flush must sync, decided under the writer lock: segments sealed
    /// since the last flush (a roll wrote their closing index entries after
    /// the recovery point may have passed them) that are still in the log,
    /// then every open segment from the one holding the recovery point.
    fn plan_flush(&self, writer: &mut Writer) -> FlushPlan {
        let list = self.snapshot();
        let in_log =
            |seg: &Arc<LogSegment>| list.slots.iter().any(|s| s.get_if_open().is_some_and(|o| Arc::ptr_eq(&o, seg)));
        let mut to_sync = std::mem::take(&mut writer.sealed_unflushed);
        to_sync.retain(in_log);
        let sealed = to_sync.len();
        to_sync.extend(list.slots.iter().skip(list.floor(writer.recovery_point)).filter_map(|s| s.get_if_open()));
        FlushPlan {
            end: self.log_end_offset(),
            to_sync,
            sealed,
            dir_dirty: std::mem::take(&mut writer.dir_dirty),
            truncations: writer.truncations,
        }
    }

    /// fsyncs what `plan` names (needs no lock).
    fn sync_planned(&self, plan: &FlushPlan) -> Result<()> {
        plan.to_sync.iter().try_for_each(|seg| seg.flush())?;
        if plan.dir_dirty { crate::fsutil::sync_dir(&self.inner.dir) } else { Ok(()) }
    }

    /// Publishes a flush's outcome under the writer lock: on failure the
    /// work stays pending; on success the recovery point moves to the plan's
    /// end (unless a truncation ran meanwhile and may have removed what was
    /// synced), persisted when it moved into a newer segment, so that
    /// recovery after a crash scans at most the active segment.
    fn finish_flush(&self, writer: &mut Writer, plan: FlushPlan, synced: Result<()>, now: i64) -> Result<()> {
        if let Err(e) = synced {
            writer.sealed_unflushed.extend(plan.to_sync.into_iter().take(plan.sealed));
            writer.dir_dirty |= plan.dir_dirty;
            return Err(e);
        }
        if writer.truncations != plan.truncations || plan.end < writer.recovery_point {
            return Ok(());
        }
        writer.recovery_point = plan.end;
        writer.last_flush_ms = now;
        let list = self.snapshot();
        if list.floor(plan.end) != list.floor(writer.checkpointed_recovery_point) {
            self.write_state(writer, false)?;
        }
        Ok(())
    }

    fn write_state(&self, writer: &mut Writer, clean_shutdown: bool) -> Result<()> {
        self.write_state_with(writer, self.log_start_offset(), clean_shutdown)
    }

    /// Writes the state with `log_start_offset` (which may not be published yet).
    fn write_state_with(&self, writer: &mut Writer, log_start_offset: i64, clean_shutdown: bool) -> Result<()> {
        let listed = self.snapshot().slots.iter().map(|s| s.base_offset()).collect();
        self.write_state_listing(writer, log_start_offset, clean_shutdown, listed)
    }

    /// Writes the state listing segments `listed` (plus known missing ones).
    fn write_state_listing(
        &self,
        writer: &mut Writer,
        log_start_offset: i64,
        clean_shutdown: bool,
        mut listed: Vec<i64>,
    ) -> Result<()> {
        // Known gaps stay listed, so that every reopen reports them again.
        let first = listed.first().copied().unwrap_or(i64::MAX);
        listed.extend(self.inner.gaps.iter().map(|(from, _)| *from).filter(|&from| from >= first));
        listed.sort_unstable();
        PartitionState {
            log_start_offset,
            recovery_point: writer.recovery_point,
            clean_shutdown,
            segments: Some(listed),
            first_dirty_offset: writer.first_dirty_offset,
        }
        .write(&self.inner.dir)?;
        writer.checkpointed_recovery_point = writer.recovery_point;
        Ok(())
    }

    /// Flushes, closes the segments (trimming their indexes) and records a
    /// clean shutdown, so the next open scans nothing, then releases the
    /// directory. Later calls on this partition (and its clones) return
    /// [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        let mut writer = self.inner.writer.lock();
        if self.inner.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        self.check_writable(&writer)?;
        let now = self.inner.clock.now_ms();
        let closed = self.close_locked(&mut writer, now);
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
    pub fn delete(self) -> Result<()> {
        let writer = self.inner.writer.lock();
        self.inner.closed.store(true, Ordering::Release);
        drop(writer);
        self.notify_arrivals();
        let removed =
            std::fs::remove_dir_all(&self.inner.dir).map_err(|e| Error::io("remove directory", &self.inner.dir, e));
        self.release_locks();
        removed
    }
}

/// The records below `offset` of the batch in `segment` that straddles it
/// (holds records on both sides), re-encoded as one batch with the same
/// offsets, timestamps and codec; `None` when no batch straddles `offset`.
fn kept_prefix_of_batch(segment: &LogSegment, offset: i64) -> Result<Option<RecordBatch>> {
    let Some(bytes) = segment.read(offset, 1, true)? else { return Ok(None) };
    let Some(batch) = batches(bytes).next().transpose()? else { return Ok(None) };
    if batch.base_offset() >= offset || batch.last_offset() < offset {
        return Ok(None);
    }
    let h = *batch.header();
    let mut builder = BatchBuilder::new(h.compression().unwrap_or_default())
        .base_offset(h.base_offset)
        .partition_leader_epoch(h.partition_leader_epoch)
        .producer(h.producer_id, h.producer_epoch, h.base_sequence)
        .transactional(h.is_transactional());
    if h.timestamp_type() == TimestampType::LogAppendTime {
        builder = builder.log_append_time(h.max_timestamp);
    }
    for record in batch.records()? {
        let record = record?;
        if record.offset() >= offset {
            break;
        }
        if record.offset() != h.base_offset + builder.len() as i64 {
            return Err(Error::TruncateInsideSparseBatch { offset, batch_base_offset: h.base_offset });
        }
        builder.append(&record.to_record())?;
    }
    if builder.is_empty() { Ok(None) } else { builder.build().map(Some) }
}

/// Counts a caller of [`Partition::wait_for_data`] while it waits.
/// A registered waiter (see [`Partition::waiting`]).
pub(crate) struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn register(waiters: &'a AtomicUsize) -> Self {
        waiters.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `notify_waiters`: the log end offset read
        // after this is at least the one an append that missed us stored.
        fence(Ordering::SeqCst);
        Self(waiters)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A registered waiter that owns a handle of its partition (see
/// [`Partition::waiting_owned`]).
#[cfg(feature = "async")]
#[derive(Debug)]
pub(crate) struct OwnedWaiting(Partition);

#[cfg(feature = "async")]
impl Drop for OwnedWaiting {
    fn drop(&mut self) {
        self.0.inner.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether an append assigns offsets or keeps the batch's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offsets {
    Assign,
    Keep,
}

fn null_key(index: usize) -> Error {
    Error::InvalidRecord { problem: RecordProblem::NullKeyInCompactedLog { record: index } }
}

/// Rejects CreateTime timestamps outside `message.timestamp.{before,after}.max.ms`.
fn check_timestamp_bounds(before: i64, after: i64, now: i64, timestamps: impl Iterator<Item = i64>) -> Result<()> {
    if before == i64::MAX && after == i64::MAX {
        return Ok(());
    }
    for ts in timestamps.filter(|&t| t >= 0) {
        if now.saturating_sub(ts) > before {
            return Err(Error::TimestampOutOfBounds { timestamp: ts, now, bound: before, too_old: true });
        }
        if ts.saturating_sub(now) > after {
            return Err(Error::TimestampOutOfBounds { timestamp: ts, now, bound: after, too_old: false });
        }
    }
    Ok(())
}

/// A seed for segment jitter that differs between processes and partitions.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish() | 1
}

/// xorshift64: enough randomness for jitter.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Reads every batch in `bytes`.
pub(crate) fn batches(bytes: Bytes) -> FileBatches {
    FileBatches::new(bytes, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `append_borrowed` writes exactly the bytes `append` writes for the same
    /// records (keys, null values, headers, missing timestamps), in both
    /// timestamp types.
    #[test]
    fn append_borrowed_writes_what_append_writes() {
        let records = vec![
            Record::new().key("k").value("v").timestamp(5),
            Record::new().value("no timestamp"),
            Record::new().key("tombstone").header("h", "x").push_header(crate::Header::with_null_value("n")),
        ];
        let refs: Vec<BorrowedRecord<'_>> = records.iter().map(BorrowedRecord::from).collect();
        for config in [LogConfig::default(), LogConfig::default().message_timestamp_type(TimestampType::LogAppendTime)]
        {
            let clock = Arc::new(crate::clock::ManualClock::new(1_000));
            let open = |dir: &Path| {
                let options =
                    PartitionOptions { config: config.clone(), clock: clock.clone(), ..PartitionOptions::default() };
                Partition::open_with(dir, options).unwrap()
            };
            let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let (pa, pb) = (open(a.path()), open(b.path()));
            for _ in 0..3 {
                assert_eq!(pa.append(&records).unwrap(), pb.append_borrowed(&refs).unwrap());
            }
            assert_eq!(pa.read(0, u64::MAX).unwrap(), pb.read(0, u64::MAX).unwrap());
            assert!(matches!(pb.append_borrowed(&[]), Err(Error::EmptyBatch)));
        }
    }

    /// `read_record_at`'s quick path answers every offset of uncompressed
    /// batches itself (with and without the offset index's help), and hands
    /// compressed ones back to the general path.
    #[test]
    fn point_reads_take_the_quick_path() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig::default().index_interval_bytes(100);
        let p = Partition::open(dir.path(), config).unwrap();
        for n in [1, 5, 20, 3, 1] {
            p.append(&vec![Record::new().key("k").value("some value"); n]).unwrap();
        }
        let active = p.inner.writer.lock().active.clone();
        assert!(active.offset_index_entries().len() > 1);
        for offset in 0..p.log_end_offset() {
            assert!(matches!(active.point_read(offset, |r| r.offset()), Ok(Ok(o)) if o == offset), "{offset}");
        }
        let end = p.log_end_offset();
        assert!(matches!(active.point_read(end, |r| r.offset()), Ok(Err(_))), "past the data");
        if !Compression::Gzip.is_enabled() {
            return;
        }
        p.set_config(LogConfig::default().compression_type(CompressionType::Codec(Compression::Gzip))).unwrap();
        p.append(&[Record::new().value("compressed")]).unwrap();
        assert!(matches!(active.point_read(end, |r| r.offset()), Ok(Err(_))), "compressed");
        assert_eq!(
            p.read_record_at(end, |r| r.value().map(<[u8]>::to_vec)).unwrap(),
            Some(Some(b"compressed".to_vec()))
        );
    }

    /// An I/O failure on a write path poisons the partition: later writes get
    /// `Poisoned` (reads still work) until it is reopened.
    #[test]
    fn an_io_failure_poisons_writes_until_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
        p.append(&[Record::new().value("before")]).unwrap();
        {
            let mut writer = p.inner.writer.lock();
            let failed: Result<()> = Err(Error::io("fsync segment log", dir.path(), std::io::Error::other("EIO")));
            assert!(p.poison_on_io(&mut writer, failed).is_err());
        }
        for result in [p.append(&[Record::new().value("after")]).map(|_| ()), p.flush(), p.roll(), p.truncate_to(0)] {
            assert!(matches!(result, Err(Error::Poisoned { .. })), "{result:?}");
        }
        assert_eq!(p.read_from(0).unwrap().count(), 1, "reads still work");
        drop(p);
        let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
        assert_eq!(p.append(&[Record::new().value("after reopen")]).unwrap().first_offset, 1);
    }
}
