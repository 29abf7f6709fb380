//! [`Topic`]: partitions `0..n` of one topic, each a [`Partition`] in
//! `<topic>-<n>/`, and the choice of partition for each record.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::clock::Clock;
use crate::config::LogConfig;
use crate::dirlock::SharedLock;
use crate::error::{Error, Result};
use crate::format::Record;
use crate::partition::{Partition, PartitionOptions};
use crate::partitioner::{KeylessStrategy, Partitioner, partition_for_key};
use crate::store::names::partition_dir_name;

/// Where a sent record went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendResult {
    /// The partition chosen.
    pub partition: u32,
    /// The record's offset there.
    pub offset: i64,
    /// The record's timestamp as stored (the append time for LogAppendTime).
    pub timestamp: i64,
}

/// One partition's numbers, as `describe` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// Partition number.
    pub partition: u32,
    /// First readable offset.
    pub log_start_offset: i64,
    /// Next offset to be written.
    pub log_end_offset: i64,
    /// Bytes on disk.
    pub size: u64,
    /// Number of segments.
    pub segments: usize,
}

/// Topic-level configuration overrides with Kafka's keys; unset keys come
/// from the store (broker keys) or Kafka's defaults.
///
/// ```
/// use topiclog::TopicConfig;
/// let overrides = TopicConfig::new().retention_ms(7 * 24 * 3600 * 1000).set("segment.bytes", "1048576")?;
/// assert_eq!(overrides.get("retention.ms"), Some("604800000"));
/// # Ok::<(), topiclog::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
}

impl TopicConfig {
    /// No overrides.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Overrides `key` (a topic-level key such as `retention.ms`) with its
    /// text form. Each key also has a typed builder method of the same name
    /// (`retention_ms`, `cleanup_policy`, ...); the cross-key rules are checked
    /// when the topic is created or altered.
    ///
    /// ```
    /// use topiclog::TopicConfig;
    /// let overrides = TopicConfig::new().set("retention.ms", "86400000")?.segment_bytes(1 << 20);
    /// assert_eq!(overrides.get("segment.bytes"), Some("1048576"));
    /// assert!(TopicConfig::new().set("retention.ms", "soon").is_err());
    /// # Ok::<(), topiclog::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) for an unknown
    /// key, a value that does not parse, or one out of its range.
    pub fn set(self, key: &str, value: &str) -> crate::Result<Self> {
        crate::config::LogConfig::default().apply(key, value)?;
        Ok(self.put(key, value.trim().to_string()))
    }

    /// Flush policy: writes `flush.messages` and `flush.ms` for `durability`.
    #[must_use]
    pub fn durability(self, durability: crate::config::Durability) -> Self {
        let (messages, ms) = durability.flush_settings();
        self.put("flush.messages", messages.to_string()).put("flush.ms", ms.to_string())
    }

    pub(crate) fn put(mut self, key: &str, value: String) -> Self {
        self.overrides.insert(key.to_string(), value);
        self
    }

    /// The override for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.overrides.get(key).map(String::as_str)
    }

    pub(crate) fn into_map(self) -> BTreeMap<String, String> {
        self.overrides
    }
}

#[derive(Debug)]
pub(crate) struct TopicState {
    pub partitions: Vec<Partition>,
    pub overrides: BTreeMap<String, String>,
    pub config: LogConfig,
    pub keyless: KeylessStrategy,
}

#[derive(Debug)]
pub(crate) struct TopicInner {
    pub name: String,
    pub data_dir: PathBuf,
    pub clock: Arc<dyn Clock>,
    pub state: RwLock<TopicState>,
    pub partitioner: Mutex<Partitioner>,
    pub deleted: AtomicBool,
    /// The store's lock: held while any handle of the topic lives.
    pub store_lock: SharedLock,
}

/// A topic of a [`crate::Store`]: partitions `0..n`. Cheap to clone. While
/// a handle lives, the store's directory stays locked (see [`crate::Store`]).
///
/// ```
/// use topiclog::{Record, Store, StoreConfig, TopicConfig};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreConfig::new())?;
/// let topic = store.create_topic("events", 3, TopicConfig::new())?;
/// let sent = topic.send(Record::new().key("user-1").value("signed in"))?;
/// assert!(sent.partition < topic.partition_count());
/// // Records with the same key go to the same partition.
/// let again = topic.send(Record::new().key("user-1").value("signed out"))?;
/// assert_eq!((again.partition, again.offset), (sent.partition, sent.offset + 1));
/// assert_eq!(topic.partition(sent.partition)?.log_end_offset(), 2);
/// store.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Topic {
    pub(crate) inner: Arc<TopicInner>,
}

