//! Consumer-group assignors against Kafka's own tests (SPEC §8 items 59–60,
//! `RangeAssignorTest`, `RoundRobinAssignorTest`, `AbstractStickyAssignorTest`,
//! `CooperativeStickyAssignorTest`), plus properties of the sticky ones.
//!
//! Kafka's tests build `subscriptions` as a `HashMap` by `put` in source
//! order; here the `members` slice lists them in that same order.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use proptest::prelude::*;
use topiclog::{
    Assignment, Assignor, CooperativeStickyAssignor, MemberSubscription, RangeAssignor, RebalanceProtocol,
    RoundRobinAssignor, StickyAssignor, TopicPartition, assignor_by_name, cooperative_first_round,
    partitions_transferring_ownership,
};

fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn counts(topics: &[(&str, u32)]) -> BTreeMap<String, u32> {
    topics.iter().map(|&(t, n)| (t.to_string(), n)).collect()
}

fn member(id: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription::new(id, topics.iter().copied())
}

fn owning(id: &str, topics: &[&str], owned: &[TopicPartition], generation: i32) -> MemberSubscription {
    member(id, topics).with_owned(owned.iter().cloned(), generation)
}

fn get<'a>(a: &'a Assignment, id: &str) -> &'a [TopicPartition] {
    a.get(id).map_or(&[], Vec::as_slice)
}

fn set(list: &[TopicPartition]) -> BTreeSet<TopicPartition> {
    list.iter().cloned().collect()
}

/// The members with their owned partitions replaced by `assignment`.
fn after(members: &[MemberSubscription], assignment: &Assignment, generation: i32) -> Vec<MemberSubscription> {
    members.iter().map(|m| m.clone().with_owned(get(assignment, &m.member_id).iter().cloned(), generation)).collect()
}

/// Kafka's `verifyValidityAndBalance`: every assigned partition is of a
/// subscribed topic, none is assigned twice, and two members whose counts
/// differ by two or more share no topic.
fn assert_valid_and_balanced(partitions: &BTreeMap<String, u32>, members: &[MemberSubscription], a: &Assignment) {
    assert_eq!(a.len(), members.iter().map(|m| &m.member_id).collect::<BTreeSet<_>>().len(), "{a:?}");
    let mut seen = HashSet::new();
    for m in members {
        for p in get(a, &m.member_id) {
            assert!(m.topics.contains(&p.topic), "{p} given to {} which does not subscribe: {a:?}", m.member_id);
            assert!(partitions.get(&p.topic).is_some_and(|&n| p.partition < n), "{p} does not exist");
            assert!(seen.insert(p.clone()), "{p} assigned twice: {a:?}");
        }
    }
    for x in members {
        for y in members {
            let (px, py) = (get(a, &x.member_id), get(a, &y.member_id));
            if px.len() > py.len() + 1 {
                let movable = px.iter().any(|p| y.topics.contains(&p.topic));
                assert!(!movable, "{} could take a partition from {}: {a:?}", y.member_id, x.member_id);
            }
        }
    }
}

/// Every partition of a topic someone subscribes to is assigned.
fn assert_complete(partitions: &BTreeMap<String, u32>, members: &[MemberSubscription], a: &Assignment) {
    let assigned: usize = a.values().map(Vec::len).sum();
    let expected: u32 =
        partitions.iter().filter(|(t, _)| members.iter().any(|m| m.topics.contains(t))).map(|(_, &n)| n).sum();
    assert_eq!(assigned, expected as usize, "{a:?}");
}

fn fully_balanced(a: &Assignment) -> bool {
    let sizes: Vec<usize> = a.values().map(Vec::len).collect();
    sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0) <= 1
}

/// Kafka's `CooperativeStickyAssignorTest.verifyValidityAndBalance`: while
/// a round revokes partitions, run the follow-up rebalance with the owned
/// partitions updated; no round may add a partition that it revokes from
/// another member. Returns the final assignment and the number of
/// follow-up rebalances.
fn cooperative_rounds(
    partitions: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
    first: Assignment,
) -> (Assignment, Vec<MemberSubscription>, usize) {
    let mut members = members.to_vec();
    let mut assignment = first;
    for rebalances in 0..=4 {
        let mut added = HashSet::new();
        let mut revoked = HashSet::new();
        for m in &members {
            let assigned = get(&assignment, &m.member_id);
            revoked.extend(m.owned_partitions.iter().filter(|p| !assigned.contains(p)).cloned());
            added.extend(assigned.iter().filter(|p| !m.owned_partitions.contains(p)).cloned());
        }
        let both: Vec<_> = added.intersection(&revoked).collect();
        assert!(both.is_empty(), "added and revoked in the same rebalance: {both:?}");
        if revoked.is_empty() {
            return (assignment, members, rebalances);
        }
        members = after(&members, &assignment, 1);
        assignment = CooperativeStickyAssignor.assign(partitions, &members);
    }
    panic!("no stable assignment after 4 follow-up rebalances");
}

// ---------------------------------------------------------------- names

