//! `topiclog dump-log`: kafka-dump-log.sh, in its line format, on
//! topiclog's files and Kafka's. Never writes.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bytes::Bytes;
use clap::Args;
use topiclog::format::BatchHeader;
use topiclog::{RecordRef, read_offset_index, read_time_index};

use crate::common::{CliError, CliResult, base_offset_of};
use crate::scan::{self, Item};

/// Options of `dump-log`.
#[derive(Debug, Args)]
#[command(after_help = "Prints one line per batch (baseOffset, lastOffset, count, producer fields, position, \
    timestamp, size, codec, crc, isvalid) as kafka-dump-log.sh does; --deep-iteration adds one `| offset: ...` \
    line per record, --print-data-log also keys and payloads. For .index and .timeindex files, one line per entry, \
    checked against the .log beside them (mismatches on stderr). A damaged batch is reported with its position \
    and the dump goes on at the next valid batch.\n\n\
    Examples:\n  \
    topiclog dump-log --files data/hello.kafka-0/00000000000000000000.log --print-data-log\n  \
    topiclog dump-log --files data/hello.kafka-0/00000000000000000000.index,data/hello.kafka-0/00000000000000000000.timeindex\n  \
    topiclog dump-log --files data/__consumer_offsets-0/00000000000000000000.log --offsets-decoder")]
pub struct DumpLogArgs {
    /// Files to dump, comma-separated: .log, .index, .timeindex, producer .snapshot (and KRaft .checkpoint).
    #[arg(long, value_name = "F[,F...]", value_delimiter = ',', required = true)]
    files: Vec<PathBuf>,
    /// Print keys and payloads (implies --deep-iteration).
    #[arg(long)]
    print_data_log: bool,
    /// One line per record, not only per batch.
    #[arg(long)]
    deep_iteration: bool,
    /// For indexes: only run the sanity check done when a segment is opened.
    #[arg(long)]
    index_sanity_check: bool,
    /// For indexes: check entries against the log without printing them.
    #[arg(long)]
    verify_index_only: bool,
    /// Decode records as __consumer_offsets commits and group metadata (implies --print-data-log).
    #[arg(long)]
    offsets_decoder: bool,
}

/// Problems found along the way, printed on stderr at the end (as Kafka does).
#[derive(Default)]
struct Findings {
    index_mismatches: BTreeMap<String, Vec<(i64, i64)>>,
    time_mismatches: BTreeMap<String, Vec<(i64, i64)>>,
    time_out_of_order: BTreeMap<String, Vec<(i64, i64)>>,
    time_not_found: BTreeMap<String, Vec<(i64, i64)>>,
    non_consecutive: BTreeMap<String, Vec<(i64, i64)>>,
    /// Damage (corrupt batches, torn tails, unreadable files): the exit status is 1.
    damage: usize,
}

/// Runs `dump-log`.
pub fn run(args: DumpLogArgs) -> CliResult<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut findings = Findings::default();
    let print_data = args.print_data_log || args.offsets_decoder;
    let deep = args.deep_iteration || print_data;
    for file in &args.files {
        writeln!(out, "Dumping {}", file.display())?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let result = if name.ends_with(".log") || name.ends_with(".checkpoint") {
            dump_log(&mut out, file, &name, deep, print_data, args.offsets_decoder, &mut findings)
        } else if name.ends_with(".timeindex") {
            dump_time_index(&mut out, file, &args, &mut findings)
        } else if name.ends_with(".index") {
            dump_index(&mut out, file, &args, &mut findings)
        } else if name.ends_with(".snapshot") {
            dump_producer_snapshot(&mut out, file)
        } else {
            out.flush()?;
            eprintln!("Ignoring unknown file {}", file.display());
            Ok(())
        };
        if let Err(e) = result {
            if matches!(e, CliError::BrokenPipe) {
                return Err(e);
            }
            out.flush()?;
            eprintln!("{}: {e}", file.display());
            findings.damage += 1;
        }
    }
    out.flush()?;
    drop(out);
    report(&findings);
    Ok(if findings.damage > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn read(file: &Path) -> CliResult<Bytes> {
    std::fs::read(file).map(Bytes::from).map_err(|e| CliError::msg(format!("cannot read {}: {e}", file.display())))
}

fn absolute(file: &Path) -> String {
    std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()).display().to_string()
}

