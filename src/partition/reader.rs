//! [`RecordReader`]: records from an offset on, across segments.

use std::collections::VecDeque;

use crate::error::{Error, Result};
use crate::format::ConsumerRecord;

use super::Partition;

/// An iterator over a partition's records from an offset on. It reads ahead
/// in chunks of whole batches and follows the log end as it moves: `None`
/// means the reader has caught up (call `next` again later for new records).
/// Records below the start offset and control records are skipped.
#[derive(Debug)]
pub struct RecordReader {
    partition: Partition,
    next_offset: i64,
    chunk_bytes: u64,
    buffered: VecDeque<ConsumerRecord>,
}

impl RecordReader {
    pub(super) fn new(partition: Partition, next_offset: i64, chunk_bytes: u64) -> Self {
        Self { partition, next_offset, chunk_bytes, buffered: VecDeque::new() }
    }

    /// The offset of the next record this reader returns.
    pub fn position(&self) -> i64 {
        self.buffered.front().map_or(self.next_offset, ConsumerRecord::offset)
    }

    /// Reads the next chunk into the buffer; false at the log end.
    fn fill(&mut self) -> Result<bool> {
        let bytes = self.partition.read(self.next_offset, self.chunk_bytes)?;
        if bytes.is_empty() {
            return Ok(false);
        }
        for batch in super::batches(bytes) {
            let batch = batch?;
            let end = batch.next_offset();
            if batch.last_offset() < self.next_offset {
                continue;
            }
            if !batch.header().is_control() {
                for record in batch.records()? {
                    let record = record?;
                    if record.offset() >= self.next_offset {
                        self.buffered.push_back(record);
                    }
                }
            }
            self.next_offset = end;
        }
        Ok(true)
    }
}

impl Iterator for RecordReader {
    type Item = Result<ConsumerRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(record) = self.buffered.pop_front() {
                return Some(Ok(record));
            }
            if self.next_offset >= self.partition.log_end_offset() {
                return None;
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return None,
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
