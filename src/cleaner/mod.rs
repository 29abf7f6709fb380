//! Log compaction (`cleanup.policy=compact`), as Kafka's log cleaner does it
//! (SPEC §4.10): which part of a log is cleanable, the offset map of the
//! dirty part, and the rewriting of groups of segments. The partition swaps
//! the rewritten segments in (see `partition/compaction.rs`); the store runs
//! cleanings in its maintenance.
//!
//! Pure over segments: nothing here takes a partition's locks.

mod filter;
mod offset_map;

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::format::{BatchHeader, FileBatches, RecordBatch};
use crate::segment::LogSegment;
pub(crate) use filter::{Counts, Judge, LogFacts, TxnTracker};
pub use offset_map::BYTES_PER_ENTRY;
pub(crate) use offset_map::OffsetMap;

/// Kafka's `log.cleaner.dedupe.buffer.size` default: 128 MiB.
pub const DEFAULT_DEDUPE_BUFFER_SIZE: usize = 128 << 20;
/// Kafka's `log.cleaner.io.buffer.load.factor` default.
pub const DEFAULT_LOAD_FACTOR: f64 = 0.9;

/// How a cleaning runs: the offset map's memory, its load factor, the I/O
/// throttle, and (rarely) where to start.
///
/// ```
/// use topiclog::CleanerOptions;
/// let options = CleanerOptions::new().dedupe_buffer_size(4 << 20).io_max_bytes_per_second(50e6);
/// assert_eq!(options.map_capacity(), ((4 << 20) / 24) as usize * 9 / 10);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerOptions {
    dedupe_buffer_size: usize,
    load_factor: f64,
    io_max_bytes_per_second: f64,
    first_dirty_offset: Option<i64>,
}

impl Default for CleanerOptions {
    fn default() -> Self {
        Self {
            dedupe_buffer_size: DEFAULT_DEDUPE_BUFFER_SIZE,
            load_factor: DEFAULT_LOAD_FACTOR,
            io_max_bytes_per_second: f64::MAX,
            first_dirty_offset: None,
        }
    }
}

impl CleanerOptions {
    /// Kafka's defaults: a 128 MiB map filled to 0.9, no throttle.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Memory of the offset map (`log.cleaner.dedupe.buffer.size`), 24 bytes
    /// per key. Only the slots used are touched, so a large map costs little
    /// on a small log.
    #[must_use]
    pub fn dedupe_buffer_size(mut self, bytes: usize) -> Self {
        self.dedupe_buffer_size = bytes;
        self
    }

    /// The share of the map's slots filled before a pass ends early
    /// (`log.cleaner.io.buffer.load.factor`, default 0.9).
    #[must_use]
    pub fn load_factor(mut self, load_factor: f64) -> Self {
        self.load_factor = load_factor;
        self
    }

    /// Bytes per second read and written at most (`log.cleaner.io.max.bytes.per.second`).
    #[must_use]
    pub fn io_max_bytes_per_second(mut self, rate: f64) -> Self {
        self.io_max_bytes_per_second = rate;
        self
    }

    /// Starts the pass at `offset` instead of the recorded first dirty offset
    /// (it is reset to the log start when outside the log, as Kafka does).
    #[must_use]
    pub fn first_dirty_offset(mut self, offset: i64) -> Self {
        self.first_dirty_offset = Some(offset);
        self
    }

    /// Keys one pass can map.
    #[must_use]
    pub fn map_capacity(&self) -> usize {
        ((self.dedupe_buffer_size / BYTES_PER_ENTRY) as f64 * self.load_factor) as usize
    }

    pub(crate) fn start(&self) -> Option<i64> {
        self.first_dirty_offset
    }

