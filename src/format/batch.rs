//! [`RecordBatch`]: a validated, zero-copy view of one v2 record batch.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::compression::{self, Compression, MAX_DECOMPRESSED_BYTES};
use super::record::{ConsumerRecord, Header, RecordRef, TimestampType};
use super::varint::{SliceReader, VarintError};
use crate::error::{BatchProblem, Error, Result};

/// Bytes of the v2 batch header, up to the first record.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// Bytes before `batchLength` counts: base offset (8) and the length itself (4).
pub const LOG_OVERHEAD: usize = 12;
/// Bytes needed to read a batch's magic byte.
pub const HEADER_SIZE_UP_TO_MAGIC: usize = 17;
/// The only batch format version this crate reads and writes.
pub const MAGIC_V2: i8 = 2;
/// Timestamp sentinel: no timestamp.
pub const NO_TIMESTAMP: i64 = -1;
/// Producer id sentinel: not idempotent.
pub const NO_PRODUCER_ID: i64 = -1;
/// Producer epoch sentinel.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Sequence sentinel.
pub const NO_SEQUENCE: i32 = -1;
/// Partition leader epoch sentinel.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// The CRC covers everything from the attributes to the end of the batch.
pub(crate) const CRC_COVERED_FROM: usize = 21;

const COMPRESSION_MASK: u16 = 0x07;
const TIMESTAMP_TYPE_MASK: u16 = 0x08;
const TRANSACTIONAL_MASK: u16 = 0x10;
const CONTROL_MASK: u16 = 0x20;
const DELETE_HORIZON_MASK: u16 = 0x40;

/// The fixed 61-byte header of a v2 batch, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// Bytes after this field: total size minus 12.
    pub batch_length: i32,
    /// Leader epoch stamped at append (not covered by the CRC).
    pub partition_leader_epoch: i32,
    /// Format version (2).
    pub magic: i8,
    /// Stored CRC-32C.
    pub crc: u32,
    /// Attribute bits (codec, timestamp type, transactional, control, delete horizon).
    pub attributes: u16,
    /// `lastOffset - baseOffset`.
    pub last_offset_delta: i32,
    /// First record's timestamp (or the delete horizon, see [`BatchHeader::has_delete_horizon`]).
    pub base_timestamp: i64,
    /// Largest record timestamp, or the append time for LogAppendTime batches.
    pub max_timestamp: i64,
    /// Idempotent producer id, -1 when none.
    pub producer_id: i64,
    /// Producer epoch, -1 when none.
    pub producer_epoch: i16,
    /// First record's sequence number, -1 when none.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

