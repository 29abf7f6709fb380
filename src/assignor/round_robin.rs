//! Kafka's `RoundRobinAssignor` (SPEC §7.6).

use std::collections::BTreeMap;

use super::range::member_order;
use super::{Assignment, Assignor, Group, MemberSubscription, RebalanceProtocol, TopicPartition};

/// Kafka's `roundrobin` strategy: all members in a circle (in the member
/// order of [`RangeAssignor`](super::RangeAssignor)); every partition of
/// every subscribed topic, by topic name then number, goes to the next
/// member in the circle that subscribes to its topic.
///
/// Balanced when all members subscribe to the same topics; with mixed
/// subscriptions it can be far from balanced, as in Kafka.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(&self, partitions_per_topic: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
        let group = Group::new(partitions_per_topic, members);
        let mut out = group.empty_assignment();
        let mut circle = group.members.clone();
        circle.sort_by(|a, b| member_order(a, b));
        let mut pointer = 0usize;
        for &(topic, count) in &group.topics {
            for partition in 0..count {
                // Advance past members not subscribed to the topic; the topic
                // has a subscriber (`Group` keeps only subscribed topics), and
                // one full turn bounds the search anyway.
                let found = (0..circle.len())
                    .map(|step| (pointer + step) % circle.len())
                    .find(|&at| circle.get(at).is_some_and(|m| m.topics.iter().any(|t| t == topic)));
                let Some(at) = found else { break };
                if let Some(list) = circle.get(at).and_then(|m| out.get_mut(&m.member_id)) {
                    list.push(TopicPartition::new(topic, partition));
                }
                pointer = (at + 1) % circle.len();
            }
        }
        out
    }
}