/// Kafka's `lastSequence`: the base sequence moved by the offset delta, wrapping at `i32::MAX`.
fn last_sequence(h: &BatchHeader) -> i32 {
    if h.base_sequence < 0 {
        return -1;
    }
    let next = i64::from(h.base_sequence) + i64::from(h.last_offset_delta);
    if next > i64::from(i32::MAX) { (next - i64::from(i32::MAX) - 1) as i32 } else { next as i32 }
}

/// A record's sequence number (Kafka's `DefaultRecord.sequence`).
fn record_sequence(h: &BatchHeader, offset: i64) -> i64 {
    if h.base_sequence < 0 {
        return -1;
    }
    let next = i64::from(h.base_sequence) + (offset - h.base_offset);
    if next > i64::from(i32::MAX) { next - i64::from(i32::MAX) - 1 } else { next }
}

/// The batch line of kafka-dump-log.sh.
pub fn batch_line(h: &BatchHeader, position: u64, size: usize, crc_valid: bool) -> String {
    let delete_horizon = if h.has_delete_horizon() {
        format!("OptionalLong[{}]", h.base_timestamp)
    } else {
        "OptionalLong.empty".to_string()
    };
    let codec = h.compression().map_or_else(|| format!("unknown({})", h.compression_id()), |c| c.name().to_string());
    format!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} \
         partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: {delete_horizon} position: {position} \
         {}: {} size: {size} magic: {} compresscodec: {codec} crc: {} isvalid: {crc_valid}",
        h.base_offset,
        h.last_offset(),
        h.record_count,
        h.base_sequence,
        last_sequence(h),
        h.producer_id,
        h.producer_epoch,
        h.partition_leader_epoch,
        h.is_transactional(),
        h.is_control(),
        h.timestamp_type().name(),
        h.max_timestamp,
        h.magic,
        h.crc,
    )
}

fn dump_log(
    out: &mut impl Write,
    file: &Path,
    name: &str,
    deep: bool,
    print_data: bool,
    offsets_decoder: bool,
    findings: &mut Findings,
) -> CliResult<()> {
    if name.ends_with(".log") {
        writeln!(out, "Log starting offset: {}", base_offset_of(file).unwrap_or(0))?;
    } else if name == "bootstrap.checkpoint" {
        writeln!(out, "KRaft bootstrap snapshot")?;
    } else if let Some((offset, epoch)) = name.trim_end_matches(".checkpoint").split_once('-') {
        let offset = offset.trim_start_matches('0');
        let epoch = epoch.trim_start_matches('0');
        let or_zero = |s: &str| if s.is_empty() { "0".to_string() } else { s.to_string() };
        writeln!(out, "Snapshot end offset: {}, epoch: {}", or_zero(offset), or_zero(epoch))?;
    }
    let data = read(file)?;
    let mut last_offset: Option<i64> = None;
    let key = absolute(file);
    for item in scan::walk(&data) {
        match item {
            Item::Batch(b) => {
                writeln!(out, "{}", batch_line(&b.header, b.position, b.bytes.len(), b.crc_valid))?;
                if let Some(problem) = &b.problem {
                    findings.damage += 1;
                    writeln!(out, "| corrupt batch at position {}: {problem}", b.position)?;
                    continue;
                }
                if !deep {
                    continue;
                }
                let batch = match b.decoded() {
                    Ok(batch) => batch,
                    Err(e) => {
                        findings.damage += 1;
                        writeln!(out, "| corrupt batch at position {}: {e}", b.position)?;
                        continue;
                    }
                };
                let refs = match batch.record_refs() {
                    Ok(r) => r,
                    Err(e) => {
                        writeln!(out, "| records not readable at position {}: {e}", b.position)?;
                        continue;
                    }
                };
                for r in refs {
                    let r = match r {
                        Ok(r) => r,
                        Err(e) => {
                            findings.damage += 1;
                            writeln!(out, "| corrupt record in batch at position {}: {e}", b.position)?;
                            break;
                        }
                    };
                    if let Some(last) = last_offset
                        && r.offset() != last + 1
                    {
                        findings.non_consecutive.entry(key.clone()).or_default().push((last, r.offset()));
                    }
                    last_offset = Some(r.offset());
                    let line = record_line(&b.header, &r, print_data, offsets_decoder);
                    writeln!(out, "{line}")?;
                }
            }
            Item::Legacy { position, magic, size } => {
                writeln!(out, "position: {position} size: {size} magic: {magic} (legacy message format, not decoded)")?;
            }
            Item::Corrupt { position, problem, resumed_at } => {
                findings.damage += 1;
                match resumed_at {
                    Some(at) => writeln!(
                        out,
                        "Corrupt batch at position {position} of {name}: {problem}; {} bytes skipped, dump resumed at position {at}",
                        at - position
                    )?,
                    None => writeln!(
                        out,
                        "Corrupt batch at position {position} of {name}: {problem}; no valid batch after it"
                    )?,
                }
            }
            Item::ZeroTail { position, bytes } => {
                writeln!(
                    out,
                    "Found {bytes} zero bytes at the end of {name} from position {position} (preallocated, never written)"
                )?;
            }
            Item::Torn { position, bytes, .. } => {
                findings.damage += 1;
                writeln!(
                    out,
                    "Found {bytes} invalid bytes at the end of {name} (incomplete batch at position {position})"
                )?;
            }
        }
    }
    Ok(())
}

