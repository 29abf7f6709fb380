//! `topiclog verify`: checks every batch and index of a data directory,
//! reading files only (the store is not opened, so nothing is recovered,
//! locked or rewritten).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bytes::Bytes;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use topiclog::{read_offset_index, read_time_index};

use crate::common::{CliError, CliResult, Global, base_offset_of};
use crate::scan::{self, Item};

/// Directories with fewer bytes of logs than this get no progress bar.
const PROGRESS_MIN_BYTES: u64 = 16 << 20;

/// Options of `verify`.
#[derive(Debug, Args)]
#[command(after_help = "Reads every .log, .index and .timeindex of the data directory (or of one topic) and checks \
    framing, CRC-32C, records, increasing offsets, and that index entries point at the batches they name. \
    Never writes: the store is not opened. Each problem is printed with its file and byte position; the exit \
    status is 0 only when there is none.\n\n\
    Examples:\n  topiclog --data-dir ./data verify\n  topiclog verify --topic hello.kafka")]
pub struct VerifyArgs {
    /// Check only this topic's partitions.
    #[arg(long, value_name = "TOPIC")]
    topic: Option<String>,
}

/// Totals of a run.
#[derive(Default)]
struct Tally {
    partitions: usize,
    segments: usize,
    batches: usize,
    records: u64,
    problems: Vec<String>,
    /// Findings that are no damage.
    notes: Vec<String>,
}

impl Tally {
    fn problem(&mut self, file: &Path, position: u64, what: impl std::fmt::Display) {
        self.problems.push(format!("{}: position {position}: {what}", file.display()));
    }
}

