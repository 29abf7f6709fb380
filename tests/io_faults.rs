//! I/O faults by kind at each write path (the `fault-injection` seam): the
//! call returns a typed error naming the file, the partition is poisoned
//! where data may be lost, and once the fault is gone the store reopens with
//! every acknowledged flushed record, every acknowledged topic and commit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use topiclog::fault_injection::{self as fi, Fault, Op};
use topiclog::{Error, Record, Store, StoreConfig, TopicConfig};

const ACKED: i64 = 40;
const KEYS: i64 = 5;

fn value(i: i64) -> String {
    format!("v{i:04}-{}", "x".repeat(90))
}

fn config() -> StoreConfig {
    StoreConfig::new().maintenance(false)
}

/// The acknowledged state: topics `t` (plain), `c` (compacted), `d` (to
/// delete), all flushed, a commit of group `g`; closed and reopened.
fn fixture(root: &Path) -> Store {
    let store = Store::open(root, config()).unwrap();
    let small = TopicConfig::new().set("segment.bytes", "4096").unwrap().set("index.interval.bytes", "100").unwrap();
    let t = store.create_topic("t", 1, small).unwrap();
    let c = store
        .create_topic(
            "c",
            1,
            TopicConfig::new()
                .set("cleanup.policy", "compact")
                .unwrap()
                .set("segment.bytes", "1024")
                .unwrap()
                .set("min.cleanable.dirty.ratio", "0.01")
                .unwrap(),
        )
        .unwrap();
    let d = store.create_topic("d", 1, TopicConfig::new()).unwrap();
    for i in 0..ACKED {
        let r = || Record::new().key(format!("k{}", i % KEYS)).value(value(i));
        assert_eq!(t.send_to(0, r()).unwrap().offset, i);
        c.send_to(0, r()).unwrap();
        if i < 10 {
            d.send_to(0, r()).unwrap();
        }
    }
    for p in [t.partition(0), c.partition(0), d.partition(0)] {
        p.unwrap().flush().unwrap();
    }
    store.commit_offsets("g", &[("t".to_string(), 0, 10)]).unwrap();
    store.close().unwrap();
    Store::open(root, config()).unwrap()
}

type Action = fn(&mut Option<Store>) -> topiclog::Result<()>;

struct Case {
    path: &'static str,
    kind: &'static str,
    /// Where the fault is armed, relative to the data directory (a string prefix).
    prefix: &'static str,
    contains: Option<&'static str>,
    op: Op,
    errno: i32,
    action: Action,
    /// Matching calls let through before the fault fires.
    skip: u64,
    /// The topic whose partition 0 must be poisoned afterwards.
    poisons: Option<&'static str>,
}

fn store(s: &mut Option<Store>) -> &Store {
    s.as_ref().unwrap()
}

fn small_append(s: &mut Option<Store>) -> topiclog::Result<()> {
    store(s).existing_topic("t")?.send_to(0, Record::new().key("k").value("small"))?;
    Ok(())
}
fn large_append(s: &mut Option<Store>) -> topiclog::Result<()> {
    store(s).existing_topic("t")?.send_to(0, Record::new().key("k").value(vec![7u8; 3000]))?;
    Ok(())
}
fn append_and_flush(s: &mut Option<Store>) -> topiclog::Result<()> {
    let t = store(s).existing_topic("t")?;
    for i in 0..5 {
        t.send_to(0, Record::new().key("k").value(value(100 + i)))?;
    }
    t.partition(0)?.flush()
}
fn roll(s: &mut Option<Store>) -> topiclog::Result<()> {
    let t = store(s).existing_topic("t")?;
    for i in 0..60 {
        t.send_to(0, Record::new().key("k").value(value(100 + i)))?;
    }
    Ok(())
}
fn close(s: &mut Option<Store>) -> topiclog::Result<()> {
    s.take().unwrap().close()
}
fn delete_records(s: &mut Option<Store>) -> topiclog::Result<()> {
    store(s).existing_topic("t")?.partition(0)?.delete_records(2)?;
    Ok(())
}
fn create_topic(s: &mut Option<Store>) -> topiclog::Result<()> {
    store(s).create_topic("n", 1, TopicConfig::new()).map(drop)
}
fn delete_topic(s: &mut Option<Store>) -> topiclog::Result<()> {
    store(s).delete_topic("d")
}
fn set_config(s: &mut Option<Store>) -> topiclog::Result<()> {
    store(s).set_topic_config("t", "retention.ms", "123456")
}
fn compact(s: &mut Option<Store>) -> topiclog::Result<()> {
    store(s).existing_topic("c")?.partition(0)?.compact().map(drop)
}
fn commit(s: &mut Option<Store>) -> topiclog::Result<()> {
    store(s).commit_offsets("g", &[("t".to_string(), 0, 20)])
}

