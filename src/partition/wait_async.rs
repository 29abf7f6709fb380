//! [`WaitForData`]: [`Partition::wait_for_data`] as a future (the `async`
//! feature), woken by the append that passes its offset, with no runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{OwnedWaiting, Partition};
use crate::notify::Deadline;

/// The future of [`Partition::wait_for_data_async`]: `true` once the log end
/// offset passes its offset; `false` when its timeout passes first or the
/// partition is closed.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct WaitForData {
    partition: Partition,
    offset: i64,
    deadline: Option<Deadline>,
    /// Counted among the partition's waiters (so appends notify) while pending.
    waiting: Option<OwnedWaiting>,
    /// Its waker's registration with the partition.
    registration: Option<u64>,
}

impl Partition {
    /// [`Partition::wait_for_data`] as a future, for any executor: resolves
    /// to `true` once the log end offset passes `offset`, or to `false` when
    /// the partition is closed or `timeout` (if any) passes first. The append
    /// that passes `offset` wakes it: no thread waits and nothing polls,
    /// except that a timeout starts a helper thread that sleeps until the
    /// deadline (only if the future has to wait at all). Without a timeout,
    /// the runtime's own timeout (or dropping the future) works too: dropping
    /// it loses nothing.
    ///
    /// ```
    /// use topiclog::{LogConfig, Partition, Record};
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     struct Unpark(std::thread::Thread);
    /// #     impl std::task::Wake for Unpark { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    /// #     let waker = std::sync::Arc::new(Unpark(std::thread::current())).into();
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { match f.as_mut().poll(&mut cx) { std::task::Poll::Ready(v) => return v, _ => std::thread::park() } }
    /// # }
    /// let dir = tempfile::tempdir()?;
    /// let log = Partition::open(dir.path(), LogConfig::default())?;
    /// let writer = log.clone();
    /// let appender = std::thread::spawn(move || writer.append(&[Record::new().value("v")]));
    /// assert!(block_on(log.wait_for_data_async(0, None)));
    /// appender.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_data_async(&self, offset: i64, timeout: Option<Duration>) -> WaitForData {
        WaitForData {
            partition: self.clone(),
            offset,
            deadline: timeout.map(|t| Deadline::new(Instant::now() + t)),
            waiting: None,
            registration: None,
        }
    }
}

impl WaitForData {
    fn finish(&mut self, outcome: bool) -> Poll<bool> {
        self.partition.inner.async_arrivals.deregister(&mut self.registration);
        self.waiting = None;
        self.deadline = None;
        Poll::Ready(outcome)
    }
}

impl Future for WaitForData {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.get_mut();
        if this.waiting.is_none() {
            this.waiting = Some(this.partition.waiting_owned());
        }
        loop {
            // The generation first: an append after this check pings past it.
            let seen = this.partition.inner.async_arrivals.generation();
            if this.partition.log_end_offset() > this.offset {
                return this.finish(true);
            }
            if this.partition.inner.closed.load(Ordering::Acquire)
                || this.deadline.as_ref().is_some_and(Deadline::passed)
            {
                return this.finish(false);
            }
            if this.partition.inner.async_arrivals.register(seen, &mut this.registration, cx.waker()) {
                if let Some(deadline) = this.deadline.as_mut() {
                    deadline.arm(cx.waker());
                }
                return Poll::Pending;
            }
        }
    }
}

impl Drop for WaitForData {
    fn drop(&mut self) {
        self.partition.inner.async_arrivals.deregister(&mut self.registration);
    }
}
