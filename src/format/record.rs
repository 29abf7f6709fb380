//! Records as callers write them ([`Record`]) and read them ([`ConsumerRecord`],
//! or borrowed: [`RecordRef`]).

use bytes::Bytes;

use super::varint::SliceReader;

/// How a record's timestamp was assigned: attribute bit 3 of its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer (Kafka's default).
    #[default]
    CreateTime,
    /// Set by the log when the batch was appended; every record of the batch
    /// carries the batch's `maxTimestamp`.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's name, as in `message.timestamp.type`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// A record header: a key (UTF-8 in Kafka) and an optional value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    key: Bytes,
    value: Option<Bytes>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self { key: Bytes::from(key.into()), value: Some(value.into()) }
    }

    /// A header whose value is null.
    pub fn with_null_value(key: impl Into<String>) -> Self {
        Self { key: Bytes::from(key.into()), value: None }
    }

    /// A header from raw parts, as decoded from a batch (the key is not checked for UTF-8).
    pub(crate) fn from_raw(key: Bytes, value: Option<Bytes>) -> Self {
        Self { key, value }
    }

    /// The key's bytes.
    pub fn key(&self) -> &Bytes {
        &self.key
    }

    /// The key as text, or `None` when the stored bytes are not UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }

    /// The value, or `None` for a null value.
    pub fn value(&self) -> Option<&Bytes> {
        self.value.as_ref()
    }
}

/// A record to append: optional key, optional value, headers and an optional
/// timestamp (the log's clock fills in a missing one).
///
/// ```
/// use topiclog::Record;
/// let r = Record::new().key("user-42").value("signed up").header("source", "web").timestamp(1_700_000_000_000);
/// assert_eq!(r.key.as_deref(), Some(&b"user-42"[..]));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The key; `None` is Kafka's null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone in compacted topics).
    pub value: Option<Bytes>,
    /// Headers in order; keys may repeat.
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch, or `None` to let the writer choose.
    pub timestamp: Option<i64>,
}

impl Record {
    /// An empty record: null key, null value, no headers, no timestamp.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the key: owned bytes are kept, borrowed ones (`&str`, `&[u8]`) copied.
    ///
    /// ```
    /// use topiclog::Record;
    /// let id = String::from("user-7");
    /// let r = Record::new().key(id.as_str()).value(vec![1, 2, 3]);
    /// assert_eq!(r.key.as_deref(), Some(&b"user-7"[..]));
    /// ```
    pub fn key(mut self, key: impl IntoBytes) -> Self {
        self.key = Some(key.into_bytes());
        self
    }

    /// Sets the value (see [`Record::key`]).
    pub fn value(mut self, value: impl IntoBytes) -> Self {
        self.value = Some(value.into_bytes());
        self
    }

    /// Adds a header with a value.
    pub fn header(mut self, key: impl Into<String>, value: impl IntoBytes) -> Self {
        self.headers.push(Header::new(key, value.into_bytes()));
        self
    }

    /// Adds a header (for example one with a null value).
    pub fn push_header(mut self, header: Header) -> Self {
        self.headers.push(header);
        self
    }

