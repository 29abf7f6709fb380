//! `topiclog consumer-groups`: kafka-consumer-groups.sh.

use std::process::ExitCode;

use clap::{ArgGroup, Args};
use topiclog::{OFFSETS_TOPIC, OffsetReset, Store};

use crate::common::{Access, CliError, CliResult, Global, close_store, existing_topic, open_store};

/// Options of `consumer-groups`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).args(["list", "describe", "reset_offsets", "delete"])))]
#[command(group(ArgGroup::new("target").args(["to_earliest", "to_latest", "to_offset", "to_datetime", "shift_by"])))]
#[command(group(ArgGroup::new("mode").args(["dry_run", "execute"])))]
#[command(after_help = "Examples:\n  \
    topiclog consumer-groups --list\n  \
    topiclog consumer-groups --describe --group g1\n  \
    topiclog consumer-groups --reset-offsets --group g1 --topic hello.kafka --to-earliest --execute\n  \
    topiclog consumer-groups --reset-offsets --group g1 --topic hello.kafka --to-datetime 2024-05-01T00:00:00.000 --dry-run\n  \
    topiclog consumer-groups --delete --group g1")]
pub struct GroupsArgs {
    /// List the groups with committed offsets.
    #[arg(long)]
    list: bool,
    /// Show a group's committed offsets, log ends and lag.
    #[arg(long)]
    describe: bool,
    /// Move a group's committed offsets on a topic (needs a target and --dry-run or --execute).
    #[arg(long)]
    reset_offsets: bool,
    /// Delete a group's committed offsets.
    #[arg(long)]
    delete: bool,
    /// The group.
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// The topic (for --reset-offsets).
    #[arg(long, value_name = "TOPIC")]
    topic: Option<String>,
    /// Reset to the log start.
    #[arg(long)]
    to_earliest: bool,
    /// Reset to the log end.
    #[arg(long)]
    to_latest: bool,
    /// Reset to this offset (clamped into the log).
    #[arg(long, value_name = "N")]
    to_offset: Option<i64>,
    /// Reset to the first record at or after this time: YYYY-MM-DDTHH:mm:SS[.sss][Z|+HH:MM] (UTC without a zone).
    #[arg(long, value_name = "ISO")]
    to_datetime: Option<String>,
    /// Move the committed offsets by N (negative: back).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    shift_by: Option<i64>,
    /// Show the new offsets without committing them.
    #[arg(long)]
    dry_run: bool,
    /// Commit the new offsets.
    #[arg(long)]
    execute: bool,
}

/// Runs `consumer-groups`.
pub fn run(global: &Global, args: GroupsArgs) -> CliResult<ExitCode> {
    if args.list {
        let store = open_store(global, Access::Read)?;
        if has_offsets_topic(&store) {
            for g in store.consumer_groups()? {
                outln!("{g}")?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let group = args.group.as_deref().ok_or_else(|| CliError::msg("--group is required with this action"))?;
    if args.describe {
        describe(global, group)?;
    } else if args.reset_offsets {
        reset(global, group, &args)?;
    } else if args.delete {
        let store = open_store(global, Access::Write)?;
        if !has_offsets_topic(&store) {
            return Err(no_group(group));
        }
        store.delete_consumer_group(group).map_err(|e| group_error(e, group))?;
        close_store(store)?;
        outln!("Deletion of requested consumer groups ('{group}') was successful.")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn has_offsets_topic(store: &Store) -> bool {
    store.all_topics().iter().any(|t| t == OFFSETS_TOPIC)
}

fn no_group(group: &str) -> CliError {
    CliError::msg(format!("consumer group '{group}' does not exist"))
}

fn group_error(e: topiclog::Error, group: &str) -> CliError {
    match e {
        topiclog::Error::UnknownGroup { .. } => no_group(group),
        other => other.into(),
    }
}

fn describe(global: &Global, group: &str) -> CliResult<()> {
    let store = open_store(global, Access::Read)?;
    if !has_offsets_topic(&store) {
        return Err(no_group(group));
    }
    let rows = store.describe_consumer_group(group).map_err(|e| group_error(e, group))?;
    let table: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                group.to_string(),
                r.topic.clone(),
                r.partition.to_string(),
                r.committed.map_or_else(|| "-".to_string(), |c| c.to_string()),
                r.log_end_offset.to_string(),
                r.lag.map_or_else(|| "-".to_string(), |l| l.to_string()),
                r.member.clone().unwrap_or_else(|| "-".to_string()),
                "-".to_string(),
                "-".to_string(),
            ]
        })
        .collect();
    if rows.iter().all(|r| r.member.is_none()) {
        eprintln!("Consumer group '{group}' has no active members.");
    }
    let header =
        ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]
            .map(String::from);
    print_table(&header, &table)
}

/// Prints rows in columns as wide as their widest cell (the last one unpadded).
pub fn print_table<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> CliResult<()> {
    let mut widths = header.each_ref().map(|h| h.len());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths.iter()).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$} "));
            }
        }
        outln!("{}", line.trim_end())?;
    }
    Ok(())
}

