//! Reads and lookups: whole batches, record readers, point reads, the record
//! at an offset, and offsets by timestamp or special target.

use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::RecordRef;
use crate::index::TimestampOffset;
use crate::segment::LogSegment;

use super::{OffsetSpec, Partition, RecordReader};

/// Kafka's `ListOffsets` target for the log start offset.
const EARLIEST_TIMESTAMP: i64 = -2;
/// Kafka's `ListOffsets` target for the log end offset.
const LATEST_TIMESTAMP: i64 = -1;
/// Kafka's `ListOffsets` target for the record with the largest timestamp.
const MAX_TIMESTAMP: i64 = -3;

/// Default bytes per read of a [`RecordReader`].
const READ_CHUNK: u64 = 1 << 20;

/// Bytes per read when [`Partition::read_record_at`] falls back to a reader.
const POINT_READ_CHUNK: u64 = 64 << 10;

/// Bytes read from one segment, with where they came from.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// Whole batches.
    pub bytes: Bytes,
    /// The segment they were read from (its path names damage, if any).
    pub segment: Arc<LogSegment>,
    /// File position of the first byte.
    pub position: u64,
}

impl Partition {
    fn check_range(&self, offset: i64) -> Result<(i64, i64)> {
        self.check_open()?;
        // Log end first, then the list: any offset below it is in the list.
        let end = self.log_end_offset();
        let start = self.log_start_offset();
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange { offset, log_start_offset: start, log_end_offset: end });
        }
        Ok((start, end))
    }

    /// Reads whole batches starting with the one holding `offset`, about
    /// `max_bytes` of them but at least one. The first batch may start below
    /// `offset`. Empty at the log end; [`Error::OffsetOutOfRange`] below the
    /// log start or past the end.
    ///
    /// Damaged bytes where the batch holding `offset` should be give
    /// [`Error::CorruptSegment`] (file and position); offsets of a segment
    /// whose files are gone give [`Error::MissingSegment`]. Reads never
    /// modify the log's files.
    ///
    /// # Errors
    ///
    /// [`Error::OffsetOutOfRange`] below the log start offset or past the log end offset;
    /// [`Error::CorruptSegment`] for damaged bytes where the batch holding `offset` should be;
    /// [`Error::MissingSegment`] for offsets of a segment whose files are gone; [`Error::Closed`]
    /// after [`Partition::close`]; [`Error::Io`] when opening a sealed segment fails.
    pub fn read(&self, offset: i64, max_bytes: u64) -> Result<Bytes> {
        Ok(self.read_chunk(offset, max_bytes)?.map_or_else(Bytes::new, |c| c.bytes))
    }

    /// [`Partition::read`], saying which file and position the bytes come from.
    pub(crate) fn read_chunk(&self, offset: i64, max_bytes: u64) -> Result<Option<Chunk>> {
        let (_, end) = self.check_range(offset)?;
        if offset == end {
            return Ok(None);
        }
        let list = self.snapshot();
        // Retention may have removed the segment holding `offset` since the
        // range check: never answer with a later segment's records.
        if list.slots.first().is_none_or(|s| s.base_offset() > offset) {
            let (start, end) = (self.log_start_offset(), self.log_end_offset());
            return Err(Error::OffsetOutOfRange { offset, log_start_offset: start, log_end_offset: end });
        }
        if let Some(&(from, to)) = self.inner.gaps.iter().find(|(from, to)| (*from..*to).contains(&offset)) {
            return Err(Error::MissingSegment { dir: self.inner.dir.clone(), from, to });
        }
        for slot in list.slots.iter().skip(list.floor(offset)) {
            if slot.base_offset() > offset
                && let Some(&(from, to)) = self.inner.gaps.iter().find(|(_, to)| *to == slot.base_offset())
            {
                return Err(Error::MissingSegment { dir: self.inner.dir.clone(), from, to });
            }
            let seg = slot.get()?;
            if let Some((bytes, position)) = seg.read_at(offset, max_bytes, true)? {
                return Ok(Some(Chunk { bytes, segment: seg, position }));
            }
        }
        Ok(None)
    }

    /// The base offset of the first segment after the one holding `offset`.
    pub(crate) fn next_segment_base(&self, offset: i64) -> Option<i64> {
        let list = self.snapshot();
        let gap_end = self.inner.gaps.iter().find(|(from, to)| (*from..*to).contains(&offset)).map(|g| g.1);
        gap_end.or_else(|| list.slots.get(list.floor(offset) + 1).map(|s| s.base_offset()))
    }

    /// An iterator over records from `offset` on, across segments, up to the
    /// log end as it moves (control records and records below `offset` skipped).
    ///
    /// # Errors
    ///
    /// [`Error::OffsetOutOfRange`] below the log start offset or past the log end offset;
    /// [`Error::Closed`] after [`Partition::close`]. Errors found while reading come from the
    /// reader's iterator.
    pub fn read_from(&self, offset: i64) -> Result<RecordReader> {
        self.check_range(offset)?;
        Ok(RecordReader::new(self.clone(), offset, READ_CHUNK))
    }

    /// Point read: calls `f` with the record at `offset`, borrowed from the
    /// segment's mapping, and returns what `f` returns; `None` at the log end.
    ///
    /// When no record has offset `offset` (compaction removed it, it lies in
    /// a gap left by [`Partition::append_with_offsets`], or it is a control
    /// record) `f` gets the first record after it, exactly the record
    /// `read_from(offset)?.next()` returns: compare [`RecordRef::offset`]
    /// with `offset` to tell. A record not yet appended is never waited for.
    ///
    /// The quick path, taken for any uncompressed batch: the segment by a
    /// binary search of the segment list, the batch by the offset index and
    /// a walk of batch headers in the mapping, one CRC-32C check of that one
    /// batch, and the decoding of the wanted record only — no system call,
    /// no copy and no allocation. Anything else (a compressed or control
    /// batch, an index that disagrees with the log, the next record being in
    /// a later batch) is read through a [`RecordReader`], with its rules.
    ///
    /// # Errors
    ///
    /// [`Error::OffsetOutOfRange`] below the log start offset or past the log
    /// end offset; [`Error::CorruptSegment`] when the batch holding the
    /// record fails its CRC or is malformed (file and position);
    /// [`Error::MissingSegment`] for offsets of a segment whose files are
    /// gone; [`Error::Closed`] after [`Partition::close`]; [`Error::Io`]
    /// when opening a sealed segment fails.
    ///
    /// ```
    /// use topiclog::Partition;
    /// use topiclog::{LogConfig, Record};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::default())?;
    /// log.append(&[Record::new().value("a"), Record::new().key("k").value("bb")])?;
    /// let value = log.read_record_at(1, |record| record.value().map(<[u8]>::to_vec))?;
    /// assert_eq!(value, Some(Some(b"bb".to_vec())));
    /// assert_eq!(log.read_record_at(2, |record| record.offset())?, None, "the log end");
    /// assert!(log.read_record_at(3, |record| record.offset()).is_err(), "past the log end");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_record_at<R>(&self, offset: i64, f: impl FnOnce(RecordRef<'_>) -> R) -> Result<Option<R>> {
        let (_, end) = self.check_range(offset)?;
        if offset == end {
            return Ok(None);
        }
        let found = {
            let list = self.inner.segments.read();
            list.slots
                .get(list.floor(offset))
                // Retention may have removed the segment holding `offset`
                // since the range check: the general path says so.
                .filter(|s| s.base_offset() <= offset)
                .map(|s| s.get_if_open().ok_or_else(|| Arc::clone(s)))
        };
        let segment = match found {
            Some(Ok(segment)) => Some(segment),
            // A sealed segment not opened yet: open it outside the list's lock.
            Some(Err(slot)) => Some(slot.get()?),
            None => None,
        };
        let f = match segment {
            Some(segment) => match segment.point_read(offset, f)? {
                Ok(read) => return Ok(Some(read)),
                Err(f) => f,
            },
            None => f,
        };
        // The general way: a reader of small chunks, stopped after one record.
        let mut reader = RecordReader::new(self.clone(), offset, POINT_READ_CHUNK);
        let mut f = Some(f);
        let mut read = None;
        match reader.next_views(1, |record| read = f.take().map(|f| f(record))) {
            None | Some(Ok(_)) => Ok(read),
            Some(Err(e)) => Err(e),
        }
    }

    /// [`Partition::offset_for_timestamp`] with a named target.
    ///
    /// ```
    /// use topiclog::{OffsetSpec, Partition};
    /// use topiclog::{LogConfig, Record};
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::default())?;
    /// log.append(&[Record::new().value("a").timestamp(10), Record::new().value("b").timestamp(20)])?;
    /// assert_eq!(log.offset_for(OffsetSpec::Latest)?.map(|t| t.offset), Some(2));
    /// assert_eq!(log.offset_for(OffsetSpec::Timestamp(15))?.map(|t| t.offset), Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Partition::offset_for_timestamp`].
    pub fn offset_for(&self, spec: OffsetSpec) -> Result<Option<TimestampOffset>> {
        let target = match spec {
            OffsetSpec::Earliest => EARLIEST_TIMESTAMP,
            OffsetSpec::Latest => LATEST_TIMESTAMP,
            OffsetSpec::MaxTimestamp => MAX_TIMESTAMP,
            OffsetSpec::Timestamp(t) if t < 0 => return Err(Error::InvalidTimestamp { timestamp: t }),
            OffsetSpec::Timestamp(t) => t,
        };
        self.lookup_offset(target)
    }

    /// The record at exactly `offset`, or `None` when there is none there
    /// (compacted away, a control record, or a gap).
    ///
    /// # Errors
    ///
    /// [`Error::OffsetOutOfRange`] outside the log; read errors.
    pub fn get(&self, offset: i64) -> Result<Option<crate::format::ConsumerRecord>> {
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset < start || offset >= end {
            return Err(Error::OffsetOutOfRange { offset, log_start_offset: start, log_end_offset: end });
        }
        let record = self.read_from(offset)?.next().transpose()?;
        Ok(record.filter(|r| r.offset() == offset))
    }

    /// Kafka's `offsetsForTimes`: the first record with a timestamp at or
    /// after `timestamp` (ms since the epoch; SPEC §2.7), or `None` when every
    /// record is older. For the log start, the log end or the record with the
    /// largest timestamp, use [`Partition::offset_for`] with an [`OffsetSpec`].
    ///
    /// ```
    /// use topiclog::{LogConfig, Partition, Record};
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::default())?;
    /// log.append(&[Record::new().value("a").timestamp(10), Record::new().value("b").timestamp(20)])?;
    /// assert_eq!(log.offset_for_timestamp(15)?.map(|hit| hit.offset), Some(1));
    /// assert_eq!(log.offset_for_timestamp(21)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTimestamp`] for a negative timestamp (Kafka's -1, -2
    /// and -3 targets are [`OffsetSpec`] variants here); [`Error::Closed`]
    /// after `close`; an I/O or corruption error reading an index or segment.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        if timestamp < 0 {
            return Err(Error::InvalidTimestamp { timestamp });
        }
        self.lookup_offset(timestamp)
    }

    /// The lookup behind [`Partition::offset_for`]: a timestamp, or one of
    /// Kafka's negative special targets.
    fn lookup_offset(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        self.check_open()?;
        let start = self.log_start_offset();
        match timestamp {
            EARLIEST_TIMESTAMP => return Ok(Some(TimestampOffset { timestamp: -1, offset: start })),
            LATEST_TIMESTAMP => return Ok(Some(TimestampOffset { timestamp: -1, offset: self.log_end_offset() })),
            _ => {}
        }
        let list = self.snapshot();
        if timestamp == MAX_TIMESTAMP {
            let mut best: Option<Arc<LogSegment>> = None;
            for slot in &list.slots {
                let seg = slot.get()?;
                if best.as_ref().is_none_or(|b| seg.max_timestamp() > b.max_timestamp()) {
                    best = Some(seg);
                }
            }
            return match best {
                Some(seg) if seg.max_timestamp() >= 0 => seg.find_offset_by_timestamp(seg.max_timestamp(), start),
                _ => Ok(None),
            };
        }
        for slot in &list.slots {
            let seg = slot.get()?;
            if seg.next_offset() <= start {
                continue;
            }
            if seg.largest_timestamp()? >= timestamp
                && let Some(found) = seg.find_offset_by_timestamp(timestamp, start)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}
