//! `topiclog get-offsets`: kafka-get-offsets.sh.

use std::process::ExitCode;

use clap::Args;
use topiclog::OffsetSpec;

use crate::common::{Access, CliError, CliResult, Global, existing_topic, open_store};

/// Options of `get-offsets`.
#[derive(Debug, Args)]
#[command(after_help = "Prints TOPIC:PARTITION:OFFSET per partition. --time: -1 or latest (log end, the default), \
    -2 or earliest (log start), -3 or max-timestamp (the record with the largest timestamp), or a timestamp in ms \
    (the first record at or after it; partitions with none are left out).\n\n\
    Examples:\n  \
    topiclog get-offsets --topic hello.kafka\n  \
    topiclog get-offsets --topic hello.kafka --partitions 0,1 --time -2\n  \
    topiclog get-offsets --topic hello.kafka --time 1714521600000")]
pub struct GetOffsetsArgs {
    /// The topic.
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// Partitions, comma-separated (default: all).
    #[arg(long, value_name = "P[,P]", value_delimiter = ',')]
    partitions: Vec<u32>,
    /// -1|latest, -2|earliest, -3|max-timestamp, or a timestamp in ms.
    #[arg(long, value_name = "TIME", default_value = "-1", allow_negative_numbers = true)]
    time: String,
}

/// Runs `get-offsets`.
pub fn run(global: &Global, args: GetOffsetsArgs) -> CliResult<ExitCode> {
    let spec = match args.time.as_str() {
        "-1" | "latest" => OffsetSpec::Latest,
        "-2" | "earliest" => OffsetSpec::Earliest,
        "-3" | "max-timestamp" => OffsetSpec::MaxTimestamp,
        t => match t.parse::<i64>() {
            Ok(ts) if ts >= 0 => OffsetSpec::Timestamp(ts),
            _ => {
                return Err(CliError::msg(format!(
                    "--time '{t}' is not -1/latest, -2/earliest, -3/max-timestamp or a timestamp in ms"
                )));
            }
        },
    };
    let store = open_store(global, Access::Read)?;
    let topic = existing_topic(&store, &args.topic)?;
    let count = topic.partition_count();
    let partitions: Vec<u32> = if args.partitions.is_empty() { (0..count).collect() } else { args.partitions.clone() };
    if let Some(p) = partitions.iter().find(|&&p| p >= count) {
        return Err(CliError::msg(format!("topic {} has no partition {p} (it has {count})", args.topic)));
    }
    for p in partitions {
        let part = topic.partition(p)?;
        let offset = match spec {
            OffsetSpec::Latest => Some(part.log_end_offset()),
            OffsetSpec::Earliest => Some(part.log_start_offset()),
            other => part.offset_for(other)?.map(|hit| hit.offset),
        };
        if let Some(o) = offset {
            outln!("{}:{p}:{o}", args.topic)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
