//! [`RecordReader`]: records from an offset on, across segments.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{ConsumerRecord, FileBatches, RecordRef, Records};
use crate::segment::LogSegment;

use super::Partition;

/// An iterator over a partition's records from an offset on. It reads whole
/// batches in chunks and decodes them as it goes, following the log end as it
/// moves: `None` means the reader has caught up (call `next` again later for
/// new records). Records below the start offset and control records are
/// skipped.
///
/// Errors are returned once each, and the reader then moves on where it can
/// say what it skipped, or ends:
/// - [`Error::OffsetOutOfRange`] below a log start that moved up (retention,
///   delete-records): it continues at the new log start;
/// - [`Error::CorruptSegment`] (damaged bytes, with file and position): it
///   continues at the next segment's base offset; the rest of the damaged
///   segment is unreadable. Damage in the last segment ends the reader;
/// - [`Error::MissingSegment`]: it continues after the missing offsets;
/// - anything else (the partition was closed, an I/O error): the reader
///   ends, and `next` returns `None` from then on.
///
/// ```
/// use topiclog::{LogConfig, Partition, Record};
///
/// let dir = tempfile::tempdir()?;
/// let log = Partition::open(dir.path(), LogConfig::default())?;
/// log.append(&[Record::new().value("a"), Record::new().value("b")])?;
/// let mut reader = log.read_from(1)?;
/// let offsets = reader.by_ref().map(|r| r.map(|r| r.offset())).collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(offsets, [1]);
/// // Caught up: `None` until more records arrive; then the same reader goes on.
/// assert!(reader.next().is_none());
/// log.append(&[Record::new().value("c")])?;
/// let next = reader.next().transpose()?;
/// assert_eq!(next.map(|r| r.offset()), Some(2));
/// assert_eq!(reader.position(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RecordReader {
    partition: Partition,
    /// The first offset not yet returned (or skipped).
    next_offset: i64,
    chunk_bytes: u64,
    batches: Option<FileBatches>,
    /// The segment the batches in hand come from.
    chunk_segment: Option<Arc<LogSegment>>,
    records: Option<Records>,
    /// The offset after the batch `records` comes from.
    batch_end: i64,
    /// File position of that batch.
    batch_position: u64,
    /// The reader met an error it cannot move past.
    ended: bool,
    /// The log end offset when the chunk in hand was read: batches at or
    /// past it may be in the segment file before the partition publishes
    /// them (an append writes the segment, then moves the log end), and are
    /// left for a later chunk.
    chunk_end: i64,
}

impl RecordReader {
    pub(super) fn new(partition: Partition, next_offset: i64, chunk_bytes: u64) -> Self {
        Self {
            partition,
            next_offset,
            chunk_bytes,
            batches: None,
            chunk_segment: None,
            records: None,
            batch_end: next_offset,
            batch_position: 0,
            ended: false,
            chunk_end: next_offset,
        }
    }

    /// The offset of the next record this reader returns (or would, once written).
    pub fn position(&self) -> i64 {
        self.next_offset
    }

    /// Damaged bytes at `position` of the chunk's file: reported with the
    /// file, and the reader moves to the next segment (or ends).
    fn damage(&mut self, position: u64, cause: Error) -> Error {
        let error = match (cause, &self.chunk_segment) {
            (e @ Error::CorruptSegment { .. }, _) => e,
            (e, Some(segment)) => Error::CorruptSegment {
                path: segment.log_path(),
                position,
                offset: self.next_offset,
                source: Box::new(e.at_position(position)),
            },
            // Batches in hand always come from a chunk, which names its
            // segment; without one, report the damage without a file.
            (e, None) => {
                debug_assert!(false, "damaged batch without the segment it was read from");
                e.at_position(position)
            }
        };
        self.skip_damaged_segment();
        error
    }

    fn skip_damaged_segment(&mut self) {
        self.records = None;
        self.batches = None;
        match self.partition.next_segment_base(self.next_offset) {
            Some(base) if base > self.next_offset => self.next_offset = base,
            _ => self.ended = true,
        }
    }

