//! The storage seam: every file operation the library performs (open,
//! create, write, sync, rename, remove, set_len, mmap) first passes through
//! [`check`] (or [`check_rename`]), naming the operation and the file.
//!
//! In normal builds the checks compile to nothing: the real call is the
//! only implementation. With the `fault-injection` cargo feature (off by
//! default; tests only), a process-wide registry can make any check fail
//! with a chosen errno, as the real call would, and records every call made
//! under a watched directory. Faults and logs are keyed by path prefix (a
//! test's temporary directory), so tests running in parallel threads of one
//! binary do not see each other's faults. Integration tests drive it through
//! `topiclog::fault_injection`.

use std::io;
use std::path::Path;

/// A kind of file operation behind the seam.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub enum Op {
    /// Opening an existing file for writing (or creating it if missing).
    Open,
    /// Creating a new file or directory.
    Create,
    /// Writing bytes (`pwrite`, `write`) or reserving blocks for them (`fallocate`).
    Write,
    /// fsync, fdatasync or msync of a file.
    Sync,
    /// fsync of a directory.
    SyncDir,
    /// Renaming a file or directory (checked against both names).
    Rename,
    /// Removing a file or a directory tree.
    Remove,
    /// Changing a file's length (`ftruncate`).
    SetLen,
    /// Mapping a file into memory.
    Mmap,
}

#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
impl Op {
    /// Every operation, in declaration order.
    pub const ALL: [Op; 9] =
        [Op::Open, Op::Create, Op::Write, Op::Sync, Op::SyncDir, Op::Rename, Op::Remove, Op::SetLen, Op::Mmap];
}

/// Fails with the armed fault's errno when one matches `op` on `path`;
/// records the call when `path` is under a watched directory. Call it right
/// before the real operation and map its error as the real one's.
#[cfg(feature = "fault-injection")]
pub(crate) fn check(op: Op, path: &Path) -> io::Result<()> {
    registry::check(op, path, None)
}

/// The seam in a normal build: nothing to check.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn check(_op: Op, _path: &Path) -> io::Result<()> {
    Ok(())
}

/// [`check`] for a rename of `from` to `to`: a fault matches either name.
#[cfg(feature = "fault-injection")]
pub(crate) fn check_rename(from: &Path, to: &Path) -> io::Result<()> {
    registry::check(Op::Rename, from, Some(to))
}

/// The seam in a normal build: nothing to check.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn check_rename(_from: &Path, _to: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(feature = "fault-injection")]
pub use registry::{Call, Fault, arm, calls, disarm, forget, injected, watch};

