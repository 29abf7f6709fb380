//! Hostile data directories (issue 14): a store created by topiclog, then
//! tampered with — symbolic links, odd file names, unknown directories, an
//! index of absurd size, garbage in state and checkpoint files — and opened
//! with both `Store::open` and `Store::open_read_only`. Opening never follows
//! a path out of the directory, never panics, never deletes a file it does
//! not own, and reports what it refused with a typed error.
//!
//! Already covered elsewhere (not repeated here): symlinked segment files
//! under `Partition::open` (`durability_defects.rs`), a symlinked partition
//! directory under `Store::open` (`durability_defects.rs`,
//! `error_variants.rs`), a symlinked read-only lock (`read_only.rs`).

#![cfg(unix)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use topiclog::{Error, Record, Result, Store, StoreConfig, TopicConfig};

const SEGMENT: &str = "00000000000000000000";

fn quiet() -> StoreConfig {
    StoreConfig::new().maintenance(false)
}

/// The two ways to open a data directory.
#[derive(Clone, Copy, Debug)]
enum Mode {
    ReadWrite,
    ReadOnly,
}

const MODES: [Mode; 2] = [Mode::ReadWrite, Mode::ReadOnly];

fn open(mode: Mode, dir: &Path) -> Result<Store> {
    match mode {
        Mode::ReadWrite => Store::open(dir, quiet()),
        Mode::ReadOnly => Store::open_read_only(dir, quiet()),
    }
}

/// A store with one topic `t` of one partition holding 20 records, closed.
fn created(dir: &Path) {
    let store = Store::open(dir, quiet()).unwrap();
    let t = store.create_topic("t", 1, TopicConfig::new()).unwrap();
    for i in 0..20 {
        t.send(Record::new().key(format!("k{i}")).value(format!("value {i}"))).unwrap();
    }
    store.close().unwrap();
}

/// Opens, reads every record of every partition, and closes; for a read-write
/// open also appends, so anything written through a link would show.
fn exercise(mode: Mode, dir: &Path) -> Result<usize> {
    let store = open(mode, dir)?;
    let mut read = 0;
    for name in store.topics() {
        let topic = store.existing_topic(&name)?;
        for p in topic.partitions() {
            for r in p.read_from(p.log_start_offset())? {
                r?;
                read += 1;
            }
        }
        if matches!(mode, Mode::ReadWrite) {
            topic.send(Record::new().value("after"))?;
        }
    }
    store.close()?;
    Ok(read)
}

/// A file outside the data directory, its bytes and modification time, to
/// check it is never changed.
struct Outside {
    _dir: tempfile::TempDir,
    path: PathBuf,
    bytes: Vec<u8>,
    modified: SystemTime,
}

impl Outside {
    /// A copy of `from` (a file or a directory) outside the data directory.
    fn copy_of(from: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("precious");
        if from.is_dir() {
            std::fs::create_dir(&path).unwrap();
            for e in std::fs::read_dir(from).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), path.join(e.file_name())).unwrap();
            }
        } else {
            std::fs::copy(from, &path).unwrap();
        }
        let (bytes, modified) = Self::fingerprint(&path);
        Outside { _dir: dir, path, bytes, modified }
    }

    fn fingerprint(path: &Path) -> (Vec<u8>, SystemTime) {
        let meta = std::fs::metadata(path).unwrap();
        if meta.is_dir() {
            let mut names: Vec<_> = std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect();
            names.sort();
            let mut all = Vec::new();
            for n in names {
                all.extend_from_slice(n.as_os_str().as_bytes());
                all.extend(std::fs::read(&n).unwrap());
            }
            (all, meta.modified().unwrap())
        } else {
            (std::fs::read(path).unwrap(), meta.modified().unwrap())
        }
    }

    fn assert_unchanged(&self, what: &str) {
        let (bytes, modified) = Self::fingerprint(&self.path);
        assert!(bytes == self.bytes, "{what}: the file outside the data directory was changed");
        assert_eq!(modified, self.modified, "{what}: the file outside the data directory was touched");
    }
}

