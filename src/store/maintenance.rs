//! The store's background maintenance: one thread that, on the store's
//! clock, applies retention every `log.retention.check.interval.ms`, flushes
//! partitions whose `flush.ms` has passed, removes files whose deletion delay
//! has passed and directories of deleted topics, cleans compacted topics
//! whose dirty ratio (or compaction lag) calls for it, dirtiest first, every
//! `log.cleaner.backoff.ms`, expires consumer groups' committed offsets
//! every `offsets.retention.check.interval.ms`, and writes Kafka's offset
//! checkpoints every `log.flush.offset.checkpoint.interval.ms`.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Shared;
use super::checkpoint::{self, CLEANER_CHECKPOINT, LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT};
use crate::error::Result;
use crate::partition::CompactionResult;

/// How often the thread looks at the clock, in real time.
const TICK: Duration = Duration::from_millis(100);

/// What one maintenance pass did.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceReport {
    /// Whether retention ran in this pass.
    pub retention_ran: bool,
    /// Segments deleted by retention, as (topic, partition, base offset).
    pub deleted_segments: Vec<(String, u32, i64)>,
    /// Partitions flushed because `flush.ms` passed.
    pub flushed: usize,
    /// Partitions cleaned, as (topic, partition, what the cleaning did).
    pub compacted: Vec<(String, u32, CompactionResult)>,
    /// Directories of deleted topics removed.
    pub removed_topic_dirs: usize,
    /// Committed offsets expired (`offsets.retention.minutes`), as (group,
    /// topic, partition).
    pub expired_offsets: Vec<(String, String, u32)>,
    /// Whether the checkpoints were written.
    pub checkpointed: bool,
    /// Errors met (the pass carries on past each; each is also logged).
    pub errors: Vec<MaintenanceError>,
}

/// A task of a maintenance pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MaintenanceTask {
    /// Retention (`retention.ms`, `retention.bytes`).
    Retention,
    /// A flush due by `flush.ms`.
    Flush,
    /// Removing files whose `file.delete.delay.ms` passed.
    DeleteFiles,
    /// Removing the directories of deleted topics.
    RemoveDeletedTopics,
    /// Writing Kafka's recovery-point and log-start checkpoints.
    Checkpoints,
    /// Working out whether a compacted partition is due for cleaning.
    CleanableRange,
    /// Cleaning (compacting) a partition.
    Clean,
    /// Writing `cleaner-offset-checkpoint`.
    CleanerCheckpoint,
    /// Expiring committed offsets past `offsets.retention.minutes`.
    OffsetExpiry,
}

/// A failure in one task of a maintenance pass, and where.
#[derive(Debug, Clone)]
pub struct MaintenanceError {
    /// The task that failed.
    pub task: MaintenanceTask,
    /// The topic and partition, for per-partition tasks.
    pub partition: Option<(String, u32)>,
    /// What went wrong.
    pub error: Arc<crate::Error>,
}

impl std::fmt::Display for MaintenanceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.task)?;
        if let Some((topic, partition)) = &self.partition {
            write!(f, " of {topic}-{partition}")?;
        }
        write!(f, ": {}", self.error)
    }
}

impl MaintenanceReport {
    /// Records (and logs) a failed task.
    fn failed(&mut self, task: MaintenanceTask, partition: Option<(&str, u32)>, error: crate::Error) {
        let error =
            MaintenanceError { task, partition: partition.map(|(t, p)| (t.to_string(), p)), error: Arc::new(error) };
        log::warn!("maintenance: {error}");
        self.errors.push(error);
    }
}

/// When the periodic tasks are next due, by the store's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    next_retention_ms: i64,
    next_checkpoint_ms: i64,
    next_clean_ms: i64,
    next_offsets_expiry_ms: i64,
}

/// Kafka's `log.initial.task.delay.ms`: the background tasks first run
/// this long after start (or after one interval, if that is shorter).
const INITIAL_DELAY_MS: i64 = 30_000;

impl Schedule {
    /// Everything due at once.
    pub fn due_now() -> Self {
        Self {
            next_retention_ms: i64::MIN,
            next_checkpoint_ms: i64::MIN,
            next_clean_ms: i64::MIN,
            next_offsets_expiry_ms: i64::MIN,
        }
    }

