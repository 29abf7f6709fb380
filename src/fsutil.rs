//! Small file-system helpers with the durability steps spelled out.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::faults::{self, Op};

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
        // A fresh name, never an existing file (or a symlink planted there).
        let mut f = faults::check(Op::Create, tmp)
            .and_then(|()| OpenOptions::new().write(true).create_new(true).open(tmp))
            .map_err(|e| Error::io("create", tmp, e))?;
        note(FsEvent::Create(tmp));
        faults::check(Op::Write, tmp).and_then(|()| f.write_all(contents)).map_err(|e| Error::io("write", tmp, e))?;
        faults::check(Op::Sync, tmp).map_err(|e| Error::io("fsync", tmp, e))?;
        if real_sync() {
            f.sync_all().map_err(|e| Error::io("fsync", tmp, e))?;
        }
        note(FsEvent::SyncFile(tmp));
    }
    note(FsEvent::Rename(tmp, path));
    faults::check_rename(tmp, path)
        .and_then(|()| std::fs::rename(tmp, path))
        .map_err(|e| Error::io("rename", tmp, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Opens `path` for reading and writing, creating it if missing, never
/// through a symbolic link (a link could lead outside the data directory:
/// the error is then [`Error::Symlink`]). std opens with O_CLOEXEC, so the
/// descriptor does not reach exec'd children.
pub(crate) fn open_read_write(path: &Path, op: &'static str) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    faults::check(Op::Open, path).map_err(|e| Error::io(op, path, e))?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io(op, path, e))
}

/// Reads the whole of `path`, never through a symbolic link (a link could
/// lead outside the data directory: the error is then [`Error::Symlink`]);
/// `Ok(None)` when it does not exist. Anything but a regular file — a FIFO
/// planted there, a directory, a device — is refused rather than read:
/// opening is non-blocking, so a FIFO cannot hang the caller.
pub(crate) fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let opened = faults::check(Op::Open, path)
        .and_then(|()| OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path));
    let mut file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let kind = file.metadata().map_err(|e| Error::io("stat", path, e))?.file_type();
    if !kind.is_file() {
        let problem = std::io::Error::new(std::io::ErrorKind::InvalidData, "not a regular file");
        return Err(Error::io("read", path, problem));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| Error::io("read", path, e))?;
    Ok(Some(bytes))
}

