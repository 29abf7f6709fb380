//! A bounded stress test of one store under every kind of concurrent use
//! (issue 14, concurrency): three writers on a delete-policy topic with four
//! partitions and small segments and on a compacted topic with two; two
//! readers scanning every partition from its log start; a maintenance thread
//! advancing a manual clock and running retention, delete-records,
//! compaction, configuration changes and flushes; a consumer in a group
//! polling and committing. Afterwards every acknowledged record is checked,
//! then a writer and a reader race `Store::close`, and a reopen must show
//! the same log start and end offsets and the same records.
//!
//! Seeds are printed in every assertion message. `TOPICLOG_STRESS_ITERATIONS`
//! (appends per writer, default 1000) makes a longer run.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Rng;
use topiclog::{
    AutoOffsetReset, Clock, ConsumerConfig, Error, ManualClock, Partition, Record, Store, StoreConfig, Topic,
    TopicConfig,
};

const DELETE: &str = "events";
const COMPACT: &str = "state";
const TOPICS: [&str; 2] = [DELETE, COMPACT];
const PARTITIONS: [u32; 2] = [4, 2];
const WRITERS: u32 = 3;
const COMPACT_KEYS: u64 = 24;
const SEED: u64 = 0x5eed_c0de_1234_5678;

/// One acknowledged record.
#[derive(Debug, Clone)]
struct Ack {
    topic: usize,
    partition: u32,
    offset: i64,
    key: Vec<u8>,
    value: Vec<u8>,
}

