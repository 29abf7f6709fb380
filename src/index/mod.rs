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
