//! Rolling: sealing the active segment and starting a new one, with the
//! jitter drawn from a small random number generator.

use std::sync::Arc;

use crate::config::LogConfig;
use crate::error::Result;
use crate::segment::LogSegment;

use super::policy;
use super::slot::SegmentSlot;
use super::{Partition, SegmentList, Writer};

impl Partition {
    /// Seals the active segment and starts a new one at the log end offset
    /// (nothing happens when the active segment is empty).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed) after [`Partition::close`];
    /// [`Error::Poisoned`](crate::Error::Poisoned) after an earlier I/O failure;
    /// [`Error::Io`](crate::Error::Io) when sealing the active segment or creating the new one
    /// fails (the partition is then poisoned).
    pub fn roll(&self) -> Result<()> {
        let config = self.config();
        let mut writer = self.inner.writer.lock();
        self.check_writable(&writer)?;
        let now = self.inner.clock.now_ms();
        let end = self.log_end_offset();
        let rolled = self.roll_locked(&mut writer, &config, now, end);
        self.poison_on_io(&mut writer, rolled)
    }

    /// Starts a new active segment at `new_base` (the log end offset, or the
    /// first offset of an append that keeps its offsets).
    pub(super) fn roll_locked(&self, writer: &mut Writer, config: &LogConfig, now: i64, new_base: i64) -> Result<()> {
        if writer.active.is_empty() && writer.active.base_offset() == new_base {
            return Ok(());
        }
        writer.active.seal()?;
        writer.sealed_unflushed.push(writer.active.clone());
        if new_base != writer.active.next_offset() {
            // A gap between segments is legitimate only below the recovery
            // point (recovery cuts at gaps above it): make the sealed segment
            // durable and move the recovery point to the new base first.
            self.flush_locked(writer, now)?;
            writer.recovery_point = new_base;
            self.write_state(writer, false)?;
        }
        let segment = Arc::new(LogSegment::create(&self.inner.dir, new_base, config.segment_config())?);
        let mut list = self.inner.segments.write();
        let mut slots = list.slots.clone();
        slots.push(Arc::new(SegmentSlot::open_now(segment.clone())));
        *list = Arc::new(SegmentList { slots });
        drop(list);
        writer.active = segment;
        writer.rolling_ts = None;
        writer.active_created_ms = now;
        writer.active_jitter_ms =
            policy::draw_jitter(config.segment_jitter_ms, config.max_segment_ms(), next_random(&mut writer.random));
        writer.dir_dirty = true;
        Ok(())
    }
}

/// A seed for segment jitter that differs between processes and partitions.
pub(super) fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish() | 1
}

/// xorshift64: enough randomness for jitter.
pub(super) fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
