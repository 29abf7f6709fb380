//! Retention (SPEC §4.4), delete-records, and removing `.deleted` files
//! once their delay has passed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::config::LogConfig;
use crate::error::{Error, Result};

use super::policy::{self, SegmentFacts};
use super::{Partition, RetentionResult, SegmentList, Writer};

impl Partition {
    /// Advances the log start offset to `offset` (-1 means the log end):
    /// records below it can no longer be read, and retention deletes segments
    /// wholly below it. Durable when it returns. Returns the new log start.
    ///
    /// # Errors
    ///
    /// [`Error::PolicyViolation`] when `cleanup.policy` does not include `delete`;
    /// [`Error::OffsetOutOfRange`] for an offset below 0 (other than -1) or past the log end
    /// offset; [`Error::Closed`] after [`Partition::close`]; [`Error::Poisoned`] after an earlier
    /// I/O failure; [`Error::Io`] when the flush or the state file write fails: the partition is
    /// then poisoned and the log start offset is unchanged.
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
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`Partition::close`]; [`Error::Poisoned`] after an earlier I/O
    /// failure; [`Error::Io`] when reading a sealed segment's size, rolling, writing the state
    /// file, renaming a segment's files to `.deleted` or removing expired files fails (a failed
    /// roll, state write or rename poisons the partition).
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
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when removing a file fails (files already gone are no error); the remaining
    /// due files are tried again by the next call.
    pub fn delete_expired_files(&self) -> Result<()> {
        let mut writer = self.inner.writer.lock();
        let now = self.inner.clock.now_ms();
        self.delete_expired_files_locked(&mut writer, now)
    }

    pub(super) fn delete_expired_files_locked(&self, writer: &mut Writer, now: i64) -> Result<()> {
        let (due, later): (Vec<_>, Vec<_>) = writer.pending_deletes.drain(..).partition(|(at, _)| *at <= now);
        writer.pending_deletes = later;
        for (_, paths) in due {
            for path in paths {
                crate::fsutil::remove_file_if_present(&path)?;
            }
        }
        Ok(())
    }
}
