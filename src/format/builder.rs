//! [`BatchBuilder`]: encodes records into one v2 batch.

use bytes::Bytes;

use super::batch::{
    BatchHeader, CRC_COVERED_FROM, LOG_OVERHEAD, MAGIC_V2, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, RECORD_BATCH_OVERHEAD, RecordBatch,
};
use super::compression::{self, Compression};
use super::record::Record;
use super::varint::{put_varint, put_varlong, varint_len, varlong_len};
use crate::error::{Error, Result};

/// Largest batch the format can describe (`batchLength` is an int32).
const MAX_BATCH_BYTES: u64 = i32::MAX as u64;

/// Encodes records into one v2 record batch, exactly as Kafka lays it out.
///
/// Records are encoded as they are appended; [`BatchBuilder::build`]
/// compresses them if asked, fills in the header and computes the CRC.
///
/// ```
/// use topiclog::{BatchBuilder, Compression, Record};
/// let mut builder = BatchBuilder::new(Compression::None).base_offset(100);
/// builder.append(&Record::new().key("a").value("1").timestamp(1_700_000_000_000))?;
/// let batch = builder.build()?;
/// assert_eq!(batch.last_offset(), 100);
/// # Ok::<(), topiclog::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    log_append_time: Option<i64>,
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    default_timestamp: i64,
    /// Uncompressed: a 61-byte header placeholder, then the records.
    /// Compressed: the records alone, compressed in `build`.
    buf: Vec<u8>,
    count: i32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// A builder for a batch compressed with `compression`, with Kafka's
    /// defaults for a non-idempotent producer: base offset 0, leader epoch -1,
    /// producer id/epoch/sequence -1, CreateTime.
    pub fn new(compression: Compression) -> Self {
        let buf = if compression == Compression::None { vec![0; RECORD_BATCH_OVERHEAD] } else { Vec::new() };
        Self {
            compression,
            log_append_time: None,
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            default_timestamp: NO_TIMESTAMP,
            buf,
            count: 0,
            base_timestamp: None,
            max_timestamp: NO_TIMESTAMP,
        }
    }

    /// Sets the base offset (default 0). It can also be changed after building
    /// with [`RecordBatch::set_base_offset`].
    pub fn base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }

    /// Sets the partition leader epoch (default -1, as producers write it).
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Marks the batch LogAppendTime with `append_time` as its `maxTimestamp`
    /// (default: CreateTime).
    pub fn log_append_time(mut self, append_time: i64) -> Self {
        self.log_append_time = Some(append_time);
        self
    }

    /// Sets the idempotent producer fields (default -1 each).
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Sets the transactional attribute bit (default off).
    pub fn transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    /// The timestamp given to records that carry none (default -1, no timestamp).
    pub fn default_timestamp(mut self, timestamp: i64) -> Self {
        self.default_timestamp = timestamp;
        self
    }

    /// Number of records appended so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the batch would take uncompressed, header included.
    pub fn uncompressed_size(&self) -> usize {
        if self.compression == Compression::None { self.buf.len() } else { RECORD_BATCH_OVERHEAD + self.buf.len() }
    }

    /// Encodes `record` as the next record of the batch and returns its offset delta.
    pub fn append(&mut self, record: &Record) -> Result<i32> {
        let timestamp = record.timestamp.unwrap_or(self.default_timestamp);
        if timestamp < NO_TIMESTAMP {
            return Err(Error::InvalidTimestamp { timestamp });
        }
        let offset_delta = self.count;
        if offset_delta == i32::MAX {
            return Err(Error::TooLarge { what: "record count", size: i32::MAX as u64 + 1, limit: i32::MAX as u64 });
        }
        let base_timestamp = *self.base_timestamp.get_or_insert(timestamp);
        let timestamp_delta = timestamp.wrapping_sub(base_timestamp);

        let key_len = field_len(record.key.as_ref())?;
        let value_len = field_len(record.value.as_ref())?;
        let header_count = len_i32(record.headers.len())?;
        let mut body: u64 = 1
            + varlong_len(timestamp_delta) as u64
            + varint_len(offset_delta) as u64
            + sized(key_len)
            + sized(value_len)
            + varint_len(header_count) as u64;
        for h in &record.headers {
            body += sized(len_i32(h.key().len())?) + sized(field_len(h.value())?);
        }
        let body_len =
            i32::try_from(body).map_err(|_| Error::TooLarge { what: "record", size: body, limit: MAX_BATCH_BYTES })?;
        let total = self.uncompressed_size() as u64 + varint_len(body_len) as u64 + body;
        if total > MAX_BATCH_BYTES {
            return Err(Error::TooLarge { what: "record batch", size: total, limit: MAX_BATCH_BYTES });
        }

        let out = &mut self.buf;
        out.reserve(varint_len(body_len) + body as usize);
        put_varint(out, body_len);
        out.push(0); // record attributes: unused
        put_varlong(out, timestamp_delta);
        put_varint(out, offset_delta);
        put_nullable(out, key_len, record.key.as_deref());
        put_nullable(out, value_len, record.value.as_deref());
        put_varint(out, header_count);
        for h in &record.headers {
            put_nullable(out, len_i32(h.key().len())?, Some(h.key()));
            put_nullable(out, field_len(h.value())?, h.value().map(|v| &v[..]));
        }

        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Ok(offset_delta)
    }

    /// Finishes the batch: compresses the records if asked, writes the header
    /// and the CRC.
    pub fn build(self) -> Result<RecordBatch> {
        if self.count == 0 {
            return Err(Error::EmptyBatch);
        }
        let (mut out, decompressed) = if self.compression == Compression::None {
            (self.buf, None)
        } else {
            let mut out = Vec::with_capacity(RECORD_BATCH_OVERHEAD + self.buf.len() / 2);
            out.resize(RECORD_BATCH_OVERHEAD, 0);
            compression::compress(self.compression, &self.buf, &mut out)?;
            (out, Some(Bytes::from(self.buf)))
        };
        let size = out.len() as u64;
        let batch_length = i32::try_from(size - LOG_OVERHEAD as u64).map_err(|_| Error::TooLarge {
            what: "record batch",
            size,
            limit: MAX_BATCH_BYTES,
        })?;

        let mut attributes = u16::from(self.compression.id());
        if self.log_append_time.is_some() {
            attributes |= 0x08;
        }
        if self.transactional {
            attributes |= 0x10;
        }
        let header = BatchHeader {
            base_offset: self.base_offset,
            batch_length,
            partition_leader_epoch: self.partition_leader_epoch,
            magic: MAGIC_V2,
            crc: 0,
            attributes,
            last_offset_delta: self.count - 1,
            base_timestamp: self.base_timestamp.unwrap_or(NO_TIMESTAMP),
            max_timestamp: self.log_append_time.unwrap_or(self.max_timestamp),
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            record_count: self.count,
        };
        let crc = write_header(&header, &mut out);
        Ok(RecordBatch::from_trusted(Bytes::from(out), BatchHeader { crc, ..header }, decompressed))
    }
}

