//! Handles and metadata: a partition or store directory has one owner at a
//! time (within and across processes, for as long as any handle lives, and
//! not leaked into child processes); concurrent metadata changes all persist;
//! long topic names fit the file system; metadata files are checked on load.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use topiclog::Partition;
use topiclog::StoreConfig;
use topiclog::{Error, LogConfig, Record, Store, TopicConfig};

fn quiet() -> StoreConfig {
    StoreConfig::new().maintenance(false)
}

fn values(p: &Partition) -> Vec<String> {
    p.read_from(p.log_start_offset())
        .unwrap()
        .map(|r| String::from_utf8(r.unwrap().value().unwrap().to_vec()).unwrap())
        .collect()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

/// Runs the ignored test `name` of this test binary in a child process.
fn child(name: &str, dir: &Path) -> std::process::ExitStatus {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"])
        .env("TOPICLOG_CHILD_DIR", dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
}

// Defect 8: one partition directory, one owner.

#[test]
fn a_partition_directory_opened_twice_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = Partition::open(dir.path(), LogConfig::new()).unwrap();
    first.append(&[Record::new().value("acknowledged")]).unwrap();
    let second = Partition::open(dir.path(), LogConfig::new());
    assert!(matches!(second, Err(Error::Locked { .. })), "{second:?}");

    // A clone keeps the directory locked after the original is gone.
    let clone = first.clone();
    drop(first);
    assert!(matches!(Partition::open(dir.path(), LogConfig::new()), Err(Error::Locked { .. })));
    assert_eq!(values(&clone), vec!["acknowledged".to_string()], "nothing written over");

    // Closing releases it (a closed handle cannot write); so does dropping the last handle.
    clone.close().unwrap();
    let reopened = Partition::open(dir.path(), LogConfig::new()).unwrap();
    assert!(matches!(clone.append(&[Record::new().value("late")]), Err(Error::Closed { .. })));
    assert_eq!(reopened.append(&[Record::new().value("next")]).unwrap().first_offset, 1);
    drop(reopened);
    let again = Partition::open(dir.path(), LogConfig::new()).unwrap();
    assert_eq!(values(&again), vec!["acknowledged".to_string(), "next".to_string()]);
}

#[test]
#[ignore = "run by a_second_process_cannot_open_a_partition_in_use"]
fn child_expects_partition_locked() {
    let dir = std::env::var("TOPICLOG_CHILD_DIR").unwrap();
    let opened = Partition::open(&dir, LogConfig::new());
    assert!(matches!(opened, Err(Error::Locked { .. })), "{opened:?}");
}

#[test]
fn a_second_process_cannot_open_a_partition_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::new()).unwrap();
    p.append(&[Record::new().value("mine")]).unwrap();
    assert!(child("child_expects_partition_locked", dir.path()).success(), "the child saw the partition locked");
    assert_eq!(values(&p), vec!["mine".to_string()]);
}

// Defect 9: handles keep the store's directory locked; dropping the store flushes.

#[test]
fn a_dropped_store_stays_locked_while_a_topic_handle_lives() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quiet()).unwrap();
    let topic = store.create_topic("orders", 1, TopicConfig::new()).unwrap();
    assert_eq!(topic.send(Record::new().value("a")).unwrap().offset, 0);
    drop(store);
    let second = Store::open(dir.path(), quiet());
    assert!(matches!(&second, Err(Error::Locked { path }) if path == &dir.path().join(".lock")), "{second:?}");
    assert_eq!(topic.send(Record::new().value("b")).unwrap().offset, 1);
    drop(topic);
    let store = Store::open(dir.path(), quiet()).unwrap();
    let topic = store.existing_topic("orders").unwrap();
    assert_eq!(topic.send(Record::new().value("c")).unwrap().offset, 2, "no offset assigned twice");
    assert_eq!(values(&topic.partition(0).unwrap()), vec!["a", "b", "c"]);
}

#[test]
fn a_dropped_store_stays_locked_while_a_partition_handle_lives() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quiet()).unwrap();
    let partition = store.create_topic("orders", 2, TopicConfig::new()).unwrap().partition(1).unwrap();
    drop(store);
    let second = Store::open(dir.path(), quiet());
    assert!(matches!(&second, Err(Error::Locked { path }) if path == &dir.path().join(".lock")), "{second:?}");
    drop(partition);
    Store::open(dir.path(), quiet()).unwrap().close().unwrap();
}

