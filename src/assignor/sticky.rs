//! Kafka's sticky assignors (SPEC §7.7): `AbstractStickyAssignor` with its
//! two builders, the eager `StickyAssignor` and the `CooperativeStickyAssignor`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use super::java::{self, HashSetOrder};
use super::{Assignment, Assignor, Group, MemberSubscription, RebalanceProtocol, TopicPartition};

/// Kafka's `DEFAULT_GENERATION`: the generation of a member that sent none.
const NO_GENERATION: i32 = -1;

/// Kafka's `sticky` strategy (eager protocol): a balanced assignment that
/// keeps as many of the members' owned partitions as balance allows.
///
/// Balance comes first: when all members subscribe to the same topics,
/// partition counts differ by at most one; otherwise no member could take a
/// partition from one holding two or more partitions more. Then stickiness:
/// previously owned partitions stay where they are unless balance needs
/// them to move, and only as many move as needed.
///
/// Previous ownership is each member's [`MemberSubscription::owned_partitions`]
/// with its [`generation`](MemberSubscription::generation). When several
/// members claim a partition, the highest generation wins; two claims in
/// the same generation are both discarded.
///
/// This follows Kafka's `AbstractStickyAssignor` step by step (its
/// equal-subscription builder, and its general builder otherwise), without
/// rack awareness, including the places where Kafka's result depends on
/// the iteration order of a Java `HashMap`: members are visited in the
/// order a `HashMap<String, _>` filled with their ids in `members` order
/// would visit them, and partition movements in `HashSet` order. Where it
/// departs from Kafka:
///
/// - Subscriptions count as equal only if they are equal as sets (Kafka
///   also takes the equal-subscription path when the first member visited
///   subscribes to nothing, and can then give a member partitions of a
///   topic it does not subscribe to).
/// - When balancing returns a partition to an earlier owner, that owner
///   must still subscribe to the topic and take part in balancing (Kafka
///   does not check).
/// - Balancing stops after a generous number of moves (a guard against
///   looping forever on inconsistent input; Kafka has none).
/// - No state is kept between calls (Kafka's assignor object remembers the
///   highest generation it has seen across calls).
/// - Where Kafka throws an `IllegalStateException` it considers
///   unreachable, the partition goes to the least loaded member.
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyAssignor;

/// Kafka's `cooperative-sticky` strategy: the [`StickyAssignor`]'s
/// assignment, minus every partition that changes owner.
///
/// Under the cooperative protocol a member keeps consuming what it keeps;
/// a partition moving from member A to member B is first revoked: it is in
/// neither A's nor B's assignment of this rebalance. A, having revoked it,
/// triggers a follow-up rebalance, whose assignment (with A no longer
/// owning it) gives it to B. So no partition is ever added to one member in
/// the rebalance it is revoked from another. [`StickyAssignor::plan`] gives
/// the final target and the withheld partitions.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

/// A sticky assignment with what the cooperative protocol withholds from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickyPlan {
    /// The target assignment (what the eager [`StickyAssignor`] returns).
    pub target: Assignment,
    /// Partitions that change owner: partition → its new owner. Under the
    /// cooperative protocol these are withheld in the first rebalance.
    pub transferring: BTreeMap<TopicPartition, String>,
}

impl StickyPlan {
    /// What the cooperative protocol assigns in this rebalance: the target
    /// without the transferring partitions.
    #[must_use]
    pub fn first_round(&self) -> Assignment {
        let mut out = self.target.clone();
        for (tp, owner) in &self.transferring {
            if let Some(list) = out.get_mut(owner) {
                list.retain(|p| p != tp);
            }
        }
        out
    }
}

