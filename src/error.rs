//! The crate's one error type.
//!
//! Every variant says what went wrong and, where it is known, where: the file
//! and the byte position inside it. Variants are structured so callers can
//! match on them instead of parsing messages.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::format::Compression;

/// The result type of every fallible operation in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
///
/// Every variant names what failed and, where known, the file and byte
/// position; [`std::error::Error::source`] leads to the underlying I/O,
/// codec or append error. What a caller should do:
///
/// | Variant | Meaning | What to do |
/// |---|---|---|
/// | [`Io`](Error::Io) | an OS call on a file failed (the `source` has the errno) | retry if transient; on a write path the partition is then [`Poisoned`](Error::Poisoned) |
/// | [`Poisoned`](Error::Poisoned) | an earlier write or fsync failed; writes are refused | fix the cause (disk full, I/O error), reopen the store; nothing after the last flush is assumed written |
/// | [`Locked`](Error::Locked) | the directory is open elsewhere | close the other handle or process, then retry |
/// | [`Closed`](Error::Closed) | the partition or store was closed | reopen |
/// | [`CrcMismatch`](Error::CrcMismatch), [`MalformedBatch`](Error::MalformedBatch), [`UnsupportedMagic`](Error::UnsupportedMagic) | bytes are not a valid v2 batch | report corruption (or reject the input, for bytes you supplied) |
/// | [`CorruptSegment`](Error::CorruptSegment) | damaged bytes inside a segment, at `position` | report corruption; reading continues at the next segment; reopening recovers what is above the recovery point |
/// | [`MissingSegment`](Error::MissingSegment) | a segment's files were removed outside topiclog | restore the files, or accept the gap |
/// | [`CorruptIndex`](Error::CorruptIndex) | an index disagrees with its log (rebuilt automatically) | nothing; report it if it persists |
/// | [`CorruptState`](Error::CorruptState), [`CorruptTopicMetadata`](Error::CorruptTopicMetadata), [`CorruptCheckpoint`](Error::CorruptCheckpoint) | a metadata file cannot be parsed | restore or remove the file named (see the README's repair notes), then reopen |
/// | [`UnsupportedCompression`](Error::UnsupportedCompression) | a codec this build lacks | build with the codec's cargo feature; raw batch bytes stay readable |
/// | [`Compression`](Error::Compression) | a payload failed to (de)compress | report corruption |
/// | [`InvalidConfig`](Error::InvalidConfig), [`InvalidTopicName`](Error::InvalidTopicName), [`InvalidPartitionCount`](Error::InvalidPartitionCount) | a bad setting or name | fix the value given |
/// | [`InvalidRecord`](Error::InvalidRecord), [`InvalidTimestamp`](Error::InvalidTimestamp), [`TimestampOutOfBounds`](Error::TimestampOutOfBounds), [`EmptyBatch`](Error::EmptyBatch), [`TooLarge`](Error::TooLarge), [`RecordBatchTooLarge`](Error::RecordBatchTooLarge) | the records given are not acceptable; nothing was written | fix the records (or raise `max.message.bytes`) |
/// | [`PolicyViolation`](Error::PolicyViolation), [`TruncateInsideSparseBatch`](Error::TruncateInsideSparseBatch) | the operation does not fit the log | use an operation the policy allows |
/// | [`OffsetOutOfRange`](Error::OffsetOutOfRange), [`InvalidOffset`](Error::InvalidOffset) | an offset outside the log | seek to the log start or end (consumers apply `auto.offset.reset`) |
/// | [`UnknownTopic`](Error::UnknownTopic), [`UnknownPartition`](Error::UnknownPartition), [`TopicExists`](Error::TopicExists), [`UnknownGroup`](Error::UnknownGroup) | no such topic, partition or group (or it exists already) | check the name; create it first |
/// | [`NotAssigned`](Error::NotAssigned), [`NoGroup`](Error::NoGroup), [`GroupHasMembers`](Error::GroupHasMembers) | a consumer call that its assignment or group does not allow | assign or subscribe first; set `group.id`; stop the group's members first |
/// | [`Serialization`](Error::Serialization), [`Deserialization`](Error::Deserialization) | a serializer refused a key or value | fix the data or the serializer; for a poison record, seek past its offset |
/// | [`ProducerAppend`](Error::ProducerAppend) | the append of the record's batch failed (`source`); every record of the batch failed | act on the source error; resend if it was transient |
/// | [`Symlink`](Error::Symlink) | a file topiclog would write is a symbolic link | replace the link with a regular file |
/// | [`OffsetOverflow`](Error::OffsetOverflow), [`SegmentFull`](Error::SegmentFull), [`IndexFull`](Error::IndexFull), [`IndexOutOfOrder`](Error::IndexOutOfOrder), [`SegmentSealed`](Error::SegmentSealed), [`ReadOnly`](Error::ReadOnly), [`NonMonotonicOffsets`](Error::NonMonotonicOffsets) | conditions inside the segment layer that the partition handles (by rolling or rebuilding) | none reach a caller of the partition API in normal operation; report one that does |
/// | [`Internal`](Error::Internal) | topiclog broke its own invariant | report a bug |
///
/// ```
/// use topiclog::{Error, LogConfig, Partition, Record};
///
/// let dir = tempfile::tempdir()?;
/// let log = Partition::open(dir.path(), LogConfig::default())?;
/// log.append(&[Record::new().value("a")])?;
/// let reader = match log.read_from(5) {
///     Ok(reader) => reader,
///     // Past the end: start at the log end, as `auto.offset.reset=latest` would.
///     Err(Error::OffsetOutOfRange { log_end_offset, .. }) => log.read_from(log_end_offset)?,
///     Err(e) => return Err(e.into()),
/// };
/// assert_eq!(reader.position(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call on a file failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The operation that failed, for example "open" or "fsync".
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// A record batch's stored CRC-32C does not match the bytes it covers.
    #[error("record batch{}: CRC-32C mismatch, stored {stored:#010x}, computed {computed:#010x}", At(*.position))]
    CrcMismatch {
        /// Byte position of the batch in its file, when known.
        position: Option<u64>,
        /// The CRC stored in the batch header.
        stored: u32,
        /// The CRC computed over the batch's bytes.
        computed: u32,
    },

    /// A record batch's bytes do not follow the v2 layout.
    #[error("record batch{}: {problem}", At(*.position))]
    MalformedBatch {
        /// Byte position of the batch in its file, when known.
        position: Option<u64>,
        /// What is wrong with it.
        problem: BatchProblem,
    },

    /// A batch uses a magic (format version) other than 2.
    #[error("record batch{}: unsupported magic {magic} (only v2 is supported)", At(*.position))]
    UnsupportedMagic {
        /// Byte position of the batch in its file, when known.
        position: Option<u64>,
        /// The magic byte found.
        magic: i8,
    },

    /// A batch is compressed with a codec this build cannot decode or encode:
    /// an unknown codec id, or a known codec whose cargo feature is disabled.
    /// The batch's raw bytes stay readable.
    #[error("compression codec id {codec_id} ({}) is not supported by this build{}", codec_name(*.codec_id), At(*.position))]
    UnsupportedCompression {
        /// Byte position of the batch in its file, when known.
        position: Option<u64>,
        /// The codec id from the batch attributes (bits 0-2).
        codec_id: u8,
    },

    /// A compressed payload failed to decompress, or data failed to compress.
    #[error("{codec:?} {direction} failed{}: {source}", At(*.position))]
    Compression {
        /// Byte position of the batch in its file, when known.
        position: Option<u64>,
        /// The codec.
        codec: Compression,
        /// "compression" or "decompression".
        direction: &'static str,
        /// The codec library's error.
        #[source]
        source: io::Error,
    },

    /// A record timestamp is negative and not the `NO_TIMESTAMP` sentinel (-1).
    #[error("invalid record timestamp {timestamp}: must be -1 (none) or non-negative")]
    InvalidTimestamp {
        /// The rejected timestamp.
        timestamp: i64,
    },

    /// A batch or record would exceed a size limit.
    #[error("{what} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large, for example "record batch".
        what: &'static str,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },

    /// A batch was built with no records.
    #[error("a record batch needs at least one record")]
    EmptyBatch,

    /// A configuration key is unknown or its value invalid.
    #[error("invalid configuration {key}={value}: {reason}")]
    InvalidConfig {
        /// The key, with Kafka's name.
        key: String,
        /// The rejected value, as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },

    /// An offset is outside the partition's readable range.
    #[error("offset {offset} is out of range: the log holds {log_start_offset}..{log_end_offset}")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: i64,
        /// The log start offset.
        log_start_offset: i64,
        /// The log end offset (next offset to be written).
        log_end_offset: i64,
    },

    /// A batch is larger than `max.message.bytes` or than a segment.
    #[error("record batch of {size} bytes exceeds {limit_name} = {limit}")]
    RecordBatchTooLarge {
        /// The batch size in bytes.
        size: u64,
        /// The limit that applies.
        limit: u64,
        /// The configuration key of the limit.
        limit_name: &'static str,
    },

    /// A batch given to append is not acceptable as a producer batch; the
    /// log is unchanged.
    #[error("invalid record batch for append: {problem}")]
    InvalidRecord {
        /// Why it was refused.
        problem: RecordProblem,
    },

    /// [`Partition::truncate_to`](crate::Partition::truncate_to) would cut a
    /// batch with offset gaps (one compaction thinned) in the middle, which
    /// cannot be re-encoded without changing the offsets kept.
    #[error(
        "cannot truncate to offset {offset}: it falls inside the batch from {batch_base_offset}, which has offset gaps"
    )]
    TruncateInsideSparseBatch {
        /// The offset asked for.
        offset: i64,
        /// The base offset of the batch it falls in.
        batch_base_offset: i64,
    },

    /// A record timestamp is outside the bounds `message.timestamp.*.max.ms` allow.
    #[error("record timestamp {timestamp} is {} than {bound} ms from the log's clock ({now})", if *.too_old { "older" } else { "further ahead" })]
    TimestampOutOfBounds {
        /// The record's timestamp.
        timestamp: i64,
        /// The log's clock.
        now: i64,
        /// The bound in milliseconds.
        bound: i64,
        /// Whether the record is too old (else too far in the future).
        too_old: bool,
    },

    /// The operation is not allowed by the log's `cleanup.policy`.
    #[error("{operation} is not allowed with cleanup.policy={policy}")]
    PolicyViolation {
        /// What was refused.
        operation: &'static str,
        /// The policy in force.
        policy: String,
    },

    /// An earlier write or fsync failed, so the partition refuses writes
    /// until it is reopened (its on-disk state is no longer known).
    #[error("partition {} refuses writes after an earlier I/O failure: {source}", dir.display())]
    Poisoned {
        /// The partition directory.
        dir: PathBuf,
        /// The failure that poisoned it (an [`Error::Io`] naming the file).
        #[source]
        source: std::sync::Arc<Error>,
    },

    /// One of Kafka's checkpoint files at the data directory's root
    /// (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
    /// `cleaner-offset-checkpoint`) cannot be parsed.
    #[error("corrupt checkpoint {}: {problem}", path.display())]
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// A partition's state file (`topiclog.state`: log start, recovery point,
    /// segment list) cannot be parsed.
    #[error("corrupt partition state {}: {problem}", path.display())]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// A topic's metadata file (partition count, configuration overrides)
    /// cannot be parsed.
    #[error("corrupt topic metadata {}: {problem}", path.display())]
    CorruptTopicMetadata {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// topiclog broke one of its own invariants: a bug. Nothing was changed
    /// past the point it was found; please report it with the message.
    #[error("internal error (a bug in topiclog): {invariant}")]
    Internal {
        /// The invariant that did not hold.
        invariant: &'static str,
    },

    /// A topic name breaks Kafka's rules.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },

    /// No topic has that name.
    #[error("unknown topic {name:?}")]
    UnknownTopic {
        /// The name given.
        name: String,
    },

    /// No consumer group of that name has committed offsets.
    #[error("consumer group {group:?} has no committed offsets")]
    UnknownGroup {
        /// The group id given.
        group: String,
    },

    /// An offset that cannot be committed or sought to (negative).
    #[error("offset {offset} is not a valid position (offsets are at least 0)")]
    InvalidOffset {
        /// The offset given.
        offset: i64,
    },

    /// A consumer was asked about a partition it is not assigned.
    #[error("partition {topic}-{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },

    /// A consumer without a group id was asked to commit or to use committed offsets.
    #[error("this consumer has no group.id: {what} needs one")]
    NoGroup {
        /// What needed the group.
        what: &'static str,
    },

    /// A key or value could not be serialized.
    #[error("cannot serialize a record for topic {topic:?}: {reason}")]
    Serialization {
        /// The topic.
        topic: String,
        /// What the serializer said.
        reason: String,
    },

    /// A record's key or value could not be deserialized.
    #[error("cannot deserialize the record at {topic}-{partition} offset {offset}: {reason}")]
    Deserialization {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The record's offset.
        offset: i64,
        /// What the deserializer said.
        reason: String,
    },

    /// A producer's batch could not be appended; every record of it failed.
    #[error("appending a producer batch to partition {partition} failed: {source}")]
    ProducerAppend {
        /// The partition.
        partition: u32,
        /// The append's error.
        #[source]
        source: std::sync::Arc<Error>,
    },

    /// A consumer that assigned its partitions itself tried to commit for a
    /// group whose members share partitions by subscription (Kafka refuses it).
    #[error("group {group:?} has active members: commits from a consumer outside it are refused")]
    GroupHasMembers {
        /// The group.
        group: String,
    },

    /// A topic with that name exists already.
    #[error("topic {name:?} already exists")]
    TopicExists {
        /// The name given.
        name: String,
    },

    /// A partition number is not below the topic's partition count.
    #[error("topic {topic:?} has no partition {partition} (it has {count})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// The topic's partition count.
        count: u32,
    },

    /// A partition count that would not grow the topic (Kafka never shrinks
    /// one), or more than [`Store::MAX_PARTITIONS`](crate::Store::MAX_PARTITIONS).
    #[error(
        "topic {topic:?} has {current} partitions; the count can only grow, up to {}, not become {requested}",
        crate::store::MAX_PARTITIONS
    )]
    InvalidPartitionCount {
        /// The topic.
        topic: String,
        /// Its current count.
        current: u32,
        /// The count asked for.
        requested: u32,
    },

    /// The directory (a store's data directory or a partition directory) is
    /// open elsewhere: in this process or another.
    #[error("{} is locked: the directory is already open, in this or another process", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },

    /// The partition was closed.
    #[error("partition {} is closed", dir.display())]
    Closed {
        /// The partition directory.
        dir: PathBuf,
    },

    /// A segment's `.log` holds damaged bytes where a batch should be. Reads
    /// never repair or cut the file; the records from `offset` to the end of
    /// that segment cannot be read (a [`crate::partition::RecordReader`]
    /// continues at the next segment).
    #[error("damaged segment {} at position {position} (reading offset {offset}): {source}", path.display())]
    CorruptSegment {
        /// The `.log` file.
        path: PathBuf,
        /// Byte position of the damaged batch in the file.
        position: u64,
        /// The offset being read when the damage was found.
        offset: i64,
        /// What is wrong with the bytes there.
        #[source]
        source: Box<Error>,
    },

    /// A partition's state file lists a segment whose files are gone (deleted
    /// or renamed outside topiclog): offsets `from..to` cannot be read.
    #[error("partition {}: offsets {from}..{to} are missing (segment {from} has no files)", dir.display())]
    MissingSegment {
        /// The partition directory.
        dir: PathBuf,
        /// The missing segment's base offset: the first missing offset.
        from: i64,
        /// The next segment's base offset (or the log end): the first offset after the gap.
        to: i64,
    },

    /// A file topiclog would write is a symbolic link; topiclog never writes
    /// through one (it could lead outside the data directory).
    #[error("{} is a symbolic link; topiclog refuses to write through it", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
    },

    /// An index file fails its sanity check; it can be rebuilt from the `.log`.
    #[error("corrupt index {}: {problem}", path.display())]
    CorruptIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// An index has no free slot (the segment must roll).
    #[error("index {} is full ({entries} entries)", path.display())]
    IndexFull {
        /// The index file.
        path: PathBuf,
        /// Entries it holds.
        entries: usize,
    },

    /// An index entry would go backwards: its offset (or timestamp) is below the last entry's.
    #[error("index {}: entry {what} {value} is below the last entry's {last}", path.display())]
    IndexOutOfOrder {
        /// The index file.
        path: PathBuf,
        /// "offset" or "timestamp".
        what: &'static str,
        /// The rejected value.
        value: i64,
        /// The last entry's value.
        last: i64,
    },

    /// An offset does not fit a segment's 32-bit relative offsets.
    #[error(
        "offset {offset} cannot be stored in the segment with base offset {base_offset}: relative offset out of 0..=2^31-1"
    )]
    OffsetOverflow {
        /// The segment's base offset.
        base_offset: i64,
        /// The offset that does not fit.
        offset: i64,
    },

    /// A segment's `.log` would pass the 2 GiB that 32-bit index positions can address.
    #[error("segment {} would reach {size} bytes, beyond the 2 GiB a segment can address", path.display())]
    SegmentFull {
        /// The segment's `.log` file.
        path: PathBuf,
        /// The size it would reach.
        size: u64,
    },

    /// An append was attempted on a sealed segment (call `activate` first).
    #[error("segment {} is sealed", path.display())]
    SegmentSealed {
        /// The segment's `.log` file.
        path: PathBuf,
    },

    /// A write was attempted on a segment opened read-only.
    #[error("{} was opened read-only", path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },

    /// A batch appended to a segment does not continue its offsets.
    #[error(
        "append to segment {base_offset}: batch offsets {first}..={last} do not follow the segment's next offset {next}"
    )]
    NonMonotonicOffsets {
        /// The segment's base offset.
        base_offset: i64,
        /// First offset of the rejected data.
        first: i64,
        /// Last offset of the rejected data.
        last: i64,
        /// The segment's next offset.
        next: i64,
    },
}