const ENOSPC: i32 = libc::ENOSPC;
const EIO: i32 = libc::EIO;
const ENOMEM: i32 = libc::ENOMEM;

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let c = |path, kind, prefix, contains, op, errno, action: Action, poisons| Case { path, kind, prefix, contains, op, errno, action, skip: 0, poisons };
    vec![
        c("append", "ENOSPC write", "t-0", Some(".log"), Op::Write, ENOSPC, small_append, Some("t")),
        c("append", "EIO write", "t-0", Some(".log"), Op::Write, EIO, large_append, Some("t")),
        c("append", "failed mmap", "t-0", Some(".log"), Op::Mmap, ENOMEM, small_append, Some("t")),
        c("append", "EIO fsync", "t-0", Some(".log"), Op::Sync, EIO, append_and_flush, Some("t")),
        c("roll", "ENOSPC create", "t-0", Some(".log"), Op::Create, ENOSPC, roll, Some("t")),
        c("roll", "EIO set_len", "t-0", Some(".log"), Op::SetLen, EIO, roll, Some("t")),
        c("flush", "EIO fsync dir", "t-0", None, Op::SyncDir, EIO, append_and_flush, Some("t")),
        c("index", "ENOSPC set_len", "t-0", Some(".index"), Op::SetLen, ENOSPC, roll, Some("t")),
        c("index", "failed mmap", "t-0", Some(".timeindex"), Op::Mmap, ENOMEM, roll, Some("t")),
        c("index", "EIO msync", "t-0", Some(".index"), Op::Sync, EIO, append_and_flush, Some("t")),
        c("checkpoint", "ENOSPC write", ".", None, Op::Write, ENOSPC, close, None),
        c("checkpoint", "EIO fsync", ".", None, Op::Sync, EIO, close, None),
        c("checkpoint", "failed rename", ".", None, Op::Rename, EIO, close, None),
        c("state file", "ENOSPC write", "t-0/.", None, Op::Write, ENOSPC, delete_records, Some("t")),
        c("state file (close)", "ENOSPC write", "t-0/.", None, Op::Write, ENOSPC, close, None),
        c("state file", "EIO fsync", "t-0/.", None, Op::Sync, EIO, delete_records, Some("t")),
        c("state file", "failed rename", "t-0/.", None, Op::Rename, EIO, delete_records, Some("t")),
        c("topic create", "ENOSPC write", "topiclog-meta/.", None, Op::Write, ENOSPC, create_topic, None),
        c("topic create", "EIO fsync", "topiclog-meta/.", None, Op::Sync, EIO, create_topic, None),
        c("topic create", "failed rename", "topiclog-meta/.", None, Op::Rename, EIO, create_topic, None),
        c("topic create", "ENOSPC create", "n-0", None, Op::Create, ENOSPC, create_topic, None),
        c("topic create", "failed mmap", "n-0", None, Op::Mmap, ENOMEM, create_topic, None),
        c("topic delete", "ENOSPC write", "topiclog-meta/.", None, Op::Write, ENOSPC, delete_topic, None),
        c("topic delete", "EIO fsync", "topiclog-meta/.", None, Op::Sync, EIO, delete_topic, None),
        c("topic delete", "failed rename", "d-0", None, Op::Rename, EIO, delete_topic, None),
        c("topic delete", "EIO remove", "topiclog-meta/d", None, Op::Remove, EIO, delete_topic, None),
        c("config change", "ENOSPC write", "topiclog-meta/.", None, Op::Write, ENOSPC, set_config, None),
        c("config change", "EIO fsync", "topiclog-meta/.", None, Op::Sync, EIO, set_config, None),
        c("config change", "failed rename", "topiclog-meta/.", None, Op::Rename, EIO, set_config, None),
        c("compaction", "ENOSPC write", "c-0", Some(".cleaned"), Op::Write, ENOSPC, compact, None),
        c("compaction", "EIO fsync", "c-0", Some(".cleaned"), Op::Sync, EIO, compact, None),
        c("compaction", "failed mmap", "c-0", Some(".cleaned"), Op::Mmap, ENOMEM, compact, None),
        c("compaction swap", "failed rename .swap", "c-0", Some(".swap"), Op::Rename, EIO, compact, Some("c")),
        c("compaction swap", "failed rename .deleted", "c-0", Some(".deleted"), Op::Rename, EIO, compact, Some("c")),
        // The three renames to `.swap` pass; the first from `.swap` to the final name fails.
        Case { skip: 3, ..c("compaction swap", "failed rename to final", "c-0", Some(".swap"), Op::Rename, EIO, compact, Some("c")) },
        c("compaction swap", "EIO fsync dir", "c-0", None, Op::SyncDir, EIO, compact, Some("c")),
        c("compaction swap", "ENOSPC state write", "c-0/.", None, Op::Write, ENOSPC, compact, Some("c")),
        c("offset commit", "ENOSPC write", "__consumer_offsets-0", Some(".log"), Op::Write, ENOSPC, commit, Some("__consumer_offsets")),
        c("offset commit", "EIO fsync", "__consumer_offsets-0", Some(".log"), Op::Sync, EIO, commit, Some("__consumer_offsets")),
        c("offset commit", "failed mmap", "__consumer_offsets-0", Some(".log"), Op::Mmap, ENOMEM, commit, Some("__consumer_offsets")),
        c("offset commit", "EIO fsync dir", "__consumer_offsets-0", None, Op::SyncDir, EIO, commit, Some("__consumer_offsets")),
    ]
}

