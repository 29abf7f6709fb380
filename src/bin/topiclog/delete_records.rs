//! `topiclog delete-records`: kafka-delete-records.sh.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::common::{Access, CliError, CliResult, Global, close_store, existing_topic, open_store};

/// Options of `delete-records`.
#[derive(Debug, Args)]
#[command(after_help = "The file is Kafka's: \
    {\"partitions\":[{\"topic\":\"hello.kafka\",\"partition\":0,\"offset\":1}],\"version\":1}\n\
    Records below each offset are deleted (the log start moves there); offset -1 means the log end. \
    The whole file is checked before anything is deleted.\n\n\
    Example:\n  topiclog delete-records --offset-json-file delete.json")]
pub struct DeleteRecordsArgs {
    /// The JSON file naming topic, partition and offset of each deletion.
    #[arg(long, value_name = "FILE")]
    offset_json_file: PathBuf,
}

/// One deletion asked for.
struct Deletion {
    topic: String,
    partition: u32,
    offset: i64,
}

/// Runs `delete-records`.
pub fn run(global: &Global, args: DeleteRecordsArgs) -> CliResult<ExitCode> {
    let path = &args.offset_json_file;
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::msg(format!("cannot read offset JSON file {}: {e}", path.display())))?;
    let deletions = parse(&text).map_err(|e| CliError::msg(format!("offset JSON file {}: {e}", path.display())))?;
    let store = open_store(global, Access::Write)?;
    // Check every entry against the store before deleting anything.
    let mut targets = Vec::new();
    for d in &deletions {
        let topic = existing_topic(&store, &d.topic)?;
        let p = topic.partition(d.partition).map_err(|_| {
            CliError::msg(format!(
                "topic {} has no partition {} (it has {})",
                d.topic,
                d.partition,
                topic.partition_count()
            ))
        })?;
        let end = p.log_end_offset();
        let offset = if d.offset == -1 { end } else { d.offset };
        if offset > end {
            return Err(CliError::msg(format!(
                "offset {offset} for {}-{} is past the log end offset {end}; nothing was deleted",
                d.topic, d.partition
            )));
        }
        targets.push((d, p, offset));
    }
    outln!("Executing records delete operation")?;
    let mut results = Vec::new();
    for (d, p, offset) in targets {
        let low = p.delete_records(offset)?;
        results.push(format!("partition: {}-{}\tlow_watermark: {low}", d.topic, d.partition));
    }
    close_store(store)?;
    outln!("Records delete operation completed:")?;
    for r in results {
        outln!("{r}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses and checks Kafka's delete-records JSON.
fn parse(text: &str) -> Result<Vec<Deletion>, String> {
    let json: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let root = json.as_object().ok_or("expected an object with \"partitions\" and \"version\"")?;
    if let Some(v) = root.get("version")
        && v.as_i64() != Some(1)
    {
        return Err(format!("unsupported version {v} (only 1)"));
    }
    let parts = root
        .get("partitions")
        .and_then(Value::as_array)
        .ok_or("missing \"partitions\" array (expected {\"partitions\":[{\"topic\":..,\"partition\":..,\"offset\":..}],\"version\":1})")?;
    if parts.is_empty() {
        return Err("\"partitions\" is empty".into());
    }
    let mut out: Vec<Deletion> = Vec::new();
    for (i, entry) in parts.iter().enumerate() {
        let obj = entry.as_object().ok_or_else(|| format!("partitions[{i}] is not an object"))?;
        let topic = obj
            .get("topic")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("partitions[{i}] has no \"topic\" string"))?;
        let partition = obj
            .get("partition")
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok())
            .ok_or_else(|| format!("partitions[{i}] has no \"partition\" number"))?;
        let offset = obj
            .get("offset")
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("partitions[{i}] has no \"offset\" number"))?;
        if offset < -1 {
            return Err(format!("partitions[{i}] has offset {offset} (an offset, or -1 for the log end)"));
        }
        if out.iter().any(|d| d.topic == topic && d.partition == partition) {
            return Err(format!("partitions[{i}] repeats {topic}-{partition}"));
        }
        out.push(Deletion { topic: topic.to_string(), partition, offset });
    }
    Ok(out)
}