/// Why [`Error::InvalidRecord`] refused a batch given to append.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordProblem {
    /// A control batch (transaction marker): only a transaction coordinator writes those.
    ControlBatch,
    /// A batch whose offsets are not dense (`lastOffsetDelta + 1` must equal
    /// the record count, which must be positive) cannot get offsets assigned.
    SparseOffsets {
        /// The header's record count.
        record_count: i32,
        /// The header's last offset delta.
        last_offset_delta: i32,
    },
    /// An idempotent batch (producer id set) without a base sequence.
    MissingBaseSequence {
        /// The batch's producer id.
        producer_id: i64,
    },
    /// A record without a key, in a log with `cleanup.policy` compact.
    NullKeyInCompactedLog {
        /// Index of the record in the batch (from 0).
        record: usize,
    },
    /// A batch appended with its own offsets starts below the log end.
    BelowLogEnd {
        /// The batch's base offset.
        base_offset: i64,
        /// The log end offset.
        log_end_offset: i64,
    },
}

impl fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ControlBatch => f.write_str("control batches cannot be appended"),
            Self::SparseOffsets { record_count, last_offset_delta } => write!(
                f,
                "offsets must be dense to be assigned (record count {record_count}, last offset delta {last_offset_delta})"
            ),
            Self::MissingBaseSequence { producer_id } => {
                write!(f, "the idempotent batch of producer {producer_id} has no base sequence")
            }
            Self::NullKeyInCompactedLog { record } => {
                write!(f, "record {record} has a null key, which a compacted topic does not accept")
            }
            Self::BelowLogEnd { base_offset, log_end_offset } => {
                write!(f, "batch starts at offset {base_offset} below the log end offset {log_end_offset}")
            }
        }
    }
}

