//! Consumer-group partition assignors, as Kafka's consumer runs them
//! (SPEC §7.4–§7.7): given each member's subscription, decide which member
//! reads which partition.
//!
//! Four built-in strategies, named as in `partition.assignment.strategy`:
//!
//! | Type | Name | Protocol | Rule |
//! |------|------|----------|------|
//! | [`RangeAssignor`] | `range` | eager | per topic, contiguous runs in member order |
//! | [`RoundRobinAssignor`] | `roundrobin` | eager | all partitions dealt in turn |
//! | [`StickyAssignor`] | `sticky` | eager | balanced, keeps previous ownership |
//! | [`CooperativeStickyAssignor`] | `cooperative-sticky` | cooperative | sticky, and a moving partition is first revoked |
//!
//! Users may plug in their own strategy by implementing [`Assignor`].
//!
//! # Inputs that Kafka never sends
//!
//! Assignors never panic and never fail; unusual input has a fixed meaning:
//!
//! - **No members**: the result is empty.
//! - **A member id given more than once**: the members are keyed by id, as in
//!   Kafka's `Map<String, Subscription>`: the *last* subscription for an id is
//!   used, at the position of the *first* one.
//! - **Topics**: only topics that some member subscribes to *and* that have at
//!   least one partition in `partitions_per_topic` are assigned (Kafka's
//!   `AbstractPartitionAssignor` does the same with cluster metadata). A
//!   member subscribed only to unknown topics gets an empty list.
//! - **Owned partitions** (sticky assignors) of unknown topics, or with a
//!   partition number at or beyond the topic's count, are ignored; an owned
//!   partition listed twice by one member counts once.
//!
//! Every member of the input appears in the result, possibly with an empty
//! list. Lists are in the order Kafka's assignor produces them (for range:
//! by topic, then partition, where Kafka's follows its `HashMap` of topics).
//!
//! # Fidelity to Kafka
//!
//! Range and round-robin give exactly Kafka's assignments. The sticky
//! assignors follow Kafka's `AbstractStickyAssignor` and reproduce its
//! results, including those that depend on Java `HashMap` iteration order
//! (SPEC §7.7), modelled as: bucket `(h ^ (h >>> 16)) & (capacity − 1)` of
//! `String.hashCode`, capacity 16 doubling past three quarters full, then
//! insertion order (here: the order of `members`). Java's tree bins (eight
//! or more ids in one bucket of a table of 64 or more) are not modelled.
//! Rack-aware assignment is not modelled: no racks are known here. See
//! [`StickyAssignor`] for where the sticky assignors deliberately differ.

mod java;
mod range;
mod round_robin;
mod sticky;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use sticky::{
    CooperativeStickyAssignor, StickyAssignor, StickyPlan, cooperative_first_round, partitions_transferring_ownership,
};

use crate::error::{Error, Result};

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: String,
    /// The partition number, from 0.
    pub partition: u32,
}

impl TopicPartition {
    /// The partition `partition` of `topic`.
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
}

impl fmt::Display for TopicPartition {
    /// Kafka's notation, `topic-partition`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// What one group member sends when it joins: its subscription and, for the
/// sticky assignors, what it owned before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// Its `group.instance.id` (static membership), if any. Range and
    /// round-robin order static members before dynamic ones.
    pub group_instance_id: Option<String>,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// The partitions it owned in its last generation (sticky assignors).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation those partitions were owned in; `None` when unknown
    /// (Kafka's `DEFAULT_GENERATION`, −1).
    pub generation: Option<i32>,
}

impl MemberSubscription {
    /// A dynamic member subscribing to `topics`, owning nothing.
    pub fn new<T: Into<String>>(member_id: impl Into<String>, topics: impl IntoIterator<Item = T>) -> Self {
        MemberSubscription {
            member_id: member_id.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            ..MemberSubscription::default()
        }
    }

