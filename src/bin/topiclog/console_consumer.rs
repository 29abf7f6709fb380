//! `topiclog console-consumer`: kafka-console-consumer.sh.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use topiclog::{AutoOffsetReset, ConsumerConfig, PolledRecord};

use crate::common::{
    Access, CliError, CliResult, Global, bool_property, close_store, existing_topic, open_store, parse_properties,
    separator_property,
};

/// Longest single wait for records, so the timeout and max-messages are checked often.
const POLL_SLICE: Duration = Duration::from_millis(200);

/// With `--group`, how often what was printed is committed while running
/// (and once more at the end).
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// Options of `console-consumer`.
#[derive(Debug, Args)]
#[command(after_help = "Without --group, reading starts at the log end (or the log start with \
    --from-beginning); with --group, at the group's committed offsets, and what was printed is committed (every second and at the end). \
    Without --max-messages or --timeout-ms it waits for records until interrupted.\n\n\
    Examples:\n  \
    topiclog console-consumer --topic hello.kafka --from-beginning --group g1 --property print.key=true \
    --property key.separator=- --timeout-ms 1000\n  \
    topiclog console-consumer --topic hello.kafka --partition 0 --offset 5 --max-messages 10 \
    --property print.offset=true")]
pub struct ConsumerArgs {
    /// The topic.
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// Start at the log start when there is no committed offset (else at the log end).
    #[arg(long)]
    from_beginning: bool,
    /// Consumer group: start at its committed offsets and commit what was printed.
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// Read only this partition.
    #[arg(long, value_name = "P")]
    partition: Option<u32>,
    /// With --partition: the offset to start at (a number, `earliest` or `latest`).
    #[arg(long, value_name = "OFFSET", requires = "partition")]
    offset: Option<String>,
    /// Stop after printing this many records.
    #[arg(long, value_name = "N")]
    max_messages: Option<u64>,
    /// Stop when no record arrives for this long.
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// print.key, print.timestamp, print.offset, print.partition, print.value (true|false), key.separator, line.separator.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
}

/// How records are printed (Kafka's DefaultMessageFormatter).
struct Format {
    key: bool,
    value: bool,
    timestamp: bool,
    offset: bool,
    partition: bool,
    key_separator: String,
    line_separator: String,
}

/// Runs `console-consumer`.
pub fn run(global: &Global, args: ConsumerArgs) -> CliResult<ExitCode> {
    let props = parse_properties(
        &args.properties,
        &[
            "print.key",
            "print.value",
            "print.timestamp",
            "print.offset",
            "print.partition",
            "key.separator",
            "line.separator",
        ],
    )?;
    let format = Format {
        key: bool_property(&props, "print.key")?,
        value: !props.contains_key("print.value") || bool_property(&props, "print.value")?,
        timestamp: bool_property(&props, "print.timestamp")?,
        offset: bool_property(&props, "print.offset")?,
        partition: bool_property(&props, "print.partition")?,
        key_separator: separator_property(&props, "key.separator", "\t"),
        line_separator: separator_property(&props, "line.separator", "\n"),
    };
    if args.offset.is_some() && args.from_beginning {
        return Err(CliError::msg("--offset and --from-beginning cannot be used together"));
    }
    let store = open_store(global, Access::Write)?;
    let topic = existing_topic(&store, &args.topic)?;
    let partitions: Vec<u32> = match args.partition {
        Some(p) if p >= topic.partition_count() => {
            return Err(CliError::msg(format!(
                "topic {} has no partition {p} (it has {})",
                args.topic,
                topic.partition_count()
            )));
        }
        Some(p) => vec![p],
        None => (0..topic.partition_count()).collect(),
    };
    let reset = if args.from_beginning { AutoOffsetReset::Earliest } else { AutoOffsetReset::Latest };
    let mut config = ConsumerConfig::new().auto_offset_reset(reset).enable_auto_commit(false).max_poll_records(500);
    if let Some(g) = &args.group {
        config = config.group_id(g.clone());
    }
    let mut consumer = store.consumer(config)?;
    let assignment: Vec<(&str, u32)> = partitions.iter().map(|&p| (args.topic.as_str(), p)).collect();
    consumer.assign(&assignment)?;
    if let (Some(p), Some(offset)) = (args.partition, &args.offset) {
        let part = topic.partition(p)?;
        let at = match offset.as_str() {
            "earliest" => part.log_start_offset(),
            "latest" => part.log_end_offset(),
            n => n.parse::<i64>().map_err(|_| {
                CliError::msg(format!("--offset '{n}' is not an offset (a number, earliest or latest)"))
            })?,
        };
        if at < 0 {
            return Err(CliError::msg(format!("--offset {at} is negative")));
        }
        consumer.seek(&args.topic, p, at)?;
    }
    let outcome = consume(&mut consumer, &args, &format);
    let (printed, mut to_commit) = match &outcome {
        Ok(done) => (done.0, done.1.clone()),
        Err((printed, to_commit, _)) => (*printed, to_commit.clone()),
    };
    if args.group.is_some() {
        // Partitions with nothing printed keep (and commit) their starting position.
        for &p in &partitions {
            if !to_commit.contains_key(&p)
                && let Ok(position) = consumer.position(&args.topic, p)
            {
                to_commit.insert(p, position);
            }
        }
        let offsets: Vec<(String, u32, i64)> =
            to_commit.into_iter().map(|(p, next)| (args.topic.clone(), p, next)).collect();
        consumer.commit_offsets(&offsets)?;
    }
    consumer.close()?;
    close_store(store)?;
    eprintln!("Processed a total of {printed} messages");
    match outcome {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err((_, _, e)) => Err(e),
    }
}

