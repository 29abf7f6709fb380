//! Flushing (group commit), the recovery point, and writing the partition's
//! state file.

use std::sync::Arc;

use crate::error::Result;
use crate::segment::LogSegment;

use super::state::PartitionState;
use super::{Partition, Writer};

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

impl Partition {
    /// fsyncs every segment written since the last flush (log, then
    /// indexes, then the directory when files were created) and advances the
    /// recovery point to the log end offset.
    ///
    /// Concurrent flushers share their fsyncs (group commit): one at a time
    /// syncs everything appended so far, without holding up appends, and
    /// those queued behind it return at once when that covered their records.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed) after [`Partition::close`];
    /// [`Error::Poisoned`](crate::Error::Poisoned) after an earlier I/O failure;
    /// [`Error::Io`](crate::Error::Io) when an fsync or the state file write fails: the partition
    /// is then poisoned, and the recovery point stays where it was.
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
    ///
    /// # Errors
    ///
    /// As [`Partition::flush`].
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
    pub(super) fn flush_locked(&self, writer: &mut Writer, now: i64) -> Result<()> {
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

    pub(super) fn write_state(&self, writer: &mut Writer, clean_shutdown: bool) -> Result<()> {
        self.write_state_with(writer, self.log_start_offset(), clean_shutdown)
    }

    /// Writes the state with `log_start_offset` (which may not be published yet).
    pub(super) fn write_state_with(
        &self,
        writer: &mut Writer,
        log_start_offset: i64,
        clean_shutdown: bool,
    ) -> Result<()> {
        let listed = self.snapshot().slots.iter().map(|s| s.base_offset()).collect();
        self.write_state_listing(writer, log_start_offset, clean_shutdown, listed)
    }

    /// Writes the state listing segments `listed` (plus known missing ones).
    pub(super) fn write_state_listing(
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
}