/// What a store's topics share with it.
#[derive(Debug, Clone)]
pub(crate) struct TopicHome {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The store's clock.
    pub clock: Arc<dyn Clock>,
    /// The store's lock.
    pub store_lock: SharedLock,
    /// Open partitions without changing their files.
    pub read_only: bool,
}

impl Topic {
    /// Opens (creating missing directories) partitions `0..count` of `name`.
    pub(crate) fn open(
        home: TopicHome,
        name: &str,
        count: u32,
        overrides: BTreeMap<String, String>,
        config: LogConfig,
        keyless: KeylessStrategy,
    ) -> Result<Self> {
        let TopicHome { data_dir, clock, store_lock, read_only } = home;
        let partitions = (0..count)
            .map(|p| open_partition(&data_dir, name, p, &config, &clock, &store_lock, read_only))
            .collect::<Result<Vec<_>>>()?;
        let seed = clock.now_ms() as u64 ^ name.bytes().fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        Ok(Self {
            inner: Arc::new(TopicInner {
                name: name.to_string(),
                data_dir,
                clock,
                state: RwLock::new(TopicState { partitions, overrides, config, keyless }),
                partitioner: Mutex::new(Partitioner::new(keyless, seed)),
                deleted: AtomicBool::new(false),
                store_lock,
            }),
        })
    }

    /// The topic's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    fn check_live(&self) -> Result<()> {
        if self.inner.deleted.load(Ordering::Acquire) {
            return Err(Error::UnknownTopic { name: self.inner.name.clone() });
        }
        Ok(())
    }

    /// Number of partitions.
    #[must_use]
    pub fn partition_count(&self) -> u32 {
        self.inner.state.read().partitions.len() as u32
    }

    /// Partition `n`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownPartition`] when `n` is not below the partition count;
    /// [`Error::UnknownTopic`] after the topic was deleted.
    pub fn partition(&self, n: u32) -> Result<Partition> {
        self.check_live()?;
        let state = self.inner.state.read();
        state.partitions.get(n as usize).cloned().ok_or_else(|| Error::UnknownPartition {
            topic: self.inner.name.clone(),
            partition: n,
            count: state.partitions.len() as u32,
        })
    }

    /// Every partition, in order.
    #[must_use]
    pub fn partitions(&self) -> Vec<Partition> {
        self.inner.state.read().partitions.clone()
    }

    /// The topic's effective configuration.
    #[must_use]
    pub fn config(&self) -> LogConfig {
        self.inner.state.read().config.clone()
    }

    /// The topic's configuration overrides.
    #[must_use]
    pub fn overrides(&self) -> BTreeMap<String, String> {
        self.inner.state.read().overrides.clone()
    }

    /// How records without a key are spread (set with [`crate::Store::set_keyless_strategy`]).
    #[must_use]
    pub fn keyless_strategy(&self) -> KeylessStrategy {
        self.inner.state.read().keyless
    }

    /// The store clock's time (producers stamp records with it).
    pub(crate) fn clock_now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// The partition Kafka's producer would choose for `record`: by the
    /// key's murmur2 hash, or by the keyless strategy (which counts the
    /// value and header bytes) when it has no key.
    pub(crate) fn partition_for(&self, record: &Record) -> u32 {
        let count = self.partition_count();
        match &record.key {
            Some(key) => partition_for_key(key, count),
            None => {
                let size = record.value.as_ref().map_or(0, |v| v.len())
                    + record.headers.iter().map(|h| h.key().len() + h.value().map_or(0, |v| v.len())).sum::<usize>();
                self.inner.partitioner.lock().keyless(count, size as u64)
            }
        }
    }

    /// Appends records, each to the partition [`Topic::send`] would choose,
    /// as one batch per partition (in the order given within each); returns
    /// where each went, in the order given.
    ///
    /// ```
    /// use topiclog::{Record, Store, StoreConfig, TopicConfig};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), StoreConfig::new())?;
    /// let t = store.create_topic("t", 3, TopicConfig::new())?;
    /// let sent = t.send_batch((0..100).map(|i| Record::new().key(format!("k{}", i % 7)).value("v")).collect())?;
    /// assert_eq!(sent.len(), 100);
    /// let batches: usize = (0..3).map(|p| t.partition(p).unwrap().read(0, 1 << 20).map(|b| topiclog::FileBatches::new(b, 0).count()).unwrap()).sum();
    /// assert!(batches <= 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Partition::append`]: the records of a partition whose append
    /// failed are not written; batches already appended to other partitions stay.
    pub fn send_batch(&self, records: Vec<Record>) -> Result<Vec<SendResult>> {
        self.check_live()?;
        let mut by_partition: BTreeMap<u32, Vec<(usize, Record)>> = BTreeMap::new();
        for (i, record) in records.into_iter().enumerate() {
            by_partition.entry(self.partition_for(&record)).or_default().push((i, record));
        }
        let mut results = Vec::new();
        for (partition, entries) in by_partition {
            let (order, batch): (Vec<usize>, Vec<Record>) = entries.into_iter().unzip();
            let appended = self.partition(partition)?.append(&batch)?;
            for (k, (i, record)) in order.into_iter().zip(&batch).enumerate() {
                let timestamp = if appended.log_append_time >= 0 {
                    appended.log_append_time
                } else {
                    record.timestamp.unwrap_or(appended.max_timestamp)
                };
                results.push((i, SendResult { partition, offset: appended.first_offset + k as i64, timestamp }));
            }
        }
        results.sort_by_key(|(i, _)| *i);
        Ok(results.into_iter().map(|(_, r)| r).collect())
    }

    /// Appends `record` to the partition Kafka's producer would choose: by
    /// the key's murmur2 hash, or by the keyless strategy when it has no key.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] after the topic was deleted; otherwise as [`Partition::append`].
    pub fn send(&self, record: Record) -> Result<SendResult> {
        self.check_live()?;
        self.send_to(self.partition_for(&record), record)
    }

    /// Appends `record` to partition `partition`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownPartition`] when `partition` is not below the partition count;
    /// [`Error::UnknownTopic`] after the topic was deleted; otherwise as [`Partition::append`].
    pub fn send_to(&self, partition: u32, record: Record) -> Result<SendResult> {
        let p = self.partition(partition)?;
        let appended = p.append(std::slice::from_ref(&record))?;
        let timestamp = if appended.log_append_time >= 0 { appended.log_append_time } else { appended.max_timestamp };
        Ok(SendResult { partition, offset: appended.first_offset, timestamp })
    }

    /// Log start, log end, size and segment count of every partition.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the files of a sealed segment not yet open cannot be read to learn its
    /// size (see [`Partition::size`]).
    pub fn describe(&self) -> Result<Vec<PartitionDescription>> {
        self.partitions()
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(PartitionDescription {
                    partition: i as u32,
                    log_start_offset: p.log_start_offset(),
                    log_end_offset: p.log_end_offset(),
                    size: p.size()?,
                    segments: p.segment_count(),
                })
            })
            .collect()
    }

    /// Grows the partition list to `count` (opening the new directories).
    pub(crate) fn grow_to(&self, count: u32) -> Result<()> {
        let mut state = self.inner.state.write();
        let current = state.partitions.len() as u32;
        for p in current..count {
            let partition = open_partition(
                &self.inner.data_dir,
                &self.inner.name,
                p,
                &state.config,
                &self.inner.clock,
                &self.inner.store_lock,
                false, // adding partitions is a write: a read-only store refuses it first
            )?;
            state.partitions.push(partition);
        }
        Ok(())
    }

    /// Applies a new configuration to the live partitions.
    pub(crate) fn apply_config(&self, overrides: BTreeMap<String, String>, config: LogConfig) -> Result<()> {
        let mut state = self.inner.state.write();
        for p in &state.partitions {
            p.set_config(config.clone())?;
        }
        state.overrides = overrides;
        state.config = config;
        Ok(())
    }

    pub(crate) fn set_keyless(&self, strategy: KeylessStrategy) {
        self.inner.state.write().keyless = strategy;
        self.inner.partitioner.lock().set_strategy(strategy);
    }
}