/// Replaces `path` (file or directory) with a symbolic link to a copy of it
/// outside the data directory.
fn replace_with_link(path: &Path) -> Outside {
    let outside = Outside::copy_of(path);
    if path.is_dir() {
        std::fs::remove_dir_all(path).unwrap();
    } else {
        std::fs::remove_file(path).unwrap();
    }
    std::os::unix::fs::symlink(&outside.path, path).unwrap();
    outside
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).map(|m| m.file_type().is_symlink()).unwrap_or(false)
}

/// The topic metadata file `topiclog-meta/<something>.topic` of topic `t`.
fn topic_meta_file(dir: &Path) -> PathBuf {
    let meta = dir.join("topiclog-meta");
    std::fs::read_dir(&meta)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension() == Some(OsStr::new("topic")))
        .expect("a .topic file")
}

// ---- 1. a symlinked segment ------------------------------------------------

/// A partition's `.log` replaced by a link to a file outside: refused with
/// `Error::Symlink` naming the link; the outside file is never changed.
#[test]
fn a_symlinked_segment_log_is_refused_and_never_written() {
    for mode in MODES {
        let data = tempfile::tempdir().unwrap();
        created(data.path());
        let link = data.path().join("t-0").join(format!("{SEGMENT}.log"));
        let outside = replace_with_link(&link);
        let result = exercise(mode, data.path());
        assert!(matches!(&result, Err(Error::Symlink { path }) if *path == link), "{mode:?}: {result:?}");
        outside.assert_unchanged(&format!("{mode:?}"));
        assert!(is_symlink(&link), "{mode:?}: the link itself is left for the operator");
    }
}

// ---- 2. a symlinked topic metadata file or directory -----------------------

/// A topic metadata file that is a link to a file outside: refused with
/// `Error::Symlink`; nothing outside changes.
#[test]
fn a_symlinked_topic_metadata_file_is_refused() {
    for mode in MODES {
        let data = tempfile::tempdir().unwrap();
        created(data.path());
        let link = topic_meta_file(data.path());
        let outside = replace_with_link(&link);
        let result = exercise(mode, data.path());
        assert!(matches!(&result, Err(Error::Symlink { path }) if *path == link), "{mode:?}: {result:?}");
        outside.assert_unchanged(&format!("{mode:?}"));
    }
}

/// The `topiclog-meta` directory itself a link to a directory outside:
/// refused with `Error::Symlink`; nothing outside changes.
#[test]
fn a_symlinked_metadata_directory_is_refused() {
    for mode in MODES {
        let data = tempfile::tempdir().unwrap();
        created(data.path());
        let link = data.path().join("topiclog-meta");
        let outside = replace_with_link(&link);
        let result = exercise(mode, data.path());
        assert!(matches!(&result, Err(Error::Symlink { path }) if *path == link), "{mode:?}: {result:?}");
        outside.assert_unchanged(&format!("{mode:?}"));
    }
}

// ---- 3. a symlinked checkpoint at the root ---------------------------------

/// Each of Kafka's checkpoint files at the root, a link to a file outside:
/// refused with `Error::Symlink`; nothing outside changes.
#[test]
fn a_symlinked_checkpoint_is_refused() {
    for name in ["recovery-point-offset-checkpoint", "log-start-offset-checkpoint", "cleaner-offset-checkpoint"] {
        for mode in MODES {
            let data = tempfile::tempdir().unwrap();
            created(data.path());
            let link = data.path().join(name);
            if !link.exists() {
                std::fs::write(&link, "0\n1\nt 0 0\n").unwrap();
            }
            let outside = replace_with_link(&link);
            let result = exercise(mode, data.path());
            assert!(matches!(&result, Err(Error::Symlink { path }) if *path == link), "{name} {mode:?}: {result:?}");
            outside.assert_unchanged(&format!("{name} {mode:?}"));
        }
    }
}

// ---- 4. odd file names in a partition directory ----------------------------

