//! `topiclog topics`: kafka-topics.sh.

use std::process::ExitCode;

use clap::{ArgGroup, Args};
use topiclog::TopicConfig;

use crate::common::{Access, CliError, CliResult, Global, close_store, existing_topic, open_store};

/// Options of `topics`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).args(["create", "list", "describe", "alter", "delete"])))]
#[command(after_help = "Examples:\n  \
    topiclog topics --create --topic hello.kafka --partitions 3 --config retention.ms=172800000\n  \
    topiclog topics --list\n  \
    topiclog topics --describe --topic hello.kafka\n  \
    topiclog topics --alter --topic hello.kafka --partitions 4\n  \
    topiclog topics --delete --topic hello.kafka")]
pub struct TopicsArgs {
    /// Create a topic.
    #[arg(long)]
    create: bool,
    /// List the topics.
    #[arg(long)]
    list: bool,
    /// Describe one topic (with --topic) or all: partitions, log start, log end, size, segments, overrides.
    #[arg(long)]
    describe: bool,
    /// Grow a topic's partition count (it can only grow).
    #[arg(long)]
    alter: bool,
    /// Delete a topic and its records.
    #[arg(long)]
    delete: bool,
    /// The topic.
    #[arg(long, value_name = "TOPIC")]
    topic: Option<String>,
    /// Partition count (create: default num.partitions; alter: the new, larger count).
    #[arg(long, value_name = "N")]
    partitions: Option<u32>,
    /// A topic configuration override (create only), repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Leave internal topics (__consumer_offsets) out of --list and --describe.
    #[arg(long)]
    exclude_internal: bool,
}

/// Runs `topics`.
pub fn run(global: &Global, args: TopicsArgs) -> CliResult<ExitCode> {
    if args.create {
        create(global, &args)?;
    } else if args.list {
        list(global, &args)?;
    } else if args.describe {
        describe(global, &args)?;
    } else if args.alter {
        alter(global, &args)?;
    } else if args.delete {
        let name = need_topic(&args)?;
        let store = open_store(global, Access::Write)?;
        existing_topic(&store, name)?;
        store.delete_topic(name)?;
        close_store(store)?;
        outln!("Topic {name} is marked for deletion.")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn need_topic(args: &TopicsArgs) -> CliResult<&str> {
    args.topic.as_deref().ok_or_else(|| CliError::msg("--topic is required with this action"))
}

fn create(global: &Global, args: &TopicsArgs) -> CliResult<()> {
    let name = need_topic(args)?;
    let mut overrides = TopicConfig::new();
    for item in &args.config {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| CliError::msg(format!("--config '{item}' is not of the form key=value")))?;
        overrides = overrides.set(k.trim(), v.trim())?;
    }
    let partitions = args.partitions.unwrap_or(0);
    if args.partitions == Some(0) {
        return Err(CliError::msg("--partitions must be at least 1"));
    }
    let store = open_store(global, Access::Write)?;
    store.create_topic(name, partitions, overrides)?;
    close_store(store)?;
    outln!("Created topic {name}.")?;
    Ok(())
}

fn list(global: &Global, args: &TopicsArgs) -> CliResult<()> {
    let store = open_store(global, Access::Read)?;
    let names = if args.exclude_internal { store.topics() } else { store.all_topics() };
    for name in names {
        outln!("{name}")?;
    }
    Ok(())
}

fn describe(global: &Global, args: &TopicsArgs) -> CliResult<()> {
    let store = open_store(global, Access::Read)?;
    let names = match &args.topic {
        Some(t) => vec![existing_topic(&store, t)?.name().to_string()],
        None if args.exclude_internal => store.topics(),
        None => store.all_topics(),
    };
    for name in names {
        let topic = existing_topic(&store, &name)?;
        let overrides: Vec<String> = topic.overrides().iter().map(|(k, v)| format!("{k}={v}")).collect();
        outln!("Topic: {name}\tPartitionCount: {}\tConfigs: {}", topic.partition_count(), overrides.join(","))?;
        for p in topic.describe()? {
            outln!(
                "\tTopic: {name}\tPartition: {}\tLogStartOffset: {}\tLogEndOffset: {}\tSize: {}\tSegments: {}",
                p.partition,
                p.log_start_offset,
                p.log_end_offset,
                p.size,
                p.segments
            )?;
        }
    }
    Ok(())
}

fn alter(global: &Global, args: &TopicsArgs) -> CliResult<()> {
    let name = need_topic(args)?;
    let count = args.partitions.ok_or_else(|| CliError::msg("--alter needs --partitions N"))?;
    if !args.config.is_empty() {
        return Err(CliError::msg("--alter changes partitions only; change configs with `topiclog configs --alter`"));
    }
    let store = open_store(global, Access::Write)?;
    let current = existing_topic(&store, name)?.partition_count();
    if count <= current {
        return Err(CliError::msg(format!(
            "topic {name} has {current} partitions; the count can only grow, so {count} is refused"
        )));
    }
    store.add_partitions(name, count)?;
    close_store(store)?;
    outln!("Topic {name} now has {count} partitions.")?;
    Ok(())
}
