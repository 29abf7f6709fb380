//! [`FileBatches`]: the batches of a whole `.log` file (or any buffer of
//! concatenated batches), stopping cleanly at a torn tail.

use bytes::Bytes;

use super::batch::{HEADER_SIZE_UP_TO_MAGIC, LOG_OVERHEAD, MAGIC_V2, RecordBatch};
use crate::error::{BatchProblem, Error, Result};

/// `LegacyRecord.RECORD_OVERHEAD_V0`: the smallest `batchLength` of any magic.
const LEGACY_MIN_BATCH_LENGTH: i32 = 14;

/// How iteration over a buffer of batches ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Every byte belonged to a complete batch.
    Clean,
    /// The last `bytes` bytes, from `position`, are an incomplete batch (a
    /// write cut short) and were not returned.
    Torn {
        /// Position where the incomplete bytes start.
        position: u64,
        /// How many bytes they are.
        bytes: u64,
    },
    /// A batch failed validation at `position`; iteration stopped there.
    Corrupt {
        /// Position of the invalid batch.
        position: u64,
    },
}

/// Iterator over the batches in a buffer, each fully validated.
///
/// Following Kafka's file reader, a trailing fragment (17 bytes or fewer, or
/// a batch whose declared length runs past the end) ends iteration without an
/// error and is reported by [`FileBatches::tail`]. A batch that fails
/// validation yields its error with its position; iteration then stops,
/// except after a batch of another magic, which is skipped by its length.
///
/// ```
/// use topiclog::format::Tail;
/// use topiclog::{BatchBuilder, Compression, FileBatches, Record};
///
/// let mut file = Vec::new();
/// for value in ["a", "b"] {
///     let mut builder = BatchBuilder::new(Compression::None);
///     builder.append(&Record::new().value(value))?;
///     file.extend_from_slice(builder.build()?.as_bytes());
/// }
/// file.extend_from_slice(&[0; 10]); // a write cut short
/// let mut batches = FileBatches::new(file.into(), 0);
/// let counts = batches.by_ref().map(|b| b.map(|b| b.record_count())).collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(counts, [1, 1]);
/// assert!(matches!(batches.tail(), Some(Tail::Torn { bytes: 10, .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileBatches {
    data: Bytes,
    pos: usize,
    start_position: u64,
    tail: Option<Tail>,
    /// Validate records as they are iterated instead of up front.
    lazy_records: bool,
}

impl FileBatches {
    /// Iterates the batches in `data`, which starts at byte `start_position`
    /// of its file (used in positions reported).
    pub fn new(data: Bytes, start_position: u64) -> Self {
        Self { data, pos: 0, start_position, tail: None, lazy_records: false }
    }

    /// Like [`FileBatches::new`], but each batch is checked up front only
    /// for its framing and CRC-32C, and its records are validated as they are
    /// iterated: for reading a few records of a batch (a point read), or a
    /// log whose every record will be iterated anyway.
    pub fn new_lazy(data: Bytes, start_position: u64) -> Self {
        Self { lazy_records: true, ..Self::new(data, start_position) }
    }

    /// File position of the next batch.
    pub fn file_position(&self) -> u64 {
        self.start_position + self.pos as u64
    }

    /// How iteration ended, once it has.
    pub fn tail(&self) -> Option<Tail> {
        self.tail
    }

    fn stop(&mut self, tail: Tail) {
        self.tail = Some(tail);
        self.pos = self.data.len();
    }
}

impl Iterator for FileBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.tail.is_some() {
            return None;
        }
        let position = self.file_position();
        let rest = self.data.len() - self.pos;
        if rest <= HEADER_SIZE_UP_TO_MAGIC {
            let tail = if rest == 0 { Tail::Clean } else { Tail::Torn { position, bytes: rest as u64 } };
            self.stop(tail);
            return None;
        }
        let field =
            |at: usize| self.data.get(self.pos + at..self.pos + at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok());
        let batch_length = field(8).map_or(-1, i32::from_be_bytes);
        let magic = self.data.get(self.pos + 16).map_or(MAGIC_V2, |&m| m as i8);
        // Kafka's smallest batch of any magic; less is corruption, which also
        // covers a run of zeroes (an unwritten, preallocated tail).
        if batch_length < LEGACY_MIN_BATCH_LENGTH {
            self.stop(Tail::Corrupt { position });
            let problem = BatchProblem::InvalidLength { batch_length };
            return Some(Err(Error::MalformedBatch { position: Some(position), problem }));
        }
        let size = LOG_OVERHEAD as u64 + batch_length as u64;
        if size > rest as u64 {
            self.stop(Tail::Torn { position, bytes: rest as u64 });
            return None;
        }
        if magic != MAGIC_V2 {
            // A legacy (v0/v1) or future batch: skip it by its length.
            self.pos += size as usize;
            return Some(Err(Error::UnsupportedMagic { position: Some(position), magic }));
        }
        let end = self.pos + size as usize;
        let slice = self.data.slice(self.pos..end);
        let batch = if self.lazy_records { RecordBatch::new_lazy(slice) } else { RecordBatch::new(slice) };
        match batch {
            Ok(batch) => {
                self.pos = end;
                Some(Ok(batch))
            }
            Err(e) => {
                self.stop(Tail::Corrupt { position });
                Some(Err(e.at_position(position)))
            }
        }
    }
}
