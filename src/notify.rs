//! [`Notifier`]: one wake-up shared by many partitions, so that a consumer
//! of several partitions sleeps on a single condition until any of them
//! receives records (no polling loop).

use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// A generation counter bumped by every ping.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Notifier {
    /// Wakes every waiter.
    pub fn ping(&self) {
        *self.generation.lock() += 1;
        self.changed.notify_all();
    }

    /// The current generation: read it before checking for data, then wait past it.
    pub fn generation(&self) -> u64 {
        *self.generation.lock()
    }

    /// Waits until a ping after `seen`, or `deadline`; whether a ping came.
    pub fn wait_past(&self, seen: u64, deadline: Instant) -> bool {
        let mut generation = self.generation.lock();
        while *generation == seen {
            if self.changed.wait_until(&mut generation, deadline).timed_out() {
                return *generation != seen;
            }
        }
        true
    }
}
