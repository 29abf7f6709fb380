//! Cleaning a compacted partition: a pass over the log (see [`crate::cleaner`])
//! and the swap of each rewritten group of segments into the log.
//!
//! The swap, under the writer lock, each step durable before the next:
//! 1. the rewritten segment is complete and synced as `<base>.*.cleaned`;
//! 2. the state file lists the segments as they will be after the swap;
//! 3. `.cleaned` → `.swap` (the `.log` last);
//! 4. the replaced segments → `.deleted`;
//! 5. `.swap` → final names, and the list readers see is replaced.
//!
//! A crash before 3 leaves the old segments (the `.cleaned` files are
//! removed on open); from 3 on, open completes the swap: the `.log.swap`
//! replaces every segment from its base up to the next segment the state
//! lists. Each group is so exactly old or exactly new.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::slot::SegmentSlot;
use super::{Partition, SegmentList};
use crate::cleaner::{
    self, CleanableRange, CleanerOptions, GroupInput, Judge, LogFacts, RangeInputs, SegmentSummary, TxnTracker,
};
use crate::error::{Error, Result};
use crate::segment::{
    CLEANED_SUFFIX, LogSegment, SWAP_SUFFIX, remove_segment_files, rename_segment_suffix, rename_segment_to_deleted,
};

/// What a cleaning pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactionResult {
    /// Where the pass started.
    pub first_dirty_offset: i64,
    /// Where the next pass starts: the end of what this one mapped (below
    /// the first uncleanable offset when the offset map filled up).
    pub next_dirty_offset: i64,
    /// The first offset the pass could not clean (see [`CleanableRange`]).
    pub first_uncleanable_offset: i64,
    /// Bytes read, building the offset map and rewriting.
    pub bytes_read: u64,
    /// Bytes of the rewritten segments.
    pub bytes_written: u64,
    /// Records rewritten segments held before and after.
    pub records_read: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Segments replaced, and rewritten segments that replaced them.
    pub segments_replaced: usize,
    /// Rewritten segments swapped in.
    pub segments_written: usize,
    /// Keys in the offset map.
    pub map_keys: usize,
    /// Groups left as they were because the log changed under them
    /// (retention, truncation); the next pass takes them again.
    pub groups_skipped: usize,
}

impl Partition {
    /// Cleans whatever is cleanable now, regardless of
    /// `min.cleanable.dirty.ratio`, with Kafka's default cleaner settings.
    ///
    /// ```
    /// use topiclog::CleanupPolicy;
    /// use topiclog::{LogConfig, Partition, Record};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::new().cleanup_policy(CleanupPolicy::Compact))?;
    /// log.append(&[Record::new().key("k").value("old")])?;
    /// log.append(&[Record::new().key("k").value("new")])?;
    /// log.roll()?; // the active segment is never cleaned
    /// let done = log.compact()?;
    /// assert_eq!((done.records_read, done.records_kept), (2, 1));
    /// let left: Vec<_> = log.read_from(0)?.map(|r| r.map(|r| r.offset())).collect::<Result<_, _>>()?;
    /// assert_eq!(left, [1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Partition::compact_with`].
    pub fn compact(&self) -> Result<CompactionResult> {
        self.compact_with(&CleanerOptions::default())
    }

