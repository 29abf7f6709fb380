//! Producers: batches filled to `batch.size` exactly as Kafka fills them,
//! `flush` and blocking sends, keyless sticky partitioning, typed
//! serializers and deserializers, and `Topic::send_batch`.

use std::time::Duration;

use topiclog::{
    AutoOffsetReset, ConsumerConfig, Error, FileBatches, NumberSerde, Producer, ProducerConfig, Record, Store,
    StoreConfig, StringSerde, TopicConfig, UnitSerde,
};

fn store(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreConfig::new().maintenance(false)).unwrap()
}

/// Sizes of every batch of every partition of `topic`.
fn batch_sizes(store: &Store, topic: &str) -> Vec<Vec<(usize, i32)>> {
    let t = store.existing_topic(topic).unwrap();
    (0..t.partition_count())
        .map(|p| {
            let p = t.partition(p).unwrap();
            let mut out = Vec::new();
            let mut at = 0;
            while at < p.log_end_offset() {
                let bytes = p.read(at, 1 << 20).unwrap();
                for b in FileBatches::new(bytes, 0) {
                    let b = b.unwrap();
                    out.push((b.size_in_bytes(), b.record_count()));
                    at = b.next_offset();
                }
            }
            out
        })
        .collect()
}

/// Records the batching test sends: the issue's 1,000,000 by default (about
/// 12 s in a debug build on 2 cores), fewer with `TOPICLOG_PRODUCER_RECORDS`.
fn records() -> u64 {
    std::env::var("TOPICLOG_PRODUCER_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

/// With `linger.ms` > 0, batches never pass `batch.size`, and each closes
/// only when the next record would not fit; `flush` makes everything readable.
#[test]
fn batches_fill_to_batch_size_and_no_further() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.create_topic("t", 2, TopicConfig::new()).unwrap();
    let batch_size = 4096;
    let producer =
        Producer::new(t, ProducerConfig::new().batch_size(batch_size).linger_ms(60_000), NumberSerde, StringSerde);
    let n = records();
    for i in 0..n {
        let key = (i % 16) as i32;
        let value = "x".repeat((i % 40) as usize);
        producer.send_async(Some(&key), Some(&value)).unwrap();
    }
    producer.flush().unwrap();
    let sizes = batch_sizes(&s, "t");
    let total: i64 = sizes.iter().flatten().map(|(_, c)| i64::from(*c)).sum();
    assert_eq!(total as u64, n, "every record is readable after flush");
    for partition in &sizes {
        for (i, (size, _)) in partition.iter().enumerate() {
            assert!(*size <= batch_size, "batch of {size} bytes");
            if i + 1 < partition.len() {
                // The next record (at most ~60 bytes here) did not fit.
                assert!(*size > batch_size - 64, "batch {i} closed early at {size} bytes");
            }
        }
    }
    producer.close().unwrap();
}

/// A blocking send returns the record's partition and offset; a record
/// larger than `batch.size` goes alone; keyless records stick to one
/// partition until `batch.size` bytes went there (Kafka 3.3+).
#[test]
fn blocking_sends_large_records_and_sticky_keyless() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.create_topic("t", 4, TopicConfig::new()).unwrap();
    let producer =
        Producer::new(t.clone(), ProducerConfig::new().batch_size(1000).linger_ms(60_000), UnitSerde, StringSerde);
    let first = producer.send(None, Some(&"a".to_string())).unwrap();
    assert_eq!(first.offset, 0);
    let second = producer.send(None, Some(&"b".to_string())).unwrap();
    assert_eq!((second.partition, second.offset), (first.partition, 1), "keyless records stick");
    let big = producer.send(None, Some(&"z".repeat(5000))).unwrap();
    let sizes = batch_sizes(&s, "t");
    assert!(sizes[big.partition as usize].iter().any(|(size, count)| *size > 5000 && *count == 1));
    producer.close().unwrap();
    // Dropping a producer appends what is pending.
    let producer: Producer<(), str> = Producer::new(t, ProducerConfig::new().linger_ms(60_000), UnitSerde, StringSerde);
    let handle = producer.send_async(None, Some("last")).unwrap();
    drop(producer);
    assert!(handle.wait().is_ok());
}

