//! The part both indexes share: a file of fixed-size big-endian entries,
//! preallocated and memory-mapped while writable, trimmed to its entries when
//! sealed, searched by binary search.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use crate::error::{Error, Result};
use crate::faults::{self, Op};

/// One fixed-size entry type of an index file.
pub trait Entry: Copy {
    /// An entry's bytes in the file: a `[u8; N]`, so decoding and encoding
    /// cannot run out of bytes.
    type Raw: Copy + AsRef<[u8]> + for<'a> TryFrom<&'a [u8]>;
    /// Bytes per entry.
    const SIZE: usize = std::mem::size_of::<Self::Raw>();
    /// Decodes an entry of a segment with base offset `base`.
    fn decode(raw: Self::Raw, base: i64) -> Self;
    /// Encodes for a segment with base offset `base`.
    fn encode(&self, base: i64) -> Self::Raw;
    /// The value lookups search by (offset, or timestamp).
    fn key(&self) -> i64;
    /// The absolute offset the entry names.
    fn offset(&self) -> i64;
}

/// Where the entries live.
#[derive(Debug)]
enum Storage {
    /// A writable mapping of the whole file.
    Mapped { file: File, map: MmapMut },
    /// A private copy (read-only segments; empty files). Appends stay in memory.
    Memory(Vec<u8>),
}

/// A sparse index file of `E` entries: [`super::OffsetIndex`] and
/// [`super::TimeIndex`] are its two instantiations.
#[derive(Debug)]
pub struct Index<E> {
    path: PathBuf,
    base_offset: i64,
    storage: Storage,
    entries: usize,
    max_entries: usize,
    /// Bytes `[from, to)` written since the last flush, if any: a flush
    /// syncs only those pages (an index gains one entry per 4 KiB of log).
    unflushed: parking_lot::Mutex<Option<(usize, usize)>>,
    _entry: std::marker::PhantomData<E>,
}

/// The largest index file opened: `segment.index.bytes` is at most
/// `i32::MAX`, so anything larger was not written by topiclog or Kafka, and
/// mapping or scanning it (a sparse file can claim terabytes) would not end.
const MAX_INDEX_FILE_BYTES: u64 = i32::MAX as u64;

fn refuse_absurd_size(path: &Path, len: u64) -> Result<()> {
    if len > MAX_INDEX_FILE_BYTES {
        return Err(Error::CorruptIndex {
            path: path.to_owned(),
            problem: format!("{len} bytes, more than the {MAX_INDEX_FILE_BYTES} an index can hold"),
        });
    }
    Ok(())
}

impl<E: Entry> Index<E> {
    /// Opens (creating when missing) a writable index. With a capacity (an
    /// appendable index) the file is extended to it, rounded down to whole
    /// entries; without, it is trimmed to its entries. An existing file's
    /// entries are kept, less any trailing zero padding.
    pub fn open(path: &Path, base_offset: i64, capacity: Option<u64>) -> Result<Self> {
        if capacity.is_some_and(|max| max < E::SIZE as u64) {
            // `segment.index.bytes` is validated to hold at least one entry.
            return Err(Error::Internal { invariant: "an index's maximum size holds at least one entry" });
        }
        let file = crate::fsutil::open_read_write(path, "open index")?;
        crate::fsutil::note(crate::fsutil::FsEvent::Create(path));
        let len = file.metadata().map_err(|e| Error::io("stat index", path, e))?.len();
        refuse_absurd_size(path, len)?;
        let map = map_file(&file, path)?;
        let mut index = Self {
            path: path.to_owned(),
            base_offset,
            storage: Storage::Mapped { file, map },
            entries: 0,
            unflushed: parking_lot::Mutex::new(None),
            max_entries: (len / E::SIZE as u64) as usize,
            _entry: std::marker::PhantomData,
        };
        index.entries = index.count_valid_entries();
        // No capacity: trimmed to its entries (`resize` never cuts below them).
        index.resize(capacity.unwrap_or(0))?;
        Ok(index)
    }