#[test]
fn strategies_by_name_and_protocol() {
    let expected = [
        ("range", RebalanceProtocol::Eager),
        ("roundrobin", RebalanceProtocol::Eager),
        ("sticky", RebalanceProtocol::Eager),
        ("cooperative-sticky", RebalanceProtocol::Cooperative),
    ];
    for (name, protocol) in expected {
        let a = assignor_by_name(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!((a.name(), a.protocol()), (name, protocol));
    }
    assert_eq!(
        assignor_by_name("org.apache.kafka.clients.consumer.CooperativeStickyAssignor").map(|a| a.name()),
        Some("cooperative-sticky")
    );
    assert!(assignor_by_name("org.example.MyAssignor").is_none());
}

// ---------------------------------------------------------------- range

/// SPEC §8 item 59, first part.
#[test]
fn range_two_consumers_two_topics_six_partitions() {
    let p = counts(&[("topic1", 3), ("topic2", 3)]);
    let members = [member("consumer1", &["topic1", "topic2"]), member("consumer2", &["topic1", "topic2"])];
    let a = RangeAssignor.assign(&p, &members);
    assert_eq!(get(&a, "consumer1"), [tp("topic1", 0), tp("topic1", 1), tp("topic2", 0), tp("topic2", 1)]);
    assert_eq!(get(&a, "consumer2"), [tp("topic1", 2), tp("topic2", 2)]);
}

/// SPEC §8 item 59, second part (`testMultipleConsumersMixedTopics`).
#[test]
fn range_multiple_consumers_mixed_topics() {
    let p = counts(&[("topic1", 3), ("topic2", 2)]);
    let members = [
        member("consumer1", &["topic1"]),
        member("consumer2", &["topic1", "topic2"]),
        member("consumer3", &["topic1"]),
    ];
    let a = RangeAssignor.assign(&p, &members);
    assert_eq!(get(&a, "consumer1"), [tp("topic1", 0)]);
    assert_eq!(get(&a, "consumer2"), [tp("topic1", 1), tp("topic2", 0), tp("topic2", 1)]);
    assert_eq!(get(&a, "consumer3"), [tp("topic1", 2)]);
}

/// SPEC §8 item 59, third part: a static member sorts first even with the
/// larger member id (`testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions`),
/// and two static members compare by instance id (`testTwoStaticConsumersTwoTopicsSixPartitions`).
#[test]
fn range_static_members_sort_first_and_by_instance_id() {
    let p = counts(&[("topic1", 3), ("topic2", 3)]);
    let both = ["topic1", "topic2"];
    let low_expected = [tp("topic1", 0), tp("topic1", 1), tp("topic2", 0), tp("topic2", 1)];
    let high_expected = [tp("topic1", 2), tp("topic2", 2)];

    let members = [member("consumer-b", &both).with_group_instance_id("instance1"), member("consumer-a", &both)];
    let a = RangeAssignor.assign(&p, &members);
    assert_eq!(set(get(&a, "consumer-b")), set(&low_expected));
    assert_eq!(set(get(&a, "consumer-a")), set(&high_expected));

    let members = [
        member("consumer-b", &both).with_group_instance_id("instance1"),
        member("consumer-a", &both).with_group_instance_id("instance2"),
    ];
    let a = RangeAssignor.assign(&p, &members);
    assert_eq!(set(get(&a, "consumer-b")), set(&low_expected));
    assert_eq!(set(get(&a, "consumer-a")), set(&high_expected));
}

/// `testOneConsumerNoTopic`, `testOneConsumerNonexistentTopic`,
/// `testOnlyAssignsPartitionsFromSubscribedTopics`, `testOneConsumerMultipleTopics`.
#[test]
fn range_one_consumer_cases() {
    let one = |topics: &[&str]| [member("consumer1", topics)];
    let a = RangeAssignor.assign(&BTreeMap::new(), &one(&[]));
    assert_eq!(a, BTreeMap::from([("consumer1".to_string(), vec![])]));
    let a = RangeAssignor.assign(&BTreeMap::new(), &one(&["topic1"]));
    assert_eq!(a, BTreeMap::from([("consumer1".to_string(), vec![])]));
    let a = RangeAssignor.assign(&counts(&[("topic1", 3), ("other", 3)]), &one(&["topic1"]));
    assert_eq!(get(&a, "consumer1"), [tp("topic1", 0), tp("topic1", 1), tp("topic1", 2)]);
    let a = RangeAssignor.assign(&counts(&[("topic1", 1), ("topic2", 2)]), &one(&["topic1", "topic2"]));
    assert_eq!(get(&a, "consumer1"), [tp("topic1", 0), tp("topic2", 0), tp("topic2", 1)]);
}

/// `testTwoConsumersOneTopicOnePartition` / `...TwoPartitions`, and SPEC §7.5's
/// uneven example (three consumers, seven partitions).
#[test]
fn range_uneven() {
    let members = [member("consumer1", &["topic1"]), member("consumer2", &["topic1"])];
    let a = RangeAssignor.assign(&counts(&[("topic1", 1)]), &members);
    assert_eq!(get(&a, "consumer1"), [tp("topic1", 0)]);
    assert!(get(&a, "consumer2").is_empty());
    let a = RangeAssignor.assign(&counts(&[("topic1", 2)]), &members);
    assert_eq!((get(&a, "consumer1"), get(&a, "consumer2")), (&[tp("topic1", 0)][..], &[tp("topic1", 1)][..]));

    let members = [member("c2", &["t"]), member("c0", &["t"]), member("c1", &["t"])];
    let a = RangeAssignor.assign(&counts(&[("t", 7)]), &members);
    assert_eq!(get(&a, "c0"), [tp("t", 0), tp("t", 1), tp("t", 2)]);
    assert_eq!(get(&a, "c1"), [tp("t", 3), tp("t", 4)]);
    assert_eq!(get(&a, "c2"), [tp("t", 5), tp("t", 6)]);
}

/// `testStaticMemberRangeAssignmentPersistent`: static members keep their
/// ranges when the dynamic member is replaced.
#[test]
fn range_static_member_assignment_persistent() {
    let p = counts(&[("topic1", 5), ("topic2", 4)]);
    let both = ["topic1", "topic2"];
    let statics = [
        member("consumer1", &both).with_group_instance_id("instance1"),
        member("consumer2", &both).with_group_instance_id("instance2"),
        member("consumer3", &both).with_group_instance_id("instance3"),
    ];
    let expected_static = [
        ("consumer1", vec![tp("topic1", 0), tp("topic1", 1), tp("topic2", 0)]),
        ("consumer2", vec![tp("topic1", 2), tp("topic2", 1)]),
        ("consumer3", vec![tp("topic1", 3), tp("topic2", 2)]),
    ];
    for dynamic in ["consumer4", "consumer5"] {
        let mut members = statics.to_vec();
        members.push(member(dynamic, &both));
        let a = RangeAssignor.assign(&p, &members);
        for (id, expected) in &expected_static {
            assert_eq!(get(&a, id), expected.as_slice(), "{id}");
        }
        assert_eq!(get(&a, dynamic), [tp("topic1", 4), tp("topic2", 3)]);
    }
}

// ---------------------------------------------------------------- round robin

/// SPEC §8 item 60, first part (`testTwoDynamicConsumersTwoTopicsSixPartitions`).
#[test]
fn round_robin_two_dynamic_consumers_two_topics_six_partitions() {
    let p = counts(&[("topic1", 3), ("topic2", 3)]);
    let members = [member("consumer1", &["topic1", "topic2"]), member("consumer2", &["topic1", "topic2"])];
    let a = RoundRobinAssignor.assign(&p, &members);
    assert_eq!(get(&a, "consumer1"), [tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)]);
    assert_eq!(get(&a, "consumer2"), [tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)]);
}