    /// Checks the settings can make progress.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a load factor outside (0, 1], a map with
    /// room for no key, or a throttle that is not a positive rate.
    pub fn validate(&self) -> Result<()> {
        let invalid = |key: &str, value: String, reason: &str| Error::InvalidConfig {
            key: key.into(),
            value,
            reason: reason.into(),
        };
        if !(self.load_factor > 0.0 && self.load_factor <= 1.0) {
            return Err(invalid("log.cleaner.io.buffer.load.factor", self.load_factor.to_string(), "between 0 and 1"));
        }
        if self.map_capacity() == 0 {
            return Err(invalid(
                "log.cleaner.dedupe.buffer.size",
                self.dedupe_buffer_size.to_string(),
                "room for at least one key (24 bytes per key, times the load factor)",
            ));
        }
        if self.io_max_bytes_per_second.is_nan() || self.io_max_bytes_per_second <= 0.0 {
            return Err(invalid(
                "log.cleaner.io.max.bytes.per.second",
                self.io_max_bytes_per_second.to_string(),
                "a positive rate",
            ));
        }
        Ok(())
    }

    pub(crate) fn offset_map(&self) -> OffsetMap {
        OffsetMap::new(self.dedupe_buffer_size, self.load_factor)
    }

    pub(crate) fn throttle(&self) -> Throttle {
        Throttle { rate: self.io_max_bytes_per_second, started: Instant::now(), bytes: 0.0 }
    }
}

/// The clean and dirty sections of a log, as the cleaner sees them (Kafka's
/// `LogToClean`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanableRange {
    /// Where the dirty (not yet cleaned) section starts.
    pub first_dirty_offset: i64,
    /// Base of the first segment that cannot be cleaned: the active segment,
    /// or an earlier one younger than `min.compaction.lag.ms`.
    pub first_uncleanable_offset: i64,
    /// Bytes of the segments before the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of the segments from the one holding the first dirty offset up
    /// to the first uncleanable one.
    pub cleanable_bytes: u64,
    /// Dirty data is older than `max.compaction.lag.ms`: clean regardless of the ratio.
    pub needs_compaction_now: bool,
}

impl CleanableRange {
    /// `cleanable / (clean + cleanable)`; 0 for an empty log.
    #[must_use]
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.cleanable_bytes;
        if total == 0 { 0.0 } else { self.cleanable_bytes as f64 / total as f64 }
    }

    /// Whether the store's cleaner takes the log: the ratio passes
    /// `min.cleanable.dirty.ratio`, or the compaction lag forces it.
    #[must_use]
    pub fn is_due(&self, min_cleanable_dirty_ratio: f64) -> bool {
        self.clean_bytes + self.cleanable_bytes > 0
            && ((self.needs_compaction_now && self.cleanable_bytes > 0)
                || self.dirty_ratio() > min_cleanable_dirty_ratio)
    }
}

/// What the cleanable range needs of each segment, oldest first, the active last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentSummary {
    pub base_offset: i64,
    pub size: u64,
    pub largest_timestamp: i64,
    /// Max timestamp of the first batch (for `max.compaction.lag.ms`); `None` if unknown.
    pub first_batch_timestamp: Option<i64>,
}

/// The rules of [`CleanableRange`] (Kafka's `cleanableOffsets` and `calculateCleanableBytes`).
pub(crate) struct RangeInputs {
    pub log_start: i64,
    pub log_end: i64,
    pub recorded_first_dirty: Option<i64>,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub now: i64,
}

