//! Kafka's record batch format, magic v2: varints, records, batches,
//! compression, and iteration over a file of batches. Knows nothing of files.

mod batch;
mod builder;
mod compression;
mod file_batches;
mod rebuild;
mod record;
pub(crate) mod varint;

pub(crate) use batch::point_record;
pub use batch::{
    BatchHeader, HEADER_SIZE_UP_TO_MAGIC, LOG_OVERHEAD, MAGIC_V2, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, RECORD_BATCH_OVERHEAD, RecordBatch, RecordRefs, Records,
};
pub(crate) use builder::{AsBorrowedRecord, encode_records, encoded_record_size, finish_batch};
pub use builder::{BatchBuilder, BorrowedRecord};
pub use compression::{Compression, MAX_DECOMPRESSED_BYTES};
pub use file_batches::{FileBatches, Tail};
pub(crate) use rebuild::{rebuild_batch, write_empty_batch};
pub use record::{ConsumerRecord, Header, HeaderRef, HeaderRefs, IntoBytes, Record, RecordRef, TimestampType};
