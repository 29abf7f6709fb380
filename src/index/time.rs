//! `.timeindex`: timestamp → offset entries (int64 timestamp, int32 relative offset).

use std::path::Path;

use super::core::{Entry, IndexFile};
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
    const SIZE: usize = 12;

    fn decode(bytes: &[u8], base: i64) -> Self {
        let ts = bytes.get(0..8).and_then(|b| <[u8; 8]>::try_from(b).ok()).unwrap_or_default();
        let rel = bytes.get(8..12).and_then(|b| <[u8; 4]>::try_from(b).ok()).unwrap_or_default();
        TimestampOffset { timestamp: i64::from_be_bytes(ts), offset: base + i64::from(u32::from_be_bytes(rel)) }
    }

    fn encode(&self, base: i64, out: &mut [u8]) {
        // `TimeIndex::maybe_append` checked that the relative offset fits.
        let relative = (self.offset - base) as u32;
        if let Some(dst) = out.get_mut(0..8) {
            dst.copy_from_slice(&self.timestamp.to_be_bytes());
        }
        if let Some(dst) = out.get_mut(8..12) {
            dst.copy_from_slice(&relative.to_be_bytes());
        }
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
#[derive(Debug)]
pub struct TimeIndex {
    file: IndexFile<TimestampOffset>,
    base_offset: i64,
}

impl TimeIndex {
    /// Opens or creates the index at `path`: preallocated to `capacity`
    /// bytes when given (an appendable index), else trimmed to its entries.
    pub fn open(path: &Path, base_offset: i64, capacity: Option<u64>) -> Result<Self> {
        Ok(Self { file: IndexFile::open_writable(path, base_offset, capacity)?, base_offset })
    }

    /// Reads the index at `path` into memory without ever writing it; with
    /// `capacity` set, entries up to that size can be added in memory.
    pub fn open_read_only(path: &Path, base_offset: i64, capacity: Option<u64>) -> Result<Self> {
        Ok(Self { file: IndexFile::open_read_only(path, base_offset, capacity)?, base_offset })
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.file.len()
    }

    /// Whether the index holds no entry.
    pub fn is_empty(&self) -> bool {
        self.file.len() == 0
    }

    /// Slots available in total.
    pub fn max_entries(&self) -> usize {
        self.file.max_entries()
    }

    /// Whether only the reserved last slot is left.
    pub fn is_full(&self) -> bool {
        self.file.len() + 1 >= self.file.max_entries()
    }

    /// Entry `i`.
    pub fn entry(&self, i: usize) -> Option<TimestampOffset> {
        self.file.get(i)
    }

    /// The last entry, or `(-1, base_offset)` when empty.
    pub fn last_entry(&self) -> TimestampOffset {
        self.file.last().unwrap_or(TimestampOffset { timestamp: NO_TIMESTAMP, offset: self.base_offset })
    }

    /// The entry with the largest timestamp ≤ `target`, or `(-1, base_offset)`.
    pub fn lookup(&self, target: i64) -> TimestampOffset {
        self.file
            .floor_slot(target, |e| e.timestamp)
            .and_then(|slot| self.file.get(slot))
            .unwrap_or(TimestampOffset { timestamp: NO_TIMESTAMP, offset: self.base_offset })
    }

    /// Adds `(timestamp, offset)` if `timestamp` exceeds the last entry's
    /// (an equal or missing timestamp adds nothing). `skip_full_check` lets
    /// the sealing entry use the reserved last slot.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64, skip_full_check: bool) -> Result<()> {
        if !skip_full_check && self.is_full() {
            return Err(Error::IndexFull { path: self.path().to_owned(), entries: self.len() });
        }
        let last = self.last_entry();
        if !self.is_empty() && offset < last.offset {
            return Err(Error::IndexOutOfOrder {
                path: self.path().to_owned(),
                what: "offset",
                value: offset,
                last: last.offset,
            });
        }
        if !self.is_empty() && timestamp < last.timestamp {
            return Err(Error::IndexOutOfOrder {
                path: self.path().to_owned(),
                what: "timestamp",
                value: timestamp,
                last: last.timestamp,
            });
        }
        if timestamp <= last.timestamp {
            return Ok(());
        }
        if super::relative_offset(self.base_offset, offset).is_none() {
            return Err(Error::OffsetOverflow { base_offset: self.base_offset, offset });
        }
        self.file.push(TimestampOffset { timestamp, offset })
    }

    /// Removes entries with offset ≥ `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        self.file.truncate_to_offset(offset);
    }

    /// Sets the capacity (rounded down to whole entries, never below the entries held).
    pub fn resize(&mut self, max_index_size: u64) -> Result<()> {
        self.file.resize(max_index_size)
    }

    /// Shrinks the file to its entries.
    pub fn trim(&mut self) -> Result<()> {
        self.file.trim()
    }

    /// Writes the mapping to disk.
    pub fn flush(&self) -> Result<()> {
        self.file.flush()
    }

    /// Timestamps strictly increase, offsets do not decrease, none below the base.
    pub fn sanity_check(&self) -> Result<()> {
        self.file.sanity_check(true, "timestamp")
    }

    /// Removes every entry and restores the capacity.
    pub fn reset(&mut self, max_index_size: u64) -> Result<()> {
        self.file.reset(max_index_size)
    }
}
