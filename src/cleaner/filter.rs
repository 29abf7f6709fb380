//! What the cleaner keeps of each batch (Kafka's `Cleaner.cleanInto` filter
//! and `CleanedTransactionMetadata`), as functions of the offset map, the
//! clock and the transactions seen so far.

use std::collections::{HashMap, HashSet, VecDeque};

use super::offset_map::OffsetMap;
use crate::error::{BatchProblem, Error, Result};
use crate::format::{RecordBatch, RecordRef, rebuild_batch, write_empty_batch};

/// Control record type of an abort marker (the key's second int16).
const ABORT_MARKER: i16 = 0;
/// Control record type of a commit marker.
const COMMIT_MARKER: i16 = 1;

/// A transaction that ended in an abort marker: its producer and first offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// What the log last holds of a producer (Kafka keeps that batch so that the
/// producer's sequence and epoch survive cleaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LastRecord {
    pub last_data_offset: Option<i64>,
    pub producer_epoch: i16,
}

/// The marker type of a control batch (`None` for an empty one).
///
/// A control record's key is `version: int16, type: int16`; one without
/// those four bytes is malformed (Kafka's `ControlRecordType.parse` refuses
/// it too), not a batch without a marker, which compaction would discard.
pub(crate) fn control_type(batch: &RecordBatch) -> Result<Option<i16>> {
    let Some(record) = batch.record_refs()?.next().transpose()? else { return Ok(None) };
    let key = record.key();
    match key.and_then(|k| k.first_chunk::<4>()) {
        Some(&[_, _, high, low]) => Ok(Some(i16::from_be_bytes([high, low]))),
        None => {
            let length = key.map_or(-1, |k| k.len() as i64);
            Err(Error::malformed(BatchProblem::InvalidFieldLength { record: 0, length }))
        }
    }
}

/// Follows batches in offset order to find aborted transactions and each
/// producer's last batch.
#[derive(Debug, Default)]
pub(crate) struct LogFacts {
    ongoing: HashMap<i64, i64>,
    pub aborted: Vec<AbortedTxn>,
    pub producers: HashMap<i64, LastRecord>,
}

impl LogFacts {
    pub fn observe(&mut self, batch: &RecordBatch) -> Result<()> {
        let h = batch.header();
        if h.producer_id < 0 {
            return Ok(());
        }
        let last =
            self.producers.entry(h.producer_id).or_insert(LastRecord { last_data_offset: None, producer_epoch: 0 });
        last.producer_epoch = h.producer_epoch;
        if h.is_control() {
            match control_type(batch)? {
                Some(ABORT_MARKER) => {
                    if let Some(first) = self.ongoing.remove(&h.producer_id) {
                        self.aborted.push(AbortedTxn { producer_id: h.producer_id, first_offset: first });
                    }
                }
                Some(COMMIT_MARKER) => {
                    self.ongoing.remove(&h.producer_id);
                }
                _ => {}
            }
        } else {
            last.last_data_offset = Some(h.last_offset());
            if h.is_transactional() {
                self.ongoing.entry(h.producer_id).or_insert(h.base_offset);
            }
        }
        Ok(())
    }
}

/// Transactions as the cleaner walks the log (Kafka's `CleanedTransactionMetadata`).
#[derive(Debug, Default)]
pub(crate) struct TxnTracker {
    pending: VecDeque<AbortedTxn>,
    /// Aborted transactions entered, with the last offset of their data seen.
    ongoing_aborted: HashMap<i64, Option<i64>>,
    ongoing_committed: HashSet<i64>,
}

impl TxnTracker {
    pub fn new(mut aborted: Vec<AbortedTxn>) -> Self {
        aborted.sort_by_key(|t| t.first_offset);
        Self { pending: aborted.into(), ..Self::default() }
    }

    fn enter_up_to(&mut self, offset: i64) {
        while self.pending.front().is_some_and(|t| t.first_offset <= offset) {
            if let Some(t) = self.pending.pop_front() {
                self.ongoing_aborted.entry(t.producer_id).or_insert(None);
            }
        }
    }

