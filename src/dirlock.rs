//! [`DirLock`]: exclusive ownership of a directory, within this process and
//! across processes, through a lock file inside it.
//!
//! Across processes it is a POSIX record lock (`fcntl(F_SETLK)`, a write lock
//! over the whole file). Such a lock belongs to the process, so a child
//! process never inherits it: with `flock`, a child spawned by any thread
//! held a copy of the lock until it called `exec`, and reopening a directory
//! right after closing it failed. POSIX locks have two traps, both handled
//! here: they do not exclude the process holding them (an in-process
//! registry of locked directories does), and closing *any* descriptor of the
//! lock file in the process drops the lock (the lock keeps the only one open
//! for its whole life; nothing else in the crate opens a lock file).

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// The lock file inside a locked directory.
pub(crate) const LOCK_FILE: &str = ".lock";

/// Directories (canonical paths) locked by this process.
static LOCKED: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// An exclusive lock of a directory; released when dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    /// The canonical directory, as registered.
    dir: PathBuf,
    /// The lock file, kept open: closing it would drop the POSIX lock.
    /// `None` for a read-only lock of a directory without a lock file.
    _file: Option<File>,
}

impl DirLock {
    /// Locks `dir`, which must exist, creating its lock file if needed.
    /// [`Error::Locked`] when this or another process holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let canonical = dir.canonicalize().map_err(|e| Error::io("resolve directory", dir, e))?;
        let mut locked = LOCKED.lock();
        if locked.contains(&canonical) {
            return Err(Error::Locked { path });
        }
        let file = crate::fsutil::open_read_write(&path, "open lock file")?;
        lock_file(&file, &path, true)?;
        locked.insert(canonical.clone());
        Ok(Self { dir: canonical, _file: Some(file) })
    }

    /// Locks `dir` for reading only: a shared lock, which other processes'
    /// read-only opens share and a writer's exclusive lock excludes. Nothing
    /// is created: a directory without a lock file (one Kafka wrote) is
    /// locked only within this process. [`Error::Locked`] when a writer holds
    /// it, or when this process has it open in any mode.
    pub fn acquire_read_only(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let canonical = dir.canonicalize().map_err(|e| Error::io("resolve directory", dir, e))?;
        let mut locked = LOCKED.lock();
        if locked.contains(&canonical) {
            return Err(Error::Locked { path });
        }
        // Never through a symbolic link: it could lead out of the directory.
        let opened = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&path)
        };
        let file = match opened {
            Ok(file) => {
                lock_file(&file, &path, false)?;
                Some(file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            // `Error::io` turns ELOOP (a symbolic link) into `Error::Symlink`.
            Err(e) => return Err(Error::io("open lock file", &path, e)),
        };
        locked.insert(canonical.clone());
        Ok(Self { dir: canonical, _file: file })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // The registry entry goes while the descriptor (and so the POSIX
        // lock) is still held; the descriptor closes right after, which
        // releases the lock for other processes.
        LOCKED.lock().remove(&self.dir);
    }
}

/// Takes a whole-file POSIX lock: exclusive (a write lock) or shared.
#[cfg(unix)]
fn lock_file(file: &File, path: &Path, exclusive: bool) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `libc::flock` is a plain C struct for which all-zero bytes are
    // a valid value; the fields that matter are set below.
    let mut request: libc::flock = unsafe { std::mem::zeroed() };
    request.l_type = if exclusive { libc::F_WRLCK as _ } else { libc::F_RDLCK as _ };
    request.l_whence = libc::SEEK_SET as _;
    request.l_start = 0;
    request.l_len = 0; // to the end of the file, however it grows
    // SAFETY: the descriptor is open for the duration of the call (borrowed
    // from `file`), and `request` is a valid, initialized `flock` that
    // F_SETLK only reads.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &request) };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EAGAIN) => Err(Error::Locked { path: path.to_owned() }),
        _ => Err(Error::io("lock", path, e)),
    }
}

#[cfg(not(unix))]
fn lock_file(file: &File, path: &Path, exclusive: bool) -> Result<()> {
    let locked = if exclusive { file.try_lock() } else { file.try_lock_shared() };
    match locked {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { path: path.to_owned() }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", path, e)),
    }
}

/// A [`DirLock`] shared by several handles: released by [`Self::release`]
/// or when the last clone goes, whichever comes first.
#[derive(Debug, Clone)]
pub(crate) struct SharedLock(Arc<Mutex<Option<DirLock>>>);

impl SharedLock {
    pub fn new(lock: DirLock) -> Self {
        Self(Arc::new(Mutex::new(Some(lock))))
    }

    /// Releases the lock now, for every clone.
    pub fn release(&self) {
        drop(self.0.lock().take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_locked_once_until_the_lock_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DirLock::acquire(dir.path()).unwrap();
        let again = DirLock::acquire(dir.path());
        assert!(matches!(&again, Err(Error::Locked { path }) if path.ends_with(LOCK_FILE)), "{again:?}");
        // The same directory under another spelling.
        let other = dir.path().join(".").join("..").join(dir.path().file_name().unwrap());
        assert!(matches!(DirLock::acquire(&other), Err(Error::Locked { .. })));
        drop(lock);
        let lock = DirLock::acquire(dir.path()).unwrap();
        let shared = SharedLock::new(lock);
        let clone = shared.clone();
        drop(shared);
        assert!(matches!(DirLock::acquire(dir.path()), Err(Error::Locked { .. })));
        clone.release();
        DirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(DirLock::acquire(&dir.path().join("missing")), Err(Error::Io { .. })));
    }
}
