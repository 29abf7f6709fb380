//! Consumer groups in one process (SPEC §7.4): members join and leave,
//! each rebalance starts a new generation, and an [`Assignor`] splits the
//! subscribed partitions. Members learn of a new generation when they next
//! poll: they give up (after committing, with auto-commit) the partitions
//! they lose, then take the ones they gain.
//!
//! - Eager assignors (`range`, `roundrobin`, `sticky`) hand out the whole
//!   new assignment at once. With the cooperative `cooperative-sticky`, a
//!   partition that changes owner is first withheld from everyone; once its
//!   old owner has given it up, a follow-up rebalance assigns it.
//! - A member that does not poll within `max.poll.interval.ms` (by the
//!   store's clock) is removed at the next poll of any member of its group,
//!   and its partitions reassigned; when it polls again it rejoins.
//! - Static members (`group.instance.id`) keep their assignment across a
//!   leave and rejoin without a rebalance, unless they stay away longer than
//!   `session.timeout.ms`.
//! - Members live in memory only: after a restart of the process, groups
//!   start empty and consumers rejoin; committed offsets are kept in
//!   `__consumer_offsets`.
//! - A group without live members is empty (static members that left count
//!   as gone); the time it became empty is remembered, in memory, for
//!   offset expiry (`offsets.retention.minutes`).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::assignor::{Assignment, Assignor, MemberSubscription, RebalanceProtocol, TopicPartition};

/// One member as the coordinator keeps it.
struct Member {
    topics: Vec<String>,
    instance_id: Option<String>,
    /// What the member holds now (acknowledged at its last sync).
    owned: Vec<TopicPartition>,
    owned_generation: Option<i32>,
    /// What the current generation gives it.
    assigned: Vec<TopicPartition>,
    last_poll_ms: i64,
    max_poll_interval_ms: i64,
    session_timeout_ms: i64,
    /// A static member that left: kept until `session.timeout.ms` passes.
    left_at_ms: Option<i64>,
}

struct Group {
    generation: i32,
    assignor: Arc<dyn Assignor>,
    members: BTreeMap<String, Member>,
    /// Under the cooperative protocol: partitions were withheld (their old
    /// owner must give them up first); once every member has synced this
    /// generation, a follow-up rebalance assigns them.
    follow_up: bool,
}

/// The groups of a store.
#[derive(Default)]
pub(crate) struct Groups {
    groups: Mutex<BTreeMap<String, Group>>,
    next_member: Mutex<u64>,
    /// When each group that had members lost its last live one (store clock).
    emptied_at: Mutex<BTreeMap<String, i64>>,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups").field("groups", &self.groups.lock().keys().collect::<Vec<_>>()).finish()
    }
}

/// What a member learns when it syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sync {
    pub generation: i32,
    /// Its partitions in this generation.
    pub assigned: Vec<TopicPartition>,
    /// `false` when the member had been removed (it must rejoin).
    pub member: bool,
}

/// How a member joins.
pub(crate) struct Join<'a> {
    pub group: &'a str,
    pub topics: Vec<String>,
    pub instance_id: Option<String>,
    pub assignor: Arc<dyn Assignor>,
    pub max_poll_interval_ms: i64,
    pub session_timeout_ms: i64,
    pub now: i64,
}

impl Groups {
    /// Adds a member (or takes back a static member's place); returns its id.
    pub fn join(&self, join: Join<'_>, partitions: &BTreeMap<String, u32>) -> String {
        self.emptied_at.lock().remove(join.group);
        let mut groups = self.groups.lock();
        let group = groups.entry(join.group.to_string()).or_insert_with(|| Group {
            generation: 0,
            assignor: join.assignor.clone(),
            members: BTreeMap::new(),
            follow_up: false,
        });
        if let Some(id) = &join.instance_id {
            let existing =
                group.members.iter().find(|(_, m)| m.instance_id.as_ref() == Some(id)).map(|(k, _)| k.clone());
            if let Some(old) = existing
                && let Some(mut member) = group.members.remove(&old)
            {
                // A static member coming back keeps its place: no rebalance.
                let new_id = format!("{id}-{}", self.next_id());
                member.left_at_ms = None;
                member.last_poll_ms = join.now;
                member.owned = Vec::new();
                member.owned_generation = None;
                let same_topics = member.topics == join.topics;
                member.topics = join.topics;
                group.members.insert(new_id.clone(), member);
                if !same_topics {
                    rebalance(group, partitions);
                }
                return new_id;
            }
        }
        let id = format!("{}-{}", join.instance_id.as_deref().unwrap_or("consumer"), self.next_id());
        group.members.insert(
            id.clone(),
            Member {
                topics: join.topics,
                instance_id: join.instance_id,
                owned: Vec::new(),
                owned_generation: None,
                assigned: Vec::new(),
                last_poll_ms: join.now,
                max_poll_interval_ms: join.max_poll_interval_ms,
                session_timeout_ms: join.session_timeout_ms,
                left_at_ms: None,
            },
        );
        rebalance(group, partitions);
        id
    }

    fn next_id(&self) -> u64 {
        let mut next = self.next_member.lock();
        *next += 1;
        *next
    }

