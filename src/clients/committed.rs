//! Committed offsets of consumer groups, kept as Kafka keeps them: records
//! of the compacted internal topic `__consumer_offsets` (see
//! [`super::offsets_codec`]), one batch per commit on the group's
//! partition, flushed before the commit returns. Read into memory on first
//! use; the cleaner keeps the topic to the latest commit per key.

use std::collections::BTreeMap;

use super::offsets_codec::{OffsetKey, OffsetValue, partition_for_group};
use crate::config::CleanupPolicy;
use crate::error::{Error, Result};
use crate::format::Record;
use crate::store::{Shared, Store};
use crate::topic::{Topic, TopicConfig};

/// The internal topic of committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Topics the store keeps for itself, hidden from [`Store::topics`].
pub const INTERNAL_TOPICS: &[&str] = &[OFFSETS_TOPIC];

/// Kafka's `offsets.topic.segment.bytes` default.
const OFFSETS_SEGMENT_BYTES: &str = "104857600";

/// Every committed offset, by (group, topic, partition).
pub(crate) type Committed = BTreeMap<OffsetKey, OffsetValue>;

/// A partition of a group's view: committed offset, log end, lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPartitionOffsets {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The committed offset, if any.
    pub committed: Option<i64>,
    /// The partition's log end offset.
    pub log_end_offset: i64,
    /// `log_end_offset - committed`, or `None` when nothing is committed
    /// (Kafka prints "-").
    pub lag: Option<i64>,
    /// The member reading the partition now, if any (Kafka's CONSUMER-ID).
    pub member: Option<String>,
}

/// Where [`Store::reset_consumer_group_offsets`] moves a group's offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// This offset (clamped into the log).
    To(i64),
    /// The first offset whose record has a timestamp at or after this (ms);
    /// the log end when there is none.
    ToTimestamp(i64),
    /// The committed offset (the log start if none) moved by this many (clamped).
    ShiftBy(i64),
}