impl BatchHeader {
    /// Decodes the fixed header from the first 61 bytes of `buf`, checking only
    /// that enough bytes are present.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedBatch`] (with [`BatchProblem::Truncated`]) when `buf` holds fewer than the
    /// header's 61 bytes.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let h: &[u8; RECORD_BATCH_OVERHEAD] = buf.first_chunk().ok_or_else(|| {
            Error::malformed(BatchProblem::Truncated {
                needed: RECORD_BATCH_OVERHEAD as u64,
                available: buf.len() as u64,
            })
        })?;
        Ok(Self {
            base_offset: i64::from_be_bytes(field(h, 0)),
            batch_length: i32::from_be_bytes(field(h, 8)),
            partition_leader_epoch: i32::from_be_bytes(field(h, 12)),
            magic: i8::from_be_bytes(field(h, 16)),
            crc: u32::from_be_bytes(field(h, 17)),
            attributes: u16::from_be_bytes(field(h, 21)),
            last_offset_delta: i32::from_be_bytes(field(h, 23)),
            base_timestamp: i64::from_be_bytes(field(h, 27)),
            max_timestamp: i64::from_be_bytes(field(h, 35)),
            producer_id: i64::from_be_bytes(field(h, 43)),
            producer_epoch: i16::from_be_bytes(field(h, 51)),
            base_sequence: i32::from_be_bytes(field(h, 53)),
            record_count: i32::from_be_bytes(field(h, 57)),
        })
    }

    /// Decodes the header of the batch that is exactly `buf` and checks
    /// everything short of the records: size, magic, length and CRC.
    /// This is the check segment recovery applies to every batch.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedMagic`] for a magic other than 2; [`Error::MalformedBatch`] when `buf`
    /// is shorter than the header or than `batchLength` says, longer than it, or the header holds
    /// an impossible length, record count or last offset delta; [`Error::CrcMismatch`] when the
    /// stored CRC-32C does not match.
    pub fn parse_verified(buf: &[u8]) -> Result<Self> {
        if let Some(&magic) = buf.get(16) {
            let magic = magic as i8;
            if magic != MAGIC_V2 {
                return Err(Error::UnsupportedMagic { position: None, magic });
            }
        }
        let header = Self::parse(buf)?;
        let declared = header.size_in_bytes()?;
        let actual = buf.len() as u64;
        if declared > actual {
            return Err(Error::malformed(BatchProblem::Truncated { needed: declared, available: actual }));
        }
        if declared < actual {
            return Err(Error::malformed(BatchProblem::TrailingBytes { extra: actual - declared }));
        }
        // `parse` checked `buf` holds the whole header, so this cannot fail.
        let covered = buf.get(CRC_COVERED_FROM..).ok_or_else(|| {
            Error::malformed(BatchProblem::Truncated { needed: RECORD_BATCH_OVERHEAD as u64, available: actual })
        })?;
        let computed = crc32c::crc32c(covered);
        if computed != header.crc {
            return Err(Error::CrcMismatch { position: None, stored: header.crc, computed });
        }
        if header.record_count < 0 {
            return Err(Error::malformed(BatchProblem::InvalidHeader {
                field: "recordsCount",
                value: header.record_count.into(),
            }));
        }
        if header.last_offset_delta < 0 {
            return Err(Error::malformed(BatchProblem::InvalidHeader {
                field: "lastOffsetDelta",
                value: header.last_offset_delta.into(),
            }));
        }
        Ok(header)
    }

    /// Total bytes of the batch (`batchLength + 12`), or an error when
    /// `batchLength` is too small to hold a v2 header.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedBatch`] (with [`BatchProblem::InvalidLength`]) when `batchLength` is
    /// negative or too small for a v2 header.
    pub fn size_in_bytes(&self) -> Result<u64> {
        batch_size(self.batch_length)
    }

    /// Offset of the batch's last record (as originally written; compaction keeps it).
    #[must_use]
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The offset after the batch (wrapping for a damaged header whose
    /// offsets pass `i64::MAX`; see [`BatchHeader::offsets_fit`]).
    #[must_use]
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// Whether the batch's offsets, and the offset after it, fit in an i64:
    /// a log refuses a batch that ends at `i64::MAX` or wraps past it.
    #[must_use]
    pub fn offsets_fit(&self) -> bool {
        self.last_offset_delta >= 0 && self.base_offset.checked_add(i64::from(self.last_offset_delta) + 1).is_some()
    }

    /// The codec id (attribute bits 0-2).
    #[must_use]
    pub fn compression_id(&self) -> u8 {
        (self.attributes & COMPRESSION_MASK) as u8
    }

    /// The codec, or `None` for an id Kafka does not define.
    #[must_use]
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_id(self.compression_id())
    }

    /// How timestamps were assigned.
    #[must_use]
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_MASK != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch is part of a transaction.
    #[must_use]
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_MASK != 0
    }

    /// Whether the batch holds control records (transaction markers, KRaft control records).
    #[must_use]
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_MASK != 0
    }

    /// Whether `base_timestamp` holds the compaction delete horizon.
    #[must_use]
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & DELETE_HORIZON_MASK != 0
    }
}

