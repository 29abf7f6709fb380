//! Walking the batches of a segment file the way an operator's tool must:
//! every batch reported with its position, damaged batches reported instead
//! of ending the walk, and the walk resumed after damage where a valid batch
//! can be found again. Shared by `dump-log` and `verify`.

use bytes::Bytes;
use topiclog::format::{BatchHeader, HEADER_SIZE_UP_TO_MAGIC, LOG_OVERHEAD, MAGIC_V2, RECORD_BATCH_OVERHEAD};
use topiclog::{Error, RecordBatch};

/// Kafka's smallest `batchLength` of any magic (a v0 record).
const MIN_BATCH_LENGTH: i32 = 14;

/// One step of the walk.
#[derive(Debug)]
pub enum Item {
    /// A v2 batch whose framing holds.
    Batch(Batch),
    /// A batch of another magic (v0/v1), skipped by its length.
    Legacy {
        /// Its position.
        position: u64,
        /// Its magic byte.
        magic: i8,
        /// Its size in bytes.
        size: u64,
    },
    /// Bytes that are no batch at all (a bad length or magic).
    Corrupt {
        /// Where they start.
        position: u64,
        /// What is wrong.
        problem: String,
        /// Where a valid batch was found again, if anywhere.
        resumed_at: Option<u64>,
    },
    /// Zero bytes up to the end of the file: space preallocated for appends
    /// and never written (what a crash leaves; recovery cuts it). No damage.
    ZeroTail {
        /// Where the zeros start.
        position: u64,
        /// How many there are.
        bytes: u64,
    },
    /// An incomplete batch at the end of the file (a write cut short).
    Torn {
        /// Where it starts.
        position: u64,
        /// Bytes left from there.
        bytes: u64,
        /// Bytes the batch declares.
        declared: Option<u64>,
    },
}

/// A v2 batch found by the walk.
#[derive(Debug)]
pub struct Batch {
    /// File position.
    pub position: u64,
    /// Its header, as stored.
    pub header: BatchHeader,
    /// Its bytes.
    pub bytes: Bytes,
    /// Whether the stored CRC-32C matches the bytes.
    pub crc_valid: bool,
    /// What fails validation (CRC, header fields, records), if anything.
    pub problem: Option<String>,
}

impl Batch {
    /// The batch decoded with its records checked, when it is valid.
    pub fn decoded(&self) -> Result<RecordBatch, Error> {
        RecordBatch::new(self.bytes.clone())
    }
}

/// Walks all of `data`.
pub fn walk(data: &Bytes) -> Vec<Item> {
    let mut items = Vec::new();
    let len = data.len();
    let mut pos = 0usize;
    while pos < len {
        let rest = len - pos;
        let position = pos as u64;
        if data.get(pos..).is_some_and(|tail| tail.iter().all(|&b| b == 0)) {
            items.push(Item::ZeroTail { position, bytes: rest as u64 });
            break;
        }
        if rest <= HEADER_SIZE_UP_TO_MAGIC {
            items.push(Item::Torn { position, bytes: rest as u64, declared: None });
            break;
        }
        let batch_length = read_i32(data, pos + 8).unwrap_or(-1);
        let magic = data.get(pos + 16).map_or(-1, |&m| m as i8);
        let bad = |problem: String| {
            let resumed_at = resync(data, pos + 1);
            (Item::Corrupt { position, problem, resumed_at }, resumed_at)
        };
        if batch_length < MIN_BATCH_LENGTH || !(0..=2).contains(&magic) {
            let problem = if batch_length < MIN_BATCH_LENGTH {
                format!("invalid batch length {batch_length}")
            } else {
                format!("invalid magic {magic}")
            };
            let (item, resumed) = bad(problem);
            items.push(item);
            match resumed {
                Some(at) => {
                    pos = at as usize;
                    continue;
                }
                None => break,
            }
        }
        let size = LOG_OVERHEAD as u64 + batch_length as u64;
        if size > rest as u64 {
            items.push(Item::Torn { position, bytes: rest as u64, declared: Some(size) });
            break;
        }
        let end = pos + size as usize;
        if magic != MAGIC_V2 {
            items.push(Item::Legacy { position, magic, size });
            pos = end;
            continue;
        }
        let bytes = data.slice(pos..end);
        let header = match BatchHeader::parse(&bytes) {
            Ok(h) => h,
            Err(e) => {
                let (item, resumed) = bad(e.to_string());
                items.push(item);
                match resumed {
                    Some(at) => {
                        pos = at as usize;
                        continue;
                    }
                    None => break,
                }
            }
        };
        let (crc_valid, problem) = match BatchHeader::parse_verified(&bytes) {
            Ok(_) => match RecordBatch::new(bytes.clone()) {
                Ok(_) => (true, None),
                Err(e) => (true, Some(e.to_string())),
            },
            Err(e @ Error::CrcMismatch { .. }) => (false, Some(e.to_string())),
            Err(e) => (true, Some(e.to_string())),
        };
        items.push(Item::Batch(Batch { position, header, bytes, crc_valid, problem }));
        pos = end;
    }
    items
}

/// The first position at or after `from` where a whole, CRC-valid v2 batch starts.
fn resync(data: &Bytes, from: usize) -> Option<u64> {
    let len = data.len();
    let mut pos = from;
    while pos + RECORD_BATCH_OVERHEAD <= len {
        if data.get(pos + 16) == Some(&(MAGIC_V2 as u8))
            && let Some(batch_length) = read_i32(data, pos + 8)
            && batch_length >= (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32
        {
            let end = pos.saturating_add(LOG_OVERHEAD + batch_length as usize);
            if let Some(slice) = data.get(pos..end)
                && BatchHeader::parse_verified(slice).is_ok()
            {
                return Some(pos as u64);
            }
        }
        pos += 1;
    }
    None
}

fn read_i32(data: &[u8], at: usize) -> Option<i32> {
    data.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(i32::from_be_bytes)
}