/// `testMultipleConsumersMixedTopics` and SPEC §7.6's three-topic example.
#[test]
fn round_robin_mixed_subscriptions() {
    let p = counts(&[("topic1", 3), ("topic2", 2)]);
    let members = [
        member("consumer1", &["topic1"]),
        member("consumer2", &["topic1", "topic2"]),
        member("consumer3", &["topic1"]),
    ];
    let a = RoundRobinAssignor.assign(&p, &members);
    assert_eq!(get(&a, "consumer1"), [tp("topic1", 0)]);
    assert_eq!(get(&a, "consumer2"), [tp("topic1", 1), tp("topic2", 0), tp("topic2", 1)]);
    assert_eq!(get(&a, "consumer3"), [tp("topic1", 2)]);

    let p = counts(&[("t0", 1), ("t1", 2), ("t2", 3)]);
    let members = [member("C0", &["t0"]), member("C1", &["t0", "t1"]), member("C2", &["t0", "t1", "t2"])];
    let a = RoundRobinAssignor.assign(&p, &members);
    assert_eq!(get(&a, "C0"), [tp("t0", 0)]);
    assert_eq!(get(&a, "C1"), [tp("t1", 0)]);
    assert_eq!(get(&a, "C2"), [tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]);
}

/// `testTwoStaticConsumersTwoTopicsSixPartitions`,
/// `testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions`,
/// `testStaticMemberRoundRobinAssignmentPersistent`.
#[test]
fn round_robin_static_members() {
    let p = counts(&[("topic1", 3), ("topic2", 3)]);
    let both = ["topic1", "topic2"];
    let first = [tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)];
    let second = [tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)];
    for members in [
        vec![
            member("consumer-b", &both).with_group_instance_id("instance1"),
            member("consumer-a", &both).with_group_instance_id("instance2"),
        ],
        vec![member("consumer-b", &both).with_group_instance_id("instance1"), member("consumer-a", &both)],
    ] {
        let a = RoundRobinAssignor.assign(&p, &members);
        assert_eq!(get(&a, "consumer-b"), first);
        assert_eq!(get(&a, "consumer-a"), second);
    }

    let statics: Vec<_> = (1..=3)
        .map(|i| member(&format!("consumer{i}"), &both).with_group_instance_id(format!("instance{i}")))
        .collect();
    for dynamic in ["consumer4", "consumer5"] {
        let mut members = statics.clone();
        members.push(member(dynamic, &both));
        let a = RoundRobinAssignor.assign(&p, &members);
        assert_eq!(get(&a, "consumer1"), [tp("topic1", 0), tp("topic2", 1)]);
        assert_eq!(get(&a, "consumer2"), [tp("topic1", 1), tp("topic2", 2)]);
        assert_eq!(get(&a, "consumer3"), [tp("topic1", 2)]);
        assert_eq!(get(&a, dynamic), [tp("topic2", 0)]);
    }
}

/// `testStaticMemberRoundRobinAssignmentPersistentAfterMemberIdChanges`:
/// the assignment follows instance ids, not member ids.
#[test]
fn round_robin_static_assignment_follows_instance_ids() {
    let p = counts(&[("topic1", 5), ("topic2", 5)]);
    let both = ["topic1", "topic2"];
    let by_instance = |members: &[MemberSubscription]| -> BTreeMap<String, Vec<TopicPartition>> {
        let a = RoundRobinAssignor.assign(&p, members);
        members
            .iter()
            .filter_map(|m| m.group_instance_id.clone().map(|i| (i, get(&a, &m.member_id).to_vec())))
            .collect()
    };
    let before = by_instance(&[
        member("consumer1", &both).with_group_instance_id("instance1"),
        member("consumer2", &both).with_group_instance_id("instance2"),
        member("consumer3", &both).with_group_instance_id("instance3"),
    ]);
    let expected = BTreeMap::from([
        ("instance1".to_string(), vec![tp("topic1", 0), tp("topic1", 3), tp("topic2", 1), tp("topic2", 4)]),
        ("instance2".to_string(), vec![tp("topic1", 1), tp("topic1", 4), tp("topic2", 2)]),
        ("instance3".to_string(), vec![tp("topic1", 2), tp("topic2", 0), tp("topic2", 3)]),
    ]);
    assert_eq!(before, expected);
    let after_swap = by_instance(&[
        member("consumer1", &both).with_group_instance_id("instance1"),
        member("consumer5", &both).with_group_instance_id("instance2"),
        member("consumer4", &both).with_group_instance_id("instance3"),
    ]);
    assert_eq!(after_swap, expected);
}

// ---------------------------------------------------------------- sticky

/// SPEC §8 item 60, second part (`testAddRemoveConsumerOneTopic`), eager.
#[test]
fn sticky_add_remove_consumer_one_topic() {
    let p = counts(&[("topic", 3)]);
    let members = [member("consumer1", &["topic"])];
    let plan = StickyAssignor.plan(&p, &members);
    assert_eq!(get(&plan.target, "consumer1"), [tp("topic", 0), tp("topic", 1), tp("topic", 2)]);
    assert!(plan.transferring.is_empty());

    let members =
        [owning("consumer1", &["topic"], get(&plan.target, "consumer1"), 1), owning("consumer2", &["topic"], &[], 1)];
    let plan = StickyAssignor.plan(&p, &members);
    assert_eq!(plan.transferring, BTreeMap::from([(tp("topic", 2), "consumer2".to_string())]));
    assert_eq!(get(&plan.target, "consumer1"), [tp("topic", 0), tp("topic", 1)]);
    assert_eq!(get(&plan.target, "consumer2"), [tp("topic", 2)]);
    assert_valid_and_balanced(&p, &members, &plan.target);

    let members = [owning("consumer2", &["topic"], get(&plan.target, "consumer2"), 1)];
    let plan = StickyAssignor.plan(&p, &members);
    assert_eq!(set(get(&plan.target, "consumer2")), set(&[tp("topic", 0), tp("topic", 1), tp("topic", 2)]));
    assert!(plan.transferring.is_empty());
}