    /// The background thread's schedule, starting at `now`.
    fn starting(shared: &Shared, now: i64) -> Self {
        let after = |interval: i64| now.saturating_add(interval.min(INITIAL_DELAY_MS));
        Self {
            next_retention_ms: after(shared.config.retention_check_interval_ms()),
            next_checkpoint_ms: after(shared.config.checkpoint_interval_ms()),
            next_clean_ms: after(shared.config.cleaner_backoff_ms()),
            next_offsets_expiry_ms: after(shared.config.offsets_retention_check_ms()),
        }
    }
}

/// One maintenance pass over every topic.
pub(crate) fn pass(shared: &Shared, schedule: &mut Schedule) -> MaintenanceReport {
    let now = shared.config.clock_handle().now_ms();
    let mut report = MaintenanceReport::default();
    let topics: Vec<_> = shared.topics.read().values().cloned().collect();
    let retention_due = now >= schedule.next_retention_ms;
    if retention_due {
        schedule.next_retention_ms = now.saturating_add(shared.config.retention_check_interval_ms());
        report.retention_ran = true;
    }
    for topic in &topics {
        for (i, p) in topic.partitions().iter().enumerate() {
            let here = Some((topic.name(), i as u32));
            if retention_due {
                match p.enforce_retention() {
                    Ok(r) => report
                        .deleted_segments
                        .extend(r.deleted_segments.into_iter().map(|b| (topic.name().to_string(), i as u32, b))),
                    Err(e) => report.failed(MaintenanceTask::Retention, here, e),
                }
            }
            match p.flush_if_due() {
                Ok(true) => report.flushed += 1,
                Ok(false) => {}
                Err(e) => report.failed(MaintenanceTask::Flush, here, e),
            }
            if let Err(e) = p.delete_expired_files() {
                report.failed(MaintenanceTask::DeleteFiles, here, e);
            }
        }
    }
    if now >= schedule.next_offsets_expiry_ms {
        schedule.next_offsets_expiry_ms = now.saturating_add(shared.config.offsets_retention_check_ms());
        let offsets_topic = shared.topics.read().get(crate::clients::OFFSETS_TOPIC).cloned();
        if let Some(topic) = offsets_topic {
            match crate::clients::expire_committed(shared, &topic) {
                Ok(expired) => report.expired_offsets = expired,
                Err(e) => report.failed(MaintenanceTask::OffsetExpiry, None, e),
            }
        }
    }
    if shared.config.cleaner_enabled() && now >= schedule.next_clean_ms {
        schedule.next_clean_ms = now.saturating_add(shared.config.cleaner_backoff_ms());
        clean_due_logs(&topics, shared, &mut report);
    }
    match super::remove_deleted_dirs(&shared.dir) {
        Ok(n) => report.removed_topic_dirs = n,
        Err(e) => report.failed(MaintenanceTask::RemoveDeletedTopics, None, e),
    }
    if now >= schedule.next_checkpoint_ms {
        schedule.next_checkpoint_ms = now.saturating_add(shared.config.checkpoint_interval_ms());
        match write_checkpoints(shared) {
            Ok(()) => report.checkpointed = true,
            Err(e) => report.failed(MaintenanceTask::Checkpoints, None, e),
        }
    }
    report
}

/// Cleans every compacted partition that is due, dirtiest first (Kafka's
/// `grabFilthiestCompactedLog`, repeated), then records the first dirty
/// offsets in `cleaner-offset-checkpoint`.
fn clean_due_logs(topics: &[crate::Topic], shared: &Shared, report: &mut MaintenanceReport) {
    let options = shared.config.cleaner_options();
    let mut due = Vec::new();
    for topic in topics {
        for (i, p) in topic.partitions().into_iter().enumerate() {
            let config = p.config();
            if !config.cleanup_policy.compacts() {
                continue;
            }
            match p.cleanable_range() {
                Ok(range) if range.is_due(config.min_cleanable_dirty_ratio) => {
                    due.push((range.dirty_ratio(), topic.name().to_string(), i as u32, p));
                }
                Ok(_) => {}
                Err(e) => report.failed(MaintenanceTask::CleanableRange, Some((topic.name(), i as u32)), e),
            }
        }
    }
    due.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, topic, i, p) in due {
        match p.compact_with(&options) {
            Ok(done) => report.compacted.push((topic, i, done)),
            Err(e) => report.failed(MaintenanceTask::Clean, Some((&topic, i)), e),
        }
    }
    if !report.compacted.is_empty()
        && let Err(e) = write_cleaner_checkpoint(shared)
    {
        report.failed(MaintenanceTask::CleanerCheckpoint, None, e);
    }
}

