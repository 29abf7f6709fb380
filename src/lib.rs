//! # topiclog
//!
//! Apache Kafka's log storage layer as an embeddable library: record batches
//! in Kafka's own on-disk format (magic v2, CRC-32C), with Kafka's codecs.
//!
//! ```
//! use topiclog::{BatchBuilder, Compression, FileBatches, Record};
//!
//! // Encode two records into one batch, as a Kafka producer would.
//! let mut builder = BatchBuilder::new(Compression::None).base_offset(0);
//! builder.append(&Record::new().key("han").value("iphone").timestamp(1_700_000_000_000))?;
//! builder.append(&Record::new().value("no key").header("trace", "abc"))?;
//! let mut batch = builder.build()?;
//!
//! // Offsets are assigned by rewriting the base offset; the CRC stays valid.
//! batch.set_base_offset(41);
//!
//! // A `.log` file is batches back to back; read them back, CRCs verified.
//! let file = batch.into_bytes();
//! for batch in FileBatches::new(file, 0) {
//!     for record in batch?.records()? {
//!         let record = record?;
//!         println!("{} {:?} {:?}", record.offset(), record.key(), record.value());
//!     }
//! }
//! # Ok::<(), topiclog::Error>(())
//! ```
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