/// Total size of a batch whose `batchLength` field is `batch_length`.
pub(crate) fn batch_size(batch_length: i32) -> Result<u64> {
    match u64::try_from(batch_length) {
        Ok(len) if len >= (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as u64 => Ok(len + LOG_OVERHEAD as u64),
        _ => Err(Error::malformed(BatchProblem::InvalidLength { batch_length })),
    }
}

fn field<const N: usize>(h: &[u8; RECORD_BATCH_OVERHEAD], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    // The callers' offsets are constants inside the 61-byte header.
    if let Some(src) = h.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

/// Where a batch's records live once validated.
#[derive(Debug, Clone)]
enum RecordsData {
    /// Uncompressed: the bytes after the header.
    Inline,
    /// Compressed: the inflated records.
    Decompressed(Bytes),
    /// The codec is unknown or its feature is disabled.
    Unsupported,
}

/// One v2 record batch over shared bytes, validated on construction: bounds,
/// magic, CRC-32C, record count, and every record's framing (after
/// decompression, when the codec is enabled). Reading its records copies
/// nothing for uncompressed batches.
///
/// ```
/// use topiclog::{BatchBuilder, Compression, Error, Record, RecordBatch};
///
/// let mut builder = BatchBuilder::new(Compression::None);
/// builder.append(&Record::new().value("a"))?;
/// builder.append(&Record::new().value("b"))?;
/// let batch = builder.build()?;
/// assert_eq!((batch.base_offset(), batch.last_offset(), batch.record_count()), (0, 1, 2));
/// // The bytes as a segment stores them (or a Kafka producer sends them) parse back.
/// let parsed = RecordBatch::new(batch.as_bytes().clone())?;
/// assert_eq!(parsed.records()?.count(), 2);
/// // A flipped bit fails the CRC-32C check.
/// let mut damaged = batch.as_bytes().to_vec();
/// if let Some(last) = damaged.last_mut() {
///     *last ^= 1;
/// }
/// assert!(matches!(RecordBatch::new(damaged.into()), Err(Error::CrcMismatch { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordBatch {
    bytes: Bytes,
    header: BatchHeader,
    records: RecordsData,
}

impl RecordBatch {
    /// Validates `bytes`, which must hold exactly one batch.
    ///
    /// A batch compressed with a codec this build lacks is accepted (its
    /// header and raw bytes are usable); [`RecordBatch::records`] then returns
    /// [`Error::UnsupportedCompression`].
    ///
    /// # Errors
    ///
    /// As [`BatchHeader::parse_verified`]; then, for a codec this build has, [`Error::Compression`]
    /// when the records fail to decompress or [`Error::TooLarge`] when they decompress past the
    /// limit, and [`Error::MalformedBatch`] when the records do not decode as the header describes.
    pub fn new(bytes: Bytes) -> Result<Self> {
        let batch = Self::new_lazy(bytes)?;
        if let Some(data) = batch.records_data() {
            validate_records(&batch.header, &data).map_err(Error::malformed)?;
        }
        Ok(batch)
    }

    /// Checks header, size and CRC now, and each record's framing only as it
    /// is iterated (the iterator reports any problem, including a count that
    /// disagrees with the data). For scanning a log, where every record is
    /// iterated anyway and parsing twice would halve the speed.
    pub(crate) fn new_lazy(bytes: Bytes) -> Result<Self> {
        let header = BatchHeader::parse_verified(&bytes)?;
        let records = match header.compression() {
            Some(Compression::None) => RecordsData::Inline,
            Some(codec) if codec.is_enabled() => {
                // `parse_verified` checked the header is whole, so this cannot fail.
                let compressed = bytes.get(RECORD_BATCH_OVERHEAD..).ok_or_else(|| {
                    Error::malformed(BatchProblem::Truncated {
                        needed: RECORD_BATCH_OVERHEAD as u64,
                        available: bytes.len() as u64,
                    })
                })?;
                RecordsData::Decompressed(Bytes::from(compression::decompress(
                    codec,
                    compressed,
                    MAX_DECOMPRESSED_BYTES,
                )?))
            }
            _ => RecordsData::Unsupported,
        };
        Ok(Self { bytes, header, records })
    }

    /// Builds the view over bytes the builder has just produced and whose
    /// records are known to be well formed.
    pub(crate) fn from_trusted(bytes: Bytes, header: BatchHeader, decompressed: Option<Bytes>) -> Self {
        let records = match decompressed {
            Some(d) => RecordsData::Decompressed(d),
            None => RecordsData::Inline,
        };
        Self { bytes, header, records }
    }

    /// The decoded header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The batch's bytes, exactly as stored.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Consumes the view, returning its bytes.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Total size in bytes.
    pub fn size_in_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.header.next_offset()
    }

    /// Number of records.
    pub fn record_count(&self) -> i32 {
        self.header.record_count
    }

    /// The largest timestamp in the batch (or its append time).
    pub fn max_timestamp(&self) -> i64 {
        self.header.max_timestamp
    }

    /// Rewrites the base offset. The CRC does not cover it, so nothing else
    /// changes; the bytes are copied only if they are shared.
    pub fn set_base_offset(&mut self, base_offset: i64) {
        self.patch(&[(0, &base_offset.to_be_bytes())]);
        self.header.base_offset = base_offset;
    }

    /// Rewrites the base offset and the partition leader epoch at once (the
    /// log's append path), touching the bytes once.
    pub(crate) fn set_base_offset_and_epoch(&mut self, base_offset: i64, epoch: i32) {
        self.patch(&[(0, &base_offset.to_be_bytes()), (12, &epoch.to_be_bytes())]);
        self.header.base_offset = base_offset;
        self.header.partition_leader_epoch = epoch;
    }

    /// Rewrites the partition leader epoch (also outside the CRC).
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.patch(&[(12, &epoch.to_be_bytes())]);
        self.header.partition_leader_epoch = epoch;
    }

    /// Restamps the batch: sets its timestamp type and `maxTimestamp` (as the
    /// log does for LogAppendTime, or to correct a CreateTime maximum) and
    /// recomputes the CRC, which covers both.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] if the batch's bytes are shorter than its header,
    /// which every constructor rules out (a bug in topiclog); the batch is
    /// then left unchanged.
    pub fn set_max_timestamp(&mut self, timestamp_type: TimestampType, max_timestamp: i64) -> Result<()> {
        const SHORT: Error = Error::Internal { invariant: "a record batch's bytes hold its header" };
        if self.bytes.len() < RECORD_BATCH_OVERHEAD {
            debug_assert!(false, "record batch shorter than its header");
            return Err(SHORT);
        }
        let mut attributes = self.header.attributes & !TIMESTAMP_TYPE_MASK;
        if timestamp_type == TimestampType::LogAppendTime {
            attributes |= TIMESTAMP_TYPE_MASK;
        }
        self.patch(&[(21, &attributes.to_be_bytes()), (35, &max_timestamp.to_be_bytes())]);
        let crc = crc32c::crc32c(self.bytes.get(CRC_COVERED_FROM..).ok_or(SHORT)?);
        self.patch(&[(17, &crc.to_be_bytes())]);
        self.header.attributes = attributes;
        self.header.max_timestamp = max_timestamp;
        self.header.crc = crc;
        Ok(())
    }

    /// Overwrites header fields, each `(position, bytes)`; the buffer is
    /// copied only if it is shared.
    fn patch(&mut self, edits: &[(usize, &[u8])]) {
        let mut owned = match std::mem::take(&mut self.bytes).try_into_mut() {
            Ok(unique) => unique,
            Err(shared) => BytesMut::from(&shared[..]),
        };
        for (at, new) in edits {
            match owned.get_mut(*at..*at + new.len()) {
                Some(dst) => dst.copy_from_slice(new),
                // Every edit is inside the 61-byte header, which every constructor checks is there.
                None => debug_assert!(false, "header patch outside the batch"),
            }
        }
        self.bytes = owned.freeze();
    }

    fn records_data(&self) -> Option<Bytes> {
        match &self.records {
            RecordsData::Inline => Some(self.bytes.slice(RECORD_BATCH_OVERHEAD..)),
            RecordsData::Decompressed(d) => Some(d.clone()),
            RecordsData::Unsupported => None,
        }
    }

    /// The batch's records, in order. Control batches yield their control
    /// records too; skip them with [`BatchHeader::is_control`] when presenting
    /// user data.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedCompression`] when the batch is compressed with a codec this build
    /// lacks. Errors decoding a record come from the iterator.
    pub fn records(&self) -> Result<Records> {
        let data = self
            .records_data()
            .ok_or(Error::UnsupportedCompression { position: None, codec_id: self.header.compression_id() })?;
        Ok(Records { data, cursor: Cursor::default(), header: self.header })
    }

    /// The records' bytes (decompressed for a compressed batch), borrowed.
    fn records_slice(&self) -> Result<&[u8]> {
        match &self.records {
            RecordsData::Inline => self
                .bytes
                .get(RECORD_BATCH_OVERHEAD..)
                .ok_or(Error::Internal { invariant: "a record batch's bytes hold its header" }),
            RecordsData::Decompressed(d) => Ok(d),
            RecordsData::Unsupported => {
                Err(Error::UnsupportedCompression { position: None, codec_id: self.header.compression_id() })
            }
        }
    }

    /// The batch's records as borrowed views ([`RecordRef`]), in order: no
    /// allocation and no reference count per record. Each record is
    /// validated as it is reached, exactly as by [`RecordBatch::records`]
    /// (same records, same errors). Control batches yield their control
    /// records too.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedCompression`] when the batch's codec is not in
    /// this build; [`Error::Internal`] on a broken internal invariant (a bug).
    /// The iterator yields [`Error::MalformedBatch`] for a record that is not
    /// well formed, and then ends.
    pub fn record_refs(&self) -> Result<RecordRefs<'_>> {
        Ok(RecordRefs { data: self.records_slice()?, cursor: Cursor::default(), header: self.header })
    }

    /// The record at `offset`, borrowed, or `None` when the batch has no
    /// record at that offset (outside its range, or removed by compaction).
    /// Records before it are validated as they are walked past.
    ///
    /// # Errors
    ///
    /// As [`RecordBatch::record_refs`]: an unsupported codec, or a malformed
    /// record at or before `offset`.
    pub fn record_at(&self, offset: i64) -> Result<Option<RecordRef<'_>>> {
        if offset < self.header.base_offset || offset > self.header.last_offset() {
            return Ok(None);
        }
        for record in self.record_refs()? {
            let record = record?;
            if record.offset >= offset {
                return Ok((record.offset == offset).then_some(record));
            }
        }
        Ok(None)
    }
}