    /// Makes the next batch in hand with records at or past the position
    /// current (skipping control batches). `None` when the batches in hand
    /// are used up.
    fn next_batch(&mut self) -> Option<Result<()>> {
        loop {
            let batches = self.batches.as_mut()?;
            let position = batches.file_position();
            let batch = match batches.next() {
                Some(Ok(b)) => b,
                Some(Err(e)) => return Some(Err(self.damage(position, e))),
                None => {
                    self.batches = None;
                    return None;
                }
            };
            if batch.last_offset() < self.next_offset {
                continue;
            }
            if batch.base_offset() >= self.chunk_end {
                // Written but not yet published: read again once it is.
                self.batches = None;
                return None;
            }
            let end = batch.next_offset();
            if batch.header().is_control() {
                self.next_offset = end;
                continue;
            }
            return match batch.records() {
                Ok(records) => {
                    self.records = Some(records);
                    self.batch_end = end;
                    self.batch_position = position;
                    Some(Ok(()))
                }
                Err(e) => Some(Err(self.damage(position, e))),
            };
        }
    }

    /// The batch in hand is used up: offsets after its last record
    /// (compaction gaps) are done with too.
    fn finish_batch(&mut self) {
        self.records = None;
        self.next_offset = self.next_offset.max(self.batch_end);
    }

    /// The next record of the batches in hand, without reading the log.
    fn next_buffered(&mut self) -> Option<Result<ConsumerRecord>> {
        loop {
            if let Some(records) = &mut self.records {
                match records.next() {
                    Some(Ok(r)) if r.offset() < self.next_offset => continue,
                    Some(Ok(r)) => {
                        self.next_offset = r.offset() + 1;
                        return Some(Ok(r));
                    }
                    Some(Err(e)) => return Some(Err(self.damage(self.batch_position, e))),
                    None => self.finish_batch(),
                }
            }
            if let Err(e) = self.next_batch()? {
                return Some(Err(e));
            }
        }
    }

    /// Like [`RecordReader::next_buffered`], for a whole batch of views.
    fn next_buffered_views(&mut self, max: usize, f: &mut impl FnMut(RecordRef<'_>)) -> Option<Result<usize>> {
        loop {
            if let Some(records) = &mut self.records {
                let mut visited = 0;
                let mut next_offset = self.next_offset;
                let failure = loop {
                    if visited == max {
                        // Stop inside the batch; the next call goes on from here.
                        self.next_offset = next_offset;
                        return Some(Ok(visited));
                    }
                    match records.next_ref() {
                        Some(Ok(r)) if r.offset() < next_offset => {}
                        Some(Ok(r)) => {
                            next_offset = r.offset() + 1;
                            f(r);
                            visited += 1;
                        }
                        Some(Err(e)) => break Some(e),
                        None => break None,
                    }
                };
                self.next_offset = next_offset;
                if let Some(e) = failure {
                    return Some(Err(self.damage(self.batch_position, e)));
                }
                self.finish_batch();
                if visited > 0 {
                    return Some(Ok(visited));
                }
            }
            if let Err(e) = self.next_batch()? {
                return Some(Err(e));
            }
        }
    }

    /// Reads the next chunk of batches from the log. `None` when the reader
    /// has caught up with the log end (or has ended).
    fn fill(&mut self) -> Option<Result<()>> {
        let end = self.partition.log_end_offset();
        if self.ended || self.next_offset >= end {
            return None;
        }
        match self.partition.read_chunk(self.next_offset, self.chunk_bytes) {
            Ok(None) => None,
            Ok(Some(chunk)) => {
                self.chunk_end = end;
                self.chunk_segment = Some(chunk.segment);
                self.batches = Some(FileBatches::new_lazy(chunk.bytes, chunk.position));
                Some(Ok(()))
            }
            Err(e) => {
                match &e {
                    // Past an out-of-range position (retention moved the
                    // log start above it), continue from the new start.
                    Error::OffsetOutOfRange { log_start_offset, .. } if self.next_offset < *log_start_offset => {
                        self.next_offset = *log_start_offset;
                    }
                    Error::MissingSegment { to, .. } if *to > self.next_offset => self.next_offset = *to,
                    Error::CorruptSegment { .. } => self.skip_damaged_segment(),
                    _ => self.ended = true,
                }
                Some(Err(e))
            }
        }
    }

    /// Calls `f` with each record of the next batch holding records at or
    /// past [`RecordReader::position`], as borrowed views: no allocation and
    /// no reference count per record, for scanning at full speed. Returns
    /// how many records `f` saw, or `None` when the reader has caught up
    /// with the log end (call again later for new records).
    ///
    /// It follows the same rules as the iterator, which it can be mixed
    /// with (both continue where the other stopped): control records and
    /// records below the start offset are skipped.
    ///
    /// # Errors
    ///
    /// As for [`Iterator::next`] (see [`RecordReader`]): each error is
    /// returned once, after `f` has seen the batch's records before the
    /// damage, and the reader then continues past it ([`Error::CorruptSegment`]:
    /// at the next segment; [`Error::OffsetOutOfRange`]: at the new log
    /// start; [`Error::MissingSegment`]: after the missing offsets) or ends.
    ///
    /// ```
    /// use topiclog::Partition;
    /// use topiclog::{LogConfig, Record};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::default())?;
    /// log.append(&[Record::new().value("a"), Record::new().value("bb")])?;
    /// let mut reader = log.read_from(1)?;
    /// let mut total = 0;
    /// while let Some(seen) = reader.next_batch_views(|record| total += record.value().map_or(0, <[u8]>::len)) {
    ///     seen?;
    /// }
    /// assert_eq!((total, reader.position()), (2, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_batch_views(&mut self, f: impl FnMut(RecordRef<'_>)) -> Option<Result<usize>> {
        self.next_views(usize::MAX, f)
    }