/// Writes `cleaner-offset-checkpoint`: the first dirty offset of every
/// partition that has been cleaned.
pub(crate) fn write_cleaner_checkpoint(shared: &Shared) -> Result<()> {
    let topics: Vec<_> = shared.topics.read().values().cloned().collect();
    let mut entries = Vec::new();
    for topic in &topics {
        for (i, p) in topic.partitions().iter().enumerate() {
            if let Some(offset) = p.recorded_first_dirty_offset() {
                entries.push((topic.name().to_string(), i as u32, offset));
            }
        }
    }
    let path = shared.dir.join(CLEANER_CHECKPOINT);
    if entries.is_empty() && !path.exists() {
        return Ok(());
    }
    checkpoint::write(&path, &entries)
}

/// Writes Kafka's `recovery-point-offset-checkpoint` (every partition) and
/// `log-start-offset-checkpoint` (partitions whose log start is past their
/// first segment) at the data directory's root.
pub(crate) fn write_checkpoints(shared: &Shared) -> Result<()> {
    let topics: Vec<_> = shared.topics.read().values().cloned().collect();
    let (mut recovery, mut start) = (Vec::new(), Vec::new());
    for topic in &topics {
        for (i, p) in topic.partitions().iter().enumerate() {
            let name = topic.name().to_string();
            recovery.push((name.clone(), i as u32, p.recovery_point()));
            if p.log_start_offset() > p.first_segment_base_offset() {
                start.push((name, i as u32, p.log_start_offset()));
            }
        }
    }
    checkpoint::write(&shared.dir.join(RECOVERY_POINT_CHECKPOINT), &recovery)?;
    checkpoint::write(&shared.dir.join(LOG_START_CHECKPOINT), &start)?;
    write_cleaner_checkpoint(shared)
}

#[derive(Debug, Default)]
struct Control {
    stop: bool,
    kicked: bool,
    passes: u64,
    last: Option<MaintenanceReport>,
}

/// The running maintenance thread.
#[derive(Debug)]
pub(crate) struct Maintenance {
    control: Arc<(Mutex<Control>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    pub fn start(shared: Arc<Shared>) -> Self {
        let control = Arc::new((Mutex::new(Control::default()), Condvar::new()));
        let thread_control = control.clone();
        let thread = std::thread::Builder::new()
            .name("topiclog-maintenance".into())
            .spawn(move || run(&shared, &thread_control))
            .ok();
        Self { control, thread }
    }

    /// Wakes the thread and waits for a pass that starts after this call.
    pub fn wait_for_pass(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.control;
        let mut c = lock.lock();
        // The pass under way may have started before the call: wait for the one after it.
        let target = c.passes + 2;
        c.kicked = true;
        cv.notify_all();
        while c.passes < target {
            if self.thread.is_none() || cv.wait_until(&mut c, deadline).timed_out() {
                return c.passes >= target;
            }
        }
        true
    }

    pub fn last_report(&self) -> Option<MaintenanceReport> {
        self.control.0.lock().last.clone()
    }

    pub fn stop(mut self) {
        self.signal_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn signal_stop(&self) {
        let (lock, cv) = &*self.control;
        lock.lock().stop = true;
        cv.notify_all();
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        self.signal_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared, control: &(Mutex<Control>, Condvar)) {
    let (lock, cv) = control;
    let mut schedule = Schedule::starting(shared, shared.config.clock_handle().now_ms());
    loop {
        {
            let mut c = lock.lock();
            if !c.kicked && !c.stop {
                cv.wait_for(&mut c, TICK);
            }
            c.kicked = false;
            if c.stop {
                return;
            }
        }
        let report = pass(shared, &mut schedule);
        let mut c = lock.lock();
        c.passes += 1;
        c.last = Some(report);
        cv.notify_all();
    }
}