    /// Sets the `group.instance.id` (a static member).
    pub fn with_group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }

    /// Sets the partitions owned in `generation`.
    pub fn with_owned(mut self, partitions: impl IntoIterator<Item = TopicPartition>, generation: i32) -> Self {
        self.owned_partitions = partitions.into_iter().collect();
        self.generation = Some(generation);
        self
    }
}

/// The result of an assignment: each member id with its partitions.
pub type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// How members give up partitions during a rebalance (SPEC §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes all its partitions before the rebalance.
    Eager,
    /// Members keep the partitions they keep; a partition changing owner is
    /// revoked in one rebalance and assigned in the next.
    Cooperative,
}

/// A partition assignment strategy (Kafka's `ConsumerPartitionAssignor`).
///
/// Implement it to plug in your own strategy:
///
/// ```
/// use std::collections::BTreeMap;
/// use topiclog::{Assignment, Assignor, MemberSubscription, RebalanceProtocol, TopicPartition};
///
/// /// Everything to the member with the smallest id.
/// struct Leader;
///
/// impl Assignor for Leader {
///     fn name(&self) -> &'static str {
///         "leader"
///     }
///     fn protocol(&self) -> RebalanceProtocol {
///         RebalanceProtocol::Eager
///     }
///     fn assign(&self, partitions_per_topic: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
///         let mut out: Assignment = members.iter().map(|m| (m.member_id.clone(), Vec::new())).collect();
///         if let Some(mut first) = out.first_entry() {
///             for (topic, &n) in partitions_per_topic {
///                 first.get_mut().extend((0..n).map(|p| TopicPartition::new(topic.as_str(), p)));
///             }
///         }
///         out
///     }
/// }
///
/// let topics = BTreeMap::from([("t".to_string(), 2)]);
/// let members = [MemberSubscription::new("b", ["t"]), MemberSubscription::new("a", ["t"])];
/// let out = Leader.assign(&topics, &members);
/// assert_eq!(out["a"], vec![TopicPartition::new("t", 0), TopicPartition::new("t", 1)]);
/// assert!(out["b"].is_empty());
///
/// // The built-in strategies are found by their `partition.assignment.strategy` names.
/// let range = topiclog::assignor_by_name("range").ok_or("unknown")?;
/// let out = range.assign(&topics, &members);
/// assert_eq!(out["a"], vec![TopicPartition::new("t", 0)]);
/// assert_eq!(out["b"], vec![TopicPartition::new("t", 1)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Assignor: Send + Sync {
    /// The protocol name members vote with (for example `"range"`).
    fn name(&self) -> &'static str;

    /// The rebalance protocol this assignor's result is meant for.
    fn protocol(&self) -> RebalanceProtocol;

    /// Assigns the partitions of `partitions_per_topic` (topic → partition
    /// count) to `members`. Every member appears in the result.
    fn assign(&self, partitions_per_topic: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment;
}

const KAFKA_PACKAGE: &str = "org.apache.kafka.clients.consumer.";

/// The built-in assignor for a `partition.assignment.strategy` value: its
/// protocol name (`range`, `roundrobin`, `sticky`, `cooperative-sticky`) or
/// Kafka's class name, with or without the package
/// (`org.apache.kafka.clients.consumer.RangeAssignor`, `RangeAssignor`).
/// `None` for anything else.
#[must_use]
pub fn assignor_by_name(name: &str) -> Option<Box<dyn Assignor>> {
    let name = name.trim();
    let name = name.strip_prefix("class ").unwrap_or(name).trim();
    let short = name.strip_prefix(KAFKA_PACKAGE).unwrap_or(name);
    let found: Box<dyn Assignor> = match short {
        "range" | "RangeAssignor" => Box::new(RangeAssignor),
        "roundrobin" | "RoundRobinAssignor" => Box::new(RoundRobinAssignor),
        "sticky" | "StickyAssignor" => Box::new(StickyAssignor),
        "cooperative-sticky" | "CooperativeStickyAssignor" => Box::new(CooperativeStickyAssignor),
        _ => return None,
    };
    Some(found)
}

