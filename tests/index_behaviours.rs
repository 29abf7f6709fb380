//! Offset and time index behaviours, ported from Kafka's OffsetIndexTest and
//! TimeIndexTest (SPEC §8, items 14-20), plus every lookup edge.

use topiclog::Error;
use topiclog::index::{OffsetIndex, OffsetPosition, TimeIndex, TimestampOffset};

fn op(offset: i64, position: u32) -> OffsetPosition {
    OffsetPosition { offset, position }
}

fn to(timestamp: i64, offset: i64) -> TimestampOffset {
    TimestampOffset { timestamp, offset }
}

#[test]
fn offset_lookup_edges_empty_before_exact_between_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut idx = OffsetIndex::open(&dir.path().join("a.index"), 45, Some(30 * 8)).unwrap();
    assert_eq!(idx.lookup(45), op(45, 0), "empty index");
    assert_eq!(idx.lookup(1000), op(45, 0), "empty index, large target");
    for i in 0..10 {
        idx.append(50 + i * 10, (i * 100) as u32 + 7).unwrap();
    }
    assert_eq!(idx.lookup(49), op(45, 0), "before the first entry");
    assert_eq!(idx.lookup(50), op(50, 7), "exact first");
    assert_eq!(idx.lookup(75), op(70, 207), "between entries");
    assert_eq!(idx.lookup(80), op(80, 307), "exact hit");
    assert_eq!(idx.lookup(10_000), op(140, 907), "after the last entry");
}

#[test]
fn offset_random_lookup_returns_the_floor_entry() {
    // randomLookupTest: a floor search over random increasing offsets.
    let dir = tempfile::tempdir().unwrap();
    let mut idx = OffsetIndex::open(&dir.path().join("r.index"), 45, Some(30 * 8)).unwrap();
    let mut offsets = Vec::new();
    let mut next = 46i64;
    let mut seed = 0x9e37_79b9u64;
    for i in 0..30 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        next += 1 + (seed >> 60) as i64;
        idx.append(next, i * 13).unwrap();
        offsets.push((next, i * 13));
    }
    for target in 40..next + 5 {
        let want = offsets.iter().rev().find(|(o, _)| *o <= target).map_or(op(45, 0), |&(o, p)| op(o, p));
        assert_eq!(idx.lookup(target), want, "target {target}");
    }
}

#[test]
fn offset_append_too_many_is_full_and_out_of_order_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut idx = OffsetIndex::open(&dir.path().join("f.index"), 0, Some(4 * 8)).unwrap();
    for i in 1..=4 {
        idx.append(i, i as u32).unwrap();
    }
    assert!(idx.is_full());
    assert!(matches!(idx.append(5, 5), Err(Error::IndexFull { entries: 4, .. })));
    assert_eq!(idx.lookup(1_000_000), op(4, 4), "lookup on a full index");
    let mut idx = OffsetIndex::open(&dir.path().join("o.index"), 0, Some(10 * 8)).unwrap();
    idx.append(51, 0).unwrap();
    assert!(matches!(idx.append(50, 1), Err(Error::IndexOutOfOrder { value: 50, last: 51, .. })));
    assert!(matches!(idx.append(51, 1), Err(Error::IndexOutOfOrder { .. })));
    assert!(matches!(idx.append(1 << 31, 1), Err(Error::OffsetOverflow { .. })));
}

#[test]
fn offset_reopen_after_trim_reads_exactly_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000045.index");
    {
        let mut idx = OffsetIndex::open(&path, 45, Some(10 * 1024 * 1024)).unwrap();
        idx.append(51, 0).unwrap();
        idx.append(52, 1).unwrap();
        idx.trim().unwrap();
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 16);
    let mut idx = OffsetIndex::open(&path, 45, None).unwrap();
    assert_eq!(idx.len(), 2);
    assert_eq!(idx.last_entry(), op(52, 1));
    assert_eq!(idx.lookup(51), op(51, 0));
    assert!(idx.is_full(), "a reopened, trimmed index is exactly full");
    assert!(matches!(idx.append(53, 2), Err(Error::IndexFull { .. })));
    idx.resize(10 * 8).unwrap();
    idx.append(53, 2).unwrap();
}

#[test]
fn offset_truncate_to() {
    let dir = tempfile::tempdir().unwrap();
    let mut idx = OffsetIndex::open(&dir.path().join("t.index"), 0, Some(100 * 8)).unwrap();
    for i in 1..10 {
        idx.append(i, i as u32).unwrap();
    }
    idx.truncate_to(12);
    assert_eq!(idx.last_entry(), op(9, 9), "truncating past the end is a no-op");
    idx.append(10, 10).unwrap();
    idx.truncate_to(10);
    assert_eq!(idx.last_entry(), op(9, 9));
    idx.append(10, 10).unwrap();
    idx.truncate_to(9);
    assert_eq!(idx.last_entry(), op(8, 8));
    idx.truncate_to(5);
    assert_eq!(idx.last_entry(), op(4, 4));
    idx.clear();
    assert_eq!(idx.len(), 0);
    idx.append(1, 1).unwrap();
    assert_eq!(idx.len(), 1);
}

#[test]
fn zero_padding_of_an_untrimmed_file_is_not_read_as_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.index");
    {
        let mut idx = OffsetIndex::open(&path, 0, Some(1024 * 8)).unwrap();
        idx.append(3, 100).unwrap();
        idx.append(7, 200).unwrap();
        idx.flush().unwrap();
        // Dropped without trim, as after a crash.
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1024 * 8);
    let idx = OffsetIndex::open(&path, 0, None).unwrap();
    assert_eq!(idx.len(), 2);
    assert_eq!(idx.lookup(100), op(7, 200));
    let ro = OffsetIndex::open_read_only(&path, 0, None).unwrap();
    assert_eq!(ro.len(), 2);
}

