//! Consumer groups in one process: assignment by the group's assignor,
//! rebalances as members join and leave (cooperative moves only what must
//! move), commits on revocation, `max.poll.interval.ms`, static members,
//! and commits from outside a live group refused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use topiclog::ManualClock;
use topiclog::{
    AutoOffsetReset, Consumer, ConsumerConfig, Error, Record, Store, StoreConfig, TopicConfig, TopicPartition,
};

fn setup(partitions: u32, per_partition: i64) -> (tempfile::TempDir, Store, ManualClock) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let store = Store::open(dir.path(), StoreConfig::new().maintenance(false).clock(Arc::new(clock.clone()))).unwrap();
    let t = store.create_topic("t", partitions, TopicConfig::new()).unwrap();
    for p in 0..partitions {
        for i in 0..per_partition {
            t.send_to(p, Record::new().value(format!("{p}-{i}"))).unwrap();
        }
    }
    (dir, store, clock)
}

fn member(store: &Store, strategy: &str) -> Consumer {
    let config = ConsumerConfig::new()
        .group_id("g")
        .partition_assignment_strategy(strategy)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .max_poll_records(1);
    let mut c = store.consumer(config).unwrap();
    c.subscribe(&["t"]).unwrap();
    c
}

fn parts(c: &Consumer) -> Vec<u32> {
    let mut v: Vec<u32> = c.assignment().into_iter().map(|(_, p)| p).collect();
    v.sort();
    v
}

/// Polls every consumer a few times so that rebalances settle.
fn settle(consumers: &mut [&mut Consumer]) {
    for _ in 0..4 {
        for c in consumers.iter_mut() {
            c.poll(Duration::ZERO).unwrap();
        }
    }
}

/// Range gives Kafka's split: members in id order, the first ones one more.
#[test]
fn range_splits_partitions_as_kafka_does() {
    let (_dir, store, _clock) = setup(3, 1);
    let mut a = member(&store, "range");
    let mut b = member(&store, "range");
    settle(&mut [&mut a, &mut b]);
    assert_eq!((parts(&a), parts(&b)), (vec![0, 1], vec![2]));
}

/// Cooperative-sticky: three members share three partitions; a fourth joins
/// and stays idle; one leaves and only its partition moves.
#[test]
fn cooperative_sticky_moves_only_what_must_move() {
    let (_dir, store, _clock) = setup(3, 10);
    let mut a = member(&store, "cooperative-sticky");
    let mut b = member(&store, "cooperative-sticky");
    let mut c = member(&store, "cooperative-sticky");
    settle(&mut [&mut a, &mut b, &mut c]);
    let all: Vec<u32> = [parts(&a), parts(&b), parts(&c)].concat();
    assert_eq!(all.len(), 3);
    assert!([&a, &b, &c].iter().all(|m| parts(m).len() == 1), "one each");
    let mut d = member(&store, "cooperative-sticky");
    settle(&mut [&mut a, &mut b, &mut c, &mut d]);
    assert!(parts(&d).is_empty(), "the fourth stays idle");
    let (pa, pc) = (parts(&a), parts(&c));
    let leaving = parts(&b);
    b.close().unwrap();
    settle(&mut [&mut a, &mut c, &mut d]);
    assert_eq!((parts(&a), parts(&c)), (pa, pc), "the others keep theirs");
    assert_eq!(parts(&d), leaving, "only the leaver's partition moves");
    let lag = store.describe_consumer_group("g").unwrap();
    assert_eq!(lag.len(), 3);
    assert!(lag.iter().all(|l| l.member.is_some()));
}

/// A revoked partition's position is committed before it moves, so its
/// next owner starts there.
#[test]
fn the_next_owner_starts_where_the_last_one_stopped() {
    let (_dir, store, _clock) = setup(2, 10);
    let mut a = member(&store, "range");
    let mut revoked = Vec::new();
    let seen = Arc::new(parking_lot_free::Cell::default());
    {
        let seen = seen.clone();
        a.on_partitions_revoked(move |tps: &[TopicPartition]| seen.push(tps.to_vec()));
    }
    let first: Vec<_> = (0..6).flat_map(|_| a.poll(Duration::ZERO).unwrap()).collect();
    assert_eq!(first.len(), 6);
    let mut read: BTreeMap<u32, i64> = BTreeMap::new();
    for r in &first {
        read.insert(r.partition, r.record.offset() + 1);
    }
    let mut b = member(&store, "range");
    // a learns of the rebalance at its next poll: it commits what it gives up.
    a.poll(Duration::ZERO).unwrap();
    revoked.extend(seen.take());
    assert!(!revoked.is_empty(), "a was told what it lost");
    let moved = parts(&b)[0];
    let expected = read.get(&moved).copied().unwrap_or(0);
    assert_eq!(b.position("t", moved).unwrap(), expected);
}

