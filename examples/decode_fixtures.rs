//! The README's main job (for now): encode a few batches with every codec,
//! decode them back, then decode every record-batch file written by real
//! Kafka brokers under `../shared/fixtures/kafka-real` (or the directory given
//! as the first argument), verifying every CRC, and print a report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bytes::Bytes;
use topiclog::format::{BatchBuilder, Compression, FileBatches, Record, RecordBatch, Tail};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    println!("== encode and decode with every codec");
    for codec in Compression::ALL {
        if !codec.is_enabled() {
            println!("  {:<6} disabled in this build", codec.name());
            continue;
        }
        let mut builder = BatchBuilder::new(codec).base_offset(1000);
        for i in 0..100 {
            let record = Record::new()
                .key(format!("user-{}", i % 7))
                .value(format!("event number {i}"))
                .timestamp(1_700_000_000_000 + i);
            builder.append(&record)?;
        }
        let built = builder.build()?;
        let decoded = RecordBatch::new(built.as_bytes().clone())?;
        let last = decoded.records()?.last().transpose()?.map(|r| r.offset());
        println!(
            "  {:<6} 100 records -> {:>5} bytes, crc {:#010x}, offsets 1000..={}",
            codec.name(),
            decoded.size_in_bytes(),
            decoded.header().crc,
            last.unwrap_or(-1)
        );
    }

    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/kafka-real"));
    println!("\n== real Kafka record-batch files under {}", dir.display());
    let mut files = Vec::new();
    collect(&dir, &mut files)?;
    if files.is_empty() {
        return Err(format!("no .log or .checkpoint files under {}", dir.display()).into());
    }
    let (mut batches, mut records, mut codecs) = (0usize, 0usize, BTreeMap::new());
    for file in &files {
        let data = Bytes::from(std::fs::read(file)?);
        let size = data.len();
        let mut iter = FileBatches::new(data, 0);
        let (mut b, mut r) = (0, 0);
        for batch in iter.by_ref() {
            let batch = batch.map_err(|e| format!("{}: {e}", file.display()))?;
            *codecs.entry(batch.header().compression().map_or("unknown", |c| c.name())).or_insert(0) += 1;
            for record in batch.records()? {
                record?;
                r += 1;
            }
            b += 1;
        }
        let tail = match iter.tail() {
            Some(Tail::Clean) | None => String::new(),
            Some(t) => format!("  tail: {t:?}"),
        };
        let name = file.strip_prefix(&dir).unwrap_or(file).display();
        println!("  {name:<90} {size:>8} B {b:>5} batches {r:>6} records{tail}");
        batches += b;
        records += r;
    }
    println!(
        "\n{} files, {batches} batches, {records} records, every CRC-32C verified; codecs {codecs:?}",
        files.len()
    );
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            collect(&path, out)?;
        } else if is_batch_file(&name) {
            out.push(path);
        }
    }
    Ok(())
}

/// `.log` segments and KRaft record-batch checkpoints (`bootstrap.checkpoint`,
/// `<offset>-<epoch>.checkpoint`), not the text offset checkpoints.
fn is_batch_file(name: &str) -> bool {
    let kraft_snapshot = name.ends_with(".checkpoint") && name.starts_with(|c: char| c.is_ascii_digit());
    name.ends_with(".log") || kraft_snapshot || name == "bootstrap.checkpoint"
}