fn record_line(h: &BatchHeader, r: &RecordRef<'_>, print_data: bool, offsets_decoder: bool) -> String {
    let header_keys: Vec<String> = r.headers().map(|hd| crate::common::show_bytes(hd.key())).collect();
    let mut line = format!(
        "| offset: {} {}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
        r.offset(),
        h.timestamp_type().name(),
        r.timestamp(),
        r.key().map_or(-1, |k| k.len() as i64),
        r.value().map_or(-1, |v| v.len() as i64),
        record_sequence(h, r.offset()),
        header_keys.join(","),
    );
    if h.is_control() {
        line.push_str(&control_text(r));
        return line;
    }
    if print_data {
        if offsets_decoder {
            let (key, value) = crate::dump_log::offsets::decode(r);
            line.push_str(&format!(" key: {key}"));
            if let Some(v) = value {
                line.push_str(&format!(" payload: {v}"));
            }
        } else {
            if let Some(k) = r.key() {
                line.push_str(&format!(" key: {}", String::from_utf8_lossy(k)));
            }
            if let Some(v) = r.value() {
                line.push_str(&format!(" payload: {}", String::from_utf8_lossy(v)));
            }
        }
    }
    line
}

/// The control record's type, as Kafka prints it.
fn control_text(r: &RecordRef<'_>) -> String {
    let key = r.key().unwrap_or_default();
    let type_id = key.get(2..4).and_then(|b| <[u8; 2]>::try_from(b).ok()).map_or(-1, i16::from_be_bytes);
    match type_id {
        0 | 1 => {
            let value = r.value().unwrap_or_default();
            let epoch = value.get(2..6).and_then(|b| <[u8; 4]>::try_from(b).ok()).map_or(-1, i32::from_be_bytes);
            let kind = if type_id == 0 { "ABORT" } else { "COMMIT" };
            format!(" endTxnMarker: {kind} coordinatorEpoch: {epoch}")
        }
        2 => " controlType: LEADER_CHANGE(2)".to_string(),
        3 => " controlType: SNAPSHOT_HEADER(3)".to_string(),
        4 => " controlType: SNAPSHOT_FOOTER(4)".to_string(),
        5 => " controlType: KRAFT_VERSION(5)".to_string(),
        6 => " controlType: KRAFT_VOTERS(6)".to_string(),
        other => format!(" controlType: UNKNOWN({other})"),
    }
}

/// The batches of the `.log` beside an index file, when it is there.
fn sibling_log(file: &Path) -> Option<(PathBuf, Vec<scan::Batch>)> {
    let base = file.file_name()?.to_str()?.split('.').next()?.to_string();
    let log = file.with_file_name(format!("{base}.log"));
    let data = std::fs::read(&log).ok()?;
    let batches = scan::walk(&Bytes::from(data))
        .into_iter()
        .filter_map(|i| match i {
            Item::Batch(b) => Some(b),
            _ => None,
        })
        .collect();
    Some((log, batches))
}

