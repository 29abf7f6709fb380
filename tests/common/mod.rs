//! Helpers shared by the integration tests: locating the real Kafka fixtures
//! and reading the `.dump.txt` files written by `shared/tools/kafka_dump.py`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `../shared/fixtures/kafka-real`, or `None` (with the reason printed) when
/// the shared folder is not beside the checkout.
pub fn kafka_real_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/kafka-real");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: {} is absent, so the real Kafka fixtures cannot be checked", dir.display());
        None
    }
}

/// Every file under `dir` whose name satisfies `keep`, sorted.
pub fn files_under(dir: &Path, keep: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if keep(path.file_name().unwrap().to_str().unwrap()) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Record-batch files (`.log` and KRaft `.checkpoint`) that have a dump beside them.
pub fn batch_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir, &|name| name.ends_with(".log") || name.ends_with(".checkpoint"))
        .into_iter()
        .filter(|p| dump_path(p).exists())
        .collect()
}

pub fn dump_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".dump.txt");
    PathBuf::from(s)
}

/// The `name=value` fields of one dump line, up to the first quoted preview.
pub fn fields(line: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for token in line.split_whitespace() {
        if token.starts_with("key=") || token.starts_with("headerKeys=") {
            break;
        }
        if let Some((k, v)) = token.split_once('=') {
            out.insert(k.to_string(), v.to_string());
        }
    }
    out
}

#[derive(Debug, Default, Clone)]
pub struct DumpRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key_length: i64,
    pub value_length: i64,
    pub headers: usize,
}

#[derive(Debug, Default, Clone)]
pub struct DumpBatch {
    pub fields: HashMap<String, String>,
    pub records: Vec<DumpRecord>,
}

impl DumpBatch {
    pub fn int(&self, name: &str) -> i64 {
        parse_int(self.fields.get(name).unwrap_or_else(|| panic!("dump batch lacks {name}")))
    }
    pub fn text(&self, name: &str) -> &str {
        self.fields.get(name).unwrap_or_else(|| panic!("dump batch lacks {name}"))
    }
}

pub fn parse_int(s: &str) -> i64 {
    match s.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).unwrap(),
        None => s.parse().unwrap_or_else(|_| panic!("not an integer: {s}")),
    }
}

/// The batches of a `.log.dump.txt`.
pub fn read_log_dump(path: &Path) -> Vec<DumpBatch> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut batches: Vec<DumpBatch> = Vec::new();
    for line in text.lines() {
        if line.starts_with("batch ") {
            batches.push(DumpBatch { fields: fields(line), records: Vec::new() });
        } else if let Some(rest) = line.trim_start().strip_prefix("record ") {
            let f = fields(rest);
            let b = batches.last_mut().expect("record line before any batch line");
            b.records.push(DumpRecord {
                offset: parse_int(&f["offset"]),
                timestamp: parse_int(&f["timestamp"]),
                key_length: parse_int(&f["keyLength"]),
                value_length: parse_int(&f["valueLength"]),
                headers: parse_int(&f["headers"]) as usize,
            });
        } else if line.starts_with("  ")
            && let Some(b) = batches.last_mut()
        {
            b.fields.extend(fields(line));
        }
    }
    batches
}

/// Copies the files of a fixture directory `from` into `to` (created),
/// leaving out the `.dump.txt` files, writable even when the fixtures are not.
pub fn copy_fixture_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if path.is_file() && !name.ends_with(".dump.txt") {
            let target = to.join(&name);
            std::fs::copy(&path, &target).unwrap();
            let mut perms = std::fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)] // a copy of a read-only fixture must be writable
            perms.set_readonly(false);
            std::fs::set_permissions(&target, perms).unwrap();
        }
    }
}

/// Deterministic xorshift64, for seeded random test schedules (the crash tests).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
