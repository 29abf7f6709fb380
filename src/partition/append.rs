//! The append paths: records encoded under the writer lock or built (and
//! compressed) before it, producer batches checked and re-encoded, and the
//! validation they share (sizes, timestamp bounds, null keys, offsets).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::clock::Clock;
use crate::config::{CompressionType, LogConfig};
use crate::error::{Error, RecordProblem, Result};
use crate::format::{
    AsBorrowedRecord, BatchBuilder, BorrowedRecord, Compression, Record, RecordBatch, TimestampType, encode_records,
    finish_batch,
};

use super::policy::{self, ActiveSegment, PendingAppend};
use super::{AppendResult, Partition, Writer};

/// Largest encoding buffer the writer keeps between appends.
const MAX_KEPT_SCRATCH: usize = 4 << 20;

/// What the append path needs of the [`LogConfig`], copied out of it.
#[derive(Debug, Clone, Copy)]
pub(super) struct AppendRules {
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
    pub(super) fn of(config: &LogConfig) -> Self {
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

impl Partition {
    /// Appends records as one batch; offsets are assigned from the log end
    /// offset. Records without a timestamp get the clock's time.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`Partition::close`]; [`Error::Poisoned`] after an earlier I/O
    /// failure; [`Error::EmptyBatch`] for no records; [`Error::InvalidRecord`] for a record without
    /// a key in a compacted log; [`Error::InvalidTimestamp`] for a timestamp below -1;
    /// [`Error::TimestampOutOfBounds`] for a CreateTime timestamp outside
    /// `message.timestamp.{before,after}.max.ms`; [`Error::RecordBatchTooLarge`] when the batch
    /// passes `max.message.bytes` or `segment.bytes`; [`Error::TooLarge`] when a field or the batch
    /// passes what the format can describe; [`Error::Compression`] when the log's codec fails to
    /// compress; [`Error::Io`] when writing, rolling or a `flush.messages` flush fails (the
    /// partition is then poisoned); [`Error::Internal`] on a broken internal invariant (a bug).
    /// Nothing is written when an error other than [`Error::Io`] is returned.
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
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRecord`] for a control batch, a batch whose offsets are not dense, a
    /// producer id without a base sequence, or a record without a key in a compacted log;
    /// [`Error::UnsupportedCompression`] when the batch's codec (or the log's `compression.type`)
    /// is not in this build; [`Error::Compression`] when re-encoding with the log's codec fails;
    /// [`Error::TimestampOutOfBounds`] for a CreateTime timestamp outside
    /// `message.timestamp.{before,after}.max.ms`; [`Error::RecordBatchTooLarge`] past
    /// `max.message.bytes` or `segment.bytes`; [`Error::Closed`] after [`Partition::close`];
    /// [`Error::Poisoned`] after an earlier I/O failure; [`Error::Io`] when writing fails (the
    /// partition is then poisoned); [`Error::Internal`] on a broken internal invariant (a bug).
    pub fn append_batch(&self, batch: RecordBatch) -> Result<AppendResult> {
        self.append_producer_batch(batch, Offsets::Assign)
    }

    /// Appends a batch keeping its offsets, as a Kafka follower does: for
    /// importing data whose offsets must not change. Its first offset must be
    /// at least the log end offset; gaps are allowed.
    ///
    /// # Errors
    ///
    /// As [`Partition::append_batch`], except that sparse offsets are allowed, and:
    /// [`Error::InvalidRecord`] (with [`RecordProblem::BelowLogEnd`]) when the batch's base offset
    /// is below the log end offset; [`Error::OffsetOverflow`] when its offsets would pass
    /// `i64::MAX`.
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
        // The codec to re-encode with, when the topic's differs from the producer's.
        let recompress = match config.compression_type {
            CompressionType::Codec(c) if Some(c) != h.compression() => Some(c),
            CompressionType::Codec(_) | CompressionType::Producer => None,
        };
        let mut batch = if let Some(target) = recompress {
            let mut builder = BatchBuilder::new(target)
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
            TimestampType::LogAppendTime => batch.set_max_timestamp(TimestampType::LogAppendTime, now)?,
            TimestampType::CreateTime => {
                let (before, after) = (config.message_timestamp_before_max_ms, config.message_timestamp_after_max_ms);
                check_timestamp_bounds(before, after, now, records.iter().map(|r| r.timestamp()))?;
                let max = records.iter().map(|r| r.timestamp()).max().unwrap_or(-1);
                if max != batch.max_timestamp() || batch.header().timestamp_type() != TimestampType::CreateTime {
                    batch.set_max_timestamp(TimestampType::CreateTime, max)?;
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
