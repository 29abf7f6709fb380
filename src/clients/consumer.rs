//! [`Consumer`]: reads the partitions assigned to it, fairly, from committed
//! or chosen positions; commits its positions to its group.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::committed;
use super::serde::Deserializer;
use crate::assignor::{Assignor, TopicPartition, assignors_from_config};
use crate::error::{Error, Result};
use crate::format::ConsumerRecord;
use crate::notify::Notifier;
use crate::partition::{Partition, RecordReader};
use crate::store::{Shared, Store};
use crate::topic::Topic;

/// `auto.offset.reset`: where a consumer starts in a partition without a
/// committed offset, or whose position fell out of the log (retention or
/// delete-records moved the log start past it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoOffsetReset {
    /// The log start offset.
    Earliest,
    /// The log end offset (Kafka's default): only records written from now on.
    #[default]
    Latest,
    /// No reset: polling fails with [`Error::OffsetOutOfRange`].
    None,
}

/// A consumer's settings, with Kafka's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    group_id: Option<String>,
    group_instance_id: Option<String>,
    assignment_strategy: String,
    max_poll_interval_ms: i64,
    session_timeout_ms: i64,
    auto_offset_reset: AutoOffsetReset,
    enable_auto_commit: bool,
    auto_commit_interval_ms: i64,
    max_poll_records: usize,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            group_id: None,
            group_instance_id: None,
            assignment_strategy: "range".into(),
            max_poll_interval_ms: 300_000,
            session_timeout_ms: 45_000,
            auto_offset_reset: AutoOffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval_ms: 5_000,
            max_poll_records: 500,
        }
    }
}

impl ConsumerConfig {
    /// Kafka's defaults: no group, `auto.offset.reset=latest`, auto-commit
    /// every 5 s (when there is a group), at most 500 records per poll.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `group.id`: the group whose committed offsets the consumer starts
    /// from and commits to.
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.group_id = Some(group.into());
        self
    }

    /// `group.instance.id`: a static member, which keeps its partitions
    /// across a leave and rejoin within `session.timeout.ms`.
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }

    /// `partition.assignment.strategy`: `range` (default), `roundrobin`,
    /// `sticky` or `cooperative-sticky` (the first of a list is used).
    pub fn partition_assignment_strategy(mut self, name: impl Into<String>) -> Self {
        self.assignment_strategy = name.into();
        self
    }

    /// `max.poll.interval.ms` (default 300000): a subscribed member that
    /// does not poll for longer leaves the group, by the store's clock.
    #[must_use]
    pub fn max_poll_interval_ms(mut self, ms: i64) -> Self {
        self.max_poll_interval_ms = ms;
        self
    }

    /// `session.timeout.ms` (default 45000): how long a static member that
    /// left keeps its place.
    #[must_use]
    pub fn session_timeout_ms(mut self, ms: i64) -> Self {
        self.session_timeout_ms = ms;
        self
    }

    /// `auto.offset.reset`.
    #[must_use]
    pub fn auto_offset_reset(mut self, reset: AutoOffsetReset) -> Self {
        self.auto_offset_reset = reset;
        self
    }

    /// `enable.auto.commit` (default true; only with a group).
    #[must_use]
    pub fn enable_auto_commit(mut self, enabled: bool) -> Self {
        self.enable_auto_commit = enabled;
        self
    }

    /// `auto.commit.interval.ms` (default 5000).
    #[must_use]
    pub fn auto_commit_interval_ms(mut self, ms: i64) -> Self {
        self.auto_commit_interval_ms = ms;
        self
    }

    /// `max.poll.records` (default 500, at least 1).
    #[must_use]
    pub fn max_poll_records(mut self, n: usize) -> Self {
        self.max_poll_records = n.max(1);
        self
    }
}

/// A record with the topic and partition it came from.
#[derive(Debug, Clone)]
pub struct PolledRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The record.
    pub record: ConsumerRecord,
}

