//! Opening a partition directory (SPEC §4.9): clear leftovers, load the
//! segments, recover after an unclean shutdown.

use std::path::Path;
use std::sync::Arc;

use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::fsutil::remove_file_if_present;
use crate::segment::{
    DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, LogSegment, OpenMode, RecoveryReport, TIME_INDEX_SUFFIX,
    base_offset_from_file_name, segment_file,
};

use super::slot::SegmentSlot;
use super::state::PartitionState;

/// A loaded partition.
pub(super) struct Loaded {
    pub slots: Vec<Arc<SegmentSlot>>,
    pub active: Arc<LogSegment>,
    pub log_start_offset: i64,
    pub recovery_point: i64,
    pub reports: Vec<RecoveryReport>,
}

/// Suffixes of files left by interrupted work, removed on open.
const LEFTOVER_SUFFIXES: [&str; 4] = [DELETED_SUFFIX, ".cleaned", ".truncating", ".tmp"];

pub(super) fn load(dir: &Path, config: &LogConfig) -> Result<Loaded> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let state = PartitionState::read(dir)?;
    let clean = state.is_some_and(|s| s.clean_shutdown);
    let state = state.unwrap_or_default();
    let mut bases = scan_directory(dir)?;
    bases.sort_unstable();
    let seg_config = config.segment_config();
    let max_batch = (config.segment_bytes.max(config.max_message_bytes)) as u64;
    let mut reports = Vec::new();

    let mut slots: Vec<Arc<SegmentSlot>> = Vec::new();
    if clean {
        // Trust everything but the active segment, which opens (and checks its tail) now.
        let last = bases.len().saturating_sub(1);
        for (i, &base) in bases.iter().enumerate() {
            if i == last {
                let (seg, report) = LogSegment::open(dir, base, seg_config, OpenMode::ReadWrite)?;
                reports.extend(report);
                slots.push(Arc::new(SegmentSlot::open_now(Arc::new(seg))));
            } else {
                slots.push(Arc::new(SegmentSlot::lazy(dir.to_owned(), base, seg_config)));
            }
        }
    } else {
        // Segments before the one holding the recovery point are trusted; the
        // rest are validated, and everything after a cut is discarded.
        let first_to_recover = bases.partition_point(|&b| b <= state.recovery_point).saturating_sub(1);
        let mut cut = false;
        for (i, &base) in bases.iter().enumerate() {
            if cut {
                for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                    remove_file_if_present(&segment_file(dir, base, suffix))?;
                }
                continue;
            }
            if i < first_to_recover {
                slots.push(Arc::new(SegmentSlot::lazy(dir.to_owned(), base, seg_config)));
                continue;
            }
            let (seg, opened) = LogSegment::open(dir, base, seg_config, OpenMode::ReadWrite)?;
            let report = match opened {
                Some(r) => r,
                None => seg.recover(max_batch)?,
            };
            cut = report.truncated_bytes > 0;
            if cut || report.cause.is_some() {
                reports.push(report);
            }
            if i + 1 < bases.len() && !cut {
                seg.seal()?;
            }
            slots.push(Arc::new(SegmentSlot::open_now(Arc::new(seg))));
        }
    }

    let mut log_end = match slots.last() {
        Some(slot) => slot.get()?.next_offset(),
        None => state.log_start_offset,
    };
    if log_end < state.log_start_offset && !slots.is_empty() {
        // The log was damaged below its start: nothing in it is usable.
        for slot in slots.drain(..) {
            for path in slot.get()?.rename_to_deleted()? {
                remove_file_if_present(&path)?;
            }
        }
        log_end = state.log_start_offset;
    }
    if slots.is_empty() {
        let seg = LogSegment::create(dir, state.log_start_offset.max(0), seg_config)?;
        slots.push(Arc::new(SegmentSlot::open_now(Arc::new(seg))));
        log_end = state.log_start_offset.max(0);
    }
    let active = slots
        .last()
        .map(|s| s.get())
        .transpose()?
        .ok_or_else(|| Error::CorruptCheckpoint { path: dir.to_owned(), problem: "no segment after loading".into() })?;
    active.activate()?;
    let first_base = slots.first().map_or(log_end, |s| s.base_offset());
    let log_start_offset = state.log_start_offset.max(first_base).min(log_end);
    let recovery_point = if clean { log_end } else { state.recovery_point.min(log_end) };
    // From now until a clean close, a crash must be detected.
    PartitionState { log_start_offset, recovery_point, clean_shutdown: false }.write(dir)?;
    Ok(Loaded { slots, active, log_start_offset, recovery_point, reports })
}

/// Removes leftovers of interrupted work and index files without a `.log`;
/// returns the base offsets of the `.log` files.
fn scan_directory(dir: &Path) -> Result<Vec<i64>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if LEFTOVER_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            remove_file_if_present(&path)?;
            continue;
        }
        if let Some(swapped) = name.strip_suffix(".swap") {
            // A replacement segment whose swap-in was interrupted: complete
            // it. Its indexes are rebuilt, as they may not match.
            if let Some(base) = base_offset_from_file_name(swapped) {
                remove_file_if_present(&segment_file(dir, base, INDEX_SUFFIX))?;
                remove_file_if_present(&segment_file(dir, base, TIME_INDEX_SUFFIX))?;
                let target = dir.join(swapped);
                if swapped.ends_with(LOG_SUFFIX) {
                    crate::fsutil::note(crate::fsutil::FsEvent::Rename(&path, &target));
                    std::fs::rename(&path, &target).map_err(|e| Error::io("complete .swap", &path, e))?;
                    logs.push(base);
                } else {
                    remove_file_if_present(&path)?;
                }
            }
            continue;
        }
        let Some(base) = base_offset_from_file_name(name) else { continue };
        if name.ends_with(LOG_SUFFIX) {
            if !logs.contains(&base) {
                logs.push(base);
            }
        } else if name.ends_with(INDEX_SUFFIX) || name.ends_with(TIME_INDEX_SUFFIX) {
            indexes.push((base, path));
        }
    }
    for (base, path) in indexes {
        if !logs.contains(&base) {
            remove_file_if_present(&path)?;
        }
    }
    Ok(logs)
}
