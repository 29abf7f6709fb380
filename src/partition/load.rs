//! Opening a partition directory (SPEC §4.9): clear leftovers, load the
//! segments, recover after an unclean shutdown.
//!
//! Rules that keep flushed data safe:
//! - segments below the recovery point are trusted and never cut; above it,
//!   each is validated, and the log is cut (with a report) at the first
//!   invalid batch or at the first gap between one segment's end and the
//!   next segment's base (a machine crash can lose one file's unsynced tail
//!   while a later file's data survives);
//! - batch size limits apply to appends, never to recovery;
//! - nothing is deleted on the word of the state file alone: a state whose
//!   log start lies past the log end is reported and the segments trusted;
//! - a segment the state file lists but whose files are gone becomes a known
//!   gap, which reads report as [`Error::MissingSegment`].

use std::path::Path;
use std::sync::Arc;

use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::format::{FileBatches, Tail};
use crate::fsutil::remove_file_if_present;
use crate::segment::{
    DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, LogSegment, OpenMode, RecoveryCause, RecoveryReport, SWAP_SUFFIX,
    TIME_INDEX_SUFFIX, base_offset_from_file_name, segment_file,
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
    /// Offset ranges `from..to` whose segment files are missing.
    pub gaps: Vec<(i64, i64)>,
    /// The cleaner's first dirty offset from the state file.
    pub first_dirty_offset: Option<i64>,
}

/// Suffixes of files left by interrupted work, removed on open.
const LEFTOVER_SUFFIXES: [&str; 4] = [DELETED_SUFFIX, ".cleaned", ".truncating", ".tmp"];

/// A report about the partition rather than one segment's bytes.
fn note(dir: &Path, base_offset: i64, cause: RecoveryCause) -> RecoveryReport {
    log::warn!("partition {}: recovery at segment {base_offset}: {cause}", dir.display());
    RecoveryReport { base_offset, valid_bytes: 0, truncated_bytes: 0, batches: 0, cause: Some(cause) }
}

