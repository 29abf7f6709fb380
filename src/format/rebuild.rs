//! Rewriting a batch with only some of its records, as Kafka's log cleaner
//! does (`MemoryRecords.filterTo`): the batch keeps its base offset, last
//! offset delta, producer fields, leader epoch and codec; each kept record
//! keeps its offset and timestamp. The base timestamp becomes the delete
//! horizon when one is set, else the first kept record's timestamp, and the
//! max timestamp is recomputed from the kept records (CreateTime).

use super::batch::{BatchHeader, LOG_OVERHEAD, MAGIC_V2, NO_TIMESTAMP, RECORD_BATCH_OVERHEAD};
use super::builder::write_header;
use super::compression::{self, Compression};
use super::record::{RecordRef, TimestampType};
use super::varint::{put_varint, put_varlong};
use crate::error::{Error, Result};

/// Attribute bit: `base_timestamp` holds the delete horizon.
const DELETE_HORIZON_MASK: u16 = 0x40;
/// Attribute bits Kafka recomputes when it rebuilds a batch: codec,
/// timestamp type, transactional, control.
const KEPT_ATTRIBUTES: u16 = 0x3f;

/// Appends to `out` the batch `original` rebuilt with only `kept` (its
/// records, in offset order, at least one), stamped with `delete_horizon`
/// when given.
///
/// # Errors
///
/// [`Error::UnsupportedCompression`] when the batch's codec is not in this
/// build; [`Error::TooLarge`] when the rebuilt batch would not fit a batch;
/// [`Error::Internal`] should the header's room not be where it was reserved.
pub(crate) fn rebuild_batch(
    original: &BatchHeader,
    kept: &[RecordRef<'_>],
    delete_horizon: Option<i64>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let Some(first) = kept.first() else { return write_empty_batch(original, out) };
    let base_timestamp = delete_horizon.unwrap_or(first.timestamp);
    let mut records = Vec::new();
    let mut body = Vec::new();
    for record in kept {
        body.clear();
        body.push(0); // record attributes: unused
        put_varlong(&mut body, record.timestamp.wrapping_sub(base_timestamp));
        let delta = record.offset - original.base_offset;
        // A kept record lies inside its batch, whose offset deltas are i32s.
        put_varint(&mut body, i32::try_from(delta).map_err(|_| too_large("offset delta", delta as u64))?);
        put_bytes(&mut body, record.key)?;
        put_bytes(&mut body, record.value)?;
        put_varint(&mut body, record.header_count as i32);
        body.extend_from_slice(record.headers);
        put_varint(&mut records, len_i32(body.len())?);
        records.extend_from_slice(&body);
    }
    let max_timestamp = match original.timestamp_type() {
        TimestampType::LogAppendTime => original.max_timestamp,
        TimestampType::CreateTime => kept.iter().map(|r| r.timestamp).max().unwrap_or(NO_TIMESTAMP),
    };
    let codec = original
        .compression()
        .ok_or(Error::UnsupportedCompression { position: None, codec_id: original.compression_id() })?;
    let start = out.len();
    out.resize(start + RECORD_BATCH_OVERHEAD, 0);
    if codec == Compression::None {
        out.extend_from_slice(&records);
    } else {
        compression::compress(codec, &records, out)?;
    }
    let mut attributes = original.attributes & KEPT_ATTRIBUTES;
    if delete_horizon.is_some() {
        attributes |= DELETE_HORIZON_MASK;
    }
    let header = BatchHeader {
        batch_length: len_i32(out.len() - start - LOG_OVERHEAD)?,
        magic: MAGIC_V2,
        crc: 0,
        attributes,
        base_timestamp,
        max_timestamp,
        record_count: len_i32(kept.len())?,
        ..*original
    };
    let batch =
        out.get_mut(start..).ok_or(Error::Internal { invariant: "a rebuilt batch starts inside its buffer" })?;
    write_header(&header, batch)?;
    Ok(())
}

/// Appends to `out` the header of `original` with no records, as Kafka keeps
/// a batch whose records all went but whose offsets (or producer state) must
/// survive: uncompressed, base and max timestamp both the original max.
///
/// # Errors
///
/// [`Error::Internal`] should the header's room not be where it was reserved.
pub(crate) fn write_empty_batch(original: &BatchHeader, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.resize(start + RECORD_BATCH_OVERHEAD, 0);
    let header = BatchHeader {
        batch_length: (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32,
        magic: MAGIC_V2,
        crc: 0,
        // Codec none, no delete horizon.
        attributes: original.attributes & KEPT_ATTRIBUTES & !0x07,
        base_timestamp: original.max_timestamp,
        max_timestamp: original.max_timestamp,
        record_count: 0,
        ..*original
    };
    let batch =
        out.get_mut(start..).ok_or(Error::Internal { invariant: "a rebuilt batch starts inside its buffer" })?;
    write_header(&header, batch)?;
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, field: Option<&[u8]>) -> Result<()> {
    match field {
        None => put_varint(out, -1),
        Some(bytes) => {
            put_varint(out, len_i32(bytes.len())?);
            out.extend_from_slice(bytes);
        }
    }
    Ok(())
}

fn len_i32(len: usize) -> Result<i32> {
    i32::try_from(len).map_err(|_| too_large("record batch", len as u64))
}

fn too_large(what: &'static str, size: u64) -> Error {
    Error::TooLarge { what, size, limit: i32::MAX as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{BatchBuilder, Record, RecordBatch};

    fn batch(codec: Compression) -> RecordBatch {
        let mut b = BatchBuilder::new(codec).base_offset(100).producer(7, 1, 5).partition_leader_epoch(3);
        b.append(&Record::new().key("a").value("1").timestamp(1_000).header("h", "x")).unwrap();
        b.append(&Record::new().key("b").timestamp(2_000)).unwrap();
        b.append(&Record::new().key("c").value("3").timestamp(1_500)).unwrap();
        b.build().unwrap()
    }

    #[test]
    fn a_rebuilt_batch_keeps_offsets_timestamps_and_producer_fields() {
        for codec in [Compression::None, Compression::Gzip] {
            let original = batch(codec);
            let refs: Vec<_> = original.record_refs().unwrap().map(|r| r.unwrap()).collect();
            let kept = [refs[1], refs[2]];
            let mut out = Vec::new();
            rebuild_batch(original.header(), &kept, Some(9_000), &mut out).unwrap();
            let rebuilt = RecordBatch::new(bytes::Bytes::from(out)).unwrap();
            let h = rebuilt.header();
            assert_eq!((h.base_offset, h.last_offset(), h.record_count), (100, 102, 2));
            assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.partition_leader_epoch), (7, 1, 5, 3));
            assert!(h.has_delete_horizon());
            assert_eq!((h.base_timestamp, h.max_timestamp), (9_000, 2_000));
            assert_eq!(h.compression(), Some(codec));
            let got: Vec<_> = rebuilt.record_refs().unwrap().map(|r| r.unwrap()).collect();
            assert_eq!(
                got.iter().map(|r| (r.offset(), r.timestamp())).collect::<Vec<_>>(),
                [(101, 2_000), (102, 1_500)]
            );
            assert_eq!(got[0].value(), None);
            assert_eq!(got[1].value(), Some(&b"3"[..]));
        }
    }

    #[test]
    fn headers_survive_and_base_timestamp_is_the_first_kept_record() {
        let original = batch(Compression::None);
        let refs: Vec<_> = original.record_refs().unwrap().map(|r| r.unwrap()).collect();
        let mut out = Vec::new();
        rebuild_batch(original.header(), &[refs[0], refs[2]], None, &mut out).unwrap();
        let rebuilt = RecordBatch::new(bytes::Bytes::from(out)).unwrap();
        assert!(!rebuilt.header().has_delete_horizon());
        assert_eq!((rebuilt.header().base_timestamp, rebuilt.header().max_timestamp), (1_000, 1_500));
        let first = rebuilt.records().unwrap().next().unwrap().unwrap();
        assert_eq!(first.headers().len(), 1);
        assert_eq!(first.headers()[0].key_str(), Some("h"));
    }

    #[test]
    fn an_empty_batch_keeps_the_offset_range() {
        let original = batch(Compression::Gzip);
        let mut out = Vec::new();
        write_empty_batch(original.header(), &mut out).unwrap();
        assert_eq!(out.len(), RECORD_BATCH_OVERHEAD);
        let empty = RecordBatch::new(bytes::Bytes::from(out)).unwrap();
        let h = empty.header();
        assert_eq!((h.base_offset, h.last_offset(), h.record_count), (100, 102, 0));
        assert_eq!(h.compression(), Some(Compression::None));
        assert_eq!((h.base_timestamp, h.max_timestamp), (2_000, 2_000));
        assert_eq!(empty.records().unwrap().count(), 0);
    }
}