pub(crate) fn cleanable_range(segments: &[SegmentSummary], inputs: &RangeInputs) -> CleanableRange {
    let first_dirty = match inputs.recorded_first_dirty {
        Some(o) if o >= inputs.log_start && o <= inputs.log_end => o,
        _ => inputs.log_start,
    };
    let (active, sealed) = match segments.split_last() {
        Some((active, sealed)) => (active.base_offset, sealed),
        None => (inputs.log_end, &[][..]),
    };
    // Segments from the one holding `offset` (Kafka's `nonActiveLogSegmentsFrom`).
    // `at` is at most `sealed.len()` (the active segment's slot), where the iterator is empty.
    let from = |offset: i64| {
        let at = segments.partition_point(|s| s.base_offset <= offset).saturating_sub(1);
        sealed.iter().skip(at)
    };
    let mut uncleanable = inputs.log_end.min(active);
    if inputs.min_compaction_lag_ms > 0 {
        let young =
            from(first_dirty).find(|s| s.largest_timestamp > inputs.now.saturating_sub(inputs.min_compaction_lag_ms));
        if let Some(s) = young {
            uncleanable = uncleanable.min(s.base_offset);
        }
    }
    let uncleanable = uncleanable.max(first_dirty);
    let first_uncleanable = from(uncleanable).next().map_or(active, |s| s.base_offset).min(active);
    let low = first_dirty.min(first_uncleanable);
    let floor_low = sealed.iter().rev().find(|s| s.base_offset <= low).map_or(i64::MIN, |s| s.base_offset);
    let cleanable_bytes =
        sealed.iter().filter(|s| s.base_offset >= floor_low && s.base_offset < first_uncleanable).map(|s| s.size).sum();
    let clean_bytes = segments.iter().filter(|s| s.base_offset < first_dirty).map(|s| s.size).sum();
    let needs_compaction_now = inputs.max_compaction_lag_ms < i64::MAX && {
        let until = inputs.now.saturating_sub(inputs.max_compaction_lag_ms.max(0));
        from(first_dirty).filter_map(|s| s.first_batch_timestamp).filter(|&t| t > 0).min().is_some_and(|t| t < until)
    };
    CleanableRange {
        first_dirty_offset: first_dirty,
        first_uncleanable_offset: first_uncleanable,
        clean_bytes,
        cleanable_bytes,
        needs_compaction_now,
    }
}

/// What grouping needs of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupInput {
    pub base_offset: i64,
    pub size: u64,
    pub index_bytes: u64,
    pub time_index_bytes: u64,
}

/// Kafka's `groupSegmentsBySize`: runs of segments whose summed log size
/// stays within `max_size`, summed index sizes within `max_index_size`, and
/// offset span within an i32 (so one segment can index them).
pub(crate) fn group_by_size(
    segments: &[GroupInput],
    max_size: u64,
    max_index_size: u64,
    first_uncleanable: i64,
) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    while let Some(first) = segments.get(start) {
        let (mut size, mut index, mut time) = (first.size, first.index_bytes, first.time_index_bytes);
        let mut end = start + 1;
        while let Some(next) = segments.get(end) {
            // The worst case last offset of `next`: just below its successor.
            let last_offset = segments.get(end + 1).map_or(first_uncleanable, |s| s.base_offset) - 1;
            let fits = size + next.size <= max_size
                && index + next.index_bytes <= max_index_size
                && time + next.time_index_bytes <= max_index_size
                && (next.size == 0 || last_offset - first.base_offset <= i64::from(i32::MAX));
            if !fits {
                break;
            }
            size += next.size;
            index += next.index_bytes;
            time += next.time_index_bytes;
            end += 1;
        }
        groups.push(start..end);
        start = end;
    }
    groups
}

/// Limits the cleaner's I/O to a rate, by sleeping.
#[derive(Debug)]
pub(crate) struct Throttle {
    rate: f64,
    started: Instant,
    bytes: f64,
}

