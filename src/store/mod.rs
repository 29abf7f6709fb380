//! [`Store`]: a data directory of topics, as a Kafka broker's `log.dirs`
//! entry: store-wide defaults with per-topic overrides, an exclusive lock,
//! Kafka's offset checkpoints, and background maintenance (retention, timed
//! flush, delayed file deletion, checkpoints).
//!
//! Metadata changes (creating, deleting and growing topics, changing their
//! configuration) are serialized: each reads, writes and applies a topic's
//! metadata as one step.

pub(crate) mod checkpoint;
mod config;
mod maintenance;
mod metadata;
pub(crate) mod names;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

pub use config::{ConfigEntry, ConfigSource, StoreConfig};
use maintenance::Maintenance;
pub use maintenance::{MaintenanceError, MaintenanceReport, MaintenanceTask};
use metadata::{META_DIR, TopicMeta, meta_path};
use names::{parse_partition_dir_name, partition_dir_name, validate_topic_name};

use crate::dirlock::{DirLock, SharedLock};
use crate::error::{Error, Result};
use crate::partitioner::KeylessStrategy;
use crate::topic::{Topic, TopicConfig, TopicHome};

/// Suffix of partition directories of a deleted topic, awaiting removal.
const DELETE_SUFFIX: &str = "-delete";
/// Longest file name most file systems accept, in bytes.
const MAX_FILE_NAME_LEN: usize = 255;
/// Most partitions a topic can have. With it, the directory of any
/// partition of a topic with the longest name Kafka allows (249 characters,
/// then `-99999`) fits in a 255-byte file name. Larger counts are refused by
/// [`Store::create_topic`] and [`Store::add_partitions`], and a metadata file
/// claiming one is reported as corrupt.
pub(crate) const MAX_PARTITIONS: u32 = 100_000;

/// What the store's threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub config: StoreConfig,
    pub topics: RwLock<BTreeMap<String, Topic>>,
    /// Held across each metadata change's read, write and apply.
    pub metadata: Mutex<()>,
    /// Consumer groups' committed offsets, read from `__consumer_offsets` on first use.
    pub committed: Mutex<Option<crate::clients::Committed>>,
    /// Consumer groups' live members (in memory only).
    pub groups: crate::clients::Groups,
    /// Opened with [`Store::open_read_only`]: nothing may change a file.
    pub read_only: bool,
}

impl Shared {
    /// What a topic of this store shares with it.
    fn home(&self, lock: &SharedLock) -> TopicHome {
        TopicHome {
            data_dir: self.dir.clone(),
            clock: self.config.clock_handle(),
            store_lock: lock.clone(),
            read_only: self.read_only,
        }
    }
}

/// A data directory of topics. Open it once: a second open of the same
/// directory, from this process or another, fails with [`Error::Locked`].
///
/// The directory stays locked for as long as the store or any [`Topic`] or
/// [`crate::Partition`] handle taken from it lives, so no second store can
/// assign offsets a live handle also assigns. [`Store::close`] closes every
/// partition (old handles then return [`Error::Closed`]) and releases the
/// directory at once. Dropping the store without `close` stops its
/// maintenance and flushes every partition and the checkpoints as far as it
/// can, ignoring errors; the lock is then released when the last handle goes.
///
/// ```
/// use topiclog::{Record, Store, StoreConfig, TopicConfig};
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreConfig::new())?;
/// let orders = store.create_topic("orders", 3, TopicConfig::new().retention_ms(7 * 24 * 3600 * 1000))?;
/// let at = orders.send(Record::new().key("han").value("iphone"))?;
/// assert_eq!(at.partition, 1); // where Kafka's default partitioner puts "han" among 3
/// store.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Store {
    pub(crate) shared: Arc<Shared>,
    maintenance: Option<Maintenance>,
    /// Shared with every topic and partition handle.
    pub(crate) lock: SharedLock,
    /// `close` ran: dropping has nothing left to do.
    closed: bool,
}

impl Store {
    /// Most partitions a topic can have: with it, the directory name of any
    /// partition of a topic with the longest name Kafka allows fits in the
    /// 255 bytes most file systems accept.
    pub const MAX_PARTITIONS: u32 = MAX_PARTITIONS;