    /// Like [`RecordReader::next_batch_views`], but calls `f` for at most
    /// `max` records, stopping inside a batch if need be (the next call goes
    /// on from there): for a caller that reads a fixed number of records.
    ///
    /// # Errors
    ///
    /// As for [`RecordReader::next_batch_views`].
    ///
    /// ```
    /// use topiclog::Partition;
    /// use topiclog::{LogConfig, Record};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::default())?;
    /// log.append(&vec![Record::new().value("v"); 5])?;
    /// let mut reader = log.read_from(0)?;
    /// assert_eq!(reader.next_views(3, |_| {}).transpose()?, Some(3));
    /// assert_eq!(reader.next_views(3, |_| {}).transpose()?, Some(2));
    /// assert_eq!(reader.position(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_views(&mut self, max: usize, mut f: impl FnMut(RecordRef<'_>)) -> Option<Result<usize>> {
        if max == 0 {
            return Some(Ok(0));
        }
        loop {
            if self.ended {
                return None;
            }
            if let Some(result) = self.next_buffered_views(max, &mut f) {
                return Some(result);
            }
            if let Err(e) = self.fill()? {
                return Some(Err(e));
            }
        }
    }

    /// Calls `f` with every record from [`RecordReader::position`] up to
    /// the log end, as borrowed views (see [`RecordReader::next_batch_views`]),
    /// and returns how many it saw. Stops at the first error, which it
    /// returns; calling it again continues past the damage, as the reader does.
    ///
    /// # Errors
    ///
    /// The first error met: see [`RecordReader`] for what the reader skips
    /// after each.
    ///
    /// ```
    /// use topiclog::Partition;
    /// use topiclog::{LogConfig, Record};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::default())?;
    /// log.append(&vec![Record::new().key("k").value("v"); 3])?;
    /// let mut offsets = Vec::new();
    /// let seen = log.read_from(0)?.for_each_view(|record| offsets.push(record.offset()))?;
    /// assert_eq!((seen, offsets), (3, vec![0, 1, 2]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_view(&mut self, mut f: impl FnMut(RecordRef<'_>)) -> Result<u64> {
        let mut seen = 0u64;
        while let Some(result) = self.next_batch_views(&mut f) {
            seen += result? as u64;
        }
        Ok(seen)
    }
}

impl Iterator for RecordReader {
    type Item = Result<ConsumerRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(item) = self.next_buffered() {
                return Some(item);
            }
            if let Err(e) = self.fill()? {
                return Some(Err(e));
            }
        }
    }
}