/// The first record at or after `offset` of an uncompressed batch: `data`
/// is its records (the bytes after the header) and `header` its header,
/// whose CRC the caller has checked. `None` when every record is below
/// `offset`.
///
/// In a batch with dense offsets (every batch this crate writes, and any
/// batch compaction has not thinned) the records before the wanted one are
/// stepped over by their length prefixes alone and only that record is
/// decoded and validated: a point read costs one record's decoding, not the
/// batch's. Otherwise (or when the prefixes lead astray) the records are
/// walked and validated one by one, as [`RecordBatch::record_refs`] does.
///
/// # Errors
///
/// [`Error::MalformedBatch`] for a malformed record at or before the one returned.
pub(crate) fn point_record<'a>(header: &BatchHeader, data: &'a [u8], offset: i64) -> Result<Option<RecordRef<'a>>> {
    let skip = offset.saturating_sub(header.base_offset);
    let dense = header.record_count > 0 && i64::from(header.last_offset_delta) + 1 == i64::from(header.record_count);
    if dense && skip > 0 && skip < i64::from(header.record_count) {
        // Record `skip` holds `offset`: find its start by the length prefixes.
        let mut pos = 0usize;
        let mut found = true;
        for _ in 0..skip {
            // A prefix that leads past the data is astray, as one that fails to decode.
            let Some(rest) = data.get(pos..) else {
                found = false;
                break;
            };
            let mut reader = SliceReader::new(rest);
            match varint(&mut reader).ok().and_then(|len| usize::try_from(len).ok()) {
                Some(len) => pos = pos.saturating_add(reader.position()).saturating_add(len),
                None => {
                    found = false;
                    break;
                }
            }
        }
        // `skip` < record_count ≤ i32::MAX: both conversions are exact.
        let (index, previous) = (skip as u32, skip as i32 - 1);
        let mut cursor = Cursor { pos, index, previous_delta: Some(previous) };
        if found
            && let Some(Ok(record)) = cursor.step_view(header, data)
            && record.offset == offset
        {
            return Ok(Some(record));
        }
        // Astray: the checked walk below says what is wrong.
    }
    let mut cursor = Cursor::default();
    while let Some(record) = cursor.step_view(header, data) {
        let record = record.map_err(Error::malformed)?;
        if record.offset >= offset {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// Byte ranges of one record's fields inside the records data.
struct RecordFields {
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    /// The header entries, after their count.
    headers: Range<usize>,
    header_count: u32,
}

/// A varint, with the one-byte case (most lengths and deltas) inline.
#[inline(always)]
fn varint(reader: &mut SliceReader<'_>) -> std::result::Result<i32, VarintError> {
    let mut ahead = reader.clone();
    match ahead.u8() {
        Some(b) if b < 0x80 => {
            *reader = ahead;
            Ok(i32::from(b >> 1) ^ -i32::from(b & 1))
        }
        _ => reader.varint(),
    }
}

/// A varlong, with the one-byte case inline.
#[inline(always)]
fn varlong(reader: &mut SliceReader<'_>) -> std::result::Result<i64, VarintError> {
    let mut ahead = reader.clone();
    match ahead.u8() {
        Some(b) if b < 0x80 => {
            *reader = ahead;
            Ok(i64::from(b >> 1) ^ -i64::from(b & 1))
        }
        _ => reader.varlong(),
    }
}

/// Decodes the record starting at `reader`'s position, calling `on_header`
/// with the key and value ranges of each header.
#[inline]
fn parse_record(
    reader: &mut SliceReader<'_>,
    index: u32,
    mut on_header: impl FnMut(Range<usize>, Option<Range<usize>>),
) -> std::result::Result<RecordFields, BatchProblem> {
    let truncated = BatchProblem::RecordTruncated { record: index };
    let length = varint(reader).map_err(|e| e.into_problem(index))?;
    let length = usize::try_from(length)
        .map_err(|_| BatchProblem::InvalidFieldLength { record: index, length: length.into() })?;
    let body_start = reader.position();
    if reader.remaining() < length {
        return Err(truncated);
    }
    let body_end = body_start + length;
    // Every field must end inside the body; checked after each read.
    let within = |r: &SliceReader<'_>| r.position() <= body_end;

    reader.u8().ok_or_else(|| truncated.clone())?; // record attributes: unused
    let timestamp_delta = varlong(reader).map_err(|e| e.into_problem(index))?;
    let offset_delta = varint(reader).map_err(|e| e.into_problem(index))?;
    let key = nullable_bytes(reader, index)?;
    let value = nullable_bytes(reader, index)?;
    let header_count = varint(reader).map_err(|e| e.into_problem(index))?;
    if header_count < 0 {
        return Err(BatchProblem::InvalidFieldLength { record: index, length: header_count.into() });
    }
    if !within(reader) {
        return Err(BatchProblem::RecordLengthMismatch { record: index });
    }
    let headers_start = reader.position();
    for _ in 0..header_count {
        let key =
            nullable_bytes(reader, index)?.ok_or(BatchProblem::InvalidFieldLength { record: index, length: -1 })?;
        let value = nullable_bytes(reader, index)?;
        if !within(reader) {
            return Err(BatchProblem::RecordLengthMismatch { record: index });
        }
        on_header(key, value);
    }
    if reader.position() != body_end {
        return Err(BatchProblem::RecordLengthMismatch { record: index });
    }
    Ok(RecordFields {
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers: headers_start..body_end,
        header_count: header_count as u32,
    })
}

/// Reads a varint length (-1 = null) and skips that many bytes.
#[inline]
fn nullable_bytes(reader: &mut SliceReader<'_>, index: u32) -> std::result::Result<Option<Range<usize>>, BatchProblem> {
    let len = varint(reader).map_err(|e| e.into_problem(index))?;
    if len == -1 {
        return Ok(None);
    }
    let n = usize::try_from(len).map_err(|_| BatchProblem::InvalidFieldLength { record: index, length: len.into() })?;
    reader.skip(n).map(Some).ok_or(BatchProblem::RecordTruncated { record: index })
}

/// Checks that `data` holds exactly `header.record_count` well-formed records
/// whose offset deltas increase inside `0..=lastOffsetDelta`.
fn validate_records(header: &BatchHeader, data: &[u8]) -> std::result::Result<(), BatchProblem> {
    let mut reader = SliceReader::new(data);
    let mut previous_delta: Option<i32> = None;
    let declared = header.record_count;
    for index in 0..declared as u32 {
        if reader.remaining() == 0 {
            return Err(BatchProblem::RecordCountMismatch { declared, found: index });
        }
        let fields = parse_record(&mut reader, index, |_, _| {})?;
        let delta = fields.offset_delta;
        let in_order = previous_delta.is_none_or(|p| delta > p);
        if delta < 0 || delta > header.last_offset_delta || !in_order {
            return Err(BatchProblem::InvalidOffsetDelta { record: index, delta });
        }
        previous_delta = Some(delta);
    }
    if reader.remaining() > 0 {
        return Err(BatchProblem::TrailingRecordBytes { extra: reader.remaining() as u64 });
    }
    Ok(())
}

/// Where iteration over a batch's records stands; shared by the owned
/// ([`Records`]) and borrowed ([`RecordRefs`]) iterators.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    /// Byte position of the next record in the records data.
    pos: usize,
    /// Index of the next record; `u32::MAX` once a problem was reported.
    index: u32,
    previous_delta: Option<i32>,
}

/// One record found by [`Cursor::step`]: its bytes are `start..end` of the
/// records data, and its fields' ranges are positions in that data too.
struct Parsed {
    start: usize,
    end: usize,
    fields: RecordFields,
}

impl Cursor {
    /// Decodes and validates the next record of `data`, calling `on_header`
    /// with each header's ranges; `None` after the last record (or after a
    /// problem was reported, which ends the iteration).
    #[inline]
    fn step(
        &mut self,
        header: &BatchHeader,
        data: &[u8],
        on_header: impl FnMut(Range<usize>, Option<Range<usize>>),
    ) -> Option<std::result::Result<Parsed, BatchProblem>> {
        let declared = header.record_count;
        if i64::from(self.index) >= i64::from(declared) {
            // After the last record: nothing may remain (checked once).
            let extra = data.len().saturating_sub(self.pos);
            if self.index != u32::MAX && extra > 0 {
                return self.fail(BatchProblem::TrailingRecordBytes { extra: extra as u64 });
            }
            return None;
        }
        let mut reader = SliceReader::new(data);
        if self.pos >= data.len() || reader.skip(self.pos).is_none() {
            let found = self.index;
            return self.fail(BatchProblem::RecordCountMismatch { declared, found });
        }
        let fields = match parse_record(&mut reader, self.index, on_header) {
            Ok(f) => f,
            Err(problem) => return self.fail(problem),
        };
        let delta = fields.offset_delta;
        if delta < 0 || delta > header.last_offset_delta || self.previous_delta.is_some_and(|p| delta <= p) {
            let record = self.index;
            return self.fail(BatchProblem::InvalidOffsetDelta { record, delta });
        }
        self.previous_delta = Some(delta);
        let start = self.pos;
        self.pos = reader.position();
        self.index += 1;
        Some(Ok(Parsed { start, end: self.pos, fields }))
    }

    /// [`Cursor::step`] as a borrowed view. A record without headers (the
    /// common case) is decoded in one pass over its exact bytes; anything
    /// else, including every malformed record, goes through `step`, which
    /// reports the same problems as the owned iterator.
    #[inline]
    fn step_view<'a>(
        &mut self,
        header: &BatchHeader,
        data: &'a [u8],
    ) -> Option<std::result::Result<RecordRef<'a>, BatchProblem>> {
        if i64::from(self.index) < i64::from(header.record_count)
            && let Some(fast) = plain_record(data, self.pos)
        {
            let delta = fast.offset_delta;
            if delta < 0 || delta > header.last_offset_delta || self.previous_delta.is_some_and(|p| delta <= p) {
                let record = self.index;
                return self.fail(BatchProblem::InvalidOffsetDelta { record, delta });
            }
            self.previous_delta = Some(delta);
            self.pos = fast.end;
            self.index += 1;
            return Some(Ok(RecordRef {
                offset: header.base_offset.wrapping_add(i64::from(delta)),
                timestamp: record_timestamp(header, fast.timestamp_delta),
                timestamp_type: header.timestamp_type(),
                key: fast.key,
                value: fast.value,
                headers: &[],
                header_count: 0,
            }));
        }
        let index = self.index;
        match self.step(header, data, |_, _| {})? {
            Ok(parsed) => match record_ref(header, data, &parsed.fields, index) {
                Ok(record) => Some(Ok(record)),
                Err(problem) => self.fail(problem),
            },
            Err(problem) => Some(Err(problem)),
        }
    }

    /// Stops iteration after reporting `problem`.
    fn fail<T>(&mut self, problem: BatchProblem) -> Option<std::result::Result<T, BatchProblem>> {
        self.index = u32::MAX;
        Some(Err(problem))
    }

    fn remaining(&self, header: &BatchHeader) -> usize {
        (i64::from(header.record_count) - i64::from(self.index)).max(0) as usize
    }
}

