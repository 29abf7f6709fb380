//! The few Java library behaviours Kafka's assignors depend on: string
//! order, string and `TopicPartition` hash codes, and the iteration order of
//! a `java.util.HashMap`/`HashSet` (bucket by spread hash, then insertion
//! order within a bucket).

use std::cmp::Ordering;

use super::{MemberSubscription, TopicPartition};

/// `String.compareTo`: lexicographic over UTF-16 code units.
pub(super) fn str_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// `String.hashCode`.
pub(super) fn str_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)))
}

/// `TopicPartition.hashCode` (Kafka's: `31 * (31 + partition) + topic.hashCode()`).
pub(super) fn topic_partition_hash(tp: &TopicPartition) -> i32 {
    let partition = i32::try_from(tp.partition).unwrap_or(i32::MAX);
    31i32.wrapping_add(partition).wrapping_mul(31).wrapping_add(str_hash(&tp.topic))
}

/// The bucket a key with hash `h` falls in, in a table of `capacity` slots
/// (a power of two): `(h ^ (h >>> 16)) & (capacity - 1)`.
pub(super) fn bucket(h: i32, capacity: usize) -> usize {
    let h = h as u32;
    ((h ^ (h >> 16)) as usize) & capacity.saturating_sub(1)
}

/// The table size of a default-constructed `HashMap` after `len` insertions:
/// 16, doubled each time the size passes three quarters of it.
pub(super) fn capacity_for(len: usize) -> usize {
    let mut capacity = 16usize;
    while len > capacity / 4 * 3 {
        capacity = capacity.saturating_mul(2);
    }
    capacity
}

/// Indexes of `members` in the order a `HashMap<String, _>` filled with
/// their ids in slice order would iterate them.
pub(super) fn hash_map_order(members: &[&MemberSubscription]) -> Vec<usize> {
    let capacity = capacity_for(members.len());
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&i| members.get(i).map_or(0, |m| bucket(str_hash(&m.member_id), capacity)));
    order
}

/// A set of partitions that remembers the order a `java.util.HashSet` would
/// iterate them in (bins beyond eight entries, which Java turns into trees,
/// are not modelled).
#[derive(Debug)]
pub(super) struct HashSetOrder {
    entries: Vec<(TopicPartition, u64)>,
    capacity: usize,
}

impl Default for HashSetOrder {
    fn default() -> Self {
        HashSetOrder::new()
    }
}

impl HashSetOrder {
    pub(super) fn new() -> Self {
        HashSetOrder { entries: Vec::new(), capacity: 16 }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `tp`; `seq` must grow with every insertion.
    pub(super) fn insert(&mut self, tp: TopicPartition, seq: u64) {
        if self.entries.iter().any(|(e, _)| *e == tp) {
            return;
        }
        self.entries.push((tp, seq));
        if self.entries.len() > self.capacity / 4 * 3 {
            self.capacity = self.capacity.saturating_mul(2);
        }
    }

    pub(super) fn remove(&mut self, tp: &TopicPartition) {
        self.entries.retain(|(e, _)| e != tp);
    }

    /// What `iterator().next()` would return.
    pub(super) fn first(&self) -> Option<&TopicPartition> {
        self.entries
            .iter()
            .min_by_key(|(tp, seq)| (bucket(topic_partition_hash(tp), self.capacity), *seq))
            .map(|(tp, _)| tp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java() {
        // "consumer1".hashCode() etc. as computed by the JVM.
        assert_eq!(str_hash(""), 0);
        assert_eq!(str_hash("a"), 97);
        assert_eq!(str_hash("hello"), 99_162_322);
        // SPEC §7.7: consumer1, consumer2, consumer3 land in buckets 12, 11
        // and 10 of 16, so a HashMap visits them in reverse.
        assert_eq!(bucket(str_hash("consumer1"), 16), 12);
        assert_eq!(bucket(str_hash("consumer3"), 16), 10);
        let subs: Vec<MemberSubscription> =
            ["consumer1", "consumer2", "consumer3"].iter().map(|id| MemberSubscription::new(*id, ["t"])).collect();
        let refs: Vec<&MemberSubscription> = subs.iter().collect();
        assert_eq!(hash_map_order(&refs), vec![2, 1, 0]);
    }

    #[test]
    fn java_string_order_is_utf16() {
        // U+FF61 sorts after U+10000 in UTF-8 bytes but before it in UTF-16.
        assert_eq!(str_cmp("\u{10000}", "\u{ff61}"), Ordering::Less);
        assert_eq!("\u{10000}".cmp("\u{ff61}"), Ordering::Greater);
        assert_eq!(str_cmp("a", "b"), Ordering::Less);
    }

    #[test]
    fn capacities() {
        assert_eq!(capacity_for(0), 16);
        assert_eq!(capacity_for(12), 16);
        assert_eq!(capacity_for(13), 32);
        assert_eq!(capacity_for(25), 64);
    }
}