    /// Opens (creating if needed) the data directory `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] when the directory is already open, in this process or another;
    /// [`Error::InvalidConfig`] when `config` does not give a valid topic configuration, or a
    /// topic's stored overrides are no longer valid; [`Error::CorruptTopicMetadata`] when a topic's
    /// metadata file cannot be parsed; [`Error::CorruptCheckpoint`] when one of Kafka's checkpoint
    /// files cannot be parsed; [`Error::InvalidPartitionCount`] when an adopted partition
    /// directory's number is not below [`Store::MAX_PARTITIONS`]; [`Error::Symlink`] when a
    /// partition directory, segment file, state file, checkpoint, the `topiclog-meta` directory or
    /// a topic's metadata file is a symbolic link; any error of opening a partition
    /// ([`Partition::open_with`](crate::Partition::open_with)), such as [`Error::CorruptState`];
    /// [`Error::Io`] when creating, listing, reading or writing the directory's files fails.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        crate::faults::check(crate::faults::Op::Create, &dir)
            .and_then(|()| std::fs::create_dir_all(&dir))
            .map_err(|e| Error::io("create directory", &dir, e))?;
        let lock = SharedLock::new(DirLock::acquire(&dir)?);
        Self::open_locked(dir, config, lock, false)
    }

    /// Opens the existing data directory `dir` to read it, changing no file:
    /// no recovery cut (what recovery would cut is reported and left out),
    /// no state or checkpoint written, no leftover removed, no background
    /// maintenance. Every call that would write — appends, topic and config
    /// changes, commits, flushes — returns [`Error::ReadOnly`]. Other
    /// processes' read-only opens share the directory; a read-write open
    /// excludes them (and they it). For inspection: the `topiclog` tool's
    /// `--describe`, `--list` and `get-offsets` use it. A compaction that a
    /// crash interrupted mid-swap is read as the next read-write open will
    /// complete it (the cleaned segment in place of the ones it replaces),
    /// without renaming anything.
    ///
    /// ```
    /// use topiclog::{Error, Record, Store, StoreConfig, TopicConfig};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), StoreConfig::new())?;
    /// store.create_topic("t", 1, TopicConfig::new())?.send(Record::new().value("v"))?;
    /// store.close()?;
    ///
    /// let reader = Store::open_read_only(dir.path(), StoreConfig::new())?;
    /// let t = reader.existing_topic("t")?;
    /// assert_eq!(t.partition(0)?.log_end_offset(), 1);
    /// assert!(matches!(t.send(Record::new().value("w")), Err(Error::ReadOnly { .. })));
    /// reader.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `dir` does not exist or cannot be read;
    /// [`Error::Locked`] while a read-write open holds it (or this process
    /// has it open); [`Error::ReadOnly`] for a partition directory with no
    /// segment (read-only opens create none); otherwise as [`Store::open`].
    pub fn open_read_only(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such data directory");
            return Err(Error::io("open directory", &dir, missing));
        }
        let lock = SharedLock::new(DirLock::acquire_read_only(&dir)?);
        Self::open_locked(dir, config.maintenance(false), lock, true)
    }

    fn open_locked(dir: PathBuf, config: StoreConfig, lock: SharedLock, read_only: bool) -> Result<Self> {
        config.validate()?;
        let shared = Arc::new(Shared {
            dir,
            config,
            topics: RwLock::new(BTreeMap::new()),
            metadata: Mutex::new(()),
            committed: Mutex::new(None),
            groups: crate::clients::Groups::default(),
            read_only,
        });
        load_topics(&shared, &lock)?;
        let maintenance = shared.config.maintenance_enabled().then(|| Maintenance::start(shared.clone()));
        Ok(Self { shared, maintenance, lock, closed: false })
    }

    /// Whether the store was opened with [`Store::open_read_only`].
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.shared.read_only
    }

    /// [`Error::ReadOnly`] for a store opened read-only.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.shared.read_only {
            return Err(Error::ReadOnly { path: self.shared.dir.clone() });
        }
        Ok(())
    }

    /// The data directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The store-wide configuration.
    #[must_use]
    pub fn config(&self) -> &StoreConfig {
        &self.shared.config
    }

    /// Creates topic `name` with `partitions` partitions (0 means
    /// `num.partitions`) and the given overrides.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTopicName`] for a name Kafka would refuse; [`Error::InvalidPartitionCount`]
    /// for more than [`Store::MAX_PARTITIONS`] partitions; [`Error::InvalidConfig`] for an unknown
    /// override key or an invalid value; [`Error::TopicExists`] when the topic exists already;
    /// [`Error::Symlink`] when a partition directory is a symbolic link;
    /// [`Error::CorruptCheckpoint`] when a checkpoint file read for an adopted directory cannot be
    /// parsed; [`Error::Io`] when writing the metadata or creating the partitions' files fails.
    pub fn create_topic(&self, name: &str, partitions: u32, overrides: TopicConfig) -> Result<Topic> {
        self.check_writable()?;
        validate_topic_name(name)?;
        let partitions = if partitions == 0 { self.shared.config.default_partitions() } else { partitions };
        if partitions > MAX_PARTITIONS {
            return Err(Error::InvalidPartitionCount { topic: name.to_string(), current: 0, requested: partitions });
        }
        let overrides = overrides.into_map();
        let (config, _) = self.shared.config.resolve(&overrides)?;
        let _metadata = self.shared.metadata.lock();
        let mut topics = self.shared.topics.write();
        if topics.contains_key(name) || meta_path(&self.shared.dir, name).exists() {
            return Err(Error::TopicExists { name: name.to_string() });
        }
        // The metadata file is the commit point: a crash before it leaves
        // nothing; after it, a topic whose missing partition directories are
        // created on the next open.
        let meta = TopicMeta {
            partitions,
            keyless: KeylessStrategy::default(),
            overrides: overrides.clone(),
            deleting: false,
        };
        meta.write(&self.shared.dir, name)?;
        let topic = match Topic::open(self.shared.home(&self.lock), name, partitions, overrides, config, meta.keyless) {
            Ok(topic) => topic,
            Err(e) => {
                // Undo the commit point, so that the create can be retried
                // in this process (with the metadata left, a retry would
                // find the topic existing but not open). Best effort: if
                // the removal fails too, the next open creates the topic.
                let path = meta_path(&self.shared.dir, name);
                if crate::fsutil::remove_file_if_present(&path).is_ok()
                    && let Some(dir) = path.parent()
                {
                    let _ = crate::fsutil::sync_dir(dir);
                }
                return Err(e);
            }
        };
        topics.insert(name.to_string(), topic.clone());
        Ok(topic)
    }

    /// The topic `name`; with `auto.create.topics.enable` (the default) a
    /// missing topic is created with `num.partitions` partitions.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] when there is no such topic and `auto.create.topics.enable` is off;
    /// otherwise the errors of [`Store::create_topic`] when creating it fails.
    pub fn topic(&self, name: &str) -> Result<Topic> {
        if let Some(t) = self.shared.topics.read().get(name) {
            return Ok(t.clone());
        }
        if self.shared.config.auto_create_topics() && !self.shared.read_only {
            match self.create_topic(name, 0, TopicConfig::new()) {
                Err(Error::TopicExists { .. }) => {}
                other => return other,
            }
        }
        self.existing_topic(name)
    }

    /// The topic `name`, never creating it.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] when there is no such topic.
    pub fn existing_topic(&self, name: &str) -> Result<Topic> {
        self.shared.topics.read().get(name).cloned().ok_or_else(|| Error::UnknownTopic { name: name.to_string() })
    }

    /// Names of all topics, sorted, without the store's internal topics
    /// (`__consumer_offsets`; see [`Store::all_topics`]).
    #[must_use]
    pub fn topics(&self) -> Vec<String> {
        self.all_topics().into_iter().filter(|t| !crate::clients::INTERNAL_TOPICS.contains(&t.as_str())).collect()
    }

    /// Names of all topics, internal ones included, sorted.
    #[must_use]
    pub fn all_topics(&self) -> Vec<String> {
        self.shared.topics.read().keys().cloned().collect()
    }

    /// Deletes topic `name`: its partition directories are renamed at once
    /// and removed by the background maintenance.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] when there is no such topic; [`Error::Io`] when writing its metadata
    /// or renaming its partition directories fails (a partition that cannot be closed cleanly is
    /// abandoned, not reported).
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.check_writable()?;
        let _metadata = self.shared.metadata.lock();
        let topic = self.existing_topic(name)?;
        let mut meta = self.meta(&topic);
        meta.deleting = true;
        meta.write(&self.shared.dir, name)?;
        self.shared.topics.write().remove(name);
        topic.inner.deleted.store(true, std::sync::atomic::Ordering::Release);
        for p in topic.partitions() {
            if p.close().is_err() {
                // Its files go anyway; its directory must not stay locked.
                p.abandon();
            }
        }
        finish_deletion(&self.shared.dir, name, meta.partitions)
    }

    fn meta(&self, topic: &Topic) -> TopicMeta {
        TopicMeta {
            partitions: topic.partition_count(),
            keyless: topic.keyless_strategy(),
            overrides: topic.overrides(),
            deleting: false,
        }
    }

    /// Grows topic `name` to `count` partitions; a count that does not grow
    /// it is an error, as in Kafka.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] when there is no such topic; [`Error::InvalidPartitionCount`] when
    /// `count` does not grow the topic or passes [`Store::MAX_PARTITIONS`]; [`Error::Symlink`] when
    /// a new partition directory is a symbolic link; [`Error::Io`] when writing the metadata or
    /// creating the new partitions fails.
    pub fn add_partitions(&self, name: &str, count: u32) -> Result<()> {
        self.check_writable()?;
        let _metadata = self.shared.metadata.lock();
        let topic = self.existing_topic(name)?;
        let current = topic.partition_count();
        if count <= current || count > MAX_PARTITIONS {
            return Err(Error::InvalidPartitionCount { topic: name.to_string(), current, requested: count });
        }
        let mut meta = self.meta(&topic);
        meta.partitions = count;
        meta.write(&self.shared.dir, name)?;
        topic.grow_to(count)
    }

    /// Sets override `key` = `value` on topic `name`: validated, applied to
    /// the live partitions, persisted.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] when there is no such topic; [`Error::InvalidConfig`] for an unknown
    /// key or an invalid value (nothing changes); [`Error::Io`] when writing the topic's metadata
    /// fails.
    pub fn set_topic_config(&self, name: &str, key: &str, value: &str) -> Result<()> {
        self.check_writable()?;
        let _metadata = self.shared.metadata.lock();
        let topic = self.existing_topic(name)?;
        let mut overrides = topic.overrides();
        overrides.insert(key.to_string(), value.to_string());
        self.apply_overrides(&topic, overrides)
    }

    /// Removes override `key` from topic `name` (the store or Kafka default applies again).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] when there is no such topic; [`Error::InvalidConfig`] when the
    /// remaining settings are inconsistent without this override (for example
    /// `min.compaction.lag.ms` above `max.compaction.lag.ms`); [`Error::Io`] when writing the
    /// topic's metadata fails.
    pub fn delete_topic_config(&self, name: &str, key: &str) -> Result<()> {
        self.check_writable()?;
        let _metadata = self.shared.metadata.lock();
        let topic = self.existing_topic(name)?;
        let mut overrides = topic.overrides();
        overrides.remove(key);
        self.apply_overrides(&topic, overrides)
    }

    /// Persists and applies `overrides`; the caller holds the metadata lock.
    fn apply_overrides(&self, topic: &Topic, overrides: BTreeMap<String, String>) -> Result<()> {
        let (config, _) = self.shared.config.resolve(&overrides)?;
        let meta = TopicMeta { overrides: overrides.clone(), ..self.meta(topic) };
        meta.write(&self.shared.dir, topic.name())?;
        topic.apply_config(overrides, config)
    }

    /// Sets how topic `name` spreads records without a key; persisted.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] when there is no such topic; [`Error::Io`] when writing the topic's
    /// metadata fails.
    pub fn set_keyless_strategy(&self, name: &str, strategy: KeylessStrategy) -> Result<()> {
        self.check_writable()?;
        let _metadata = self.shared.metadata.lock();
        let topic = self.existing_topic(name)?;
        let meta = TopicMeta { keyless: strategy, ..self.meta(&topic) };
        meta.write(&self.shared.dir, name)?;
        topic.set_keyless(strategy);
        Ok(())
    }

    /// Every topic-level key of topic `name` with its value and its source
    /// (Kafka default, store setting, or topic override).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] when there is no such topic; [`Error::InvalidConfig`] when its
    /// stored overrides are not a valid configuration.
    pub fn describe_configs(&self, name: &str) -> Result<Vec<ConfigEntry>> {
        let topic = self.existing_topic(name)?;
        Ok(self.shared.config.resolve(&topic.overrides())?.1)
    }

    /// Runs one maintenance pass now, in this thread: retention, timed
    /// flushes, delayed deletions, cleaning of compacted topics that are
    /// due, expiry of committed offsets, checkpoints.
    #[allow(clippy::must_use_candidate, reason = "a caller may run a pass only for its effects")]
    pub fn run_maintenance(&self) -> MaintenanceReport {
        if self.shared.read_only {
            return MaintenanceReport::default();
        }
        maintenance::pass(&self.shared, &mut maintenance::Schedule::due_now())
    }

    /// Wakes the background maintenance thread and waits until it has
    /// completed a pass that started after this call. False on timeout or
    /// when maintenance is off.
    #[allow(clippy::must_use_candidate, reason = "a caller may wait without caring whether the pass came")]
    pub fn wait_for_maintenance(&self, timeout: Duration) -> bool {
        self.maintenance.as_ref().is_some_and(|m| m.wait_for_pass(timeout))
    }

    /// What the background maintenance did most recently, errors included.
    pub fn last_maintenance_report(&self) -> Option<MaintenanceReport> {
        self.maintenance.as_ref().and_then(Maintenance::last_report)
    }

    /// Stops maintenance, flushes and closes every partition (a clean
    /// shutdown: the next open scans nothing), writes the checkpoints and
    /// releases the directory, even while old handles live (they return
    /// [`Error::Closed`]). After an error the directory stays locked until
    /// the last handle is dropped.
    ///
    /// # Errors
    ///
    /// The first error of closing a partition ([`Error::Poisoned`] after an earlier I/O failure,
    /// [`Error::Io`] when a flush or state write fails) or of writing the checkpoints
    /// ([`Error::Io`]); every partition is still closed.
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        if let Some(m) = self.maintenance.take() {
            m.stop();
        }
        let topics: Vec<Topic> = self.shared.topics.read().values().cloned().collect();
        let mut first_error = None;
        for topic in &topics {
            for p in topic.partitions() {
                if let Err(e) = p.close() {
                    first_error.get_or_insert(e);
                }
            }
        }
        if !self.shared.read_only
            && let Err(e) = maintenance::write_checkpoints(&self.shared)
        {
            first_error.get_or_insert(e);
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                self.lock.release();
                Ok(())
            }
        }
    }
}