/// Removes `path`; a file that is already gone is not an error.
pub(crate) fn remove_file_if_present(path: &Path) -> Result<()> {
    note(FsEvent::Remove(path));
    match faults::check(Op::Remove, path).and_then(|()| std::fs::remove_file(path)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Creates `dir` and any missing parents (reported as [`FsEvent::CreateDir`]),
/// durably: the parent of each directory it creates is fsynced, so that a
/// power loss cannot take away a new directory (a partition's, holding
/// flushed records, or `topiclog-meta`, holding acknowledged topics) whose
/// own contents were synced.
pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    // The directories this call creates, deepest first.
    let mut created = Vec::new();
    let mut missing = Some(dir);
    while let Some(d) = missing.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        created.push(d);
        missing = d.parent();
    }
    faults::check(Op::Create, dir)
        .and_then(|()| std::fs::create_dir_all(dir))
        .map_err(|e| Error::io("create directory", dir, e))?;
    note(FsEvent::CreateDir(dir));
    for d in created {
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Removes `dir` and everything in it (reported as [`FsEvent::RemoveDir`]).
pub(crate) fn remove_dir_all(dir: &Path) -> Result<()> {
    note(FsEvent::RemoveDir(dir));
    faults::check(Op::Remove, dir)
        .and_then(|()| std::fs::remove_dir_all(dir))
        .map_err(|e| Error::io("remove directory", dir, e))
}

/// Renames `from` to `to` (a file or a directory), reported as [`FsEvent::Rename`].
pub(crate) fn rename(from: &Path, to: &Path, op: &'static str) -> Result<()> {
    note(FsEvent::Rename(from, to));
    faults::check_rename(from, to).and_then(|()| std::fs::rename(from, to)).map_err(|e| Error::io(op, from, e))
}

/// fsyncs a directory, making the names of files created or renamed in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    faults::check(Op::SyncDir, dir).map_err(|e| Error::io("fsync directory", dir, e))?;
    if real_sync() {
        let d = File::open(dir).map_err(|e| Error::io("open directory", dir, e))?;
        d.sync_all().map_err(|e| Error::io("fsync directory", dir, e))?;
    }
    note(FsEvent::SyncDir(dir));
    Ok(())
}

/// A change to the file system that decides what a machine crash can leave.
/// Test builds pass each to a per-thread observer (the power-loss simulation
/// in `tests/power_loss.rs`, through the `fault-injection` feature); other
/// builds compile the calls away.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(any(test, feature = "fault-injection")), allow(dead_code))]
pub enum FsEvent<'a> {
    /// A file was created (called after; an existing file that was only
    /// opened may be reported too).
    Create(&'a Path),
    /// A file's data and size were made durable (fsync, fdatasync, msync).
    SyncFile(&'a Path),
    /// A directory was fsynced: the names in it are durable.
    SyncDir(&'a Path),
    /// A file or directory is about to be renamed (called before).
    Rename(&'a Path, &'a Path),
    /// A file is about to be removed (called before; it may be missing).
    Remove(&'a Path),
    /// A directory was created, with any missing parents (called after;
    /// one that existed already may be reported too).
    CreateDir(&'a Path),
    /// A directory is about to be removed with everything in it (called
    /// before; it may be missing).
    RemoveDir(&'a Path),
}

/// Whether sync calls reach the kernel: always, except on a test thread
/// whose power-loss simulation models durability itself (there the fsyncs
/// would only cost time; every sync is still reported to the observer).
#[cfg(any(test, feature = "fault-injection"))]
pub(crate) fn real_sync() -> bool {
    !observe::syncs_simulated()
}

/// Whether sync calls reach the kernel: always outside tests.
#[cfg(not(any(test, feature = "fault-injection")))]
#[inline(always)]
pub(crate) const fn real_sync() -> bool {
    true
}

/// Reports `event` to this thread's observer, if a test set one.
#[cfg(any(test, feature = "fault-injection"))]
pub(crate) fn note(event: FsEvent<'_>) {
    observe::notify(&event);
}

/// Reports `event` to this thread's observer: nothing outside tests.
#[cfg(not(any(test, feature = "fault-injection")))]
#[inline(always)]
pub(crate) fn note(_event: FsEvent<'_>) {}

/// The per-thread observer of [`FsEvent`]s (tests and the `fault-injection`
/// feature only).
#[cfg(any(test, feature = "fault-injection"))]
pub mod observe {
    use std::cell::RefCell;

    use super::FsEvent;

    /// A callback given every event of one thread.
    pub type Observer = Box<dyn FnMut(&FsEvent<'_>)>;

    thread_local! {
        static OBSERVER: RefCell<Option<Observer>> = const { RefCell::new(None) };
        static SIMULATED_SYNCS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Leaves this thread's syncs to the observer's model (no real fsync)
    /// until [`clear`].
    pub fn simulate_syncs() {
        SIMULATED_SYNCS.with(|s| s.set(true));
    }

    pub(super) fn syncs_simulated() -> bool {
        SIMULATED_SYNCS.with(std::cell::Cell::get)
    }

    /// Sends this thread's events to `observer` until [`clear`].
    pub fn set(observer: Observer) {
        OBSERVER.with(|o| *o.borrow_mut() = Some(observer));
    }

    /// Stops observing this thread's events.
    pub fn clear() {
        OBSERVER.with(|o| *o.borrow_mut() = None);
        SIMULATED_SYNCS.with(|s| s.set(false));
    }

    pub(super) fn notify(event: &FsEvent<'_>) {
        OBSERVER.with(|o| {
            if let Some(f) = o.borrow_mut().as_mut() {
                f(event);
            }
        });
    }
}