fn dump_index(out: &mut impl Write, file: &Path, args: &DumpLogArgs, findings: &mut Findings) -> CliResult<()> {
    let base = base_offset_of(file).ok_or_else(|| CliError::msg("not a segment file name (20-digit base offset)"))?;
    let index = read_offset_index(file, base)?;
    if index.entries.is_empty() {
        writeln!(out, "{} is empty.", file.display())?;
        return Ok(());
    }
    if args.index_sanity_check {
        return sanity(out, file, index.problem, findings);
    }
    let log = sibling_log(file);
    if log.is_none() {
        out.flush()?;
        eprintln!("No log file beside {}: entries are not checked against it", file.display());
    }
    let key = absolute(file);
    for (i, e) in index.entries.iter().enumerate() {
        // A crash can leave zeroed slots: stop at one, as Kafka does.
        if i > 0 && e.offset == base {
            break;
        }
        if let Some((_, batches)) = &log {
            let found = batches.iter().find(|b| b.position == u64::from(e.position)).map(|b| b.header.last_offset());
            let found = found.unwrap_or(-1);
            if found != e.offset {
                findings.index_mismatches.entry(key.clone()).or_default().push((e.offset, found));
            }
        }
        if !args.verify_index_only {
            writeln!(out, "offset: {} position: {}", e.offset, e.position)?;
        }
    }
    Ok(())
}

fn sanity(out: &mut impl Write, file: &Path, problem: Option<String>, findings: &mut Findings) -> CliResult<()> {
    match problem {
        None => writeln!(out, "{} passed sanity check.", file.display())?,
        Some(p) => {
            findings.damage += 1;
            writeln!(out, "{} failed sanity check: {p}", file.display())?;
        }
    }
    Ok(())
}

fn dump_time_index(out: &mut impl Write, file: &Path, args: &DumpLogArgs, findings: &mut Findings) -> CliResult<()> {
    let base = base_offset_of(file).ok_or_else(|| CliError::msg("not a segment file name (20-digit base offset)"))?;
    let index = read_time_index(file, base)?;
    if args.index_sanity_check {
        return sanity(out, file, index.problem, findings);
    }
    let log = sibling_log(file);
    if log.is_none() && !index.entries.is_empty() {
        out.flush()?;
        eprintln!("No log file beside {}: entries are not checked against it", file.display());
    }
    let key = absolute(file);
    let mut previous = -1i64;
    for (i, e) in index.entries.iter().enumerate() {
        if i > 0 && e.offset == base {
            break;
        }
        if let Some((_, batches)) = &log {
            match batches.iter().find(|b| b.header.last_offset() >= e.offset) {
                None => findings.time_not_found.entry(key.clone()).or_default().push((e.offset, -1)),
                Some(b) if b.header.base_offset > e.offset => {
                    findings.time_not_found.entry(key.clone()).or_default().push((e.offset, b.header.last_offset()));
                }
                Some(b) => {
                    let max = b
                        .decoded()
                        .ok()
                        .and_then(|batch| {
                            batch
                                .record_refs()
                                .ok()
                                .map(|refs| refs.filter_map(Result::ok).map(|r| r.timestamp()).max())
                        })
                        .flatten()
                        .unwrap_or(b.header.max_timestamp);
                    if max != e.timestamp {
                        findings.time_mismatches.entry(key.clone()).or_default().push((e.timestamp, max));
                    }
                    if previous >= e.timestamp {
                        findings.time_out_of_order.entry(key.clone()).or_default().push((e.timestamp, previous));
                    }
                }
            }
        }
        if !args.verify_index_only {
            writeln!(out, "timestamp: {} offset: {}", e.timestamp, e.offset)?;
        }
        previous = e.timestamp;
    }
    Ok(())
}