impl Drop for Store {
    /// Without `close`: stops maintenance and flushes what it can; the lock
    /// stays with the handles still alive (see [`Store`]).
    fn drop(&mut self) {
        if let Some(m) = self.maintenance.take() {
            m.stop();
        }
        if self.closed || self.shared.read_only {
            return;
        }
        let topics: Vec<Topic> = self.shared.topics.read().values().cloned().collect();
        for p in topics.iter().flat_map(Topic::partitions) {
            let _ = p.flush();
        }
        let _ = maintenance::write_checkpoints(&self.shared);
    }
}

/// Loads the topics of the data directory: finishes interrupted deletions,
/// and adopts partition directories with no metadata (a directory written by
/// Kafka, or a topic whose creation was cut short) as topics with defaults.
fn load_topics(shared: &Shared, lock: &SharedLock) -> Result<()> {
    let dir = &shared.dir;
    if !shared.read_only {
        remove_leftover_temp_files(dir)?;
    }
    // Kafka's checkpoints are read only for directories adopted without a
    // state file, but a damaged or linked one is refused at open, before
    // anything relies on it or a checkpoint write replaces the evidence.
    for name in
        [checkpoint::RECOVERY_POINT_CHECKPOINT, checkpoint::LOG_START_CHECKPOINT, checkpoint::CLEANER_CHECKPOINT]
    {
        checkpoint::read(&dir.join(name))?;
    }
    let mut known = BTreeMap::new();
    for (name, path) in TopicMeta::list(dir, !shared.read_only)? {
        let meta = TopicMeta::read(&path)?;
        if meta.deleting {
            if !shared.read_only {
                finish_deletion(dir, &name, meta.partitions)?;
            }
        } else {
            known.insert(name, meta);
        }
    }
    let mut adopted: BTreeMap<String, u32> = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list directory", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.path().is_dir() || name == META_DIR || name.ends_with(DELETE_SUFFIX) {
            continue;
        }
        if let Some((topic, p)) = parse_partition_dir_name(&name)
            && validate_topic_name(topic).is_ok()
            && !known.contains_key(topic)
        {
            if p >= MAX_PARTITIONS {
                return Err(Error::InvalidPartitionCount {
                    topic: topic.to_string(),
                    current: 0,
                    requested: p.saturating_add(1),
                });
            }
            let count = adopted.entry(topic.to_string()).or_insert(0);
            *count = (*count).max(p + 1);
        }
    }
    for (name, partitions) in adopted {
        let meta =
            TopicMeta { partitions, keyless: KeylessStrategy::default(), overrides: BTreeMap::new(), deleting: false };
        if !shared.read_only {
            meta.write(dir, &name)?;
        }
        known.insert(name, meta);
    }
    let mut topics = shared.topics.write();
    for (name, meta) in known {
        let (config, _) = shared.config.resolve(&meta.overrides)?;
        let topic = Topic::open(shared.home(lock), &name, meta.partitions, meta.overrides, config, meta.keyless)?;
        topics.insert(name, topic);
    }
    Ok(())
}