impl StickyAssignor {
    /// The target assignment and the partitions that change owner in it.
    ///
    /// When all members subscribe to the same topics, `transferring` is the
    /// set Kafka's builder records while assigning (partitions given to a
    /// member other than the one that kept claim to them, and partitions
    /// claimed twice in one generation); otherwise it is computed as
    /// [`partitions_transferring_ownership`] does.
    #[must_use]
    pub fn plan(&self, partitions_per_topic: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> StickyPlan {
        plan(partitions_per_topic, members)
    }
}

impl Assignor for StickyAssignor {
    fn name(&self) -> &'static str {
        "sticky"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(&self, partitions_per_topic: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
        plan(partitions_per_topic, members).target
    }
}

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    /// The first-round assignment: [`StickyPlan::first_round`].
    fn assign(&self, partitions_per_topic: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
        plan(partitions_per_topic, members).first_round()
    }
}

/// Partitions that an assignment moves from one member to another: assigned
/// to a member that did not own it, and owned by a member that is not
/// assigned it. Maps each to its new owner. Ownership is read from the
/// members' `owned_partitions` (members absent from `target` own nothing
/// that counts; members missing from `members` owned nothing).
#[must_use]
pub fn partitions_transferring_ownership(
    target: &Assignment,
    members: &[MemberSubscription],
) -> BTreeMap<TopicPartition, String> {
    transfers(target, members.iter())
}