#[cfg(feature = "fault-injection")]
mod registry {
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, MutexGuard, PoisonError};

    use super::Op;

    /// A fault to inject: operation `op` on a path under `prefix` (a plain
    /// string prefix, so `dir/.` matches the hidden temporary files in
    /// `dir`) and, if set, containing `contains`, fails with `errno`, after
    /// letting `skip` matching calls through, `times` times (`None`: until
    /// disarmed).
    #[derive(Debug, Clone)]
    pub struct Fault {
        prefix: PathBuf,
        contains: Option<String>,
        op: Op,
        errno: i32,
        skip: u64,
        times: Option<u64>,
    }

    impl Fault {
        /// Fails every `op` on a path starting with `prefix` with `errno`, until disarmed.
        #[must_use]
        pub fn new(prefix: impl AsRef<Path>, op: Op, errno: i32) -> Self {
            Self { prefix: prefix.as_ref().to_path_buf(), contains: None, op, errno, skip: 0, times: None }
        }

        /// Only paths containing `text` (either name of a rename).
        #[must_use]
        pub fn contains(mut self, text: impl Into<String>) -> Self {
            self.contains = Some(text.into());
            self
        }

        /// Lets the first `n` matching calls through.
        #[must_use]
        pub fn after(mut self, n: u64) -> Self {
            self.skip = n;
            self
        }

        /// Fails only `n` times, then lets calls through.
        #[must_use]
        pub fn times(mut self, n: u64) -> Self {
            self.times = Some(n);
            self
        }

        /// The operation it fails.
        #[must_use]
        pub fn op(&self) -> Op {
            self.op
        }

        /// The errno it fails with.
        #[must_use]
        pub fn errno(&self) -> i32 {
            self.errno
        }

        fn matches(&self, op: Op, path: &Path, to: Option<&Path>) -> bool {
            op == self.op && (self.matches_path(path) || to.is_some_and(|to| self.matches_path(to)))
        }

        fn matches_path(&self, path: &Path) -> bool {
            under(path, &self.prefix)
                && self.contains.as_deref().is_none_or(|text| path.to_string_lossy().contains(text))
        }
    }

    /// One call through the seam under a watched directory.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Call {
        /// The operation.
        pub op: Op,
        /// The file or directory (the source of a rename).
        pub path: PathBuf,
        /// The target of a rename.
        pub to: Option<PathBuf>,
        /// The errno injected, when the call was made to fail.
        pub injected: Option<i32>,
    }

    #[derive(Default)]
    struct State {
        faults: Vec<Fault>,
        /// Watched prefixes and the calls made under each.
        logs: Vec<(PathBuf, Vec<Call>)>,
    }

    static STATE: Mutex<State> = Mutex::new(State { faults: Vec::new(), logs: Vec::new() });

    fn state() -> MutexGuard<'static, State> {
        // A test that panicked while holding the lock leaves valid data.
        STATE.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn under(path: &Path, prefix: &Path) -> bool {
        path.as_os_str().as_encoded_bytes().starts_with(prefix.as_os_str().as_encoded_bytes())
    }

    pub(super) fn check(op: Op, path: &Path, to: Option<&Path>) -> io::Result<()> {
        let mut state = state();
        let mut injected = None;
        for fault in state.faults.iter_mut().filter(|f| f.matches(op, path, to)) {
            if fault.skip > 0 {
                fault.skip -= 1;
                continue;
            }
            if fault.times == Some(0) {
                continue;
            }
            fault.times = fault.times.map(|t| t - 1);
            injected = Some(fault.errno);
            break;
        }
        for (prefix, log) in &mut state.logs {
            if under(path, prefix) || to.is_some_and(|to| under(to, prefix)) {
                log.push(Call { op, path: path.to_path_buf(), to: to.map(Path::to_path_buf), injected });
            }
        }
        match injected {
            Some(errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        }
    }

    /// Arms `fault` (and watches its prefix, see [`watch`]).
    pub fn arm(fault: Fault) {
        watch(&fault.prefix);
        state().faults.push(fault);
    }

    /// Starts recording the calls made on paths under `prefix`.
    pub fn watch(prefix: impl AsRef<Path>) {
        let prefix = prefix.as_ref();
        let mut state = state();
        // Byte equality: `Path`'s `==` ignores a trailing `/.`, which matters here.
        if !state.logs.iter().any(|(p, _)| p.as_os_str() == prefix.as_os_str()) {
            state.logs.push((prefix.to_path_buf(), Vec::new()));
        }
    }

    /// Removes every fault whose prefix is under `prefix`; the calls recorded stay.
    pub fn disarm(prefix: impl AsRef<Path>) {
        let prefix = prefix.as_ref();
        state().faults.retain(|f| !under(&f.prefix, prefix));
    }

    /// Disarms `prefix`'s faults and drops the logs of prefixes under it.
    pub fn forget(prefix: impl AsRef<Path>) {
        let prefix = prefix.as_ref();
        disarm(prefix);
        state().logs.retain(|(p, _)| !under(p, prefix));
    }

    /// The calls recorded under watched prefixes that are under `prefix`.
    #[must_use]
    pub fn calls(prefix: impl AsRef<Path>) -> Vec<Call> {
        let prefix = prefix.as_ref();
        state().logs.iter().filter(|(p, _)| under(p, prefix)).flat_map(|(_, log)| log.iter().cloned()).collect()
    }

    /// The calls under `prefix` that were made to fail.
    #[must_use]
    pub fn injected(prefix: impl AsRef<Path>) -> Vec<Call> {
        calls(prefix).into_iter().filter(|c| c.injected.is_some()).collect()
    }
}

#[cfg(all(test, feature = "fault-injection"))]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn faults_fire_by_prefix_skip_and_times_and_calls_are_recorded() {
        let root = Path::new("/faults-unit-test");
        arm(Fault::new(root.join("a/."), Op::Write, libc::ENOSPC).contains("tmp").after(1).times(1));
        // Another directory, another operation, a name without "tmp": untouched.
        assert!(check(Op::Write, Path::new("/faults-unit-test-b/.x.tmp")).is_ok());
        assert!(check(Op::Sync, &root.join("a/.x.tmp")).is_ok());
        assert!(check(Op::Write, &root.join("a/.x.log")).is_ok());
        // Skipped once, fired once, then spent.
        assert!(check(Op::Write, &root.join("a/.x.tmp")).is_ok());
        let e = check(Op::Write, &root.join("a/.x.tmp")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        assert!(check(Op::Write, &root.join("a/.x.tmp")).is_ok());
        // A rename matches on either name.
        arm(Fault::new(root.join("a"), Op::Rename, libc::EIO).contains(".swap"));
        assert!(check_rename(&root.join("a/1.log.cleaned"), &root.join("a/1.log.swap")).is_err());
        assert_eq!(calls(root).len(), 6, "{:?}", calls(root));
        assert_eq!(injected(root).len(), 2);
        forget(root);
        assert!(check_rename(&root.join("a/1.log.cleaned"), &root.join("a/1.log.swap")).is_ok());
        assert!(calls(root).is_empty());
    }
}
