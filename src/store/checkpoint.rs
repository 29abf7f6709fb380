//! Kafka's offset checkpoint files (`recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint`): version 0, an entry count, then
//! "topic partition offset" lines; written atomically.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fsutil::write_atomically;

/// Kafka's recovery-point checkpoint, at the data directory's root.
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// Kafka's log-start checkpoint, at the data directory's root.
pub const LOG_START_CHECKPOINT: &str = "log-start-offset-checkpoint";

/// Kafka's cleaner checkpoint (first dirty offset per compacted partition),
/// at the data directory's root.
pub const CLEANER_CHECKPOINT: &str = "cleaner-offset-checkpoint";

/// Writes `entries` (topic, partition, offset) in Kafka's format.
pub(crate) fn write(path: &Path, entries: &[(String, u32, i64)]) -> Result<()> {
    let mut text = format!("0\n{}\n", entries.len());
    for (topic, partition, offset) in entries {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    write_atomically(path, text.as_bytes())
}

/// Rewrites the checkpoint at `path` without the entries of `topic` (a
/// deleted topic, whose entries must not pass to a topic created again
/// under its name); a file without such entries is left alone.
pub(crate) fn forget_topic(path: &Path, topic: &str) -> Result<()> {
    let entries = read(path)?;
    if entries.iter().any(|(t, _, _)| t == topic) {
        let kept: Vec<_> = entries.into_iter().filter(|(t, _, _)| t != topic).collect();
        write(path, &kept)?;
    }
    Ok(())
}

/// Reads a checkpoint; a missing or empty file has no entries.
pub fn read(path: &Path) -> Result<Vec<(String, u32, i64)>> {
    let corrupt = |problem: String| Error::CorruptCheckpoint { path: path.to_owned(), problem };
    let Some(bytes) = crate::fsutil::read_if_present(path)? else {
        return Ok(Vec::new());
    };
    let text = String::from_utf8(bytes).map_err(|e| corrupt(format!("not UTF-8 text: {e}")))?;
    let mut lines = text.lines();
    match lines.next() {
        None => return Ok(Vec::new()),
        Some("0") => {}
        Some(v) => return Err(corrupt(format!("unsupported version {v:?}"))),
    }
    let count: usize =
        lines.next().and_then(|l| l.trim().parse().ok()).ok_or_else(|| corrupt("missing entry count".into()))?;
    let mut entries = Vec::with_capacity(count.min(1 << 16));
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [topic, partition, offset] = fields.as_slice() else {
            return Err(corrupt(format!("malformed line {line:?}")));
        };
        let partition = partition.parse().map_err(|_| corrupt(format!("bad partition in {line:?}")))?;
        let offset = offset.parse().map_err(|_| corrupt(format!("bad offset in {line:?}")))?;
        entries.push((topic.to_string(), partition, offset));
    }
    if entries.len() != count {
        return Err(corrupt(format!("header says {count} entries, found {}", entries.len())));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_kafka_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let entries = vec![("orders".to_string(), 0, 1523), ("orders".to_string(), 1, 1498)];
        write(&path, &entries).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0\n2\norders 0 1523\norders 1 1498\n");
        assert_eq!(read(&path).unwrap(), entries);
        std::fs::write(&path, "0\n3\norders 0 1\n").unwrap();
        assert!(matches!(read(&path), Err(Error::CorruptCheckpoint { .. })));
        let kafka = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures/kafka-real/kafka-2.7.1-source-build-zk/recovery-point-offset-checkpoint");
        if kafka.exists() {
            assert!(!read(&kafka).unwrap().is_empty());
        }
    }
}