impl PolledRecord {
    /// The key, through `deserializer`.
    ///
    /// # Errors
    ///
    /// [`Error::Deserialization`] naming topic, partition and offset.
    pub fn key_as<T>(&self, deserializer: &impl Deserializer<T>) -> Result<T> {
        deserializer.deserialize(self.record.key()).map_err(|reason| self.failed(reason))
    }

    /// The value, through `deserializer`.
    ///
    /// # Errors
    ///
    /// [`Error::Deserialization`] naming topic, partition and offset.
    pub fn value_as<T>(&self, deserializer: &impl Deserializer<T>) -> Result<T> {
        deserializer.deserialize(self.record.value()).map_err(|reason| self.failed(reason))
    }

    fn failed(&self, reason: String) -> Error {
        Error::Deserialization {
            topic: self.topic.to_string(),
            partition: self.partition,
            offset: self.record.offset(),
            reason,
        }
    }
}

#[derive(Debug)]
struct Assigned {
    topic: Arc<str>,
    number: u32,
    partition: Partition,
    /// The offset of the next record to return; `None` until resolved.
    position: Option<i64>,
    reader: Option<RecordReader>,
}

/// Reads records from the partitions assigned to it, round-robin, starting
/// at each partition's committed offset (with a group) or per
/// `auto.offset.reset`. `poll` blocks on one notification for all its
/// partitions. With a group, positions are committed by
/// [`Consumer::commit_sync`], by auto-commit during `poll`, and on
/// [`Consumer::close`].
///
/// Groups live in this process: members (and a static member's place)
/// are not persisted, so after a restart a group starts empty and each
/// consumer rejoins when it subscribes again, getting a fresh assignment.
/// Committed offsets are persisted (durable when `commit_sync` returns) and
/// are where the rejoining consumers start; a group left without members
/// keeps them for `offsets.retention.minutes` (see
/// [`Store::expire_committed_offsets`]). A consumer dropped or killed
/// without `close` leaves its group at once when dropped, or with its
/// process.
///
/// ```
/// use std::time::Duration;
/// use topiclog::{AutoOffsetReset, ConsumerConfig, Record, Store, StoreConfig, TopicConfig};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreConfig::new())?;
/// let orders = store.create_topic("orders", 2, TopicConfig::new())?;
/// orders.send_to(0, Record::new().value("a"))?;
/// orders.send_to(1, Record::new().value("b"))?;
/// let config = ConsumerConfig::new().group_id("billing").auto_offset_reset(AutoOffsetReset::Earliest);
/// let mut consumer = store.consumer(config)?;
/// consumer.assign(&[("orders", 0), ("orders", 1)])?;
/// let records = consumer.poll(Duration::from_millis(100))?;
/// assert_eq!(records.len(), 2);
/// consumer.commit_sync()?;
/// assert_eq!(store.committed_offset("billing", "orders", 1)?, Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Consumer {
    shared: Arc<Shared>,
    /// With `subscribe`: the topics, the member id and the group's assignor.
    subscription: Option<Subscription>,
    on_revoked: Option<RebalanceCallback>,
    on_assigned: Option<RebalanceCallback>,
    offsets_topic: Option<Topic>,
    config: ConsumerConfig,
    assigned: Vec<Assigned>,
    notifier: Arc<Notifier>,
    /// The partition the next poll reads first (fairness).
    next: usize,
    last_commit: Instant,
    closed: bool,
}

/// A rebalance listener: called with the partitions revoked or assigned.
type RebalanceCallback = Box<dyn FnMut(&[TopicPartition]) + Send>;

