//! topiclog in five minutes: opens a data directory (`./data`, or the first
//! argument), creates a 3-partition topic, sends keyed and keyless records,
//! reads them back per partition, looks records up by time, deletes records
//! below an offset, and shows retention removing old segments. Run it twice:
//! the second run finds the first run's records.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use topiclog::{Record, Store, StoreConfig, TopicConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os().nth(1).map_or_else(|| PathBuf::from("data"), PathBuf::from);
    let store = Store::open(&dir, StoreConfig::new())?;
    println!("data directory: {}", dir.display());

    let orders = match store.existing_topic("orders") {
        Ok(t) => {
            let kept: i64 = t.describe()?.iter().map(|p| p.log_end_offset - p.log_start_offset).sum();
            println!("topic `orders` exists from an earlier run: {kept} records survived the restart");
            t
        }
        Err(_) => {
            println!("creating topic `orders` with 3 partitions");
            store.create_topic("orders", 3, TopicConfig::new().retention_ms(7 * 24 * 3600 * 1000))?
        }
    };

    println!("\n== send: keyed records go where Kafka's partitioner puts them, keyless ones stick");
    for (user, item) in [("han", "iphone"), ("choi", "ipad"), ("kim", "macbook"), ("An", "airpods"), ("han", "case")] {
        let at = orders.send(Record::new().key(user).value(item))?;
        println!("  key {user:<5} -> partition {} offset {}", at.partition, at.offset);
    }
    for i in 0..3 {
        let at = orders.send(Record::new().value(format!("keyless event {i}")))?;
        println!("  no key      -> partition {} offset {}", at.partition, at.offset);
    }

    println!("\n== read back, per partition");
    for (n, p) in orders.partitions().iter().enumerate() {
        let records: Vec<_> = p.read_from(p.log_start_offset())?.collect::<Result<_, _>>()?;
        let shown: Vec<String> = records
            .iter()
            .rev()
            .take(4)
            .rev()
            .map(|r| format!("{}:{}", r.offset(), String::from_utf8_lossy(r.value().unwrap_or_default())))
            .collect();
        println!("  partition {n}: {} records, last: {}", records.len(), shown.join(", "));
    }

    println!("\n== lookup by time");
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let p0 = orders.partition(0)?;
    for (label, t) in [("an hour ago", now - 3_600_000), ("a minute from now", now + 60_000)] {
        match p0.offset_for_timestamp(t)? {
            Some(hit) => println!("  partition 0, first record at or after {label}: offset {}", hit.offset),
            None => println!("  partition 0, nothing at or after {label}"),
        }
    }

    println!("\n== delete-records: hide everything below the last record of partition 0");
    let end = p0.log_end_offset();
    let start = p0.delete_records(end - 1)?;
    println!("  partition 0 now starts at offset {start} (log end {end})");

    println!("\n== retention at work: records older than retention.ms go, segment by segment");
    let audit = store.topic("audit")?;
    store.set_topic_config("audit", "retention.ms", "60000")?;
    store.set_topic_config("audit", "segment.bytes", "4096")?;
    let long_ago = now - 3_600_000;
    for i in 0..200 {
        audit.send_to(0, Record::new().value(format!("audit entry {i}")).timestamp(long_ago))?;
    }
    let before = audit.describe()?[0].clone();
    let report = store.run_maintenance();
    let after = audit.describe()?[0].clone();
    println!(
        "  audit-0: {} segments, offsets {}..{} -> retention deleted {} segments -> {} segment(s), offsets {}..{}",
        before.segments,
        before.log_start_offset,
        before.log_end_offset,
        report.deleted_segments.iter().filter(|(t, ..)| t == "audit").count(),
        after.segments,
        after.log_start_offset,
        after.log_end_offset
    );

    println!("\n== topics");
    for name in store.topics() {
        let t = store.existing_topic(&name)?;
        for p in t.describe()? {
            println!(
                "  {name}-{}: log start {}, log end {}, {} bytes in {} segment(s)",
                p.partition, p.log_start_offset, p.log_end_offset, p.size, p.segments
            );
        }
    }
    store.close()?;
    println!("\nclosed cleanly; run again to see the data survive");
    Ok(())
}