/// Files whose names look almost like segments are not topiclog's: opening
/// ignores them (reads every record) and never deletes or changes them.
#[test]
fn odd_file_names_in_a_partition_directory_are_ignored_and_kept() {
    let names: Vec<&[u8]> = vec![
        b"00000000000000000000.log.bak",
        b"-1.log",
        b"-1.index",
        b"99999999999999999999999.log",
        b"99999999999999999999999.index",
        b"00000000000000000000\n.log",
        b"line\nbreak.index",
        b"\xff\xfe.log",
        b"00000000000000000000.\xff",
        b"abc.timeindex",
        b".log",
        b"000000000000000000a0.log",
    ];
    for mode in MODES {
        let data = tempfile::tempdir().unwrap();
        created(data.path());
        let part = data.path().join("t-0");
        let mut planted = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let path = part.join(OsStr::from_bytes(name));
            std::fs::write(&path, format!("not topiclog's {i}")).unwrap();
            planted.push((path, format!("not topiclog's {i}")));
        }
        let result = exercise(mode, data.path());
        assert!(matches!(result, Ok(20)), "{mode:?}: the odd names are ignored, every record read: {result:?}");
        for (path, content) in &planted {
            let now = std::fs::read_to_string(path);
            assert!(matches!(&now, Ok(c) if c == content), "{mode:?}: {path:?} was removed or changed: {now:?}");
        }
    }
}

// ---- 5. unknown directories at the root ------------------------------------

/// Directories at the root that are not partitions of a known topic.
/// `notatopic` does not parse as `<topic>-<partition>`; `topic-x` neither;
/// `t-99999999999` has a partition number beyond `u32`. None may panic or be
/// deleted.
#[test]
fn unknown_directories_at_the_root_are_not_deleted() {
    for name in ["notatopic", "topic-x", "t-99999999999", "t-", "-0", "t-1"] {
        for mode in MODES {
            let data = tempfile::tempdir().unwrap();
            created(data.path());
            let stranger = data.path().join(name);
            std::fs::create_dir(&stranger).unwrap();
            std::fs::write(stranger.join("keep.txt"), "mine").unwrap();
            let result = exercise(mode, data.path());
            match name {
                // A partition directory beyond the topic's partition count:
                // the store refuses to guess rather than adopt or drop it.
                "t-1" => assert!(result.is_err() || matches!(result, Ok(20)), "{name} {mode:?}: {result:?}"),
                // Not a partition directory name: ignored, every record read.
                _ => assert!(matches!(result, Ok(20)), "{name} {mode:?}: ignored: {result:?}"),
            }
            assert_eq!(
                std::fs::read_to_string(stranger.join("keep.txt")).ok().as_deref(),
                Some("mine"),
                "{name} {mode:?}: a directory the store does not own was removed"
            );
        }
    }
}

// ---- 6. an index of absurd size --------------------------------------------

/// A sparse `.index` of 1 TiB: opening rebuilds it or refuses with a typed
/// error, quickly, without mapping or allocating terabytes.
#[test]
fn an_index_of_absurd_size_is_rebuilt_or_refused_quickly() {
    for suffix in [".index", ".timeindex"] {
        for mode in MODES {
            let data = tempfile::tempdir().unwrap();
            created(data.path());
            let index = data.path().join("t-0").join(format!("{SEGMENT}{suffix}"));
            let f = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&index).unwrap();
            if f.set_len(1 << 40).is_err() {
                // The file system cannot hold a sparse file that large.
                return;
            }
            drop(f);
            let started = Instant::now();
            let result = exercise(mode, data.path());
            let took = started.elapsed();
            assert!(took < Duration::from_secs(5), "{suffix} {mode:?}: took {took:?}");
            assert!(
                matches!(result, Ok(20)) || matches!(&result, Err(Error::CorruptIndex { path, .. }) if *path == index),
                "{suffix} {mode:?}: {result:?}"
            );
        }
    }
}

// ---- 7. garbage in state, topic metadata and checkpoints -------------------

const GARBAGE: &[u8] = b"\x00\xffgarbage=\n\n-1 x y z\n\x7f";