/// `known_log_start`: a log start offset known from outside the directory
/// (Kafka's `log-start-offset-checkpoint` when adopting a Kafka data directory).
///
/// `read_only`: change no file. Leftovers stay, an interrupted swap is not
/// completed but read as if it were (its `.swap` segment in place of the
/// group it replaces, as the next read-write open will have it), recovery cuts
/// nothing (what it would cut is reported and left out), no state is written.
pub(super) fn load(dir: &Path, config: &LogConfig, known_log_start: Option<i64>, read_only: bool) -> Result<Loaded> {
    if !read_only {
        crate::fsutil::create_dir_all(dir)?;
    }
    let mode = if read_only { OpenMode::ReadOnly } else { OpenMode::ReadWrite };
    let state = PartitionState::read(dir)?;
    let clean = state.as_ref().is_some_and(|s| s.clean_shutdown);
    let state = state.unwrap_or_default();
    let mut reports = Vec::new();
    let (mut bases, swapped) = scan_directory(dir, state.segments.as_deref(), &mut reports, read_only)?;
    bases.sort_unstable();
    let seg_config = config.segment_config();
    // A read-only open reads an interrupted swap's segment under its `.swap` name.
    let open_segment = |base: i64| {
        if swapped.contains(&base) {
            LogSegment::open_swapped_read_only(dir, base, seg_config)
        } else {
            LogSegment::open(dir, base, seg_config, mode)
        }
    };
    let lazy = |base: i64| -> Result<Arc<SegmentSlot>> {
        if swapped.contains(&base) {
            let (seg, _) = LogSegment::open_swapped_read_only(dir, base, seg_config)?;
            return Ok(Arc::new(SegmentSlot::open_now(Arc::new(seg))));
        }
        Ok(Arc::new(SegmentSlot::lazy(dir.to_owned(), base, seg_config, read_only)))
    };

    let mut slots: Vec<Arc<SegmentSlot>> = Vec::new();
    // Whether recovery cut damaged or torn data.
    let mut recovery_cut = false;
    if clean {
        // Trust everything but the active segment, which opens (and checks its tail) now.
        let last = bases.len().saturating_sub(1);
        for (i, &base) in bases.iter().enumerate() {
            if i == last {
                let (seg, report) = open_segment(base)?;
                reports.extend(report);
                slots.push(Arc::new(SegmentSlot::open_now(Arc::new(seg))));
            } else {
                slots.push(lazy(base)?);
            }
        }
    } else {
        // Segments before the one holding the recovery point are trusted; the
        // rest are validated, and everything after a cut or a gap is discarded.
        let first_to_recover = bases.partition_point(|&b| b <= state.recovery_point).saturating_sub(1);
        let mut cut = false;
        let mut previous_end: Option<i64> = None;
        // Only logs topiclog wrote are known to have contiguous segments: a
        // Kafka data directory's compacted segments end below the next base.
        let check_gaps = state.segments.is_some();
        for (i, &base) in bases.iter().enumerate() {
            if !cut
                && check_gaps
                && let Some(end) = previous_end
                && end != base
            {
                reports.push(note(dir, base, RecoveryCause::Gap { previous_end: end }));
                cut = true;
            }
            if cut {
                recovery_cut = true;
                if !read_only {
                    for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                        remove_file_if_present(&segment_file(dir, base, suffix))?;
                    }
                }
                continue;
            }
            if i < first_to_recover {
                slots.push(lazy(base)?);
                continue;
            }
            let (seg, opened) = open_segment(base)?;
            // Size limits are the appender's business: recovery is bounded by
            // each batch's own framing and the file size.
            let report = match opened {
                Some(r) => r,
                None => seg.recover(u64::MAX)?,
            };
            cut = report.truncated_bytes > 0;
            recovery_cut |= cut;
            if cut || report.cause.is_some() {
                reports.push(report);
            }
            previous_end = Some(seg.next_offset());
            if i + 1 < bases.len() && !cut && !read_only {
                seg.seal()?;
            }
            slots.push(Arc::new(SegmentSlot::open_now(Arc::new(seg))));
        }
    }

    let gaps = missing_segments(dir, &state, &slots, &mut reports);
    let mut log_end = match slots.last() {
        Some(slot) => slot.get()?.next_offset(),
        None => state.log_start_offset.max(known_log_start.unwrap_or(0)),
    };
    let mut claimed_start = state.log_start_offset.max(known_log_start.unwrap_or(0));
    if !slots.is_empty() && claimed_start > log_end && recovery_cut {
        // Recovery cut damaged data and what is left lies below the log
        // start (records deleted already): start afresh there, as Kafka does.
        reports.push(note(
            dir,
            claimed_start,
            RecoveryCause::RestartedEmpty { log_end_offset: log_end, log_start_offset: claimed_start },
        ));
        for slot in slots.drain(..) {
            if read_only {
                continue;
            }
            for path in crate::segment::rename_segment_to_deleted(dir, slot.base_offset())? {
                remove_file_if_present(&path)?;
            }
        }
    } else if !slots.is_empty() && claimed_start > log_end {
        // Nothing is deleted on the state's word alone: trust the segments.
        reports.push(note(
            dir,
            slots.first().map_or(0, |s| s.base_offset()),
            RecoveryCause::LogStartPastEnd { recorded: claimed_start, log_end_offset: log_end },
        ));
        claimed_start = 0;
    }
    if slots.is_empty() && read_only {
        // Nothing to read, and a read-only open creates no segment.
        return Err(Error::ReadOnly { path: dir.to_owned() });
    }
    if slots.is_empty() {
        let seg = LogSegment::create(dir, claimed_start.max(0), seg_config)?;
        slots.push(Arc::new(SegmentSlot::open_now(Arc::new(seg))));
        log_end = claimed_start.max(0);
    }
    let active = slots
        .last()
        .map(|s| s.get())
        .transpose()?
        .ok_or(Error::Internal { invariant: "a loaded partition has at least one segment" })?;
    active.activate()?;
    let first_base = slots.first().map_or(log_end, |s| s.base_offset());
    let log_start_offset = claimed_start.max(first_base).min(log_end);
    let recovery_point = if clean { log_end } else { state.recovery_point.min(log_end) };
    // From now until a clean close, a crash must be detected.
    let mut listed: Vec<i64> = slots.iter().map(|s| s.base_offset()).collect();
    listed.extend(gaps.iter().map(|(from, _)| *from));
    listed.sort_unstable();
    let first_dirty_offset = state.first_dirty_offset;
    if read_only {
        return Ok(Loaded { slots, active, log_start_offset, recovery_point, reports, gaps, first_dirty_offset });
    }
    PartitionState {
        log_start_offset,
        recovery_point,
        clean_shutdown: false,
        segments: Some(listed),
        first_dirty_offset,
    }
    .write(dir)?;
    Ok(Loaded { slots, active, log_start_offset, recovery_point, reports, gaps, first_dirty_offset })
}