/// Writes `header` into the first 61 bytes of `out` and the CRC of
/// `out[21..]`; returns the CRC.
fn write_header(header: &BatchHeader, out: &mut [u8]) -> u32 {
    let Some((h, _)) = out.split_first_chunk_mut::<RECORD_BATCH_OVERHEAD>() else {
        // `build` always reserves the header first, so this cannot happen.
        return 0;
    };
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        if let Some(dst) = h.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        at += bytes.len();
    };
    put(&header.base_offset.to_be_bytes());
    put(&header.batch_length.to_be_bytes());
    put(&header.partition_leader_epoch.to_be_bytes());
    put(&header.magic.to_be_bytes());
    put(&[0; 4]); // CRC, filled below
    put(&header.attributes.to_be_bytes());
    put(&header.last_offset_delta.to_be_bytes());
    put(&header.base_timestamp.to_be_bytes());
    put(&header.max_timestamp.to_be_bytes());
    put(&header.producer_id.to_be_bytes());
    put(&header.producer_epoch.to_be_bytes());
    put(&header.base_sequence.to_be_bytes());
    put(&header.record_count.to_be_bytes());
    let crc = crc32c::crc32c(out.get(CRC_COVERED_FROM..).unwrap_or_default());
    if let Some(dst) = out.get_mut(17..21) {
        dst.copy_from_slice(&crc.to_be_bytes());
    }
    crc
}

/// Encoded length of a nullable field: -1 for null.
fn field_len(field: Option<&Bytes>) -> Result<i32> {
    field.map_or(Ok(-1), |b| len_i32(b.len()))
}

fn len_i32(len: usize) -> Result<i32> {
    i32::try_from(len).map_err(|_| Error::TooLarge { what: "record field", size: len as u64, limit: MAX_BATCH_BYTES })
}

/// Bytes a nullable field takes: its length varint plus its data.
fn sized(len: i32) -> u64 {
    varint_len(len) as u64 + len.max(0) as u64
}

#[inline]
fn put_nullable(out: &mut Vec<u8>, len: i32, data: Option<&[u8]>) {
    put_varint(out, len);
    if let Some(d) = data {
        out.extend_from_slice(d);
    }
}