    /// Cleans whatever is cleanable now with `options` (map size, throttle).
    /// Readers and appends go on meanwhile; a reader inside a replaced
    /// segment finishes it. The log is flushed first: only durable data is
    /// cleaned.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `cleanup.policy` does not compact or
    /// `options` are invalid; [`Error::CorruptSegment`] for a damaged batch in
    /// a segment to clean (nothing is replaced); [`Error::MalformedBatch`] for
    /// a control record whose key lacks its version and type; [`Error::Closed`],
    /// [`Error::Poisoned`]; [`Error::Io`] (a failure during a swap poisons
    /// the partition: reopening completes or undoes the swap);
    /// [`Error::Internal`] on a broken internal invariant (a bug).
    pub fn compact_with(&self, options: &CleanerOptions) -> Result<CompactionResult> {
        options.validate()?;
        let config = self.config();
        if !config.cleanup_policy.compacts() {
            return Err(Error::InvalidConfig {
                key: "cleanup.policy".into(),
                value: config.cleanup_policy.to_string(),
                reason: "the log is not compacted".into(),
            });
        }
        let _cleaning = self.inner.cleaning.lock();
        self.flush()?;
        let now = self.inner.clock.now_ms();
        let range = self.cleanable_range_from(options.start(), now)?;
        let mut result = CompactionResult {
            first_dirty_offset: range.first_dirty_offset,
            next_dirty_offset: range.first_dirty_offset,
            first_uncleanable_offset: range.first_uncleanable_offset,
            ..CompactionResult::default()
        };
        let truncations = self.inner.writer.lock().truncations;
        let list = self.snapshot();
        let Some((_, sealed)) = list.slots.split_last() else { return Ok(result) };
        // Only flushed data is cleaned: appends may have rolled segments
        // since the flush above, so stop at the segment holding the recovery point.
        let flushed_to = list.slots.get(list.floor(self.recovery_point())).map_or(0, |s| s.base_offset());
        let (start, uncleanable) =
            (range.first_dirty_offset, range.first_uncleanable_offset.min(flushed_to.max(range.first_dirty_offset)));
        result.first_uncleanable_offset = uncleanable;
        if start >= uncleanable {
            self.record_first_dirty(range.first_dirty_offset)?;
            return Ok(result);
        }

        // Transactions and producers of the whole cleanable log.
        let mut facts = LogFacts::default();
        let mut segments = Vec::new();
        for slot in sealed.iter().take_while(|s| s.base_offset() < uncleanable) {
            let segment = slot.get()?;
            cleaner::observe_producers(&segment, &mut facts)?;
            segments.push((slot.clone(), segment));
        }
        // Later producer batches decide which batch keeps each producer's state.
        for slot in list.slots.iter().skip(segments.len()) {
            cleaner::observe_producers(&*slot.get()?, &mut facts)?;
        }

        let mut map = options.offset_map();
        let mut throttle = options.throttle();
        let first_dirty_at = segments.partition_point(|(s, _)| s.base_offset() <= start).saturating_sub(1);
        let dirty: Vec<(Arc<LogSegment>, i64)> = segments
            .iter()
            .enumerate()
            .skip(first_dirty_at)
            .map(|(i, (_, seg))| (seg.clone(), segments.get(i + 1).map_or(uncleanable, |(s, _)| s.base_offset())))
            .collect();
        let mut txns = TxnTracker::new(facts.aborted.clone());
        result.bytes_read += cleaner::build_offset_map(&dirty, start, &mut map, &mut txns, &mut throttle)?;
        let end = map.latest_offset() + 1;
        result.map_keys = map.len();

        let to_clean: Vec<_> = segments.iter().filter(|(s, _)| s.base_offset() < end).collect();
        let inputs: Vec<GroupInput> = to_clean
            .iter()
            .map(|(s, seg)| {
                let (index_bytes, time_index_bytes) = seg.index_bytes();
                GroupInput { base_offset: s.base_offset(), size: seg.size(), index_bytes, time_index_bytes }
            })
            .collect();
        let groups = cleaner::group_by_size(
            &inputs,
            config.segment_bytes as u64,
            config.segment_index_bytes as u64,
            uncleanable,
        );
        let judge = Judge {
            map: &map,
            now,
            delete_retention_ms: config.delete_retention_ms,
            upper_bound: uncleanable,
            producers: &facts.producers,
        };
        let mut txns = TxnTracker::new(facts.aborted);
        for group in groups {
            // `group_by_size` returns ranges over `inputs`, one input per `to_clean` entry.
            let members: Vec<_> = to_clean
                .get(group)
                .ok_or(Error::Internal { invariant: "a cleaning group is a range of the segments to clean" })?
                .to_vec();
            let Some(((first_slot, _), (_, last_segment))) = members.first().zip(members.last()) else { continue };
            let base = first_slot.base_offset();
            let staged = LogSegment::create_staged(&self.inner.dir, base, config.segment_config())?;
            let written = (|| {
                let sources: Vec<Arc<LogSegment>> = members.iter().map(|(_, seg)| seg.clone()).collect();
                let figures = cleaner::clean_group(&sources, &staged, &judge, &mut txns, &mut throttle)?;
                staged.seal()?;
                staged.flush()?;
                staged.set_modified(last_segment.modified()?)?;
                Ok(figures)
            })();
            drop(staged);
            let figures = match written {
                Ok(f) => f,
                Err(e) => {
                    remove_segment_files(&self.inner.dir, base, CLEANED_SUFFIX)?;
                    return Err(e);
                }
            };
            let slots: Vec<Arc<SegmentSlot>> = members.iter().map(|(s, _)| (*s).clone()).collect();
            if self.swap_in(&slots, truncations, now)? {
                result.bytes_read += figures.bytes_read;
                result.bytes_written += figures.bytes_written;
                result.records_read += figures.counts.records_read;
                result.records_kept += figures.counts.records_kept;
                result.segments_replaced += slots.len();
                result.segments_written += 1;
            } else {
                result.groups_skipped += 1;
            }
        }
        result.next_dirty_offset = if result.groups_skipped == 0 { end } else { start };
        self.record_first_dirty(result.next_dirty_offset)?;
        log::info!(
            "cleaned {}: offsets {}..{}, {} of {} records kept, {} -> {} bytes",
            self.inner.dir.display(),
            result.first_dirty_offset,
            result.next_dirty_offset,
            result.records_kept,
            result.records_read,
            result.bytes_read,
            result.bytes_written
        );
        Ok(result)
    }

    /// The log's clean and dirty sections now (what the store's cleaner
    /// weighs against `min.cleanable.dirty.ratio`).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; [`Error::Io`] when a segment's figures cannot be read.
    pub fn cleanable_range(&self) -> Result<CleanableRange> {
        self.cleanable_range_from(None, self.inner.clock.now_ms())
    }