fn open_partition(
    data_dir: &std::path::Path,
    topic: &str,
    n: u32,
    config: &LogConfig,
    clock: &Arc<dyn Clock>,
    store_lock: &SharedLock,
    read_only: bool,
) -> Result<Partition> {
    let dir = data_dir.join(partition_dir_name(topic, n));
    // A symlinked partition directory would lead writes out of the data directory.
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Symlink { path: dir });
    }
    // A directory without topiclog's state is new, or adopted from Kafka,
    // whose DeleteRecords are remembered in the data directory's checkpoint.
    let known_log_start_offset = if dir.join(crate::partition::STATE_FILE).exists() {
        None
    } else {
        let path = data_dir.join(crate::store::checkpoint::LOG_START_CHECKPOINT);
        crate::store::checkpoint::read(&path)?
            .into_iter()
            .find(|(t, p, _)| t == topic && *p == n)
            .map(|(_, _, offset)| offset)
    };
    let known_first_dirty_offset =
        crate::store::checkpoint::read(&data_dir.join(crate::store::checkpoint::CLEANER_CHECKPOINT))?
            .into_iter()
            .find(|(t, p, _)| t == topic && *p == n)
            .map(|(_, _, offset)| offset);
    let options = PartitionOptions {
        config: config.clone(),
        clock: clock.clone(),
        known_log_start_offset,
        known_first_dirty_offset,
        read_only,
    };
    let partition = Partition::open_with(dir, options)?;
    partition.hold_store_lock(store_lock.clone());
    Ok(partition)
}