    /// A control batch: whether it may be discarded (its transaction has no data left).
    pub fn on_control(&mut self, batch: &RecordBatch) -> Result<bool> {
        let h = batch.header();
        self.enter_up_to(h.last_offset());
        Ok(match control_type(batch)? {
            Some(ABORT_MARKER) => !matches!(self.ongoing_aborted.remove(&h.producer_id), Some(Some(_))),
            Some(COMMIT_MARKER) => !self.ongoing_committed.remove(&h.producer_id),
            Some(_) => false,
            // An empty control batch was cleaned already.
            None => true,
        })
    }

    /// A data batch: whether it belongs to an aborted transaction.
    pub fn on_batch(&mut self, batch: &RecordBatch) -> bool {
        let h = batch.header();
        self.enter_up_to(h.last_offset());
        if !h.is_transactional() {
            return false;
        }
        match self.ongoing_aborted.get_mut(&h.producer_id) {
            Some(last) => {
                *last = Some(h.last_offset());
                true
            }
            None => {
                self.ongoing_committed.insert(h.producer_id);
                false
            }
        }
    }
}

/// What a cleaning needs to judge a batch.
pub(crate) struct Judge<'a> {
    pub map: &'a OffsetMap,
    pub now: i64,
    pub delete_retention_ms: i64,
    /// The first uncleanable offset: the batch ending there stays, even empty.
    pub upper_bound: i64,
    pub producers: &'a HashMap<i64, LastRecord>,
}

/// Records seen and kept by [`Judge::filter`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub records_read: u64,
    pub records_kept: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchRetention {
    Delete,
    DeleteEmpty,
    RetainEmpty,
}

impl Judge<'_> {
    /// Appends to `out` what is kept of `batch`: the batch as it is, rebuilt
    /// with fewer records or a delete horizon, an empty header, or nothing.
    pub fn filter(&self, batch: &RecordBatch, txns: &mut TxnTracker, out: &mut Vec<u8>) -> Result<Counts> {
        let h = batch.header();
        let can_discard = if h.is_control() { txns.on_control(batch)? } else { txns.on_batch(batch) };
        let horizon = h.has_delete_horizon().then_some(h.base_timestamp);
        let discard_records =
            if h.is_control() { can_discard && horizon.is_some_and(|t| t <= self.now) } else { can_discard };
        let last_of_producer = h.producer_id >= 0
            && self.producers.get(&h.producer_id).is_some_and(|last| match last.last_data_offset {
                Some(offset) => h.last_offset() == offset,
                None => h.is_control() && h.producer_epoch == last.producer_epoch,
            });
        let retention = if last_of_producer || h.next_offset() == self.upper_bound {
            BatchRetention::RetainEmpty
        } else if discard_records {
            BatchRetention::Delete
        } else {
            BatchRetention::DeleteEmpty
        };
        let mut counts = Counts { records_read: h.record_count.max(0) as u64, records_kept: 0 };
        if retention == BatchRetention::Delete {
            return Ok(counts);
        }
        let mut kept: Vec<RecordRef<'_>> = Vec::new();
        let mut all_kept = true;
        let mut tombstones = false;
        for record in batch.record_refs()? {
            let record = record?;
            let keep = !discard_records && (h.is_control() || self.retains(horizon, &record));
            if keep {
                tombstones |= record.value().is_none();
                kept.push(record);
            } else {
                all_kept = false;
            }
        }
        counts.records_kept = kept.len() as u64;
        let marker_of_empty_txn = can_discard && h.is_control();
        let stamp = (tombstones || marker_of_empty_txn) && horizon.is_none();
        if !kept.is_empty() {
            if all_kept && !stamp {
                out.extend_from_slice(batch.as_bytes());
            } else {
                let horizon = if stamp { Some(self.now.saturating_add(self.delete_retention_ms)) } else { horizon };
                rebuild_batch(h, &kept, horizon, out)?;
            }
        } else if retention == BatchRetention::RetainEmpty {
            write_empty_batch(h, out)?;
        }
        Ok(counts)
    }

    /// Kafka's `shouldRetainRecord` for a v2 batch whose delete horizon is `horizon`.
    fn retains(&self, horizon: Option<i64>, record: &RecordRef<'_>) -> bool {
        if record.offset() > self.map.latest_offset() {
            return true;
        }
        let Some(key) = record.key() else { return false };
        let latest_for_key = record.offset() >= self.map.get(key);
        let retain_deletes = horizon.is_none_or(|t| self.now < t);
        latest_for_key && (record.value().is_some() || retain_deletes)
    }
}
