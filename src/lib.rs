//! # topiclog
//!
//! Apache Kafka's log storage layer as an embeddable library: a [`Store`] is a
//! data directory of topics (a broker's `log.dirs`); a [`Topic`] owns
//! partitions `0..n`; each [`Partition`] is an append-only log of segments
//! with offset and time indexes, written in Kafka's own on-disk format
//! (record batch v2, CRC-32C), so Kafka's tools read topiclog's files and
//! topiclog reads Kafka's.
//!
//! ```
//! use topiclog::{Record, Store, StoreConfig, TopicConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), StoreConfig::new())?;
//! let orders = store.create_topic("orders", 3, TopicConfig::new().retention_ms(7 * 24 * 3600 * 1000))?;
//!
//! // A key goes to the partition Kafka's producer would pick.
//! let at = orders.send(Record::new().key("han").value("iphone"))?;
//! assert_eq!((at.partition, at.offset), (1, 0));
//!
//! // Read a partition from an offset; values are zero-copy views.
//! let p = orders.partition(at.partition)?;
//! for record in p.read_from(0)? {
//!     let record = record?;
//!     assert_eq!(record.value(), Some(&b"iphone"[..]));
//! }
//! // For scans at full speed: borrowed views, no allocation per record.
//! let seen = p.read_from(0)?.for_each_view(|record| assert_eq!(record.value(), Some(&b"iphone"[..])))?;
//! assert_eq!(seen, 1);
//!
//! // Look up by time, hide old records, flush to disk, close cleanly.
//! assert_eq!(p.offset_for_timestamp(0)?.map(|hit| hit.offset), Some(0));
//! p.delete_records(1)?;
//! p.flush()?;
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the crate offers
//!
//! | Concept | Types |
//! |---|---|
//! | A data directory of topics | [`Store`], [`StoreConfig`], [`ConfigEntry`], [`MaintenanceReport`] |
//! | A topic and its partitions | [`Topic`], [`TopicConfig`], [`SendResult`], [`PartitionDescription`], [`partition_for_key`] |
//! | One partition log | [`Partition`], [`LogConfig`], [`PartitionOptions`], [`AppendResult`], [`OffsetSpec`], [`RecoveryReport`] |
//! | Reading | [`RecordReader`], [`ConsumerRecord`], [`RecordRef`] (borrowed views), [`TimestampOffset`] |
//! | Writing | [`Record`], [`BorrowedRecord`], [`BatchBuilder`], [`RecordBatch`] |
//! | Retention and compaction | [`RetentionResult`], [`CompactionResult`], [`CleanableRange`], [`CleanerOptions`] |
//! | Clients | [`Producer`], [`Consumer`], [`Serializer`], [`Deserializer`], the [`Assignor`]s |
//! | Time | [`Clock`], [`SystemClock`], [`ManualClock`] (for tests) |
//! | Errors | [`Error`] — its docs hold a table of what a caller should do for each |
//!
//! Settings use Kafka's keys (`segment.bytes`, `retention.ms`, ...), each
//! also as a typed builder method. [`format`](mod@format) is public for tools
//! that decode Kafka's bytes themselves. The segment and index layers below
//! [`Partition`] are internal.
//!
//! # Durability contract
//!
//! - **A crash of the process** (kill, panic, abort): everything an `append`
//!   returned for survives. The data is in the operating system's page cache
//!   when `append` returns; recovery on the next open finds it.
//! - **A crash of the machine** (power loss, kernel panic): everything below
//!   the offset that was the log end when the last `flush` returned survives
//!   (also flushes made by `flush.messages` and `flush.ms`, and by `close`).
//!   [`Partition::recovery_point`] is that offset. Records above it may be
//!   lost, but never partly: recovery keeps a dense prefix of offsets.
//! - **Recovery on open** checks every segment above the recovery point
//!   (framing, CRC-32C, offsets that increase, no gap between one segment's
//!   end and the next one's base) and cuts the log at the first problem;
//!   each cut is in [`Partition::recovery_reports`]. Data below the recovery
//!   point is never cut, and nothing is deleted on the word of a state file
//!   alone. Batch size limits (`max.message.bytes`, `segment.bytes`) apply to
//!   appends, never to recovery.
//! - **Other changes**: `delete_records` is durable when it returns (the
//!   records below its offset are flushed first, then the new log start);
//!   topic creation, deletion and configuration changes are durable when they
//!   return (written to a temporary file, fsynced, renamed, directory
//!   fsynced; a directory topiclog creates — `topiclog-meta`, a partition
//!   directory — is durable in its parent before anything is written into
//!   it); `truncate_to` is durable when it returns (the cut segment and
//!   the directory are fsynced); retention and truncation first record the
//!   new state, then rename files, so a crash part-way leaves the old or the
//!   new log, with at most some segments deleted late.
//! - **Compaction** cleans only flushed data (it flushes first). Each group
//!   of segments it rewrites is synced as `.cleaned` files, the state file
//!   then lists the segments as they will be, and the swap renames (`.swap`,
//!   old segments to `.deleted`, final names) are each followed by a
//!   directory fsync: after a crash anywhere, each group reopens exactly old
//!   or exactly new (a pass over several groups may be half done), and every
//!   key's latest value is there. The next pass's start is durable in the
//!   partition's state (and the store's `cleaner-offset-checkpoint`).
//! - **Committed offsets** are records in `__consumer_offsets`: durable when
//!   `Consumer::commit_sync` or `Store::commit_offsets` returns (the batch is
//!   flushed first); an expiry or group deletion writes flushed tombstones.
//! - **A read-only open** ([`Store::open_read_only`]) changes no file, even
//!   of a directory a crash left to recover.
//! - **A failed write or fsync** poisons the partition: further writes fail
//!   with [`Error::Poisoned`] until it is reopened, and nothing after the last
//!   successful flush is assumed to be on disk.
//! - **A failed topic creation, deletion or configuration change** (or a
//!   failed checkpoint write) returns an [`Error::Io`] naming the file and
//!   poisons nothing: each takes effect at one atomic rename (a deletion
//!   half done is finished by the next open), so a reopen finds the change
//!   whole or not made; a failed creation leaves no topic behind and can be
//!   retried.
//! - **Dropping without `close`**: a dropped [`Store`] stops its maintenance
//!   and flushes what it can; its directory stays locked while any [`Topic`]
//!   or [`Partition`] handle lives. The next open recovers as after a crash
//!   of the process.
//! - **What readers see**: readers may see records that are not yet durable
//!   (above the recovery point). Reads never modify files. Damaged bytes in a
//!   segment are an [`Error::CorruptSegment`] naming the file and the byte
//!   position, returned once; an offset index or time index that disagrees
//!   with the log is rebuilt (and reported), never trusted; a segment whose
//!   files disappeared is an [`Error::MissingSegment`], never a silent gap.
//! - **One owner**: a data directory and each partition directory are
//!   locked (POSIX record locks, not inherited by child processes) while open;
//!   a second open, in this process or another, fails with [`Error::Locked`].
//!   topiclog never writes through a symbolic link.
#![warn(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![warn(clippy::missing_errors_doc, clippy::must_use_candidate, clippy::undocumented_unsafe_blocks)]

