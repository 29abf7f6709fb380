//! `topiclog`: Kafka's command-line tools (`kafka-topics.sh`,
//! `kafka-console-producer.sh`, `kafka-dump-log.sh`, ...) on a topiclog data
//! directory, with the same verbs and flags.
//!
//! Errors are one line on stderr and a non-zero exit status (2 for a usage
//! error, 1 otherwise).
#![warn(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

/// `println!` that returns an error (`CliError::BrokenPipe` when stdout was
/// closed) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::common::CliError::from)
    }};
}

mod common;
mod configs;
mod console_consumer;
mod console_producer;
mod consumer_groups;
mod delete_records;
mod dump_log;
mod get_offsets;
mod perf_test;
mod scan;
mod topics;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use common::{CliError, CliResult};

/// Kafka's operator tools on a topiclog data directory.
#[derive(Debug, Parser)]
#[command(name = "topiclog", version, about, propagate_version = true)]
#[command(after_help = "Example:\n  topiclog --data-dir ./data topics --create --topic orders --partitions 3\n  \
                        echo 'hello' | topiclog console-producer --topic orders\n  \
                        topiclog console-consumer --topic orders --from-beginning --timeout-ms 1000")]
pub struct Cli {
    /// The data directory (a broker's `log.dirs` entry).
    #[arg(long, global = true, value_name = "DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Store-wide settings in Kafka's server.properties format (broker keys
    /// such as `log.retention.hours`, `offsets.topic.num.partitions`).
    #[arg(long, global = true, value_name = "FILE")]
    pub store_config: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands, named after Kafka's scripts.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, describe, grow and delete topics (kafka-topics.sh).
    Topics(topics::TopicsArgs),
    /// Describe and change topic configuration overrides (kafka-configs.sh).
    Configs(configs::ConfigsArgs),
    /// Append the lines of standard input as records (kafka-console-producer.sh).
    ConsoleProducer(console_producer::ProducerArgs),
    /// Print records to standard output (kafka-console-consumer.sh).
    ConsoleConsumer(console_consumer::ConsumerArgs),
    /// List, describe, reset and delete consumer groups (kafka-consumer-groups.sh).
    ConsumerGroups(consumer_groups::GroupsArgs),
    /// Delete records below offsets given in a JSON file (kafka-delete-records.sh).
    DeleteRecords(delete_records::DeleteRecordsArgs),
    /// Print offsets of partitions: earliest, latest, max timestamp, or by time (kafka-get-offsets.sh).
    GetOffsets(get_offsets::GetOffsetsArgs),
    /// Print the batches, records and index entries of segment files (kafka-dump-log.sh).
    DumpLog(dump_log::DumpLogArgs),
    /// Check every batch and index of the data directory without changing it.
    Verify(verify::VerifyArgs),
    /// Measure appends and reads beside raw write()/read() of the same bytes
    /// (kafka-producer-perf-test.sh).
    PerfTest(perf_test::PerfTestArgs),
}

fn main() -> ExitCode {
    // A bug must still end as one line on stderr, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".to_string());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("topiclog: internal error{at}: {message}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match run(cli) {
        Ok(code) => code,
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("topiclog: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version go to stdout with status 0; a usage error is its first
/// line (clap's own message) and a pointer to `--help`, status 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        // Printing help cannot be helped if stdout is closed; ignore that.
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(2);
    }
    // clap's message, less its usage block, on one line.
    let rendered = e.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect();
    let message = message.join(" ");
    let message = message.trim_start_matches("error: ");
    eprintln!("topiclog: error: {message} (see --help)");
    ExitCode::from(2)
}

fn run(cli: Cli) -> CliResult<ExitCode> {
    let global = common::Global { data_dir: cli.data_dir, store_config: cli.store_config };
    match cli.command {
        Command::Topics(args) => topics::run(&global, args),
        Command::Configs(args) => configs::run(&global, args),
        Command::ConsoleProducer(args) => console_producer::run(&global, args),
        Command::ConsoleConsumer(args) => console_consumer::run(&global, args),
        Command::ConsumerGroups(args) => consumer_groups::run(&global, args),
        Command::DeleteRecords(args) => delete_records::run(&global, args),
        Command::GetOffsets(args) => get_offsets::run(&global, args),
        Command::DumpLog(args) => dump_log::run(args),
        Command::Verify(args) => verify::run(&global, args),
        Command::PerfTest(args) => perf_test::run(&global, args),
    }
}
