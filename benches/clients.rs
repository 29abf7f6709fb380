//! Producer and Consumer overhead (issue 11): 1,000,000 records of 100 B
//! (100,000 with `TOPICLOG_BENCH_QUICK=1`) produced through `Producer`
//! (`batch.size` 16 KiB, flushed at the end) and consumed through
//! `Consumer::poll`, beside the same records appended with
//! `Partition::append_borrowed` in batches of 160 and read with a
//! `RecordReader`, in the same run. The overhead is the ratio of the two.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use topiclog::{
    AutoOffsetReset, BorrowedRecord, BytesSerde, ConsumerConfig, Producer, ProducerConfig, Store, StoreConfig,
    TopicConfig, UnitSerde,
};

fn count() -> u64 {
    if std::env::var_os("TOPICLOG_BENCH_QUICK").is_some() { 100_000 } else { 1_000_000 }
}

fn through_clients(n: u64) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::new().maintenance(false)).unwrap();
    let topic = store.create_topic("t", 1, TopicConfig::new()).unwrap();
    let value = vec![7u8; 100];
    let producer: Producer<(), [u8]> =
        Producer::new(topic, ProducerConfig::new().linger_ms(60_000), UnitSerde, BytesSerde);
    for _ in 0..n {
        producer.send_async(None, Some(&value)).unwrap();
    }
    producer.close().unwrap();
    let config = ConsumerConfig::new().auto_offset_reset(AutoOffsetReset::Earliest).max_poll_records(10_000);
    let mut consumer = store.consumer(config).unwrap();
    consumer.assign(&[("t", 0)]).unwrap();
    let mut seen = 0;
    while seen < n {
        seen += consumer.poll(Duration::ZERO).unwrap().len() as u64;
    }
    seen
}

fn through_partition(n: u64) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::new().maintenance(false)).unwrap();
    let p = store.create_topic("t", 1, TopicConfig::new()).unwrap().partition(0).unwrap();
    let value = vec![7u8; 100];
    let batch: Vec<BorrowedRecord<'_>> = (0..160).map(|_| BorrowedRecord::value(&value)).collect();
    let mut written = 0;
    while written < n {
        let take = (n - written).min(160) as usize;
        p.append_borrowed(&batch[..take]).unwrap();
        written += take as u64;
    }
    p.read_from(0).unwrap().inspect(|r| assert!(r.is_ok())).count() as u64
}

fn bench(c: &mut Criterion) {
    let n = count();
    // Interleaved rounds first: the ratio within each round is the figure.
    for round in 0..3 {
        let t = Instant::now();
        through_partition(n);
        let raw = t.elapsed();
        let t = Instant::now();
        through_clients(n);
        let clients = t.elapsed();
        println!(
            "round {round}: partition {:.2} M rec/s, producer+consumer {:.2} M rec/s, ratio {:.2}",
            n as f64 / raw.as_secs_f64() / 1e6,
            n as f64 / clients.as_secs_f64() / 1e6,
            raw.as_secs_f64() / clients.as_secs_f64()
        );
    }
    let mut group = c.benchmark_group("clients");
    group.sample_size(10).throughput(Throughput::Elements(n));
    group.bench_function("partition_append_read", |b| b.iter(|| through_partition(n)));
    group.bench_function("producer_consumer", |b| b.iter(|| through_clients(n)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