    /// Sets the timestamp in milliseconds since the Unix epoch (-1 means none).
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

/// Bytes for a key, value or header: owned buffers are taken as they are,
/// borrowed ones copied.
pub trait IntoBytes {
    /// The bytes.
    fn into_bytes(self) -> Bytes;
}

impl IntoBytes for Bytes {
    fn into_bytes(self) -> Bytes {
        self
    }
}

impl IntoBytes for Vec<u8> {
    fn into_bytes(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoBytes for String {
    fn into_bytes(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoBytes for &str {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl IntoBytes for &String {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl IntoBytes for &[u8] {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl IntoBytes for &Vec<u8> {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl<const N: usize> IntoBytes for &[u8; N] {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl<const N: usize> IntoBytes for [u8; N] {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(&self)
    }
}

/// A record read back from a batch. It holds one shared view of the record's
/// bytes; key, value and headers are slices of it, so reading an uncompressed
/// batch copies nothing.
///
/// ```
/// use topiclog::{BatchBuilder, Compression, Record};
///
/// let mut builder = BatchBuilder::new(Compression::None).base_offset(100);
/// builder.append(&Record::new().key("k").value("v").timestamp(1_700_000_000_000).header("trace", "abc"))?;
/// let batch = builder.build()?;
/// let record = batch.records()?.next().transpose()?.ok_or("no record")?;
/// assert_eq!(record.offset(), 100);
/// assert_eq!(record.key(), Some(&b"k"[..]));
/// assert_eq!(record.value(), Some(&b"v"[..]));
/// assert_eq!(record.timestamp(), 1_700_000_000_000);
/// assert_eq!(record.headers().len(), 1);
/// // Back to an owned record, for example to append it to another log.
/// let copy: Record = record.to_record();
/// assert_eq!(copy.timestamp, Some(1_700_000_000_000));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) timestamp_type: TimestampType,
    /// The record's encoded bytes.
    pub(crate) bytes: Bytes,
    pub(crate) key: Option<std::ops::Range<usize>>,
    pub(crate) value: Option<std::ops::Range<usize>>,
    pub(crate) headers: Vec<Header>,
}

impl ConsumerRecord {
    /// The record's offset in its partition.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The record's timestamp (ms since the Unix epoch, -1 for none).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// How the timestamp was assigned.
    pub fn timestamp_type(&self) -> TimestampType {
        self.timestamp_type
    }

    /// The key, or `None` for a null key.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.clone().and_then(|r| self.bytes.get(r))
    }

    /// The value, or `None` for a null value.
    pub fn value(&self) -> Option<&[u8]> {
        self.value.clone().and_then(|r| self.bytes.get(r))
    }

    /// The key as shared bytes that outlive the record (no copy).
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.key.clone().map(|r| self.bytes.slice(r))
    }

    /// The value as shared bytes that outlive the record (no copy).
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.clone().map(|r| self.bytes.slice(r))
    }

    /// The headers in stored order.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The record as input for another batch: same key, value, headers and
    /// timestamp, sharing the bytes (no copy).
    pub fn to_record(&self) -> Record {
        Record {
            key: self.key_bytes(),
            value: self.value_bytes(),
            headers: self.headers.clone(),
            timestamp: Some(self.timestamp),
        }
    }
}

/// A record borrowed from a batch's bytes, for hot paths: no allocation and
/// no reference count per record. Key, value and headers are slices of the
/// batch (of its decompressed records, for a compressed batch); headers are
/// decoded only when iterated. Produced by [`RecordBatch::record_refs`],
/// [`RecordBatch::record_at`](crate::RecordBatch::record_at) and
/// [`RecordReader::next_batch_views`](crate::partition::RecordReader::next_batch_views).
///
/// [`RecordBatch::record_refs`]: crate::RecordBatch::record_refs
///
/// ```
/// use topiclog::{BatchBuilder, Compression, Record};
/// let mut builder = BatchBuilder::new(Compression::None);
/// builder.append(&Record::new().key("k").value("v").header("h", "x").timestamp(5))?;
/// let batch = builder.build()?;
/// for record in batch.record_refs()? {
///     let record = record?;
///     assert_eq!(record.key(), Some(&b"k"[..]));
///     assert_eq!(record.value(), Some(&b"v"[..]));
///     let header = record.headers().next().expect("one header");
///     assert_eq!((header.key(), header.value()), (&b"h"[..], Some(&b"x"[..])));
/// }
/// # Ok::<(), topiclog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) timestamp_type: TimestampType,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    /// The encoded header entries (after their count), already validated.
    pub(crate) headers: &'a [u8],
    pub(crate) header_count: u32,
}

impl<'a> RecordRef<'a> {
    /// The record's offset in its partition.
    #[inline]
    #[must_use]
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The record's timestamp (ms since the Unix epoch, -1 for none).
    #[inline]
    #[must_use]
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// How the timestamp was assigned.
    #[inline]
    #[must_use]
    pub fn timestamp_type(&self) -> TimestampType {
        self.timestamp_type
    }

    /// The key, or `None` for a null key.
    #[inline]
    #[must_use]
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The value, or `None` for a null value.
    #[inline]
    #[must_use]
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// Number of headers.
    #[inline]
    #[must_use]
    pub fn header_count(&self) -> usize {
        self.header_count as usize
    }

    /// The headers in stored order, decoded as iterated.
    #[inline]
    #[must_use]
    pub fn headers(&self) -> HeaderRefs<'a> {
        HeaderRefs { buf: self.headers, reader: SliceReader::new(self.headers), left: self.header_count }
    }

    /// An owned copy, as input for another batch (copies key, value and headers).
    pub fn to_record(&self) -> Record {
        Record {
            key: self.key.map(Bytes::copy_from_slice),
            value: self.value.map(Bytes::copy_from_slice),
            headers: self
                .headers()
                .map(|h| Header::from_raw(Bytes::copy_from_slice(h.key), h.value.map(Bytes::copy_from_slice)))
                .collect(),
            timestamp: Some(self.timestamp),
        }
    }
}

impl PartialEq<ConsumerRecord> for RecordRef<'_> {
    fn eq(&self, other: &ConsumerRecord) -> bool {
        self.offset == other.offset()
            && self.timestamp == other.timestamp()
            && self.timestamp_type == other.timestamp_type()
            && self.key == other.key()
            && self.value == other.value()
            && self
                .headers()
                .eq(other.headers().iter().map(|h| HeaderRef { key: h.key(), value: h.value().map(|v| &v[..]) }))
    }
}

/// A header borrowed from a record: see [`RecordRef::headers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderRef<'a> {
    key: &'a [u8],
    value: Option<&'a [u8]>,
}

impl<'a> HeaderRef<'a> {
    /// The key's bytes.
    #[must_use]
    pub fn key(&self) -> &'a [u8] {
        self.key
    }

    /// The key as text, or `None` when the stored bytes are not UTF-8.
    #[must_use]
    pub fn key_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.key).ok()
    }

    /// The value, or `None` for a null value.
    #[must_use]
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }
}

/// Iterator over the headers of a [`RecordRef`], decoding each as it goes.
#[derive(Debug, Clone)]
pub struct HeaderRefs<'a> {
    buf: &'a [u8],
    reader: SliceReader<'a>,
    left: u32,
}

impl<'a> HeaderRefs<'a> {
    /// Reads a varint length (-1 = null) and the bytes it counts.
    fn nullable(&mut self) -> Option<Option<&'a [u8]>> {
        let len = self.reader.varint().ok()?;
        if len == -1 {
            return Some(None);
        }
        let range = self.reader.skip(usize::try_from(len).ok()?)?;
        Some(Some(self.buf.get(range)?))
    }
}

impl<'a> Iterator for HeaderRefs<'a> {
    type Item = HeaderRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        // The entries were validated with their record; a failure here
        // (impossible for a validated record) just ends the headers.
        self.left = self.left.checked_sub(1)?;
        let parsed = self.nullable().and_then(|key| Some((key?, self.nullable()?)));
        match parsed {
            Some((key, value)) => Some(HeaderRef { key, value }),
            None => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}
