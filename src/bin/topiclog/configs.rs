//! `topiclog configs`: kafka-configs.sh for topics.

use std::process::ExitCode;

use clap::{ArgGroup, Args};
use topiclog::ConfigSource;

use crate::common::{Access, CliError, CliResult, Global, close_store, existing_topic, open_store};

/// Options of `configs`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).args(["describe", "alter"])))]
#[command(after_help = "Examples:\n  \
    topiclog configs --entity-type topics --entity-name hello.kafka --describe\n  \
    topiclog configs --entity-type topics --entity-name hello.kafka --alter --add-config retention.ms=86400000\n  \
    topiclog configs --entity-type topics --entity-name hello.kafka --alter --add-config 'cleanup.policy=[compact,delete],segment.bytes=1048576'\n  \
    topiclog configs --entity-type topics --entity-name hello.kafka --alter --delete-config retention.ms")]
pub struct ConfigsArgs {
    /// The kind of entity: only `topics` exists in a data directory.
    #[arg(long, value_name = "TYPE")]
    entity_type: String,
    /// The topic.
    #[arg(long, value_name = "TOPIC")]
    entity_name: String,
    /// Print the topic's overrides (with --all: every key, its value and where it comes from).
    #[arg(long)]
    describe: bool,
    /// Change overrides (with --add-config and/or --delete-config).
    #[arg(long)]
    alter: bool,
    /// With --describe: every topic-level key, not only overrides.
    #[arg(long)]
    all: bool,
    /// Overrides to set: k=v[,k=v]; a list value goes in brackets: cleanup.policy=[compact,delete].
    #[arg(long, value_name = "K=V[,K=V]")]
    add_config: Vec<String>,
    /// Overrides to remove: k[,k].
    #[arg(long, value_name = "K[,K]")]
    delete_config: Vec<String>,
}

/// Runs `configs`.
pub fn run(global: &Global, args: ConfigsArgs) -> CliResult<ExitCode> {
    if args.entity_type != "topics" && args.entity_type != "topic" {
        return Err(CliError::msg(format!(
            "--entity-type {} is not supported: a data directory has only topics",
            args.entity_type
        )));
    }
    let name = args.entity_name.as_str();
    if args.describe {
        let store = open_store(global, Access::Read)?;
        let topic = existing_topic(&store, name)?;
        if args.all {
            outln!("All configs for topic {name} are:")?;
            for e in store.describe_configs(name)? {
                let source = match &e.source {
                    ConfigSource::Default => "DEFAULT_CONFIG".to_string(),
                    ConfigSource::Store(key) => format!("STATIC_BROKER_CONFIG:{key}"),
                    ConfigSource::Topic => "DYNAMIC_TOPIC_CONFIG".to_string(),
                };
                outln!("  {}={} sensitive=false synonyms={{{source}}}", e.key, e.value)?;
            }
        } else {
            outln!("Dynamic configs for topic {name} are:")?;
            for (k, v) in topic.overrides() {
                outln!("  {k}={v} sensitive=false synonyms={{DYNAMIC_TOPIC_CONFIG:{k}={v}}}")?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.add_config.is_empty() && args.delete_config.is_empty() {
        return Err(CliError::msg("--alter needs --add-config and/or --delete-config"));
    }
    let mut adds = Vec::new();
    for list in &args.add_config {
        for item in split_configs(list)? {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| CliError::msg(format!("--add-config '{item}' is not of the form key=value")))?;
            let v = v.trim();
            let v = v.strip_prefix('[').and_then(|v| v.strip_suffix(']')).unwrap_or(v);
            adds.push((k.trim().to_string(), v.to_string()));
        }
    }
    let deletes: Vec<String> = args
        .delete_config
        .iter()
        .flat_map(|l| l.split(','))
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    let store = open_store(global, Access::Write)?;
    let topic = existing_topic(&store, name)?;
    // Validate the whole change before applying any of it.
    let mut overrides = topic.overrides();
    for k in &deletes {
        if overrides.remove(k).is_none() {
            return Err(CliError::msg(format!("topic {name} has no override for {k} to delete")));
        }
    }
    for (k, v) in &adds {
        overrides.insert(k.clone(), v.clone());
    }
    store.config().resolve(&overrides)?;
    for k in &deletes {
        store.delete_topic_config(name, k)?;
    }
    for (k, v) in &adds {
        store.set_topic_config(name, k, v)?;
    }
    close_store(store)?;
    outln!("Completed updating config for topic {name}.")?;
    Ok(ExitCode::SUCCESS)
}

/// Splits `a=1,b=[x,y]` at the commas outside brackets.
fn split_configs(list: &str) -> CliResult<Vec<String>> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in list.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(CliError::msg(format!("unbalanced ']' in --add-config '{list}'")));
        }
        current.push(c);
    }
    if depth != 0 {
        return Err(CliError::msg(format!("unbalanced '[' in --add-config '{list}'")));
    }
    out.push(current);
    Ok(out.into_iter().filter(|s| !s.trim().is_empty()).collect())
}
