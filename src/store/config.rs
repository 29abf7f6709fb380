//! [`StoreConfig`]: store-wide settings with Kafka's broker keys, and how
//! they become each topic's defaults (SPEC §5: a topic override wins; else
//! the first broker synonym that is set, hours and minutes converted to ms;
//! else Kafka's default).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cleaner::CleanerOptions;
use crate::clock::{Clock, SystemClock};
use crate::config::LogConfig;
use crate::error::{Error, Result};

/// Topic key ← its broker synonyms in precedence order, with the factor that
/// converts each to the topic key's unit.
const SYNONYMS: &[(&str, &[(&str, i64)])] = &[
    ("segment.bytes", &[("log.segment.bytes", 1)]),
    ("segment.ms", &[("log.roll.ms", 1), ("log.roll.hours", 3_600_000)]),
    ("segment.jitter.ms", &[("log.roll.jitter.ms", 1), ("log.roll.jitter.hours", 3_600_000)]),
    ("segment.index.bytes", &[("log.index.size.max.bytes", 1)]),
    ("index.interval.bytes", &[("log.index.interval.bytes", 1)]),
    ("flush.messages", &[("log.flush.interval.messages", 1)]),
    ("flush.ms", &[("log.flush.interval.ms", 1), ("log.flush.scheduler.interval.ms", 1)]),
    ("retention.bytes", &[("log.retention.bytes", 1)]),
    ("retention.ms", &[("log.retention.ms", 1), ("log.retention.minutes", 60_000), ("log.retention.hours", 3_600_000)]),
    ("max.message.bytes", &[("message.max.bytes", 1)]),
    ("file.delete.delay.ms", &[("log.segment.delete.delay.ms", 1)]),
    ("cleanup.policy", &[("log.cleanup.policy", 1)]),
    ("delete.retention.ms", &[("log.cleaner.delete.retention.ms", 1)]),
    ("min.compaction.lag.ms", &[("log.cleaner.min.compaction.lag.ms", 1)]),
    ("max.compaction.lag.ms", &[("log.cleaner.max.compaction.lag.ms", 1)]),
    ("min.cleanable.dirty.ratio", &[("log.cleaner.min.cleanable.ratio", 1)]),
    ("compression.type", &[("compression.type", 1)]),
    ("message.timestamp.type", &[("log.message.timestamp.type", 1)]),
    ("message.timestamp.before.max.ms", &[("log.message.timestamp.before.max.ms", 1)]),
    ("message.timestamp.after.max.ms", &[("log.message.timestamp.after.max.ms", 1)]),
];

/// Broker keys with no topic counterpart, and their defaults.
const BROKER_ONLY: &[(&str, &str)] = &[
    ("num.partitions", "1"),
    ("offsets.topic.num.partitions", "1"),
    ("offsets.retention.minutes", "10080"),
    ("offsets.retention.check.interval.ms", "600000"),
    ("log.retention.check.interval.ms", "300000"),
    ("log.flush.offset.checkpoint.interval.ms", "60000"),
    ("log.flush.start.offset.checkpoint.interval.ms", "60000"),
    ("auto.create.topics.enable", "true"),
    ("log.cleaner.enable", "true"),
    ("log.cleaner.threads", "1"),
    ("log.cleaner.backoff.ms", "15000"),
    ("log.cleaner.dedupe.buffer.size", "134217728"),
    ("log.cleaner.io.buffer.load.factor", "0.9"),
    ("log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308"),
];

/// Broker keys whose values are decimal numbers.
const DECIMAL_KEYS: &[&str] = &["log.cleaner.io.buffer.load.factor", "log.cleaner.io.max.bytes.per.second"];

/// Where a topic's effective value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// Kafka's default.
    Default,
    /// A store-wide setting, by its broker key.
    Store(String),
    /// An override on the topic.
    Topic,
}