/// SPEC §8 item 60, cooperative: p2 is withheld in the first round (revoked
/// by consumer1, not yet given to consumer2), then assigned in the
/// follow-up; nothing is revoked and assigned in one round.
#[test]
fn cooperative_add_remove_consumer_one_topic() {
    let p = counts(&[("topic", 3)]);
    let a = CooperativeStickyAssignor.assign(&p, &[member("consumer1", &["topic"])]);
    assert_eq!(get(&a, "consumer1"), [tp("topic", 0), tp("topic", 1), tp("topic", 2)]);

    let members = [owning("consumer1", &["topic"], get(&a, "consumer1"), 1), owning("consumer2", &["topic"], &[], 1)];
    let first = CooperativeStickyAssignor.assign(&p, &members);
    assert_eq!(get(&first, "consumer1"), [tp("topic", 0), tp("topic", 1)]);
    assert!(get(&first, "consumer2").is_empty());
    let (last, members, rebalances) = cooperative_rounds(&p, &members, first);
    assert_eq!(rebalances, 1);
    assert_eq!(get(&last, "consumer1"), [tp("topic", 0), tp("topic", 1)]);
    assert_eq!(get(&last, "consumer2"), [tp("topic", 2)]);
    assert_valid_and_balanced(&p, &members, &last);

    let members = [owning("consumer2", &["topic"], get(&last, "consumer2"), 1)];
    let a = CooperativeStickyAssignor.assign(&p, &members);
    assert_eq!(set(get(&a, "consumer2")), set(&[tp("topic", 0), tp("topic", 1), tp("topic", 2)]));
}

/// `testOneConsumerOneTopic`, `testOnlyAssignsPartitionsFromSubscribedTopics`,
/// `testOneConsumerMultipleTopics`, `testTwoConsumersOneTopicTwoPartitions`,
/// `testTwoConsumersTwoTopicsSixPartitions` — for both sticky assignors.
#[test]
fn sticky_fresh_assignments() {
    for assignor in [&StickyAssignor as &dyn Assignor, &CooperativeStickyAssignor] {
        let a = assignor.assign(&counts(&[("topic", 3)]), &[member("consumer", &["topic"])]);
        assert_eq!(get(&a, "consumer"), [tp("topic", 0), tp("topic", 1), tp("topic", 2)]);

        let owned = [tp("topic", 0), tp("topic", 1), tp("other", 0), tp("other", 1)];
        let a = assignor.assign(&counts(&[("topic", 2)]), &[owning("consumer", &["topic"], &owned, 1)]);
        assert_eq!(get(&a, "consumer"), [tp("topic", 0), tp("topic", 1)]);

        let a = assignor.assign(&counts(&[("topic1", 1), ("topic2", 2)]), &[member("consumer", &["topic1", "topic2"])]);
        assert_eq!(get(&a, "consumer"), [tp("topic1", 0), tp("topic2", 0), tp("topic2", 1)]);

        let members = [member("consumer1", &["topic"]), member("consumer2", &["topic"])];
        let a = assignor.assign(&counts(&[("topic", 2)]), &members);
        assert_eq!((get(&a, "consumer1"), get(&a, "consumer2")), (&[tp("topic", 0)][..], &[tp("topic", 1)][..]));

        let p = counts(&[("topic1", 3), ("topic2", 3)]);
        let members = [member("consumer1", &["topic1", "topic2"]), member("consumer2", &["topic1", "topic2"])];
        let a = assignor.assign(&p, &members);
        assert_eq!(get(&a, "consumer1"), [tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)]);
        assert_eq!(get(&a, "consumer2"), [tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)]);
    }
}

/// `testMultipleConsumersMixedTopicSubscriptions` (the general builder).
#[test]
fn sticky_multiple_consumers_mixed_topic_subscriptions() {
    let p = counts(&[("topic1", 3), ("topic2", 2)]);
    let members = [
        member("consumer1", &["topic1"]),
        member("consumer2", &["topic1", "topic2"]),
        member("consumer3", &["topic1"]),
    ];
    let a = StickyAssignor.assign(&p, &members);
    assert_eq!(get(&a, "consumer1"), [tp("topic1", 0), tp("topic1", 2)]);
    assert_eq!(get(&a, "consumer2"), [tp("topic2", 0), tp("topic2", 1)]);
    assert_eq!(get(&a, "consumer3"), [tp("topic1", 1)]);
    assert_valid_and_balanced(&p, &members, &a);
}

/// `testConsumerOwningMinQuotaExpectedMaxQuota`.
#[test]
fn sticky_consumer_owning_min_quota_expected_max_quota() {
    let p = counts(&[("topic1", 2), ("topic2", 3)]);
    let t = ["topic1", "topic2"];
    let members = [
        owning("consumer1", &t, &[tp("topic1", 0), tp("topic2", 1)], 1),
        owning("consumer2", &t, &[tp("topic1", 1), tp("topic2", 2)], 1),
    ];
    let plan = StickyAssignor.plan(&p, &members);
    assert_eq!(get(&plan.target, "consumer1"), [tp("topic1", 0), tp("topic2", 1), tp("topic2", 0)]);
    assert_eq!(get(&plan.target, "consumer2"), [tp("topic1", 1), tp("topic2", 2)]);
    assert!(plan.transferring.is_empty());
}

/// `testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers`: exact only
/// because members are visited in Java `HashMap` order (consumer3,
/// consumer2, consumer1), SPEC §7.7.
#[test]
fn sticky_max_quota_consumer_more_than_expected_max_capacity_members() {
    let p = counts(&[("topic1", 2), ("topic2", 2)]);
    let t = ["topic1", "topic2"];
    let members = [
        owning("consumer1", &t, &[tp("topic1", 0), tp("topic2", 0)], 1),
        owning("consumer2", &t, &[tp("topic1", 1), tp("topic2", 1)], 1),
        owning("consumer3", &t, &[], 1),
    ];
    let plan = StickyAssignor.plan(&p, &members);
    assert_eq!(plan.transferring, BTreeMap::from([(tp("topic2", 0), "consumer3".to_string())]));
    assert_eq!(get(&plan.target, "consumer1"), [tp("topic1", 0)]);
    assert_eq!(get(&plan.target, "consumer2"), [tp("topic1", 1), tp("topic2", 1)]);
    assert_eq!(get(&plan.target, "consumer3"), [tp("topic2", 0)]);

    // Cooperative: topic2-0 is withheld first, then reaches consumer3.
    let first = CooperativeStickyAssignor.assign(&p, &members);
    assert!(get(&first, "consumer3").is_empty());
    let (last, _, rebalances) = cooperative_rounds(&p, &members, first);
    assert_eq!(rebalances, 1);
    assert_eq!(last, plan.target);
}

