//! `topiclog console-producer`: kafka-console-producer.sh, reading lines
//! from standard input.

use std::collections::VecDeque;
use std::io::BufRead;
use std::process::ExitCode;

use clap::Args;
use topiclog::{BytesSerde, Producer, ProducerConfig, SendHandle};

use crate::common::{
    Access, CliError, CliResult, Global, bool_property, close_store, existing_topic, open_store, parse_properties,
    separator_property, show_bytes,
};

/// Handles kept before waiting for the oldest (bounds memory on long inputs).
const MAX_IN_FLIGHT: usize = 10_000;

/// Options of `console-producer`.
#[derive(Debug, Args)]
#[command(after_help = "Each line of standard input is one record; with parse.key=true the text before \
    key.separator (default a tab) is the key. Every line is appended when the command exits with status 0; \
    a line without the separator is an error naming it, and nothing is written for it or after it.\n\n\
    Examples:\n  \
    printf 'key1:no1\\nkey2:no2\\n' | topiclog console-producer --topic hello.kafka \
    --property parse.key=true --property key.separator=:\n  \
    cat events.txt | topiclog console-producer --topic events")]
pub struct ProducerArgs {
    /// The topic (it must exist).
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// parse.key=true|false, key.separator=SEP, ignore.error=true|false (skip lines without separator).
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// batch.size: most bytes per batch.
    #[arg(long, value_name = "BYTES", default_value_t = 16_384)]
    batch_size: usize,
    /// linger.ms: how long a batch waits for more lines.
    #[arg(long, value_name = "MS", default_value_t = 5)]
    linger_ms: u64,
    /// Append each line before reading the next (slower; one batch per line).
    #[arg(long)]
    sync: bool,
}

/// Runs `console-producer`.
pub fn run(global: &Global, args: ProducerArgs) -> CliResult<ExitCode> {
    let props = parse_properties(&args.properties, &["parse.key", "key.separator", "ignore.error"])?;
    let parse_key = bool_property(&props, "parse.key")?;
    let ignore_error = bool_property(&props, "ignore.error")?;
    let separator = separator_property(&props, "key.separator", "\t");
    if parse_key && separator.is_empty() {
        return Err(CliError::msg("key.separator cannot be empty"));
    }
    let store = open_store(global, Access::Write)?;
    let topic = existing_topic(&store, &args.topic)?;
    let config =
        ProducerConfig::new().batch_size(args.batch_size).linger_ms(if args.sync { 0 } else { args.linger_ms });
    let producer: Producer<[u8], [u8]> = Producer::new(topic, config, BytesSerde, BytesSerde);
    let mut in_flight: VecDeque<SendHandle> = VecDeque::new();
    let outcome = produce_lines(&producer, &mut in_flight, parse_key, ignore_error, separator.as_bytes(), args.sync);
    // Whatever happened, the lines read before it are appended and acknowledged.
    let flushed = producer.close();
    let mut acked = Ok(());
    for handle in in_flight {
        if let Err(e) = handle.wait() {
            acked = Err(e);
        }
    }
    let closed = close_store(store);
    outcome?;
    flushed?;
    acked?;
    closed?;
    Ok(ExitCode::SUCCESS)
}

fn produce_lines(
    producer: &Producer<[u8], [u8]>,
    in_flight: &mut VecDeque<SendHandle>,
    parse_key: bool,
    ignore_error: bool,
    separator: &[u8],
    sync: bool,
) -> CliResult<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line).map_err(|e| CliError::msg(format!("reading stdin: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        let (key, value) = if parse_key {
            match find(&line, separator) {
                Some(at) => (line.get(..at), line.get(at + separator.len()..)),
                None if ignore_error => (None, Some(&line[..])),
                None => {
                    return Err(CliError::msg(format!(
                        "line {number} has no key separator '{}': '{}' (nothing written for it or after it)",
                        show_bytes(separator).escape_default(),
                        show_bytes(&line)
                    )));
                }
            }
        } else {
            (None, Some(&line[..]))
        };
        if sync {
            producer.send(key, value)?;
            continue;
        }
        in_flight.push_back(producer.send_async(key, value)?);
        while in_flight.len() > MAX_IN_FLIGHT {
            if let Some(h) = in_flight.pop_front() {
                h.wait()?;
            }
        }
    }
}

/// Position of the first `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