/// Runs `verify`.
pub fn run(global: &Global, args: VerifyArgs) -> CliResult<ExitCode> {
    let dir = &global.data_dir;
    if !dir.is_dir() {
        return Err(CliError::msg(format!("data directory {} does not exist", dir.display())));
    }
    let mut partitions = partition_dirs(dir)?;
    if let Some(t) = &args.topic {
        partitions.retain(|(topic, _, _)| topic == t);
        if partitions.is_empty() {
            return Err(CliError::msg(format!("topic '{t}' has no partition directory in {}", dir.display())));
        }
    }
    let total: u64 = partitions.iter().flat_map(|(_, _, p)| logs_of(p)).map(|(_, _, size)| size).sum();
    let bar = if std::io::stdout().is_terminal() && total >= PROGRESS_MIN_BYTES {
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}") {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
    };
    let mut tally = Tally::default();
    for (_, _, path) in &partitions {
        tally.partitions += 1;
        bar.set_message(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        verify_partition(path, &mut tally, &bar)?;
    }
    bar.finish_and_clear();
    for n in &tally.notes {
        outln!("NOTE {n}")?;
    }
    for p in &tally.problems {
        outln!("PROBLEM {p}")?;
    }
    outln!(
        "Checked {} partitions, {} segments, {} batches, {} records: {}",
        tally.partitions,
        tally.segments,
        tally.batches,
        tally.records,
        if tally.problems.is_empty() { "all OK".to_string() } else { format!("{} problems", tally.problems.len()) }
    )?;
    Ok(if tally.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// (topic, partition, path) of every partition directory, sorted.
fn partition_dirs(dir: &Path) -> CliResult<Vec<(String, u32, PathBuf)>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::msg(format!("cannot list {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| CliError::msg(format!("cannot list {}: {e}", dir.display())))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((topic, p)) = name.rsplit_once('-')
            && !topic.is_empty()
            && !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && let Ok(p) = p.parse::<u32>()
        {
            out.push((topic.to_string(), p, path));
        }
    }
    out.sort();
    Ok(out)
}

/// (base offset, path, size) of the segments' `.log` files, by base offset.
fn logs_of(dir: &Path) -> Vec<(i64, PathBuf, u64)> {
    let mut out: Vec<(i64, PathBuf, u64)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .filter_map(|p| {
            let base = base_offset_of(&p)?;
            let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            Some((base, p, size))
        })
        .collect();
    out.sort();
    out
}

fn verify_partition(dir: &Path, tally: &mut Tally, bar: &ProgressBar) -> CliResult<()> {
    let logs = logs_of(dir);
    let mut previous_last: Option<i64> = None;
    for (base, log, size) in &logs {
        tally.segments += 1;
        let data = match std::fs::read(log) {
            Ok(d) => Bytes::from(d),
            Err(e) => {
                tally.problem(log, 0, format!("cannot read: {e}"));
                continue;
            }
        };
        let mut batches = Vec::new();
        for item in scan::walk(&data) {
            match item {
                Item::Batch(b) => {
                    tally.batches += 1;
                    tally.records += u64::try_from(b.header.record_count).unwrap_or(0);
                    if let Some(problem) = &b.problem {
                        tally.problem(log, b.position, format!("batch at offset {}: {problem}", b.header.base_offset));
                    }
                    if b.header.base_offset < *base {
                        tally.problem(
                            log,
                            b.position,
                            format!("batch offset {} is below the segment's base offset {base}", b.header.base_offset),
                        );
                    }
                    // Offsets of a segment are 32-bit relative to its base
                    // (the base offset field is not covered by the CRC).
                    let relative = b.header.last_offset().checked_sub(*base);
                    if b.header.base_offset >= *base && relative.is_none_or(|r| r > i64::from(i32::MAX)) {
                        tally.problem(
                            log,
                            b.position,
                            format!(
                                "batch offsets {}..={} are out of reach of the segment's base offset {base}",
                                b.header.base_offset,
                                b.header.last_offset()
                            ),
                        );
                        batches.push(b);
                        continue;
                    }
                    if let Some(last) = previous_last
                        && b.header.base_offset <= last
                    {
                        tally.problem(
                            log,
                            b.position,
                            format!(
                                "batch offset {} does not follow the previous batch's last offset {last}",
                                b.header.base_offset
                            ),
                        );
                    }
                    previous_last = Some(b.header.last_offset());
                    batches.push(b);
                }
                Item::Legacy { position, magic, .. } => {
                    tally.problem(log, position, format!("batch of magic {magic}: legacy format, not checked"));
                }
                Item::Corrupt { position, problem, resumed_at } => {
                    let after = resumed_at.map_or_else(
                        || "no valid batch after it".to_string(),
                        |at| format!("next valid batch at position {at}"),
                    );
                    tally.problem(log, position, format!("corrupt batch: {problem}; {after}"));
                }
                Item::ZeroTail { position, bytes } => tally.notes.push(format!(
                    "{}: position {position}: {bytes} zero bytes of preallocated space after the last batch \
                     (the store was not closed cleanly; the next open trims them)",
                    log.display()
                )),
                Item::Torn { position, bytes, declared } => {
                    let declared = declared.map(|d| format!(" of a batch of {d} bytes")).unwrap_or_default();
                    tally.problem(log, position, format!("torn tail: the last {bytes} bytes{declared} are incomplete"));
                }
            }
        }
        check_indexes(log, *base, &batches, tally)?;
        bar.inc(*size);
    }
    // Index files without their log.
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let is_index = path.extension().is_some_and(|x| x == "index" || x == "timeindex");
        if is_index
            && let Some(base) = base_offset_of(&path)
            && !logs.iter().any(|(b, _, _)| *b == base)
        {
            tally.problem(&path, 0, "index file without its .log");
        }
    }
    Ok(())
}

fn check_indexes(log: &Path, base: i64, batches: &[scan::Batch], tally: &mut Tally) -> CliResult<()> {
    let index_path = log.with_extension("index");
    let index = read_offset_index(&index_path, base)?;
    if let Some(p) = &index.problem {
        tally.problem(&index_path, 0, format!("fails the sanity check: {p}"));
    }
    for (i, e) in index.entries.iter().enumerate() {
        let at = (i * 8) as u64;
        match batches.iter().find(|b| b.position == u64::from(e.position)) {
            None => tally.problem(
                &index_path,
                at,
                format!("entry {i} (offset {}) points at position {}, where no batch starts", e.offset, e.position),
            ),
            Some(b) if e.offset < b.header.base_offset || e.offset > b.header.last_offset() => tally.problem(
                &index_path,
                at,
                format!(
                    "entry {i} names offset {} but the batch at position {} holds {}..={}",
                    e.offset,
                    e.position,
                    b.header.base_offset,
                    b.header.last_offset()
                ),
            ),
            Some(_) => {}
        }
    }
    let time_path = log.with_extension("timeindex");
    let time = read_time_index(&time_path, base)?;
    if let Some(p) = &time.problem {
        tally.problem(&time_path, 0, format!("fails the sanity check: {p}"));
    }
    for (i, e) in time.entries.iter().enumerate() {
        let at = (i * 12) as u64;
        match batches.iter().find(|b| b.header.base_offset <= e.offset && e.offset <= b.header.last_offset()) {
            None => tally.problem(&time_path, at, format!("entry {i} names offset {}, which no batch holds", e.offset)),
            Some(b) if b.header.max_timestamp != e.timestamp => tally.problem(
                &time_path,
                at,
                format!(
                    "entry {i} has timestamp {} but the batch holding offset {} has max timestamp {}",
                    e.timestamp, e.offset, b.header.max_timestamp
                ),
            ),
            Some(_) => {}
        }
    }
    Ok(())
}