/// A well-formed record without headers, decoded by [`plain_record`].
struct PlainRecord<'a> {
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    /// Position after the record in the records data.
    end: usize,
}

/// The record at `pos` of `data` when it is well formed and has no
/// headers; `None` otherwise (the caller then decodes it the checked way).
#[inline(always)]
fn plain_record(data: &[u8], pos: usize) -> Option<PlainRecord<'_>> {
    let rest = data.get(pos..)?;
    let mut reader = SliceReader::new(rest);
    let length = usize::try_from(varint(&mut reader).ok()?).ok()?;
    let start = reader.position();
    let end = start.checked_add(length)?;
    let body = rest.get(start..end)?;
    let mut reader = SliceReader::new(body);
    reader.u8()?; // attributes
    let timestamp_delta = varlong(&mut reader).ok()?;
    let offset_delta = varint(&mut reader).ok()?;
    let key = plain_bytes(&mut reader, body)?;
    let value = plain_bytes(&mut reader, body)?;
    if varint(&mut reader).ok()? != 0 || reader.remaining() != 0 {
        return None;
    }
    Some(PlainRecord { timestamp_delta, offset_delta, key, value, end: pos + end })
}

/// A nullable byte field of a record body.
#[inline(always)]
fn plain_bytes<'a>(reader: &mut SliceReader<'a>, body: &'a [u8]) -> Option<Option<&'a [u8]>> {
    let len = varint(reader).ok()?;
    if len == -1 {
        return Some(None);
    }
    let range = reader.skip(usize::try_from(len).ok()?)?;
    body.get(range).map(Some)
}