/// The file an error names: an `Io`'s, or the `Io` a `Poisoned` wraps.
fn failed_path(e: &Error) -> Option<PathBuf> {
    match e {
        Error::Io { path, .. } => Some(path.clone()),
        Error::Poisoned { source, .. } => failed_path(source),
        Error::ProducerAppend { source, .. } => failed_path(source),
        _ => None,
    }
}

/// Runs one cell; the number of calls the fault failed.
fn run(case: &Case) -> Result<usize, String> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut store = Some(fixture(&root));
    let prefix = PathBuf::from(format!("{}/{}", root.display(), case.prefix));
    let mut fault = Fault::new(&prefix, case.op, case.errno).after(case.skip);
    if let Some(text) = case.contains {
        fault = fault.contains(text);
    }
    fi::arm(fault);
    let outcome = (case.action)(&mut store);
    let hits = fi::injected(&root);
    fi::forget(&root);
    if hits.is_empty() {
        return Err(format!("fault never hit ({outcome:?})"));
    }
    let e = match outcome {
        Ok(()) => return Err(format!("Ok although {} calls failed: {hits:?}", hits.len())),
        Err(e) => e,
    };
    let Some(path) = failed_path(&e) else { return Err(format!("error without a file: {e:?}")) };
    if !path.starts_with(&root) || !path.to_string_lossy().starts_with(prefix.to_string_lossy().as_ref()) {
        return Err(format!("error names {} , not a file under {}: {e}", path.display(), prefix.display()));
    }
    if let (Some(topic), Some(s)) = (case.poisons, store.as_ref()) {
        let again = if topic == "__consumer_offsets" {
            s.commit_offsets("g", &[("t".to_string(), 0, 30)])
        } else {
            s.existing_topic(topic).and_then(|t| t.send_to(0, Record::new().key("k0").value("after"))).map(drop)
        };
        if !matches!(&again, Err(Error::Poisoned { .. }))
            && !matches!(&again, Err(Error::ProducerAppend { source, .. }) if matches!(**source, Error::Poisoned { .. }))
        {
            return Err(format!("partition {topic}-0 not poisoned after {e}: next write gave {again:?}"));
        }
    }
    if case.path == "topic create"
        && let Some(s) = store.as_ref()
    {
        // Disarmed, the create can be retried (or the topic is there).
        match s.create_topic("n", 1, TopicConfig::new()) {
            Ok(_) => {}
            Err(Error::TopicExists { .. }) if s.existing_topic("n").is_ok() => {}
            other => return Err(format!("retrying the create after {e}: {other:?}")),
        }
    }
    drop(store);
    let reopened = Store::open(&root, config()).map_err(|e| format!("reopen failed: {e}"))?;
    verify(&reopened).map_err(|m| format!("after reopen: {m}"))?;
    Ok(hits.len())
}

