//! The `index_open` check, shared by the fuzz target
//! (`fuzz/fuzz_targets/index_open.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`).
//!
//! Writes arbitrary bytes as a segment's `.index` and `.timeindex` files and
//! opens them every way the library does: the public
//! [`topiclog::read_offset_index`] / [`topiclog::read_time_index`], and
//! [`OffsetIndex`] / [`TimeIndex`] read-only and read-write (memory-mapped,
//! resized to a capacity), then the sanity check. Everything is compared with
//! a model decoded here independently: entries are the file's whole entries
//! less an all-zero tail; the sanity check passes exactly when the model
//! says the entries are ordered and not below the base offset. On sane
//! files, lookups, appends, truncation, trimming and reopening are checked
//! too. Nothing may panic, and every error must be the typed one expected.
//!
//! Input layout (missing bytes read as zero):
//!
//! | bytes | meaning |
//! |---|---|
//! | 0 | bit 0 no `.index` file, bit 1 no `.timeindex` file, bits 2-4 base offset ([`BASES`]), bits 5-7 offset-index capacity ([`CAPACITIES`]) |
//! | 1 | bits 0-2 time-index capacity ([`CAPACITIES`]); bits 3-7 pick the truncation point |
//! | 2-3 | length of the `.index` part (big-endian) |
//! | 4.. | the `.index` part, then the `.timeindex` part |

use std::path::Path;

use topiclog::index::{OffsetIndex, OffsetPosition, TimeIndex, TimestampOffset, relative_offset};
use topiclog::{Error, read_offset_index, read_time_index};

/// Bytes before the file parts.
pub const HEADER_LEN: usize = 4;
/// Flag: write no `.index`.
pub const NO_INDEX: u8 = 0x01;
/// Flag: write no `.timeindex`.
pub const NO_TIME_INDEX: u8 = 0x02;
/// Segment base offsets, chosen by bits 2-4 of byte 0.
pub const BASES: [i64; 8] = [0, 1, 100, i32::MAX as i64, 1 << 32, i64::MAX - (1 << 32), i64::MAX - 1, i64::MAX];
/// Capacities the read-write open resizes to (`None`: trimmed to the
/// entries, as for a sealed segment), chosen by 3 bits.
pub const CAPACITIES: [Option<u64>; 8] =
    [None, Some(12), Some(16), Some(24), Some(25), Some(96), Some(4096), Some(65536)];

const OFFSET_SIZE: usize = 8;
const TIME_SIZE: usize = 12;

/// One decoded fuzz input.
#[derive(Debug, Clone)]
pub struct Input {
    pub base: i64,
    pub index: Option<Vec<u8>>,
    pub time_index: Option<Vec<u8>>,
    pub index_capacity: Option<u64>,
    pub time_capacity: Option<u64>,
    pub truncate_pick: u8,
}

impl Input {
    pub fn parse(data: &[u8]) -> Self {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        let rest = data.get(HEADER_LEN..).unwrap_or_default();
        let split = usize::from(u16::from_be_bytes([byte(2), byte(3)])).min(rest.len());
        let (index, time_index) = rest.split_at(split);
        Self {
            base: BASES[usize::from((byte(0) >> 2) & 7)],
            index: (byte(0) & NO_INDEX == 0).then(|| index.to_vec()),
            time_index: (byte(0) & NO_TIME_INDEX == 0).then(|| time_index.to_vec()),
            index_capacity: CAPACITIES[usize::from(byte(0) >> 5)],
            time_capacity: CAPACITIES[usize::from(byte(1) & 7)],
            truncate_pick: byte(1) >> 3,
        }
    }
}

pub fn check(data: &[u8]) {
    let input = Input::parse(data);
    let dir = tempfile::tempdir().unwrap();
    check_offset_index(dir.path(), &input);
    check_time_index(dir.path(), &input);
}

fn word4(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().unwrap())
}

/// Whole entries of `bytes`, less trailing all-zero ones.
fn whole_entries(bytes: &[u8], size: usize) -> Vec<&[u8]> {
    let mut entries: Vec<&[u8]> = bytes.chunks_exact(size).collect();
    while entries.last().is_some_and(|e| e.iter().all(|&b| b == 0)) {
        entries.pop();
    }
    entries
}