/// A member that stops polling past `max.poll.interval.ms` loses its
/// partitions to the others; when it polls again it rejoins.
#[test]
fn a_member_that_stops_polling_is_removed() {
    let (_dir, store, clock) = setup(2, 1);
    let config = |id: &str| {
        ConsumerConfig::new()
            .group_id("g")
            .group_instance_id(id)
            .max_poll_interval_ms(1_000)
            .auto_offset_reset(AutoOffsetReset::Earliest)
    };
    let mut a = store.consumer(config("a")).unwrap();
    a.subscribe(&["t"]).unwrap();
    let mut b = store.consumer(config("b")).unwrap();
    b.subscribe(&["t"]).unwrap();
    settle(&mut [&mut a, &mut b]);
    assert_eq!(parts(&a).len() + parts(&b).len(), 2);
    clock.advance(1_500);
    b.poll(Duration::ZERO).unwrap();
    b.poll(Duration::ZERO).unwrap();
    assert_eq!(parts(&b), vec![0, 1], "a is out; b takes everything");
    a.poll(Duration::ZERO).unwrap();
    settle(&mut [&mut a, &mut b]);
    assert_eq!(parts(&a).len() + parts(&b).len(), 2);
    assert!(!parts(&a).is_empty(), "a rejoined");
}

/// A static member that leaves and comes back within `session.timeout.ms`
/// gets its partitions back and nobody else's move.
#[test]
fn a_static_member_keeps_its_partitions_across_a_restart() {
    let (_dir, store, clock) = setup(2, 1);
    let config = |id: &str| {
        ConsumerConfig::new().group_id("g").group_instance_id(id).auto_offset_reset(AutoOffsetReset::Earliest)
    };
    let mut a = store.consumer(config("a")).unwrap();
    a.subscribe(&["t"]).unwrap();
    let mut b = store.consumer(config("b")).unwrap();
    b.subscribe(&["t"]).unwrap();
    settle(&mut [&mut a, &mut b]);
    let (pa, pb) = (parts(&a), parts(&b));
    drop(a);
    clock.advance(1_000);
    settle(&mut [&mut b]);
    assert_eq!(parts(&b), pb, "no rebalance while a static member is away");
    let mut a = store.consumer(config("a")).unwrap();
    a.subscribe(&["t"]).unwrap();
    settle(&mut [&mut a, &mut b]);
    assert_eq!((parts(&a), parts(&b)), (pa, pb));
    // Away longer than the session timeout: its partitions move.
    drop(a);
    clock.advance(60_000);
    settle(&mut [&mut b]);
    assert_eq!(parts(&b), vec![0, 1]);
}

/// Kafka refuses commits from a consumer outside a group with live members.
#[test]
fn commits_from_outside_a_live_group_are_refused() {
    let (_dir, store, _clock) = setup(1, 1);
    let mut inside = member(&store, "range");
    inside.poll(Duration::ZERO).unwrap();
    let mut outside = store.consumer(ConsumerConfig::new().group_id("g")).unwrap();
    outside.assign(&[("t", 0)]).unwrap();
    assert!(matches!(outside.commit_offsets(&[("t".into(), 0, 1)]), Err(Error::GroupHasMembers { .. })));
    assert!(matches!(store.delete_consumer_group("g"), Err(Error::GroupHasMembers { .. })));
    inside.close().unwrap();
    outside.commit_offsets(&[("t".into(), 0, 1)]).unwrap();
}

/// A tiny shared list for callbacks (no extra test dependency).
mod parking_lot_free {
    use std::sync::Mutex;
    use topiclog::TopicPartition;

    #[derive(Default)]
    pub struct Cell(Mutex<Vec<Vec<TopicPartition>>>);

    impl Cell {
        pub fn push(&self, v: Vec<TopicPartition>) {
            self.0.lock().unwrap().push(v);
        }
        pub fn take(&self) -> Vec<Vec<TopicPartition>> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }
}

const DAY: i64 = 86_400_000;

fn live_member(store: &Store, group: &str) -> Consumer {
    let config = ConsumerConfig::new()
        .group_id(group)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_poll_interval_ms(365 * DAY);
    let mut c = store.consumer(config).unwrap();
    c.subscribe(&["t"]).unwrap();
    c
}