/// A record's timestamp: the batch's append time, or base plus its delta.
#[inline]
fn record_timestamp(header: &BatchHeader, delta: i64) -> i64 {
    match header.timestamp_type() {
        TimestampType::LogAppendTime => header.max_timestamp,
        TimestampType::CreateTime => header.base_timestamp.wrapping_add(delta),
    }
}

/// The borrowed view of record `index`, which `step` found in `data`.
///
/// `step` took every field's range from `data` itself, so the lookups
/// cannot fail; were one to, the record is reported truncated rather than
/// read with a field missing.
#[inline]
fn record_ref<'a>(
    header: &BatchHeader,
    data: &'a [u8],
    fields: &RecordFields,
    index: u32,
) -> std::result::Result<RecordRef<'a>, BatchProblem> {
    let field = |r: Range<usize>| data.get(r).ok_or(BatchProblem::RecordTruncated { record: index });
    Ok(RecordRef {
        offset: header.base_offset.wrapping_add(i64::from(fields.offset_delta)),
        timestamp: record_timestamp(header, fields.timestamp_delta),
        timestamp_type: header.timestamp_type(),
        key: fields.key.clone().map(field).transpose()?,
        value: fields.value.clone().map(field).transpose()?,
        headers: field(fields.headers.clone())?,
        header_count: fields.header_count,
    })
}