#[test]
fn garbage_in_the_partition_state_is_corrupt_state() {
    for mode in MODES {
        let data = tempfile::tempdir().unwrap();
        created(data.path());
        let file = data.path().join("t-0").join("topiclog.state");
        std::fs::write(&file, GARBAGE).unwrap();
        let result = exercise(mode, data.path());
        assert!(matches!(&result, Err(Error::CorruptState { path, .. }) if *path == file), "{mode:?}: {result:?}");
        assert_eq!(std::fs::read(&file).unwrap(), GARBAGE, "{mode:?}: the evidence is kept");
    }
}

#[test]
fn garbage_in_topic_metadata_is_corrupt_topic_metadata() {
    for mode in MODES {
        let data = tempfile::tempdir().unwrap();
        created(data.path());
        let file = topic_meta_file(data.path());
        std::fs::write(&file, GARBAGE).unwrap();
        let result = exercise(mode, data.path());
        assert!(
            matches!(&result, Err(Error::CorruptTopicMetadata { path, .. }) if *path == file),
            "{mode:?}: {result:?}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), GARBAGE, "{mode:?}: the evidence is kept");
    }
}

#[test]
fn garbage_in_each_checkpoint_is_corrupt_checkpoint() {
    for name in ["recovery-point-offset-checkpoint", "log-start-offset-checkpoint", "cleaner-offset-checkpoint"] {
        for mode in MODES {
            let data = tempfile::tempdir().unwrap();
            created(data.path());
            let file = data.path().join(name);
            std::fs::write(&file, GARBAGE).unwrap();
            let result = exercise(mode, data.path());
            assert!(
                matches!(&result, Err(Error::CorruptCheckpoint { path, .. }) if *path == file),
                "{name} {mode:?}: {result:?}"
            );
            assert_eq!(std::fs::read(&file).unwrap(), GARBAGE, "{name} {mode:?}: the evidence is kept");
        }
    }
}

// ---- 8. special files and leftovers ------------------------------------------

/// A FIFO planted as a partition's state file or a checkpoint: opening
/// neither blocks on it (no writer will ever come) nor reads it; it is
/// refused with an error naming it and left in place.
#[test]
fn a_fifo_in_place_of_a_state_file_or_checkpoint_is_refused_without_blocking() {
    for relative in ["t-0/topiclog.state", "log-start-offset-checkpoint"] {
        for mode in MODES {
            let data = tempfile::tempdir().unwrap();
            created(data.path());
            let file = data.path().join(relative);
            let _ = std::fs::remove_file(&file);
            let made = std::process::Command::new("mkfifo").arg(&file).status().unwrap();
            assert!(made.success(), "mkfifo {}", file.display());
            let started = Instant::now();
            let result = exercise(mode, data.path());
            assert!(started.elapsed() < Duration::from_secs(10), "{relative} {mode:?}: opening blocked");
            assert!(matches!(&result, Err(Error::Io { path, .. }) if *path == file), "{relative} {mode:?}: {result:?}");
            let kind = std::fs::symlink_metadata(&file).unwrap().file_type();
            assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind), "{relative} {mode:?}: the FIFO is left");
        }
    }
}

/// A temporary file of a metadata write that a crash cut short: a read-only
/// open leaves it (it changes no file), a read-write open removes it; the
/// topic's previous metadata stands either way.
#[test]
fn a_leftover_metadata_temp_file_is_kept_read_only_and_removed_read_write() {
    let data = tempfile::tempdir().unwrap();
    created(data.path());
    let leftover = data.path().join("topiclog-meta").join(".4242-7.tmp");
    std::fs::write(&leftover, b"partitions=9\n").unwrap();
    assert_eq!(exercise(Mode::ReadOnly, data.path()).unwrap(), 20);
    assert!(leftover.exists(), "a read-only open removed {}", leftover.display());
    let written = exercise(Mode::ReadWrite, data.path()).unwrap();
    assert!(written >= 20, "{written}");
    assert!(!leftover.exists(), "a read-write open left {}", leftover.display());
}