fn verify(store: &Store) -> Result<(), String> {
    // t: every acknowledged record, dense, from a log start of at most 2.
    let p = store.existing_topic("t").map_err(|e| e.to_string())?.partition(0).map_err(|e| e.to_string())?;
    let start = p.log_start_offset();
    if start > 2 || p.log_end_offset() < ACKED {
        return Err(format!("t-0 holds {start}..{}", p.log_end_offset()));
    }
    let mut next = start;
    for r in p.read_from(start).map_err(|e| e.to_string())? {
        let r = r.map_err(|e| e.to_string())?;
        if r.offset() != next {
            return Err(format!("t-0: offset {} after {}", r.offset(), next - 1));
        }
        if next < ACKED && r.value() != Some(value(next).as_bytes()) {
            return Err(format!("t-0: wrong value at {next}"));
        }
        next += 1;
    }
    if next < ACKED {
        return Err(format!("t-0 ends at {next}"));
    }
    // c: every key's latest value.
    let c = store.existing_topic("c").map_err(|e| e.to_string())?.partition(0).map_err(|e| e.to_string())?;
    let mut latest = BTreeMap::new();
    for r in c.read_from(c.log_start_offset()).map_err(|e| e.to_string())? {
        let r = r.map_err(|e| e.to_string())?;
        latest.insert(r.key().map(<[u8]>::to_vec), r.value().map(<[u8]>::to_vec));
    }
    for k in 0..KEYS {
        let want = value(ACKED - KEYS + k);
        if latest.get(&Some(format!("k{k}").into_bytes())) != Some(&Some(want.into_bytes())) {
            return Err(format!("c-0: key k{k} lost its latest value"));
        }
    }
    // d: gone (its deletion was asked) or whole.
    if let Ok(d) = store.existing_topic("d") {
        let n = d.partition(0).map_err(|e| e.to_string())?.log_end_offset();
        if n != 10 {
            return Err(format!("d-0 holds {n} records, not 10"));
        }
    }
    match store.committed_offset("g", "t", 0) {
        Ok(Some(o)) if o >= 10 => {}
        other => return Err(format!("committed offset of g lost: {other:?}")),
    }
    // The store takes writes again.
    store.existing_topic("t").and_then(|t| t.send_to(0, Record::new().value("later"))).map_err(|e| e.to_string())?;
    Ok(())
}

#[test]
fn io_faults_at_every_write_path_fail_typed_poison_and_lose_nothing_acknowledged() {
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let cases = cases();
    // Cases are independent (faults are keyed by each case's directory) and
    // mostly wait on fsyncs: eight at a time.
    let results: Vec<Result<usize, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .chunks(cases.len().div_ceil(8))
            .map(|chunk| scope.spawn(move || chunk.iter().map(run).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    for (case, result) in cases.iter().zip(results) {
        match result {
            Ok(hits) => {
                let errno = match case.errno {
                    ENOSPC => "ENOSPC",
                    EIO => "EIO",
                    _ => "ENOMEM",
                };
                *by_kind.entry(format!("{errno} on {:?}", case.op)).or_default() += hits;
            }
            Err(m) => failures.push(format!("{} × {}: {m}", case.path, case.kind)),
        }
    }
    let summary: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    println!(
        "io_faults: {} of {} cells pass in {:.1?}; faults injected: {}",
        cases.len() - failures.len(),
        cases.len(),
        started.elapsed(),
        summary.join(", ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