/// Iterator over the records of a [`RecordBatch`], as owned [`ConsumerRecord`]s.
#[derive(Debug, Clone)]
pub struct Records {
    data: Bytes,
    cursor: Cursor,
    header: BatchHeader,
}

impl Records {
    /// The next record as a view borrowed from this iterator, without the
    /// reference count and header list of a [`ConsumerRecord`]. Advances
    /// the same cursor as [`Iterator::next`].
    #[inline]
    pub fn next_ref(&mut self) -> Option<Result<RecordRef<'_>>> {
        Some(self.cursor.step_view(&self.header, &self.data)?.map_err(Error::malformed))
    }
}

impl Iterator for Records {
    type Item = Result<ConsumerRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut header_ranges = Vec::new();
        let parsed = match self.cursor.step(&self.header, &self.data, |k, v| header_ranges.push((k, v)))? {
            Ok(parsed) => parsed,
            Err(problem) => return Some(Err(Error::malformed(problem))),
        };
        let Parsed { start, end, fields } = parsed;
        // One shared view per record; key and value are ranges inside it.
        let bytes = self.data.slice(start..end);
        let local = |r: Range<usize>| r.start - start..r.end - start;
        let headers = header_ranges
            .into_iter()
            .map(|(k, v)| Header::from_raw(bytes.slice(local(k)), v.map(|v| bytes.slice(local(v)))))
            .collect();
        let h = &self.header;
        Some(Ok(ConsumerRecord {
            offset: h.base_offset.wrapping_add(i64::from(fields.offset_delta)),
            timestamp: record_timestamp(h, fields.timestamp_delta),
            timestamp_type: h.timestamp_type(),
            bytes,
            key: fields.key.map(local),
            value: fields.value.map(local),
            headers,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.cursor.remaining(&self.header);
        (left, Some(left))
    }
}

/// Iterator over the records of a [`RecordBatch`] as borrowed
/// [`RecordRef`]s: see [`RecordBatch::record_refs`].
#[derive(Debug, Clone)]
pub struct RecordRefs<'a> {
    data: &'a [u8],
    cursor: Cursor,
    header: BatchHeader,
}

impl<'a> Iterator for RecordRefs<'a> {
    type Item = Result<RecordRef<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.cursor.step_view(&self.header, self.data)?.map_err(Error::malformed))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.cursor.remaining(&self.header);
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{BatchBuilder, Record};

