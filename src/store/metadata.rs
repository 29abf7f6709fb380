//! Topic metadata files, `topiclog-meta/<topic>.topic` (Kafka keeps this in
//! its controller): partition count, keyless strategy, config overrides, and
//! whether a deletion is under way. Written atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::MAX_PARTITIONS;
use super::names::validate_topic_name;
use crate::error::{Error, Result};
use crate::fsutil::{TEMP_SUFFIX, write_atomically};
use crate::partitioner::KeylessStrategy;

/// Folder of topic metadata files inside the data directory. Not a valid
/// partition directory name (it has no `-<number>` suffix).
pub const META_DIR: &str = "topiclog-meta";
const SUFFIX: &str = ".topic";

/// What the store remembers about a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicMeta {
    pub partitions: u32,
    pub keyless: KeylessStrategy,
    pub overrides: BTreeMap<String, String>,
    pub deleting: bool,
}

pub(crate) fn meta_path(data_dir: &Path, topic: &str) -> PathBuf {
    data_dir.join(META_DIR).join(format!("{topic}{SUFFIX}"))
}

impl TopicMeta {
    pub fn write(&self, data_dir: &Path, topic: &str) -> Result<()> {
        let dir = data_dir.join(META_DIR);
        refuse_symlink(&dir)?;
        crate::fsutil::create_dir_all(&dir)?;
        let mut text = format!("version=0\npartitions={}\ndeleting={}\n", self.partitions, self.deleting);
        match self.keyless {
            KeylessStrategy::Sticky { batch_bytes } => {
                text.push_str(&format!("keyless=sticky\nkeyless.sticky.bytes={batch_bytes}\n"))
            }
            KeylessStrategy::RoundRobin => text.push_str("keyless=round-robin\n"),
        }
        for (k, v) in &self.overrides {
            text.push_str(&format!("config.{k}={v}\n"));
        }
        write_atomically(&meta_path(data_dir, topic), text.as_bytes())
    }

    pub fn read(path: &Path) -> Result<Self> {
        let corrupt = |problem: String| Error::CorruptTopicMetadata { path: path.to_owned(), problem };
        let bytes = crate::fsutil::read_if_present(path)?
            .ok_or_else(|| Error::io("read", path, std::io::Error::from(std::io::ErrorKind::NotFound)))?;
        let text = String::from_utf8(bytes).map_err(|e| corrupt(format!("not UTF-8 text: {e}")))?;
        let mut meta = TopicMeta {
            partitions: 0,
            keyless: KeylessStrategy::default(),
            overrides: BTreeMap::new(),
            deleting: false,
        };
        let (mut sticky, mut round_robin, mut sticky_bytes) = (false, false, None);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line.split_once('=').ok_or_else(|| corrupt(format!("malformed line {line:?}")))?;
            match k {
                "version" if v == "0" => {}
                "partitions" => {
                    meta.partitions = v.parse().map_err(|_| corrupt(format!("bad partition count {v:?}")))?;
                    if meta.partitions > MAX_PARTITIONS {
                        return Err(corrupt(format!("{v} partitions, more than the {MAX_PARTITIONS} allowed")));
                    }
                }
                "deleting" => meta.deleting = v == "true",
                "keyless" => (sticky, round_robin) = (v == "sticky", v == "round-robin"),
                "keyless.sticky.bytes" => {
                    sticky_bytes = Some(v.parse().map_err(|_| corrupt(format!("bad bytes {v:?}")))?)
                }
                _ => match k.strip_prefix("config.") {
                    Some(key) => {
                        meta.overrides.insert(key.to_string(), v.to_string());
                    }
                    None => return Err(corrupt(format!("unknown line {line:?}"))),
                },
            }
        }
        if round_robin {
            meta.keyless = KeylessStrategy::RoundRobin;
        } else if let (true, Some(batch_bytes)) = (sticky, sticky_bytes) {
            meta.keyless = KeylessStrategy::Sticky { batch_bytes };
        }
        if meta.partitions == 0 {
            return Err(corrupt("no partition count".into()));
        }
        Ok(meta)
    }

    /// Every `(topic, metadata file)` in the data directory. Files whose
    /// name is not a valid topic name followed by `.topic` are not topiclog's:
    /// they are left alone and not listed. With `remove_leftovers`, temporary
    /// files of writes a crash cut short are removed.
    ///
    /// A metadata directory that is a symbolic link is refused
    /// ([`Error::Symlink`]): topic creation writes into it.
    pub fn list(data_dir: &Path, remove_leftovers: bool) -> Result<Vec<(String, PathBuf)>> {
        let dir = data_dir.join(META_DIR);
        refuse_symlink(&dir)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list directory", &dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list directory", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(topic) = name.strip_suffix(SUFFIX) {
                if validate_topic_name(topic).is_ok() {
                    out.push((topic.to_string(), entry.path()));
                }
            } else if remove_leftovers && name.ends_with(TEMP_SUFFIX) {
                // A write cut short by a crash: the previous version stands.
                let _ = crate::fsutil::remove_file_if_present(&entry.path());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// [`Error::Symlink`] when `path` is a symbolic link; a missing path is fine.
fn refuse_symlink(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(Error::Symlink { path: path.to_owned() }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}