mod clock;
mod config;
pub mod error;
pub mod format;
mod partition;
mod partitioner;
mod store;
mod topic;

// The segment and index layers are internal. The `internals` feature exposes
// them for topiclog's own layer tests and benches; they are not part of the
// stable API and may change in any release.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod index;
#[cfg(not(feature = "internals"))]
mod index;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod segment;
#[cfg(not(feature = "internals"))]
mod segment;

mod assignor;
mod cleaner;
mod clients;
mod dirlock;
mod faults;
mod fsutil;
mod notify;

pub use assignor::{
    Assignment, Assignor, CooperativeStickyAssignor, MemberSubscription, RangeAssignor, RebalanceProtocol,
    RoundRobinAssignor, StickyAssignor, StickyPlan, TopicPartition, assignor_by_name, assignors_from_config,
    cooperative_first_round, partitions_transferring_ownership,
};
pub use cleaner::{CleanableRange, CleanerOptions};
#[cfg(feature = "json")]
pub use clients::JsonSerde;
#[cfg(feature = "async")]
pub use clients::PollRecords;
pub use clients::{
    AutoOffsetReset, BytesSerde, Consumer, ConsumerConfig, Deserializer, GroupPartitionOffsets, INTERNAL_TOPICS,
    NumberSerde, OFFSETS_TOPIC, OffsetReset, PolledRecord, Producer, ProducerConfig, SendHandle, Serializer,
    StringSerde, UnitSerde,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{CleanupPolicy, CompressionType, Durability, LogConfig};
pub use error::{BatchProblem, Error, RecordProblem, Result};
pub use format::{
    BatchBuilder, BorrowedRecord, Compression, ConsumerRecord, FileBatches, Header, HeaderRef, Record, RecordBatch,
    RecordRef, TimestampType,
};
pub use index::{IndexFileEntries, OffsetPosition, TimestampOffset, read_offset_index, read_time_index};
#[cfg(feature = "async")]
pub use partition::WaitForData;
pub use partition::{
    AppendResult, CompactionResult, OffsetSpec, Partition, PartitionOptions, RecordReader, RetentionReason,
    RetentionResult, SegmentInfo,
};
pub use partitioner::{KeylessStrategy, murmur2, partition_for_key};
pub use segment::{RecoveryCause, RecoveryReport};
pub use store::{ConfigEntry, ConfigSource, MaintenanceError, MaintenanceReport, MaintenanceTask, Store, StoreConfig};
pub use topic::{PartitionDescription, SendResult, Topic, TopicConfig};

/// Fault injection at the storage seam (the `fault-injection` feature, for
/// topiclog's own I/O-fault tests): fail any file operation under a
/// directory with a chosen errno, and see every call made there. Not a
/// stable API.
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod fault_injection {
    pub use crate::faults::{Call, Fault, Op, arm, calls, disarm, forget, injected, watch};
    /// The file-system changes topiclog makes, reported to a per-thread
    /// observer: what the power-loss simulation (`tests/power_loss.rs`)
    /// builds crash states from.
    pub use crate::fsutil::{FsEvent, observe};
}

/// The README's Rust examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