/// `testAllConsumersAreUnderMinQuota`, `testAllConsumersReachExpectedQuotaAndAreConsideredFilled`.
#[test]
fn sticky_under_min_quota_and_filled_members() {
    let p = counts(&[("topic1", 2), ("topic2", 3)]);
    let t = ["topic1", "topic2"];
    let members = [
        owning("consumer1", &t, &[tp("topic1", 0)], 1),
        owning("consumer2", &t, &[tp("topic1", 1)], 1),
        owning("consumer3", &t, &[], 1),
    ];
    let plan = StickyAssignor.plan(&p, &members);
    assert!(plan.transferring.is_empty());
    assert_eq!(get(&plan.target, "consumer1"), [tp("topic1", 0), tp("topic2", 1)]);
    assert_eq!(get(&plan.target, "consumer2"), [tp("topic1", 1), tp("topic2", 2)]);
    assert_eq!(get(&plan.target, "consumer3"), [tp("topic2", 0)]);

    let p = counts(&[("topic", 4)]);
    let members = [
        owning("consumer1", &["topic"], &[tp("topic", 0), tp("topic", 1)], 1),
        owning("consumer2", &["topic"], &[tp("topic", 2)], 1),
        owning("consumer3", &["topic"], &[], 1),
    ];
    let plan = StickyAssignor.plan(&p, &members);
    assert!(plan.transferring.is_empty());
    assert_eq!(get(&plan.target, "consumer1"), [tp("topic", 0), tp("topic", 1)]);
    assert_eq!(get(&plan.target, "consumer2"), [tp("topic", 2)]);
    assert_eq!(get(&plan.target, "consumer3"), [tp("topic", 3)]);
}

/// `testAddRemoveTwoConsumersTwoTopics`: exact lists, including order.
#[test]
fn sticky_add_remove_two_consumers_two_topics() {
    let p = counts(&[("topic1", 3), ("topic2", 4)]);
    let t = ["topic1", "topic2"];
    let a = StickyAssignor.assign(&p, &[member("consumer1", &t), member("consumer2", &t)]);
    assert_eq!(get(&a, "consumer1"), [tp("topic1", 0), tp("topic1", 2), tp("topic2", 1), tp("topic2", 3)]);
    assert_eq!(get(&a, "consumer2"), [tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)]);

    let members = [
        owning("consumer1", &t, get(&a, "consumer1"), 1),
        owning("consumer2", &t, get(&a, "consumer2"), 1),
        owning("consumer3", &t, &[], 1),
        owning("consumer4", &t, &[], 1),
    ];
    let plan = StickyAssignor.plan(&p, &members);
    let expected_transfers = BTreeMap::from([
        (tp("topic1", 2), "consumer3".to_string()),
        (tp("topic2", 3), "consumer3".to_string()),
        (tp("topic2", 2), "consumer4".to_string()),
    ]);
    assert_eq!(plan.transferring, expected_transfers);
    let b = plan.target;
    assert_eq!(get(&b, "consumer1"), [tp("topic1", 0), tp("topic2", 1)]);
    assert_eq!(get(&b, "consumer2"), [tp("topic2", 0), tp("topic1", 1)]);
    assert_eq!(get(&b, "consumer3"), [tp("topic1", 2), tp("topic2", 3)]);
    assert_eq!(get(&b, "consumer4"), [tp("topic2", 2)]);

    let members = [owning("consumer3", &t, get(&b, "consumer3"), 1), owning("consumer4", &t, get(&b, "consumer4"), 1)];
    let plan = StickyAssignor.plan(&p, &members);
    assert_eq!(get(&plan.target, "consumer3"), [tp("topic1", 2), tp("topic2", 3), tp("topic1", 0), tp("topic2", 1)]);
    assert_eq!(get(&plan.target, "consumer4"), [tp("topic2", 2), tp("topic1", 1), tp("topic2", 0)]);
    assert!(plan.transferring.is_empty());
}

/// `testOwnedPartitionsAreInvalidatedForConsumerWithStaleGeneration` /
/// `...WithNoGeneration` / `...WithMultipleGeneration`,
/// `testEnsurePartitionsAssignedToHighestGeneration`, `testNoReassignmentOnCurrentMembers`.
#[test]
fn sticky_generations_decide_conflicting_claims() {
    let p = counts(&[("topic", 3), ("topic2", 3)]);
    let t = ["topic", "topic2"];
    let claimed = [tp("topic", 0), tp("topic", 2), tp("topic2", 1)];
    for stale in [Some(9), None] {
        let mut second = owning("consumer2", &t, &claimed, 0);
        second.generation = stale;
        let members = [owning("consumer1", &t, &claimed, 10), second];
        let plan = StickyAssignor.plan(&p, &members);
        assert_eq!(set(get(&plan.target, "consumer1")), set(&claimed));
        assert_eq!(set(get(&plan.target, "consumer2")), set(&[tp("topic", 1), tp("topic2", 0), tp("topic2", 2)]));
        assert!(plan.transferring.is_empty());
    }

    let members = [
        owning("consumer1", &t, &[tp("topic", 0), tp("topic2", 1), tp("topic", 1)], 10),
        owning("consumer2", &t, &[tp("topic", 0), tp("topic2", 1), tp("topic2", 2)], 8),
    ];
    let plan = StickyAssignor.plan(&p, &members);
    assert_eq!(set(get(&plan.target, "consumer1")), set(&[tp("topic", 0), tp("topic2", 1), tp("topic", 1)]));
    assert_eq!(set(get(&plan.target, "consumer2")), set(&[tp("topic", 2), tp("topic2", 2), tp("topic2", 0)]));
    assert!(plan.transferring.is_empty());

    let p = counts(&[("topic", 3), ("topic2", 3), ("topic3", 3)]);
    let t = ["topic", "topic2", "topic3"];
    let members = [
        owning("consumer1", &t, &[tp("topic", 0), tp("topic2", 0), tp("topic3", 0)], 10),
        owning("consumer2", &t, &[tp("topic", 1), tp("topic2", 1), tp("topic3", 1)], 9),
        owning("consumer3", &t, &[tp("topic2", 1), tp("topic3", 0), tp("topic3", 2)], 8),
    ];
    let plan = StickyAssignor.plan(&p, &members);
    assert_eq!(set(get(&plan.target, "consumer1")), set(&[tp("topic", 0), tp("topic2", 0), tp("topic3", 0)]));
    assert_eq!(set(get(&plan.target, "consumer2")), set(&[tp("topic", 1), tp("topic2", 1), tp("topic3", 1)]));
    assert_eq!(set(get(&plan.target, "consumer3")), set(&[tp("topic", 2), tp("topic2", 2), tp("topic3", 2)]));
    assert!(plan.transferring.is_empty());

    let p = counts(&[("topic", 3), ("topic1", 3), ("topic2", 3), ("topic3", 3)]);
    let t = ["topic", "topic2", "topic3", "topic1"];
    let members = [
        owning("consumer1", &t, &[], -1),
        owning("consumer2", &t, &[tp("topic", 0), tp("topic2", 0), tp("topic1", 0)], 9),
        owning("consumer3", &t, &[tp("topic3", 2), tp("topic2", 2), tp("topic1", 1)], 8),
        owning("consumer4", &t, &[tp("topic3", 1), tp("topic", 1), tp("topic", 2)], 7),
    ];
    let plan = StickyAssignor.plan(&p, &members);
    assert_eq!(set(get(&plan.target, "consumer1")), set(&[tp("topic1", 2), tp("topic2", 1), tp("topic3", 0)]));
    assert!(plan.transferring.is_empty());
    assert!(fully_balanced(&plan.target));
}

