//! Process kills of a whole store (issue 14): a child process drives a
//! `Store` — a delete-policy topic with small segments, `retention.bytes` and
//! delete-records, a `flush.messages=1` topic, a compacted topic cleaned now
//! and then, a `Producer` sending keyed and keyless records, a `Consumer` in
//! a group committing with `commit_sync`, maintenance passes run by hand —
//! and reports over a pipe every record an append acknowledged, every flush,
//! every log start it set or may set, and every commit. The parent SIGKILLs
//! it at a random moment, opens the store in-process and checks:
//!
//! - the store opens, and every partition reads from its log start to its
//!   log end without an error;
//! - every acknowledged record is there at its offset with its key and value,
//!   unless it is legitimately gone: below the log start in a delete-policy
//!   topic, or superseded by a later record of its key in a compacted one
//!   (whose latest acknowledged record, or a later one of the key, is there);
//! - offsets are dense from the log start in delete-policy topics, and the
//!   log start is no lower than one reported and no higher than one the child
//!   asked for (retention's bound being the log end when it ran);
//! - the group's committed offsets are at least the last reported ones.
//!
//! Then the next child continues on the same directory, so state accumulates
//! across kills (several directories in turn keep each one small).
//!
//! `TOPICLOG_STORE_KILLS=N` sets the number of kills (default 200; e.g. 5000
//! for a long run); `TOPICLOG_STORE_KILL_SEED=S` the seed, printed in every
//! failure so that a round reproduces.

mod common;

use common::Rng;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use topiclog::{
    AutoOffsetReset, ConsumerConfig, Producer, ProducerConfig, Record, Store, StoreConfig, StringSerde, Topic,
    TopicConfig,
};

const CHILD_DIR: &str = "TOPICLOG_STORE_CHILD_DIR";
const CHILD_SEED: &str = "TOPICLOG_STORE_CHILD_SEED";
const CHILD_ROUND: &str = "TOPICLOG_STORE_CHILD_ROUND";

/// Delete policy, small segments, `retention.bytes`; delete-records on partition 0.
const EVENTS: &str = "events";
const EVENTS_PARTITIONS: u32 = 3;
/// Delete policy, `flush.messages=1`.
const AUDIT: &str = "audit";
/// Compacted, keyed records only.
const STATE: &str = "state";
const STATE_PARTITIONS: u32 = 2;
const STATE_KEYS: u64 = 40;
const GROUP: &str = "g";

fn store_config() -> StoreConfig {
    // Small segments and indexes for every topic, `__consumer_offsets`
    // included (so that it rolls and gets cleaned); deleted files go at once.
    StoreConfig::new()
        .maintenance(false)
        .set("log.segment.bytes", "8192")
        .unwrap()
        .set("log.index.size.max.bytes", "4096")
        .unwrap()
        .set("log.segment.delete.delay.ms", "0")
        .unwrap()
        .set("log.cleaner.min.cleanable.ratio", "0.1")
        .unwrap()
}

fn topic(store: &Store, name: &str, partitions: u32, config: TopicConfig) -> Topic {
    match store.existing_topic(name) {
        Ok(t) => t,
        Err(_) => store.create_topic(name, partitions, config).unwrap(),
    }
}

