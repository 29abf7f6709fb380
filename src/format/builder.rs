//! [`BatchBuilder`]: encodes records into one v2 batch.

use bytes::Bytes;

use super::batch::{
    BatchHeader, CRC_COVERED_FROM, LOG_OVERHEAD, MAGIC_V2, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, RECORD_BATCH_OVERHEAD, RecordBatch,
};
use super::compression::{self, Compression};
use super::record::{Header, Record};
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
    #[must_use]
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
    #[must_use]
    pub fn base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }

    /// Sets the partition leader epoch (default -1, as producers write it).
    #[must_use]
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Marks the batch LogAppendTime with `append_time` as its `maxTimestamp`
    /// (default: CreateTime).
    #[must_use]
    pub fn log_append_time(mut self, append_time: i64) -> Self {
        self.log_append_time = Some(append_time);
        self
    }

    /// Sets the idempotent producer fields (default -1 each).
    #[must_use]
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Sets the transactional attribute bit (default off).
    #[must_use]
    pub fn transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    /// The timestamp given to records that carry none (default -1, no timestamp).
    #[must_use]
    pub fn default_timestamp(mut self, timestamp: i64) -> Self {
        self.default_timestamp = timestamp;
        self
    }

    /// Number of records appended so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record has been appended.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the batch would take uncompressed, header included.
    #[must_use]
    pub fn uncompressed_size(&self) -> usize {
        if self.compression == Compression::None { self.buf.len() } else { RECORD_BATCH_OVERHEAD + self.buf.len() }
    }

    /// Encodes `record` as the next record of the batch and returns its offset delta.
    ///
    /// # Errors
    ///
    /// As [`BatchBuilder::append_borrowed`].
    pub fn append(&mut self, record: &Record) -> Result<i32> {
        self.append_borrowed(&BorrowedRecord::from(record))
    }

    /// Encodes a borrowed record as the next record of the batch and returns
    /// its offset delta: [`BatchBuilder::append`] without building a [`Record`].
    ///
    /// ```
    /// use topiclog::{BatchBuilder, Compression, BorrowedRecord};
    /// let mut builder = BatchBuilder::new(Compression::None);
    /// builder.append_borrowed(&BorrowedRecord::new(Some(b"k"), Some(b"v")).timestamp(1_700_000_000_000))?;
    /// assert_eq!(builder.build()?.record_count(), 1);
    /// # Ok::<(), topiclog::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTimestamp`] for a timestamp below -1; [`Error::TooLarge`]
    /// when a field, the record count or the batch passes what the format
    /// can describe. The builder is unchanged by a failed append.
    pub fn append_borrowed(&mut self, record: &BorrowedRecord<'_>) -> Result<i32> {
        let timestamp = record.timestamp.unwrap_or(self.default_timestamp);
        let base_timestamp = self.base_timestamp.unwrap_or(timestamp);
        let sized = size_record(record, timestamp, base_timestamp, self.count, self.uncompressed_size() as u64)?;
        self.buf.reserve(sized.encoded_len());
        put_record(&mut self.buf, record, &sized);
        self.base_timestamp = Some(base_timestamp);
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Ok(sized.offset_delta)
    }

    /// Finishes the batch: compresses the records if asked, writes the header
    /// and the CRC.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyBatch`] when no record was appended; [`Error::UnsupportedCompression`] for a
    /// codec this build lacks; [`Error::Compression`] when the codec fails; [`Error::TooLarge`]
    /// when the finished batch passes what a batch length can describe; [`Error::Internal`] should
    /// topiclog break its own invariant (a bug).
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
        let crc = write_header(&header, &mut out)?;
        Ok(RecordBatch::from_trusted(Bytes::from(out), BatchHeader { crc, ..header }, decompressed))
    }
}

/// A record to append, borrowing its key, value and headers from the caller:
/// what [`BatchBuilder::append_borrowed`] and
/// [`Partition::append_borrowed`](crate::partition::Partition::append_borrowed)
/// encode without first copying the data into a [`Record`].
///
/// ```
/// use topiclog::BorrowedRecord;
/// let value = vec![7u8; 100];
/// let r = BorrowedRecord::new(Some(b"user-42"), Some(&value)).timestamp(1_700_000_000_000);
/// assert_eq!(r.key, Some(&b"user-42"[..]));
/// assert_eq!(BorrowedRecord::value(&value).key, None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BorrowedRecord<'a> {
    /// The key; `None` is Kafka's null key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a null value (a tombstone in compacted topics).
    pub value: Option<&'a [u8]>,
    /// Headers in order; keys may repeat.
    pub headers: &'a [Header],
    /// Milliseconds since the Unix epoch, or `None` to let the writer choose.
    pub timestamp: Option<i64>,
}