    /// Reads an existing index into memory without ever writing the file; a
    /// missing file reads as empty. With `capacity`, entries up to that size
    /// can be added (in memory).
    pub fn open_read_only(path: &Path, base_offset: i64, capacity: Option<u64>) -> Result<Self> {
        // The link's own size (a link is refused below, never followed).
        match std::fs::symlink_metadata(path) {
            Ok(meta) => refuse_absurd_size(path, meta.len())?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("stat index", path, e)),
        }
        let mut bytes = crate::fsutil::read_if_present(path)?.unwrap_or_default();
        bytes.truncate(bytes.len() / E::SIZE * E::SIZE);
        let mut index = Self {
            path: path.to_owned(),
            base_offset,
            entries: bytes.len() / E::SIZE,
            max_entries: bytes.len() / E::SIZE,
            unflushed: parking_lot::Mutex::new(None),
            storage: Storage::Memory(bytes),
            _entry: std::marker::PhantomData,
        };
        index.entries = index.count_valid_entries();
        if let Some(max) = capacity {
            index.resize(max)?;
        }
        Ok(index)
    }

    /// The index file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment's base offset.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the index holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Slots in the file (or memory), used or not.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    fn bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::Mapped { map, .. } => map,
            Storage::Memory(v) => v,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match &mut self.storage {
            Storage::Mapped { map, .. } => map,
            Storage::Memory(v) => v,
        }
    }

    /// Entry `i`, if it exists.
    pub fn entry(&self, i: usize) -> Option<E> {
        if i >= self.entries {
            return None;
        }
        // A slot is exactly `SIZE` bytes, so the conversion cannot fail.
        let raw = E::Raw::try_from(self.bytes().get(i * E::SIZE..(i + 1) * E::SIZE)?).ok()?;
        Some(E::decode(raw, self.base_offset))
    }

    /// The last entry, if any.
    pub(crate) fn last(&self) -> Option<E> {
        self.entries.checked_sub(1).and_then(|i| self.entry(i))
    }

    /// Entries held, less trailing all-zero slots: an unwritten, preallocated
    /// tail (left by a crash before trimming) is never read as entries.
    fn count_valid_entries(&self) -> usize {
        let bytes = self.bytes();
        let mut n = bytes.len() / E::SIZE;
        while n > 0 && bytes.get((n - 1) * E::SIZE..n * E::SIZE).is_some_and(|e| e.iter().all(|&b| b == 0)) {
            n -= 1;
        }
        n
    }

    /// Appends an entry. The caller checks ordering rules.
    pub(crate) fn push(&mut self, entry: E) -> Result<()> {
        if self.entries >= self.max_entries {
            return Err(Error::IndexFull { path: self.path.clone(), entries: self.entries });
        }
        let base = self.base_offset;
        let at = self.entries * E::SIZE;
        let Some(slot) = self.bytes_mut().get_mut(at..at + E::SIZE) else {
            // The mapping always spans `max_entries` slots.
            debug_assert!(false, "index mapping shorter than its capacity");
            return Err(Error::Internal { invariant: "an index mapping spans its capacity" });
        };
        // `SIZE` is the size of `Raw`: the lengths match.
        slot.copy_from_slice(entry.encode(base).as_ref());
        self.entries += 1;
        self.mark_unflushed(at, at + E::SIZE);
        Ok(())
    }

    /// Slot of the last entry whose key is ≤ `target`, if any (`key_of`
    /// picks what to compare: the entry's key, or its offset).
    pub(crate) fn floor_slot(&self, target: i64, key_of: impl Fn(&E) -> i64) -> Option<usize> {
        // Binary search over slots [0, entries): the first slot whose key > target.
        let (mut lo, mut hi) = (0usize, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid) {
                Some(e) if key_of(&e) <= target => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo.checked_sub(1)
    }

    /// Removes every entry whose offset is ≥ `offset` (SPEC §2.8). A time
    /// index may hold several entries with one offset: all of them go.
    pub fn truncate_to(&mut self, offset: i64) {
        // The entries below `offset` are those at or below `offset - 1`.
        let keep = match offset.checked_sub(1).and_then(|below| self.floor_slot(below, E::offset)) {
            None => 0,
            Some(slot) => slot + 1,
        };
        self.truncate_entries(keep);
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.truncate_entries(0);
    }

    /// Keeps only the first `n` entries, zeroing the rest so they read as padding.
    fn truncate_entries(&mut self, n: usize) {
        if n >= self.entries {
            return;
        }
        let (from, to) = (n * E::SIZE, self.entries * E::SIZE);
        match self.bytes_mut().get_mut(from..to) {
            Some(dropped) => dropped.fill(0),
            // The mapping spans every entry held; entries past it cannot exist.
            None => debug_assert!(false, "index mapping shorter than its entries"),
        }
        self.mark_unflushed(from, to);
        self.entries = n;
    }

    /// Changes the capacity to `max_index_size` rounded down to whole
    /// entries (never below the entries held), resizing the file and mapping.
    pub fn resize(&mut self, max_index_size: u64) -> Result<()> {
        let slots = ((max_index_size / E::SIZE as u64) as usize).max(self.entries);
        if slots == self.max_entries && self.bytes().len() == slots * E::SIZE {
            return Ok(());
        }
        let new_len = slots * E::SIZE;
        match &mut self.storage {
            Storage::Memory(v) => v.resize(new_len, 0),
            Storage::Mapped { file, map } => {
                // No msync first: writes through a shared mapping are already
                // in the page cache that `set_len` keeps or cuts, and a
                // synchronous msync here made every roll wait on the disk.
                faults::check(Op::SetLen, &self.path)
                    .and_then(|()| file.set_len(new_len as u64))
                    .map_err(|e| Error::io("resize index", &self.path, e))?;
                *map = map_file(file, &self.path)?;
            }
        }
        self.max_entries = slots;
        Ok(())
    }

    /// Shrinks the file to exactly its entries (done when a segment is
    /// sealed or closed, so that reopening reads length / entry size).
    pub fn trim(&mut self) -> Result<()> {
        self.resize((self.entries * E::SIZE) as u64)
    }

    fn mark_unflushed(&self, from: usize, to: usize) {
        let mut range = self.unflushed.lock();
        *range = Some(range.map_or((from, to), |(f, t)| (f.min(from), t.max(to))));
    }

    /// Writes the pages changed since the last flush to disk (nothing when
    /// none changed: most flushes add no index entry).
    pub fn flush(&self) -> Result<()> {
        let Storage::Mapped { map, .. } = &self.storage else { return Ok(()) };
        let mut range = self.unflushed.lock();
        let Some((from, to)) = *range else { return Ok(()) };
        let to = to.min(map.len());
        if from < to {
            faults::check(Op::Sync, &self.path).map_err(|e| Error::io("msync index", &self.path, e))?;
        }
        if from < to && crate::fsutil::real_sync() {
            map.flush_range(from, to - from).map_err(|e| Error::io("msync index", &self.path, e))?;
        }
        *range = None;
        crate::fsutil::note(crate::fsutil::FsEvent::SyncFile(&self.path));
        Ok(())
    }

    /// Checks the entries strictly increase in key (`what` names it in the
    /// error), do not go back in offset, and belong to the segment.
    pub(crate) fn check_order(&self, what: &str) -> Result<()> {
        let corrupt = |problem: String| Error::CorruptIndex { path: self.path.clone(), problem };
        let mut previous: Option<E> = None;
        for i in 0..self.entries {
            let Some(e) = self.entry(i) else { break };
            if e.offset() < self.base_offset {
                return Err(corrupt(format!(
                    "entry {i} names offset {} below the base offset {}",
                    e.offset(),
                    self.base_offset
                )));
            }
            if let Some(p) = previous
                && (e.offset() < p.offset() || e.key() <= p.key())
            {
                return Err(corrupt(format!("entry {i} ({what} {}, offset {}) goes backwards", e.key(), e.offset())));
            }
            previous = Some(e);
        }
        Ok(())
    }

    /// Deletes every entry and restores the capacity to `max_index_size`.
    pub fn reset(&mut self, max_index_size: u64) -> Result<()> {
        self.clear();
        self.resize(max_index_size)
    }

    /// Adds `entry` after checking its offset fits the segment.
    pub(crate) fn push_checked(&mut self, entry: E) -> Result<()> {
        if super::relative_offset(self.base_offset, entry.offset()).is_none() {
            return Err(Error::OffsetOverflow { base_offset: self.base_offset, offset: entry.offset() });
        }
        self.push(entry)
    }
}

/// Maps the whole of `file` for reading and writing.
fn map_file(file: &File, path: &Path) -> Result<MmapMut> {
    // SAFETY: the mapping is only sound while nothing else truncates or
    // writes the file. The file is owned by one open `LogSegment` of this
    // process, which holds the index behind its lock and resizes the file
    // only through `resize`, which remaps right after; other processes (and
    // other handles in this one) are kept out of the partition directory by
    // its own lock (`.lock`, see src/dirlock.rs and UNSAFE.md).
    let map = faults::check(Op::Mmap, path).and_then(|()| unsafe { MmapMut::map_mut(file) });
    let map = map.map_err(|e| Error::io("mmap index", path, e))?;
    // Index pages are touched one entry at a time and binary-searched: the
    // kernel's read-ahead (megabytes on some disks) would make the first
    // write to a fresh 10 MiB index cost milliseconds.
    if !map.is_empty() {
        map.advise(memmap2::Advice::Random).map_err(|e| Error::io("madvise index", path, e))?;
    }
    Ok(map)
}