/// One line to the parent, written whole (a pipe write below `PIPE_BUF` is
/// atomic, and the parent drops a last line without its newline).
fn report(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

#[test]
#[ignore = "run by killed_stores_keep_every_acknowledged_record_and_commit"]
fn child_drives_a_store_until_killed() {
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let mut rng = Rng(std::env::var(CHILD_SEED).unwrap().parse().unwrap());
    let round: u64 = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
    let store = Store::open(&dir, store_config()).unwrap();
    let small = || TopicConfig::new().set("segment.bytes", "2048").unwrap();
    let events = topic(&store, EVENTS, EVENTS_PARTITIONS, small().retention_bytes(12 * 1024));
    let audit = topic(&store, AUDIT, 1, small().flush_messages(1).retention_bytes(8 * 1024));
    let state = topic(
        &store,
        STATE,
        STATE_PARTITIONS,
        small().set("cleanup.policy", "compact").unwrap().set("min.cleanable.dirty.ratio", "0.1").unwrap(),
    );
    let linger = ProducerConfig::new().linger_ms(1000);
    let events_producer: Producer<str, str> = Producer::new(events.clone(), linger, StringSerde, StringSerde);
    let state_producer: Producer<str, str> = Producer::new(state.clone(), linger, StringSerde, StringSerde);
    let mut consumer = store
        .consumer(
            ConsumerConfig::new()
                .group_id(GROUP)
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .enable_auto_commit(false)
                .max_poll_records(1 + rng.below(50) as usize),
        )
        .unwrap();
    consumer.subscribe(&[EVENTS, AUDIT]).unwrap();
    // `__consumer_offsets` (there after the first commit) with small
    // segments too, so that it rolls and its cleanings land under kills.
    let offsets_topic = || store.existing_topic(topiclog::OFFSETS_TOPIC).ok();
    if offsets_topic().is_some_and(|t| t.config().segment_bytes != 8192) {
        store.set_topic_config(topiclog::OFFSETS_TOPIC, "segment.bytes", "8192").unwrap();
    }
    report(format_args!("ready"));

    let mut seq = 0u64;
    let mut value = |rng: &mut Rng| {
        seq += 1;
        format!("v{round}-{seq}-{}", "x".repeat(rng.below(150) as usize))
    };
    // Log starts: "S" before an operation that may move one (with the
    // highest it may move to), "L" after it (the start it set).
    let starts = |topic: &Topic, line: char| {
        for p in topic.partitions() {
            let n = partition_number(&p.dir().to_string_lossy());
            let at = if line == 'S' { p.log_end_offset() } else { p.log_start_offset() };
            report(format_args!("{line} {} {n} {at}", topic.name()));
        }
    };
    loop {
        match rng.below(100) {
            0..30 => {
                let mut sent = Vec::new();
                for _ in 0..1 + rng.below(12) {
                    let key = (rng.below(3) != 0).then(|| format!("e{}", rng.below(20)));
                    let v = value(&mut rng);
                    let handle = events_producer.send_async(key.as_deref(), Some(&v)).unwrap();
                    sent.push((handle, key, v));
                }
                events_producer.flush().unwrap();
                for (handle, key, v) in sent {
                    let at = handle.wait().unwrap();
                    let key = key.as_deref().unwrap_or("-");
                    report(format_args!("A {EVENTS} {} {} {key} {v}", at.partition, at.offset));
                }
            }
            30..40 => {
                // flush.messages=1: durable on the machine when this returns.
                let v = value(&mut rng);
                let at = audit.send_to(0, Record::new().value(v.clone())).unwrap();
                report(format_args!("A {AUDIT} 0 {} - {v}", at.offset));
                let p = audit.partition(0).unwrap();
                report(format_args!("F {AUDIT} 0 {}", p.recovery_point()));
            }
            40..55 => {
                let mut sent = Vec::new();
                for _ in 0..1 + rng.below(10) {
                    let key = format!("s{}", rng.below(STATE_KEYS));
                    // One in ten a tombstone.
                    let v = (rng.below(10) != 0).then(|| value(&mut rng));
                    let handle = state_producer.send_async(Some(&key), v.as_deref()).unwrap();
                    sent.push((handle, key, v));
                }
                state_producer.flush().unwrap();
                for (handle, key, v) in sent {
                    let at = handle.wait().unwrap();
                    let v = v.as_deref().unwrap_or("-");
                    report(format_args!("A {STATE} {} {} {key} {v}", at.partition, at.offset));
                }
            }
            55..70 => {
                consumer.poll(Duration::ZERO).unwrap();
                consumer.commit_sync().unwrap();
                for (t, p) in consumer.assignment() {
                    if let Some(committed) = consumer.committed(&t, p).unwrap() {
                        report(format_args!("C {t} {p} {committed}"));
                    }
                }
            }
            70..76 => {
                let n = rng.below(u64::from(EVENTS_PARTITIONS)) as u32;
                let p = events.partition(n).unwrap();
                p.flush().unwrap();
                report(format_args!("F {EVENTS} {n} {}", p.recovery_point()));
            }
            76..81 => {
                let p = events.partition(0).unwrap();
                let (start, end) = (p.log_start_offset(), p.log_end_offset());
                let target = start + rng.below((end - start + 1) as u64) as i64;
                report(format_args!("S {EVENTS} 0 {target}"));
                let now = p.delete_records(target).unwrap();
                report(format_args!("L {EVENTS} 0 {now}"));
            }
            81..86 => {
                let t = if rng.below(2) == 0 { &events } else { &audit };
                starts(t, 'S');
                for p in t.partitions() {
                    p.enforce_retention().unwrap();
                }
                starts(t, 'L');
            }
            86..91 => {
                let p = match offsets_topic() {
                    Some(offsets) if rng.below(4) == 0 => offsets.partition(0).unwrap(),
                    _ => state.partition(rng.below(u64::from(STATE_PARTITIONS)) as u32).unwrap(),
                };
                if rng.below(2) == 0 {
                    p.roll().unwrap();
                }
                p.compact().unwrap();
            }
            91..95 => {
                starts(&events, 'S');
                starts(&audit, 'S');
                let pass = store.run_maintenance();
                assert!(pass.errors.is_empty(), "maintenance: {:?}", pass.errors);
                starts(&events, 'L');
                starts(&audit, 'L');
            }
            _ => {
                let offsets = offsets_topic().unwrap_or_else(|| state.clone());
                let t = [&events, &audit, &state, &offsets][rng.below(4) as usize];
                let p = &t.partitions()[rng.below(u64::from(t.partition_count())) as usize];
                p.roll().unwrap();
            }
        }
    }
}

fn partition_number(dir: &str) -> u32 {
    dir.rsplit('-').next().unwrap().parse().unwrap()
}

/// A record's key and value (`None`: null).
type KeyValue = (Option<String>, Option<String>);

/// What the children reported on one directory, over all rounds.
#[derive(Default)]
struct Ledger {
    /// Acknowledged records: (topic, partition) -> offset -> (key, value).
    acked: BTreeMap<(String, u32), BTreeMap<i64, KeyValue>>,
    /// Highest recovery point reported after a flush.
    flushed: HashMap<(String, u32), i64>,
    /// Highest log start reported as set.
    start_floor: HashMap<(String, u32), i64>,
    /// Highest log start an operation may have set.
    start_bound: HashMap<(String, u32), i64>,
    /// Last committed offset reported.
    committed: BTreeMap<(String, u32), i64>,
}

impl Ledger {
    /// Applies one reported line; false for one that does not parse.
    fn apply(&mut self, line: &str) -> bool {
        let fields: Vec<&str> = line.splitn(6, ' ').collect();
        let tp = |f: &[&str]| -> Option<(String, u32, i64)> {
            Some((f.get(1)?.to_string(), f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
        };
        let opt = |s: &str| (s != "-").then(|| s.to_string());
        match (fields.first().copied(), tp(&fields)) {
            (Some("A"), Some((t, p, offset))) if fields.len() == 6 => {
                let record = (opt(fields[4]), opt(fields[5]));
                self.acked.entry((t, p)).or_default().insert(offset, record);
            }
            (Some("F"), Some((t, p, at))) => raise(&mut self.flushed, (t, p), at),
            (Some("L"), Some((t, p, at))) => raise(&mut self.start_floor, (t, p), at),
            (Some("S"), Some((t, p, at))) => raise(&mut self.start_bound, (t, p), at),
            (Some("C"), Some((t, p, at))) => {
                self.committed.insert((t, p), at);
            }
            _ => return false,
        }
        true
    }
}

fn raise(map: &mut HashMap<(String, u32), i64>, key: (String, u32), at: i64) {
    let e = map.entry(key).or_insert(at);
    *e = (*e).max(at);
}

/// Figures of one check.
#[derive(Default)]
struct Checked {
    /// Acknowledged records read back at their offset with their value.
    records: u64,
    /// Acknowledged records legitimately gone (retention, delete-records, compaction).
    removed: u64,
}

/// How the parent opens the store to check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// `Store::open` (recovery), then `close`.
    AndClose,
    /// `Store::open` (recovery), then dropped.
    AndDrop,
    /// `Store::open_read_only`: the files as the kill left them (the next
    /// child's open recovers them; it panics, failing the round, if that fails).
    ReadOnly,
}

/// Opens the store in `dir` and checks it against `ledger`; `what` names the round.
fn check(dir: &Path, ledger: &Ledger, what: &str, open: Open) -> Checked {
    let opened = match open {
        Open::ReadOnly => Store::open_read_only(dir, store_config()),
        Open::AndClose | Open::AndDrop => Store::open(dir, store_config()),
    };
    let store = match opened {
        Ok(store) => store,
        // A read-only open refuses a partition directory without a segment
        // (a kill inside topic creation): the full open must cope with it.
        Err(e) if open == Open::ReadOnly => {
            eprintln!("{what}: read-only open refused ({e}); opening read-write");
            return check(dir, ledger, what, Open::AndDrop);
        }
        Err(e) => panic!("{what}: opening the store failed: {e}"),
    };
    let mut checked = Checked::default();
    for name in store.all_topics() {
        let topic = store.existing_topic(&name).unwrap();
        for partition in topic.partitions() {
            let n = partition_number(&partition.dir().to_string_lossy());
            let key = (name.clone(), n);
            let what = format!("{what}, {name}-{n}");
            let (start, end) = (partition.log_start_offset(), partition.log_end_offset());
            let empty = BTreeMap::new();
            let acked = ledger.acked.get(&key).unwrap_or(&empty);
            let last_acked = acked.keys().next_back().map_or(0, |o| o + 1);
            let flushed = ledger.flushed.get(&key).copied().unwrap_or(0);
            assert!(end >= last_acked, "{what}: log end {end} below acknowledged end {last_acked}");
            assert!(end >= flushed, "{what}: log end {end} below flushed {flushed}");
            let mut read = BTreeMap::new();
            let mut previous = start - 1;
            for record in partition.read_from(start).unwrap_or_else(|e| panic!("{what}: read_from({start}): {e}")) {
                let record = record.unwrap_or_else(|e| panic!("{what}: reading after offset {previous}: {e}"));
                let offset = record.offset();
                assert!(offset > previous, "{what}: offset {offset} after {previous}");
                previous = offset;
                let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
                let got = (text(record.key()), text(record.value()));
                if let Some(want) = acked.get(&offset) {
                    assert_eq!(&got, want, "{what}: record at offset {offset}");
                } else if name != topiclog::OFFSETS_TOPIC {
                    let v = got.1.as_deref().unwrap_or("v");
                    assert!(v.starts_with('v'), "{what}: unknown value {v:?} at {offset}");
                }
                read.insert(offset, got);
            }
            assert!(previous < end, "{what}: read offset {previous} at or past the log end {end}");
            if name == topiclog::OFFSETS_TOPIC {
                continue;
            }
            if name == STATE {
                // Compacted: each key's latest acknowledged record, or a later one of its key.
                let mut latest: HashMap<&Option<String>, i64> = HashMap::new();
                for (offset, (k, _)) in acked {
                    latest.insert(k, *offset);
                }
                for (offset, (k, _)) in acked {
                    if read.contains_key(offset) {
                        checked.records += 1;
                        continue;
                    }
                    checked.removed += 1;
                    let superseded = read.range(offset + 1..).any(|(_, (rk, _))| rk == k);
                    assert!(
                        superseded,
                        "{what}: acknowledged record {offset} of key {k:?} is gone with no later record of its key \
                         (latest acknowledged {})",
                        latest[k]
                    );
                }
                continue;
            }
            // Delete policy: dense from the log start; the start where the child put it.
            let floor = ledger.start_floor.get(&key).copied().unwrap_or(0);
            let bound = ledger.start_bound.get(&key).copied().unwrap_or(0).max(floor);
            assert!(start >= floor, "{what}: log start {start} below the reported {floor}");
            assert!(start <= bound, "{what}: log start {start} above any the child could set ({bound})");
            assert_eq!(read.len() as i64, end - start, "{what}: offsets dense from {start} to {end}");
            for offset in acked.keys() {
                if *offset >= start {
                    checked.records += 1;
                } else {
                    checked.removed += 1;
                }
            }
        }
    }
    for ((t, p), reported) in &ledger.committed {
        let committed = store.committed_offset(GROUP, t, *p).unwrap().unwrap_or(-1);
        assert!(committed >= *reported, "{what}: committed offset of {t}-{p} is {committed}, reported {reported}");
        let end = store.existing_topic(t).unwrap().partition(*p).unwrap().log_end_offset();
        assert!(committed <= end, "{what}: committed offset of {t}-{p} is {committed}, past the log end {end}");
    }
    if open == Open::AndClose {
        store.close().unwrap_or_else(|e| panic!("{what}: closing: {e}"));
    }
    checked
}

fn kills() -> u64 {
    std::env::var("TOPICLOG_STORE_KILLS").ok().map_or(200, |n| n.parse().expect("TOPICLOG_STORE_KILLS"))
}

#[test]
fn killed_stores_keep_every_acknowledged_record_and_commit() {
    const KILLS_PER_DIR: u64 = 50;
    let seed: u64 =
        std::env::var("TOPICLOG_STORE_KILL_SEED").ok().map_or(0x5bd1_e995_1234_5678, |s| s.parse().unwrap());
    let mut rng = Rng(seed);
    let started = Instant::now();
    let scratch = tempfile::tempdir().unwrap();
    let (mut total, mut lines_total, mut acked_total, mut checked_total, mut removed_total) = (0, 0, 0, 0u64, 0u64);
    let mut ledger = Ledger::default();
    let mut dir = PathBuf::new();
    for round in 0..kills() {
        if round % KILLS_PER_DIR == 0 {
            dir = scratch.path().join(format!("store-{}", round / KILLS_PER_DIR));
            acked_total += ledger.acked.values().map(BTreeMap::len).sum::<usize>();
            ledger = Ledger::default();
        }
        let child_seed = rng.next();
        let stderr_path = scratch.path().join("child.stderr");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_drives_a_store_until_killed", "--ignored", "--test-threads=1", "--nocapture"])
            .env(CHILD_DIR, &dir)
            .env(CHILD_SEED, child_seed.to_string())
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut lines = Vec::new();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                // A line without its newline was cut by the kill.
                if let Some(whole) = line.strip_suffix('\n') {
                    // With --nocapture, libtest's "test NAME ... " precedes the first line.
                    let whole = whole.rsplit_once(" ... ").map_or(whole, |(_, rest)| rest);
                    if whole == "ready" {
                        let _ = ready_tx.send(());
                    }
                    lines.push(whole.to_string());
                }
                line.clear();
            }
            lines
        });
        // One kill in eight lands while the child opens the store; the others
        // a few ms to a few hundred ms after it is ready.
        let (when, delay) = if rng.below(8) == 0 {
            ("after spawn", Duration::from_micros(rng.below(60_000)))
        } else {
            let _ = ready_rx.recv_timeout(Duration::from_secs(30));
            let ms = [5, 30, 200][rng.below(3) as usize];
            ("after ready", Duration::from_micros(rng.below(ms * 1000)))
        };
        std::thread::sleep(delay);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let lines = reader.join().unwrap();
        let what = format!(
            "round {round} (seed {seed}, child seed {child_seed}, killed {delay:?} {when}, {} lines reported)",
            lines.len()
        );
        assert!(
            !status.success() && std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGKILL),
            "{what}: the child ended by itself ({status}): {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        for line in &lines {
            let known = line.is_empty() || line == "ready" || line.starts_with("running ") || ledger.apply(line);
            assert!(known, "{what}: unknown line {line:?}");
        }
        lines_total += lines.len();
        let open = [Open::AndClose, Open::ReadOnly, Open::AndDrop, Open::ReadOnly][round as usize % 4];
        let checked = check(&dir, &ledger, &what, open);
        checked_total += checked.records;
        removed_total += checked.removed;
        total += 1;
    }
    acked_total += ledger.acked.values().map(BTreeMap::len).sum::<usize>();
    assert!(acked_total > 0 && checked_total > 0, "the children acknowledged records, so the test tested something");
    eprintln!(
        "store kills: {total} kills (seed {seed}), {lines_total} lines reported, {acked_total} records acknowledged, \
         {checked_total} record checks passed, {removed_total} acknowledged records legitimately gone, in {:?}",
        started.elapsed()
    );
}
