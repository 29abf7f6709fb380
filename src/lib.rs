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
//!
//! // Look up by time, hide old records, flush to disk, close cleanly.
//! assert_eq!(p.offset_for_timestamp(0)?.map(|hit| hit.offset), Some(0));
//! p.delete_records(1)?;
//! p.flush()?;
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layers, each using only those below it: [`format`](mod@format) (record batches),
//! [`index`] (offset and time indexes), [`segment`] (one `.log` with its
//! indexes), [`partition`] (the log), [`topic`] and [`store`]. Time comes from
//! an injectable [`clock::Clock`]; settings use Kafka's keys ([`LogConfig`],
//! [`StoreConfig`]).
//!
//! Durability: when an append returns, the data survives a crash of the
//! process; when `flush` returns (or `flush.messages` / `flush.ms` fire), it
//! survives a crash of the machine. Recovery on open keeps the longest valid
//! prefix of the log and reports what it cut.
#![warn(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

pub mod clock;
pub mod config;
pub mod error;
pub mod format;
pub mod index;
pub mod partition;
pub mod partitioner;
pub mod segment;
pub mod store;
pub mod topic;

#[cfg(test)]
mod crash_sim;
mod fsutil;

pub use config::LogConfig;
pub use error::{BatchProblem, Error, Result};
pub use format::{BatchBuilder, Compression, ConsumerRecord, FileBatches, Header, Record, RecordBatch, TimestampType};
pub use partition::Partition;
pub use store::{Store, StoreConfig};
pub use topic::{Topic, TopicConfig};

/// The README's Rust examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
