//! The partition's decisions as pure functions over plain data: when to roll
//! a segment (SPEC §4.2) and which segments retention deletes (§4.4).

use crate::index::relative_offset;

/// What roll needs to know about the active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ActiveSegment {
    pub base_offset: i64,
    pub size: u64,
    /// Max timestamp of its first batch, if it has one ≥ 0.
    pub rolling_based_timestamp: Option<i64>,
    /// When it was created (or emptied by truncation), by the log's clock.
    pub created_ms: i64,
    /// Its drawn jitter, `0 ≤ jitter < min(segment.jitter.ms, segment.ms)`.
    pub jitter_ms: i64,
    pub indexes_full: bool,
}

/// What an append brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingAppend {
    pub bytes: u64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

/// Kafka's `LogSegment.shouldRoll`. `now_ms` is called only when the
/// answer depends on the clock (a non-empty segment whose first batch had
/// no timestamp, and no other reason to roll).
pub(crate) fn should_roll(
    segment: &ActiveSegment,
    append: &PendingAppend,
    segment_bytes: u64,
    roll_ms: i64,
    now_ms: impl FnOnce() -> i64,
) -> bool {
    if segment.size + append.bytes > segment_bytes
        || segment.indexes_full
        || relative_offset(segment.base_offset, append.last_offset).is_none()
    {
        return true;
    }
    if segment.size == 0 {
        return false;
    }
    let waited = match segment.rolling_based_timestamp {
        Some(ts) if ts >= 0 => append.max_timestamp.saturating_sub(ts),
        _ => now_ms().saturating_sub(segment.created_ms),
    };
    waited > roll_ms - segment.jitter_ms
}

/// Kafka's per-segment jitter: `random mod min(segment.jitter.ms, segment.ms)`.
pub(crate) fn draw_jitter(jitter_ms: i64, segment_ms: i64, random: u64) -> i64 {
    let bound = jitter_ms.min(segment_ms);
    if bound <= 0 { 0 } else { (random % bound as u64) as i64 }
}

/// What retention needs to know about each segment, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentFacts {
    pub base_offset: i64,
    pub size: u64,
    /// Max record timestamp, or the file's mtime when none.
    pub largest_timestamp: i64,
}

/// Which retention rule deleted a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionReason {
    /// Wholly below the log start offset.
    LogStartOffset,
    /// `retention.bytes`.
    Size,
    /// `retention.ms`.
    Time,
}