impl Store {
    /// The internal `__consumer_offsets` topic, created (compacted, with
    /// `offsets.topic.num.partitions` partitions) on first use.
    pub(crate) fn offsets_topic(&self) -> Result<Topic> {
        match self.existing_topic(OFFSETS_TOPIC) {
            Ok(t) => Ok(t),
            Err(Error::UnknownTopic { .. }) => {
                let overrides = TopicConfig::new()
                    .cleanup_policy(CleanupPolicy::Compact)
                    .put("segment.bytes", OFFSETS_SEGMENT_BYTES.to_string());
                match self.create_topic(OFFSETS_TOPIC, self.config().offsets_topic_partitions(), overrides) {
                    Err(Error::TopicExists { .. }) => self.existing_topic(OFFSETS_TOPIC),
                    other => other,
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Runs `f` on the committed offsets, reading them from the topic first if needed.
    pub(crate) fn with_committed<T>(&self, f: impl FnOnce(&mut Committed, &Topic) -> Result<T>) -> Result<T> {
        with_committed(&self.shared, &self.offsets_topic()?, f)
    }

    /// Runs `f` on the committed offsets without creating `__consumer_offsets`:
    /// a store that never committed (or one opened read-only) has none.
    fn read_committed<T>(&self, f: impl FnOnce(&Committed) -> T) -> Result<T> {
        match self.existing_topic(OFFSETS_TOPIC) {
            Ok(topic) => with_committed(&self.shared, &topic, |committed, _| Ok(f(committed))),
            Err(Error::UnknownTopic { .. }) => Ok(f(&Committed::new())),
            Err(e) => Err(e),
        }
    }

    /// Commits `offsets` — (topic, partition, offset of the next record to
    /// consume) — for `group`, as one batch of Kafka offset-commit records,
    /// durable when this returns.
    ///
    /// ```
    /// use topiclog::{Store, StoreConfig};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), StoreConfig::new())?;
    /// store.commit_offsets("billing", &[("orders".to_string(), 0, 42)])?;
    /// assert_eq!(store.committed_offset("billing", "orders", 0)?, Some(42));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for an empty group id or a name too long for
    /// Kafka's schema; [`Error::InvalidOffset`] for a negative offset; errors
    /// of appending to and flushing `__consumer_offsets`.
    pub fn commit_offsets(&self, group: &str, offsets: &[(String, u32, i64)]) -> Result<()> {
        check_group(group)?;
        commit(&self.shared, &self.offsets_topic()?, group, offsets)
    }

    /// The offset `group` committed for `topic`/`partition`, if any.
    ///
    /// # Errors
    ///
    /// Errors of reading `__consumer_offsets` on first use.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: u32) -> Result<Option<i64>> {
        let key = OffsetKey { group: group.to_string(), topic: topic.to_string(), partition };
        self.read_committed(|committed| committed.get(&key).map(|v| v.offset))
    }

    /// Groups with committed offsets or live members, sorted.
    ///
    /// # Errors
    ///
    /// Errors of reading `__consumer_offsets` on first use.
    pub fn consumer_groups(&self) -> Result<Vec<String>> {
        let mut groups: Vec<String> =
            self.read_committed(|committed| committed.keys().map(|k| k.group.clone()).collect())?;
        groups.extend(self.shared.groups.names());
        groups.sort();
        groups.dedup();
        Ok(groups)
    }

    /// Each partition `group` committed an offset for: the offset, the log
    /// end offset and the lag.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`] when the group has no committed offset.
    pub fn describe_consumer_group(&self, group: &str) -> Result<Vec<GroupPartitionOffsets>> {
        let mut entries: BTreeMap<(String, u32), Option<i64>> = self.read_committed(|committed| {
            committed
                .iter()
                .filter(|(k, _)| k.group == group)
                .map(|(k, v)| ((k.topic.clone(), k.partition), Some(v.offset)))
                .collect()
        })?;
        let mut owners = BTreeMap::new();
        for (member, partitions) in self.shared.groups.members(group) {
            for tp in partitions {
                entries.entry((tp.topic.clone(), tp.partition)).or_insert(None);
                owners.insert((tp.topic, tp.partition), member.clone());
            }
        }
        if entries.is_empty() {
            return Err(Error::UnknownGroup { group: group.to_string() });
        }
        let mut out = Vec::new();
        for ((topic, partition), offset) in entries {
            let log_end_offset = match self.existing_topic(&topic).and_then(|t| t.partition(partition)) {
                Ok(p) => p.log_end_offset(),
                Err(_) => continue, // the topic was deleted since
            };
            let member = owners.get(&(topic.clone(), partition)).cloned();
            out.push(GroupPartitionOffsets {
                topic,
                partition,
                committed: offset,
                log_end_offset,
                lag: offset.map(|o| log_end_offset.saturating_sub(o).max(0)),
                member,
            });
        }
        Ok(out)
    }

    /// Deletes every committed offset of `group` (tombstones, flushed).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`] when the group has no committed offset.
    pub fn delete_consumer_group(&self, group: &str) -> Result<()> {
        check_group(group)?;
        if self.shared.groups.has_members(group) {
            return Err(Error::GroupHasMembers { group: group.to_string() });
        }
        self.with_committed(|committed, topic| {
            let keys: Vec<OffsetKey> = committed.keys().filter(|k| k.group == group).cloned().collect();
            if keys.is_empty() {
                return Err(Error::UnknownGroup { group: group.to_string() });
            }
            let records = keys.iter().map(|k| Ok(Record::new().key(k.encode()?))).collect::<Result<Vec<_>>>()?;
            let p = topic.partition(partition_for_group(group, topic.partition_count()))?;
            p.append(&records)?;
            p.flush()?;
            for k in keys {
                committed.remove(&k);
            }
            Ok(())
        })
    }

    /// Expires committed offsets as Kafka's group coordinator does
    /// (`offsets.retention.minutes`, default 7 days): an offset of a group
    /// with no live members goes once the retention has passed, by the
    /// store's clock, since the later of its commit (the commit timestamp
    /// in its `OffsetCommitValue`) and the moment the group lost its last
    /// member (Kafka's "since the group became empty"; known only for
    /// groups that had members in this process, since members are not kept
    /// across a restart). Offsets of groups with live members are kept,
    /// however old. Each expired offset gets a tombstone in
    /// `__consumer_offsets` (flushed; the cleaner then removes the commit)
    /// and is forgotten at once. Returns the expired (group, topic,
    /// partition). The background maintenance runs this every
    /// `offsets.retention.check.interval.ms`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use topiclog::ManualClock;
    /// use topiclog::{Store, StoreConfig};
    /// let dir = tempfile::tempdir()?;
    /// let clock = ManualClock::new(1_000);
    /// let config = StoreConfig::new().set("offsets.retention.minutes", "60")?.clock(Arc::new(clock.clone()));
    /// let store = Store::open(dir.path(), config)?;
    /// store.commit_offsets("billing", &[("orders".to_string(), 0, 42)])?;
    /// clock.advance(60 * 60_000);
    /// assert_eq!(store.expire_committed_offsets()?, [("billing".into(), "orders".into(), 0)]);
    /// assert_eq!(store.committed_offset("billing", "orders", 0)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Errors of reading `__consumer_offsets` on first use, and of appending
    /// and flushing the tombstones (offsets whose tombstones were written
    /// before the error are expired).
    pub fn expire_committed_offsets(&self) -> Result<Vec<(String, String, u32)>> {
        match self.existing_topic(OFFSETS_TOPIC) {
            Ok(topic) => expire(&self.shared, &topic),
            Err(Error::UnknownTopic { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Moves `group`'s offsets on every partition of `topic` to `to`, and
    /// returns (partition, new offset). With `execute` false nothing is
    /// written (a dry run).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`]; errors of reading the log for a timestamp;
    /// errors of committing.
    pub fn reset_consumer_group_offsets(
        &self,
        group: &str,
        topic: &str,
        to: OffsetReset,
        execute: bool,
    ) -> Result<Vec<(u32, i64)>> {
        check_group(group)?;
        if self.shared.groups.has_members(group) {
            return Err(Error::GroupHasMembers { group: group.to_string() });
        }
        let t = self.existing_topic(topic)?;
        let mut planned = Vec::new();
        for (i, p) in t.partitions().iter().enumerate() {
            let (start, end) = (p.log_start_offset(), p.log_end_offset());
            let offset = match to {
                OffsetReset::Earliest => start,
                OffsetReset::Latest => end,
                OffsetReset::To(o) => o.clamp(start, end),
                OffsetReset::ToTimestamp(ts) => p.offset_for_timestamp(ts)?.map_or(end, |t| t.offset),
                OffsetReset::ShiftBy(n) => {
                    let current = self.committed_offset(group, topic, i as u32)?.unwrap_or(start);
                    current.saturating_add(n).clamp(start, end)
                }
            };
            planned.push((i as u32, offset));
        }
        if execute {
            let offsets: Vec<_> = planned.iter().map(|(p, o)| (topic.to_string(), *p, *o)).collect();
            self.commit_offsets(group, &offsets)?;
        }
        Ok(planned)
    }
}

/// Kafka's offset expiry (`offsets.retention.minutes`) over the store
/// `shared`, whose offsets topic is `topic`: see
/// [`Store::expire_committed_offsets`].
pub(crate) fn expire(shared: &Shared, topic: &Topic) -> Result<Vec<(String, String, u32)>> {
    let now = shared.config.clock_handle().now_ms();
    let retention = shared.config.offsets_retention_ms();
    with_committed(shared, topic, |committed, topic| {
        // Per group: `None` while it has live members, else since when it
        // is empty (if it had members in this process).
        let mut groups: BTreeMap<&str, Option<Option<i64>>> = BTreeMap::new();
        let mut expired: BTreeMap<u32, Vec<OffsetKey>> = BTreeMap::new();
        for (key, value) in committed.iter() {
            let state = *groups.entry(&key.group).or_insert_with(|| {
                (!shared.groups.has_members(&key.group)).then(|| shared.groups.emptied_at(&key.group))
            });
            let Some(emptied_at) = state else { continue };
            let since = emptied_at.map_or(value.commit_timestamp, |e| e.max(value.commit_timestamp));
            if now.saturating_sub(since) >= retention {
                let partition = partition_for_group(&key.group, topic.partition_count());
                expired.entry(partition).or_default().push(key.clone());
            }
        }
        let mut out = Vec::new();
        for (partition, keys) in expired {
            let tombstones = keys.iter().map(|k| Ok(Record::new().key(k.encode()?))).collect::<Result<Vec<_>>>()?;
            let p = topic.partition(partition)?;
            p.append(&tombstones)?;
            p.flush()?;
            for key in keys {
                committed.remove(&key);
                out.push((key.group, key.topic, key.partition));
            }
        }
        Ok(out)
    })
}

/// Runs `f` on the committed offsets of the store `shared`, whose offsets
/// topic is `topic`, reading them first if needed.
pub(crate) fn with_committed<T>(
    shared: &Shared,
    topic: &Topic,
    f: impl FnOnce(&mut Committed, &Topic) -> Result<T>,
) -> Result<T> {
    let mut guard = shared.committed.lock();
    let committed = match guard.as_mut() {
        Some(c) => c,
        None => guard.insert(load(topic)?),
    };
    f(committed, topic)
}

/// Commits `offsets` for `group`: one batch on the group's partition of
/// `topic`, flushed, then published in memory.
pub(crate) fn commit(shared: &Shared, topic: &Topic, group: &str, offsets: &[(String, u32, i64)]) -> Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let now = shared.config.clock_handle().now_ms();
    let mut records = Vec::with_capacity(offsets.len());
    let mut entries = Vec::with_capacity(offsets.len());
    for (t, partition, offset) in offsets {
        if *offset < 0 {
            return Err(Error::InvalidOffset { offset: *offset });
        }
        let key = OffsetKey { group: group.to_string(), topic: t.clone(), partition: *partition };
        let value = OffsetValue { offset: *offset, leader_epoch: -1, metadata: String::new(), commit_timestamp: now };
        records.push(Record::new().key(key.encode()?).value(value.encode()?).timestamp(now));
        entries.push((key, value));
    }
    with_committed(shared, topic, |committed, topic| {
        let p = topic.partition(partition_for_group(group, topic.partition_count()))?;
        p.append(&records)?;
        p.flush()?;
        committed.extend(entries);
        Ok(())
    })
}

/// The offset `group` committed for `t`/`partition`.
pub(crate) fn committed_offset(
    shared: &Shared,
    topic: &Topic,
    group: &str,
    t: &str,
    partition: u32,
) -> Result<Option<i64>> {
    let key = OffsetKey { group: group.to_string(), topic: t.to_string(), partition };
    with_committed(shared, topic, |committed, _| Ok(committed.get(&key).map(|v| v.offset)))
}

fn check_group(group: &str) -> Result<()> {
    if group.is_empty() {
        return Err(Error::InvalidConfig {
            key: "group.id".into(),
            value: String::new(),
            reason: "a group id cannot be empty".into(),
        });
    }
    Ok(())
}

/// Reads every commit of the topic, in log order; tombstones delete.
fn load(topic: &Topic) -> Result<Committed> {
    let mut committed = Committed::new();
    for p in topic.partitions() {
        for record in p.read_from(p.log_start_offset())? {
            let record = record?;
            let Some(key) = record.key().and_then(OffsetKey::decode) else { continue };
            match record.value() {
                None => {
                    committed.remove(&key);
                }
                Some(value) => {
                    if let Some(value) = OffsetValue::decode(value) {
                        committed.insert(key, value);
                    }
                }
            }
        }
    }
    Ok(committed)
}