impl Throttle {
    pub fn account(&mut self, bytes: u64) {
        if self.rate >= f64::MAX {
            return;
        }
        self.bytes += bytes as f64;
        let due = Duration::from_secs_f64(self.bytes / self.rate);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

/// The batches of a whole segment, one at a time (a segment's batches are
/// never all held, decompressed, at once), each checked (framing, CRC,
/// records). A damaged batch is an error naming the segment and position.
pub(crate) fn segment_batches(segment: &LogSegment) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
    // `None`: the segment holds no batch, so there is nothing to iterate.
    let bytes = segment.read(segment.base_offset(), segment.size().max(1), true)?.unwrap_or_default();
    let (path, base_offset) = (segment.log_path(), segment.base_offset());
    let mut batches = FileBatches::new(bytes, 0);
    Ok(std::iter::from_fn(move || {
        // Where the batch about to be read starts: what an error is about.
        let position = batches.file_position();
        Some(batches.next()?.map_err(|e| Error::CorruptSegment {
            path: path.clone(),
            position,
            offset: base_offset,
            source: Box::new(e),
        }))
    }))
}

/// Feeds `facts` the batches of `segment` that carry a producer id. Only
/// their headers are read for the rest: most logs have none, and the map
/// and rewrite passes check every batch anyway.
pub(crate) fn observe_producers(segment: &LogSegment, facts: &mut LogFacts) -> Result<()> {
    let Some(bytes) = segment.read(segment.base_offset(), segment.size().max(1), true)? else { return Ok(()) };
    let damaged = |position: usize, e: Error| Error::CorruptSegment {
        path: segment.log_path(),
        position: position as u64,
        offset: segment.base_offset(),
        source: Box::new(e),
    };
    let mut at = 0usize;
    while let Some(rest) = bytes.get(at..).filter(|rest| !rest.is_empty()) {
        let header = BatchHeader::parse(rest).map_err(|e| damaged(at, e))?;
        let size = header.size_in_bytes().map_err(|e| damaged(at, e))? as usize;
        let end = at.checked_add(size).filter(|_| size <= rest.len()).ok_or_else(|| {
            let problem = crate::error::BatchProblem::Truncated { needed: size as u64, available: rest.len() as u64 };
            damaged(at, Error::malformed(problem))
        })?;
        if header.producer_id >= 0 {
            let batch = RecordBatch::new(bytes.slice(at..end)).map_err(|e| damaged(at, e))?;
            facts.observe(&batch)?;
        }
        at = end;
    }
    Ok(())
}

/// Builds the offset map over `dirty` (each segment with the base of the
/// next, or the first uncleanable offset for the last) from offset `start`.
/// Returns the bytes read. Ends early, part-way through a segment, when
/// the map is full: its latest offset then says how far it got.
pub(crate) fn build_offset_map(
    dirty: &[(Arc<LogSegment>, i64)],
    start: i64,
    map: &mut OffsetMap,
    txns: &mut TxnTracker,
    throttle: &mut Throttle,
) -> Result<u64> {
    let mut bytes_read = 0;
    for (segment, next_base) in dirty {
        for batch in segment_batches(segment)? {
            let batch = batch?;
            bytes_read += batch.size_in_bytes() as u64;
            throttle.account(batch.size_in_bytes() as u64);
            let h = *batch.header();
            if h.is_control() {
                txns.on_control(&batch)?;
            } else if !txns.on_batch(&batch) {
                for record in batch.record_refs()? {
                    let record = record?;
                    if let Some(key) = record.key()
                        && record.offset() >= start
                    {
                        if map.is_full() {
                            return Ok(bytes_read);
                        }
                        map.put(key, record.offset());
                    }
                }
            }
            if h.last_offset() >= start {
                map.update_latest_offset(h.last_offset());
            }
        }
        // Past a gap in offsets, the map covers the whole segment.
        map.update_latest_offset(next_base - 1);
    }
    Ok(bytes_read)
}

/// Figures of one group's rewrite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct GroupFigures {
    pub counts: Counts,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

/// Rewrites `group` into `into` (a new, empty segment named after the
/// group's first base offset), batch by batch, keeping what `judge` keeps.
pub(crate) fn clean_group(
    group: &[Arc<LogSegment>],
    into: &LogSegment,
    judge: &Judge<'_>,
    txns: &mut TxnTracker,
    throttle: &mut Throttle,
) -> Result<GroupFigures> {
    let mut figures = GroupFigures::default();
    let mut out = Vec::new();
    for segment in group {
        for batch in segment_batches(segment)? {
            let batch = batch?;
            figures.bytes_read += batch.size_in_bytes() as u64;
            out.clear();
            let counts = judge.filter(&batch, txns, &mut out)?;
            figures.counts.records_read += counts.records_read;
            figures.counts.records_kept += counts.records_kept;
            if !out.is_empty() {
                into.append(&out)?;
                figures.bytes_written += out.len() as u64;
            }
            throttle.account(batch.size_in_bytes() as u64 + out.len() as u64);
        }
    }
    Ok(figures)
}

#[cfg(test)]
mod tests;