/// `testPartitionsTransferringOwnershipIncludeThePartitionClaimedByMultipleConsumersInSameGeneration`
/// and the two `CooperativeStickyAssignorTest`
/// `testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultipleConsumersInSameGeneration…` cases.
#[test]
fn claimed_twice_in_one_generation() {
    let p = counts(&[("topic", 3)]);
    let members = [
        owning("consumer1", &["topic"], &[tp("topic", 0), tp("topic", 1)], 1),
        owning("consumer2", &["topic"], &[tp("topic", 0), tp("topic", 2)], 1),
        owning("consumer3", &["topic"], &[], 1),
    ];
    let plan = StickyAssignor.plan(&p, &members);
    assert_eq!(plan.transferring, BTreeMap::from([(tp("topic", 0), "consumer3".to_string())]));
    assert_eq!(get(&plan.target, "consumer1"), [tp("topic", 1)]);
    assert_eq!(get(&plan.target, "consumer2"), [tp("topic", 2)]);
    assert_eq!(get(&plan.target, "consumer3"), [tp("topic", 0)]);

    let first = CooperativeStickyAssignor.assign(&p, &members);
    assert_eq!(get(&first, "consumer1"), [tp("topic", 1)]);
    assert_eq!(get(&first, "consumer2"), [tp("topic", 2)]);
    assert!(get(&first, "consumer3").is_empty());
    let (last, members, _) = cooperative_rounds(&p, &members, first);
    assert_valid_and_balanced(&p, &members, &last);
    assert!(fully_balanced(&last));

    let p = counts(&[("topic", 4)]);
    let members = [
        owning("consumer1", &["topic"], &[tp("topic", 0), tp("topic", 1)], 1),
        owning("consumer2", &["topic"], &[tp("topic", 0), tp("topic", 2)], 1),
        owning("consumer3", &["topic"], &[], 1),
    ];
    let first = CooperativeStickyAssignor.assign(&p, &members);
    assert_eq!(get(&first, "consumer1"), [tp("topic", 1), tp("topic", 3)]);
    assert_eq!(get(&first, "consumer2"), [tp("topic", 2)]);
    assert!(get(&first, "consumer3").is_empty());
    let (last, members, _) = cooperative_rounds(&p, &members, first);
    assert_valid_and_balanced(&p, &members, &last);
}

/// `testAddRemoveTopicTwoConsumers`: adding a topic keeps what each had;
/// removing it keeps the rest.
#[test]
fn sticky_add_remove_topic_two_consumers() {
    let mut p = counts(&[("topic", 3)]);
    let a = StickyAssignor.assign(&p, &[member("consumer1", &["topic"]), member("consumer2", &["topic"])]);
    assert!(fully_balanced(&a));

    p.insert("topic2".to_string(), 3);
    let t = ["topic", "topic2"];
    let members = [owning("consumer1", &t, get(&a, "consumer1"), 1), owning("consumer2", &t, get(&a, "consumer2"), 1)];
    let plan = StickyAssignor.plan(&p, &members);
    let b = plan.target;
    assert!(plan.transferring.is_empty());
    assert_eq!((get(&b, "consumer1").len(), get(&b, "consumer2").len()), (3, 3));
    for id in ["consumer1", "consumer2"] {
        assert!(set(get(&b, id)).is_superset(&set(get(&a, id))), "{id}");
    }

    p.remove("topic");
    let members = [
        owning("consumer1", &["topic2"], get(&b, "consumer1"), 1),
        owning("consumer2", &["topic2"], get(&b, "consumer2"), 1),
    ];
    let plan = StickyAssignor.plan(&p, &members);
    assert!(plan.transferring.is_empty());
    assert!(fully_balanced(&plan.target));
    for id in ["consumer1", "consumer2"] {
        assert!(set(get(&b, id)).is_superset(&set(get(&plan.target, id))), "{id}");
    }
}

/// `testReassignmentAfterOneConsumerLeaves` / `testSameSubscriptions`
/// shapes: nested and identical subscriptions over many topics, one
/// member leaves; the result stays valid and balanced.
#[test]
fn sticky_many_topics_one_member_leaves() {
    let p: BTreeMap<String, u32> = (1..20).map(|i| (format!("t{i:02}"), i)).collect();
    let members: Vec<MemberSubscription> = (1..20)
        .map(|i| {
            let topics: Vec<String> = (1..=i).map(|j| format!("t{j:02}")).collect();
            MemberSubscription::new(format!("c{i:02}"), topics)
        })
        .collect();
    let a = StickyAssignor.assign(&p, &members);
    assert_valid_and_balanced(&p, &members, &a);
    let next: Vec<_> = after(&members, &a, 1).into_iter().filter(|m| m.member_id != "c10").collect();
    let b = StickyAssignor.assign(&p, &next);
    assert_valid_and_balanced(&p, &next, &b);
    assert_complete(&p, &next, &b);

    let p: BTreeMap<String, u32> = (1..15).map(|i| (format!("t{i:02}"), i)).collect();
    let all: Vec<String> = p.keys().cloned().collect();
    let members: Vec<_> = (1..9).map(|i| MemberSubscription::new(format!("c{i}"), all.clone())).collect();
    let a = StickyAssignor.assign(&p, &members);
    assert_valid_and_balanced(&p, &members, &a);
    let next: Vec<_> = after(&members, &a, 1).into_iter().filter(|m| m.member_id != "c5").collect();
    let plan = StickyAssignor.plan(&p, &next);
    assert!(plan.transferring.is_empty());
    assert_valid_and_balanced(&p, &next, &plan.target);
    for m in &next {
        assert!(set(get(&plan.target, &m.member_id)).is_superset(&set(&m.owned_partitions)));
    }
}