fn transfers<'m>(
    target: &Assignment,
    members: impl Iterator<Item = &'m MemberSubscription>,
) -> BTreeMap<TopicPartition, String> {
    let by_id: HashMap<&str, &MemberSubscription> = members.map(|m| (m.member_id.as_str(), m)).collect();
    let mut added: BTreeMap<TopicPartition, String> = BTreeMap::new();
    let mut revoked: HashSet<&TopicPartition> = HashSet::new();
    for (member, assigned) in target {
        let owned: &[TopicPartition] = by_id.get(member.as_str()).map_or(&[], |m| &m.owned_partitions);
        for tp in assigned {
            if !owned.contains(tp) {
                added.insert(tp.clone(), member.clone());
            }
        }
        revoked.extend(owned.iter().filter(|tp| !assigned.contains(tp)));
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}

/// What the cooperative protocol assigns in the first rebalance towards
/// `target`: `target` without the partitions that move from one owner to
/// another ([`partitions_transferring_ownership`]). The old owner does not
/// get them (they are not in its target), and the new owner gets them only
/// in the follow-up rebalance, once the old owner no longer lists them as
/// owned.
#[must_use]
pub fn cooperative_first_round(target: &Assignment, members: &[MemberSubscription]) -> Assignment {
    StickyPlan { target: target.clone(), transferring: partitions_transferring_ownership(target, members) }
        .first_round()
}

/// Members as the builders see them: index order is Java member-id order.
struct Ctx<'a> {
    members: Vec<&'a MemberSubscription>,
    /// Each member's subscribed topics that exist.
    topics_of: Vec<BTreeSet<&'a str>>,
    /// Each member's raw subscription, as a set.
    subscription_of: Vec<BTreeSet<&'a str>>,
    /// Indexes in Java `HashMap` iteration order.
    visit: Vec<usize>,
    /// Subscribed, non-empty topics in Java order, with partition counts.
    topics: Vec<(&'a str, u32)>,
    counts: HashMap<&'a str, u32>,
}

impl<'a> Ctx<'a> {
    fn new(group: &Group<'a>) -> Self {
        let hash_order = java::hash_map_order(&group.members);
        let mut members = group.members.clone();
        members.sort_by(|a, b| java::str_cmp(&a.member_id, &b.member_id));
        let index_of: HashMap<&str, usize> =
            members.iter().enumerate().map(|(i, m)| (m.member_id.as_str(), i)).collect();
        let visit = hash_order
            .iter()
            .filter_map(|&i| group.members.get(i).and_then(|m| index_of.get(m.member_id.as_str()).copied()))
            .collect();
        let counts: HashMap<&str, u32> = group.topics.iter().copied().collect();
        let subscription_of: Vec<BTreeSet<&str>> =
            members.iter().map(|m| m.topics.iter().map(String::as_str).collect()).collect();
        let topics_of =
            subscription_of.iter().map(|s| s.iter().copied().filter(|t| counts.contains_key(t)).collect()).collect();
        Ctx { members, topics_of, subscription_of, visit, topics: group.topics.clone(), counts }
    }

    fn exists(&self, tp: &TopicPartition) -> bool {
        self.counts.get(tp.topic.as_str()).is_some_and(|&n| tp.partition < n)
    }

    fn generation(&self, m: usize) -> i32 {
        self.members.get(m).and_then(|s| s.generation).unwrap_or(NO_GENERATION)
    }

    fn subscribes(&self, m: usize, topic: &str) -> bool {
        self.topics_of.get(m).is_some_and(|t| t.contains(topic))
    }

    fn to_assignment(&self, lists: Vec<Vec<TopicPartition>>) -> Assignment {
        self.members.iter().zip(lists).map(|(m, list)| (m.member_id.clone(), list)).collect()
    }
}

/// Previous ownership after settling conflicting claims
/// (`allSubscriptionsEqual` in Kafka).
struct Claims {
    owned: Vec<Vec<TopicPartition>>,
    claimed_twice: HashSet<TopicPartition>,
    all_equal: bool,
    max_generation: i32,
}

fn settle_claims(ctx: &Ctx) -> Claims {
    let n = ctx.members.len();
    let mut owned: Vec<Vec<TopicPartition>> = vec![Vec::new(); n];
    let mut claimed_twice = HashSet::new();
    let mut owner_of: HashMap<TopicPartition, usize> = HashMap::new();
    let mut max_generation = NO_GENERATION;
    let first_subscription = ctx.visit.first().and_then(|&m| ctx.subscription_of.get(m));
    let all_equal = ctx.visit.iter().all(|&m| ctx.subscription_of.get(m) == first_subscription);
    for &m in &ctx.visit {
        let generation = ctx.generation(m);
        max_generation = max_generation.max(generation);
        let Some(sub) = ctx.members.get(m) else { continue };
        let mut seen = HashSet::new();
        for tp in sub.owned_partitions.iter().filter(|tp| ctx.exists(tp) && seen.insert(*tp)) {
            match owner_of.get(tp).copied() {
                None => {
                    if let Some(list) = owned.get_mut(m) {
                        list.push(tp.clone());
                    }
                    owner_of.insert(tp.clone(), m);
                }
                Some(other) => {
                    let other_generation = ctx.generation(other);
                    if generation < other_generation {
                        continue;
                    }
                    if let Some(list) = owned.get_mut(other) {
                        list.retain(|p| p != tp);
                    }
                    if generation == other_generation {
                        claimed_twice.insert(tp.clone());
                    } else if let Some(list) = owned.get_mut(m) {
                        list.push(tp.clone());
                    }
                    owner_of.insert(tp.clone(), m);
                }
            }
        }
    }
    Claims { owned, claimed_twice, all_equal, max_generation }
}

fn plan(partitions_per_topic: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> StickyPlan {
    let group = Group::new(partitions_per_topic, members);
    if group.members.is_empty() {
        return StickyPlan { target: Assignment::new(), transferring: BTreeMap::new() };
    }
    let ctx = Ctx::new(&group);
    let claims = settle_claims(&ctx);
    if claims.all_equal {
        let (lists, transferring) = constrained(&ctx, claims);
        let transferring = transferring
            .into_iter()
            .filter_map(|(tp, m)| ctx.members.get(m).map(|s| (tp, s.member_id.clone())))
            .collect();
        StickyPlan { target: ctx.to_assignment(lists), transferring }
    } else {
        let lists = General::new(&ctx, claims).build();
        let target = ctx.to_assignment(lists);
        let transferring = transfers(&target, group.members.iter().copied());
        StickyPlan { target, transferring }
    }
}

/// All members subscribe to the same topics (Kafka's
/// `ConstrainedAssignmentBuilder`, without racks).
fn constrained(ctx: &Ctx, claims: Claims) -> (Vec<Vec<TopicPartition>>, BTreeMap<TopicPartition, usize>) {
    let Claims { owned, claimed_twice, .. } = claims;
    let n = ctx.members.len();
    let total: usize = ctx.topics.iter().map(|&(_, c)| c as usize).sum();
    let min_quota = total / n.max(1);
    let max_quota = total.div_ceil(n.max(1));
    let expected_over_min = total % n.max(1);
    let mut over_min = 0usize;

    let mut assignment: Vec<Vec<TopicPartition>> = vec![Vec::new(); n];
    let mut kept: HashSet<TopicPartition> = HashSet::new();
    let mut maybe_revoked: HashMap<TopicPartition, usize> = HashMap::new();
    let mut under_min: Vec<usize> = Vec::new();
    let mut at_min: VecDeque<usize> = VecDeque::new();

    // Pass 1: keep owned partitions up to the quotas, visiting members in
    // Kafka's HashMap order.
    for &m in &ctx.visit {
        // A member without an entry owned nothing (as `settle_claims` records it).
        let mut mine: Vec<TopicPartition> = owned.get(m).cloned().unwrap_or_default();
        mine.sort_by(|a, b| a.partition.cmp(&b.partition).then_with(|| java::str_cmp(&a.topic, &b.topic)));
        mine.retain(|tp| !claimed_twice.contains(tp));
        let keep = if mine.len() < min_quota {
            under_min.push(m);
            mine.len()
        } else if mine.len() >= max_quota && over_min < expected_over_min {
            over_min += 1;
            if over_min == expected_over_min {
                at_min.clear();
            }
            max_quota
        } else {
            if over_min < expected_over_min {
                at_min.push_back(m);
            }
            min_quota
        };
        let rest = mine.split_off(keep.min(mine.len()));
        for tp in rest {
            maybe_revoked.insert(tp, m);
        }
        kept.extend(mine.iter().cloned());
        if let Some(list) = assignment.get_mut(m) {
            list.extend(mine);
        }
    }

    let unassigned: Vec<TopicPartition> = ctx
        .topics
        .iter()
        .flat_map(|&(topic, count)| (0..count).map(move |p| TopicPartition::new(topic, p)))
        .filter(|tp| !kept.contains(tp))
        .collect();
    under_min.sort_unstable();
    at_min.make_contiguous().sort_unstable();

    // Pass 2: deal the rest round-robin to members under the minimum quota,
    // then one each to members at the minimum until enough reach the maximum.
    let mut transferring: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    let mut cursor = 0usize;
    for tp in unassigned {
        let (member, from_under) = if let Some(&m) = under_min.get(cursor) {
            cursor += 1;
            (m, true)
        } else if let Some(&m) = under_min.first() {
            cursor = 1;
            (m, true)
        } else if let Some(m) = at_min.pop_front() {
            (m, false)
        } else {
            // Kafka throws here ("No more unfilled consumers"); the quotas
            // make it unreachable. Fall back to the least loaded member so
            // the result stays valid.
            match (0..n).min_by_key(|&m| assignment.get(m).map_or(0, Vec::len)) {
                Some(m) => (m, false),
                None => break,
            }
        };
        if maybe_revoked.get(&tp).is_some_and(|&prev| prev != member) || claimed_twice.contains(&tp) {
            transferring.insert(tp.clone(), member);
        }
        let Some(list) = assignment.get_mut(member) else { continue };
        list.push(tp);
        let count = list.len();
        if count == min_quota && from_under {
            cursor = cursor.saturating_sub(1);
            if cursor < under_min.len() {
                under_min.remove(cursor);
            }
            at_min.push_back(member);
        }
    }
    (assignment, transferring)
}

/// Moves of partitions during balancing, to undo a move by moving back
/// rather than moving another partition (Kafka's `PartitionMovements`).
#[derive(Default)]
struct Movements {
    /// topic → (from, to) → partitions of the topic that made that move.
    by_topic: HashMap<String, HashMap<(usize, usize), HashSetOrder>>,
    of_partition: HashMap<TopicPartition, (usize, usize)>,
    seq: u64,
}

impl Movements {
    fn remove_record(&mut self, tp: &TopicPartition) -> Option<(usize, usize)> {
        let pair = self.of_partition.remove(tp)?;
        if let Some(pairs) = self.by_topic.get_mut(&tp.topic) {
            if let Some(set) = pairs.get_mut(&pair) {
                set.remove(tp);
                if set.is_empty() {
                    pairs.remove(&pair);
                }
            }
            if pairs.is_empty() {
                self.by_topic.remove(&tp.topic);
            }
        }
        Some(pair)
    }

    fn add_record(&mut self, tp: TopicPartition, pair: (usize, usize)) {
        self.of_partition.insert(tp.clone(), pair);
        self.seq += 1;
        self.by_topic.entry(tp.topic.clone()).or_default().entry(pair).or_default().insert(tp, self.seq);
    }

    fn record_move(&mut self, tp: &TopicPartition, from: usize, to: usize) {
        match self.remove_record(tp) {
            Some((origin, _)) => {
                if origin != to {
                    self.add_record(tp.clone(), (origin, to));
                }
            }
            None => self.add_record(tp.clone(), (from, to)),
        }
    }

    /// The partition to move from `from` to `to` in place of `tp`: one of
    /// the same topic that earlier moved the opposite way, if any.
    fn partition_to_move(&self, tp: &TopicPartition, from: usize, to: usize) -> TopicPartition {
        let Some(pairs) = self.by_topic.get(&tp.topic) else { return tp.clone() };
        let from = self.of_partition.get(tp).map_or(from, |&(origin, _)| origin);
        pairs.get(&(to, from)).and_then(HashSetOrder::first).cloned().unwrap_or_else(|| tp.clone())
    }
}

/// Members subscribe to different topics (Kafka's
/// `GeneralAssignmentBuilder`, without racks).
struct General<'c, 'a> {
    ctx: &'c Ctx<'a>,
    topic_members: BTreeMap<&'a str, Vec<usize>>,
    current: Vec<Vec<TopicPartition>>,
    owner: HashMap<TopicPartition, usize>,
    /// Members taking part in balancing, by (partition count, index).
    sorted: BTreeSet<(usize, usize)>,
    active: Vec<bool>,
    sorted_all: Vec<TopicPartition>,
    prev: HashMap<TopicPartition, (usize, i32)>,
    max_generation: i32,
    movements: Movements,
    /// Moves left before balancing stops (a guard Kafka does not have).
    budget: usize,
}

impl<'c, 'a> General<'c, 'a> {
    fn new(ctx: &'c Ctx<'a>, claims: Claims) -> Self {
        let n = ctx.members.len();
        let mut topic_members: BTreeMap<&str, Vec<usize>> = ctx.topics.iter().map(|&(t, _)| (t, Vec::new())).collect();
        for &m in &ctx.visit {
            for &t in ctx.topics_of.get(m).into_iter().flatten() {
                if let Some(list) = topic_members.get_mut(t) {
                    list.push(m);
                }
            }
        }
        let mut topic_order: Vec<(&str, u32)> = ctx.topics.clone();
        topic_order.sort_by(|a, b| {
            let ca = topic_members.get(a.0).map_or(0, Vec::len);
            let cb = topic_members.get(b.0).map_or(0, Vec::len);
            ca.cmp(&cb).then_with(|| java::str_cmp(a.0, b.0))
        });
        let sorted_all: Vec<TopicPartition> =
            topic_order.iter().flat_map(|&(t, c)| (0..c).map(move |p| TopicPartition::new(t, p))).collect();
        let budget = (sorted_all.len() + 1).saturating_mul(n + 1).saturating_mul(8).saturating_add(1024);
        General {
            ctx,
            topic_members,
            current: claims.owned,
            owner: HashMap::new(),
            sorted: BTreeSet::new(),
            active: vec![true; n],
            sorted_all,
            prev: HashMap::new(),
            max_generation: claims.max_generation,
            movements: Movements::default(),
            budget,
        }
    }

    fn size(&self, m: usize) -> usize {
        self.current.get(m).map_or(0, Vec::len)
    }

    fn consumers_of(&self, topic: &str) -> &[usize] {
        self.topic_members.get(topic).map_or(&[], Vec::as_slice)
    }

    /// The total partitions of the topics `m` subscribes to.
    fn max_size(&self, m: usize) -> usize {
        self.ctx
            .topics_of
            .get(m)
            .into_iter()
            .flatten()
            // A topic without a count has no partitions.
            .map(|t| self.ctx.counts.get(t).copied().unwrap_or(0) as usize)
            .sum()
    }

    fn give(&mut self, tp: TopicPartition, to: usize) {
        let size = self.size(to);
        let tracked = self.sorted.remove(&(size, to));
        if let Some(list) = self.current.get_mut(to) {
            list.push(tp.clone());
        }
        self.owner.insert(tp, to);
        if tracked {
            self.sorted.insert((size + 1, to));
        }
    }

    fn build(mut self) -> Vec<Vec<TopicPartition>> {
        self.remember_previous();
        let mut revocation_required = false;
        let mut assigned: HashSet<TopicPartition> = HashSet::new();
        for m in 0..self.current.len() {
            let topics = self.ctx.subscription_of.get(m);
            if let Some(list) = self.current.get_mut(m) {
                let before = list.len();
                list.retain(|tp| topics.is_some_and(|t| t.contains(tp.topic.as_str())));
                revocation_required |= list.len() != before;
                for tp in list.iter() {
                    assigned.insert(tp.clone());
                    self.owner.insert(tp.clone(), m);
                }
            }
        }
        let mut unassigned: Vec<TopicPartition> =
            self.sorted_all.iter().filter(|tp| !assigned.contains(*tp)).cloned().collect();
        self.sorted = (0..self.current.len()).map(|m| (self.size(m), m)).collect();
        self.balance(&mut unassigned, revocation_required);
        self.current
    }

    /// Partitions owned in an older generation than the newest, with the
    /// newest of those owners (`prepopulateCurrentAssignments`).
    fn remember_previous(&mut self) {
        for &m in &self.ctx.visit {
            let Some(sub) = self.ctx.members.get(m) else { continue };
            let generation = match sub.generation {
                Some(g) if g < self.max_generation => g,
                None if self.max_generation > NO_GENERATION => NO_GENERATION,
                _ => continue,
            };
            for tp in &sub.owned_partitions {
                let newer = self.prev.get(tp).is_none_or(|&(_, g)| generation > g);
                if newer {
                    self.prev.insert(tp.clone(), (m, generation));
                }
            }
        }
    }

    fn balance(&mut self, unassigned: &mut Vec<TopicPartition>, revocation_required: bool) {
        let initializing = self.sorted.last().is_some_and(|&(size, _)| size == 0);

        // Each unassigned partition to the least loaded member subscribed to it.
        for tp in unassigned.iter() {
            let target = self.sorted.iter().map(|&(_, m)| m).find(|&m| self.ctx.subscribes(m, &tp.topic));
            if let Some(m) = target {
                self.give(tp.clone(), m);
            }
        }

        // Topics with fewer than two subscribers, and members that cannot
        // gain or lose anything, take no part in balancing.
        let fixed_topics: HashSet<&str> =
            self.topic_members.iter().filter(|(_, ms)| ms.len() < 2).map(|(t, _)| *t).collect();
        self.sorted_all.retain(|tp| !fixed_topics.contains(tp.topic.as_str()));
        unassigned.retain(|tp| !fixed_topics.contains(tp.topic.as_str()));
        for m in 0..self.current.len() {
            let can_move = self.size(m) < self.max_size(m)
                || self.current.get(m).into_iter().flatten().any(|tp| self.consumers_of(&tp.topic).len() >= 2);
            if !can_move {
                self.sorted.remove(&(self.size(m), m));
                if let Some(a) = self.active.get_mut(m) {
                    *a = false;
                }
            }
        }

        let before_current = self.current.clone();
        let before_owner = self.owner.clone();
        let before_sorted = self.sorted.clone();
        if !revocation_required {
            let list = unassigned.clone();
            self.reassign(&list);
        }
        let list = self.sorted_all.clone();
        let moved = self.reassign(&list);
        if !initializing && moved && self.balance_score(&self.current) >= self.balance_score(&before_current) {
            self.current = before_current;
            self.owner = before_owner;
            self.sorted = before_sorted;
        }
    }

    /// Sum over pairs of participating members of their size difference.
    fn balance_score(&self, lists: &[Vec<TopicPartition>]) -> usize {
        let sizes: Vec<usize> = lists
            .iter()
            .enumerate()
            .filter(|(m, _)| self.active.get(*m).copied().unwrap_or(false))
            .map(|(_, l)| l.len())
            .collect();
        let mut score = 0;
        for (i, a) in sizes.iter().enumerate() {
            for b in sizes.iter().skip(i + 1) {
                score += a.abs_diff(*b);
            }
        }
        score
    }

    fn is_balanced(&self) -> bool {
        let (Some(&(min, _)), Some(&(max, _))) = (self.sorted.first(), self.sorted.last()) else { return true };
        if min + 1 >= max {
            return true;
        }
        for &(count, m) in &self.sorted {
            if count == self.max_size(m) {
                continue;
            }
            for &topic in self.ctx.topics_of.get(m).into_iter().flatten() {
                // A topic without a count has no partitions.
                let partitions = self.ctx.counts.get(topic).copied().unwrap_or(0);
                for p in 0..partitions {
                    let tp = TopicPartition::new(topic, p);
                    let smaller_by_two = self.owner.get(&tp).is_some_and(|&other| {
                        other != m && self.active.get(other).copied().unwrap_or(false) && count + 1 < self.size(other)
                    });
                    if smaller_by_two {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Moves partitions of `list` towards balance; true if any moved
    /// (`performReassignments`).
    fn reassign(&mut self, list: &[TopicPartition]) -> bool {
        let mut moved_any = false;
        loop {
            let mut modified = false;
            for tp in list {
                if self.is_balanced() || self.budget == 0 {
                    break;
                }
                let Some(&holder) = self.owner.get(tp) else { continue };
                if let Some(&(previous, _)) = self.prev.get(tp) {
                    // Kafka returns a partition to its previous owner without
                    // checking that the owner still takes part and still
                    // subscribes to the topic; topiclog checks both.
                    let eligible = previous != holder
                        && self.active.get(previous).copied().unwrap_or(false)
                        && self.ctx.subscribes(previous, &tp.topic);
                    if eligible && self.size(holder) > self.size(previous) + 1 {
                        self.move_partition(tp, previous);
                        moved_any = true;
                        modified = true;
                        continue;
                    }
                }
                let holder_size = self.size(holder);
                let someone_smaller = self.consumers_of(&tp.topic).iter().any(|&other| {
                    self.active.get(other).copied().unwrap_or(false) && holder_size > self.size(other) + 1
                });
                if someone_smaller {
                    let target = self.sorted.iter().map(|&(_, m)| m).find(|&m| self.ctx.subscribes(m, &tp.topic));
                    if let Some(to) = target {
                        self.move_partition(tp, to);
                        moved_any = true;
                        modified = true;
                    }
                }
            }
            if !modified || self.budget == 0 {
                break;
            }
        }
        moved_any
    }

    /// Moves `tp` (or the partition that undoes an earlier move) to `to`.
    fn move_partition(&mut self, tp: &TopicPartition, to: usize) {
        let Some(&holder) = self.owner.get(tp) else { return };
        let actual = self.movements.partition_to_move(tp, holder, to);
        let Some(&from) = self.owner.get(&actual) else { return };
        if from == to || !self.ctx.subscribes(to, &actual.topic) {
            return;
        }
        self.budget = self.budget.saturating_sub(1);
        let (from_size, to_size) = (self.size(from), self.size(to));
        let from_tracked = self.sorted.remove(&(from_size, from));
        let to_tracked = self.sorted.remove(&(to_size, to));
        self.movements.record_move(&actual, from, to);
        if let Some(list) = self.current.get_mut(from)
            && let Some(at) = list.iter().position(|p| *p == actual)
        {
            list.remove(at);
        }
        if let Some(list) = self.current.get_mut(to) {
            list.push(actual.clone());
        }
        self.owner.insert(actual, to);
        if to_tracked {
            self.sorted.insert((self.size(to), to));
        }
        if from_tracked {
            self.sorted.insert((self.size(from), from));
        }
    }
}
