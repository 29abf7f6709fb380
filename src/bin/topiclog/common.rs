//! What the commands share: the error type, opening the store, Kafka-style
//! `key=value` properties, and output that tolerates a closed pipe.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use topiclog::{Store, StoreConfig};

/// A command's failure: one line for stderr.
#[derive(Debug)]
pub enum CliError {
    /// A message for the operator.
    Message(String),
    /// Standard output was closed (`| head`): stop quietly.
    BrokenPipe,
}

/// The result of a command step.
pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    /// An error with this message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::Message(message.into())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Message(m) => f.write_str(m),
            Self::BrokenPipe => f.write_str("standard output closed"),
        }
    }
}

impl From<topiclog::Error> for CliError {
    fn from(e: topiclog::Error) -> Self {
        Self::Message(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe { Self::BrokenPipe } else { Self::Message(e.to_string()) }
    }
}

/// Options every command sees.
#[derive(Debug, Clone)]
pub struct Global {
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--store-config`.
    pub store_config: Option<PathBuf>,
}

/// How a command uses the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only looks: the directory must exist already.
    Read,
    /// Changes topics or records; creates the directory when missing.
    Write,
}

/// An open store that is closed cleanly however the command ends: an error
/// part-way must not leave the directory looking like a crashed process
/// (preallocated indexes, `clean_shutdown false`).
pub struct OpenStore(Option<Store>);

impl std::ops::Deref for OpenStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        match &self.0 {
            Some(store) => store,
            // Only `close_store` and `drop` take the store out, and both consume the guard.
            None => unreachable!("store used after close"),
        }
    }
}

impl Drop for OpenStore {
    fn drop(&mut self) {
        if let Some(store) = self.0.take() {
            // An error is already being reported; this close is best effort.
            let _ = store.close();
        }
    }
}

/// Opens the data directory without background maintenance (a command is
/// short-lived: retention and cleaning are the owning service's business)
/// and without creating topics on first use (a misspelt name is an error).
///
/// A read command opens the store read-only ([`Store::open_read_only`]):
/// no file is created, changed or removed, not even after a crash of the
/// service that owns it. `dump-log` and `verify` read files only and never
/// open the store.
pub fn open_store(global: &Global, access: Access) -> CliResult<OpenStore> {
    let dir = &global.data_dir;
    if access == Access::Read && !dir.is_dir() {
        return Err(CliError::msg(format!("data directory {} does not exist", dir.display())));
    }
    let mut config = match &global.store_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::msg(format!("cannot read store config {}: {e}", path.display())))?;
            StoreConfig::from_properties(&text)?
        }
        None => StoreConfig::new(),
    };
    config = config.set("auto.create.topics.enable", "false")?.maintenance(false);
    let opened = match access {
        Access::Read => Store::open_read_only(dir, config),
        Access::Write => Store::open(dir, config),
    };
    match opened {
        Ok(store) => Ok(OpenStore(Some(store))),
        Err(e @ topiclog::Error::Locked { .. }) => {
            Err(CliError::msg(format!("{e} (another process, such as the service that owns it, has it open)")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Closes the store, reporting a failure to flush.
pub fn close_store(mut store: OpenStore) -> CliResult<()> {
    match store.0.take() {
        Some(s) => s.close().map_err(Into::into),
        None => Ok(()),
    }
}

/// Parses repeated `--property key=value` options; each key must be one of `known`.
pub fn parse_properties(items: &[String], known: &[&str]) -> CliResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in items {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| CliError::msg(format!("property '{item}' is not of the form key=value")))?;
        if !known.contains(&k) {
            return Err(CliError::msg(format!("unknown property '{k}' (known: {})", known.join(", "))));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// A `true`/`false` property.
pub fn bool_property(props: &BTreeMap<String, String>, key: &str) -> CliResult<bool> {
    match props.get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(CliError::msg(format!("property {key} must be true or false, not '{v}'"))),
    }
}

/// A separator property, with Kafka's escapes (`\t`, `\n`) understood.
pub fn separator_property(props: &BTreeMap<String, String>, key: &str, default: &str) -> String {
    props.get(key).map_or_else(|| default.to_string(), |v| v.replace("\\t", "\t").replace("\\n", "\n"))
}

/// The topic named, never created.
pub fn existing_topic(store: &Store, name: &str) -> CliResult<topiclog::Topic> {
    store.existing_topic(name).map_err(|_| CliError::msg(format!("topic '{name}' does not exist")))
}

/// `name` of a segment file (`00000000000000000042.log`) → its base offset.
pub fn base_offset_of(path: &Path) -> Option<i64> {
    let stem = path.file_name()?.to_str()?.split('.').next()?;
    if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Bytes shown as text: UTF-8 as is, other bytes escaped.
pub fn show_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.escape_ascii().to_string(),
    }
}
