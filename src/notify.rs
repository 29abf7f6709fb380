//! [`Notifier`]: one wake-up shared by many partitions, so that a consumer
//! of several partitions sleeps on a single condition until any of them
//! receives records (no polling loop). With the `async` feature it also
//! wakes registered [`Waker`]s, so futures wait on it without a thread; and
//! [`Deadline`] gives those futures a timeout without a runtime.

use std::time::Instant;

use parking_lot::{Condvar, Mutex};

#[cfg(feature = "async")]
use std::task::Waker;

/// A generation counter bumped by every ping.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    /// Futures waiting for the next ping, by registration id.
    #[cfg(feature = "async")]
    wakers: Vec<(u64, Waker)>,
    #[cfg(feature = "async")]
    next_id: u64,
}

impl Notifier {
    /// Wakes every waiter (threads and, with `async`, futures).
    pub fn ping(&self) {
        let mut state = self.state.lock();
        state.generation += 1;
        #[cfg(feature = "async")]
        let wakers = std::mem::take(&mut state.wakers);
        drop(state);
        self.changed.notify_all();
        #[cfg(feature = "async")]
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    /// The current generation: read it before checking for data, then wait past it.
    pub fn generation(&self) -> u64 {
        self.state.lock().generation
    }

    /// Waits until a ping after `seen`, or `deadline`; whether a ping came.
    pub fn wait_past(&self, seen: u64, deadline: Instant) -> bool {
        let mut state = self.state.lock();
        while state.generation == seen {
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                return state.generation != seen;
            }
        }
        true
    }

    /// Has `waker` woken by the first ping after `seen`, and returns true;
    /// returns false (registering nothing) when that ping already came.
    /// `slot` keeps the registration between calls, so that a future polled
    /// again replaces its waker instead of adding one.
    #[cfg(feature = "async")]
    pub fn register(&self, seen: u64, slot: &mut Option<u64>, waker: &Waker) -> bool {
        let mut state = self.state.lock();
        if state.generation != seen {
            return false;
        }
        if let Some(id) = *slot
            && let Some((_, registered)) = state.wakers.iter_mut().find(|(i, _)| *i == id)
        {
            if !registered.will_wake(waker) {
                registered.clone_from(waker);
            }
            return true;
        }
        state.next_id += 1;
        let id = state.next_id;
        state.wakers.push((id, waker.clone()));
        *slot = Some(id);
        true
    }

    /// Forgets the registration in `slot` (a future that finished or was dropped).
    #[cfg(feature = "async")]
    pub fn deregister(&self, slot: &mut Option<u64>) {
        if let Some(id) = slot.take() {
            self.state.lock().wakers.retain(|(i, _)| *i != id);
        }
    }
}

/// A future's timeout without a runtime: the first time the future has to
/// wait, a helper thread is started that sleeps until the deadline and then
/// wakes the future's latest waker. It ends at the deadline or when the
/// `Deadline` is dropped, whichever comes first.
#[cfg(feature = "async")]
#[derive(Debug)]
pub(crate) struct Deadline {
    at: Instant,
    timer: Option<Timer>,
}

#[cfg(feature = "async")]
#[derive(Debug)]
struct Timer {
    shared: std::sync::Arc<TimerShared>,
    thread: std::thread::Thread,
}

#[cfg(feature = "async")]
#[derive(Debug, Default)]
struct TimerShared {
    waker: Mutex<Option<Waker>>,
    cancelled: std::sync::atomic::AtomicBool,
}

#[cfg(feature = "async")]
impl Deadline {
    /// A deadline at `at`.
    pub fn new(at: Instant) -> Self {
        Self { at, timer: None }
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Has `waker` woken at the deadline (the helper thread starts on the
    /// first call; later calls only replace the waker). Should the thread
    /// not start, the waker is woken at once, so the future is polled again
    /// (a busy wait, but a correct one) and the failure logged.
    pub fn arm(&mut self, waker: &Waker) {
        if let Some(timer) = &self.timer {
            let mut slot = timer.shared.waker.lock();
            match slot.as_mut() {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
            return;
        }
        match self.start(waker) {
            Ok(timer) => self.timer = Some(timer),
            Err(e) => {
                log::warn!("cannot start a timeout thread ({e}); the future polls again instead");
                waker.wake_by_ref();
            }
        }
    }

    fn start(&self, waker: &Waker) -> std::io::Result<Timer> {
        let shared = std::sync::Arc::new(TimerShared {
            waker: Mutex::new(Some(waker.clone())),
            cancelled: std::sync::atomic::AtomicBool::new(false),
        });
        let at = self.at;
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new().name("topiclog-timeout".into()).spawn(move || {
            use std::sync::atomic::Ordering;
            loop {
                if thread_shared.cancelled.load(Ordering::Acquire) {
                    return;
                }
                let now = Instant::now();
                if now >= at {
                    if let Some(waker) = thread_shared.waker.lock().take() {
                        waker.wake();
                    }
                    return;
                }
                std::thread::park_timeout(at - now);
            }
        })?;
        Ok(Timer { shared, thread: handle.thread().clone() })
    }
}

#[cfg(feature = "async")]
impl Drop for Deadline {
    /// Stops the helper thread (it exits as soon as it is unparked).
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.shared.cancelled.store(true, std::sync::atomic::Ordering::Release);
            timer.thread.unpark();
        }
    }
}
