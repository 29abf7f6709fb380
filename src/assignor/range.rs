//! Kafka's `RangeAssignor` (SPEC §7.5).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{Assignment, Assignor, Group, MemberSubscription, RebalanceProtocol, TopicPartition, java};

/// Kafka's `range` strategy: for each topic on its own, the members
/// subscribed to it, in member order, take contiguous runs of its
/// partitions; the first `N % members` of them take one more.
///
/// Member order (Kafka's `MemberInfo`): members with a `group.instance.id`
/// first, compared by instance id; then the others by member id (Java string
/// order). Two members with the same instance id are ordered by member id.
/// Rack-aware assignment is not modelled (no racks are known here).
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

/// Kafka's member order for range and round-robin (`MemberInfo.compareTo`),
/// made total by the member id.
pub(super) fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    let by_instance = match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => java::str_cmp(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_instance.then_with(|| java::str_cmp(&a.member_id, &b.member_id))
}

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(&self, partitions_per_topic: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
        let group = Group::new(partitions_per_topic, members);
        let mut out = group.empty_assignment();
        for &(topic, count) in &group.topics {
            let mut subscribed: Vec<&MemberSubscription> =
                group.members.iter().copied().filter(|m| m.topics.iter().any(|t| t == topic)).collect();
            if subscribed.is_empty() {
                continue;
            }
            subscribed.sort_by(|a, b| member_order(a, b));
            let n = u32::try_from(subscribed.len()).unwrap_or(u32::MAX);
            let (quota, extra) = (count / n, count % n);
            let mut next = 0u32;
            for (i, member) in (0u32..).zip(subscribed) {
                let take = quota + u32::from(i < extra);
                if let Some(list) = out.get_mut(&member.member_id) {
                    list.extend((next..next + take).map(|p| TopicPartition::new(topic, p)));
                }
                next += take;
            }
        }
        out
    }
}