/// The specific way a record batch's bytes break the v2 layout.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchProblem {
    /// Fewer bytes than the layout needs.
    Truncated {
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The `batchLength` field is smaller than a batch header or negative.
    InvalidLength {
        /// The stored `batchLength`.
        batch_length: i32,
    },
    /// The buffer holds more bytes than the batch's `batchLength` declares.
    TrailingBytes {
        /// Bytes left over.
        extra: u64,
    },
    /// A varint runs past its maximum length.
    VarintTooLong,
    /// A varint or field ends past the end of the records data.
    RecordTruncated {
        /// Index of the record inside the batch.
        record: u32,
    },
    /// A record's length prefix does not match the bytes its fields use.
    RecordLengthMismatch {
        /// Index of the record inside the batch.
        record: u32,
    },
    /// A length field inside a record is negative (other than -1 for null) or out of range.
    InvalidFieldLength {
        /// Index of the record inside the batch.
        record: u32,
        /// The offending length.
        length: i64,
    },
    /// The header's record count disagrees with the records present.
    RecordCountMismatch {
        /// Records the header declares.
        declared: i32,
        /// Records that could be read before the data ended, or `declared` if data remains.
        found: u32,
    },
    /// Bytes remain after the declared number of records.
    TrailingRecordBytes {
        /// Bytes left over.
        extra: u64,
    },
    /// A record's offset delta is outside `0..=lastOffsetDelta`, or not increasing.
    InvalidOffsetDelta {
        /// Index of the record inside the batch.
        record: u32,
        /// The offending delta.
        delta: i32,
    },
    /// The header's record count is negative, or the last offset delta is negative.
    InvalidHeader {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: i64,
    },
}