/// The segments to delete, as a count of the oldest ones, and the rule that
/// chose them (SPEC §4.4: log-start breach, then size, then time; each walk
/// stops at the first segment that survives). `high_watermark` is the log
/// end offset for a single-node log.
pub(crate) fn deletable_segments(
    segments: &[SegmentFacts],
    log_start_offset: i64,
    high_watermark: i64,
    retention_bytes: Option<u64>,
    retention_ms: Option<i64>,
    now_ms: i64,
) -> Option<(usize, RetentionReason)> {
    let walk = |rule: &mut dyn FnMut(usize, &SegmentFacts) -> bool| -> usize {
        let mut n = 0;
        for (i, seg) in segments.iter().enumerate() {
            let next = segments.get(i + 1);
            let upper = next.map_or(high_watermark, |n| n.base_offset);
            let ok = high_watermark >= upper && rule(i, seg);
            if ok && !(next.is_none() && seg.size == 0) {
                n += 1;
            } else {
                break;
            }
        }
        n
    };
    let by_start = walk(&mut |i, _| segments.get(i + 1).is_some_and(|next| next.base_offset <= log_start_offset));
    if by_start > 0 {
        return Some((by_start, RetentionReason::LogStartOffset));
    }
    if let Some(limit) = retention_bytes {
        let total: u64 = segments.iter().map(|s| s.size).sum();
        if total >= limit {
            let mut excess = total - limit;
            let by_size = walk(&mut |_, seg| {
                let fits = seg.size <= excess;
                if fits {
                    excess -= seg.size;
                }
                fits
            });
            if by_size > 0 {
                return Some((by_size, RetentionReason::Size));
            }
        }
    }
    if let Some(ms) = retention_ms {
        let by_time = walk(&mut |_, seg| now_ms.saturating_sub(seg.largest_timestamp) > ms);
        if by_time > 0 {
            return Some((by_time, RetentionReason::Time));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(base: i64, size: u64, ts: i64) -> SegmentFacts {
        SegmentFacts { base_offset: base, size, largest_timestamp: ts }
    }

    fn active(size: u64, first_ts: Option<i64>) -> ActiveSegment {
        ActiveSegment {
            base_offset: 0,
            size,
            rolling_based_timestamp: first_ts,
            created_ms: 1_000,
            jitter_ms: 0,
            indexes_full: false,
        }
    }

    #[test]
    fn roll_by_size_time_index_and_offset() {
        let append = PendingAppend { bytes: 100, last_offset: 10, max_timestamp: 5_000 };
        assert!(!should_roll(&active(900, None), &append, 1000, 3600, || 1_000));
        assert!(should_roll(&active(901, None), &append, 1000, 3600, || 1_000));
        // Wall clock when the first batch had no timestamp; an empty segment never rolls by time.
        assert!(!should_roll(&active(0, None), &append, 1 << 30, 3600, || 100_000));
        assert!(should_roll(&active(1, None), &append, 1 << 30, 3600, || 1_000 + 3601));
        assert!(!should_roll(&active(1, None), &append, 1 << 30, 3600, || 1_000 + 3600));
        // Record time when it had one.
        assert!(!should_roll(&active(1, Some(2_000)), &append, 1 << 30, 3600, || i64::MAX));
        assert!(should_roll(&active(1, Some(1_000)), &append, 1 << 30, 3600, || 0));
        let full = ActiveSegment { indexes_full: true, ..active(0, None) };
        assert!(should_roll(&full, &append, 1 << 30, 3600, || 0));
        let far = PendingAppend { last_offset: 1 << 31, ..append };
        assert!(should_roll(&active(0, None), &far, 1 << 30, 3600, || 0));
    }

    #[test]
    fn jitter_is_bounded() {
        assert_eq!(draw_jitter(0, 3600, 12345), 0);
        assert!(draw_jitter(1200, 3600, 12345) < 1200);
        assert!(draw_jitter(10_000, 3600, u64::MAX) < 3600);
    }

    #[test]
    fn retention_rules_in_order() {
        let segs = [seg(0, 100, 10), seg(10, 100, 20), seg(20, 100, 30), seg(30, 50, 40)];
        // Log start breach: segments wholly below offset 20.
        assert_eq!(deletable_segments(&segs, 20, 35, None, None, 0), Some((2, RetentionReason::LogStartOffset)));
        // Size: 350 total, limit 200 → excess 150 → one segment of 100.
        assert_eq!(deletable_segments(&segs, 0, 35, Some(200), None, 0), Some((1, RetentionReason::Size)));
        // Time: older than 15 ms at now = 40 → ts 10 and 20.
        assert_eq!(deletable_segments(&segs, 0, 35, None, Some(15), 40), Some((2, RetentionReason::Time)));
        // Everything, including the non-empty active segment.
        assert_eq!(deletable_segments(&segs, 0, 35, None, Some(0), 1_000), Some((4, RetentionReason::Time)));
        // An empty last segment is never deleted.
        let with_empty = [seg(0, 100, 10), seg(10, 0, -1)];
        assert_eq!(deletable_segments(&with_empty, 0, 10, None, Some(0), 1_000), Some((1, RetentionReason::Time)));
        // Data at or above the high watermark is never deleted.
        assert_eq!(deletable_segments(&segs, 0, 15, None, Some(0), 1_000), Some((1, RetentionReason::Time)));
        assert_eq!(deletable_segments(&segs, 0, 35, None, None, 0), None);
    }
}
