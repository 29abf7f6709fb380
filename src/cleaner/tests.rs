//! Kafka's `LogCleanerTest` and `LogCleanerManagerTest` cases that exercise
//! the cleaner's parts directly (SPEC §8 items 55 and 58).

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::format::{BatchBuilder, Compression, Record};
use crate::segment::{LogSegment, SegmentConfig};

fn keyed(offset: i64, key: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).base_offset(offset);
    b.append(&Record::new().key(key.to_string()).value(key.to_string()).timestamp(1_000)).unwrap();
    b.build().unwrap().into_bytes().to_vec()
}

fn keys_in(segment: &LogSegment) -> Vec<i64> {
    segment_batches(segment)
        .unwrap()
        .map(|b| b.unwrap())
        .flat_map(|b| b.records().unwrap().map(|r| r.unwrap()).collect::<Vec<_>>())
        .map(|r| std::str::from_utf8(r.key().unwrap()).unwrap().parse().unwrap())
        .collect()
}

/// SPEC §8 item 55 (`testCleanSegments`): four segments of records with
/// key = value = offset; a map claiming newer versions of keys 1,3,5,7,9
/// removes exactly those from the first three segments.
#[test]
fn cleaning_segments_removes_exactly_the_keys_with_newer_versions() {
    let dir = tempfile::tempdir().unwrap();
    let mut segments = Vec::new();
    let mut offset = 0;
    for s in 0..4 {
        let seg = LogSegment::create(dir.path(), offset, SegmentConfig::default()).unwrap();
        for _ in 0..5 {
            seg.append(&keyed(offset, offset)).unwrap();
            offset += 1;
        }
        if s < 3 {
            seg.seal().unwrap();
        }
        segments.push(Arc::new(seg));
    }
    let mut map = OffsetMap::new(24 * 1024, 1.0);
    for k in [1i64, 3, 5, 7, 9] {
        map.put(k.to_string().as_bytes(), i64::MAX);
    }
    let group = &segments[..3];
    let into = LogSegment::create_staged(dir.path(), 0, SegmentConfig::default()).unwrap();
    let producers = HashMap::new();
    let judge =
        Judge { map: &map, now: 0, delete_retention_ms: 0, upper_bound: group[2].next_offset(), producers: &producers };
    let figures =
        clean_group(group, &into, &judge, &mut TxnTracker::default(), &mut CleanerOptions::new().throttle()).unwrap();
    assert_eq!(keys_in(&into), [0, 2, 4, 6, 8, 10, 11, 12, 13, 14]);
    assert_eq!(figures.bytes_read, group.iter().map(|s| s.size()).sum::<u64>());
    assert_eq!((figures.counts.records_read, figures.counts.records_kept), (15, 10));
}

fn summary(base_offset: i64, size: u64) -> SegmentSummary {
    SegmentSummary { base_offset, size, largest_timestamp: 0, first_batch_timestamp: None }
}

/// SPEC §8 item 58 (`testLogToCleanWithUncleanableSection`): six segments;
/// first dirty = base of segment 2, first uncleanable = base of segment 4.
#[test]
fn clean_and_cleanable_bytes_split_at_the_dirty_and_uncleanable_offsets() {
    let segments: Vec<_> = (0..6).map(|i| summary(i * 10, 100 + i as u64)).collect();
    // A min compaction lag makes segment 4 on uncleanable: its records are young.
    let mut with_young = segments.clone();
    for s in with_young.iter_mut().skip(4) {
        s.largest_timestamp = 1_000;
    }
    let inputs = RangeInputs {
        log_start: 0,
        log_end: 55,
        recorded_first_dirty: Some(20),
        min_compaction_lag_ms: 100,
        max_compaction_lag_ms: i64::MAX,
        now: 1_050,
    };
    let range = cleanable_range(&with_young, &inputs);
    assert_eq!(range.first_dirty_offset, 20);
    assert_eq!(range.first_uncleanable_offset, 40);
    assert_eq!(range.clean_bytes, 100 + 101);
    assert_eq!(range.cleanable_bytes, 102 + 103);
    let ratio = 205.0 / (201.0 + 205.0);
    assert!((range.dirty_ratio() - ratio).abs() < 1e-9);
    assert!(!range.needs_compaction_now);
}

/// `testCleanableOffsetsActiveSegment`: with the whole log cleanable, the
/// first uncleanable offset is the active segment's base.
#[test]
fn the_active_segment_is_the_first_uncleanable() {
    let segments: Vec<_> = (0..8).map(|i| summary(i * 10, 100)).collect();
    let inputs = RangeInputs {
        log_start: 0,
        log_end: 75,
        recorded_first_dirty: Some(0),
        min_compaction_lag_ms: 0,
        max_compaction_lag_ms: i64::MAX,
        now: 0,
    };
    let range = cleanable_range(&segments, &inputs);
    assert_eq!((range.first_dirty_offset, range.first_uncleanable_offset), (0, 70));
    assert_eq!(range.cleanable_bytes, 700);
    // A recorded offset outside the log resets to its start.
    let range = cleanable_range(&segments, &RangeInputs { recorded_first_dirty: Some(99), ..inputs });
    assert_eq!(range.first_dirty_offset, 0);
}

/// `max.compaction.lag.ms`: dirty data older than the lag makes the log due
/// whatever its ratio.
#[test]
fn old_dirty_data_forces_a_cleaning() {
    let mut segments: Vec<_> = (0..3).map(|i| summary(i * 10, 100)).collect();
    segments[1].first_batch_timestamp = Some(500);
    let inputs = RangeInputs {
        log_start: 0,
        log_end: 25,
        recorded_first_dirty: Some(10),
        min_compaction_lag_ms: 0,
        max_compaction_lag_ms: 1_000,
        now: 2_000,
    };
    let range = cleanable_range(&segments, &inputs);
    assert!(range.needs_compaction_now);
    assert!(range.is_due(0.99));
    let range = cleanable_range(&segments, &RangeInputs { now: 1_400, ..inputs });
    assert!(!range.needs_compaction_now);
}

/// Kafka's `groupSegmentsBySize`: groups stop at the log size, index size
/// and offset span limits.
#[test]
fn groups_respect_size_index_and_offset_limits() {
    let seg = |base: i64, size: u64| GroupInput { base_offset: base, size, index_bytes: 8, time_index_bytes: 12 };
    let segments = [seg(0, 400), seg(10, 400), seg(20, 400), seg(30, 100)];
    assert_eq!(group_by_size(&segments, 1000, 1 << 20, 40), vec![0..2, 2..4]);
    assert_eq!(group_by_size(&segments, 1000, 16, 40), vec![0..1, 1..2, 2..3, 3..4]);
    let far = [seg(0, 1), seg(i64::from(i32::MAX), 1), seg(i64::from(i32::MAX) + 10, 1)];
    assert_eq!(group_by_size(&far, 1000, 1 << 20, i64::from(i32::MAX) + 20), vec![0..1, 1..3]);
}