/// Records printed, and per partition the offset after the last one printed.
type Progress = (u64, BTreeMap<u32, i64>);

fn consume(
    consumer: &mut topiclog::Consumer,
    args: &ConsumerArgs,
    format: &Format,
) -> Result<Progress, (u64, BTreeMap<u32, i64>, CliError)> {
    let mut printed = 0u64;
    let mut next: BTreeMap<u32, i64> = BTreeMap::new();
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let mut last_record = Instant::now();
    let mut last_commit = Instant::now();
    let mut committed_at = 0u64;
    let stdout = std::io::stdout();
    loop {
        if args.max_messages.is_some_and(|m| printed >= m) {
            break;
        }
        let wait = match timeout {
            Some(t) => {
                let left = t.saturating_sub(last_record.elapsed());
                if left.is_zero() {
                    break;
                }
                left.min(POLL_SLICE)
            }
            None => POLL_SLICE,
        };
        let records = match consumer.poll(wait) {
            Ok(r) => r,
            Err(e) => return Err((printed, next, e.into())),
        };
        if !records.is_empty() {
            last_record = Instant::now();
        }
        let mut out = stdout.lock();
        for r in records {
            if args.max_messages.is_some_and(|m| printed >= m) {
                break;
            }
            if let Err(e) = write_record(&mut out, &r, format) {
                return Err((printed, next, e.into()));
            }
            printed += 1;
            next.insert(r.partition, r.record.offset() + 1);
        }
        if let Err(e) = out.flush() {
            return Err((printed, next, e.into()));
        }
        drop(out);
        // Commit what was printed now and then, so that an interrupted run
        // (Ctrl-C) re-reads at most about a second of records.
        if args.group.is_some() && printed > committed_at && last_commit.elapsed() >= COMMIT_INTERVAL {
            let offsets: Vec<(String, u32, i64)> = next.iter().map(|(&p, &o)| (args.topic.clone(), p, o)).collect();
            if let Err(e) = consumer.commit_offsets(&offsets) {
                return Err((printed, next, e.into()));
            }
            committed_at = printed;
            last_commit = Instant::now();
        }
    }
    Ok((printed, next))
}

fn write_record(out: &mut impl Write, r: &PolledRecord, f: &Format) -> std::io::Result<()> {
    let record = &r.record;
    let mut fields: Vec<Vec<u8>> = Vec::new();
    if f.timestamp {
        fields.push(format!("{}:{}", record.timestamp_type().name(), record.timestamp()).into_bytes());
    }
    if f.partition {
        fields.push(format!("Partition:{}", r.partition).into_bytes());
    }
    if f.offset {
        fields.push(format!("Offset:{}", record.offset()).into_bytes());
    }
    if f.key {
        fields.push(record.key().map_or_else(|| b"null".to_vec(), <[u8]>::to_vec));
    }
    if f.value {
        fields.push(record.value().map_or_else(|| b"null".to_vec(), <[u8]>::to_vec));
    }
    let line = fields.join(f.key_separator.as_bytes());
    out.write_all(&line)?;
    out.write_all(f.line_separator.as_bytes())
}
