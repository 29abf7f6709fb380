//! Crash test for log compaction (issue 10): a child process cleans a
//! partition of many small segments over and over and is killed with SIGKILL
//! at random moments, inside swaps as well as between them. Every reopen must
//! find each key's latest record at its offset, only records the log really
//! held, in order, and no file left of the interrupted swap.
//!
//! Rounds start in turn from a copy of a never-cleaned partition (the kill
//! lands in the first pass: each segment rewritten alone, shrinking) and from
//! a copy of it cleaned once (the kill lands in the pass that merges the
//! small segments, groups of several replaced by one), or in later passes
//! that rewrite segments as they are.
//!
//! `TOPICLOG_COMPACTION_KILLS=N` sets the number of kills (default 60);
//! `TOPICLOG_COMPACTION_SEED=S` the seed of the kill delays.

mod common;

use common::Rng;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use topiclog::CleanupPolicy;
use topiclog::format::Record;
use topiclog::{CleanerOptions, LogConfig, Partition};

const KEYS: u64 = 200;
const RECORDS: i64 = 3_000;
const CHILD_DIR: &str = "TOPICLOG_COMPACTION_CHILD_DIR";

fn config() -> LogConfig {
    // Small segments: the log spans ~50 of them before cleaning. Small
    // indexes too, as opening scans them (slow in a debug build).
    LogConfig::new().cleanup_policy(CleanupPolicy::Compact).segment_bytes(6 * 1024).segment_index_bytes(16 * 1024)
}

fn again() -> CleanerOptions {
    // From the start each time, so every pass has segments to swap.
    CleanerOptions::new().first_dirty_offset(0)
}

fn key(k: u64) -> Vec<u8> {
    format!("key-{k:03}").into_bytes()
}

/// A value naming its key and offset, so that any record read back can be
/// checked against the one written there.
fn value(k: u64, offset: i64, pad: usize) -> Vec<u8> {
    format!("key-{k:03}@{offset}:{}", "v".repeat(pad)).into_bytes()
}

/// What was written: the record at each offset, and each key's latest offset.
struct Model {
    records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    latest: BTreeMap<Vec<u8>, i64>,
}

/// Writes the never-cleaned partition: batches of 1-8 records over `KEYS`
/// keys, one record in 20 a tombstone.
fn build(dir: &Path) -> Model {
    let p = Partition::open(dir, config()).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut records = Vec::new();
    let mut latest = BTreeMap::new();
    while (records.len() as i64) < RECORDS {
        let n = 1 + rng.below(8) as i64;
        let first = records.len() as i64;
        let mut batch = Vec::new();
        for offset in first..(first + n).min(RECORDS) {
            let k = rng.below(KEYS);
            let v = (rng.below(20) != 0).then(|| value(k, offset, rng.below(120) as usize));
            let mut r = Record::new().key(key(k));
            if let Some(v) = &v {
                r = r.value(v.clone());
            }
            batch.push(r);
            latest.insert(key(k), offset);
            records.push((key(k), v));
        }
        assert_eq!(p.append(&batch).unwrap().first_offset, first);
    }
    assert!(p.segment_count() > 30, "{} segments", p.segment_count());
    p.close().unwrap();
    Model { records, latest }
}