fn reset(global: &Global, group: &str, args: &GroupsArgs) -> CliResult<()> {
    let topic = args.topic.as_deref().ok_or_else(|| CliError::msg("--reset-offsets needs --topic"))?;
    let to = if args.to_earliest {
        OffsetReset::Earliest
    } else if args.to_latest {
        OffsetReset::Latest
    } else if let Some(o) = args.to_offset {
        OffsetReset::To(o)
    } else if let Some(iso) = &args.to_datetime {
        OffsetReset::ToTimestamp(parse_datetime(iso)?)
    } else if let Some(n) = args.shift_by {
        OffsetReset::ShiftBy(n)
    } else {
        return Err(CliError::msg(
            "--reset-offsets needs one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by",
        ));
    };
    if !args.dry_run && !args.execute {
        return Err(CliError::msg("--reset-offsets needs --dry-run (show) or --execute (commit)"));
    }
    let store = open_store(global, if args.execute { Access::Write } else { Access::Read })?;
    existing_topic(&store, topic)?;
    if !args.execute && !has_offsets_topic(&store) {
        // A dry run must not create the offsets topic: compute from the log alone.
        return Err(no_group(group));
    }
    let planned = store.reset_consumer_group_offsets(group, topic, to, args.execute)?;
    if args.execute {
        close_store(store)?;
    }
    let header = ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"].map(String::from);
    let rows: Vec<[String; 4]> =
        planned.iter().map(|(p, o)| [group.to_string(), topic.to_string(), p.to_string(), o.to_string()]).collect();
    print_table(&header, &rows)
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:mm:SS[.sss][Z|±HH:MM]`
/// (Kafka's `--to-datetime` format); without a zone, UTC.
pub fn parse_datetime(text: &str) -> CliResult<i64> {
    let bad =
        || CliError::msg(format!("--to-datetime '{text}' is not of the form YYYY-MM-DDTHH:mm:SS[.sss][Z|+HH:MM]"));
    let (date, time) = text.split_once('T').ok_or_else(bad)?;
    let mut d = date.split('-');
    let year: i64 = d.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let month: i64 = d.next().and_then(|v| v.parse().ok()).filter(|m| (1..=12).contains(m)).ok_or_else(bad)?;
    let day: i64 = d.next().and_then(|v| v.parse().ok()).filter(|v| (1..=31).contains(v)).ok_or_else(bad)?;
    if d.next().is_some() {
        return Err(bad());
    }
    // Split off the zone: Z, +HH:MM or -HH:MM after the seconds.
    let (clock, offset_minutes) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (c, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let zone = zone.get(1..).unwrap_or_default().replace(':', "");
        let hours: i64 = zone.get(0..2).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let minutes: i64 = zone.get(2..4).map_or(Some(0), |v| v.parse().ok()).ok_or_else(bad)?;
        (c, sign * (hours * 60 + minutes))
    } else {
        (time, 0)
    };
    let (hms, millis) = match clock.split_once('.') {
        Some((hms, frac)) => {
            let digits: String = frac.chars().chain("000".chars()).take(3).collect();
            (hms, digits.parse::<i64>().map_err(|_| bad())?)
        }
        None => (clock, 0),
    };
    let mut t = hms.split(':');
    let h: i64 = t.next().and_then(|v| v.parse().ok()).filter(|v| (0..24).contains(v)).ok_or_else(bad)?;
    let m: i64 = t.next().and_then(|v| v.parse().ok()).filter(|v| (0..60).contains(v)).ok_or_else(bad)?;
    let s: i64 = t.next().map_or(Some(0), |v| v.parse().ok()).filter(|v| (0..61).contains(v)).ok_or_else(bad)?;
    if t.next().is_some() {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    Ok(((days * 24 + h) * 60 + m - offset_minutes) * 60_000 + s * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
