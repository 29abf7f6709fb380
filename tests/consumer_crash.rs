//! Committed offsets survive a SIGKILL of the process right after
//! `commit_sync` returned: a child consumes and commits in a loop, writing
//! each committed position to a file only after the commit returned; the
//! parent kills it at arbitrary moments and reopens the store.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use topiclog::{AutoOffsetReset, ConsumerConfig, Record, Store, StoreConfig, TopicConfig};

const RECORDS: i64 = 200_000;

#[test]
#[ignore = "run by committed_offsets_survive_a_kill"]
fn child_consumes_and_commits_until_killed() {
    let dir = std::path::PathBuf::from(std::env::var("TOPICLOG_CHILD_DIR").unwrap());
    let store = Store::open(dir.join("data"), StoreConfig::new().maintenance(false)).unwrap();
    let config = ConsumerConfig::new()
        .group_id("g")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_poll_records(97);
    let mut consumer = store.consumer(config).unwrap();
    consumer.assign(&[("t", 0)]).unwrap();
    let mut reported = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("committed")).unwrap();
    loop {
        let records = consumer.poll(Duration::ZERO).unwrap();
        if records.is_empty() {
            std::thread::sleep(Duration::from_secs(60));
        }
        consumer.commit_sync().unwrap();
        // Only after the commit returned: this position must survive.
        writeln!(reported, "{}", consumer.position("t", 0).unwrap()).unwrap();
        reported.sync_all().unwrap();
    }
}

fn last_reported(dir: &Path) -> i64 {
    std::fs::read_to_string(dir.join("committed"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn committed_offsets_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path().join("data"), StoreConfig::new().maintenance(false)).unwrap();
        let t = store.create_topic("t", 1, TopicConfig::new()).unwrap();
        let records: Vec<Record> = (0..RECORDS).map(|i| Record::new().value(i.to_string())).collect();
        for chunk in records.chunks(10_000) {
            t.send_batch(chunk.to_vec()).unwrap();
        }
        store.close().unwrap();
    }
    let mut previous = 0;
    for round in 0..5u64 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_consumes_and_commits_until_killed", "--ignored", "--test-threads=1"])
            .env("TOPICLOG_CHILD_DIR", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment each round; the timing is arbitrary, not asserted.
        std::thread::sleep(Duration::from_millis(150 + 97 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        let reported = last_reported(dir.path());
        let store = Store::open(dir.path().join("data"), StoreConfig::new().maintenance(false)).unwrap();
        let committed = store.committed_offset("g", "t", 0).unwrap().unwrap_or(0);
        assert!(committed >= reported, "round {round}: committed {committed} lost the reported {reported}");
        assert!(committed >= previous, "round {round}: commits never go back");
        previous = committed;
        store.close().unwrap();
    }
    assert!(last_reported(dir.path()) > 0, "the child committed at least once");
}