struct Subscription {
    topics: Vec<String>,
    member_id: String,
    assignor: Arc<dyn Assignor>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group", &self.config.group_id)
            .field("member", &self.subscription.as_ref().map(|s| &s.member_id))
            .field("assignment", &self.assignment())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A consumer of this store's topics.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for an empty group id; errors of creating
    /// or reading `__consumer_offsets` when a group is set.
    pub fn consumer(&self, config: ConsumerConfig) -> Result<Consumer> {
        let offsets_topic = match &config.group_id {
            Some(group) if group.is_empty() => {
                return Err(Error::InvalidConfig {
                    key: "group.id".into(),
                    value: String::new(),
                    reason: "a group id cannot be empty".into(),
                });
            }
            Some(_) => Some(self.offsets_topic()?),
            None => None,
        };
        Ok(Consumer {
            shared: self.shared.clone(),
            subscription: None,
            on_revoked: None,
            on_assigned: None,
            offsets_topic,
            config,
            assigned: Vec::new(),
            notifier: Arc::new(Notifier::default()),
            next: 0,
            last_commit: Instant::now(),
            closed: false,
        })
    }
}

impl Consumer {
    /// Reads exactly these partitions from now on (replacing any earlier
    /// assignment); positions of partitions kept stay.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`].
    pub fn assign(&mut self, partitions: &[(&str, u32)]) -> Result<()> {
        let mut assigned = Vec::with_capacity(partitions.len());
        for &(topic, number) in partitions {
            if let Some(i) = self.assigned.iter().position(|a| &*a.topic == topic && a.number == number) {
                assigned.push(self.assigned.swap_remove(i));
                continue;
            }
            let handle = self.shared.topics.read().get(topic).cloned();
            let t = handle.ok_or_else(|| Error::UnknownTopic { name: topic.to_string() })?;
            let partition = t.partition(number)?;
            partition.listen(&self.notifier);
            assigned.push(Assigned { topic: Arc::from(topic), number, partition, position: None, reader: None });
        }
        self.assigned = assigned;
        self.next = 0;
        Ok(())
    }

    /// The partitions assigned, as (topic, partition).
    #[must_use]
    pub fn assignment(&self) -> Vec<(String, u32)> {
        self.assigned.iter().map(|a| (a.topic.to_string(), a.number)).collect()
    }

    fn find(&mut self, topic: &str, partition: u32) -> Result<&mut Assigned> {
        self.assigned
            .iter_mut()
            .find(|a| &*a.topic == topic && a.number == partition)
            .ok_or_else(|| Error::NotAssigned { topic: topic.to_string(), partition })
    }