/// `testMoveExistingAssignments`, `testNewSubscription` (general builder,
/// single-partition topics), for both sticky assignors.
#[test]
fn sticky_general_builder_kafka_cases() {
    let p: BTreeMap<String, u32> = (1..=6).map(|i| (format!("topic{i}"), 1)).collect();
    let members = [
        owning("consumer1", &["topic1", "topic2"], &[tp("topic1", 0)], 1),
        owning("consumer2", &["topic1", "topic2", "topic3", "topic4"], &[tp("topic2", 0), tp("topic3", 0)], 1),
        owning(
            "consumer3",
            &["topic2", "topic3", "topic4", "topic5", "topic6"],
            &[tp("topic4", 0), tp("topic5", 0), tp("topic6", 0)],
            1,
        ),
    ];
    let a = StickyAssignor.assign(&p, &members);
    assert_valid_and_balanced(&p, &members, &a);
    assert_complete(&p, &members, &a);
    let (last, members, _) = cooperative_rounds(&p, &members, CooperativeStickyAssignor.assign(&p, &members));
    assert_valid_and_balanced(&p, &members, &last);

    // consumer i subscribes to topics i..=3i-2: c0 to none, c1 to t1, c2 to t2..t4.
    let p: BTreeMap<String, u32> = (1..5).map(|i| (format!("t{i}"), 1)).collect();
    let mut members: Vec<MemberSubscription> = (0..3u32)
        .map(|i| {
            MemberSubscription::new(
                format!("c{i}"),
                (i..=(3 * i).saturating_sub(2)).filter(|&j| j >= 1 && i > 0).map(|j| format!("t{j}")),
            )
        })
        .collect();
    let a = StickyAssignor.assign(&p, &members);
    assert_valid_and_balanced(&p, &members, &a);
    if let Some(c0) = members.first_mut() {
        c0.topics.push("t1".to_string());
    }
    let b = StickyAssignor.assign(&p, &members);
    assert_valid_and_balanced(&p, &members, &b);
    assert_complete(&p, &members, &b);
}

/// `testStickiness`: four members on three partitions, the one with the
/// smallest id leaves; everyone keeps its partition.
#[test]
fn sticky_stickiness_when_leader_leaves() {
    let p = counts(&[("topic1", 3)]);
    let members: Vec<_> = (1..=4).map(|i| member(&format!("consumer{i}"), &["topic1"])).collect();
    let a = StickyAssignor.assign(&p, &members);
    assert!(a.values().all(|l| l.len() <= 1));
    let rest: Vec<_> = after(&members, &a, 1).into_iter().skip(1).collect();
    let plan = StickyAssignor.plan(&p, &rest);
    assert!(plan.transferring.is_empty());
    for m in &rest {
        assert_eq!(get(&plan.target, &m.member_id).len(), 1);
        assert!(set(get(&plan.target, &m.member_id)).is_superset(&set(&m.owned_partitions)));
    }
}

/// `testAssignmentUpdatedForDeletedTopic`, `testNoExceptionThrownWhenOnlySubscribedTopicDeleted`.
#[test]
fn sticky_deleted_topics() {
    let p = counts(&[("topic1", 1), ("topic3", 100)]);
    let a = StickyAssignor.assign(&p, &[member("consumer", &["topic1", "topic2", "topic3"])]);
    assert_eq!(get(&a, "consumer").len(), 101);

    let p = counts(&[("topic", 3)]);
    let a = StickyAssignor.assign(&p, &[member("consumer", &["topic"])]);
    let members = [owning("consumer", &["topic"], get(&a, "consumer"), 1)];
    for assignor in [&StickyAssignor as &dyn Assignor, &CooperativeStickyAssignor] {
        let b = assignor.assign(&BTreeMap::new(), &members);
        assert_eq!(b, BTreeMap::from([("consumer".to_string(), vec![])]));
    }
}

/// Unusual input: no members, unknown topics, empty topics, duplicate ids,
/// owned partitions beyond a topic's count.
#[test]
fn odd_inputs_do_not_panic() {
    let assignors: [&dyn Assignor; 4] =
        [&RangeAssignor, &RoundRobinAssignor, &StickyAssignor, &CooperativeStickyAssignor];
    let p = counts(&[("empty", 0), ("t", 2)]);
    for a in assignors {
        assert!(a.assign(&p, &[]).is_empty(), "{}", a.name());
        let out = a.assign(&p, &[member("m", &["nope", "empty"])]);
        assert_eq!(out, BTreeMap::from([("m".to_string(), vec![])]), "{}", a.name());
        let dup = [member("m", &["nope"]), member("x", &["t"]), member("m", &["t"])];
        let out = a.assign(&p, &dup);
        assert_eq!(out.len(), 2, "{}", a.name());
        assert_eq!(out.values().map(Vec::len).sum::<usize>(), 2, "{}", a.name());
        let stale = [owning("m", &["t"], &[tp("t", 7), tp("t", 1), tp("t", 1), tp("gone", 0)], 3)];
        let out = a.assign(&p, &stale);
        assert_eq!(set(get(&out, "m")), set(&[tp("t", 0), tp("t", 1)]), "{}", a.name());
    }
}

/// `cooperative_first_round` on a hand-made target: a partition moving from
/// one owner to another is withheld, a partition nobody owned is given.
#[test]
fn cooperative_first_round_withholds_moving_partitions() {
    let members = [owning("a", &["t"], &[tp("t", 0), tp("t", 1)], 4), owning("b", &["t"], &[], 4)];
    let target = BTreeMap::from([("a".to_string(), vec![tp("t", 0)]), ("b".to_string(), vec![tp("t", 1), tp("t", 2)])]);
    assert_eq!(partitions_transferring_ownership(&target, &members), BTreeMap::from([(tp("t", 1), "b".to_string())]));
    let first = cooperative_first_round(&target, &members);
    assert_eq!(get(&first, "a"), [tp("t", 0)]);
    assert_eq!(get(&first, "b"), [tp("t", 2)]);
}

// ---------------------------------------------------------------- properties

/// Cases per property: `default`, or `PROPTEST_CASES` when set.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Topic partition counts (some zero) and members' subscriptions: either
/// everyone subscribes to every topic, or each to a random non-empty subset.
fn group() -> impl Strategy<Value = (BTreeMap<String, u32>, Vec<MemberSubscription>)> {
    (prop::collection::vec(0u32..9, 1..5), 1usize..7, any::<bool>(), prop::collection::vec(any::<u8>(), 7)).prop_map(
        |(sizes, n, uniform, masks)| {
            let p: BTreeMap<String, u32> = sizes.iter().enumerate().map(|(i, &c)| (format!("t{i}"), c)).collect();
            let names: Vec<String> = p.keys().cloned().collect();
            let members = (0..n)
                .map(|i| {
                    let mask = masks.get(i).copied().unwrap_or(0);
                    let mut topics: Vec<String> = names
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| uniform || mask & (1 << j) != 0)
                        .map(|(_, t)| t.clone())
                        .collect();
                    if topics.is_empty() {
                        topics = names.iter().take(1).cloned().collect();
                    }
                    MemberSubscription::new(format!("member-{}", (i * 7919) % 1000), topics)
                })
                .collect();
            (p, members)
        },
    )
}

