//! Zigzag varints and varlongs as Kafka writes them (Protocol Buffers style),
//! and a bounds-checked reader over a byte slice used by every decoder.

use crate::error::BatchProblem;

/// Appends `value` as a zigzag varint (1 to 5 bytes).
#[inline]
pub fn put_varint(out: &mut Vec<u8>, value: i32) {
    let mut v = ((value << 1) ^ (value >> 31)) as u32;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `value` as a zigzag varlong (1 to 10 bytes).
#[inline]
pub fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `put_varint(value)` writes.
#[inline]
pub fn varint_len(value: i32) -> usize {
    let v = ((value << 1) ^ (value >> 31)) as u32;
    // One byte per started group of 7 bits; zero still takes one byte.
    (32 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes `put_varlong(value)` writes.
#[inline]
pub fn varlong_len(value: i64) -> usize {
    let v = ((value << 1) ^ (value >> 63)) as u64;
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A forward-only, bounds-checked cursor over a byte slice. Every read that
/// would pass the end returns `None` instead of panicking.
#[derive(Debug, Clone)]
pub struct SliceReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The data ended inside the varint.
    Truncated,
    /// More continuation bytes than the type allows.
    TooLong,
}

impl VarintError {
    /// The batch-level problem this becomes for record `record`.
    pub fn into_problem(self, record: u32) -> BatchProblem {
        match self {
            VarintError::Truncated => BatchProblem::RecordTruncated { record },
            VarintError::TooLong => BatchProblem::VarintTooLong,
        }
    }
}

impl<'a> SliceReader<'a> {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// Skips `n` bytes, returning the range they occupied.
    #[inline]
    pub fn skip(&mut self, n: usize) -> Option<std::ops::Range<usize>> {
        let start = self.pos;
        let end = start.checked_add(n)?;
        if end > self.buf.len() {
            return None;
        }
        self.pos = end;
        Some(start..end)
    }

    /// Reads a zigzag varint of at most 5 bytes.
    #[inline]
    pub fn varint(&mut self) -> Result<i32, VarintError> {
        let mut raw: u32 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8().ok_or(VarintError::Truncated)?;
            raw |= u32::from(b & 0x7f).wrapping_shl(shift);
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 28 {
                return Err(VarintError::TooLong);
            }
        }
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// Reads a zigzag varlong of at most 10 bytes.
    #[inline]
    pub fn varlong(&mut self) -> Result<i64, VarintError> {
        let mut raw: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8().ok_or(VarintError::Truncated)?;
            raw |= u64::from(b & 0x7f).wrapping_shl(shift);
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(VarintError::TooLong);
            }
        }
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc32(v: i32) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        out
    }

    #[test]
    fn kafka_varint_vectors() {
        // ByteUtilsTest.testVarintSerde vectors, SPEC §1.5.
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (-65, &[0x81, 0x01]),
            (8191, &[0xfe, 0x7f]),
            (8192, &[0x80, 0x80, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(v, bytes) in cases {
            assert_eq!(enc32(v), bytes, "encode {v}");
            assert_eq!(varint_len(v), bytes.len(), "len {v}");
            let mut r = SliceReader::new(bytes);
            assert_eq!(r.varint(), Ok(v), "decode {v}");
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn kafka_varlong_max() {
        let mut out = Vec::new();
        put_varlong(&mut out, i64::MAX);
        assert_eq!(out, [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(varlong_len(i64::MAX), 10);
        assert_eq!(SliceReader::new(&out).varlong(), Ok(i64::MAX));
        for v in [0, -1, 1, i64::MIN, 1 << 40, -(1 << 40)] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(out.len(), varlong_len(v));
            assert_eq!(SliceReader::new(&out).varlong(), Ok(v));
        }
    }

    #[test]
    fn never_ending_varints_are_rejected() {
        assert_eq!(SliceReader::new(&[0xff; 5]).varint(), Err(VarintError::TooLong));
        assert_eq!(SliceReader::new(&[0xff; 10]).varlong(), Err(VarintError::TooLong));
        assert_eq!(SliceReader::new(&[0xff; 3]).varint(), Err(VarintError::Truncated));
        assert_eq!(SliceReader::new(&[]).varlong(), Err(VarintError::Truncated));
    }
}
