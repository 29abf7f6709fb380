//! [`RecordReader`]: records from an offset on, across segments.

use crate::error::{Error, Result};
use crate::format::{ConsumerRecord, FileBatches, Records};

use super::Partition;

/// An iterator over a partition's records from an offset on. It reads whole
/// batches in chunks and decodes them as it goes, following the log end as it
/// moves: `None` means the reader has caught up (call `next` again later for
/// new records). Records below the start offset and control records are
/// skipped.
#[derive(Debug)]
pub struct RecordReader {
    partition: Partition,
    /// The first offset not yet returned (or skipped).
    next_offset: i64,
    chunk_bytes: u64,
    batches: Option<FileBatches>,
    records: Option<Records>,
    /// The offset after the batch `records` comes from.
    batch_end: i64,
}

impl RecordReader {
    pub(super) fn new(partition: Partition, next_offset: i64, chunk_bytes: u64) -> Self {
        Self { partition, next_offset, chunk_bytes, batches: None, records: None, batch_end: next_offset }
    }

    /// The offset of the next record this reader returns (or would, once written).
    pub fn position(&self) -> i64 {
        self.next_offset
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
                    Some(Err(e)) => {
                        self.records = None;
                        self.batches = None;
                        return Some(Err(e));
                    }
                    None => {
                        // Offsets after the last record (compaction gaps) are done with too.
                        self.records = None;
                        self.next_offset = self.next_offset.max(self.batch_end);
                    }
                }
            }
            let batch = match self.batches.as_mut()?.next() {
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    self.batches = None;
                    return Some(Err(e));
                }
                None => {
                    self.batches = None;
                    return None;
                }
            };
            if batch.last_offset() < self.next_offset {
                continue;
            }
            let end = batch.next_offset();
            if batch.header().is_control() {
                self.next_offset = end;
                continue;
            }
            match batch.records() {
                Ok(records) => {
                    self.records = Some(records);
                    self.batch_end = end;
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Iterator for RecordReader {
    type Item = Result<ConsumerRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.next_buffered() {
                return Some(item);
            }
            if self.next_offset >= self.partition.log_end_offset() {
                return None;
            }
            match self.partition.read(self.next_offset, self.chunk_bytes) {
                Ok(bytes) if bytes.is_empty() => return None,
                Ok(bytes) => self.batches = Some(FileBatches::new_lazy(bytes, 0)),
                Err(e) => {
                    // Past an out-of-range position (retention moved the log
                    // start above it), continue from the new start.
                    if let Error::OffsetOutOfRange { log_start_offset, .. } = &e
                        && self.next_offset < *log_start_offset
                    {
                        self.next_offset = *log_start_offset;
                    }
                    return Some(Err(e));
                }
            }
        }
    }
}