#[test]
fn time_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let mut idx = TimeIndex::open(&dir.path().join("l.timeindex"), 45, Some(30 * 12)).unwrap();
    assert_eq!(idx.lookup(100), to(-1, 45), "empty");
    for i in 1..10 {
        idx.maybe_append(i * 10, i * 10 + 45, false).unwrap();
    }
    assert_eq!(idx.lookup(9), to(-1, 45), "before the first entry");
    assert_eq!(idx.lookup(25), to(20, 65), "between");
    assert_eq!(idx.lookup(30), to(30, 75), "exact");
    assert_eq!(idx.lookup(1000), to(90, 135), "after the last");
}

#[test]
fn time_append_equal_timestamps_add_nothing_and_full_reserves_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    let mut idx = TimeIndex::open(&dir.path().join("f.timeindex"), 0, Some(30 * 12)).unwrap();
    assert_eq!(idx.max_entries(), 30);
    idx.maybe_append(-1, 0, false).unwrap();
    assert!(idx.is_empty(), "no timestamp, no entry");
    for i in 0..29 {
        idx.maybe_append(100 + i, i, false).unwrap();
        if i < 28 {
            idx.maybe_append(100 + i, i, false).unwrap(); // equal: ignored
        }
    }
    assert_eq!(idx.len(), 29);
    assert!(idx.is_full(), "full with the last slot still free");
    assert!(matches!(idx.maybe_append(10_000, 100, false), Err(Error::IndexFull { .. })));
    assert!(matches!(idx.maybe_append(10_000, 27, true), Err(Error::IndexOutOfOrder { what: "offset", .. })));
    idx.maybe_append(10_000, 29, true).unwrap();
    assert_eq!(idx.len(), 30);
    assert!(matches!(idx.maybe_append(50, 40, true), Err(Error::IndexOutOfOrder { what: "timestamp", .. })));
}

#[test]
fn time_truncate_to_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut idx = TimeIndex::open(&dir.path().join("t.timeindex"), 0, Some(100 * 12)).unwrap();
    for i in 1..10 {
        idx.maybe_append(i * 100, i, false).unwrap();
    }
    idx.truncate_to(5);
    assert_eq!(idx.last_entry(), to(400, 4));
    idx.truncate_to(0);
    assert!(idx.is_empty());
}

/// Found by the `index_open` fuzz target: entries sharing an offset (the
/// time index allows them) all go when truncating to that offset.
#[test]
fn time_truncate_to_removes_every_entry_of_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut idx = TimeIndex::open(&dir.path().join("t.timeindex"), 0, Some(100 * 12)).unwrap();
    idx.maybe_append(100, 1, false).unwrap();
    idx.maybe_append(200, 5, false).unwrap();
    idx.maybe_append(300, 5, false).unwrap();
    idx.maybe_append(400, 6, false).unwrap();
    assert_eq!(idx.len(), 4);
    idx.truncate_to(5);
    assert_eq!(idx.len(), 1);
    assert_eq!(idx.last_entry(), to(100, 1));
    idx.truncate_to(i64::MIN);
    assert!(idx.is_empty());
}

fn write(path: &std::path::Path, entries: &[(i64, u32)]) {
    let mut b = Vec::new();
    for &(ts, rel) in entries {
        b.extend_from_slice(&ts.to_be_bytes());
        b.extend_from_slice(&rel.to_be_bytes());
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn time_sanity_check_flags_each_kind_of_damage() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.timeindex");
    write(&p, &[(10, 1), (20, 2)]);
    TimeIndex::open(&p, 0, None).unwrap().sanity_check().unwrap();
    write(&p, &[(20, 1), (10, 2)]);
    assert!(matches!(TimeIndex::open(&p, 0, None).unwrap().sanity_check(), Err(Error::CorruptIndex { .. })));
    write(&p, &[(10, 2), (20, 1)]);
    assert!(matches!(TimeIndex::open(&p, 0, None).unwrap().sanity_check(), Err(Error::CorruptIndex { .. })));
    // Relative offsets are unsigned; an "offset below base" comes from a negative base difference.
    write(&p, &[(10, 1)]);
    assert!(TimeIndex::open(&p, 5, None).unwrap().sanity_check().is_ok());
    // A length that is not a multiple of 12: the partial entry is not an entry.
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.extend_from_slice(&[1, 2, 3]);
    std::fs::write(&p, bytes).unwrap();
    assert_eq!(TimeIndex::open_read_only(&p, 0, None).unwrap().len(), 1);
}

#[test]
fn offset_sanity_check_flags_backwards_entries() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.index");
    let mut b = Vec::new();
    for (rel, pos) in [(5u32, 10u32), (3, 20)] {
        b.extend_from_slice(&rel.to_be_bytes());
        b.extend_from_slice(&pos.to_be_bytes());
    }
    std::fs::write(&p, b).unwrap();
    assert!(matches!(OffsetIndex::open(&p, 0, None).unwrap().sanity_check(), Err(Error::CorruptIndex { .. })));
}

#[test]
fn creating_an_index_smaller_than_one_entry_fails() {
    // `segment.index.bytes` is validated to hold an entry, so only a caller
    // of the internal layer can ask for this: a broken invariant, not a default.
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(OffsetIndex::open(&dir.path().join("x.index"), 0, Some(7)), Err(Error::Internal { .. })));
}
