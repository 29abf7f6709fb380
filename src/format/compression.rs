//! Kafka's compression codecs for the records section of a batch.
//!
//! Each codec sits behind its own cargo feature. Kafka frames two of them in
//! its own way: snappy as snappy-java's "xerial" stream, lz4 as an LZ4 frame
//! with 64 KiB independent blocks.

use crate::error::{Error, Result};

/// Largest records section a compressed batch may inflate to. A bound is
/// needed so that a small hostile batch cannot exhaust memory; Kafka's own
/// batch limit (`max.message.bytes`, default about 1 MiB) is far below it.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// The codec of a batch: attribute bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (id 0).
    #[default]
    None,
    /// gzip (id 1).
    Gzip,
    /// snappy in snappy-java's xerial framing (id 2).
    Snappy,
    /// LZ4 frame format (id 3).
    Lz4,
    /// zstd (id 4).
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] =
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    /// The codec with Kafka's id `id`, if there is one.
    #[must_use]
    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }

    /// Kafka's id for the codec.
    #[must_use]
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Kafka's name for the codec, as in `compression.type`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The codec named `name` (Kafka's `compression.type` values, less "producer").
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether this build can encode and decode the codec.
    #[must_use]
    pub fn is_enabled(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Snappy => cfg!(feature = "snappy"),
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd => cfg!(feature = "zstd"),
        }
    }

    fn unsupported(self) -> Error {
        Error::UnsupportedCompression { position: None, codec_id: self.id() }
    }

    fn failed(self, direction: &'static str, err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Compression { position: None, codec: self, direction, source: std::io::Error::other(err) }
    }
}

/// Compresses `input` with `codec`, appending to `out`.
pub(crate) fn compress(codec: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::compress(input, out).map_err(|e| codec.failed("compression", e)),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::compress(input, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::compress(input, out).map_err(|e| codec.failed("compression", e)),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::compress(input, out).map_err(|e| codec.failed("compression", e)),
        #[allow(unreachable_patterns)] // reachable only when a codec feature is off
        _ => Err(codec.unsupported()),
    }
}

/// Decompresses a records section, refusing to produce more than `limit` bytes.
pub(crate) fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Vec<u8>> {
    let result: std::io::Result<Vec<u8>> = match codec {
        Compression::None => Ok(input.to_vec()),
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::decompress(input, limit),
        #[cfg(feature = "snappy")]
        // Codec errors come back as `Error::Compression` already.
        Compression::Snappy => Ok(snappy::decompress(input, limit)?),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::decompress(input, limit),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::decompress(input, limit),
        #[allow(unreachable_patterns)] // reachable only when a codec feature is off
        _ => return Err(codec.unsupported()),
    };
    match result {
        Ok(out) if out.len() > limit => {
            Err(Error::TooLarge { what: "decompressed records", size: out.len() as u64, limit: limit as u64 })
        }
        Ok(out) => Ok(out),
        Err(e) => Err(codec.failed("decompression", e)),
    }
}

/// Reads `reader` to its end, stopping one byte past `limit` so the caller
/// can tell an over-long stream from one that fits.
#[cfg(any(feature = "gzip", feature = "snappy", feature = "lz4", feature = "zstd"))]
fn read_bounded(reader: impl std::io::Read, size_hint: usize, limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(size_hint.min(limit));
    reader.take(limit as u64 + 1).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(feature = "gzip")]
mod gzip {
    use std::io::{self, Write};

    pub fn compress(input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        // Level 6 is zlib's default, which is what Kafka's gzip level -1 means.
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
        enc.write_all(input)?;
        enc.finish()?;
        Ok(())
    }

    pub fn decompress(input: &[u8], limit: usize) -> io::Result<Vec<u8>> {
        super::read_bounded(flate2::read::MultiGzDecoder::new(input), input.len() * 4, limit)
    }
}

#[cfg(feature = "snappy")]
mod snappy {
    //! snappy-java's stream ("xerial") framing, which Kafka's Java client
    //! writes: a 16-byte header (magic, version 1, compatible version 1), then
    //! chunks of `int32 compressed length` + one raw snappy block. On read,
    //! Kafka's client also accepts a bare snappy block (what some non-Java
    //! producers send), and we accept the official snappy framing as well.
    use std::io;

    use crate::error::{Error, Result};

    use super::Compression;