/// Segments the state file lists, at or above the first segment present,
/// whose files are gone: each is a gap up to the next segment present.
fn missing_segments(
    dir: &Path,
    state: &PartitionState,
    slots: &[Arc<SegmentSlot>],
    reports: &mut Vec<RecoveryReport>,
) -> Vec<(i64, i64)> {
    let (Some(listed), Some(first), Some(last)) = (&state.segments, slots.first(), slots.last()) else {
        return Vec::new();
    };
    let present: Vec<i64> = slots.iter().map(|s| s.base_offset()).collect();
    let mut gaps = Vec::new();
    for &base in listed {
        if base < first.base_offset() || present.binary_search(&base).is_ok() {
            continue;
        }
        if base > last.base_offset() {
            reports.push(note(dir, base, RecoveryCause::ListedSegmentGone));
            continue;
        }
        let to = present.iter().copied().find(|&b| b > base).unwrap_or(base);
        reports.push(note(dir, base, RecoveryCause::MissingSegment { to }));
        gaps.push((base, to));
    }
    gaps
}

/// Removes leftovers of interrupted work and index files without a `.log`,
/// completes interrupted swaps of cleaned segments; returns the base offsets
/// of the `.log` files, and (read-only, where swaps are left as they are)
/// those of the segments to read under their `.swap` name. Refuses symbolic links in place of files topiclog
/// writes. `listed`: the segments the state file names.
fn scan_directory(
    dir: &Path,
    listed: Option<&[i64]>,
    reports: &mut Vec<RecoveryReport>,
    read_only: bool,
) -> Result<(Vec<i64>, Vec<i64>)> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    let mut swaps = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        let is_ours = base_offset_from_file_name(name).is_some() || name.starts_with(super::STATE_FILE);
        if is_ours && entry.file_type().map_err(|e| Error::io("stat", &path, e))?.is_symlink() {
            return Err(Error::Symlink { path });
        }
        if LEFTOVER_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            if !read_only {
                remove_file_if_present(&path)?;
            }
            continue;
        }
        if read_only && name.ends_with(SWAP_SUFFIX) {
            if let Some(swapped) = name.strip_suffix(SWAP_SUFFIX)
                && let Some(base) = base_offset_from_file_name(swapped)
                && swapped.ends_with(LOG_SUFFIX)
            {
                swaps.push((base, path));
            }
            continue;
        }
        if let Some(swapped) = name.strip_suffix(SWAP_SUFFIX) {
            if let Some(base) = base_offset_from_file_name(swapped)
                && swapped.ends_with(LOG_SUFFIX)
            {
                swaps.push((base, path));
            } else if base_offset_from_file_name(swapped).is_some() {
                // An index's swap: indexes of a completed swap are rebuilt.
                remove_file_if_present(&path)?;
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
    let mut swapped = Vec::new();
    for (base, path) in swaps {
        if read_only {
            // As `complete_swap` would leave it, without renaming anything.
            if let Ok(next_offset) = swap_contents(&path)? {
                let end = group_end(base, next_offset, listed);
                logs.retain(|&b| b < base || b >= end);
                logs.push(base);
                swapped.push(base);
            }
            continue;
        }
        complete_swap(dir, base, &path, listed, &mut logs, reports)?;
    }
    for (base, path) in indexes {
        if !logs.contains(&base) && !read_only {
            remove_file_if_present(&path)?;
        }
    }
    Ok((logs, swapped))
}

/// Where the group a swap at `base` replaces ends: at the next segment the
/// state file lists (the cleaner lists the segments as they are after the
/// swap before it starts one); without a list, as Kafka, at the swap's own end.
fn group_end(base: i64, next_offset: Option<i64>, listed: Option<&[i64]>) -> i64 {
    match listed {
        Some(bases) if bases.contains(&base) => bases.iter().copied().find(|&b| b > base).unwrap_or(i64::MAX),
        _ => next_offset.unwrap_or(base).max(base + 1),
    }
}

/// Completes the swap of `path` (`<base>.log.swap`, a cleaned segment that
/// replaces a group of segments from `base`) if it holds whole, valid
/// batches, else discards it. The group ends at the next segment the state
/// file lists (the cleaner lists the segments as they are after the swap
/// before it starts one); without a list, as Kafka, at the swap's own end.
fn complete_swap(
    dir: &Path,
    base: i64,
    path: &Path,
    listed: Option<&[i64]>,
    logs: &mut Vec<i64>,
    reports: &mut Vec<RecoveryReport>,
) -> Result<()> {
    let next_offset = match swap_contents(path)? {
        Ok(next) => next,
        Err(problem) => {
            let cause = RecoveryCause::DiscardedSwap { path: path.to_owned(), problem: Box::new(problem) };
            reports.push(note(dir, base, cause));
            return remove_file_if_present(path);
        }
    };
    let group_end = group_end(base, next_offset, listed);
    for &old in logs.iter().filter(|&&b| b > base && b < group_end) {
        for renamed in crate::segment::rename_segment_to_deleted(dir, old)? {
            remove_file_if_present(&renamed)?;
        }
    }
    logs.retain(|&b| b <= base || b >= group_end);
    remove_file_if_present(&segment_file(dir, base, INDEX_SUFFIX))?;
    remove_file_if_present(&segment_file(dir, base, TIME_INDEX_SUFFIX))?;
    let target = segment_file(dir, base, LOG_SUFFIX);
    crate::fsutil::note(crate::fsutil::FsEvent::Rename(path, &target));
    crate::faults::check_rename(path, &target)
        .and_then(|()| std::fs::rename(path, &target))
        .map_err(|e| Error::io("complete .swap", path, e))?;
    crate::fsutil::sync_dir(dir)?;
    if !logs.contains(&base) {
        logs.push(base);
    }
    Ok(())
}

/// The offset after the last batch of a `.log.swap` (`None` when it holds
/// none), or why it cannot replace its segments (not whole, valid batches).
fn swap_contents(path: &Path) -> Result<std::result::Result<Option<i64>, RecoveryCause>> {
    let bytes = crate::fsutil::read_if_present(path)?
        .ok_or_else(|| Error::io("read", path, std::io::Error::from(std::io::ErrorKind::NotFound)))?;
    let mut batches = FileBatches::new(bytes::Bytes::from(bytes), 0);
    let mut next = None;
    for batch in batches.by_ref() {
        match batch {
            Ok(b) => next = Some(b.next_offset()),
            Err(e) => return Ok(Err(RecoveryCause::Damaged(Arc::new(e)))),
        }
    }
    Ok(match batches.tail() {
        Some(Tail::Clean) | None => Ok(next),
        Some(Tail::Torn { position, .. } | Tail::Corrupt { position }) => Err(RecoveryCause::TornBatch { position }),
    })
}
