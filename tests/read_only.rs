//! `Store::open_read_only`: an operator's look at a data directory changes
//! no file — no name, size, byte or modification time — even after a crash
//! left the directory to recover, and every write is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use topiclog::{Error, Record, Store, StoreConfig, TopicConfig};

/// Every file under `dir`: its bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
            }
            let bytes = if meta.is_file() { std::fs::read(&path).unwrap() } else { Vec::new() };
            out.insert(path, (bytes, meta.modified().unwrap()));
        }
    }
    out
}

fn quiet() -> StoreConfig {
    StoreConfig::new().maintenance(false)
}

fn filled_store(dir: &Path) -> Store {
    let store = Store::open(dir, quiet()).unwrap();
    let t = store.create_topic("orders", 2, TopicConfig::new().segment_bytes(1_000)).unwrap();
    for i in 0..50 {
        t.send(Record::new().key(format!("k{i}")).value(format!("value {i}"))).unwrap();
    }
    store.commit_offsets("billing", &[("orders".to_string(), 0, 3)]).unwrap();
    store
}

#[test]
fn reading_changes_no_file_and_writes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path()).close().unwrap();
    let before = snapshot(dir.path());

    let store = Store::open_read_only(dir.path(), quiet()).unwrap();
    assert!(store.is_read_only());
    let t = store.existing_topic("orders").unwrap();
    let total: i64 = t.partitions().iter().map(|p| p.log_end_offset()).sum();
    assert_eq!(total, 50);
    let mut read = 0;
    for p in t.partitions() {
        for r in p.read_from(p.log_start_offset()).unwrap() {
            r.unwrap();
            read += 1;
        }
    }
    assert_eq!(read, 50);
    assert_eq!(store.committed_offset("billing", "orders", 0).unwrap(), Some(3));
    assert_eq!(store.consumer_groups().unwrap(), ["billing"]);
    assert!(!store.describe_consumer_group("billing").unwrap().is_empty());

    let refused = |result: topiclog::Result<()>, what: &str| {
        assert!(matches!(result, Err(Error::ReadOnly { .. })), "{what}: {result:?}");
    };
    refused(t.send(Record::new().value("no")).map(drop), "send");
    refused(t.partition(0).unwrap().flush(), "flush");
    refused(t.partition(0).unwrap().delete_records(1).map(drop), "delete_records");
    refused(t.partition(0).unwrap().truncate_to(1), "truncate_to");
    refused(t.partition(0).unwrap().roll(), "roll");
    refused(t.partition(0).unwrap().enforce_retention().map(drop), "retention");
    refused(store.create_topic("new", 1, TopicConfig::new()).map(drop), "create_topic");
    refused(store.delete_topic("orders"), "delete_topic");
    refused(store.add_partitions("orders", 3), "add_partitions");
    refused(store.set_topic_config("orders", "retention.ms", "1000"), "set_topic_config");
    refused(store.commit_offsets("billing", &[("orders".to_string(), 0, 4)]), "commit_offsets");
    assert!(matches!(store.topic("missing"), Err(Error::UnknownTopic { .. })), "no auto-creation");
    assert!(store.run_maintenance().errors.is_empty());
    store.close().unwrap();

    assert_eq!(snapshot(dir.path()), before, "no file was created, changed or removed");
    // The directory opens read-write as before.
    let store = Store::open(dir.path(), quiet()).unwrap();
    assert!(store.existing_topic("orders").unwrap().partition(0).unwrap().log_end_offset() > 0);
}

#[test]
fn a_crashed_directory_is_read_as_recovery_would_keep_it_without_being_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path());
    let p = store.existing_topic("orders").unwrap().partition(1).unwrap();
    let end = p.log_end_offset();
    // A copy taken while the store is open is what a crash leaves: no clean
    // shutdown recorded. Then a torn write at the end of the active segment.
    copy_dir(dir.path(), crashed.path());
    drop(p);
    store.close().unwrap();
    let part = crashed.path().join("orders-1");
    let active = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max()
        .unwrap();
    let mut bytes = std::fs::read(&active).unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 200, 1, 2, 3]);
    std::fs::write(&active, bytes).unwrap();
    let before = snapshot(crashed.path());

    let store = Store::open_read_only(crashed.path(), quiet()).unwrap();
    let p = store.existing_topic("orders").unwrap().partition(1).unwrap();
    assert_eq!(p.log_end_offset(), end, "the torn batch is not part of the log");
    let read = p.read_from(p.log_start_offset()).unwrap().count() as i64;
    assert_eq!(read, end - p.log_start_offset());
    drop(p);
    store.close().unwrap();
    assert_eq!(snapshot(crashed.path()), before, "recovery cut nothing and wrote no state");

    // A read-write open then repairs it.
    let store = Store::open(crashed.path(), quiet()).unwrap();
    let p = store.existing_topic("orders").unwrap().partition(1).unwrap();
    assert_eq!(p.log_end_offset(), end);
    assert!(std::fs::metadata(&active).unwrap().len() < before[&active].0.len() as u64, "the torn tail is cut");
}

