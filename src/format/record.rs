//! Records as callers write them ([`Record`]) and read them ([`ConsumerRecord`]).

use bytes::Bytes;

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
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Adds a header with a value.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, value));
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

/// A record read back from a batch. It holds one shared view of the record's
/// bytes; key, value and headers are slices of it, so reading an uncompressed
/// batch copies nothing.
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