impl<'a> BorrowedRecord<'a> {
    /// A record with this key and value, no headers and no timestamp.
    #[must_use]
    pub fn new(key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> Self {
        Self { key, value, headers: &[], timestamp: None }
    }

    /// A record with a null key and this value.
    #[must_use]
    pub fn value(value: &'a [u8]) -> Self {
        Self::new(None, Some(value))
    }

    /// Sets the timestamp in milliseconds since the Unix epoch (-1 means none).
    #[must_use]
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Sets the headers.
    pub fn headers(mut self, headers: &'a [Header]) -> Self {
        self.headers = headers;
        self
    }
}

impl<'a> From<&'a Record> for BorrowedRecord<'a> {
    fn from(record: &'a Record) -> Self {
        Self {
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: &record.headers,
            timestamp: record.timestamp,
        }
    }
}

/// Records the encoder takes: owned [`Record`]s and borrowed [`BorrowedRecord`]s.
pub(crate) trait AsBorrowedRecord {
    fn as_borrowed(&self) -> BorrowedRecord<'_>;
}

impl AsBorrowedRecord for Record {
    fn as_borrowed(&self) -> BorrowedRecord<'_> {
        BorrowedRecord::from(self)
    }
}

impl AsBorrowedRecord for BorrowedRecord<'_> {
    fn as_borrowed(&self) -> BorrowedRecord<'_> {
        *self
    }
}

/// What [`encode_records`] learnt of the records it encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EncodedRecords {
    pub count: i32,
    /// The first record's timestamp.
    pub base_timestamp: i64,
    /// The largest record timestamp (-1 when none has one).
    pub max_timestamp: i64,
}