/// The assignors of a whole `partition.assignment.strategy` value: a
/// comma-separated list of names accepted by [`assignor_by_name`], in order
/// of preference. An empty list or an unknown name is an
/// [`Error::InvalidConfig`].
///
/// # Errors
///
/// [`Error::InvalidConfig`] for an empty list or an unknown assignor name.
pub fn assignors_from_config(value: &str) -> Result<Vec<Box<dyn Assignor>>> {
    let invalid = |reason: String| Error::InvalidConfig {
        key: "partition.assignment.strategy".to_string(),
        value: value.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        out.push(assignor_by_name(name).ok_or_else(|| invalid(format!("unknown assignor {name:?}")))?);
    }
    if out.is_empty() {
        return Err(invalid("at least one assignor is required".to_string()));
    }
    Ok(out)
}

/// The input as every assignor sees it: members keyed by id, topics narrowed
/// to those subscribed and non-empty.
struct Group<'a> {
    /// Distinct members in order of first appearance (last subscription wins).
    members: Vec<&'a MemberSubscription>,
    /// Subscribed topics with at least one partition, in Java string order.
    topics: Vec<(&'a str, u32)>,
}

impl<'a> Group<'a> {
    fn new(partitions_per_topic: &'a BTreeMap<String, u32>, members: &'a [MemberSubscription]) -> Self {
        let mut position: HashMap<&str, usize> = HashMap::new();
        let mut distinct: Vec<&MemberSubscription> = Vec::new();
        for member in members {
            match position.get(member.member_id.as_str()) {
                Some(&at) => {
                    if let Some(slot) = distinct.get_mut(at) {
                        *slot = member;
                    }
                }
                None => {
                    position.insert(&member.member_id, distinct.len());
                    distinct.push(member);
                }
            }
        }
        let mut topics: Vec<(&str, u32)> = partitions_per_topic
            .iter()
            .filter(|&(topic, &count)| count > 0 && distinct.iter().any(|m| m.topics.iter().any(|t| t == topic)))
            .map(|(topic, &count)| (topic.as_str(), count))
            .collect();
        topics.sort_by(|a, b| java::str_cmp(a.0, b.0));
        Group { members: distinct, topics }
    }

    /// An empty list for every member.
    fn empty_assignment(&self) -> Assignment {
        self.members.iter().map(|m| (m.member_id.clone(), Vec::new())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignor_names_and_classes() {
        for (name, expected) in [
            ("range", "range"),
            ("org.apache.kafka.clients.consumer.RangeAssignor", "range"),
            ("class org.apache.kafka.clients.consumer.RoundRobinAssignor", "roundrobin"),
            ("StickyAssignor", "sticky"),
            (" cooperative-sticky ", "cooperative-sticky"),
        ] {
            assert_eq!(assignor_by_name(name).map(|a| a.name()), Some(expected), "{name}");
        }
        assert!(assignor_by_name("uniform").is_none());
        let list =
            assignors_from_config("range, cooperative-sticky").map(|v| v.iter().map(|a| a.name()).collect::<Vec<_>>());
        assert_eq!(list.ok(), Some(vec!["range", "cooperative-sticky"]));
        assert!(matches!(assignors_from_config("range,nope"), Err(Error::InvalidConfig { .. })));
        assert!(matches!(assignors_from_config(" , "), Err(Error::InvalidConfig { .. })));
    }

    #[test]
    fn duplicate_member_ids_last_subscription_wins() {
        let topics = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 1)]);
        let members = [MemberSubscription::new("m", ["a"]), MemberSubscription::new("m", ["b"])];
        let out = RangeAssignor.assign(&topics, &members);
        assert_eq!(out.len(), 1);
        assert_eq!(out.get("m"), Some(&vec![TopicPartition::new("b", 0)]));
    }
}
