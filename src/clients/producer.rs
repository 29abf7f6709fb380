//! [`Producer`]: typed records batched per partition, as Kafka's producer
//! batches them: a batch holds records up to `batch.size` bytes and is
//! appended when the next record does not fit, when it has waited
//! `linger.ms`, or on `flush`/`close`.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::serde::Serializer;
use crate::error::{Error, Result};
use crate::format::{BorrowedRecord, RECORD_BATCH_OVERHEAD, Record, encoded_record_size};
use crate::topic::{SendResult, Topic};

/// A producer's settings, with Kafka's names and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerConfig {
    batch_size: usize,
    linger_ms: u64,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self { batch_size: 16_384, linger_ms: 5 }
    }
}

impl ProducerConfig {
    /// `batch.size` 16384 and `linger.ms` 5 (Kafka 4.0's defaults).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `batch.size`: the most bytes of a batch (a larger record goes alone).
    #[must_use]
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.batch_size = bytes;
        self
    }

    /// `linger.ms`: how long a batch waits for more records (0: appended at once).
    #[must_use]
    pub fn linger_ms(mut self, ms: u64) -> Self {
        self.linger_ms = ms;
        self
    }
}

/// The outcome of one batch, shared by the handles of its records.
#[derive(Debug, Default)]
struct Outcome {
    result: Mutex<Option<std::result::Result<SendResult, Arc<Error>>>>,
    done: Condvar,
}

/// A record sent without waiting: [`SendHandle::wait`] gives where it went
/// once its batch is appended.
#[derive(Debug)]
pub struct SendHandle {
    outcome: Arc<Outcome>,
    partition: u32,
    index: i64,
}

impl SendHandle {
    /// The partition the record goes to.
    #[must_use]
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// Waits until the record's batch is appended.
    ///
    /// # Errors
    ///
    /// [`Error::ProducerAppend`] (with the append's error as its source)
    /// when the batch could not be appended.
    pub fn wait(self) -> Result<SendResult> {
        let mut result = self.outcome.result.lock();
        loop {
            match result.as_ref() {
                Some(Ok(first)) => return Ok(SendResult { offset: first.offset + self.index, ..*first }),
                Some(Err(e)) => return Err(Error::ProducerAppend { partition: self.partition, source: e.clone() }),
                None => self.outcome.done.wait(&mut result),
            }
        }
    }
}

#[derive(Debug)]
struct Batch {
    records: Vec<Record>,
    bytes: usize,
    base_timestamp: i64,
    opened: Instant,
    outcome: Arc<Outcome>,
}

#[derive(Debug, Default)]
struct Pending {
    batches: BTreeMap<u32, Batch>,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    topic: Topic,
    config: ProducerConfig,
    pending: Mutex<Pending>,
    wake: Condvar,
}

/// Sends typed records to one topic in batches.
///
/// ```
/// use topiclog::{Producer, ProducerConfig, Store, StoreConfig, StringSerde, TopicConfig};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreConfig::new())?;
/// let topic = store.create_topic("events", 3, TopicConfig::new())?;
/// let producer = Producer::new(topic.clone(), ProducerConfig::new().linger_ms(50), StringSerde, StringSerde);
/// let pending: Vec<_> = (0..10).map(|i| producer.send_async(Some("user-1"), Some(&format!("click {i}")))).collect::<Result<_, _>>()?;
/// producer.flush()?;
/// let sent = pending.into_iter().map(|h| h.wait()).collect::<Result<Vec<_>, _>>()?;
/// assert!(sent.windows(2).all(|w| w[0].partition == w[1].partition && w[1].offset == w[0].offset + 1));
/// producer.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Producer<K: ?Sized, V: ?Sized> {
    shared: Arc<Shared>,
    key_serializer: Box<dyn Serializer<K>>,
    value_serializer: Box<dyn Serializer<V>>,
    linger: Option<JoinHandle<()>>,
    _types: PhantomData<fn(&K, &V)>,
}

impl<K: ?Sized, V: ?Sized> std::fmt::Debug for Producer<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("topic", &self.shared.topic.name()).finish_non_exhaustive()
    }
}

impl<K: ?Sized, V: ?Sized> Producer<K, V> {
    /// A producer to `topic` with these serializers. With `linger.ms` > 0, a
    /// thread appends batches that have waited long enough.
    pub fn new(
        topic: Topic,
        config: ProducerConfig,
        key_serializer: impl Serializer<K> + 'static,
        value_serializer: impl Serializer<V> + 'static,
    ) -> Self {
        let shared = Arc::new(Shared { topic, config, pending: Mutex::new(Pending::default()), wake: Condvar::new() });
        let linger = (config.linger_ms > 0).then(|| {
            let shared = shared.clone();
            std::thread::spawn(move || linger_loop(&shared))
        });
        Self {
            shared,
            key_serializer: Box::new(key_serializer),
            value_serializer: Box::new(value_serializer),
            linger,
            _types: PhantomData,
        }
    }

    /// Sends one record and waits until its batch is appended.
    ///
    /// # Errors
    ///
    /// As [`Producer::send_async`] and [`SendHandle::wait`].
    pub fn send(&self, key: Option<&K>, value: Option<&V>) -> Result<SendResult> {
        let handle = self.send_async(key, value)?;
        // Its batch goes now: waiting out the linger would make every
        // blocking send slow.
        self.flush_partition(handle.partition)?;
        handle.wait()
    }