/// One row of `describe_configs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The topic-level key.
    pub key: String,
    /// The effective value.
    pub value: String,
    /// Where it comes from.
    pub source: ConfigSource,
}

/// Store-wide settings: Kafka broker keys (`log.segment.bytes`,
/// `log.retention.hours`, `num.partitions`, ...) and the store's clock.
///
/// ```
/// use topiclog::StoreConfig;
/// let config = StoreConfig::new().set("log.retention.hours", "24")?.set("num.partitions", "3")?;
/// assert_eq!(config.topic_defaults()?.retention_ms, 86_400_000);
/// assert_eq!(config.default_partitions(), 3);
/// // The same settings, typed:
/// let typed = StoreConfig::new().log_retention_hours(24).num_partitions(3);
/// assert_eq!(typed.topic_defaults()?.retention_ms, 86_400_000);
/// # Ok::<(), topiclog::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct StoreConfig {
    values: BTreeMap<String, String>,
    clock: Arc<dyn Clock>,
    maintenance: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { values: BTreeMap::new(), clock: Arc::new(SystemClock), maintenance: true }
    }
}

impl StoreConfig {
    /// Kafka's broker defaults, the system clock, background maintenance on.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every broker key the store understands.
    pub fn keys() -> impl Iterator<Item = &'static str> {
        SYNONYMS.iter().flat_map(|(_, s)| s.iter().map(|(k, _)| *k)).chain(BROKER_ONLY.iter().map(|(k, _)| *k))
    }

    /// Sets a broker key; an unknown key or invalid value is an error naming it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the key, for an unknown broker key or a value that is not
    /// valid for it.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        self.values.insert(key.to_string(), value.trim().to_string());
        if !Self::keys().any(|k| k == key) {
            return Err(invalid(key, value, "unknown broker configuration key"));
        }
        // Validate by deriving what it affects.
        if let Some((_, default)) = BROKER_ONLY.iter().find(|(k, _)| *k == key) {
            let ok = if *default == "true" {
                matches!(value.trim(), "true" | "false")
            } else if DECIMAL_KEYS.contains(&key) {
                self.decimal(key).is_some_and(|n| n > 0.0)
            } else {
                self.number(key).is_some_and(|n| n >= 0)
            };
            let zero_partitions = (key == "num.partitions" || key == "offsets.topic.num.partitions")
                && self.number(key).is_some_and(|n| n == 0);
            if !ok || zero_partitions {
                return Err(invalid(key, value, "not a valid value"));
            }
            if matches!(
                key,
                "log.cleaner.threads" | "offsets.retention.minutes" | "offsets.retention.check.interval.ms"
            ) && self.number(key).unwrap_or(1) < 1
            {
                return Err(invalid(key, value, "at least 1"));
            }
            if key == "offsets.retention.minutes" && self.number(key).is_some_and(|n| n > i64::from(i32::MAX)) {
                // An int in Kafka.
                return Err(invalid(key, value, "at most 2147483647"));
            }
            if key.starts_with("log.cleaner.") {
                self.cleaner_options().validate().map_err(|e| match e {
                    Error::InvalidConfig { reason, .. } => invalid(key, value, &reason),
                    other => other,
                })?;
                // Kafka's own rule: more than 1 MiB of map per cleaner thread.
                let threads = self.number("log.cleaner.threads").unwrap_or(1).max(1);
                if self.number("log.cleaner.dedupe.buffer.size").unwrap_or(0) / threads <= 1 << 20 {
                    return Err(invalid(
                        key,
                        value,
                        "log.cleaner.dedupe.buffer.size must be over 1 MiB per cleaner thread",
                    ));
                }
            }
        } else {
            self.topic_defaults().map_err(|e| match e {
                Error::InvalidConfig { reason, .. } => invalid(key, value, &reason),
                other => other,
            })?;
        }
        Ok(self)
    }

    /// Checks every value set, as [`StoreConfig::set`] checks each (values
    /// given through the typed builders are checked here).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first key whose value is invalid.
    pub fn validate(&self) -> Result<()> {
        for (key, value) in &self.values {
            self.clone().set(key, value)?;
        }
        self.topic_defaults().map(drop)
    }

    /// Parses broker properties text (`key=value` lines, `#` comments).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a line that is not `key=value`, or as [`StoreConfig::set`] for
    /// its key and value.
    pub fn from_properties(text: &str) -> Result<Self> {
        let mut config = Self::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        {
            let (k, v) = line.split_once('=').ok_or_else(|| invalid(line, "", "expected key=value"))?;
            config = config.set(k.trim(), v.trim())?;
        }
        Ok(config)
    }

    /// Uses `clock` for timestamps, rolling, retention and maintenance.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Turns the background maintenance thread on (default) or off.
    #[must_use]
    pub fn maintenance(mut self, enabled: bool) -> Self {
        self.maintenance = enabled;
        self
    }

    pub(crate) fn clock_handle(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    pub(crate) fn maintenance_enabled(&self) -> bool {
        self.maintenance
    }

    /// The value set for a broker key, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    fn number(&self, key: &str) -> Option<i64> {
        let text = self
            .values
            .get(key)
            .map(String::as_str)
            .or_else(|| BROKER_ONLY.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))?;
        text.trim().parse().ok()
    }

    fn decimal(&self, key: &str) -> Option<f64> {
        let text = self
            .values
            .get(key)
            .map(String::as_str)
            .or_else(|| BROKER_ONLY.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))?;
        text.trim().parse().ok().filter(|v: &f64| v.is_finite())
    }

    /// `log.cleaner.enable`: whether maintenance cleans compacted topics (default true).
    #[must_use]
    pub fn cleaner_enabled(&self) -> bool {
        self.values.get("log.cleaner.enable").is_none_or(|v| v == "true")
    }

    /// `log.cleaner.backoff.ms`: the pause between cleaner runs (default 15000).
    #[must_use]
    pub fn cleaner_backoff_ms(&self) -> i64 {
        self.number("log.cleaner.backoff.ms").unwrap_or(15_000)
    }

    /// The cleaner's settings: `log.cleaner.dedupe.buffer.size` (divided
    /// among `log.cleaner.threads`), `log.cleaner.io.buffer.load.factor`,
    /// `log.cleaner.io.max.bytes.per.second`.
    #[must_use]
    pub fn cleaner_options(&self) -> CleanerOptions {
        let threads = self.number("log.cleaner.threads").unwrap_or(1).max(1);
        let memory = self.number("log.cleaner.dedupe.buffer.size").unwrap_or(128 << 20) / threads;
        CleanerOptions::new()
            .dedupe_buffer_size(usize::try_from(memory).unwrap_or(usize::MAX))
            .load_factor(self.decimal("log.cleaner.io.buffer.load.factor").unwrap_or(0.9))
            .io_max_bytes_per_second(self.decimal("log.cleaner.io.max.bytes.per.second").unwrap_or(f64::MAX))
    }

    /// `num.partitions`: partitions of topics created without a count (default 1).
    #[must_use]
    pub fn default_partitions(&self) -> u32 {
        self.number("num.partitions").and_then(|n| u32::try_from(n).ok()).unwrap_or(1)
    }

    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`
    /// (default 1 for an embedded store; Kafka's default is 50, and with 50
    /// each group's partition is the one Kafka would choose).
    #[must_use]
    pub fn offsets_topic_partitions(&self) -> u32 {
        self.number("offsets.topic.num.partitions").and_then(|n| u32::try_from(n).ok()).filter(|&n| n > 0).unwrap_or(1)
    }

    /// `offsets.retention.minutes` in ms (default 10080 minutes, 7 days):
    /// how long a committed offset of a group without members is kept (see
    /// [`crate::Store::expire_committed_offsets`]).
    #[must_use]
    pub fn offsets_retention_ms(&self) -> i64 {
        self.number("offsets.retention.minutes").unwrap_or(10_080).saturating_mul(60_000)
    }

    /// `offsets.retention.check.interval.ms` (default 600000): how often the
    /// background maintenance expires committed offsets.
    #[must_use]
    pub fn offsets_retention_check_ms(&self) -> i64 {
        self.number("offsets.retention.check.interval.ms").unwrap_or(600_000)
    }

    /// `log.retention.check.interval.ms` (default 300000).
    #[must_use]
    pub fn retention_check_interval_ms(&self) -> i64 {
        self.number("log.retention.check.interval.ms").unwrap_or(300_000)
    }

    /// `log.flush.offset.checkpoint.interval.ms` (default 60000).
    #[must_use]
    pub fn checkpoint_interval_ms(&self) -> i64 {
        self.number("log.flush.offset.checkpoint.interval.ms").unwrap_or(60_000)
    }

    /// `auto.create.topics.enable` (default true).
    #[must_use]
    pub fn auto_create_topics(&self) -> bool {
        self.values.get("auto.create.topics.enable").is_none_or(|v| v == "true")
    }

    /// Each topic key's store-wide value and the broker key it came from.
    fn store_values(&self) -> Result<Vec<(&'static str, String, String)>> {
        let mut out = Vec::new();
        for (topic_key, synonyms) in SYNONYMS {
            let Some((broker_key, factor)) = synonyms.iter().find(|(k, _)| self.values.contains_key(*k)) else {
                continue;
            };
            let Some(raw) = self.values.get(*broker_key) else { continue };
            let value = if *factor == 1 {
                raw.clone()
            } else {
                let n: i64 = raw.parse().map_err(|_| invalid(broker_key, raw, "not a whole number"))?;
                n.saturating_mul(*factor).to_string()
            };
            // Kafka turns any negative broker retention into -1 (forever).
            let value = if *topic_key == "retention.ms" && value.starts_with('-') { "-1".to_string() } else { value };
            out.push((*topic_key, value, broker_key.to_string()));
        }
        Ok(out)
    }

    /// The configuration a topic without overrides gets.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the broker key when a store value does not give a valid
    /// topic setting, or when the settings together fail [`LogConfig::validate`].
    pub fn topic_defaults(&self) -> Result<LogConfig> {
        let mut config = LogConfig::default();
        for (key, value, broker_key) in self.store_values()? {
            config.apply(key, &value).map_err(|e| match e {
                Error::InvalidConfig { reason, .. } => invalid(&broker_key, &value, &reason),
                other => other,
            })?;
        }
        config.validate()?;
        Ok(config)
    }

    /// The effective configuration of a topic with `overrides`, with each
    /// value's source.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] as [`StoreConfig::topic_defaults`], or for an override with an
    /// unknown topic key or an invalid value, or when the result fails [`LogConfig::validate`].
    pub fn resolve(&self, overrides: &BTreeMap<String, String>) -> Result<(LogConfig, Vec<ConfigEntry>)> {
        let mut config = self.topic_defaults()?;
        for (k, v) in overrides {
            config.apply(k, v)?;
        }
        config.validate()?;
        let store = self.store_values()?;
        let entries = LogConfig::KEYS
            .iter()
            .map(|key| {
                let source = if overrides.contains_key(*key) {
                    ConfigSource::Topic
                } else if let Some((_, _, broker)) = store.iter().find(|(k, _, _)| k == key) {
                    ConfigSource::Store(broker.clone())
                } else {
                    ConfigSource::Default
                };
                ConfigEntry { key: key.to_string(), value: config.get(key).unwrap_or_default(), source }
            })
            .collect();
        Ok((config, entries))
    }
}

fn invalid(key: &str, value: &str, reason: &str) -> Error {
    Error::InvalidConfig { key: key.to_string(), value: value.to_string(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_synonyms_and_precedence() {
        let c = StoreConfig::new().set("log.retention.hours", "1").unwrap();
        assert_eq!(c.topic_defaults().unwrap().retention_ms, 3_600_000);
        let c = c.set("log.retention.minutes", "2").unwrap();
        assert_eq!(c.topic_defaults().unwrap().retention_ms, 120_000, "minutes win over hours");
        let c = c.set("log.retention.ms", "5").unwrap();
        assert_eq!(c.topic_defaults().unwrap().retention_ms, 5, "ms wins over minutes");
        let c = StoreConfig::new().set("log.retention.hours", "-5").unwrap();
        assert_eq!(c.topic_defaults().unwrap().retention_ms, -1);
        let overrides = BTreeMap::from([("retention.ms".to_string(), "42".to_string())]);
        let (config, entries) =
            StoreConfig::new().set("log.segment.bytes", "1048576").unwrap().resolve(&overrides).unwrap();
        assert_eq!((config.retention_ms, config.segment_bytes), (42, 1_048_576));
        let source = |k: &str| entries.iter().find(|e| e.key == k).unwrap().source.clone();
        assert_eq!(source("retention.ms"), ConfigSource::Topic);
        assert_eq!(source("segment.bytes"), ConfigSource::Store("log.segment.bytes".into()));
        assert_eq!(source("cleanup.policy"), ConfigSource::Default);
    }

    #[test]
    fn bad_values_are_named() {
        for (k, v) in [
            ("log.segment.bytes", "3"),
            ("log.roll.hours", "x"),
            ("num.partitions", "0"),
            ("no.such", "1"),
            ("auto.create.topics.enable", "yes"),
            ("offsets.retention.minutes", "0"),
            ("offsets.retention.minutes", "2147483648"),
            ("offsets.retention.check.interval.ms", "0"),
        ] {
            match StoreConfig::new().set(k, v) {
                Err(Error::InvalidConfig { key, .. }) => assert_eq!(key, k),
                other => panic!("{k}={v}: {other:?}"),
            }
        }
    }
}

/// Typed builders, one per broker key, named after the key (dots become
/// underscores). Each stores the value's text form, as [`StoreConfig::set`]
/// does; [`StoreConfig::validate`] (run by [`crate::Store::open`]) checks
/// them the same way `set` does.
macro_rules! store_builders {
    ($( $name:ident: $ty:ty => $key:literal, $doc:literal; )*) => {
        impl StoreConfig {
            $(
                #[doc = concat!("`", $key, "`: ", $doc)]
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.values.insert($key.to_string(), crate::config::ConfigValue::render(&value));
                    self
                }
            )*
        }
    };
}

store_builders! {
    num_partitions: u32 => "num.partitions", "partitions of a topic created with 0 or auto-created (default 1).";
    offsets_topic_num_partitions: u32 => "offsets.topic.num.partitions", "partitions of `__consumer_offsets` (default 1; Kafka's is 50).";
    offsets_retention_minutes: i64 => "offsets.retention.minutes", "how long committed offsets of a group without members are kept (default 7 days).";
    offsets_retention_check_interval_ms: i64 => "offsets.retention.check.interval.ms", "how often expired offsets are looked for (default 10 minutes).";
    log_retention_check_interval_ms: i64 => "log.retention.check.interval.ms", "how often maintenance applies retention (default 5 minutes).";
    log_flush_offset_checkpoint_interval_ms: i64 => "log.flush.offset.checkpoint.interval.ms", "how often the recovery-point checkpoint is written (default 60 s).";
    log_flush_start_offset_checkpoint_interval_ms: i64 => "log.flush.start.offset.checkpoint.interval.ms", "how often the log-start checkpoint is written (default 60 s).";
    auto_create_topics_enable: bool => "auto.create.topics.enable", "whether `Store::topic` creates a missing topic (default true).";
    log_cleaner_enable: bool => "log.cleaner.enable", "whether maintenance compacts topics with `cleanup.policy` compact (default true).";
    log_cleaner_threads: u32 => "log.cleaner.threads", "cleaner threads; the dedupe buffer is split between them (default 1).";
    log_cleaner_backoff_ms: i64 => "log.cleaner.backoff.ms", "pause between cleaning passes (default 15 s).";
    log_cleaner_dedupe_buffer_size: i64 => "log.cleaner.dedupe.buffer.size", "memory of the cleaner's offset map (default 128 MiB).";
    log_cleaner_io_buffer_load_factor: f64 => "log.cleaner.io.buffer.load.factor", "how full the offset map may get (default 0.9).";
    log_cleaner_io_max_bytes_per_second: f64 => "log.cleaner.io.max.bytes.per.second", "cleaner I/O throttle (default unlimited).";
    log_segment_bytes: i64 => "log.segment.bytes", "default `segment.bytes`.";
    log_roll_ms: i64 => "log.roll.ms", "default `segment.ms`.";
    log_roll_hours: i64 => "log.roll.hours", "default `segment.ms`, in hours.";
    log_roll_jitter_ms: i64 => "log.roll.jitter.ms", "default `segment.jitter.ms`.";
    log_roll_jitter_hours: i64 => "log.roll.jitter.hours", "default `segment.jitter.ms`, in hours.";
    log_index_size_max_bytes: i64 => "log.index.size.max.bytes", "default `segment.index.bytes`.";
    log_index_interval_bytes: i64 => "log.index.interval.bytes", "default `index.interval.bytes`.";
    log_flush_interval_messages: i64 => "log.flush.interval.messages", "default `flush.messages`.";
    log_flush_interval_ms: i64 => "log.flush.interval.ms", "default `flush.ms`.";
    log_flush_scheduler_interval_ms: i64 => "log.flush.scheduler.interval.ms", "default `flush.ms` when `log.flush.interval.ms` is unset.";
    log_retention_bytes: i64 => "log.retention.bytes", "default `retention.bytes`.";
    log_retention_ms: i64 => "log.retention.ms", "default `retention.ms`.";
    log_retention_minutes: i64 => "log.retention.minutes", "default `retention.ms`, in minutes.";
    log_retention_hours: i64 => "log.retention.hours", "default `retention.ms`, in hours.";
    message_max_bytes: i64 => "message.max.bytes", "default `max.message.bytes`.";
    log_segment_delete_delay_ms: i64 => "log.segment.delete.delay.ms", "default `file.delete.delay.ms`.";
    log_cleanup_policy: crate::config::CleanupPolicy => "log.cleanup.policy", "default `cleanup.policy`.";
    log_cleaner_delete_retention_ms: i64 => "log.cleaner.delete.retention.ms", "default `delete.retention.ms`.";
    log_cleaner_min_compaction_lag_ms: i64 => "log.cleaner.min.compaction.lag.ms", "default `min.compaction.lag.ms`.";
    log_cleaner_max_compaction_lag_ms: i64 => "log.cleaner.max.compaction.lag.ms", "default `max.compaction.lag.ms`.";
    log_cleaner_min_cleanable_ratio: f64 => "log.cleaner.min.cleanable.ratio", "default `min.cleanable.dirty.ratio`.";
    compression_type: crate::config::CompressionType => "compression.type", "default `compression.type`.";
    log_message_timestamp_type: crate::format::TimestampType => "log.message.timestamp.type", "default `message.timestamp.type`.";
    log_message_timestamp_before_max_ms: i64 => "log.message.timestamp.before.max.ms", "default `message.timestamp.before.max.ms`.";
    log_message_timestamp_after_max_ms: i64 => "log.message.timestamp.after.max.ms", "default `message.timestamp.after.max.ms`.";
}
