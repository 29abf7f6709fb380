//! Choosing a partition for a record as Kafka's producer does (SPEC §6):
//! an explicit partition; else the key's murmur2 hash; else a keyless
//! strategy, sticky (Kafka ≥ 2.4) or round-robin.

/// Kafka's murmur2 (`Utils.murmur2`): 32-bit MurmurHash2 with Kafka's seed,
/// little-endian words.
#[must_use]
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ (data.len() as u32);
    let (words, tail) = data.as_chunks::<4>();
    for &word in words {
        let mut k = u32::from_le_bytes(word);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    if let Some(&b) = tail.get(2) {
        h ^= u32::from(b) << 16;
    }
    if let Some(&b) = tail.get(1) {
        h ^= u32::from(b) << 8;
    }
    if let Some(&b) = tail.first() {
        h ^= u32::from(b);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `toPositive`: clears the sign bit (not `abs`).
pub fn to_positive(x: i32) -> i32 {
    x & 0x7fff_ffff
}

/// The partition Kafka's default partitioner picks for `key` among `partitions`.
#[must_use]
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    (to_positive(murmur2(key)) as u32) % partitions.max(1)
}

/// How records without a key are spread over partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeylessStrategy {
    /// Stay on one partition until `batch_bytes` bytes went to it, then move
    /// to another chosen at random (Kafka ≥ 3.3's built-in partitioner, with
    /// its `batch.size` default of 16384 bytes).
    Sticky {
        /// Bytes to send to a partition before moving on.
        batch_bytes: u64,
    },
    /// Each record to the next partition in turn.
    RoundRobin,
}

impl Default for KeylessStrategy {
    fn default() -> Self {
        KeylessStrategy::Sticky { batch_bytes: 16_384 }
    }
}

/// The state of a keyless strategy for one topic.
#[derive(Debug, Clone)]
pub(crate) struct Partitioner {
    strategy: KeylessStrategy,
    current: Option<u32>,
    bytes_on_current: u64,
    counter: u32,
    random: u64,
}

impl Partitioner {
    pub fn new(strategy: KeylessStrategy, seed: u64) -> Self {
        Self { strategy, current: None, bytes_on_current: 0, counter: 0, random: seed | 1 }
    }

    pub fn set_strategy(&mut self, strategy: KeylessStrategy) {
        self.strategy = strategy;
    }

    fn next_random(&mut self) -> u64 {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random
    }

    /// The partition for a keyless record of `size` bytes.
    pub fn keyless(&mut self, partitions: u32, size: u64) -> u32 {
        let partitions = partitions.max(1);
        match self.strategy {
            KeylessStrategy::RoundRobin => {
                let p = (to_positive(self.counter as i32) as u32) % partitions;
                self.counter = self.counter.wrapping_add(1);
                p
            }
            KeylessStrategy::Sticky { batch_bytes } => {
                let current = match self.current {
                    Some(p) if p < partitions && self.bytes_on_current < batch_bytes => p,
                    previous => {
                        // A different partition than the last one, when there is a choice.
                        let mut p = (self.next_random() % u64::from(partitions)) as u32;
                        if partitions > 1 && previous == Some(p) {
                            p = (p + 1 + (self.next_random() % u64::from(partitions - 1)) as u32) % partitions;
                        }
                        self.current = Some(p);
                        self.bytes_on_current = 0;
                        p
                    }
                };
                self.bytes_on_current += size;
                current
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_murmur2_vectors() {
        // UtilsTest.testMurmur2 (SPEC §6.3) plus the extra vectors there.
        let cases: &[(&[u8], i32, u32)] = &[
            (b"21", -973_932_308, 0),
            (b"foobar", -790_332_482, 0),
            (b"a-little-bit-long-string", -985_981_536, 2),
            (b"a-little-bit-longer-string", -1_486_304_829, 2),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971, 2),
            (b"abc", 479_470_107, 0),
            (b"", 275_646_681, 0),
            (b"k", -1_567_496_736, 2),
            (b"key", -1_079_937_367, 1),
            (b"key1", 28_543_940, 2),
            (b"hello", 2_132_663_229, 0),
        ];
        for &(key, hash, partition) in cases {
            assert_eq!(murmur2(key), hash, "{key:?}");
            assert_eq!(partition_for_key(key, 3), partition, "{key:?}");
        }
        assert_eq!(to_positive(-973_932_308), 1_173_551_340);
    }

    #[test]
    fn sticky_stays_then_moves_to_another_partition() {
        let mut p = Partitioner::new(KeylessStrategy::Sticky { batch_bytes: 100 }, 42);
        let first = p.keyless(4, 60);
        assert_eq!(p.keyless(4, 60), first, "stays until 100 bytes went there");
        let next = p.keyless(4, 10);
        assert_ne!(next, first, "then moves to a different partition");
        let mut single = Partitioner::new(KeylessStrategy::default(), 7);
        assert!((0..100).all(|_| single.keyless(1, 1000) == 0));
    }

    #[test]
    fn round_robin_cycles() {
        let mut p = Partitioner::new(KeylessStrategy::RoundRobin, 1);
        let seq: Vec<u32> = (0..7).map(|_| p.keyless(3, 1)).collect();
        assert_eq!(seq, vec![0, 1, 2, 0, 1, 2, 0]);
    }
}