/// Typed values go through their serializers and come back through the
/// matching deserializers; a bad value is an error naming where it is.
#[test]
fn typed_records_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.create_topic("t", 1, TopicConfig::new()).unwrap();
    let producer = Producer::new(t.clone(), ProducerConfig::new().linger_ms(0), StringSerde, NumberSerde);
    let sent = producer.send(Some("price"), Some(&1999i64)).unwrap();
    assert_eq!(sent.offset, 0);
    t.send_to(0, Record::new().key("price").value("oops")).unwrap();
    let mut c = s.consumer(ConsumerConfig::new().auto_offset_reset(AutoOffsetReset::Earliest)).unwrap();
    c.assign(&[("t", 0)]).unwrap();
    let got = c.poll(Duration::ZERO).unwrap();
    assert_eq!(got[0].key_as::<String>(&StringSerde).unwrap(), "price");
    assert_eq!(got[0].value_as::<i64>(&NumberSerde).unwrap(), 1999);
    let err = got[1].value_as::<i64>(&NumberSerde).unwrap_err();
    assert!(matches!(err, Error::Deserialization { ref topic, partition: 0, offset: 1, .. } if topic == "t"), "{err}");
}

/// `send_batch` writes one batch per partition and reports each record's place.
#[test]
fn send_batch_writes_one_batch_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.create_topic("t", 3, TopicConfig::new()).unwrap();
    let records: Vec<Record> = (0..300).map(|i| Record::new().key(format!("k{}", i % 10)).value("v")).collect();
    let sent = t.send_batch(records).unwrap();
    assert_eq!(sent.len(), 300);
    let sizes = batch_sizes(&s, "t");
    assert!(sizes.iter().all(|p| p.len() <= 1), "{sizes:?}");
    for (i, r) in sent.iter().enumerate() {
        let key = format!("k{}", i % 10);
        assert_eq!(r.partition, topiclog::partition_for_key(key.as_bytes(), 3));
    }
    let mut per_partition = [0i64; 3];
    for r in &sent {
        assert_eq!(r.offset, per_partition[r.partition as usize], "offsets follow the order given");
        per_partition[r.partition as usize] += 1;
    }
}

/// The `json` feature: serde values through a producer and a consumer; bytes
/// that are not JSON of the type give the typed error with their place.
#[cfg(feature = "json")]
#[test]
fn json_values_round_trip_and_bad_json_names_its_record() {
    use std::collections::BTreeMap;
    use topiclog::JsonSerde;

    type Order = BTreeMap<String, (String, u32)>;
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.create_topic("orders", 1, TopicConfig::new()).unwrap();
    let producer = Producer::new(t.clone(), ProducerConfig::new(), StringSerde, JsonSerde::<Order>::new());
    let order: Order = BTreeMap::from([("line".to_string(), ("apple".to_string(), 3))]);
    let sent = producer.send(Some("o-1"), Some(&order)).unwrap();
    assert_eq!(sent.offset, 0);
    producer.close().unwrap();
    t.send_to(0, Record::new().key("o-2").value("{\"line\": 7}")).unwrap();
    t.send_to(0, Record::new().key("o-3")).unwrap();

    let mut c = s.consumer(ConsumerConfig::new().auto_offset_reset(AutoOffsetReset::Earliest)).unwrap();
    c.assign(&[("orders", 0)]).unwrap();
    let got = c.poll(Duration::ZERO).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].record.value(), Some(&br#"{"line":["apple",3]}"#[..]), "Kafka's JsonSerializer bytes");
    assert_eq!(got[0].value_as(&JsonSerde::<Order>::new()).unwrap(), order);
    let err = got[1].value_as(&JsonSerde::<Order>::new()).unwrap_err();
    assert!(
        matches!(err, Error::Deserialization { ref topic, partition: 0, offset: 1, .. } if topic == "orders"),
        "{err}"
    );
    // A null value is JSON null: `None` for an Option, an error otherwise.
    assert_eq!(got[2].value_as(&JsonSerde::<Option<Order>>::new()).unwrap(), None);
    assert!(matches!(got[2].value_as(&JsonSerde::<Order>::new()), Err(Error::Deserialization { offset: 2, .. })));
}