    /// The offset where the next cleaning starts (the log start if never cleaned).
    #[must_use]
    pub fn first_dirty_offset(&self) -> i64 {
        let recorded = self.inner.writer.lock().first_dirty_offset;
        match recorded {
            Some(o) if o >= self.log_start_offset() && o <= self.log_end_offset() => o,
            _ => self.log_start_offset(),
        }
    }

    /// The first dirty offset as recorded (for the store's checkpoint).
    pub(crate) fn recorded_first_dirty_offset(&self) -> Option<i64> {
        self.inner.writer.lock().first_dirty_offset
    }

    fn cleanable_range_from(&self, start: Option<i64>, now: i64) -> Result<CleanableRange> {
        self.check_open()?;
        let config = self.config();
        let list = self.snapshot();
        let mut summaries = Vec::with_capacity(list.slots.len());
        let wants_first_batch = config.max_compaction_lag_ms < i64::MAX;
        for slot in &list.slots {
            let figures = slot.figures()?;
            let first_batch_timestamp = if wants_first_batch { slot.get()?.rolling_based_timestamp() } else { None };
            summaries.push(SegmentSummary {
                base_offset: slot.base_offset(),
                size: figures.size,
                largest_timestamp: figures.largest_timestamp,
                first_batch_timestamp,
            });
        }
        let inputs = RangeInputs {
            log_start: self.log_start_offset(),
            log_end: self.log_end_offset(),
            recorded_first_dirty: start.or(self.inner.writer.lock().first_dirty_offset),
            min_compaction_lag_ms: config.min_compaction_lag_ms,
            max_compaction_lag_ms: config.max_compaction_lag_ms,
            now,
        };
        Ok(cleaner::cleanable_range(&summaries, &inputs))
    }

    fn record_first_dirty(&self, offset: i64) -> Result<()> {
        let mut writer = self.inner.writer.lock();
        self.check_writable(&writer)?;
        if writer.first_dirty_offset == Some(offset) {
            return Ok(());
        }
        writer.first_dirty_offset = Some(offset);
        let written = self.write_state(&mut writer, false);
        self.poison_on_io(&mut writer, written)
    }

    /// Swaps the cleaned segment staged at the group's first base in for the
    /// segments `group`. `false` (and the staged files removed) when the log
    /// changed under the cleaning: a group member is gone, or a truncation ran.
    fn swap_in(&self, group: &[Arc<SegmentSlot>], truncations: u64, now: i64) -> Result<bool> {
        let dir = &self.inner.dir;
        let Some(base) = group.first().map(|s| s.base_offset()) else { return Ok(false) };
        let mut writer = self.inner.writer.lock();
        let list = self.snapshot();
        let at = list.slots.iter().position(|s| group.first().is_some_and(|g| Arc::ptr_eq(s, g)));
        // The slots before and after the group, when the group is still in
        // the list, whole and in order, and is not the last (active) segment.
        let around = at.and_then(|at| {
            let (before, rest) = list.slots.split_at_checked(at)?;
            let (members, after) = rest.split_at_checked(group.len())?;
            let same = members.iter().zip(group).all(|(a, b)| Arc::ptr_eq(a, b));
            (same && !after.is_empty()).then_some((before, after))
        });
        let (Some((before, after)), true) = (around, writer.truncations == truncations && writer.poisoned.is_none())
        else {
            drop(writer);
            remove_segment_files(dir, base, CLEANED_SUFFIX)?;
            return Ok(false);
        };
        if self.inner.closed.load(Ordering::Acquire) {
            drop(writer);
            remove_segment_files(dir, base, CLEANED_SUFFIX)?;
            return Err(Error::Closed { dir: dir.clone() });
        }
        let config = self.config();
        let replacement = Arc::new(SegmentSlot::lazy(dir.clone(), base, config.segment_config(), false));
        let mut slots: Vec<Arc<SegmentSlot>> = before.to_vec();
        slots.push(replacement);
        slots.extend(after.iter().cloned());
        let swapped = (|| {
            let listed = slots.iter().map(|s| s.base_offset()).collect();
            self.write_state_listing(&mut writer, self.log_start_offset(), false, listed)?;
            rename_segment_suffix(dir, base, CLEANED_SUFFIX, SWAP_SUFFIX)?;
            crate::fsutil::sync_dir(dir)?;
            let mut deleted = Vec::new();
            for slot in group {
                deleted.extend(rename_segment_to_deleted(dir, slot.base_offset())?);
            }
            crate::fsutil::sync_dir(dir)?;
            rename_segment_suffix(dir, base, SWAP_SUFFIX, "")?;
            crate::fsutil::sync_dir(dir)?;
            Ok(deleted)
        })();
        let deleted = self.poison_on_io(&mut writer, swapped)?;
        *self.inner.segments.write() = Arc::new(SegmentList { slots });
        writer.pending_deletes.push((now.saturating_add(config.file_delete_delay_ms), deleted));
        Ok(true)
    }
}
