//! Truncation (SPEC §4.7): cutting the log at an offset, and re-encoding
//! the records below the cut of a batch that straddles it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::format::{BatchBuilder, FileBatches, RecordBatch, TimestampType};
use crate::segment::LogSegment;

use super::slot::SegmentSlot;
use super::{Partition, SegmentList, Writer};

impl Partition {
    /// Removes every record at or above `offset` (SPEC §4.7). Below the first
    /// segment, the log restarts empty at `offset`.
    ///
    /// # Errors
    ///
    /// [`Error::OffsetOutOfRange`] for a negative offset; [`Error::TruncateInsideSparseBatch`] when
    /// `offset` falls inside a batch with offset gaps (one compaction thinned);
    /// [`Error::CorruptSegment`] when the batch holding `offset` is damaged; [`Error::Closed`]
    /// after [`Partition::close`]; [`Error::Poisoned`] after an earlier I/O failure; [`Error::Io`]
    /// when writing the state file, renaming, cutting, rewriting or syncing files fails (the
    /// partition is then poisoned).
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
    // An unknown codec cannot be re-encoded (`records` would refuse it below too).
    let codec =
        h.compression().ok_or(Error::UnsupportedCompression { position: None, codec_id: h.compression_id() })?;
    let mut builder = BatchBuilder::new(codec)
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

/// Reads every batch in `bytes`.
pub(crate) fn batches(bytes: Bytes) -> FileBatches {
    FileBatches::new(bytes, 0)
}