#[test]
fn dropping_a_store_without_close_flushes_its_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quiet()).unwrap();
    let topic = store.create_topic("orders", 1, TopicConfig::new()).unwrap();
    for i in 0..3 {
        topic.send(Record::new().value(format!("v{i}"))).unwrap();
    }
    let p = topic.partition(0).unwrap();
    assert_eq!(p.recovery_point(), 0, "nothing flushed yet");
    drop(store);
    assert_eq!(p.recovery_point(), 3, "flushed on drop");
}

#[test]
fn a_closed_store_reopens_while_old_handles_live() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quiet()).unwrap();
    let topic = store.create_topic("orders", 1, TopicConfig::new()).unwrap();
    topic.send(Record::new().value("a")).unwrap();
    store.close().unwrap();
    let store = Store::open(dir.path(), quiet()).unwrap();
    assert!(matches!(topic.send(Record::new().value("stale")), Err(Error::Closed { .. })));
    assert_eq!(store.existing_topic("orders").unwrap().send(Record::new().value("b")).unwrap().offset, 1);
}

// Defect 10: the lock is not inherited by child processes.

#[test]
fn a_store_reopens_at_once_while_another_thread_spawns_processes() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path(), quiet()).unwrap().create_topic("t", 1, TopicConfig::new()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let spawner = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut spawned = 0;
            while !done.load(Ordering::Acquire) && spawned < 2000 {
                std::process::Command::new("true").status().unwrap();
                spawned += 1;
            }
            spawned
        })
    };
    let mut failures = Vec::new();
    for i in 0..100 {
        match Store::open(dir.path(), quiet()) {
            Ok(store) => store.close().unwrap(),
            Err(e) => failures.push(format!("reopen {i}: {e}")),
        }
    }
    done.store(true, Ordering::Release);
    let spawned = spawner.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} of 100 reopens failed ({spawned} processes spawned): {failures:?}",
        failures.len()
    );
}

// Defect 11: concurrent metadata changes.

#[test]
fn concurrent_config_changes_of_one_topic_all_persist() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), quiet()).unwrap());
    let rounds = 20;
    for round in 0..rounds {
        let name = format!("t{round}");
        store.create_topic(&name, 1, TopicConfig::new()).unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = [("retention.ms", 1000 + round), ("retention.bytes", 2000 + round)]
            .into_iter()
            .map(|(key, value)| {
                let (store, barrier, name) = (store.clone(), barrier.clone(), name.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.set_topic_config(&name, key, &value.to_string())
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        let overrides = store.existing_topic(&name).unwrap().overrides();
        assert_eq!(overrides.get("retention.ms"), Some(&(1000 + round).to_string()), "round {round}");
        assert_eq!(overrides.get("retention.bytes"), Some(&(2000 + round).to_string()), "round {round}");
    }
    Arc::into_inner(store).unwrap().close().unwrap();
    let store = Store::open(dir.path(), quiet()).unwrap();
    for round in 0..rounds {
        let config = store.existing_topic(&format!("t{round}")).unwrap().config();
        assert_eq!((config.retention_ms, config.retention_bytes), (1000 + round, 2000 + round), "round {round}");
    }
}

#[test]
fn add_partitions_racing_config_changes_keeps_both() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ["retention.ms", "retention.bytes", "segment.ms", "flush.messages", "flush.ms"];
    let rounds = 10;
    {
        let store = Arc::new(Store::open(dir.path(), quiet()).unwrap());
        for round in 0..rounds {
            let name = format!("t{round}");
            store.create_topic(&name, 2, TopicConfig::new()).unwrap();
            let barrier = Arc::new(Barrier::new(2));
            let grower = {
                let (store, barrier, name) = (store.clone(), barrier.clone(), name.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.add_partitions(&name, 6)
                })
            };
            let setter = {
                let (store, barrier, name) = (store.clone(), barrier.clone(), name.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    keys.iter().try_for_each(|k| store.set_topic_config(&name, k, "123456"))
                })
            };
            grower.join().unwrap().unwrap();
            setter.join().unwrap().unwrap();
        }
        Arc::into_inner(store).unwrap().close().unwrap();
    }
    let store = Store::open(dir.path(), quiet()).unwrap();
    for round in 0..rounds {
        let topic = store.existing_topic(&format!("t{round}")).unwrap();
        assert_eq!(topic.partition_count(), 6, "round {round}");
        let overrides = topic.overrides();
        for k in keys {
            assert_eq!(overrides.get(k).map(String::as_str), Some("123456"), "round {round}, key {k}");
        }
    }
}

// Defect 13: names that fit, names that are valid, counts that are sane.