/// A producer-state snapshot (`.snapshot`): version 1, CRC-32C of the
/// entries, then one fixed-size entry per producer.
fn dump_producer_snapshot(out: &mut impl Write, file: &Path) -> CliResult<()> {
    let data = read(file)?;
    let be = |at: usize, n: usize| -> Option<i64> {
        let bytes = data.get(at..at + n)?;
        Some(bytes.iter().fold(0i64, |acc, &b| (acc << 8) | i64::from(b)))
    };
    let corrupt = |what: &str| CliError::msg(format!("corrupt producer snapshot: {what}"));
    let version = be(0, 2).ok_or_else(|| corrupt("too short"))?;
    if version != 1 {
        return Err(corrupt(&format!("unknown version {version}")));
    }
    let stored = be(2, 4).ok_or_else(|| corrupt("too short"))?;
    let computed = i64::from(crc32c::crc32c(data.get(6..).unwrap_or_default()));
    if stored != computed {
        return Err(corrupt(&format!("stored crc {stored}, computed {computed}")));
    }
    let count = be(6, 4).map(|n| n as i32).ok_or_else(|| corrupt("too short"))?;
    const ENTRY: usize = 46;
    for i in 0..usize::try_from(count.max(0)).unwrap_or(0) {
        let at = 10 + i * ENTRY;
        let field = |off: usize, n: usize| be(at + off, n).ok_or_else(|| corrupt(&format!("entry {i} is cut short")));
        let producer_id = field(0, 8)?;
        let epoch = field(8, 2)? as i16;
        let last_sequence = field(10, 4)? as i32;
        let last_offset = field(14, 8)?;
        let offset_delta = field(22, 4)? as i32;
        let timestamp = field(26, 8)?;
        let coordinator_epoch = field(34, 4)? as i32;
        let txn_first = field(38, 8)?;
        let txn = if txn_first >= 0 { format!("OptionalLong[{txn_first}]") } else { "OptionalLong.empty".into() };
        write!(
            out,
            "producerId: {producer_id} producerEpoch: {epoch} coordinatorEpoch: {coordinator_epoch} \
             currentTxnFirstOffset: {txn} lastTimestamp: {timestamp} "
        )?;
        if last_offset >= 0 {
            let first = i64::from(last_sequence) - i64::from(offset_delta);
            let first = if first < 0 { first + i64::from(i32::MAX) + 1 } else { first };
            write!(
                out,
                "firstSequence: {first} lastSequence: {last_sequence} lastOffset: {last_offset} \
                 offsetDelta: {offset_delta} timestamp: {timestamp}"
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn report(f: &Findings) {
    for (file, list) in &f.index_mismatches {
        eprintln!("Mismatches in :{file}");
        for (index, log) in list {
            eprintln!("  Index offset: {index}, log offset: {log}");
        }
    }
    for (file, list) in &f.time_mismatches {
        eprintln!("Found timestamp mismatch in :{file}");
        for (index, log) in list {
            eprintln!("  Index timestamp: {index}, log timestamp: {log}");
        }
    }
    for (file, list) in &f.time_out_of_order {
        eprintln!("Found out of order timestamp in :{file}");
        for (index, prev) in list {
            eprintln!("  Index timestamp: {index}, Previously indexed timestamp: {prev}");
        }
    }
    for list in f.time_not_found.values() {
        eprintln!("The following indexed offsets are not found in the log.");
        for (index, log) in list {
            eprintln!("Indexed offset: {index}, found log offset: {log}");
        }
    }
    for (file, list) in &f.non_consecutive {
        eprintln!("Non-consecutive offsets in {file}");
        for (first, second) in list {
            eprintln!("  {first} is followed by {second}");
        }
    }
}

/// `--offsets-decoder`: `__consumer_offsets` keys and values as Kafka's JSON.
pub mod offsets {
    use serde_json::{Map, Value, json};
    use topiclog::RecordRef;

    /// Reads Kafka's protocol primitives, big-endian.
    struct Reader<'a> {
        buf: &'a [u8],
        flexible: bool,
    }

    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            let (head, rest) = (self.buf.get(..n)?, self.buf.get(n..)?);
            self.buf = rest;
            Some(head)
        }
        fn i16(&mut self) -> Option<i16> {
            self.take(2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(i16::from_be_bytes)
        }
        fn i32(&mut self) -> Option<i32> {
            self.take(4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(i32::from_be_bytes)
        }
        fn i64(&mut self) -> Option<i64> {
            self.take(8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(i64::from_be_bytes)
        }
        fn uvarint(&mut self) -> Option<u64> {
            let mut v = 0u64;
            for shift in (0..64).step_by(7) {
                let b = *self.take(1)?.first()?;
                v |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    return Some(v);
                }
            }
            None
        }
        fn string(&mut self) -> Option<Option<String>> {
            let len: i64 = if self.flexible { self.uvarint()? as i64 - 1 } else { i64::from(self.i16()?) };
            if len < 0 {
                return Some(None);
            }
            let bytes = self.take(usize::try_from(len).ok()?)?;
            Some(Some(String::from_utf8_lossy(bytes).into_owned()))
        }
        fn bytes_len(&mut self) -> Option<usize> {
            let len: i64 = if self.flexible { self.uvarint()? as i64 - 1 } else { i64::from(self.i32()?) };
            let len = usize::try_from(len.max(0)).ok()?;
            self.take(len)?;
            Some(len)
        }
    }

    /// (key text, value text or None): Kafka's `OffsetsMessageParser`.
    pub fn decode(r: &RecordRef<'_>) -> (String, Option<String>) {
        let Some(key) = r.key() else {
            return (
                format!(
                    "Failed to decode message at offset {} using offset topic decoder (message had a missing key)",
                    r.offset()
                ),
                None,
            );
        };
        let mut k = Reader { buf: key, flexible: false };
        let Some(version) = k.i16() else {
            return (format!("Error at offset {}, skipping. Key too short", r.offset()), None);
        };
        let key_json = match version {
            0 | 1 => (|| {
                let group = k.string()??;
                let topic = k.string()??;
                let partition = k.i32()?;
                Some(
                    json!({"type": version.to_string(), "data": {"group": group, "topic": topic, "partition": partition}}),
                )
            })(),
            2 => k.string().flatten().map(|group| json!({"type": "2", "data": {"group": group}})),
            other => return (format!("Unknown record type {other} at offset {}, skipping.", r.offset()), None),
        };
        let Some(key_json) = key_json else {
            return (format!("Error at offset {}, skipping. Malformed key", r.offset()), None);
        };
        let value = match r.value() {
            None => "<DELETE>".to_string(),
            Some(v) => {
                let decoded = if version == 2 { group_value(v) } else { offset_value(v) };
                decoded.map_or_else(
                    || format!("Error at offset {}, skipping. Malformed value", r.offset()),
                    |v| v.to_string(),
                )
            }
        };
        (key_json.to_string(), Some(value))
    }

    fn offset_value(v: &[u8]) -> Option<Value> {
        let mut r = Reader { buf: v, flexible: false };
        let version = r.i16()?;
        r.flexible = version >= 4;
        let mut data = Map::new();
        data.insert("offset".into(), json!(r.i64()?));
        if version >= 3 {
            data.insert("leaderEpoch".into(), json!(r.i32()?));
        }
        data.insert("metadata".into(), json!(r.string()?.unwrap_or_default()));
        data.insert("commitTimestamp".into(), json!(r.i64()?));
        if version == 1 {
            data.insert("expireTimestamp".into(), json!(r.i64()?));
        }
        Some(json!({"version": version.to_string(), "data": data}))
    }

    fn group_value(v: &[u8]) -> Option<Value> {
        let mut r = Reader { buf: v, flexible: false };
        let version = r.i16()?;
        r.flexible = version >= 4;
        let mut data = Map::new();
        data.insert("protocolType".into(), json!(r.string()?));
        data.insert("generation".into(), json!(r.i32()?));
        data.insert("protocol".into(), json!(r.string()?));
        data.insert("leader".into(), json!(r.string()?));
        if version >= 2 {
            data.insert("currentStateTimestamp".into(), json!(r.i64()?));
        }
        let count = if r.flexible { r.uvarint()? as i64 - 1 } else { i64::from(r.i32()?) };
        let mut members = Vec::new();
        for _ in 0..count.max(0) {
            let mut m = Map::new();
            m.insert("memberId".into(), json!(r.string()?));
            if version >= 3 {
                m.insert("groupInstanceId".into(), json!(r.string()?));
            }
            m.insert("clientId".into(), json!(r.string()?));
            m.insert("clientHost".into(), json!(r.string()?));
            if version >= 1 {
                m.insert("rebalanceTimeout".into(), json!(r.i32()?));
            }
            m.insert("sessionTimeout".into(), json!(r.i32()?));
            m.insert("subscription".into(), json!(format!("<{} bytes>", r.bytes_len()?)));
            m.insert("assignment".into(), json!(format!("<{} bytes>", r.bytes_len()?)));
            if r.flexible {
                // The member's tagged fields: none are defined; skip their count.
                r.uvarint()?;
            }
            members.push(Value::Object(m));
        }
        data.insert("members".into(), Value::Array(members));
        Some(json!({"version": version.to_string(), "data": data}))
    }
}
