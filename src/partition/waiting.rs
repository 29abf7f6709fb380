//! Waking readers that wait for records: [`Partition::wait_for_data`], the
//! waiter count appends check, and consumers' notifiers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::time::Duration;

use super::Partition;

impl Partition {
    /// Wakes [`Partition::wait_for_data`] callers after the log end offset
    /// moved, touching the condvar only when one is waiting.
    pub(super) fn notify_waiters(&self) {
        // Pairs with the fence in `wait_for_data`: either this sees its
        // registration, or it sees the new log end offset.
        fence(Ordering::SeqCst);
        if self.inner.waiters.load(Ordering::Relaxed) > 0 {
            self.notify_arrivals();
        }
    }

    pub(super) fn notify_arrivals(&self) {
        {
            let _guard = self.inner.arrivals.lock();
            self.inner.arrived.notify_all();
        }
        #[cfg(feature = "async")]
        self.inner.async_arrivals.ping();
        let mut listeners = self.inner.listeners.lock();
        listeners.retain(|l| match l.upgrade() {
            Some(notifier) => {
                notifier.ping();
                true
            }
            None => false,
        });
    }

    /// Pings `notifier` whenever records arrive while someone is registered
    /// as waiting (see [`Partition::waiting`]) or the partition closes.
    pub(crate) fn listen(&self, notifier: &Arc<crate::notify::Notifier>) {
        let mut listeners = self.inner.listeners.lock();
        if !listeners.iter().any(|l| std::ptr::eq(l.as_ptr(), Arc::as_ptr(notifier))) {
            listeners.push(Arc::downgrade(notifier));
        }
    }

    /// Registers a waiter until the guard drops: appends notify while one is.
    pub(crate) fn waiting(&self) -> Waiting<'_> {
        Waiting::register(&self.inner.waiters)
    }

    /// [`Partition::waiting`] for a future, which cannot borrow the partition.
    #[cfg(feature = "async")]
    pub(crate) fn waiting_owned(&self) -> OwnedWaiting {
        // The count taken here is given back by `OwnedWaiting`'s drop.
        std::mem::forget(Waiting::register(&self.inner.waiters));
        OwnedWaiting(self.clone())
    }

    /// Blocks until the log end offset passes `offset` or `timeout` elapses;
    /// returns whether data past `offset` is there.
    #[allow(clippy::must_use_candidate, reason = "a caller may wait without caring whether data came")]
    pub fn wait_for_data(&self, offset: i64, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let _waiting = Waiting::register(&self.inner.waiters);
        let mut guard = self.inner.arrivals.lock();
        while self.log_end_offset() <= offset {
            if self.inner.closed.load(Ordering::Acquire) {
                return false;
            }
            if self.inner.arrived.wait_until(&mut guard, deadline).timed_out() {
                return self.log_end_offset() > offset;
            }
        }
        true
    }
}

/// Counts a caller of [`Partition::wait_for_data`] while it waits.
/// A registered waiter (see [`Partition::waiting`]).
pub(crate) struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn register(waiters: &'a AtomicUsize) -> Self {
        waiters.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `notify_waiters`: the log end offset read
        // after this is at least the one an append that missed us stored.
        fence(Ordering::SeqCst);
        Self(waiters)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A registered waiter that owns a handle of its partition (see
/// [`Partition::waiting_owned`]).
#[cfg(feature = "async")]
#[derive(Debug)]
pub(crate) struct OwnedWaiting(Partition);

#[cfg(feature = "async")]
impl Drop for OwnedWaiting {
    fn drop(&mut self) {
        self.0.inner.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}