    /// Moves the position in `topic`/`partition` to `offset` (checked on the next poll).
    ///
    /// # Errors
    ///
    /// [`Error::NotAssigned`]; [`Error::InvalidOffset`] for a negative offset.
    pub fn seek(&mut self, topic: &str, partition: u32, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(Error::InvalidOffset { offset });
        }
        let a = self.find(topic, partition)?;
        a.position = Some(offset);
        a.reader = None;
        Ok(())
    }

    /// Moves to the log start of every assigned partition.
    ///
    /// # Errors
    ///
    /// None today; kept fallible for symmetry with `seek`.
    pub fn seek_to_beginning(&mut self) -> Result<()> {
        for a in &mut self.assigned {
            a.position = Some(a.partition.log_start_offset());
            a.reader = None;
        }
        Ok(())
    }

    /// Moves to the log end of every assigned partition.
    ///
    /// # Errors
    ///
    /// None today; kept fallible for symmetry with `seek`.
    pub fn seek_to_end(&mut self) -> Result<()> {
        for a in &mut self.assigned {
            a.position = Some(a.partition.log_end_offset());
            a.reader = None;
        }
        Ok(())
    }

    /// The offset of the next record `poll` returns from `topic`/`partition`.
    ///
    /// # Errors
    ///
    /// [`Error::NotAssigned`]; [`Error::OffsetOutOfRange`] with
    /// `auto.offset.reset=none` and no usable position.
    pub fn position(&mut self, topic: &str, partition: u32) -> Result<i64> {
        let i = self
            .assigned
            .iter()
            .position(|a| &*a.topic == topic && a.number == partition)
            .ok_or_else(|| Error::NotAssigned { topic: topic.to_string(), partition })?;
        self.resolve(i)
    }

    /// The position of assigned partition `i`, resolved from the committed
    /// offset or `auto.offset.reset`, and reset when out of the log.
    fn resolve(&mut self, i: usize) -> Result<i64> {
        let group = self.config.group_id.clone();
        let reset = self.config.auto_offset_reset;
        let Some(a) = self.assigned.get(i) else {
            return Err(Error::Internal { invariant: "a resolved partition index is within the assignment" });
        };
        let (start, end) = (a.partition.log_start_offset(), a.partition.log_end_offset());
        let mut position = a.position;
        if position.is_none()
            && let (Some(group), Some(topic)) = (&group, &self.offsets_topic)
        {
            position = committed::committed_offset(&self.shared, topic, group, &a.topic, a.number)?;
        }
        let position = match position {
            Some(p) if p >= start && p <= end => p,
            other => match reset {
                AutoOffsetReset::Earliest => start,
                AutoOffsetReset::Latest => end,
                AutoOffsetReset::None => {
                    return Err(Error::OffsetOutOfRange {
                        offset: other.unwrap_or(-1),
                        log_start_offset: start,
                        log_end_offset: end,
                    });
                }
            },
        };
        if let Some(a) = self.assigned.get_mut(i) {
            if a.position != Some(position) {
                a.reader = None;
            }
            a.position = Some(position);
        }
        Ok(position)
    }

    /// Records from the assigned partitions, at most `max.poll.records`,
    /// taking turns so that every partition with records gets some. Waits
    /// up to `timeout` for records when none are there (one wake-up for all
    /// partitions). With auto-commit, commits positions once
    /// `auto.commit.interval.ms` has passed since the last commit.
    ///
    /// # Errors
    ///
    /// [`Error::OffsetOutOfRange`] with `auto.offset.reset=none`; read
    /// errors (each returned once: [`Error::CorruptSegment`], ...);
    /// [`Error::Closed`] after `close`.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<PolledRecord>> {
        self.begin_poll()?;
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.fetch()?;
            if !records.is_empty() || self.assigned.is_empty() {
                return Ok(records);
            }
            let seen = self.notifier.generation();
            let waiting: Vec<_> = self.assigned.iter().map(|a| a.partition.waiting()).collect();
            let woke = self.has_unread() || self.notifier.wait_past(seen, deadline);
            drop(waiting);
            if !woke {
                return Ok(Vec::new());
            }
        }
    }

    /// What every poll does first: refuses a closed consumer, auto-commits
    /// when due, applies the group's current generation.
    fn begin_poll(&mut self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed { dir: self.shared.dir.clone() });
        }
        self.maybe_auto_commit()?;
        self.sync_group()
    }

    /// Whether some assigned partition has records past the position (or an
    /// unresolved position): checked after registering as a waiter, so that
    /// an append between the last fetch and the wait is not slept through.
    fn has_unread(&self) -> bool {
        self.assigned.iter().any(|a| a.position.is_none_or(|p| a.partition.log_end_offset() > p))
    }

    fn fetch(&mut self) -> Result<Vec<PolledRecord>> {
        let n = self.assigned.len();
        let mut out = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        // A fair share each, then whatever room is left, starting after the
        // partition that started last time.
        let budget = self.config.max_poll_records;
        let share = budget.div_ceil(n);
        let start = self.next % n;
        self.next = (start + 1) % n;
        for round in 0..2 {
            for k in 0..n {
                let room = budget - out.len();
                if room == 0 {
                    return Ok(out);
                }
                let limit = if round == 0 { share.min(room) } else { room };
                self.fetch_from((start + k) % n, limit, &mut out)?;
            }
        }
        Ok(out)
    }

    fn fetch_from(&mut self, i: usize, limit: usize, out: &mut Vec<PolledRecord>) -> Result<()> {
        let position = self.resolve(i)?;
        let Some(a) = self.assigned.get_mut(i) else { return Ok(()) };
        if a.partition.log_end_offset() <= position {
            return Ok(());
        }
        if a.reader.is_none() {
            a.reader = Some(a.partition.read_from(position)?);
        }
        let Some(reader) = a.reader.as_mut() else { return Ok(()) };
        let mut taken = 0;
        while taken < limit {
            match reader.next() {
                None => {
                    // Caught up: the position moves past what the reader
                    // skipped at the end (a transaction marker, a compaction
                    // gap), or a poll would find "unread" offsets it can
                    // never read and spin until its timeout.
                    a.position = Some(RecordReader::position(reader).max(position));
                    break;
                }
                Some(Ok(record)) => {
                    a.position = Some(record.offset() + 1);
                    out.push(PolledRecord { topic: a.topic.clone(), partition: a.number, record });
                    taken += 1;
                }
                Some(Err(e)) => {
                    a.position = Some(RecordReader::position(reader));
                    if matches!(e, Error::OffsetOutOfRange { .. }) {
                        // The log start moved past the position: reset next time.
                        a.reader = None;
                        if self.config.auto_offset_reset != AutoOffsetReset::None {
                            return Ok(());
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Commits the current position of every assigned partition whose
    /// position is known, durable when this returns.
    ///
    /// # Errors
    ///
    /// [`Error::NoGroup`] without a `group.id`; errors of the commit.
    pub fn commit_sync(&mut self) -> Result<()> {
        let offsets: Vec<(String, u32, i64)> =
            self.assigned.iter().filter_map(|a| a.position.map(|p| (a.topic.to_string(), a.number, p))).collect();
        self.commit_offsets(&offsets)
    }

    /// Commits explicit offsets (the next offset to consume) for this consumer's group.
    ///
    /// # Errors
    ///
    /// [`Error::NoGroup`] without a `group.id`; [`Error::InvalidOffset`];
    /// errors of the commit.
    pub fn commit_offsets(&mut self, offsets: &[(String, u32, i64)]) -> Result<()> {
        let (Some(group), Some(topic)) = (&self.config.group_id, &self.offsets_topic) else {
            return Err(Error::NoGroup { what: "commit" });
        };
        if self.subscription.is_none() && self.shared.groups.has_members(group) {
            return Err(Error::GroupHasMembers { group: group.clone() });
        }
        committed::commit(&self.shared, topic, group, offsets)?;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// The offset this consumer's group committed for `topic`/`partition`.
    ///
    /// # Errors
    ///
    /// [`Error::NoGroup`] without a `group.id`.
    pub fn committed(&self, topic: &str, partition: u32) -> Result<Option<i64>> {
        let (Some(group), Some(t)) = (&self.config.group_id, &self.offsets_topic) else {
            return Err(Error::NoGroup { what: "committed offsets" });
        };
        committed::committed_offset(&self.shared, t, group, topic, partition)
    }

    /// Kafka's `offsetsForTimes`: for each (topic, partition, timestamp),
    /// the first offset whose record has a timestamp at or after it, or
    /// `None` when there is none. Does not move positions (use `seek`).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`],
    /// [`Error::InvalidTimestamp`] for a negative timestamp; read errors.
    pub fn offsets_for_times(&self, query: &[(&str, u32, i64)]) -> Result<Vec<Option<i64>>> {
        query
            .iter()
            .map(|&(topic, partition, timestamp)| {
                let handle = self.shared.topics.read().get(topic).cloned();
                let t = handle.ok_or_else(|| Error::UnknownTopic { name: topic.to_string() })?;
                let found = t.partition(partition)?.offset_for(crate::partition::OffsetSpec::Timestamp(timestamp))?;
                Ok(found.map(|f| f.offset))
            })
            .collect()
    }

    /// Records between the position and the log end of `topic`/`partition`.
    ///
    /// # Errors
    ///
    /// As [`Consumer::position`].
    pub fn lag(&mut self, topic: &str, partition: u32) -> Result<i64> {
        let position = self.position(topic, partition)?;
        let end = self.find(topic, partition)?.partition.log_end_offset();
        Ok(end.saturating_sub(position).max(0))
    }

    fn auto_commits(&self) -> bool {
        self.config.enable_auto_commit && self.config.group_id.is_some()
    }

    fn maybe_auto_commit(&mut self) -> Result<()> {
        let interval = Duration::from_millis(self.config.auto_commit_interval_ms.max(0) as u64);
        if self.auto_commits() && self.last_commit.elapsed() >= interval {
            self.commit_sync()?;
        }
        Ok(())
    }

    /// Commits the positions when auto-commit is on, leaves its group, and
    /// ends the consumer.
    ///
    /// # Errors
    ///
    /// Errors of the final commit (the consumer leaves its group anyway).
    pub fn close(mut self) -> Result<()> {
        let committed = if self.auto_commits() { self.commit_sync() } else { Ok(()) };
        self.closed = true;
        self.leave_group();
        committed
    }

    /// Joins this consumer's group as a member reading `topics`: the group's
    /// assignor splits their partitions among its members, and the split
    /// changes as members come and go (applied at each `poll`). Membership
    /// is kept in memory only: after a restart, subscribe again (see
    /// [`Consumer`]); the committed offsets are still there.
    ///
    /// # Errors
    ///
    /// [`Error::NoGroup`] without a `group.id`; [`Error::InvalidConfig`] for
    /// an unknown `partition.assignment.strategy`; [`Error::UnknownTopic`].
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        let Some(group) = self.config.group_id.clone() else { return Err(Error::NoGroup { what: "subscribe" }) };
        for t in topics {
            if !self.shared.topics.read().contains_key(*t) {
                return Err(Error::UnknownTopic { name: (*t).to_string() });
            }
        }
        self.leave_group();
        let assignor: Arc<dyn Assignor> =
            match assignors_from_config(&self.config.assignment_strategy)?.into_iter().next() {
                Some(a) => Arc::from(a),
                None => {
                    return Err(Error::InvalidConfig {
                        key: "partition.assignment.strategy".into(),
                        value: self.config.assignment_strategy.clone(),
                        reason: "names no assignor".into(),
                    });
                }
            };
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_string()).collect();
        let member_id = self.join(&group, &topics, &assignor);
        self.subscription = Some(Subscription { topics, member_id, assignor });
        self.sync_group()
    }

    /// Leaves the group (giving up every partition) and reads nothing until
    /// the next `subscribe` or `assign`.
    ///
    /// # Errors
    ///
    /// Errors of the auto-commit of the positions given up.
    pub fn unsubscribe(&mut self) -> Result<()> {
        let committed = if self.auto_commits() { self.commit_sync() } else { Ok(()) };
        self.leave_group();
        self.assigned.clear();
        committed
    }

    /// Called with the partitions a rebalance takes away, before they go
    /// (after their positions are auto-committed).
    pub fn on_partitions_revoked(&mut self, f: impl FnMut(&[TopicPartition]) + Send + 'static) {
        self.on_revoked = Some(Box::new(f));
    }

    /// Called with the partitions a rebalance gives.
    pub fn on_partitions_assigned(&mut self, f: impl FnMut(&[TopicPartition]) + Send + 'static) {
        self.on_assigned = Some(Box::new(f));
    }

    /// The member id in its group, when subscribed.
    #[must_use]
    pub fn member_id(&self) -> Option<&str> {
        self.subscription.as_ref().map(|s| s.member_id.as_str())
    }

    fn partition_counts(&self) -> std::collections::BTreeMap<String, u32> {
        self.shared.topics.read().iter().map(|(name, t)| (name.clone(), t.partition_count())).collect()
    }

    fn join(&self, group: &str, topics: &[String], assignor: &Arc<dyn Assignor>) -> String {
        let join = super::group::Join {
            group,
            topics: topics.to_vec(),
            instance_id: self.config.group_instance_id.clone(),
            assignor: assignor.clone(),
            max_poll_interval_ms: self.config.max_poll_interval_ms,
            session_timeout_ms: self.config.session_timeout_ms,
            now: self.shared.config.clock_handle().now_ms(),
        };
        self.shared.groups.join(join, &self.partition_counts())
    }

    fn leave_group(&mut self) {
        if let (Some(sub), Some(group)) = (self.subscription.take(), &self.config.group_id) {
            let now = self.shared.config.clock_handle().now_ms();
            self.shared.groups.leave(group, &sub.member_id, now, &self.partition_counts());
        }
    }

    /// Applies the group's current generation: gives up (auto-committing
    /// first) what it lost, takes what it gained.
    fn sync_group(&mut self) -> Result<()> {
        let Some(group) = self.config.group_id.clone() else { return Ok(()) };
        for _ in 0..4 {
            let Some(sub) = &self.subscription else { return Ok(()) };
            let owned: Vec<TopicPartition> =
                self.assigned.iter().map(|a| TopicPartition::new(a.topic.to_string(), a.number)).collect();
            let now = self.shared.config.clock_handle().now_ms();
            let counts = self.partition_counts();
            let sync = self.shared.groups.sync(&group, &sub.member_id, &owned, now, &counts);
            if !sync.member {
                // Removed (it stayed away past max.poll.interval.ms): rejoin.
                let (topics, assignor) = (sub.topics.clone(), sub.assignor.clone());
                let member_id = self.join(&group, &topics, &assignor);
                self.subscription = Some(Subscription { topics, member_id, assignor });
                continue;
            }
            let revoked: Vec<TopicPartition> = owned.iter().filter(|tp| !sync.assigned.contains(tp)).cloned().collect();
            let added: Vec<TopicPartition> = sync.assigned.iter().filter(|tp| !owned.contains(tp)).cloned().collect();
            if revoked.is_empty() && added.is_empty() {
                return Ok(());
            }
            if !revoked.is_empty() {
                if self.auto_commits() {
                    let offsets: Vec<(String, u32, i64)> = self
                        .assigned
                        .iter()
                        .filter(|a| revoked.iter().any(|tp| tp.topic == *a.topic && tp.partition == a.number))
                        .filter_map(|a| a.position.map(|p| (a.topic.to_string(), a.number, p)))
                        .collect();
                    self.commit_offsets(&offsets)?;
                }
                if let Some(f) = self.on_revoked.as_mut() {
                    f(&revoked);
                }
                self.assigned.retain(|a| !revoked.iter().any(|tp| tp.topic == *a.topic && tp.partition == a.number));
            }
            for tp in &added {
                let handle = self.shared.topics.read().get(&tp.topic).cloned();
                let Some(t) = handle else { continue };
                let partition = t.partition(tp.partition)?;
                partition.listen(&self.notifier);
                self.assigned.push(Assigned {
                    topic: Arc::from(tp.topic.as_str()),
                    number: tp.partition,
                    partition,
                    position: None,
                    reader: None,
                });
            }
            if !added.is_empty()
                && let Some(f) = self.on_assigned.as_mut()
            {
                f(&added);
            }
        }
        Ok(())
    }
}

impl Drop for Consumer {
    /// Leaves the group (without committing: call `close` for that).
    fn drop(&mut self) {
        self.leave_group();
    }
}

/// The future of [`Consumer::poll_async`]: the records of one poll.
#[cfg(feature = "async")]
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct PollRecords<'a> {
    consumer: &'a mut Consumer,
    timeout: Option<Duration>,
    started: bool,
    deadline: Option<crate::notify::Deadline>,
    /// Counted among the partitions' waiters (so appends ping) while pending.
    waiting: Vec<crate::partition::OwnedWaiting>,
    /// Its waker's registration with the consumer's notifier.
    registration: Option<u64>,
}

#[cfg(feature = "async")]
impl Consumer {
    /// [`Consumer::poll`] as a future, for any executor (no runtime is
    /// needed or assumed): resolves to records as soon as any assigned
    /// partition has some, or to no records once `timeout` (if any) passes.
    /// The append that brings records wakes it, through the same single
    /// notification for all partitions as `poll`: no thread waits and
    /// nothing polls in a loop. With a timeout, a helper thread sleeping until
    /// the deadline is started the first time the future has to wait; in a
    /// hot loop prefer `None` with the runtime's own timeout (dropping the
    /// future loses no records: records are taken only in the poll that
    /// returns them).
    ///
    /// Auto-commit and group changes happen when the future is first polled,
    /// and reads and commits are done in `Future::poll` itself, as blocking
    /// calls (they are local file reads and, for commits, an fsync).
    ///
    /// ```
    /// use topiclog::{AutoOffsetReset, ConsumerConfig, Record, Store, StoreConfig, TopicConfig};
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     struct Unpark(std::thread::Thread);
    /// #     impl std::task::Wake for Unpark { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::sync::Arc::new(Unpark(std::thread::current())).into();
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { match f.as_mut().poll(&mut cx) { std::task::Poll::Ready(v) => return v, _ => std::thread::park() } }
    /// # }
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), StoreConfig::new())?;
    /// let orders = store.create_topic("orders", 2, TopicConfig::new())?;
    /// let mut consumer = store.consumer(ConsumerConfig::new().auto_offset_reset(AutoOffsetReset::Earliest))?;
    /// consumer.assign(&[("orders", 0), ("orders", 1)])?;
    /// let writer = orders.clone();
    /// let producer = std::thread::spawn(move || writer.send_to(1, Record::new().value("a")));
    /// let records = block_on(consumer.poll_async(None))?;
    /// assert_eq!(records.len(), 1);
    /// producer.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Consumer::poll`].
    pub fn poll_async(&mut self, timeout: Option<Duration>) -> PollRecords<'_> {
        PollRecords { consumer: self, timeout, started: false, deadline: None, waiting: Vec::new(), registration: None }
    }
}

