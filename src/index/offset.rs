//! `.index`: offset → position entries (int32 relative offset, int32 position).

use std::path::Path;

use super::core::{Entry, IndexFile};
use crate::error::{Error, Result};

/// An offset-index entry: every record with offset ≥ `offset` is at byte
/// position ≥ `position` of the `.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    /// Absolute offset.
    pub offset: i64,
    /// Byte position in the `.log`.
    pub position: u32,
}

impl Entry for OffsetPosition {
    const SIZE: usize = 8;

    fn decode(bytes: &[u8], base: i64) -> Self {
        let word = |at: usize| bytes.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).unwrap_or_default();
        OffsetPosition { offset: base + i64::from(u32::from_be_bytes(word(0))), position: u32::from_be_bytes(word(4)) }
    }

    fn encode(&self, base: i64, out: &mut [u8]) {
        // `OffsetIndex::append` checked that the relative offset fits.
        let relative = (self.offset - base) as u32;
        if let Some(dst) = out.get_mut(0..4) {
            dst.copy_from_slice(&relative.to_be_bytes());
        }
        if let Some(dst) = out.get_mut(4..8) {
            dst.copy_from_slice(&self.position.to_be_bytes());
        }
    }

    fn key(&self) -> i64 {
        self.offset
    }

    fn offset(&self) -> i64 {
        self.offset
    }
}

/// A segment's offset index (SPEC §2.2).
#[derive(Debug)]
pub struct OffsetIndex {
    file: IndexFile<OffsetPosition>,
    base_offset: i64,
}

impl OffsetIndex {
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

    /// The segment's base offset.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
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

    /// Whether no further entry fits.
    pub fn is_full(&self) -> bool {
        self.file.len() >= self.file.max_entries()
    }

    /// Entry `i`.
    pub fn entry(&self, i: usize) -> Option<OffsetPosition> {
        self.file.get(i)
    }

    /// The last entry, or `(base_offset, 0)` when empty.
    pub fn last_entry(&self) -> OffsetPosition {
        self.file.last().unwrap_or(OffsetPosition { offset: self.base_offset, position: 0 })
    }

    /// The entry with the largest offset ≤ `target`, or `(base_offset, 0)`.
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        self.file
            .floor_slot(target, |e| e.offset)
            .and_then(|slot| self.file.get(slot))
            .unwrap_or(OffsetPosition { offset: self.base_offset, position: 0 })
    }

    /// Adds an entry; its offset must exceed the last entry's and fit the
    /// segment's relative offsets.
    pub fn append(&mut self, offset: i64, position: u32) -> Result<()> {
        if super::relative_offset(self.base_offset, offset).is_none() {
            return Err(Error::OffsetOverflow { base_offset: self.base_offset, offset });
        }
        if let Some(last) = self.file.last()
            && offset <= last.offset
        {
            return Err(Error::IndexOutOfOrder {
                path: self.path().to_owned(),
                what: "offset",
                value: offset,
                last: last.offset,
            });
        }
        self.file.push(OffsetPosition { offset, position })
    }

    /// Removes entries with offset ≥ `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        self.file.truncate_to_offset(offset);
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.file.truncate_entries(0);
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

    /// Offsets increase and are not below the base offset.
    pub fn sanity_check(&self) -> Result<()> {
        self.file.sanity_check(true, "offset")
    }

    /// Removes every entry and restores the capacity.
    pub fn reset(&mut self, max_index_size: u64) -> Result<()> {
        self.file.reset(max_index_size)
    }
}
