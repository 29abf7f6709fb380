//! Segment file names (SPEC §2.1) and the `.log` file: positioned writes,
//! reads bounded by the logical size, and an optional read-only mapping of
//! sealed segments for zero-copy reads.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::faults::{self, Op};

/// Suffix of a segment's record-batch file.
pub const LOG_SUFFIX: &str = ".log";
/// Suffix of a segment's offset index.
pub const INDEX_SUFFIX: &str = ".index";
/// Suffix of a segment's time index.
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// Suffix appended to files of a segment waiting for physical deletion.
pub const DELETED_SUFFIX: &str = ".deleted";

/// `base_offset` as the 20-digit, zero-padded file name prefix Kafka uses.
pub fn file_name_prefix(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// `<dir>/<20-digit base offset><suffix>`.
#[must_use]
pub fn segment_file(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{}{suffix}", file_name_prefix(base_offset)))
}

/// The base offset a segment file name starts with (the digits before the
/// first `.`), if the name has that form.
#[must_use]
pub fn base_offset_from_file_name(name: &str) -> Option<i64> {
    let (digits, _) = name.split_once('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment's `.log` file.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
    writable: bool,
}

impl LogFile {
    /// Creates an empty `.log`; fails if one exists.
    pub fn create(path: &Path) -> Result<Self> {
        faults::check(Op::Create, path).map_err(|e| Error::io("create segment log", path, e))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| Error::io("create segment log", path, e))?;
        crate::fsutil::note(crate::fsutil::FsEvent::Create(path));
        Ok(Self { path: path.to_owned(), file, writable: true })
    }

    /// Opens an existing `.log`.
    pub fn open(path: &Path, writable: bool) -> Result<Self> {
        if writable {
            faults::check(Op::Open, path).map_err(|e| Error::io("open segment log", path, e))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| Error::io("open segment log", path, e))?;
        Ok(Self { path: path.to_owned(), file, writable })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length on disk.
    pub fn len(&self) -> Result<u64> {
        Ok(self.file.metadata().map_err(|e| Error::io("stat segment log", &self.path, e))?.len())
    }

    /// Sets the file's modification time.
    pub fn set_modified(&self, time: std::time::SystemTime) -> Result<()> {
        self.file.set_modified(time).map_err(|e| Error::io("set modification time", &self.path, e))
    }

    /// The file's modification time.
    pub fn modified(&self) -> Result<std::time::SystemTime> {
        self.file.metadata().and_then(|m| m.modified()).map_err(|e| Error::io("stat segment log", &self.path, e))
    }

    /// Writes `data` at `position`.
    pub fn write_at(&self, position: u64, data: &[u8]) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly { path: self.path.clone() });
        }
        faults::check(Op::Write, &self.path)
            .and_then(|()| self.file.write_all_at(data, position))
            .map_err(|e| Error::io("write segment log", &self.path, e))
    }

    /// Reads up to `len` bytes at `position`; fewer when the file ends first.
    pub fn read_at(&self, position: u64, len: usize) -> Result<Bytes> {
        let mut buf = BytesMut::zeroed(len);
        let mut filled = 0;
        // `filled` never passes `len` (a read fills at most `dst`): loop while room is left.
        while let Some(dst) = buf.get_mut(filled..).filter(|dst| !dst.is_empty()) {
            match self.file.read_at(dst, position + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("read segment log", &self.path, e)),
            }
        }
        buf.truncate(filled);
        Ok(buf.freeze())
    }

    /// Cuts the file to `len` bytes.
    pub fn truncate(&self, len: u64) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly { path: self.path.clone() });
        }
        faults::check(Op::SetLen, &self.path)
            .and_then(|()| self.file.set_len(len))
            .map_err(|e| Error::io("truncate segment log", &self.path, e))
    }

    /// fsyncs the data (and the size, which `fdatasync` covers when it changed).
    pub fn sync(&self) -> Result<()> {
        faults::check(Op::Sync, &self.path).map_err(|e| Error::io("fsync segment log", &self.path, e))?;
        if crate::fsutil::real_sync() {
            self.file.sync_data().map_err(|e| Error::io("fsync segment log", &self.path, e))?;
        }
        crate::fsutil::note(crate::fsutil::FsEvent::SyncFile(&self.path));
        Ok(())
    }

    /// Starts writing bytes `[from, from + len)` back to the disk without
    /// waiting for it (`sync_file_range(SYNC_FILE_RANGE_WRITE)`): a later
    /// fsync then has little left to wait for. A hint: nothing is promised
    /// durable by it, and a failure here is left to that fsync to report.
    pub fn start_writeback(&self, from: u64, len: u64) {
        use std::os::fd::AsRawFd;
        let (Ok(from), Ok(len)) = (libc::off64_t::try_from(from), libc::off64_t::try_from(len)) else { return };
        // SAFETY: not a mapping, but a plain system call on a descriptor this
        // struct owns; it reads no memory of ours.
        let _ = unsafe { libc::sync_file_range(self.file.as_raw_fd(), from, len, libc::SYNC_FILE_RANGE_WRITE) };
    }

    /// Maps the first `len` bytes for reading, as shared `Bytes`.
    pub fn map(&self, len: u64) -> Result<Bytes> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        // SAFETY: the mapping covers bytes [0, len) that were completely
        // written before the call. Segments never shrink a file that has been
        // mapped: truncating a mapped segment writes the kept prefix to a new
        // file that replaces it by rename, so the mapped inode keeps its size
        // for as long as any `Bytes` view of it lives. Other processes are
        // kept out by the partition directory's lock (UNSAFE.md).
        let map = faults::check(Op::Mmap, &self.path)
            .and_then(|()| unsafe { memmap2::MmapOptions::new().len(len as usize).map(&self.file) });
        let map: Mmap = map.map_err(|e| Error::io("mmap segment log", &self.path, e))?;
        Ok(Bytes::from_owner(map))
    }

    /// Extends the file to at least `len` bytes with blocks reserved on disk
    /// (`fallocate`), so that writes through a mapping below `len` can never
    /// fail for lack of space (a failure there would be a SIGBUS). `false`
    /// when the file system cannot preallocate; the caller then writes with
    /// `write_at`.
    pub fn preallocate(&self, len: u64) -> Result<bool> {
        if !self.writable {
            return Err(Error::ReadOnly { path: self.path.clone() });
        }
        let Ok(len) = libc::off_t::try_from(len) else {
            return Err(Error::SegmentFull { path: self.path.clone(), size: len });
        };
        use std::os::fd::AsRawFd;
        faults::check(Op::Write, &self.path).map_err(|e| Error::io("preallocate segment log", &self.path, e))?;
        // SAFETY: not a mapping, but a plain system call on a descriptor this
        // struct owns; it reads no memory of ours.
        let rc = unsafe { libc::fallocate(self.file.as_raw_fd(), 0, 0, len) };
        if rc == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => Ok(false),
            _ => Err(Error::io("preallocate segment log", &self.path, e)),
        }
    }

    /// Maps bytes `[offset, offset + len)` (preallocated) for writing
    /// appends into. Pages are faulted in as they are written (not up front,
    /// so an idle partition holds no resident stretch).
    pub fn map_writable(&self, offset: u64, len: u64) -> Result<memmap2::MmapMut> {
        // SAFETY: the mapping is used only by the segment's appender (behind
        // the segment's writer lock), to write bytes past the published size,
        // which no reader touches, inside blocks reserved by `preallocate`.
        // The file is shrunk (trimmed) only after this mapping is dropped.
        // Other processes are kept out by the partition directory's lock.
        let map = faults::check(Op::Mmap, &self.path)
            .and_then(|()| unsafe { memmap2::MmapOptions::new().offset(offset).len(len as usize).map_mut(&self.file) });
        map.map_err(|e| Error::io("mmap segment log for appends", &self.path, e))
    }

    /// Maps `reserve` bytes of address space over the file for reading, as
    /// shared `Bytes`, however long the file is now: bytes written later
    /// appear in the mapping. Only bytes below the file's length may be read
    /// through it (past it a read would fault).
    pub fn map_reserved(&self, reserve: u64) -> Result<Bytes> {
        // SAFETY: the mapping may extend past the end of the file. Readers
        // only ever touch bytes below the segment's published size, which
        // were written (the file extended) before that size was published,
        // and a mapped file is never shrunk below that size: trimming cuts
        // only preallocated space past it, and truncation of a mapped segment
        // writes the kept prefix to a new file that replaces it by rename.
        // Other processes are kept out by the partition directory's lock.
        let map = faults::check(Op::Mmap, &self.path)
            .and_then(|()| unsafe { memmap2::MmapOptions::new().len(reserve as usize).map(&self.file) });
        let map: Mmap = map.map_err(|e| Error::io("mmap segment log", &self.path, e))?;
        Ok(Bytes::from_owner(map))
    }

    /// Replaces the file by a new one holding its first `len` bytes, via a
    /// temporary file and a rename, leaving existing mappings of the old file valid.
    pub fn replace_with_prefix(&mut self, len: u64) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly { path: self.path.clone() });
        }
        let mut tmp_name = self.path.as_os_str().to_owned();
        tmp_name.push(".truncating");
        let tmp = PathBuf::from(tmp_name);
        crate::fsutil::note(crate::fsutil::FsEvent::Remove(&tmp));
        let _ = std::fs::remove_file(&tmp);
        let new = Self::create(&tmp)?;
        let mut copied = 0u64;
        while copied < len {
            let chunk = self.read_at(copied, ((len - copied) as usize).min(1 << 20))?;
            if chunk.is_empty() {
                break;
            }
            new.write_at(copied, &chunk)?;
            copied += chunk.len() as u64;
        }
        new.sync()?;
        crate::fsutil::note(crate::fsutil::FsEvent::Rename(&tmp, &self.path));
        faults::check_rename(&tmp, &self.path)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| Error::io("rename truncated segment log", &tmp, e))?;
        self.file = new.file;
        Ok(())
    }
}

/// Renames `path` to `path.deleted`, if it exists.
pub(crate) fn rename_to_deleted(path: &Path) -> Result<Option<PathBuf>> {
    let mut name = path.as_os_str().to_owned();
    name.push(DELETED_SUFFIX);
    let target = PathBuf::from(name);
    crate::fsutil::note(crate::fsutil::FsEvent::Rename(path, &target));
    match faults::check_rename(path, &target).and_then(|()| std::fs::rename(path, &target)) {
        Ok(()) => Ok(Some(target)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("rename to .deleted", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_twenty_digits() {
        assert_eq!(file_name_prefix(368_769), "00000000000000368769");
        let p = segment_file(Path::new("d"), 0, LOG_SUFFIX);
        assert_eq!(p, Path::new("d/00000000000000000000.log"));
        assert_eq!(base_offset_from_file_name("00000000000000368769.log"), Some(368_769));
        assert_eq!(base_offset_from_file_name("00000000000000368769.log.deleted"), Some(368_769));
        assert_eq!(base_offset_from_file_name("leader-epoch-checkpoint"), None);
        assert_eq!(base_offset_from_file_name(".log"), None);
    }
}