    /// A member leaves: a dynamic one at once (rebalance); a static one is
    /// kept for `session.timeout.ms`.
    pub fn leave(&self, group: &str, member: &str, now: i64, partitions: &BTreeMap<String, u32>) {
        let mut groups = self.groups.lock();
        let Some(g) = groups.get_mut(group) else { return };
        let is_static = g.members.get(member).is_some_and(|m| m.instance_id.is_some());
        if is_static {
            if let Some(m) = g.members.get_mut(member) {
                m.left_at_ms = Some(now);
                m.owned.clear();
            }
        } else if g.members.remove(member).is_some() {
            rebalance(g, partitions);
        }
        if g.members.values().all(|m| m.left_at_ms.is_some()) {
            self.emptied_at.lock().insert(group.to_string(), now);
        }
        if g.members.is_empty() {
            groups.remove(group);
        }
    }

    /// A member polls: expired members are removed first, then the member
    /// acknowledges what it now holds (`owned`) and learns its assignment.
    pub fn sync(
        &self,
        group: &str,
        member: &str,
        owned: &[TopicPartition],
        now: i64,
        partitions: &BTreeMap<String, u32>,
    ) -> Sync {
        let mut groups = self.groups.lock();
        let Some(g) = groups.get_mut(group) else {
            return Sync { generation: -1, assigned: Vec::new(), member: false };
        };
        let expired: Vec<String> = g
            .members
            .iter()
            .filter(|(id, m)| {
                *id != member
                    && match m.left_at_ms {
                        Some(left) => now.saturating_sub(left) > m.session_timeout_ms,
                        None => now.saturating_sub(m.last_poll_ms) > m.max_poll_interval_ms,
                    }
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut changed = false;
        for id in expired {
            g.members.remove(&id);
            changed = true;
        }
        if let Some(m) = g.members.get(member)
            && now.saturating_sub(m.last_poll_ms) > m.max_poll_interval_ms
        {
            // This member itself stayed away too long: it is out.
            g.members.remove(member);
            rebalance(g, partitions);
            if g.members.values().all(|m| m.left_at_ms.is_some()) {
                self.emptied_at.lock().insert(group.to_string(), now);
            }
            return Sync { generation: g.generation, assigned: Vec::new(), member: false };
        }
        if changed {
            rebalance(g, partitions);
        }
        let generation = g.generation;
        let Some(m) = g.members.get_mut(member) else {
            return Sync { generation, assigned: Vec::new(), member: false };
        };
        m.last_poll_ms = now;
        m.owned = owned.to_vec();
        m.owned_generation = Some(generation);
        let assigned = m.assigned.clone();
        // Cooperative: once every member has given up what it lost, a
        // follow-up rebalance hands out the withheld partitions.
        if g.follow_up && g.members.values().all(|m| m.left_at_ms.is_some() || m.owned_generation == Some(generation)) {
            rebalance(g, partitions);
            // A rebalance keeps every member (this one was found above); were
            // it gone, it must rejoin, as any caller that is not a member.
            let generation = g.generation;
            return match g.members.get(member) {
                Some(m) => Sync { generation, assigned: m.assigned.clone(), member: true },
                None => {
                    debug_assert!(false, "a rebalance dropped a member");
                    Sync { generation, assigned: Vec::new(), member: false }
                }
            };
        }
        Sync { generation, assigned, member: true }
    }

    /// The members of `group` and their partitions (for describing groups).
    pub fn members(&self, group: &str) -> Vec<(String, Vec<TopicPartition>)> {
        let groups = self.groups.lock();
        groups
            .get(group)
            .map(|g| {
                g.members
                    .iter()
                    .filter(|(_, m)| m.left_at_ms.is_none())
                    .map(|(id, m)| (id.clone(), m.assigned.clone()))
                    .collect()
            })
            // An unknown group has no members.
            .unwrap_or_default()
    }

    /// Whether `group` has live members.
    pub fn has_members(&self, group: &str) -> bool {
        !self.members(group).is_empty()
    }

    /// When `group` lost its last live member, if it had members in this
    /// process and has none now.
    pub fn emptied_at(&self, group: &str) -> Option<i64> {
        if self.has_members(group) {
            return None;
        }
        self.emptied_at.lock().get(group).copied()
    }

    /// Names of groups with live members.
    pub fn names(&self) -> Vec<String> {
        self.groups.lock().keys().cloned().collect()
    }
}

/// A new generation: the assignor splits the partitions of the members'
/// topics; under the cooperative protocol, partitions changing owner are
/// withheld until their old owner has given them up.
fn rebalance(group: &mut Group, partitions: &BTreeMap<String, u32>) {
    group.generation += 1;
    let subscriptions: Vec<MemberSubscription> = group
        .members
        .iter()
        .map(|(id, m)| {
            let mut s = MemberSubscription::new(id.clone(), m.topics.iter().cloned());
            if let Some(instance) = &m.instance_id {
                s = s.with_group_instance_id(instance.clone());
            }
            match m.owned_generation {
                Some(generation) => s.with_owned(m.owned.iter().cloned(), generation),
                None => s,
            }
        })
        .collect();
    let topics: BTreeMap<String, u32> = partitions
        .iter()
        .filter(|(t, _)| group.members.values().any(|m| m.topics.contains(t)))
        .map(|(t, n)| (t.clone(), *n))
        .collect();
    let assignment: Assignment = group.assignor.assign(&topics, &subscriptions);
    let total: u64 = topics.values().map(|&n| u64::from(n)).sum();
    let given: u64 = assignment.values().map(|v| v.len() as u64).sum();
    group.follow_up = group.assignor.protocol() == RebalanceProtocol::Cooperative && given < total;
    for (id, m) in &mut group.members {
        // An assignor may leave out a member it gives nothing.
        m.assigned = assignment.get(id).cloned().unwrap_or_default();
    }
}