/// Removes temporary files of atomic writes cut short by a crash from the
/// data directory's root (the checkpoints); the previous versions stand.
fn remove_leftover_temp_files(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list directory", dir, e))?;
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && entry.file_name().to_string_lossy().ends_with(crate::fsutil::TEMP_SUFFIX) {
            crate::fsutil::remove_file_if_present(&entry.path())?;
        }
    }
    Ok(())
}

/// Renames a deleted topic's partition directories to `…-delete` (removed by
/// maintenance), then removes its metadata file.
fn finish_deletion(dir: &Path, name: &str, partitions: u32) -> Result<()> {
    for p in 0..partitions {
        let from = dir.join(partition_dir_name(name, p));
        if from.exists() {
            let to = dir.join(deleted_dir_name(name, p, unique()));
            crate::fsutil::rename(&from, &to, "rename for deletion")?;
        }
    }
    crate::fsutil::sync_dir(dir)?;
    // Before the metadata file goes (a crash until then finishes the
    // deletion on the next open): a topic created again under this name
    // must not take the deleted topic's log start or first dirty offset.
    for file in
        [checkpoint::LOG_START_CHECKPOINT, checkpoint::CLEANER_CHECKPOINT, checkpoint::RECOVERY_POINT_CHECKPOINT]
    {
        checkpoint::forget_topic(&dir.join(file), name)?;
    }
    let meta = meta_path(dir, name);
    crate::fsutil::note(crate::fsutil::FsEvent::Remove(&meta));
    crate::faults::check(crate::faults::Op::Remove, &meta)
        .and_then(|()| std::fs::remove_file(&meta))
        .map_err(|e| Error::io("remove", &meta, e))
}