#[test]
fn read_only_and_read_write_opens_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path());
    assert!(matches!(Store::open_read_only(dir.path(), quiet()), Err(Error::Locked { .. })));
    store.close().unwrap();
    let reader = Store::open_read_only(dir.path(), quiet()).unwrap();
    assert!(matches!(Store::open(dir.path(), quiet()), Err(Error::Locked { .. })));
    reader.close().unwrap();
    Store::open(dir.path(), quiet()).unwrap().close().unwrap();
}

#[test]
fn a_missing_directory_is_an_error_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let err = Store::open_read_only(&missing, quiet()).unwrap_err();
    assert!(matches!(&err, Error::Io { path, .. } if *path == missing), "{err}");
    assert!(!missing.exists());
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A record's offset, key and value.
type Read = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// The records from the log start on, or the first read error.
fn records_of(p: &topiclog::Partition) -> Result<Vec<Read>, Error> {
    p.read_from(p.log_start_offset())?
        .map(|r| r.map(|r| (r.offset(), r.key().map(<[u8]>::to_vec), r.value().map(<[u8]>::to_vec))))
        .collect()
}

/// Found by the store kill test (tests/store_crash.rs): a kill inside a
/// cleaning's swap, after the cleaned segment was renamed `.swap` and the
/// old ones `.deleted`, left a directory whose read-only view skipped the
/// group — silently when it was the first one (the log start moved up over
/// every key's latest record in it). The read-only view is now the one the
/// next read-write open completes the swap to.
#[test]
fn an_interrupted_swap_is_read_as_the_read_write_open_completes_it() {
    use topiclog::{CleanupPolicy, LogConfig, Partition, PartitionOptions};
    let config = || LogConfig::new().cleanup_policy(CleanupPolicy::Compact).segment_bytes(1024);
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("log");
    let p = Partition::open(&dir, config()).unwrap();
    for i in 0..200 {
        p.append(&[Record::new().key(format!("k{}", i % 7)).value(format!("v{i}"))]).unwrap();
    }
    p.roll().unwrap();
    let cleaned = p.compact().unwrap();
    assert!(cleaned.segments_replaced > 1, "{cleaned:?}");
    let want = records_of(&p).unwrap();
    p.close().unwrap();
    // The first step of the swap's end game: the cleaned segment is `.swap`,
    // the group it replaces gone (renamed `.deleted`, then removed).
    for kind in ["log", "index", "timeindex"] {
        let name = format!("{:020}.{kind}", 0);
        std::fs::rename(dir.join(&name), dir.join(format!("{name}.swap"))).unwrap();
    }
    let before = snapshot(&dir);
    let options = PartitionOptions { config: config(), read_only: true, ..PartitionOptions::default() };
    let read_only = Partition::open_with(&dir, options).unwrap();
    assert_eq!(read_only.log_start_offset(), 0);
    assert_eq!(records_of(&read_only).unwrap(), want, "read-only view of the interrupted swap");
    drop(read_only);
    assert_eq!(snapshot(&dir), before, "a read-only open renames nothing");
    let p = Partition::open(&dir, config()).unwrap();
    assert_eq!(records_of(&p).unwrap(), want, "the read-write open completes the swap");
}

#[cfg(unix)]
#[test]
fn a_lock_file_that_is_a_symbolic_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    filled_store(dir.path()).close().unwrap();
    let lock = dir.path().join(".lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::write(outside.path().join("elsewhere"), b"").unwrap();
    std::os::unix::fs::symlink(outside.path().join("elsewhere"), &lock).unwrap();
    let err = Store::open_read_only(dir.path(), quiet()).unwrap_err();
    assert!(matches!(&err, Error::Symlink { path } if *path == lock), "{err}");
}