#[test]
#[ignore = "run by killed_cleanings_keep_every_latest_value"]
fn child_cleans_until_killed() {
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let p = Partition::open(&dir, config()).unwrap();
    println!("ready");
    loop {
        p.compact_with(&again()).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// Where a kill landed, judged from the files it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Landing {
    /// The directory is still the copied one: no swap had begun.
    BeforeFirstSwap,
    /// Between swaps (`.deleted` files of earlier swaps may wait for their delay).
    BetweenSwaps,
    /// A cleaned segment was being written, or the state listing its swap (steps 1-2).
    Staging,
    /// `.swap` files: the swap was past its point of no return (steps 3-5).
    MidSwap,
}

fn landing(files: &[String], original: &[String]) -> Landing {
    if files.iter().any(|f| f.ends_with(".swap")) {
        Landing::MidSwap
    } else if files.iter().any(|f| f.ends_with(".cleaned")) {
        Landing::Staging
    } else if files.iter().all(|f| original.contains(f)) {
        Landing::BeforeFirstSwap
    } else {
        Landing::BetweenSwaps
    }
}

/// Reopens `dir` and checks it against the model; `what` names the round.
fn check(dir: &Path, model: &Model, what: &str) {
    let p = Partition::open(dir, config()).unwrap_or_else(|e| panic!("{what}: reopening failed: {e}"));
    let left: Vec<String> =
        names(dir).into_iter().filter(|f| [".cleaned", ".swap", ".deleted"].iter().any(|s| f.ends_with(s))).collect();
    assert!(left.is_empty(), "{what}: left after open: {left:?}");
    assert_eq!(p.log_start_offset(), 0, "{what}");
    assert_eq!(p.log_end_offset(), RECORDS, "{what}: log end");
    let mut previous = -1;
    let mut latest_seen = 0;
    for record in p.read_from(0).unwrap() {
        let record = record.unwrap_or_else(|e| panic!("{what}: reading after {previous}: {e}"));
        let offset = record.offset();
        assert!(offset > previous, "{what}: offset {offset} after {previous}");
        previous = offset;
        let (k, v) = &model.records[offset as usize];
        assert_eq!(record.key(), Some(k.as_slice()), "{what}: key at {offset}");
        assert_eq!(record.value(), v.as_deref(), "{what}: value at {offset}");
        let latest = model.latest[k];
        assert!(offset <= latest, "{what}: {offset} beyond its key's latest {latest}");
        if offset == latest {
            latest_seen += 1;
        }
    }
    assert_eq!(latest_seen, model.latest.len(), "{what}: some key lost its latest record");
    for segment in p.segments().unwrap() {
        let base = segment.base_offset;
        let first = p.read_from(base).unwrap().next();
        if let Some(first) = first {
            let first = first.unwrap_or_else(|e| panic!("{what}: reading from segment {base}: {e}"));
            assert!(first.offset() >= base, "{what}: reading from {base} gave {}", first.offset());
        }
    }
    p.close().unwrap();
}

fn kills() -> usize {
    std::env::var("TOPICLOG_COMPACTION_KILLS").ok().map_or(60, |n| n.parse().expect("TOPICLOG_COMPACTION_KILLS"))
}

/// Where a round starts from, and for how long after the child opened the
/// partition its kill may come.
struct Start {
    name: &'static str,
    dir: PathBuf,
    files: Vec<String>,
    window: Duration,
}

#[test]
fn killed_cleanings_keep_every_latest_value() {
    let scratch = tempfile::tempdir().unwrap();
    let never = scratch.path().join("never-cleaned");
    let model = build(&never);

    // The same log cleaned once, closed: its next pass merges the small
    // segments into a few. The two passes' times set the kill windows,
    // with room for a slower child (a debug build on a busy machine).
    let once = scratch.path().join("cleaned-once");
    copy_dir(&never, &once);
    let p = Partition::open(&once, config()).unwrap();
    let started = Instant::now();
    let first = p.compact_with(&again()).unwrap();
    let first_pass = started.elapsed();
    p.close().unwrap();
    check(&once, &model, "after one cleaning");
    let merge = scratch.path().join("merged");
    copy_dir(&once, &merge);
    let p = Partition::open(&merge, config()).unwrap();
    let started = Instant::now();
    let second = p.compact_with(&again()).unwrap();
    let second_pass = started.elapsed();
    p.close().unwrap();
    check(&merge, &model, "after two cleanings");
    assert!(first.segments_replaced > 30 && first.segments_written == first.segments_replaced, "{first:?}");
    assert!(second.segments_written < second.segments_replaced / 4, "{second:?}");
    let window = |pass: Duration| (pass * 2).clamp(Duration::from_millis(30), Duration::from_millis(400));
    let starts = [
        Start { name: "first pass", files: names(&never), dir: never, window: window(first_pass) },
        Start { name: "merging pass", files: names(&once), dir: once, window: window(second_pass) },
    ];

    let seed = std::env::var("TOPICLOG_COMPACTION_SEED").ok().map_or(0x2545_f491_4f6c_dd1d, |s| s.parse().unwrap());
    let mut rng = Rng(seed);
    let dir = scratch.path().join("log");
    let mut landings: BTreeMap<(&str, Landing), usize> = BTreeMap::new();
    for round in 0..kills() {
        let start = &starts[round % starts.len()];
        copy_dir(&start.dir, &dir);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_cleans_until_killed", "--ignored", "--test-threads=1", "--nocapture"])
            .env(CHILD_DIR, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(
            lines.any(|l| l.unwrap().contains("ready")),
            "round {round}: the child died before cleaning: {:?}",
            child.wait()
        );
        let delay = Duration::from_micros(rng.below(start.window.as_micros() as u64 + 1));
        std::thread::sleep(delay);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the child stopped by itself: {status}");

        let files = names(&dir);
        let landed = landing(&files, &start.files);
        *landings.entry((start.name, landed)).or_default() += 1;
        let what =
            format!("round {round} (seed {seed}, {} killed after {delay:?}, {landed:?}, files {files:?})", start.name);
        check(&dir, &model, &what);
    }
    println!(
        "{} kills (windows {:?} and {:?} after the child opened; passes took {first_pass:?} and {second_pass:?}):",
        kills(),
        starts[0].window,
        starts[1].window
    );
    for ((name, landed), n) in &landings {
        println!("  {name}: {landed:?} {n}");
    }
    let mid_swap: usize = landings.iter().filter(|((_, l), _)| *l == Landing::MidSwap).map(|(_, n)| n).sum();
    assert!(mid_swap > 0 || kills() < 20, "no kill landed mid-swap");
}
