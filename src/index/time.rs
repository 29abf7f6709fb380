//! `.timeindex`: timestamp → offset entries (int64 timestamp, int32 relative offset).

use super::file::{Entry, Index};
use crate::error::{Error, Result};
use crate::format::NO_TIMESTAMP;

/// A time-index entry: the largest timestamp in the segment up to and
/// including offset `offset` is `timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Absolute offset.
    pub offset: i64,
}

impl Entry for TimestampOffset {
    /// int64 timestamp, int32 relative offset.
    type Raw = [u8; 12];

    /// An entry of a damaged file can name an offset past `i64::MAX`: it
    /// wraps below the base offset, where the sanity check catches it.
    fn decode(raw: [u8; 12], base: i64) -> Self {
        let [t0, t1, t2, t3, t4, t5, t6, t7, r0, r1, r2, r3] = raw;
        TimestampOffset {
            timestamp: i64::from_be_bytes([t0, t1, t2, t3, t4, t5, t6, t7]),
            offset: base.wrapping_add(i64::from(u32::from_be_bytes([r0, r1, r2, r3]))),
        }
    }

    fn encode(&self, base: i64) -> [u8; 12] {
        // Entries are pushed through `push_checked`: the relative offset fits.
        let relative = (self.offset - base) as u32;
        let [t0, t1, t2, t3, t4, t5, t6, t7] = self.timestamp.to_be_bytes();
        let [r0, r1, r2, r3] = relative.to_be_bytes();
        [t0, t1, t2, t3, t4, t5, t6, t7, r0, r1, r2, r3]
    }

    fn key(&self) -> i64 {
        self.timestamp
    }

    fn offset(&self) -> i64 {
        self.offset
    }
}

/// A segment's time index (SPEC §2.3). Timestamps strictly increase; the
/// last slot is reserved for the entry written when the segment is sealed.
pub type TimeIndex = Index<TimestampOffset>;

impl Index<TimestampOffset> {
    /// Whether only the reserved last slot is left.
    pub fn is_full(&self) -> bool {
        self.len() + 1 >= self.max_entries()
    }

    /// The last entry, or `(-1, base_offset)` when empty.
    pub fn last_entry(&self) -> TimestampOffset {
        self.last().unwrap_or(TimestampOffset { timestamp: NO_TIMESTAMP, offset: self.base_offset() })
    }

    /// The entry with the largest timestamp ≤ `target`, or `(-1, base_offset)`.
    pub fn lookup(&self, target: i64) -> TimestampOffset {
        self.floor_slot(target, |e| e.timestamp)
            .and_then(|slot| self.entry(slot))
            .unwrap_or(TimestampOffset { timestamp: NO_TIMESTAMP, offset: self.base_offset() })
    }

    /// Adds `(timestamp, offset)` if `timestamp` exceeds the last entry's
    /// (an equal or missing timestamp adds nothing). `skip_full_check` lets
    /// the sealing entry use the reserved last slot.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64, skip_full_check: bool) -> Result<()> {
        if !skip_full_check && self.is_full() {
            return Err(Error::IndexFull { path: self.path().to_owned(), entries: self.len() });
        }
        let last = self.last_entry();
        let out_of_order =
            |what, value, last| Error::IndexOutOfOrder { path: self.path().to_owned(), what, value, last };
        if !self.is_empty() && offset < last.offset {
            return Err(out_of_order("offset", offset, last.offset));
        }
        if !self.is_empty() && timestamp < last.timestamp {
            return Err(out_of_order("timestamp", timestamp, last.timestamp));
        }
        if timestamp <= last.timestamp {
            return Ok(());
        }
        self.push_checked(TimestampOffset { timestamp, offset })
    }

    /// Timestamps strictly increase, offsets do not decrease, none below the base.
    pub fn sanity_check(&self) -> Result<()> {
        self.check_order("timestamp")
    }
}