    const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
    const XERIAL_HEADER_LEN: usize = 16;
    /// snappy-java's default block size.
    const XERIAL_BLOCK: usize = 32 * 1024;
    const FRAMED_MAGIC: [u8; 10] = [0xff, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y'];

    /// The room reserved in `out` for a block and its length prefix is not there.
    const NO_ROOM: Error = Error::Internal { invariant: "a snappy block's room is reserved before it is written" };

    fn failed(direction: &'static str) -> impl Fn(io::Error) -> Error + Copy {
        move |e| Compression::Snappy.failed(direction, e)
    }

    pub fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&XERIAL_MAGIC);
        out.extend_from_slice(&1i32.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
        let mut enc = snap::raw::Encoder::new();
        for block in input.chunks(XERIAL_BLOCK) {
            let len_at = out.len();
            out.extend_from_slice(&[0; 4]);
            let start = out.len();
            out.resize(start + snap::raw::max_compress_len(block.len()), 0);
            let dst = out.get_mut(start..).ok_or(NO_ROOM)?;
            let n = enc.compress(block, dst).map_err(|e| failed("compression")(e.into()))?;
            out.truncate(start + n);
            let n = i32::try_from(n).map_err(|e| failed("compression")(io::Error::other(e)))?;
            out.get_mut(len_at..start).ok_or(NO_ROOM)?.copy_from_slice(&n.to_be_bytes());
        }
        Ok(())
    }

    pub fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>> {
        if input.starts_with(&XERIAL_MAGIC) {
            // A payload cut inside the 16-byte header is damaged, not empty.
            let chunks = input
                .get(XERIAL_HEADER_LEN..)
                .ok_or_else(|| failed("decompression")(io::Error::other("xerial header truncated")))?;
            decompress_xerial(chunks, limit)
        } else if input.starts_with(&FRAMED_MAGIC) {
            super::read_bounded(snap::read::FrameDecoder::new(input), input.len() * 2, limit)
                .map_err(failed("decompression"))
        } else {
            let mut out = Vec::new();
            raw_block(input, limit, &mut out)?;
            Ok(out)
        }
    }

    fn decompress_xerial(mut chunks: &[u8], limit: usize) -> Result<Vec<u8>> {
        let damaged = |what: &str| failed("decompression")(io::Error::other(what));
        let mut out = Vec::new();
        while !chunks.is_empty() {
            let (len, rest) =
                chunks.split_first_chunk::<4>().ok_or_else(|| damaged("xerial chunk length truncated"))?;
            let len = usize::try_from(i32::from_be_bytes(*len)).map_err(|_| damaged("negative xerial chunk length"))?;
            let (block, next) = rest.split_at_checked(len).ok_or_else(|| damaged("xerial chunk runs past the data"))?;
            raw_block(block, limit, &mut out)?;
            chunks = next;
        }
        Ok(out)
    }

    /// Most output one byte of a snappy block can produce: a 3-byte copy
    /// element yields at most 64 bytes.
    const MAX_EXPANSION: usize = 22;

    /// Decompresses one raw snappy block, appending to `out`.
    fn raw_block(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<()> {
        let damaged = failed("decompression");
        let n = snap::raw::decompress_len(block).map_err(|e| damaged(e.into()))?;
        // The length prefix is only a claim: refuse one the block cannot
        // back before allocating for it.
        if n > block.len().saturating_mul(MAX_EXPANSION) {
            let claim = format!("block of {} bytes claims {n} decompressed bytes", block.len());
            return Err(damaged(io::Error::other(claim)));
        }
        if out.len() + n > limit {
            return Err(damaged(io::Error::other(format!("decompressed size exceeds {limit} bytes"))));
        }
        let start = out.len();
        out.resize(start + n, 0);
        let dst = out.get_mut(start..).ok_or(NO_ROOM)?;
        let written = snap::raw::Decoder::new().decompress(block, dst).map_err(|e| damaged(e.into()))?;
        out.truncate(start + written);
        Ok(())
    }
}

#[cfg(feature = "lz4")]
mod lz4 {
    use std::io::{self, Write};

    use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

    pub fn compress(input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        // Kafka's LZ4 output: 64 KiB independent blocks, no checksums.
        let info = FrameInfo::new().block_size(BlockSize::Max64KB).block_mode(BlockMode::Independent);
        let mut enc = FrameEncoder::with_frame_info(info, out);
        enc.write_all(input)?;
        enc.finish().map_err(io::Error::other)?;
        Ok(())
    }

    pub fn decompress(input: &[u8], limit: usize) -> io::Result<Vec<u8>> {
        super::read_bounded(FrameDecoder::new(input), input.len() * 4, limit)
    }
}

#[cfg(feature = "zstd")]
mod zstd {
    use std::io;

    /// Kafka's default `compression.zstd.level`.
    const LEVEL: i32 = 3;

    pub fn compress(input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let compressed = ::zstd::bulk::compress(input, LEVEL)?;
        out.extend_from_slice(&compressed);
        Ok(())
    }

    pub fn decompress(input: &[u8], limit: usize) -> io::Result<Vec<u8>> {
        super::read_bounded(::zstd::stream::read::Decoder::new(input)?, input.len() * 4, limit)
    }
}