#[cfg(feature = "async")]
impl PollRecords<'_> {
    fn finish(&mut self, outcome: Result<Vec<PolledRecord>>) -> std::task::Poll<Result<Vec<PolledRecord>>> {
        self.consumer.notifier.deregister(&mut self.registration);
        self.waiting.clear();
        self.deadline = None;
        std::task::Poll::Ready(outcome)
    }
}

#[cfg(feature = "async")]
impl std::future::Future for PollRecords<'_> {
    type Output = Result<Vec<PolledRecord>>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let this = self.get_mut();
        if !this.started {
            this.started = true;
            if let Err(e) = this.consumer.begin_poll() {
                return this.finish(Err(e));
            }
            this.deadline = this.timeout.map(|t| crate::notify::Deadline::new(Instant::now() + t));
        }
        loop {
            let records = match this.consumer.fetch() {
                Ok(records) => records,
                Err(e) => return this.finish(Err(e)),
            };
            if !records.is_empty() || this.consumer.assigned.is_empty() {
                return this.finish(Ok(records));
            }
            let seen = this.consumer.notifier.generation();
            if this.waiting.is_empty() {
                this.waiting = this.consumer.assigned.iter().map(|a| a.partition.waiting_owned()).collect();
            }
            if this.consumer.has_unread() {
                continue;
            }
            if this.deadline.as_ref().is_some_and(crate::notify::Deadline::passed) {
                return this.finish(Ok(Vec::new()));
            }
            if this.consumer.notifier.register(seen, &mut this.registration, cx.waker()) {
                if let Some(deadline) = this.deadline.as_mut() {
                    deadline.arm(cx.waker());
                }
                return std::task::Poll::Pending;
            }
        }
    }
}

#[cfg(feature = "async")]
impl Drop for PollRecords<'_> {
    fn drop(&mut self) {
        self.consumer.notifier.deregister(&mut self.registration);
    }
}
