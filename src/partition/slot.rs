//! A segment in the partition's list, opened on first use: a cleanly closed
//! log with many segments opens only its active one, and sizes and
//! timestamps of sealed segments are learnt without keeping their files open.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::segment::{LogSegment, OpenMode, RecoveryReport, SegmentConfig};

/// What retention and `describe` need of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentFigures {
    /// Bytes of the `.log`.
    pub size: u64,
    /// [`LogSegment::largest_timestamp`].
    pub largest_timestamp: i64,
}

/// One segment of the list: its base offset, and the open segment once needed.
#[derive(Debug)]
pub(crate) struct SegmentSlot {
    base_offset: i64,
    dir: PathBuf,
    config: SegmentConfig,
    segment: OnceLock<Arc<LogSegment>>,
    /// A sealed segment's figures, learnt once without opening it for good.
    figures: OnceLock<SegmentFigures>,
    opening: Mutex<Vec<RecoveryReport>>,
    /// Open the segment without changing its files.
    read_only: bool,
}

impl SegmentSlot {
    /// A slot holding an already open segment.
    pub fn open_now(segment: Arc<LogSegment>) -> Self {
        let slot = Self {
            base_offset: segment.base_offset(),
            dir: segment.dir().to_owned(),
            config: SegmentConfig::default(),
            segment: OnceLock::new(),
            figures: OnceLock::new(),
            opening: Mutex::new(Vec::new()),
            read_only: false,
        };
        let _ = slot.segment.set(segment);
        slot
    }

    /// A slot whose sealed segment is opened when first used.
    pub fn lazy(dir: PathBuf, base_offset: i64, config: SegmentConfig, read_only: bool) -> Self {
        Self {
            base_offset,
            dir,
            config,
            segment: OnceLock::new(),
            figures: OnceLock::new(),
            opening: Mutex::new(Vec::new()),
            read_only,
        }
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The segment, opening (and mapping) it on first use. A wrong or
    /// missing index is rebuilt (and reported); the `.log` is never cut.
    pub fn get(&self) -> Result<Arc<LogSegment>> {
        if let Some(s) = self.segment.get() {
            return Ok(s.clone());
        }
        let mut reports = self.opening.lock();
        if let Some(s) = self.segment.get() {
            return Ok(s.clone());
        }
        if self.read_only {
            // Indexes are checked (and rebuilt in memory when wrong); nothing is sealed on disk.
            let (segment, recovered) = LogSegment::open(&self.dir, self.base_offset, self.config, OpenMode::ReadOnly)?;
            reports.extend(recovered);
            return Ok(self.segment.get_or_init(|| Arc::new(segment)).clone());
        }
        let (segment, recovered) = LogSegment::open_sealed(&self.dir, self.base_offset, self.config)?;
        reports.extend(recovered);
        match segment.seal() {
            // The indexes are a cache of the log: rebuild them rather than
            // refuse to read a segment whose index cannot be finished.
            Err(Error::IndexFull { .. } | Error::IndexOutOfOrder { .. } | Error::CorruptIndex { .. }) => {
                reports.push(segment.rebuild_indexes()?);
                segment.seal()?;
            }
            other => other?,
        }
        Ok(self.segment.get_or_init(|| Arc::new(segment)).clone())
    }

    /// The segment if it is open.
    pub fn get_if_open(&self) -> Option<Arc<LogSegment>> {
        self.segment.get().cloned()
    }

    /// Size and largest timestamp. For a segment that is not open, they are
    /// read once through a read-only open whose files are closed again, so
    /// that sizes and retention of a log with many segments hold no files.
    pub fn figures(&self) -> Result<SegmentFigures> {
        if let Some(seg) = self.get_if_open() {
            return Ok(SegmentFigures { size: seg.size(), largest_timestamp: seg.largest_timestamp()? });
        }
        if let Some(f) = self.figures.get() {
            return Ok(*f);
        }
        let (seg, _) = LogSegment::open(&self.dir, self.base_offset, self.config, OpenMode::ReadOnly)?;
        let figures = SegmentFigures { size: seg.size(), largest_timestamp: seg.largest_timestamp()? };
        Ok(*self.figures.get_or_init(|| figures))
    }

    /// What opening the segment had to repair, and index rebuilds since; each once.
    pub fn take_reports(&self) -> Vec<RecoveryReport> {
        let mut reports = std::mem::take(&mut *self.opening.lock());
        if let Some(seg) = self.get_if_open() {
            reports.extend(seg.take_reports());
        }
        reports
    }
}