/// Offset expiry (`offsets.retention.minutes`, Kafka's default 7 days), by
/// the store's clock: a group without members loses each offset once the
/// retention has passed since the later of its commit and the moment the
/// group became empty; a group with a live member keeps its offsets. Each
/// expiry writes a tombstone, so the offsets stay gone after a reopen.
#[test]
fn committed_offsets_of_groups_without_members_expire() {
    let (dir, store, clock) = setup(2, 3);
    // A group that never had members here: counted from each commit.
    store.commit_offsets("idle", &[("t".into(), 0, 1)]).unwrap();
    clock.advance(6 * DAY);
    store.commit_offsets("idle", &[("t".into(), 1, 2)]).unwrap();
    clock.advance(DAY - 1);
    assert!(store.expire_committed_offsets().unwrap().is_empty(), "7 days less 1 ms: kept");
    clock.advance(1);
    assert_eq!(store.expire_committed_offsets().unwrap(), [("idle".into(), "t".into(), 0)]);
    assert_eq!(store.committed_offset("idle", "t", 0).unwrap(), None);
    let idle = store.describe_consumer_group("idle").unwrap();
    assert_eq!(idle.iter().map(|d| (d.partition, d.committed)).collect::<Vec<_>>(), [(1, Some(2))]);

    // A live member's group keeps its offsets, however old.
    let mut live = live_member(&store, "live");
    assert_eq!(live.poll(Duration::ZERO).unwrap().len(), 6);
    live.commit_sync().unwrap();
    clock.advance(30 * DAY);
    assert_eq!(store.expire_committed_offsets().unwrap(), [("idle".into(), "t".into(), 1)]);
    assert!(matches!(store.describe_consumer_group("idle"), Err(Error::UnknownGroup { .. })));
    assert_eq!(store.committed_offset("live", "t", 0).unwrap(), Some(3));

    // Once it is empty, the retention counts from then, not from the commit
    // 30 days ago; the maintenance pass expires them.
    live.close().unwrap();
    clock.advance(7 * DAY - 1);
    assert!(store.run_maintenance().expired_offsets.is_empty(), "empty for 7 days less 1 ms: kept");
    clock.advance(1);
    let report = store.run_maintenance();
    assert_eq!(report.expired_offsets, [("live".into(), "t".into(), 0), ("live".into(), "t".into(), 1)]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(!store.consumer_groups().unwrap().contains(&"live".to_string()));
    // A member joining again finds nothing committed (Kafka's "-").
    let mut again = live_member(&store, "live");
    again.poll(Duration::ZERO).unwrap();
    let described = store.describe_consumer_group("live").unwrap();
    assert_eq!(described.len(), 2);
    assert!(described.iter().all(|d| d.committed.is_none() && d.lag.is_none() && d.member.is_some()));
    drop(again);

    // Tombstones in __consumer_offsets, so a reopened store has none of them.
    let offsets = store.existing_topic(topiclog::OFFSETS_TOPIC).unwrap().partition(0).unwrap();
    let tombstones = offsets.read_from(0).unwrap().map(Result::unwrap).filter(|r| r.value().is_none()).count();
    assert_eq!(tombstones, 4);
    drop(offsets);
    store.close().unwrap();
    let store = Store::open(dir.path(), StoreConfig::new().maintenance(false).clock(Arc::new(clock.clone()))).unwrap();
    assert_eq!(store.consumer_groups().unwrap(), Vec::<String>::new());
    assert_eq!(store.committed_offset("live", "t", 1).unwrap(), None);
}

/// `offsets.retention.minutes` is validated like the other keys and sets
/// the retention.
#[test]
fn offsets_retention_minutes_is_a_checked_store_key() {
    assert_eq!(StoreConfig::new().offsets_retention_ms(), 7 * DAY);
    let config = StoreConfig::new().set("offsets.retention.minutes", "1").unwrap();
    assert_eq!(config.offsets_retention_ms(), 60_000);
    for bad in ["0", "-1", "x", "2147483648"] {
        let refused = StoreConfig::new().set("offsets.retention.minutes", bad);
        assert!(
            matches!(refused, Err(Error::InvalidConfig { ref key, .. }) if key == "offsets.retention.minutes"),
            "{bad}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let config = StoreConfig::new().maintenance(false).clock(Arc::new(clock.clone()));
    let store = Store::open(dir.path(), config.set("offsets.retention.minutes", "1").unwrap()).unwrap();
    store.commit_offsets("g", &[("t".into(), 0, 0)]).unwrap();
    clock.advance(60_000);
    assert_eq!(store.expire_committed_offsets().unwrap().len(), 1);
}