fn iterations() -> u64 {
    std::env::var("TOPICLOG_STRESS_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

fn value_for(writer: u32, seq: u64, pad: usize) -> Vec<u8> {
    format!("w{writer}:s{seq}:{}", "x".repeat(pad)).into_bytes()
}

/// `(writer, seq)` from a value, or `None` when it does not decode.
fn decode(value: &[u8]) -> Option<(u32, u64)> {
    let text = std::str::from_utf8(value).ok()?;
    let mut parts = text.splitn(3, ':');
    let writer = parts.next()?.strip_prefix('w')?.parse().ok()?;
    let seq = parts.next()?.strip_prefix('s')?.parse().ok()?;
    let pad = parts.next()?;
    pad.bytes().all(|b| b == b'x').then_some((writer, seq))
}

fn store_config(clock: &ManualClock) -> StoreConfig {
    StoreConfig::new().maintenance(false).clock(Arc::new(clock.clone()) as Arc<dyn Clock>)
}

fn partitions(topics: &[Topic; 2]) -> Vec<(usize, Partition)> {
    let mut all = Vec::new();
    for (t, topic) in topics.iter().enumerate() {
        for p in topic.partitions() {
            all.push((t, p));
        }
    }
    all
}

/// Appends per writer: one record through `Topic::send_to` or a batch of
/// up to four through `Partition::append`; returns the acknowledgements.
fn writer(id: u32, topics: [Topic; 2], iterations: u64, acked: Arc<AtomicU64>) -> Vec<Ack> {
    let seed = SEED ^ (u64::from(id) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut rng = Rng(seed);
    let mut acks = Vec::new();
    let mut seq = 0u64;
    for _ in 0..iterations {
        let t = usize::from(rng.below(3) == 0);
        let partition = rng.below(u64::from(PARTITIONS[t])) as u32;
        let n = 1 + rng.below(4) as usize;
        let mut batch = Vec::with_capacity(n);
        for _ in 0..n {
            let key = if t == 0 {
                format!("w{id}-{seq}").into_bytes()
            } else {
                format!("k{}", rng.below(COMPACT_KEYS)).into_bytes()
            };
            let value = value_for(id, seq, rng.below(160) as usize);
            seq += 1;
            batch.push((key, value));
        }
        let records: Vec<Record> = batch.iter().map(|(k, v)| Record::new().key(k.clone()).value(v.clone())).collect();
        let first = if n == 1 {
            let sent = topics[t]
                .send_to(partition, records.into_iter().next().unwrap())
                .unwrap_or_else(|e| panic!("writer {id} (seed {seed:#x}): send_to failed: {e}"));
            assert_eq!(sent.partition, partition, "seed {seed:#x}");
            sent.offset
        } else {
            let p = topics[t].partition(partition).unwrap();
            let appended =
                p.append(&records).unwrap_or_else(|e| panic!("writer {id} (seed {seed:#x}): append failed: {e}"));
            assert_eq!(appended.last_offset - appended.first_offset + 1, n as i64, "seed {seed:#x}");
            appended.first_offset
        };
        for (i, (key, value)) in batch.into_iter().enumerate() {
            acks.push(Ack { topic: t, partition, offset: first + i as i64, key, value });
        }
        acked.fetch_add(n as u64, Ordering::Relaxed);
    }
    acks
}

/// Scans every partition from its log start up to the log end seen when the
/// scan began, until `stop`; returns the number of records seen.
fn reader(id: u64, topics: [Topic; 2], stop: Arc<AtomicBool>) -> (u64, u64) {
    let (mut seen, mut raced) = (0u64, 0u64);
    let mut passes = 0u64;
    while !stop.load(Ordering::Relaxed) || passes < 2 {
        passes += 1;
        for (t, p) in partitions(&topics) {
            let where_ = format!("reader {id} (seed {SEED:#x}) pass {passes} {}-{}", TOPICS[t], p.partition_hint());
            let end = p.log_end_offset();
            let mut reader = match p.read_from(p.log_start_offset()) {
                Ok(r) => r,
                // Retention or delete-records moved the log start meanwhile.
                Err(Error::OffsetOutOfRange { .. }) => {
                    raced += 1;
                    continue;
                }
                Err(e) => panic!("{where_}: read_from: {e}"),
            };
            let mut last = -1i64;
            let mut last_seq: HashMap<u32, u64> = HashMap::new();
            loop {
                match reader.next() {
                    None => break,
                    Some(Ok(r)) => {
                        assert!(r.offset() > last, "{where_}: offset {} after {last}", r.offset());
                        last = r.offset();
                        let now_end = p.log_end_offset();
                        assert!(last < now_end, "{where_}: record at {last}, at or past the log end {now_end}");
                        let value = r.value().unwrap_or_else(|| panic!("{where_}: null value at {last}"));
                        let (w, s) = decode(value).unwrap_or_else(|| panic!("{where_}: undecodable value at {last}"));
                        if let Some(prev) = last_seq.insert(w, s) {
                            assert!(s > prev, "{where_}: writer {w} seq {s} at {last} after seq {prev}");
                        }
                        seen += 1;
                        if last + 1 >= end {
                            break;
                        }
                    }
                    // The only error a concurrent retention or delete-records may cause.
                    Some(Err(Error::OffsetOutOfRange { .. })) => raced += 1,
                    Some(Err(e)) => panic!("{where_}: read error after offset {last}: {e}"),
                }
            }
        }
    }
    (seen, raced)
}

/// Retention after clock advances, delete-records, compaction, config
/// changes and flushes until `stop` (and at least `min_passes`).
fn maintenance(store: &Store, clock: &ManualClock, topics: [Topic; 2], stop: Arc<AtomicBool>, min_passes: u64) -> u64 {
    let seed = SEED ^ 0xabcd;
    let mut rng = Rng(seed);
    let mut passes = 0u64;
    while !stop.load(Ordering::Relaxed) || passes < min_passes {
        passes += 1;
        let where_ = format!("maintenance (seed {seed:#x}) pass {passes}");
        match rng.below(7) {
            0 => {
                clock.advance(rng.below(20_000) as i64);
                for (_, p) in partitions(&topics) {
                    p.enforce_retention().unwrap_or_else(|e| panic!("{where_}: enforce_retention: {e}"));
                }
            }
            1 => {
                let p = topics[0].partition(rng.below(u64::from(PARTITIONS[0])) as u32).unwrap();
                let (start, end) = (p.log_start_offset(), p.log_end_offset());
                let target = start + (end - start) * rng.below(40) as i64 / 100;
                let new_start = p.delete_records(target).unwrap_or_else(|e| panic!("{where_}: delete_records: {e}"));
                assert!(new_start >= target, "{where_}: delete_records({target}) left the log start at {new_start}");
            }
            2 => {
                for p in topics[1].partitions() {
                    p.compact().unwrap_or_else(|e| panic!("{where_}: compact: {e}"));
                }
            }
            3 => {
                let value = ["-1", "16384", "32768", "65536"][rng.below(4) as usize];
                store
                    .set_topic_config(DELETE, "retention.bytes", value)
                    .unwrap_or_else(|e| panic!("{where_}: retention.bytes={value}: {e}"));
            }
            4 => {
                let value = ["-1", "60000", "600000"][rng.below(3) as usize];
                store
                    .set_topic_config(DELETE, "retention.ms", value)
                    .unwrap_or_else(|e| panic!("{where_}: retention.ms={value}: {e}"));
            }
            5 => {
                let (topic, key, value) = if rng.below(2) == 0 {
                    (COMPACT, "min.cleanable.dirty.ratio", ["0.01", "0.3", "0.9"][rng.below(3) as usize])
                } else {
                    (DELETE, "segment.bytes", ["4096", "8192"][rng.below(2) as usize])
                };
                store.set_topic_config(topic, key, value).unwrap_or_else(|e| panic!("{where_}: {key}={value}: {e}"));
            }
            _ => {
                for (_, p) in partitions(&topics) {
                    p.flush().unwrap_or_else(|e| panic!("{where_}: flush: {e}"));
                }
            }
        }
        std::thread::yield_now();
    }
    passes
}

trait PartitionHint {
    fn partition_hint(&self) -> String;
}

impl PartitionHint for Partition {
    /// The partition directory's name, for messages.
    fn partition_hint(&self) -> String {
        self.dir().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// Every record of every partition from its log start: `offset -> (key, value)`.
/// One partition's records: `offset -> (key, value)`.
type Held = BTreeMap<i64, (Vec<u8>, Vec<u8>)>;

fn contents(topics: &[Topic; 2], label: &str) -> Vec<Vec<Held>> {
    topics
        .iter()
        .enumerate()
        .map(|(t, topic)| {
            topic
                .partitions()
                .iter()
                .enumerate()
                .map(|(n, p)| {
                    let mut records = BTreeMap::new();
                    for r in p.read_from(p.log_start_offset()).unwrap() {
                        let r = r.unwrap_or_else(|e| panic!("{label} (seed {SEED:#x}): {}-{n}: {e}", TOPICS[t]));
                        records.insert(
                            r.offset(),
                            (
                                r.key().map(<[u8]>::to_vec).unwrap_or_default(),
                                r.value().map(|v| v.to_vec()).unwrap_or_default(),
                            ),
                        );
                    }
                    records
                })
                .collect()
        })
        .collect()
}

/// The invariants over what was acknowledged and what the partitions hold.
fn verify(topics: &[Topic; 2], acks: &[Ack], label: &str) {
    let held = contents(topics, label);
    let mut by_offset: HashMap<(usize, u32, i64), &Ack> = HashMap::new();
    let mut latest: HashMap<(usize, u32, &[u8]), i64> = HashMap::new();
    for ack in acks {
        assert!(
            by_offset.insert((ack.topic, ack.partition, ack.offset), ack).is_none(),
            "{label} (seed {SEED:#x}): offset {} of {}-{} acknowledged twice",
            ack.offset,
            TOPICS[ack.topic],
            ack.partition
        );
        let at = latest.entry((ack.topic, ack.partition, &ack.key)).or_insert(ack.offset);
        *at = (*at).max(ack.offset);
    }
    for ack in acks {
        let p = topics[ack.topic].partition(ack.partition).unwrap();
        let where_ = format!("{label} (seed {SEED:#x}): {}-{} offset {}", TOPICS[ack.topic], ack.partition, ack.offset);
        match held[ack.topic][ack.partition as usize].get(&ack.offset) {
            Some((key, value)) => {
                assert_eq!((key, value), (&ack.key, &ack.value), "{where_}: another record than acknowledged");
            }
            None if ack.offset < p.log_start_offset() => {}
            None if ack.topic == 1 => {
                let newest = latest[&(ack.topic, ack.partition, &ack.key[..])];
                assert!(newest > ack.offset, "{where_}: gone, and not superseded by a later record of its key");
            }
            None => panic!("{where_}: acknowledged record missing above the log start {}", p.log_start_offset()),
        }
    }
    for (t, topic) in held.iter().enumerate() {
        for (n, records) in topic.iter().enumerate() {
            let mut last_seq: HashMap<u32, u64> = HashMap::new();
            for (offset, (_, value)) in records {
                let where_ = format!("{label} (seed {SEED:#x}): {}-{n} offset {offset}", TOPICS[t]);
                assert!(by_offset.contains_key(&(t, n as u32, *offset)), "{where_}: a record nobody acknowledged");
                let (w, s) = decode(value).unwrap_or_else(|| panic!("{where_}: undecodable value"));
                if let Some(prev) = last_seq.insert(w, s) {
                    assert!(s > prev, "{where_}: writer {w} seq {s} after seq {prev}");
                }
            }
            if t == 1 {
                // The newest record of each key is never compacted away.
                for ((kt, kp, key), offset) in &latest {
                    if *kt == t && *kp == n as u32 {
                        assert!(
                            records.contains_key(offset),
                            "{where_}: newest record of {key:?} at {offset} gone",
                            where_ = label
                        );
                    }
                }
            }
        }
    }
}

fn offsets(topics: &[Topic; 2]) -> Vec<(i64, i64)> {
    partitions(topics).iter().map(|(_, p)| (p.log_start_offset(), p.log_end_offset())).collect()
}

/// Also a regression test: a reader returned records past
/// `log_end_offset()` (written to the segment, not yet published), and the
/// consumer, holding a position past the log end, reset to its log start
/// and delivered the partition again (see
/// `partition::tests::readers_stop_at_the_published_log_end`).
#[test]
fn writers_readers_maintenance_consumer_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let store = Store::open(dir.path(), store_config(&clock)).unwrap();
    let delete_config = TopicConfig::new()
        .set("segment.bytes", "4096")
        .unwrap()
        .set("file.delete.delay.ms", "0")
        .unwrap()
        .set("retention.ms", "-1")
        .unwrap();
    let compact_config = TopicConfig::new()
        .set("segment.bytes", "4096")
        .unwrap()
        .set("cleanup.policy", "compact")
        .unwrap()
        .set("min.cleanable.dirty.ratio", "0.01")
        .unwrap()
        .set("file.delete.delay.ms", "0")
        .unwrap();
    let topics = [
        store.create_topic(DELETE, PARTITIONS[0], delete_config).unwrap(),
        store.create_topic(COMPACT, PARTITIONS[1], compact_config).unwrap(),
    ];
    let iterations = iterations();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let polled: Arc<Mutex<u64>> = Arc::default();

    let mut consumer = store
        .consumer(
            ConsumerConfig::new()
                .group_id("stress")
                .auto_offset_reset(AutoOffsetReset::Earliest)
                .enable_auto_commit(false)
                .max_poll_records(100),
        )
        .unwrap();
    consumer.subscribe(&TOPICS).unwrap();

    let (acks, maintenance_passes, read, consumer) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|id| {
                let (topics, acked) = (topics.clone(), acked.clone());
                s.spawn(move || writer(id, topics, iterations, acked))
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|id| {
                let (topics, stop) = (topics.clone(), stop.clone());
                s.spawn(move || reader(id, topics, stop))
            })
            .collect();
        let maint = {
            let (topics, stop, store, clock) = (topics.clone(), stop.clone(), &store, &clock);
            s.spawn(move || maintenance(store, clock, topics, stop, 20))
        };
        let consumer_thread = {
            let (stop, polled, diag) = (stop.clone(), polled.clone(), topics.clone());
            s.spawn(move || {
                let mut last: HashMap<(String, u32), i64> = HashMap::new();
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) || rounds < 5 {
                    rounds += 1;
                    let records = consumer
                        .poll(Duration::from_millis(5))
                        .unwrap_or_else(|e| panic!("consumer (seed {SEED:#x}) poll {rounds}: {e}"));
                    for r in &records {
                        let at = (r.topic.to_string(), r.partition);
                        let offset = r.record.offset();
                        if let Some(prev) = last.insert(at.clone(), offset)
                            && offset <= prev
                        {
                                let part = diag[usize::from(&*r.topic == COMPACT)].partition(r.partition).unwrap();
                                panic!(
                                    "consumer (seed {SEED:#x}) poll {rounds}: {at:?} offset {offset} after {prev}; committed {:?}, log {}..{}, polled {:?}",
                                    consumer.committed(&at.0, at.1),
                                    part.log_start_offset(),
                                    part.log_end_offset(),
                                    records.iter().map(|r| (r.partition, r.record.offset())).collect::<Vec<_>>()
                                );
                        }
                        let value = r.record.value().expect("a value");
                        assert!(decode(value).is_some(), "consumer (seed {SEED:#x}): {at:?} undecodable at {offset}");
                    }
                    *polled.lock().unwrap() += records.len() as u64;
                    consumer.commit_sync().unwrap_or_else(|e| panic!("consumer (seed {SEED:#x}) commit {rounds}: {e}"));
                }
                consumer
            })
        };
        let acks: Vec<Ack> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        let read: Vec<(u64, u64)> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        (acks, maint.join().unwrap(), read, consumer_thread.join().unwrap())
    });
    assert_eq!(acks.len() as u64, acked.load(Ordering::Relaxed));
    eprintln!(
        "seed {SEED:#x}: {} records acknowledged, {maintenance_passes} maintenance passes, readers {read:?}, {} polled",
        acks.len(),
        polled.lock().unwrap()
    );

    verify(&topics, &acks, "after the threads");
    for (t, topic) in TOPICS.iter().enumerate() {
        for n in 0..PARTITIONS[t] {
            let end = topics[t].partition(n).unwrap().log_end_offset();
            if let Some(committed) = consumer.committed(topic, n).unwrap() {
                assert!(
                    (0..=end).contains(&committed),
                    "seed {SEED:#x}: {topic}-{n} committed {committed}, log end {end}"
                );
            }
        }
    }
    consumer.close().unwrap();

    // A writer and a reader race close: appends either succeed (and are
    // kept) or fail with Closed; reads end with Closed or at the log end.
    let mut acks = acks;
    let closing = std::thread::scope(|s| {
        let started = Arc::new(AtomicU64::new(0));
        let w = {
            let (p, started) = (topics[0].partition(0).unwrap(), started.clone());
            s.spawn(move || {
                let mut acks = Vec::new();
                for seq in 0.. {
                    let (key, value) = (format!("close-{seq}").into_bytes(), value_for(99, seq, 8));
                    match p.append(&[Record::new().key(key.clone()).value(value.clone())]) {
                        Ok(a) => acks.push(Ack { topic: 0, partition: 0, offset: a.first_offset, key, value }),
                        Err(Error::Closed { .. }) => break,
                        Err(e) => panic!("closing writer (seed {SEED:#x}): {e}"),
                    }
                    started.fetch_add(1, Ordering::Relaxed);
                }
                acks
            })
        };
        let r = {
            let (p, started) = (topics[0].partition(1).unwrap(), started.clone());
            s.spawn(move || {
                loop {
                    started.fetch_add(1, Ordering::Relaxed);
                    let mut reader = match p.read_from(p.log_start_offset()) {
                        Ok(r) => r,
                        Err(Error::Closed { .. }) => return,
                        Err(e) => panic!("closing reader (seed {SEED:#x}): read_from: {e}"),
                    };
                    for r in reader.by_ref() {
                        match r {
                            Ok(_) => {}
                            Err(Error::Closed { .. }) => return,
                            Err(e) => panic!("closing reader (seed {SEED:#x}): {e}"),
                        }
                    }
                }
            })
        };
        while started.load(Ordering::Relaxed) < 20 {
            std::thread::yield_now();
        }
        let closed = store.close();
        let closing_acks = w.join().unwrap();
        r.join().unwrap();
        (closed, closing_acks)
    });
    let (closed, closing_acks) = closing;
    closed.unwrap_or_else(|e| panic!("seed {SEED:#x}: close: {e}"));
    acks.extend(closing_acks);
    let before = offsets(&topics);
    drop(topics);

    let store = Store::open(dir.path(), store_config(&clock)).unwrap();
    let topics = [store.topic(DELETE).unwrap(), store.topic(COMPACT).unwrap()];
    assert_eq!(offsets(&topics), before, "seed {SEED:#x}: log start/end offsets changed across close and reopen");
    verify(&topics, &acks, "after reopening");
    store.close().unwrap();
}
