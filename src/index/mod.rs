//! Kafka's sparse segment indexes: [`OffsetIndex`] (`.index`, offset →
//! position) and [`TimeIndex`] (`.timeindex`, timestamp → offset), big-endian
//! entries on one generic core. Knows nothing of batches.

mod file;
mod offset;
mod time;

#[cfg_attr(not(feature = "internals"), allow(unused_imports))] // named by the layer tests
pub use file::{Entry, Index};
pub use offset::{OffsetIndex, OffsetPosition};
pub use time::{TimeIndex, TimestampOffset};

/// Kafka's default `segment.index.bytes`: the preallocated size of each index.
pub const DEFAULT_MAX_INDEX_SIZE: u64 = 10 * 1024 * 1024;

/// `offset - base_offset` when it fits a segment's 32-bit relative offsets
/// (0..=2^31-1), the range every index entry and segment append must respect.
#[must_use]
pub fn relative_offset(base_offset: i64, offset: i64) -> Option<u32> {
    let relative = offset.checked_sub(base_offset)?;
    if (0..=i64::from(i32::MAX)).contains(&relative) { Some(relative as u32) } else { None }
}

/// The entries of one index file as read from disk, for tools that inspect
/// a data directory (`topiclog dump-log`, `topiclog verify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFileEntries<E> {
    /// The entries, less an unwritten (all-zero) preallocated tail.
    pub entries: Vec<E>,
    /// Size of the file in bytes.
    pub file_size: u64,
    /// What the sanity check applied when a segment is opened found wrong
    /// (offsets below the base, entries going backwards, a size that is not
    /// a whole number of entries), or `None` when it passed.
    pub problem: Option<String>,
}

/// Reads the offset index (`.index`) at `path` of the segment with base
/// offset `base_offset`, without ever writing it, and runs the sanity check
/// applied when a segment is opened. A missing file reads as empty.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("00000000000000000100.index");
/// std::fs::write(&path, [0, 0, 0, 5, 0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0])?; // one entry, then padding
/// let read = topiclog::read_offset_index(&path, 100)?;
/// assert_eq!(read.entries, vec![topiclog::OffsetPosition { offset: 105, position: 80 }]);
/// assert_eq!(read.problem, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`crate::Error::Io`] when the file cannot be read.
pub fn read_offset_index(path: &std::path::Path, base_offset: i64) -> crate::Result<IndexFileEntries<OffsetPosition>> {
    let index = OffsetIndex::open_read_only(path, base_offset, None)?;
    index_file_entries(path, &index, index.sanity_check())
}

/// Reads the time index (`.timeindex`) at `path` of the segment with base
/// offset `base_offset`, without ever writing it, and runs the sanity check
/// applied when a segment is opened. A missing file reads as empty.
///
/// # Errors
///
/// [`crate::Error::Io`] when the file cannot be read.
pub fn read_time_index(path: &std::path::Path, base_offset: i64) -> crate::Result<IndexFileEntries<TimestampOffset>> {
    let index = TimeIndex::open_read_only(path, base_offset, None)?;
    index_file_entries(path, &index, index.sanity_check())
}

fn index_file_entries<E: Entry>(
    path: &std::path::Path,
    index: &Index<E>,
    sanity: crate::Result<()>,
) -> crate::Result<IndexFileEntries<E>> {
    let file_size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(crate::Error::io("stat index", path, e)),
    };
    let entries: Vec<E> = (0..index.len()).filter_map(|i| index.entry(i)).collect();
    let problem = match sanity {
        Err(crate::Error::CorruptIndex { problem, .. }) => Some(problem),
        Err(e) => Some(e.to_string()),
        Ok(()) if file_size % E::SIZE as u64 != 0 => {
            Some(format!("size {file_size} is not a multiple of the entry size {}", E::SIZE))
        }
        Ok(()) => None,
    };
    Ok(IndexFileEntries { entries, file_size, problem })
}