impl fmt::Display for BatchProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} available")
            }
            Self::InvalidLength { batch_length } => {
                write!(f, "invalid batchLength {batch_length}")
            }
            Self::TrailingBytes { extra } => {
                write!(f, "{extra} bytes follow the batch's declared length")
            }
            Self::VarintTooLong => f.write_str("varint longer than its maximum encoding"),
            Self::RecordTruncated { record } => {
                write!(f, "record {record} runs past the end of the batch")
            }
            Self::RecordLengthMismatch { record } => {
                write!(f, "record {record}: length prefix disagrees with its fields")
            }
            Self::InvalidFieldLength { record, length } => {
                write!(f, "record {record}: invalid field length {length}")
            }
            Self::RecordCountMismatch { declared, found } => {
                write!(f, "header declares {declared} records, found {found}")
            }
            Self::TrailingRecordBytes { extra } => {
                write!(f, "{extra} bytes remain after the last declared record")
            }
            Self::InvalidOffsetDelta { record, delta } => {
                write!(f, "record {record}: offset delta {delta} out of order or range")
            }
            Self::InvalidHeader { field, value } => write!(f, "invalid header field {field} = {value}"),
        }
    }
}

impl Error {
    /// Attaches a file position to a batch error that does not carry one yet.
    /// Positions inside a file are only known to the caller that read the file.
    pub(crate) fn at_position(mut self, at: u64) -> Self {
        match &mut self {
            Error::CrcMismatch { position, .. }
            | Error::MalformedBatch { position, .. }
            | Error::UnsupportedMagic { position, .. }
            | Error::UnsupportedCompression { position, .. }
            | Error::Compression { position, .. }
                if position.is_none() =>
            {
                *position = Some(at);
            }
            _ => {}
        }
        self
    }

    pub(crate) fn malformed(problem: BatchProblem) -> Self {
        Error::MalformedBatch { position: None, problem }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        // Files are opened with O_NOFOLLOW: ELOOP means the name is a symlink.
        if source.raw_os_error() == Some(libc::ELOOP) {
            return Error::Symlink { path };
        }
        Error::Io { op, path, source }
    }
}

/// A copy of an I/O error that keeps what a caller matches on: the OS error
/// code when there is one, else the kind and the message.
pub(crate) fn copy_io_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// Formats an optional file position as " at position N" or nothing.
struct At(Option<u64>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, " at position {p}"),
            None => Ok(()),
        }
    }
}

fn codec_name(id: u8) -> &'static str {
    match Compression::from_id(id) {
        Some(c) => c.name(),
        None => "unknown",
    }
}
