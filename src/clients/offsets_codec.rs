//! The records of `__consumer_offsets` in Kafka's own schemas
//! (`OffsetCommitKey` and `OffsetCommitValue` of Kafka's group coordinator):
//! a committed offset is a record keyed by (group, topic, partition), and a
//! null value deletes it. Keys are written at version 1 and values at
//! version 3, as Kafka's coordinator writes them.
//!
//! Key v0/v1: int16 version, string group, string topic, int32 partition.
//! Value v3: int16 version, int64 offset, int32 leader epoch, string
//! metadata, int64 commit timestamp. Strings are an int16 length and UTF-8.

use crate::error::{Error, Result};

/// The key version written.
pub const KEY_VERSION: i16 = 1;
/// The value version written.
pub const VALUE_VERSION: i16 = 3;

/// The key of a committed offset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OffsetKey {
    pub group: String,
    pub topic: String,
    pub partition: u32,
}

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

fn put_string(out: &mut Vec<u8>, s: &str) -> Result<()> {
    let len = i16::try_from(s.len()).map_err(|_| Error::InvalidConfig {
        key: "group.id".into(),
        value: s.chars().take(40).collect(),
        reason: format!("{} bytes; Kafka's offset records hold strings of at most 32767 bytes", s.len()),
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

impl OffsetKey {
    /// The key's bytes, version 1.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(8 + self.group.len() + self.topic.len());
        out.extend_from_slice(&KEY_VERSION.to_be_bytes());
        put_string(&mut out, &self.group)?;
        put_string(&mut out, &self.topic)?;
        out.extend_from_slice(&(self.partition as i32).to_be_bytes());
        Ok(out)
    }

    /// Decodes a key; `None` for a record that is not an offset commit
    /// (Kafka keeps group metadata, key version 2, in the same topic).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        let version = r.i16()?;
        if !(0..=1).contains(&version) {
            return None;
        }
        let group = r.string()?;
        let topic = r.string()?;
        let partition = u32::try_from(r.i32()?).ok()?;
        Some(Self { group, topic, partition })
    }
}

impl OffsetValue {
    /// The value's bytes, version 3.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(24 + self.metadata.len());
        out.extend_from_slice(&VALUE_VERSION.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.leader_epoch.to_be_bytes());
        put_string(&mut out, &self.metadata)?;
        out.extend_from_slice(&self.commit_timestamp.to_be_bytes());
        Ok(out)
    }

    /// Decodes a value of versions 0 to 3 (4 adds tagged fields, ignored).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        let version = r.i16()?;
        let offset = r.i64()?;
        let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
        let metadata = if version >= 4 { r.compact_string()? } else { r.string()? };
        let commit_timestamp = r.i64()?;
        Some(Self { offset, leader_epoch, metadata, commit_timestamp })
    }
}

/// Java's `String.hashCode` (over UTF-16 code units).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)))
}

/// The `__consumer_offsets` partition of `group`:
/// `Utils.abs(hashCode(group)) % partitions`, where Kafka's `abs` maps
/// `i32::MIN` to 0.
pub fn partition_for_group(group: &str, partitions: u32) -> u32 {
    let hash = java_string_hash(group);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    (abs as u32) % partitions.max(1)
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take::<2>().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take::<4>().map(i32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take::<8>().map(i64::from_be_bytes)
    }
    fn bytes(&mut self, len: usize) -> Option<String> {
        let s = self.0.get(..len)?;
        self.0 = self.0.get(len..)?;
        String::from_utf8(s.to_vec()).ok()
    }
    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.i16()?).ok()?;
        self.bytes(len)
    }
    /// A flexible version's string: unsigned varint length + 1.
    fn compact_string(&mut self) -> Option<String> {
        let mut len = 0usize;
        for shift in (0..35).step_by(7) {
            let [b] = self.take::<1>()?;
            len |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return self.bytes(len.checked_sub(1)?);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_and_placement_match_kafka() {
        // Values from Java: "".hashCode() == 0, "a" == 97, "group" == 98629247.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("group"), 98_629_247);
        assert_eq!(partition_for_group("group", 50), 98_629_247 % 50);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE: abs maps it to 0.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for_group("polygenelubricants", 50), 0);
    }

    #[test]
    fn keys_and_values_round_trip() {
        let key = OffsetKey { group: "g".into(), topic: "orders".into(), partition: 3 };
        let bytes = key.encode().unwrap();
        assert_eq!(bytes, [0, 1, 0, 1, b'g', 0, 6, b'o', b'r', b'd', b'e', b'r', b's', 0, 0, 0, 3]);
        assert_eq!(OffsetKey::decode(&bytes), Some(key));
        let value = OffsetValue { offset: 42, leader_epoch: -1, metadata: String::new(), commit_timestamp: 7 };
        let bytes = value.encode().unwrap();
        assert_eq!(bytes.len(), 2 + 8 + 4 + 2 + 8);
        assert_eq!(OffsetValue::decode(&bytes), Some(value));
        // Group metadata (key version 2) is not an offset commit.
        assert_eq!(OffsetKey::decode(&[0, 2, 0, 1, b'g']), None);
    }
}