fn uniform_group() -> impl Strategy<Value = (BTreeMap<String, u32>, Vec<MemberSubscription>)> {
    (prop::collection::vec(0u32..12, 1..4), 1usize..8).prop_map(|(sizes, n)| {
        let p: BTreeMap<String, u32> = sizes.iter().enumerate().map(|(i, &c)| (format!("t{i}"), c)).collect();
        let names: Vec<String> = p.keys().cloned().collect();
        let members = (0..n).map(|i| MemberSubscription::new(format!("consumer{i}"), names.clone())).collect();
        (p, members)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(200)))]

    /// Every assignor: each existing partition of a subscribed topic goes to
    /// exactly one subscribed member; the sticky ones are also balanced.
    #[test]
    fn all_assignors_valid((p, members) in group()) {
        for a in [&RangeAssignor as &dyn Assignor, &RoundRobinAssignor, &StickyAssignor] {
            let out = a.assign(&p, &members);
            let mut seen = HashSet::new();
            for m in &members {
                for tp in get(&out, &m.member_id) {
                    prop_assert!(m.topics.contains(&tp.topic));
                    prop_assert!(seen.insert(tp.clone()));
                }
            }
            assert_complete(&p, &members, &out);
        }
        let sticky = StickyAssignor.assign(&p, &members);
        assert_valid_and_balanced(&p, &members, &sticky);
    }

    /// Sticky with identical subscriptions: counts differ by at most one,
    /// whatever members owned before (even conflicting, stale claims).
    #[test]
    fn sticky_balanced_from_any_ownership(
        (p, members) in uniform_group(),
        owners in prop::collection::vec((0usize..8, 0u32..12, 0usize..3, 0i32..3), 0..30),
    ) {
        let names: Vec<&String> = p.keys().collect();
        let mut members = members;
        let n = members.len();
        for (who, partition, topic, generation) in owners {
            if let (Some(m), Some(t)) = (members.get_mut(who % n), names.get(topic % names.len())) {
                m.owned_partitions.push(TopicPartition::new(t.as_str(), partition));
                m.generation = Some(generation);
            }
        }
        let plan = StickyAssignor.plan(&p, &members);
        assert_valid_and_balanced(&p, &members, &plan.target);
        assert_complete(&p, &members, &plan.target);
        prop_assert!(fully_balanced(&plan.target));
        let (last, members, _) = cooperative_rounds(&p, &members, CooperativeStickyAssignor.assign(&p, &members));
        prop_assert_eq!(last.clone(), StickyAssignor.assign(&p, &members));
        prop_assert!(fully_balanced(&last));
    }

    /// Stickiness when a member leaves: starting from the sticky
    /// assignment, every remaining member keeps all it had; only the
    /// leaver's partitions move, and cooperative withholds nothing.
    #[test]
    fn sticky_member_leaves((p, members) in uniform_group(), leaver in 0usize..8) {
        let a = StickyAssignor.assign(&p, &members);
        let leaver = members.get(leaver % members.len()).map(|m| m.member_id.clone()).unwrap_or_default();
        let rest: Vec<_> = after(&members, &a, 1).into_iter().filter(|m| m.member_id != leaver).collect();
        let plan = StickyAssignor.plan(&p, &rest);
        prop_assert!(plan.transferring.is_empty());
        for m in &rest {
            prop_assert!(set(get(&plan.target, &m.member_id)).is_superset(&set(&m.owned_partitions)));
        }
        prop_assert!(fully_balanced(&plan.target));
        prop_assert_eq!(CooperativeStickyAssignor.assign(&p, &rest), plan.target);
    }

    /// Stickiness when a member joins: only partitions given to the
    /// newcomer move, and it gets no more than balance requires.
    #[test]
    fn sticky_member_joins((p, members) in uniform_group()) {
        let a = StickyAssignor.assign(&p, &members);
        let topics: Vec<String> = p.keys().cloned().collect();
        let mut next = after(&members, &a, 1);
        next.push(MemberSubscription::new("newcomer", topics).with_owned([], 1));
        let plan = StickyAssignor.plan(&p, &next);
        let total: usize = p.values().map(|&c| c as usize).sum();
        let got = get(&plan.target, "newcomer").len();
        prop_assert!(got <= total.div_ceil(next.len()));
        let moved: Vec<_> = next
            .iter()
            .flat_map(|m| get(&plan.target, &m.member_id).iter().filter(move |p| !m.owned_partitions.contains(p)))
            .collect();
        prop_assert_eq!(moved.len(), got);
        prop_assert!(fully_balanced(&plan.target));
        prop_assert_eq!(plan.transferring.len(), got);
        // Cooperative: the newcomer waits for all of them one round.
        let first = CooperativeStickyAssignor.assign(&p, &next);
        prop_assert!(get(&first, "newcomer").is_empty());
        let (last, _, rebalances) = cooperative_rounds(&p, &next, first);
        prop_assert!(rebalances <= 1);
        prop_assert_eq!(last, plan.target);
    }

    /// Mixed subscriptions, sticky and cooperative: after a member leaves,
    /// the result is valid and balanced, and cooperative rounds converge to
    /// a valid, balanced assignment without revoking and adding at once.
    #[test]
    fn sticky_mixed_subscriptions_member_leaves((p, members) in group(), leaver in 0usize..7) {
        let a = StickyAssignor.assign(&p, &members);
        let leaver = members.get(leaver % members.len()).map(|m| m.member_id.clone()).unwrap_or_default();
        let rest: Vec<_> = after(&members, &a, 1).into_iter().filter(|m| m.member_id != leaver).collect();
        let b = StickyAssignor.assign(&p, &rest);
        assert_valid_and_balanced(&p, &rest, &b);
        assert_complete(&p, &rest, &b);
        let (last, rest, _) = cooperative_rounds(&p, &rest, CooperativeStickyAssignor.assign(&p, &rest));
        assert_valid_and_balanced(&p, &rest, &last);
        assert_complete(&p, &rest, &last);
    }
}
