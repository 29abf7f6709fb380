//! Small file-system helpers with the durability steps spelled out.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// How temporary files of [`write_atomically`] end; whoever opens a
/// directory removes such files, left by a crash.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// Replaces `path` with `contents` atomically and durably: write a temporary
/// file beside it, fsync it, rename it over `path`, fsync the directory.
///
/// The temporary file is `.<pid>-<n>.tmp`: unique, so concurrent writers
/// never share one, and short, so it fits wherever `path`'s name fits.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(".{}-{}{TEMP_SUFFIX}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let tmp = path.with_file_name(name);
    let written = write_and_rename(&tmp, path, contents);
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn write_and_rename(tmp: &Path, path: &Path, contents: &[u8]) -> Result<()> {
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)
            .map_err(|e| Error::io("create", tmp, e))?;
        f.write_all(contents).map_err(|e| Error::io("write", tmp, e))?;
        f.sync_all().map_err(|e| Error::io("fsync", tmp, e))?;
    }
    std::fs::rename(tmp, path).map_err(|e| Error::io("rename", tmp, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Removes `path`; a file that is already gone is not an error.
pub(crate) fn remove_file_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// fsyncs a directory, making the names of files created or renamed in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io("open directory", dir, e))?;
    d.sync_all().map_err(|e| Error::io("fsync directory", dir, e))
}