#[test]
fn topics_with_names_of_246_to_249_characters_can_be_created_written_reopened_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (246..=249).map(|n| format!("{n}{}", "x".repeat(n - 3))).collect();
    {
        let store = Store::open(dir.path(), quiet()).unwrap();
        for name in &names {
            let topic = store.create_topic(name, 3, TopicConfig::new()).unwrap();
            store.add_partitions(name, 12).unwrap();
            store.set_topic_config(name, "retention.ms", "60000").unwrap();
            topic.send_to(11, Record::new().value(name.len().to_string())).unwrap();
        }
        store.close().unwrap();
    }
    let store = Store::open(dir.path(), quiet()).unwrap();
    for name in &names {
        let topic = store.existing_topic(name).unwrap();
        assert_eq!(topic.partition_count(), 12);
        assert_eq!(topic.config().retention_ms, 60000);
        assert_eq!(values(&topic.partition(11).unwrap()), vec![name.len().to_string()]);
        store.delete_topic(name).unwrap();
    }
    assert!(store.topics().is_empty());
    assert_eq!(store.run_maintenance().removed_topic_dirs, 4 * 12);
    store.close().unwrap();
    assert_eq!(
        names_in(dir.path()),
        vec![".lock", "log-start-offset-checkpoint", "recovery-point-offset-checkpoint", "topiclog-meta"]
    );
    assert!(names_in(&dir.path().join("topiclog-meta")).is_empty());
    assert!(Store::open(dir.path(), quiet()).unwrap().topics().is_empty());
}

#[test]
fn metadata_files_with_invalid_topic_names_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("topiclog-meta");
    std::fs::create_dir_all(&meta).unwrap();
    let bad = ["..topic", ".topic", "a b.topic", "a\\b.topic"];
    for name in bad {
        std::fs::write(meta.join(name), "version=0\npartitions=2\ndeleting=false\n").unwrap();
    }
    std::fs::write(meta.join("good.topic"), "version=0\npartitions=2\ndeleting=false\n").unwrap();
    let store = Store::open(dir.path(), quiet()).unwrap();
    assert_eq!(store.topics(), vec!["good".to_string()]);
    store.close().unwrap();
    let dirs: Vec<String> = names_in(dir.path()).into_iter().filter(|n| dir.path().join(n).is_dir()).collect();
    assert_eq!(dirs, vec!["good-0", "good-1", "topiclog-meta"]);
    let mut left: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
    left.push("good.topic".into());
    left.sort();
    assert_eq!(names_in(&meta), left, "the invalid files are left where they are");
}

#[test]
fn an_absurd_partition_count_is_rejected_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("topiclog-meta");
    std::fs::create_dir_all(&meta).unwrap();
    for count in ["4294967295", "100001"] {
        std::fs::write(meta.join("big.topic"), format!("version=0\npartitions={count}\ndeleting=false\n")).unwrap();
        let opened = Store::open(dir.path(), quiet());
        assert!(matches!(opened, Err(Error::CorruptTopicMetadata { .. })), "{count}: {opened:?}");
        assert!(names_in(dir.path()).iter().all(|n| !n.starts_with("big")), "{count}: no directory created");
    }
    std::fs::remove_file(meta.join("big.topic")).unwrap();
    // A partition directory without metadata past the cap is not adopted either.
    for n in ["100000", "4294967295"] {
        let stray = dir.path().join(format!("stray-{n}"));
        std::fs::create_dir(&stray).unwrap();
        let opened = Store::open(dir.path(), quiet());
        assert!(matches!(opened, Err(Error::InvalidPartitionCount { .. })), "{n}: {opened:?}");
        assert!(!meta.join("stray.topic").exists(), "{n}: nothing adopted");
        std::fs::remove_dir(&stray).unwrap();
    }

    let store = Store::open(dir.path(), quiet()).unwrap();
    let created = store.create_topic("huge", topiclog::Store::MAX_PARTITIONS + 1, TopicConfig::new());
    assert!(matches!(created, Err(Error::InvalidPartitionCount { current: 0, .. })), "{created:?}");
    assert!(store.topics().is_empty());
    store.create_topic("t", 1, TopicConfig::new()).unwrap();
    let grown = store.add_partitions("t", topiclog::Store::MAX_PARTITIONS + 1);
    assert!(matches!(grown, Err(Error::InvalidPartitionCount { current: 1, .. })), "{grown:?}");
    assert_eq!(store.existing_topic("t").unwrap().partition_count(), 1);
}
