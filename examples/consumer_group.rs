//! Consumer groups with `cooperative-sticky`: three consumers share a
//! 3-partition topic, a fourth joins and stays idle, one leaves and only its
//! partition moves. Lag is printed before and after.
//!
//! `cargo run --example consumer_group [DATA_DIR]` (a temporary directory by default).

use std::time::Duration;

use topiclog::{AutoOffsetReset, Consumer, ConsumerConfig, Record, Store, StoreConfig, TopicConfig};

fn member(store: &Store, name: &str) -> Result<Consumer, topiclog::Error> {
    let config = ConsumerConfig::new()
        .group_id("dashboard")
        .partition_assignment_strategy("cooperative-sticky")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .max_poll_records(50);
    let mut consumer = store.consumer(config)?;
    consumer.subscribe(&["clicks"])?;
    println!("{name} joined as {}", consumer.member_id().unwrap_or("?"));
    Ok(consumer)
}

fn show(consumers: &[(&str, &Consumer)]) {
    for (name, c) in consumers {
        let parts: Vec<u32> = c.assignment().into_iter().map(|(_, p)| p).collect();
        println!("  {name}: partitions {parts:?}");
    }
}

fn poll_all(consumers: &mut [&mut Consumer]) -> Result<usize, topiclog::Error> {
    let mut n = 0;
    for _ in 0..3 {
        for c in consumers.iter_mut() {
            n += c.poll(Duration::ZERO)?.len();
        }
    }
    for c in consumers.iter_mut() {
        c.commit_sync()?;
    }
    Ok(n)
}

fn print_lag(store: &Store) -> Result<(), topiclog::Error> {
    println!("  GROUP      TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID");
    for row in store.describe_consumer_group("dashboard")? {
        let dash = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
        println!(
            "  dashboard  {:<7} {:<10} {:<15} {:<15} {:<4} {}",
            row.topic,
            row.partition,
            dash(row.committed),
            row.log_end_offset,
            dash(row.lag),
            row.member.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args().nth(1).map_or_else(|| temp.path().to_path_buf(), Into::into);
    let store = Store::open(&dir, StoreConfig::new())?;
    let clicks = store.create_topic("clicks", 3, TopicConfig::new())?;
    let records: Vec<Record> =
        (0..600).map(|i| Record::new().key(format!("user-{}", i % 40)).value(format!("click {i}"))).collect();
    clicks.send_batch(records)?;

    let mut a = member(&store, "a")?;
    let mut b = member(&store, "b")?;
    let mut c = member(&store, "c")?;
    let read = poll_all(&mut [&mut a, &mut b, &mut c])?;
    println!("three members read {read} records:");
    show(&[("a", &a), ("b", &b), ("c", &c)]);
    print_lag(&store)?;

    let mut d = member(&store, "d")?;
    poll_all(&mut [&mut a, &mut b, &mut c, &mut d])?;
    println!("a fourth member joined:");
    show(&[("a", &a), ("b", &b), ("c", &c), ("d", &d)]);
    assert!(d.assignment().is_empty(), "with 3 partitions the fourth member stays idle");

    let (before_a, before_c) = (a.assignment(), c.assignment());
    let moved = b.assignment();
    b.close()?;
    poll_all(&mut [&mut a, &mut c, &mut d])?;
    println!("b left; only its partition {moved:?} moved:");
    show(&[("a", &a), ("c", &c), ("d", &d)]);
    assert_eq!((a.assignment(), c.assignment()), (before_a, before_c));
    assert_eq!(d.assignment(), moved);
    poll_all(&mut [&mut a, &mut c, &mut d])?;
    print_lag(&store)?;
    for consumer in [a, c, d] {
        consumer.close()?;
    }
    store.close()?;
    Ok(())
}