/// `<topic>-<partition>.<16 hex digits>-delete`, the topic cut short (as
/// Kafka does) so that the name fits in 255 bytes. Topic names are ASCII.
fn deleted_dir_name(topic: &str, partition: u32, unique: u64) -> String {
    let tail = format!("-{partition}.{unique:016x}{DELETE_SUFFIX}");
    let keep = MAX_FILE_NAME_LEN.saturating_sub(tail.len());
    let topic = topic.get(..keep).unwrap_or(topic);
    format!("{topic}{tail}")
}

/// A value unlikely to repeat, for directory names.
fn unique() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

/// Removes directories of deleted topics.
pub(crate) fn remove_deleted_dirs(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list directory", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // The entry's own type: a link named like a deleted directory is not ours.
        if name.ends_with(DELETE_SUFFIX) && entry.file_type().is_ok_and(|t| t.is_dir()) {
            crate::fsutil::remove_dir_all(&entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_and_partition_dir_names_fit_in_255_bytes() {
        let long = "x".repeat(names::MAX_TOPIC_NAME_LEN);
        let name = deleted_dir_name(&long, MAX_PARTITIONS - 1, u64::MAX);
        assert_eq!(name.len(), MAX_FILE_NAME_LEN);
        assert!(name.ends_with("-99999.ffffffffffffffff-delete"), "{name}");
        assert_eq!(deleted_dir_name("orders", 2, 0xab), "orders-2.00000000000000ab-delete");
        // The longest partition directory fits too.
        assert_eq!(partition_dir_name(&long, MAX_PARTITIONS - 1).len(), MAX_FILE_NAME_LEN);
    }
}
