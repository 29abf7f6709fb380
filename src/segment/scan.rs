//! Walking the batches of a `.log` by their headers, through a small read
//! cache so that scanning many small batches costs few system calls.

use bytes::Bytes;

use super::files::LogFile;
use crate::error::{BatchProblem, Error, Result};
use crate::format::{BatchHeader, HEADER_SIZE_UP_TO_MAGIC, LOG_OVERHEAD, MAGIC_V2, RECORD_BATCH_OVERHEAD};

/// Bytes fetched per read when scanning a file: a few index intervals
/// (4 KiB by default), so a lookup usually costs one small read.
const CHUNK: usize = 16 * 1024;

/// Where a segment's bytes are read from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// A mapping (or copy) of the whole log.
    Mapped(&'a Bytes),
    /// Positioned reads of the file.
    File(&'a LogFile),
}

/// Reads ranges of a log, caching one chunk.
pub(crate) struct ChunkReader<'a> {
    source: Source<'a>,
    end: u64,
    chunk: Bytes,
    chunk_start: u64,
}

impl<'a> ChunkReader<'a> {
    /// A reader of bytes [0, end) of `source`.
    pub fn new(source: Source<'a>, end: u64) -> Self {
        Self { source, end, chunk: Bytes::new(), chunk_start: 0 }
    }

    /// Bytes [position, position + len), or fewer if the end comes first.
    pub fn get(&mut self, position: u64, len: usize) -> Result<Bytes> {
        let len = len.min(self.end.saturating_sub(position) as usize);
        match self.source {
            Source::Mapped(all) => {
                let start = position as usize;
                Ok(all.get(start..start + len).map_or_else(Bytes::new, |_| all.slice(start..start + len)))
            }
            Source::File(file) => {
                let cached_end = self.chunk_start + self.chunk.len() as u64;
                if position < self.chunk_start || position + len as u64 > cached_end {
                    let want = len.max(CHUNK).min(self.end.saturating_sub(position) as usize);
                    self.chunk = file.read_at(position, want)?;
                    self.chunk_start = position;
                }
                let from = (position - self.chunk_start) as usize;
                let to = (from + len).min(self.chunk.len());
                Ok(if from <= to { self.chunk.slice(from..to) } else { Bytes::new() })
            }
        }
    }
}

/// A batch found by a header scan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScannedBatch {
    /// Byte position in the `.log`.
    pub position: u64,
    /// Total bytes.
    pub size: u64,
    /// The decoded header (not verified).
    pub header: BatchHeader,
}

/// Why a scan stopped.
#[derive(Debug)]
pub(crate) enum ScanEnd {
    /// At the end of the range, or at a trailing fragment too short to be a batch.
    End,
    /// At an incomplete last batch.
    Torn,
    /// At bytes that cannot be a v2 batch.
    Corrupt(Error),
}

/// Iterates batch headers from `position` up to the reader's end.
pub(crate) struct HeaderScan<'r, 'a> {
    reader: &'r mut ChunkReader<'a>,
    position: u64,
    end: Option<ScanEnd>,
}

impl<'r, 'a> HeaderScan<'r, 'a> {
    pub fn new(reader: &'r mut ChunkReader<'a>, position: u64) -> Self {
        Self { reader, position, end: None }
    }

    /// Why the scan stopped, once it has.
    pub fn end(self) -> Option<ScanEnd> {
        self.end
    }

    /// Byte position of the next batch (where the scan stopped, once it has).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// After [`HeaderScan::next_batch`] returned `None`: `Ok` when the scan
    /// reached exactly the end of the range; otherwise the damage found, with
    /// its position. Within a segment's published size every byte belongs to
    /// a whole batch, so anything else is damage.
    pub fn finish(self) -> std::result::Result<(), (u64, Error)> {
        let position = self.position;
        let rest = self.reader.end.saturating_sub(position);
        match self.end {
            Some(ScanEnd::End) | None if rest == 0 => Ok(()),
            Some(ScanEnd::Corrupt(e)) => Err((position, e)),
            _ => {
                let problem = BatchProblem::Truncated { needed: RECORD_BATCH_OVERHEAD as u64, available: rest };
                Err((position, Error::MalformedBatch { position: Some(position), problem }))
            }
        }
    }

    /// The next batch, or `None` when the scan stops (see [`HeaderScan::end`]).
    pub fn next_batch(&mut self) -> Result<Option<ScannedBatch>> {
        if self.end.is_some() {
            return Ok(None);
        }
        let position = self.position;
        let rest = self.reader.end.saturating_sub(position);
        if rest <= HEADER_SIZE_UP_TO_MAGIC as u64 {
            self.end = Some(ScanEnd::End);
            return Ok(None);
        }
        let head = self.reader.get(position, RECORD_BATCH_OVERHEAD)?;
        let batch_length = head.get(8..12).and_then(|b| <[u8; 4]>::try_from(b).ok()).map_or(-1, i32::from_be_bytes);
        let magic = head.get(16).map_or(MAGIC_V2, |&m| m as i8);
        let corrupt = |e: Error| Some(ScanEnd::Corrupt(e.at_position(position)));
        if magic != MAGIC_V2 {
            self.end = corrupt(Error::UnsupportedMagic { position: None, magic });
            return Ok(None);
        }
        let min = (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32;
        if batch_length < min {
            self.end = corrupt(Error::malformed(BatchProblem::InvalidLength { batch_length }));
            return Ok(None);
        }
        let size = LOG_OVERHEAD as u64 + batch_length as u64;
        if size > rest {
            self.end = Some(ScanEnd::Torn);
            return Ok(None);
        }
        let header = BatchHeader::parse(&head).map_err(|e| e.at_position(position))?;
        self.position += size;
        Ok(Some(ScannedBatch { position, size, header }))
    }
}
