//! The `async` feature: `Partition::wait_for_data_async` and
//! `Consumer::poll_async` as futures on a hand-written executor (the thread
//! parks until a waker unparks it), so no runtime is involved: a pending
//! future is woken by the append, never by polling.
#![cfg(feature = "async")]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use topiclog::{AutoOffsetReset, ConsumerConfig, LogConfig, Partition, Record, Store, StoreConfig, TopicConfig};

/// Unparks the executor's thread; counts its wake-ups.
struct Unpark {
    thread: std::thread::Thread,
    wakes: AtomicUsize,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Runs `future` to completion on this thread; returns its output and how
/// many times it was polled.
fn block_on<F: Future>(future: F) -> (F::Output, usize) {
    let unpark = Arc::new(Unpark { thread: std::thread::current(), wakes: AtomicUsize::new(0) });
    let waker = Waker::from(unpark.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return (output, polls);
        }
        // Park until woken (a spurious unpark only costs a poll).
        std::thread::park();
    }
}

/// Polls `future` once with a waker that counts wake-ups.
fn poll_once<F: Future + Unpin>(future: &mut F, unpark: &Arc<Unpark>) -> Poll<F::Output> {
    let waker = Waker::from(unpark.clone());
    std::pin::Pin::new(future).poll(&mut Context::from_waker(&waker))
}

fn counting_waker() -> Arc<Unpark> {
    Arc::new(Unpark { thread: std::thread::current(), wakes: AtomicUsize::new(0) })
}

fn assert_send<T: Send>(_: &T) {}

/// Pending until another thread appends, then ready; woken by the append
/// itself (exactly one wake-up), and ready at once when data is there.
#[test]
fn wait_for_data_async_is_woken_by_the_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = Partition::open(dir.path(), LogConfig::default()).unwrap();
    let mut wait = log.wait_for_data_async(0, None);
    assert_send(&wait);
    let unpark = counting_waker();
    assert!(poll_once(&mut wait, &unpark).is_pending());
    assert!(poll_once(&mut wait, &unpark).is_pending(), "a second poll replaces the waker");
    assert_eq!(unpark.wakes.load(Ordering::SeqCst), 0, "nothing wakes it before an append");
    log.append(&[Record::new().value("v")]).unwrap();
    assert_eq!(unpark.wakes.load(Ordering::SeqCst), 1, "the append woke it, once");
    assert_eq!(poll_once(&mut wait, &unpark), Poll::Ready(true));

    // Data already there: ready at the first poll.
    assert_eq!(block_on(log.wait_for_data_async(0, None)), (true, 1));
    // Another thread's append wakes a parked executor.
    let writer = log.clone();
    let append = std::thread::spawn(move || {
        writer.append(&[Record::new().value("w")]).unwrap();
    });
    let (ready, polls) = block_on(log.wait_for_data_async(1, None));
    append.join().unwrap();
    assert!(ready);
    assert!(polls <= 3, "woken, not polled in a loop: {polls} polls");
    // Closing resolves a waiting future to false.
    let mut wait = log.wait_for_data_async(5, None);
    assert!(poll_once(&mut wait, &unpark).is_pending());
    log.close().unwrap();
    assert_eq!(poll_once(&mut wait, &unpark), Poll::Ready(false));
}

/// With a timeout and no data, the future resolves to false once the
/// deadline passes (woken by the helper thread), not before.
#[test]
fn wait_for_data_async_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let log = Partition::open(dir.path(), LogConfig::default()).unwrap();
    let started = Instant::now();
    let (ready, polls) = block_on(log.wait_for_data_async(0, Some(Duration::from_millis(100))));
    assert!(!ready);
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(polls <= 3, "woken at the deadline, not polled in a loop: {polls} polls");
    // A dropped future leaves nothing behind: a later append still works.
    drop(log.wait_for_data_async(0, Some(Duration::from_secs(3600))));
    log.append(&[Record::new().value("v")]).unwrap();
}

fn store(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreConfig::new().maintenance(false)).unwrap()
}

/// `poll_async` is pending while every assigned partition is empty, and a
/// record appended from another thread to any of them makes it ready with
/// that record.
#[test]
fn poll_async_resolves_with_the_record_another_thread_appends() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.create_topic("t", 3, TopicConfig::new()).unwrap();
    let config = ConsumerConfig::new().group_id("g").auto_offset_reset(AutoOffsetReset::Earliest);
    let mut c = s.consumer(config.enable_auto_commit(false)).unwrap();
    c.assign(&[("t", 0), ("t", 1), ("t", 2)]).unwrap();

    let unpark = counting_waker();
    {
        let mut poll = c.poll_async(None);
        assert_send(&poll);
        assert!(poll_once(&mut poll, &unpark).is_pending());
        t.send_to(2, Record::new().value("hello")).unwrap();
        assert_eq!(unpark.wakes.load(Ordering::SeqCst), 1, "one wake-up for all partitions");
        let Poll::Ready(records) = poll_once(&mut poll, &unpark) else { panic!("woken but not ready") };
        let records = records.unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!((records[0].partition, records[0].record.offset()), (2, 0));
        assert_eq!(records[0].record.value(), Some(&b"hello"[..]));
    }

    let writer = t.clone();
    let append = std::thread::spawn(move || {
        writer.send_to(0, Record::new().value("again")).unwrap();
    });
    let (records, polls) = block_on(c.poll_async(None));
    append.join().unwrap();
    let records = records.unwrap();
    assert_eq!(records.iter().map(|r| (r.partition, r.record.offset())).collect::<Vec<_>>(), [(0, 0)]);
    assert!(polls <= 3, "woken, not polled in a loop: {polls} polls");
    c.commit_sync().unwrap();
    assert_eq!(s.committed_offset("g", "t", 0).unwrap(), Some(1));
}

/// With a timeout and nothing to read, `poll_async` resolves to no records
/// after the deadline; a dropped poll loses no records.
#[test]
fn poll_async_times_out_empty_and_dropping_it_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.create_topic("t", 2, TopicConfig::new()).unwrap();
    let mut c = s.consumer(ConsumerConfig::new().auto_offset_reset(AutoOffsetReset::Earliest)).unwrap();
    c.assign(&[("t", 0), ("t", 1)]).unwrap();
    let started = Instant::now();
    let (records, polls) = block_on(c.poll_async(Some(Duration::from_millis(100))));
    assert!(records.unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(polls <= 3, "woken at the deadline: {polls} polls");

    let unpark = counting_waker();
    let mut poll = c.poll_async(Some(Duration::from_secs(3600)));
    assert!(poll_once(&mut poll, &unpark).is_pending());
    drop(poll);
    t.send_to(1, Record::new().value("kept")).unwrap();
    assert_eq!(unpark.wakes.load(Ordering::SeqCst), 0, "a dropped future is not woken");
    let (records, polls) = block_on(c.poll_async(None));
    assert_eq!(polls, 1);
    assert_eq!(records.unwrap().len(), 1);
}
