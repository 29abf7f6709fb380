//! The cleaner's map from key to latest offset, in fixed memory (Kafka's
//! `SkimpyOffsetMap`): open addressing over slots of a 16-byte key digest
//! and an 8-byte offset, 24 bytes each. Two keys whose digests collide are
//! taken for one key; with 128-bit digests that is not expected in the life
//! of a universe of logs.

use std::hash::{Hash, Hasher};

/// Bytes per slot: a 128-bit digest and an offset.
pub const BYTES_PER_ENTRY: usize = 24;

/// A slot: the key's digest (all zero marks an empty slot; a real digest
/// never is) and the offset. Plain integers, so that the zeroed allocation
/// comes from the allocator's zero pages and costs memory only as slots fill.
type Slot = [u64; 3];

/// Latest offset per key, for at most `capacity` keys.
#[derive(Debug)]
pub(crate) struct OffsetMap {
    /// Allocated zeroed, so pages are touched only as slots fill.
    slots: Vec<Slot>,
    entries: usize,
    /// Keys the map takes before a pass must end (slots × load factor).
    capacity: usize,
    latest_offset: i64,
}

impl OffsetMap {
    /// A map in `memory` bytes whose slots fill up to `load_factor`.
    pub fn new(memory: usize, load_factor: f64) -> Self {
        let slots = (memory / BYTES_PER_ENTRY).max(1);
        let capacity = ((slots as f64) * load_factor) as usize;
        Self { slots: vec![[0; 3]; slots], entries: 0, capacity, latest_offset: -1 }
    }

    /// Keys in the map.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the map has taken all the keys it may.
    pub fn is_full(&self) -> bool {
        self.entries >= self.capacity
    }

    /// The last offset the map has seen (put or skipped past); -1 if none.
    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// Records that the map covers the log up to `offset`.
    pub fn update_latest_offset(&mut self, offset: i64) {
        self.latest_offset = offset;
    }

    /// Bytes the map holds (its slots).
    #[cfg(test)]
    pub fn memory(&self) -> usize {
        self.slots.len() * BYTES_PER_ENTRY
    }

    /// Records `offset` as the latest for `key`.
    pub fn put(&mut self, key: &[u8], offset: i64) {
        let digest = digest(key);
        let Some(at) = self.find(&digest) else { return };
        let Some(slot) = self.slots.get_mut(at) else { return };
        if slot[..2] != digest {
            slot[..2].copy_from_slice(&digest);
            self.entries += 1;
        }
        slot[2] = offset as u64;
        self.latest_offset = offset;
    }

    /// The latest offset recorded for `key`, or -1.
    pub fn get(&self, key: &[u8]) -> i64 {
        let digest = digest(key);
        match self.find(&digest).and_then(|at| self.slots.get(at)) {
            Some(slot) if slot[..2] == digest => slot[2] as i64,
            _ => -1,
        }
    }

    /// The slot holding `digest`, or the empty slot where it would go;
    /// `None` only when every slot is taken by other keys.
    fn find(&self, digest: &[u64; 2]) -> Option<usize> {
        let n = self.slots.len();
        let start = (digest[0] % n as u64) as usize;
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&at| self.slots.get(at).is_some_and(|s| s[..2] == digest[..] || s[..2] == [0, 0]))
    }
}

/// A 128-bit digest of `key`: two SipHash-1-3 runs with distinct fixed keys
/// (the standard library's, deterministic across runs and machines).
fn digest(key: &[u8]) -> [u64; 2] {
    let mut a = std::hash::DefaultHasher::new();
    key.hash(&mut a);
    let mut b = std::hash::DefaultHasher::new();
    0x5eed_u16.hash(&mut b);
    key.hash(&mut b);
    let d = [a.finish(), b.finish()];
    if d == [0, 0] { [1, 0] } else { d }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_offset_wins_and_absent_keys_are_minus_one() {
        let mut map = OffsetMap::new(24 * 100, 0.9);
        map.put(b"a", 1);
        map.put(b"b", 2);
        map.put(b"a", 5);
        assert_eq!((map.get(b"a"), map.get(b"b"), map.get(b"c")), (5, 2, -1));
        assert_eq!(map.len(), 2);
        assert_eq!(map.latest_offset(), 5);
    }

    #[test]
    fn capacity_is_slots_times_load_factor() {
        // Kafka's testPartialSegmentClean: 2 slots at 0.75 hold one key.
        let mut map = OffsetMap::new(48, 0.75);
        assert!(!map.is_full());
        map.put(b"k", 0);
        assert!(map.is_full());
        let full = OffsetMap::new(24 * 1000, 1.0);
        assert_eq!(full.memory(), 24_000);
    }

    #[test]
    fn a_map_filled_to_every_slot_still_answers() {
        let mut map = OffsetMap::new(24 * 16, 1.0);
        for i in 0..16u32 {
            map.put(&i.to_be_bytes(), i64::from(i));
        }
        for i in 0..16u32 {
            assert_eq!(map.get(&i.to_be_bytes()), i64::from(i));
        }
        assert_eq!(map.get(b"other"), -1);
    }
}