/// Encodes `records` as the records of one uncompressed batch into `out`
/// (cleared first; a 61-byte header placeholder, then the records), checking
/// them in the order [`BatchBuilder::append`] would: for each record `check`
/// first, then its timestamp and sizes. `now` gives the timestamp of records
/// without one; it is called at most once, and only if a record lacks one.
/// [`finish_batch`] then writes the header. `out` keeps its capacity, so a
/// reused buffer needs no allocation.
pub(crate) fn encode_records<T: AsBorrowedRecord>(
    out: &mut Vec<u8>,
    records: &[T],
    mut now: impl FnMut() -> i64,
    mut check: impl FnMut(usize, &BorrowedRecord<'_>) -> Result<()>,
) -> Result<EncodedRecords> {
    out.clear();
    out.resize(RECORD_BATCH_OVERHEAD, 0);
    let mut default_timestamp = None;
    let mut base_timestamp = None;
    let mut max_timestamp = NO_TIMESTAMP;
    let mut count = 0i32;
    for (i, record) in records.iter().enumerate() {
        let record = record.as_borrowed();
        check(i, &record)?;
        let timestamp = match record.timestamp {
            Some(t) => t,
            None => *default_timestamp.get_or_insert_with(&mut now),
        };
        let base = *base_timestamp.get_or_insert(timestamp);
        let sized = size_record(&record, timestamp, base, count, out.len() as u64)?;
        out.reserve(sized.encoded_len());
        put_record(out, &record, &sized);
        max_timestamp = max_timestamp.max(timestamp);
        count += 1;
    }
    let Some(base_timestamp) = base_timestamp else { return Err(Error::EmptyBatch) };
    Ok(EncodedRecords { count, base_timestamp, max_timestamp })
}

/// Writes the header and the CRC (computed once) of the uncompressed batch
/// [`encode_records`] left in `out`, with this base offset and leader epoch,
/// and LogAppendTime when `log_append_time` is set. Returns the header.
pub(crate) fn finish_batch(
    out: &mut [u8],
    records: &EncodedRecords,
    base_offset: i64,
    partition_leader_epoch: i32,
    log_append_time: Option<i64>,
) -> Result<BatchHeader> {
    let batch_length = len_i32(out.len().saturating_sub(LOG_OVERHEAD))?;
    let mut attributes = u16::from(Compression::None.id());
    if log_append_time.is_some() {
        attributes |= 0x08;
    }
    let header = BatchHeader {
        base_offset,
        batch_length,
        partition_leader_epoch,
        magic: MAGIC_V2,
        crc: 0,
        attributes,
        last_offset_delta: records.count - 1,
        base_timestamp: records.base_timestamp,
        max_timestamp: log_append_time.unwrap_or(records.max_timestamp),
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        base_sequence: NO_SEQUENCE,
        record_count: records.count,
    };
    let crc = write_header(&header, out)?;
    Ok(BatchHeader { crc, ..header })
}

/// One record's encoded lengths, computed before it is written.
#[derive(Debug, Clone, Copy)]
struct SizedRecord {
    timestamp_delta: i64,
    offset_delta: i32,
    key_len: i32,
    value_len: i32,
    header_count: i32,
    /// The body without the headers.
    fixed_body_len: u64,
    body_len: i32,
}

impl SizedRecord {
    /// Bytes of the record: its length varint and its body.
    fn encoded_len(&self) -> usize {
        varint_len(self.body_len) + self.body_len as usize
    }
}

/// Bytes `record`, with `timestamp`, takes as record `offset_delta` of an
/// uncompressed batch whose first record has `base_timestamp` (what a
/// producer needs to fill batches exactly).
///
/// # Errors
///
/// As appending it would: an invalid timestamp, a field or record too large.
pub(crate) fn encoded_record_size(
    record: &BorrowedRecord<'_>,
    timestamp: i64,
    base_timestamp: i64,
    offset_delta: i32,
) -> Result<u64> {
    Ok(size_record(record, timestamp, base_timestamp, offset_delta, 0)?.encoded_len() as u64)
}

/// Checks `record` as record `offset_delta` of a batch whose first record
/// has `base_timestamp` and which holds `so_far` bytes before it, and sizes it.
#[inline]
fn size_record(
    record: &BorrowedRecord<'_>,
    timestamp: i64,
    base_timestamp: i64,
    offset_delta: i32,
    so_far: u64,
) -> Result<SizedRecord> {
    if timestamp < NO_TIMESTAMP {
        return Err(Error::InvalidTimestamp { timestamp });
    }
    if offset_delta == i32::MAX {
        return Err(Error::TooLarge { what: "record count", size: i32::MAX as u64 + 1, limit: i32::MAX as u64 });
    }
    let timestamp_delta = timestamp.wrapping_sub(base_timestamp);
    field_len(record.key)?;
    field_len(record.value)?;
    len_i32(record.headers.len())?;
    let mut body: u64 = 0;
    for h in record.headers {
        body += sized(len_i32(h.key().len())?) + sized(field_len(h.value().map(|v| &v[..]))?);
    }
    // Every length fits an i32: `measure` may take them as such.
    let sized_record = measure(record, timestamp_delta, offset_delta);
    body += sized_record.fixed_body_len;
    let body_len =
        i32::try_from(body).map_err(|_| Error::TooLarge { what: "record", size: body, limit: MAX_BATCH_BYTES })?;
    let total = so_far + varint_len(body_len) as u64 + body;
    if total > MAX_BATCH_BYTES {
        return Err(Error::TooLarge { what: "record batch", size: total, limit: MAX_BATCH_BYTES });
    }
    Ok(sized_record)
}

/// Sizes a record whose lengths (key, value, header count, each header's
/// key and value, body) are known to fit an i32.
#[inline]
fn measure(record: &BorrowedRecord<'_>, timestamp_delta: i64, offset_delta: i32) -> SizedRecord {
    let key_len = record.key.map_or(-1, |k| k.len() as i32);
    let value_len = record.value.map_or(-1, |v| v.len() as i32);
    let header_count = record.headers.len() as i32;
    let fixed_body_len = 1
        + varlong_len(timestamp_delta) as u64
        + zigzag_len(u64::from(((offset_delta << 1) ^ (offset_delta >> 31)) as u32))
        + sized(key_len)
        + sized(value_len)
        + zigzag_len(u64::from(((header_count << 1) ^ (header_count >> 31)) as u32));
    let mut body = fixed_body_len;
    for h in record.headers {
        body += sized(h.key().len() as i32) + sized(h.value().map_or(-1, |v| v.len() as i32));
    }
    SizedRecord {
        timestamp_delta,
        offset_delta,
        key_len,
        value_len,
        header_count,
        fixed_body_len,
        body_len: body as i32,
    }
}

/// Writes a record [`size_record`] accepted.
#[inline]
fn put_record(out: &mut Vec<u8>, record: &BorrowedRecord<'_>, sized: &SizedRecord) {
    put_varint(out, sized.body_len);
    out.push(0); // record attributes: unused
    put_varlong(out, sized.timestamp_delta);
    put_varint(out, sized.offset_delta);
    put_nullable(out, sized.key_len, record.key);
    put_nullable(out, sized.value_len, record.value);
    put_varint(out, sized.header_count);
    for h in record.headers {
        // Their lengths fit an i32: `size_record` checked them.
        put_nullable(out, h.key().len() as i32, Some(h.key()));
        put_nullable(out, h.value().map_or(-1, |v| v.len() as i32), h.value().map(|v| &v[..]));
    }
}

/// Writes `header` into the first 61 bytes of `out` and the CRC of
/// `out[21..]`; returns the CRC.
///
/// # Errors
///
/// [`Error::Internal`] when `out` is shorter than a batch header: every
/// caller reserves the header first.
pub(super) fn write_header(header: &BatchHeader, out: &mut [u8]) -> Result<u32> {
    let Some((h, records)) = out.split_first_chunk_mut::<RECORD_BATCH_OVERHEAD>() else {
        debug_assert!(false, "batch buffer shorter than its header");
        return Err(Error::Internal { invariant: "a batch buffer starts with room for its header" });
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
    // The fields fill the header exactly (so no `put` above fell outside it).
    debug_assert_eq!(at, RECORD_BATCH_OVERHEAD);
    // Constant ranges inside the 61-byte array: checked at compile time.
    let crc = crc32c::crc32c_append(crc32c::crc32c(&h[CRC_COVERED_FROM..]), records);
    h[17..CRC_COVERED_FROM].copy_from_slice(&crc.to_be_bytes());
    Ok(crc)
}

/// Encoded length of a nullable field: -1 for null.
fn field_len(field: Option<&[u8]>) -> Result<i32> {
    field.map_or(Ok(-1), |b| len_i32(b.len()))
}

fn len_i32(len: usize) -> Result<i32> {
    i32::try_from(len).map_err(|_| Error::TooLarge { what: "record field", size: len as u64, limit: MAX_BATCH_BYTES })
}

/// Bytes a nullable field takes: its length varint plus its data.
#[inline]
fn sized(len: i32) -> u64 {
    zigzag_len(u64::from(((len << 1) ^ (len >> 31)) as u32)) + len.max(0) as u64
}

/// Bytes of the varint of a zigzag-encoded value: the same as
/// `varint_len`/`varlong_len`, by comparisons (which the compiler keeps
/// scalar and cheap, where a vectorized leading-zero count is not).
#[inline]
fn zigzag_len(v: u64) -> u64 {
    let mut n = 1;
    let mut rest = v >> 7;
    while rest != 0 {
        n += 1;
        rest >>= 7;
    }
    n
}

#[inline]
fn put_nullable(out: &mut Vec<u8>, len: i32, data: Option<&[u8]>) {
    put_varint(out, len);
    if let Some(d) = data {
        out.extend_from_slice(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_len_agrees_with_the_varint_functions() {
        let mut values: Vec<i64> = vec![0, 1, -1, 63, 64, -64, -65, i64::MAX, i64::MIN];
        for shift in 0..64 {
            let v = 1i64 << shift;
            values.extend([
                v,
                v.wrapping_sub(1),
                v.wrapping_neg(),
                v.wrapping_neg().wrapping_add(1),
                v.wrapping_add(1),
            ]);
        }
        for v in values {
            assert_eq!(zigzag_len(((v << 1) ^ (v >> 63)) as u64), varlong_len(v) as u64, "{v}");
            let w = v as i32;
            assert_eq!(zigzag_len(u64::from(((w << 1) ^ (w >> 31)) as u32)), varint_len(w) as u64, "{w}");
        }
    }
}
