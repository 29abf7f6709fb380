//! A segment in the partition's list, opened on first use: a cleanly closed
//! log with many segments opens only its active one.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::error::Result;
use crate::segment::{LogSegment, OpenMode, RecoveryReport, SegmentConfig};

/// One segment of the list: its base offset, and the open segment once needed.
#[derive(Debug)]
pub(crate) struct SegmentSlot {
    base_offset: i64,
    dir: PathBuf,
    config: SegmentConfig,
    segment: OnceLock<Arc<LogSegment>>,
    opening: Mutex<Option<RecoveryReport>>,
}

impl SegmentSlot {
    /// A slot holding an already open segment.
    pub fn open_now(segment: Arc<LogSegment>) -> Self {
        let slot = Self {
            base_offset: segment.base_offset(),
            dir: segment.dir().to_owned(),
            config: SegmentConfig::default(),
            segment: OnceLock::new(),
            opening: Mutex::new(None),
        };
        let _ = slot.segment.set(segment);
        slot
    }

    /// A slot whose sealed segment is opened when first used.
    pub fn lazy(dir: PathBuf, base_offset: i64, config: SegmentConfig) -> Self {
        Self { base_offset, dir, config, segment: OnceLock::new(), opening: Mutex::new(None) }
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The segment, opening (and mapping) it on first use.
    pub fn get(&self) -> Result<Arc<LogSegment>> {
        if let Some(s) = self.segment.get() {
            return Ok(s.clone());
        }
        let mut report = self.opening.lock();
        if let Some(s) = self.segment.get() {
            return Ok(s.clone());
        }
        let (segment, recovered) = LogSegment::open(&self.dir, self.base_offset, self.config, OpenMode::ReadWrite)?;
        segment.seal()?;
        *report = recovered;
        Ok(self.segment.get_or_init(|| Arc::new(segment)).clone())
    }

    /// The segment if it is open.
    pub fn get_if_open(&self) -> Option<Arc<LogSegment>> {
        self.segment.get().cloned()
    }

    /// What opening the segment had to repair, if anything.
    pub fn take_report(&self) -> Option<RecoveryReport> {
        self.opening.lock().take()
    }
}