fn model_offsets(bytes: &[u8], base: i64) -> Vec<OffsetPosition> {
    whole_entries(bytes, OFFSET_SIZE)
        .into_iter()
        .map(|e| OffsetPosition { offset: base.wrapping_add(i64::from(word4(&e[0..4]))), position: word4(&e[4..8]) })
        .collect()
}

fn model_times(bytes: &[u8], base: i64) -> Vec<TimestampOffset> {
    whole_entries(bytes, TIME_SIZE)
        .into_iter()
        .map(|e| TimestampOffset {
            timestamp: i64::from_be_bytes(e[0..8].try_into().unwrap()),
            offset: base.wrapping_add(i64::from(word4(&e[8..12]))),
        })
        .collect()
}

/// What the sanity check must decide: offsets not below the base and not
/// going back, keys strictly increasing.
fn sane<E: Copy>(entries: &[E], base: i64, offset: impl Fn(&E) -> i64, key: impl Fn(&E) -> i64) -> bool {
    entries.iter().all(|e| offset(e) >= base)
        && entries.windows(2).all(|w| offset(&w[1]) >= offset(&w[0]) && key(&w[1]) > key(&w[0]))
}

/// Lookup targets: around every entry (at most 32 of them) and the extremes.
fn targets(base: i64, keys: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut t = vec![i64::MIN, -1, 0, base.saturating_sub(1), base, i64::MAX];
    for k in keys.take(32) {
        t.extend([k.saturating_sub(1), k, k.saturating_add(1)]);
    }
    t
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

fn check_offset_index(dir: &Path, input: &Input) {
    let base = input.base;
    let path = dir.join("00000000000000000000.index");
    let bytes = input.index.clone().unwrap_or_default();
    if let Some(b) = &input.index {
        std::fs::write(&path, b).unwrap();
    }
    let model = model_offsets(&bytes, base);
    let is_sane = sane(&model, base, |e| e.offset, |e| e.offset);

    // The public reader.
    let read = read_offset_index(&path, base).unwrap_or_else(|e| panic!("read_offset_index failed: {e}"));
    assert!(read.entries == model, "read_offset_index entries {:?}, model {model:?}", read.entries);
    assert!(read.file_size == bytes.len() as u64, "file size {} of {} bytes", read.file_size, bytes.len());
    let whole = bytes.len().is_multiple_of(OFFSET_SIZE);
    assert!(read.problem.is_none() == (is_sane && whole), "problem {:?}, sane {is_sane}", read.problem);

    // Read-only open: same entries, file untouched.
    let ro = OffsetIndex::open_read_only(&path, base, None).unwrap_or_else(|e| panic!("open_read_only: {e}"));
    assert!(ro.len() == model.len(), "read-only open holds {} entries, model {}", ro.len(), model.len());
    for (i, e) in model.iter().enumerate() {
        assert!(ro.entry(i) == Some(*e), "read-only entry {i}");
    }
    assert!(ro.entry(model.len()).is_none());
    match ro.sanity_check() {
        Ok(()) => assert!(is_sane, "sanity check passed entries {model:?} at base {base}"),
        Err(Error::CorruptIndex { .. }) => assert!(!is_sane, "sanity check refused sane entries {model:?}"),
        Err(e) => panic!("sanity check gave an untyped error: {e}"),
    }
    drop(ro);
    if input.index.is_some() {
        assert!(std::fs::read(&path).unwrap() == bytes, "a read-only open changed the file");
    } else {
        assert!(!path.exists(), "a read-only open created the file");
    }

    // Read-write open, resized to the capacity.
    let cap = input.index_capacity;
    let mut rw = OffsetIndex::open(&path, base, cap).unwrap_or_else(|e| panic!("open({cap:?}): {e}"));
    let slots = ((cap.unwrap_or(0) / OFFSET_SIZE as u64) as usize).max(model.len());
    assert!(rw.len() == model.len() && rw.max_entries() == slots, "{} entries of {}", rw.len(), rw.max_entries());
    assert!(file_len(&path) == (slots * OFFSET_SIZE) as u64, "file of {} bytes for {slots} slots", file_len(&path));
    for (i, e) in model.iter().enumerate() {
        assert!(rw.entry(i) == Some(*e), "read-write entry {i}");
    }
    assert!(rw.sanity_check().is_ok() == is_sane);
    let lookup_targets = targets(base, model.iter().map(|e| e.offset));
    for &t in &lookup_targets {
        // Must not panic whatever the entries; checked only when sane.
        let got = rw.lookup(t);
        let (with_next, next) = rw.lookup_with_next(t);
        assert!(with_next == got, "lookup and lookup_with_next disagree at {t}");
        if is_sane {
            let floor = model.iter().rposition(|e| e.offset <= t);
            let want = floor.map_or(OffsetPosition { offset: base, position: 0 }, |i| model[i]);
            assert!(got == want, "lookup({t}) = {got:?}, want {want:?} in {model:?}");
            let want_next = model.get(floor.map_or(0, |i| i + 1)).copied();
            assert!(next == want_next, "lookup_with_next({t}) next {next:?}, want {want_next:?}");
        }
    }
    let mut entries = model.clone();
    if is_sane {
        // An append at or below the last offset is refused.
        if let Some(last) = entries.last() {
            assert!(matches!(rw.append(last.offset, 0), Err(Error::IndexOutOfOrder { .. })), "append at last offset");
        }
        let next = entries.last().map_or(Some(base), |e| e.offset.checked_add(1));
        if let Some(next) = next {
            let position = entries.last().map_or(0, |e| e.position.wrapping_add(1));
            match rw.append(next, position) {
                Ok(()) => {
                    assert!(entries.len() < slots && relative_offset(base, next).is_some(), "append({next}) fit");
                    entries.push(OffsetPosition { offset: next, position });
                }
                Err(Error::IndexFull { .. }) => assert!(entries.len() >= slots, "IndexFull with room"),
                Err(Error::OffsetOverflow { .. }) => assert!(relative_offset(base, next).is_none()),
                Err(e) => panic!("append({next}) failed: {e}"),
            }
            assert!(rw.len() == entries.len());
            assert!(rw.is_full() == (entries.len() >= rw.max_entries()));
        }
        // Truncation keeps the entries below the offset.
        let t = pick(&lookup_targets, input.truncate_pick);
        rw.truncate_to(t);
        entries.retain(|e| e.offset < t);
        assert!(rw.len() == entries.len(), "truncate_to({t}) kept {} entries, want {}", rw.len(), entries.len());
    } else {
        rw.truncate_to(pick(&lookup_targets, input.truncate_pick));
        entries.truncate(rw.len());
    }
    rw.flush().unwrap_or_else(|e| panic!("flush: {e}"));
    rw.trim().unwrap_or_else(|e| panic!("trim: {e}"));
    let kept = rw.len();
    assert!(file_len(&path) == (kept * OFFSET_SIZE) as u64, "trimmed file of {} bytes", file_len(&path));
    let held: Vec<OffsetPosition> = (0..kept).map(|i| rw.entry(i).unwrap()).collect();
    assert!(held == entries[..kept.min(entries.len())], "entries after truncation");
    drop(rw);
    // Reopened: what was held, less any all-zero tail entry (read as padding).
    let mut want = held.clone();
    let zero = OffsetPosition { offset: base, position: 0 };
    while want.last() == Some(&zero) {
        want.pop();
    }
    let reread = read_offset_index(&path, base).unwrap_or_else(|e| panic!("reread: {e}"));
    assert!(reread.entries == want, "reopened entries {:?}, want {want:?}", reread.entries);
}

fn check_time_index(dir: &Path, input: &Input) {
    let base = input.base;
    let path = dir.join("00000000000000000000.timeindex");
    let bytes = input.time_index.clone().unwrap_or_default();
    if let Some(b) = &input.time_index {
        std::fs::write(&path, b).unwrap();
    }
    let model = model_times(&bytes, base);
    let is_sane = sane(&model, base, |e| e.offset, |e| e.timestamp);

    let read = read_time_index(&path, base).unwrap_or_else(|e| panic!("read_time_index failed: {e}"));
    assert!(read.entries == model, "read_time_index entries {:?}, model {model:?}", read.entries);
    assert!(read.file_size == bytes.len() as u64);
    let whole = bytes.len().is_multiple_of(TIME_SIZE);
    assert!(read.problem.is_none() == (is_sane && whole), "problem {:?}, sane {is_sane}", read.problem);

    let ro = TimeIndex::open_read_only(&path, base, None).unwrap_or_else(|e| panic!("open_read_only: {e}"));
    assert!(ro.len() == model.len());
    for (i, e) in model.iter().enumerate() {
        assert!(ro.entry(i) == Some(*e), "read-only entry {i}");
    }
    match ro.sanity_check() {
        Ok(()) => assert!(is_sane, "sanity check passed entries {model:?} at base {base}"),
        Err(Error::CorruptIndex { .. }) => assert!(!is_sane, "sanity check refused sane entries {model:?}"),
        Err(e) => panic!("sanity check gave an untyped error: {e}"),
    }
    drop(ro);
    if input.time_index.is_some() {
        assert!(std::fs::read(&path).unwrap() == bytes, "a read-only open changed the file");
    }

    let cap = input.time_capacity;
    let mut rw = TimeIndex::open(&path, base, cap).unwrap_or_else(|e| panic!("open({cap:?}): {e}"));
    let slots = ((cap.unwrap_or(0) / TIME_SIZE as u64) as usize).max(model.len());
    assert!(rw.len() == model.len() && rw.max_entries() == slots);
    assert!(file_len(&path) == (slots * TIME_SIZE) as u64);
    assert!(rw.sanity_check().is_ok() == is_sane);
    let lookup_targets = targets(base, model.iter().map(|e| e.timestamp));
    for &t in &lookup_targets {
        let got = rw.lookup(t);
        if is_sane {
            let want = model
                .iter()
                .rev()
                .find(|e| e.timestamp <= t)
                .copied()
                .unwrap_or(TimestampOffset { timestamp: -1, offset: base });
            assert!(got == want, "time lookup({t}) = {got:?}, want {want:?} in {model:?}");
        }
    }
    let mut entries = model.clone();
    if is_sane {
        let last = entries.last().copied().unwrap_or(TimestampOffset { timestamp: -1, offset: base });
        // An equal timestamp adds nothing; an older one is out of order.
        let full = entries.len() + 1 >= slots;
        match rw.maybe_append(last.timestamp, last.offset, false) {
            Ok(()) => assert!(!full),
            Err(Error::IndexFull { .. }) => assert!(full),
            Err(e) => panic!("maybe_append of the last entry: {e}"),
        }
        assert!(rw.len() == entries.len());
        if let (Some(ts), Some(offset)) = (last.timestamp.checked_add(1), last.offset.checked_add(1)) {
            match rw.maybe_append(ts, offset, false) {
                Ok(()) => {
                    assert!(!full && relative_offset(base, offset).is_some(), "maybe_append({ts}, {offset}) fit");
                    entries.push(TimestampOffset { timestamp: ts, offset });
                }
                Err(Error::IndexFull { .. }) => assert!(full, "IndexFull with room"),
                Err(Error::OffsetOverflow { .. }) => assert!(relative_offset(base, offset).is_none()),
                Err(e) => panic!("maybe_append({ts}, {offset}): {e}"),
            }
            assert!(rw.len() == entries.len(), "{} entries after maybe_append, want {}", rw.len(), entries.len());
        }
        let offsets = targets(base, entries.iter().map(|e| e.offset));
        let t = pick(&offsets, input.truncate_pick);
        rw.truncate_to(t);
        entries.retain(|e| e.offset < t);
        assert!(rw.len() == entries.len(), "time truncate_to({t}) kept {}, want {}", rw.len(), entries.len());
    } else {
        rw.truncate_to(pick(&lookup_targets, input.truncate_pick));
        entries.truncate(rw.len());
    }
    rw.flush().unwrap_or_else(|e| panic!("flush: {e}"));
    rw.trim().unwrap_or_else(|e| panic!("trim: {e}"));
    let kept = rw.len();
    assert!(file_len(&path) == (kept * TIME_SIZE) as u64);
    let held: Vec<TimestampOffset> = (0..kept).map(|i| rw.entry(i).unwrap()).collect();
    assert!(held == entries[..kept.min(entries.len())], "time entries after truncation");
    drop(rw);
    let mut want = held.clone();
    let zero = TimestampOffset { timestamp: 0, offset: base };
    while want.last() == Some(&zero) {
        want.pop();
    }
    let reread = read_time_index(&path, base).unwrap_or_else(|e| panic!("reread: {e}"));
    assert!(reread.entries == want, "reopened time entries {:?}, want {want:?}", reread.entries);
}

fn pick(targets: &[i64], n: u8) -> i64 {
    targets[usize::from(n) % targets.len()]
}
