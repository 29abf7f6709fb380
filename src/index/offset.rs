//! `.index`: offset → position entries (int32 relative offset, int32 position).

use super::file::{Entry, Index};
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
    /// int32 relative offset, int32 position.
    type Raw = [u8; 8];

    /// An entry of a damaged file can name an offset past `i64::MAX`: it
    /// wraps below the base offset, where the sanity check catches it.
    fn decode(raw: [u8; 8], base: i64) -> Self {
        let [r0, r1, r2, r3, p0, p1, p2, p3] = raw;
        OffsetPosition {
            offset: base.wrapping_add(i64::from(u32::from_be_bytes([r0, r1, r2, r3]))),
            position: u32::from_be_bytes([p0, p1, p2, p3]),
        }
    }

    fn encode(&self, base: i64) -> [u8; 8] {
        // Entries are pushed through `push_checked`: the relative offset fits.
        let relative = (self.offset - base) as u32;
        let [r0, r1, r2, r3] = relative.to_be_bytes();
        let [p0, p1, p2, p3] = self.position.to_be_bytes();
        [r0, r1, r2, r3, p0, p1, p2, p3]
    }

    fn key(&self) -> i64 {
        self.offset
    }

    fn offset(&self) -> i64 {
        self.offset
    }
}

/// A segment's offset index (SPEC §2.2).
pub type OffsetIndex = Index<OffsetPosition>;

impl Index<OffsetPosition> {
    /// Whether no further entry fits.
    pub fn is_full(&self) -> bool {
        self.len() >= self.max_entries()
    }

    /// The last entry, or `(base_offset, 0)` when empty.
    pub fn last_entry(&self) -> OffsetPosition {
        self.last().unwrap_or(OffsetPosition { offset: self.base_offset(), position: 0 })
    }

    /// The entry with the largest offset ≤ `target`, or `(base_offset, 0)`.
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        self.floor_slot(target, |e| e.offset)
            .and_then(|slot| self.entry(slot))
            .unwrap_or(OffsetPosition { offset: self.base_offset(), position: 0 })
    }

    /// [`OffsetIndex::lookup`], with the entry after it (the first whose
    /// offset is > `target`), if any: the batch holding `target` usually
    /// starts at that entry's position (a point read then walks no header).
    pub fn lookup_with_next(&self, target: i64) -> (OffsetPosition, Option<OffsetPosition>) {
        let floor = self.floor_slot(target, |e| e.offset);
        let entry = floor.and_then(|slot| self.entry(slot));
        let next = self.entry(floor.map_or(0, |slot| slot + 1));
        (entry.unwrap_or(OffsetPosition { offset: self.base_offset(), position: 0 }), next)
    }

    /// Adds an entry; its offset must exceed the last entry's and fit the
    /// segment's relative offsets.
    pub fn append(&mut self, offset: i64, position: u32) -> Result<()> {
        if let Some(last) = self.last()
            && offset <= last.offset
        {
            return Err(Error::IndexOutOfOrder {
                path: self.path().to_owned(),
                what: "offset",
                value: offset,
                last: last.offset,
            });
        }
        self.push_checked(OffsetPosition { offset, position })
    }

    /// Offsets increase and are not below the base offset.
    pub fn sanity_check(&self) -> Result<()> {
        self.check_order("offset")
    }
}