    /// Adds one record to its partition's batch and returns at once.
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`]; errors of an
    /// append this record's arrival triggered (a full batch).
    pub fn send_async(&self, key: Option<&K>, value: Option<&V>) -> Result<SendHandle> {
        let topic = self.shared.topic.name().to_string();
        let ser = |r: std::result::Result<Option<Vec<u8>>, String>| {
            r.map_err(|reason| Error::Serialization { topic: topic.clone(), reason })
        };
        let key = key.map(|k| ser(self.key_serializer.serialize(k))).transpose()?.flatten();
        let value = value.map(|v| ser(self.value_serializer.serialize(v))).transpose()?.flatten();
        let now = self.shared.topic.clock_now_ms();
        let mut record = Record::new().timestamp(now);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = value {
            record = record.value(v);
        }
        self.enqueue(record, now)
    }

    fn enqueue(&self, record: Record, now: i64) -> Result<SendHandle> {
        let partition = self.shared.topic.partition_for(&record);
        let borrowed = BorrowedRecord::new(record.key.as_deref(), record.value.as_deref()).timestamp(now);
        let mut pending = self.shared.pending.lock();
        if pending.closed {
            // `close` and drop take the producer: no send can follow them.
            return Err(Error::Internal { invariant: "a closed producer takes no more records" });
        }
        let full = pending.batches.get(&partition).and_then(|batch| {
            let delta = i32::try_from(batch.records.len()).unwrap_or(i32::MAX);
            let size = encoded_record_size(&borrowed, now, batch.base_timestamp, delta).ok()? as usize;
            (batch.bytes + size > self.shared.config.batch_size).then_some(())
        });
        let mut ready = Vec::new();
        if full.is_some()
            && let Some(batch) = pending.batches.remove(&partition)
        {
            ready.push((partition, batch));
        }
        let batch = pending.batches.entry(partition).or_insert_with(|| Batch {
            records: Vec::new(),
            bytes: RECORD_BATCH_OVERHEAD,
            base_timestamp: now,
            opened: Instant::now(),
            outcome: Arc::new(Outcome::default()),
        });
        let delta = i32::try_from(batch.records.len()).unwrap_or(i32::MAX);
        batch.bytes += encoded_record_size(&borrowed, now, batch.base_timestamp, delta)? as usize;
        batch.records.push(record);
        let handle = SendHandle { outcome: batch.outcome.clone(), partition, index: delta.into() };
        // A batch that is full already (a record as large as a batch) goes at once.
        if batch.bytes >= self.shared.config.batch_size || self.shared.config.linger_ms == 0 {
            if let Some(batch) = pending.batches.remove(&partition) {
                ready.push((partition, batch));
            }
        } else {
            self.shared.wake.notify_one();
        }
        drop(pending);
        let mut first_error = None;
        for (p, batch) in ready {
            if let Err(e) = append(&self.shared.topic, p, batch) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(handle), Err)
    }

    fn flush_partition(&self, partition: u32) -> Result<()> {
        let batch = self.shared.pending.lock().batches.remove(&partition);
        match batch {
            Some(b) => append(&self.shared.topic, partition, b),
            None => Ok(()),
        }
    }

    /// Appends every pending batch.
    ///
    /// # Errors
    ///
    /// The first append error (the other batches are still appended).
    pub fn flush(&self) -> Result<()> {
        flush_all(&self.shared)
    }

    /// Appends what is pending and stops the linger thread.
    ///
    /// # Errors
    ///
    /// As [`Producer::flush`].
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let flushed = flush_all(&self.shared);
        self.shared.pending.lock().closed = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.linger.take() {
            let _ = thread.join();
        }
        flushed
    }
}

impl<K: ?Sized, V: ?Sized> Drop for Producer<K, V> {
    /// Appends what is pending (errors are lost: call `close` to see them).
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn flush_all(shared: &Shared) -> Result<()> {
    let batches = std::mem::take(&mut shared.pending.lock().batches);
    let mut first_error = None;
    for (p, batch) in batches {
        if let Err(e) = append(&shared.topic, p, batch) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Appends `batch` to partition `p` as one batch and resolves its handles.
fn append(topic: &Topic, p: u32, batch: Batch) -> Result<()> {
    let appended = topic.partition(p).and_then(|partition| partition.append(&batch.records));
    let (outcome, result) = match appended {
        Ok(a) => {
            let timestamp = if a.log_append_time >= 0 { a.log_append_time } else { a.max_timestamp };
            (Ok(SendResult { partition: p, offset: a.first_offset, timestamp }), Ok(()))
        }
        Err(e) => {
            let e = Arc::new(e);
            (Err(e.clone()), Err(Error::ProducerAppend { partition: p, source: e }))
        }
    };
    *batch.outcome.result.lock() = Some(outcome);
    batch.outcome.done.notify_all();
    result
}

/// Appends batches that have lingered `linger.ms`, until the producer closes.
fn linger_loop(shared: &Shared) {
    let linger = Duration::from_millis(shared.config.linger_ms);
    let mut pending = shared.pending.lock();
    loop {
        if pending.closed {
            return;
        }
        let now = Instant::now();
        let due: Vec<u32> =
            pending.batches.iter().filter(|(_, b)| now.duration_since(b.opened) >= linger).map(|(p, _)| *p).collect();
        if due.is_empty() {
            let next = pending.batches.values().map(|b| b.opened + linger).min();
            match next {
                Some(at) => {
                    shared.wake.wait_until(&mut pending, at);
                }
                None => shared.wake.wait(&mut pending),
            }
            continue;
        }
        let batches: Vec<(u32, Batch)> =
            due.into_iter().filter_map(|p| pending.batches.remove(&p).map(|b| (p, b))).collect();
        drop(pending);
        for (p, batch) in batches {
            // The error reaches the batch's handles.
            let _ = append(&shared.topic, p, batch);
        }
        pending = shared.pending.lock();
    }
}