    fn sample() -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None);
        b.append(&Record::new().key("a").value("1").timestamp(10)).unwrap();
        b.append(&Record::new().key("b").value("2").timestamp(15)).unwrap();
        b.build().unwrap().into_bytes().to_vec()
    }

    fn with_count(count: i32) -> Bytes {
        let mut b = sample();
        b[57..61].copy_from_slice(&count.to_be_bytes());
        let crc = crc32c::crc32c(&b[CRC_COVERED_FROM..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(b)
    }

    /// The lazy view accepts what only iteration can find wrong, and its
    /// iterator then reports the same problem `new` reports up front.
    #[test]
    fn lazy_records_report_every_problem_while_iterating() {
        for count in [1, 3] {
            let bytes = with_count(count);
            let eager = RecordBatch::new(bytes.clone()).unwrap_err();
            let lazy = RecordBatch::new_lazy(bytes).unwrap();
            let results: Vec<_> = lazy.records().unwrap().collect();
            let err = results.iter().find_map(|r| r.as_ref().err()).expect("an error while iterating");
            assert_eq!(err.to_string(), eager.to_string(), "count {count}");
            assert!(results.last().unwrap().is_err(), "iteration stops at the error");
        }
        let good = RecordBatch::new_lazy(Bytes::from(sample())).unwrap();
        assert_eq!(good.records().unwrap().filter(|r| r.is_ok()).count(), 2);
    }
}
