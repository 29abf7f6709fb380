//! [`LogConfig`]: the topic-level settings of one partition log, with Kafka's
//! key names, defaults and validation, parsed from and printed to Kafka-style
//! `key=value` properties.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::format::{Compression, TimestampType};

/// `cleanup.policy`: what happens to old data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CleanupPolicy {
    /// Retention deletes old segments (Kafka's default).
    #[default]
    Delete,
    /// Old records are compacted by key: the cleaner keeps at least the
    /// latest record of every key (and tombstones until their delete
    /// horizon); time and size retention are not applied.
    Compact,
    /// Both `compact,delete`.
    CompactDelete,
}

impl CleanupPolicy {
    /// Whether time and size retention apply.
    #[must_use]
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }

    /// Whether records are compacted by key.
    #[must_use]
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        })
    }
}

impl FromStr for CleanupPolicy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (mut compact, mut delete) = (false, false);
        for part in s.split(',').map(|p| p.trim().to_ascii_lowercase()) {
            match part.as_str() {
                "compact" => compact = true,
                "delete" => delete = true,
                other => return Err(format!("unknown policy {other:?} (expected delete, compact or both)")),
            }
        }
        match (compact, delete) {
            (true, true) => Ok(CleanupPolicy::CompactDelete),
            (true, false) => Ok(CleanupPolicy::Compact),
            (false, true) => Ok(CleanupPolicy::Delete),
            (false, false) => Err("empty policy".into()),
        }
    }
}

/// `compression.type`: the codec of batches the log writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressionType {
    /// Keep what the producer sent (records appended as `Record`s are written uncompressed).
    #[default]
    Producer,
    /// Always write this codec (`uncompressed` is [`Compression::None`]).
    Codec(Compression),
}

impl CompressionType {
    /// The codec for batches the log encodes itself.
    #[must_use]
    pub fn codec(self) -> Compression {
        match self {
            CompressionType::Producer => Compression::None,
            CompressionType::Codec(c) => c,
        }
    }
}

impl fmt::Display for CompressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompressionType::Producer => f.write_str("producer"),
            CompressionType::Codec(Compression::None) => f.write_str("uncompressed"),
            CompressionType::Codec(c) => f.write_str(c.name()),
        }
    }
}

impl FromStr for CompressionType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "producer" => Ok(CompressionType::Producer),
            "uncompressed" => Ok(CompressionType::Codec(Compression::None)),
            name => match Compression::from_name(name) {
                Some(c) if c != Compression::None && c.is_enabled() => Ok(CompressionType::Codec(c)),
                Some(c) if c != Compression::None => Err(format!("codec {name} is disabled in this build")),
                _ => Err("expected uncompressed, zstd, lz4, snappy, gzip or producer".into()),
            },
        }
    }
}

/// A typed configuration value: parsed from and printed as Kafka's text.
pub(crate) trait ConfigValue: Sized {
    fn parse_value(s: &str) -> std::result::Result<Self, String>;
    fn render(&self) -> String;
}

impl ConfigValue for i64 {
    fn parse_value(s: &str) -> std::result::Result<Self, String> {
        s.trim().parse().map_err(|_| "not a whole number".to_string())
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for u32 {
    fn parse_value(s: &str) -> std::result::Result<Self, String> {
        s.trim().parse().map_err(|_| "not a whole number from 0 to 4294967295".to_string())
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for bool {
    fn parse_value(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("true or false".to_string()),
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for f64 {
    fn parse_value(s: &str) -> std::result::Result<Self, String> {
        s.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| "not a number".to_string())
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for TimestampType {
    fn parse_value(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "CreateTime" => Ok(TimestampType::CreateTime),
            "LogAppendTime" => Ok(TimestampType::LogAppendTime),
            _ => Err("expected CreateTime or LogAppendTime".into()),
        }
    }
    fn render(&self) -> String {
        self.name().to_string()
    }
}

impl ConfigValue for CleanupPolicy {
    fn parse_value(s: &str) -> std::result::Result<Self, String> {
        s.parse()
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for CompressionType {
    fn parse_value(s: &str) -> std::result::Result<Self, String> {
        s.trim().parse()
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

/// Defines the config struct once: field, Kafka key, type, default, valid
/// range check and its description, and the builder setter's doc.
macro_rules! log_config {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty = $default:expr, $key:literal, valid $check:expr, $valid:literal; )*) => {
        /// Topic-level settings of one partition log (SPEC §5.1), with
        /// Kafka's names and defaults. Build with the setters, or parse Kafka
        /// `key=value` properties with [`LogConfig::set`] /
        /// [`LogConfig::from_properties`].
        ///
        /// ```
        /// use topiclog::LogConfig;
        /// let config = LogConfig::new().segment_bytes(64 << 20).retention_ms(3_600_000);
        /// assert_eq!(config.get("segment.bytes").as_deref(), Some("67108864"));
        /// let parsed = LogConfig::from_properties("retention.ms=3600000\nsegment.bytes=67108864\n")?;
        /// assert_eq!(parsed, config);
        /// # Ok::<(), topiclog::Error>(())
        /// ```
        #[derive(Debug, Clone, PartialEq)]
        pub struct LogConfig {
            $( $(#[$doc])* pub $field: $ty, )*
        }

        impl crate::topic::TopicConfig {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $field(self, value: $ty) -> Self {
                    self.put($key, value.render())
                }
            )*
        }

        impl Default for LogConfig {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl LogConfig {
            /// Every key this config understands, in Kafka's spelling.
            pub const KEYS: &'static [&'static str] = &[$( $key, )*];

            $(
                $(#[$doc])*
                #[must_use]
                pub fn $field(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*

            /// Sets `key` from its text form, as in a Kafka properties file.
            ///
            /// ```
            /// use topiclog::LogConfig;
            /// let config = LogConfig::new().set("retention.ms", "3600000")?;
            /// assert_eq!(config.retention_ms, 3_600_000);
            /// assert!(LogConfig::new().set("retention.ms", "soon").is_err());
            /// # Ok::<(), topiclog::Error>(())
            /// ```
            ///
            /// # Errors
            ///
            /// [`Error::InvalidConfig`] naming the key and value for an unknown
            /// key, a value that does not parse, or one out of its range.
            pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
                self.apply(key, value)?;
                Ok(self)
            }

            /// [`LogConfig::set`] in place.
            pub(crate) fn apply(&mut self, key: &str, value: &str) -> Result<()> {
                let invalid = |reason: String| Error::InvalidConfig { key: key.to_string(), value: value.to_string(), reason };
                match key {
                    $( $key => {
                        let v: $ty = ConfigValue::parse_value(value).map_err(invalid)?;
                        let check: fn(&$ty) -> bool = $check;
                        if !check(&v) {
                            return Err(invalid(format!("must be {}", $valid)));
                        }
                        self.$field = v;
                    } )*
                    _ => return Err(invalid("unknown configuration key".to_string())),
                }
                Ok(())
            }

            /// The text form of `key`'s value, or `None` for an unknown key.
            #[must_use]
            pub fn get(&self, key: &str) -> Option<String> {
                match key {
                    $( $key => Some(self.$field.render()), )*
                    _ => None,
                }
            }

            /// Checks every value is in its valid range, and the cross-field rules.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidConfig`] naming the first key whose value is out of its valid range,
            /// or `min.compaction.lag.ms` when it exceeds `max.compaction.lag.ms`.
            pub fn validate(&self) -> Result<()> {
                $(
                    let check: fn(&$ty) -> bool = $check;
                    if !check(&self.$field) {
                        return Err(Error::InvalidConfig {
                            key: $key.to_string(),
                            value: self.$field.render(),
                            reason: format!("must be {}", $valid),
                        });
                    }
                )*
                if self.min_compaction_lag_ms > self.max_compaction_lag_ms {
                    return Err(Error::InvalidConfig {
                        key: "min.compaction.lag.ms".into(),
                        value: self.min_compaction_lag_ms.to_string(),
                        reason: format!("must not exceed max.compaction.lag.ms ({})", self.max_compaction_lag_ms),
                    });
                }
                Ok(())
            }
        }
    };
}

const NEVER: i64 = i64::MAX;

/// When a log fsyncs on its own, as a typed form of Kafka's `flush.messages`
/// and `flush.ms` (whose "never" is `i64::MAX`). Whatever the policy,
/// [`Partition::flush`](crate::Partition::flush) and `close` flush, and an
/// `append` that returned survives a crash of the process.
///
/// ```
/// use std::time::Duration;
/// use topiclog::{Durability, LogConfig, TopicConfig};
/// let config = LogConfig::new().durability(Durability::EveryAppend);
/// assert_eq!(config.flush_messages, 1);
/// let topic = TopicConfig::new().durability(Durability::Interval(Duration::from_secs(1)));
/// assert_eq!(topic.get("flush.ms"), Some("1000"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Only when asked (Kafka's default, which relies on replication).
    OnRequest,
    /// Before every append returns (`flush.messages=1`).
    EveryAppend,
    /// After this many records (`flush.messages=N`).
    EveryRecords(std::num::NonZeroU64),
    /// When the last flush is this old, checked on append and by the store's
    /// maintenance (`flush.ms`).
    Interval(std::time::Duration),
}

impl Durability {
    /// `(flush.messages, flush.ms)` for this policy.
    pub(crate) fn flush_settings(self) -> (i64, i64) {
        let clamp = |n: u128| i64::try_from(n).unwrap_or(NEVER);
        match self {
            Self::OnRequest => (NEVER, NEVER),
            Self::EveryAppend => (1, NEVER),
            Self::EveryRecords(n) => (clamp(u128::from(n.get())), NEVER),
            Self::Interval(every) => (NEVER, clamp(every.as_millis())),
        }
    }
}

log_config! {
    /// `segment.bytes`: roll a new segment before the active one would pass this size (default 1 GiB).
    segment_bytes: i64 = 1 << 30, "segment.bytes", valid |v| (14..=i64::from(i32::MAX)).contains(v), "between 14 and 2147483647";
    /// `segment.ms`: roll a segment this long after its first record (default 7 days).
    segment_ms: i64 = 604_800_000, "segment.ms", valid |v| *v >= 1, "at least 1";
    /// `segment.jitter.ms`: random reduction of `segment.ms`, drawn per segment (default 0).
    segment_jitter_ms: i64 = 0, "segment.jitter.ms", valid |v| *v >= 0, "at least 0";
    /// `segment.index.bytes`: preallocated size of each index file (default 10 MiB).
    segment_index_bytes: i64 = 10 * 1024 * 1024, "segment.index.bytes", valid |v| (12..=i64::from(i32::MAX)).contains(v), "between 12 and 2147483647";
    /// `index.interval.bytes`: bytes between offset-index entries (default 4096).
    index_interval_bytes: i64 = 4096, "index.interval.bytes", valid |v| (0..=i64::from(i32::MAX)).contains(v), "between 0 and 2147483647";
    /// `flush.messages`: fsync after this many records (default: never; Kafka relies on replication).
    flush_messages: i64 = NEVER, "flush.messages", valid |v| *v >= 1, "at least 1";
    /// `flush.ms`: fsync when the last flush is this old (default: never).
    flush_ms: i64 = NEVER, "flush.ms", valid |v| *v >= 0, "at least 0";
    /// `retention.bytes`: keep at most this many bytes per partition; -1 for no limit (default -1).
    retention_bytes: i64 = -1, "retention.bytes", valid |_| true, "any whole number";
    /// `retention.ms`: delete segments whose newest record is older; -1 keeps data forever (default 7 days).
    retention_ms: i64 = 604_800_000, "retention.ms", valid |v| *v >= -1, "at least -1";
    /// `max.message.bytes`: largest record batch accepted (default 1048588).
    max_message_bytes: i64 = 1_048_588, "max.message.bytes", valid |v| (0..=i64::from(i32::MAX)).contains(v), "between 0 and 2147483647";
    /// `file.delete.delay.ms`: how long deleted segments' files linger as `.deleted` (default 60000).
    file_delete_delay_ms: i64 = 60_000, "file.delete.delay.ms", valid |v| *v >= 0, "at least 0";
    /// `cleanup.policy`: `delete` (default), `compact` or `compact,delete`.
    cleanup_policy: CleanupPolicy = CleanupPolicy::Delete, "cleanup.policy", valid |_v| true, "delete, compact or compact,delete";
    /// `delete.retention.ms`: how long tombstones stay after compaction (default 1 day).
    delete_retention_ms: i64 = 86_400_000, "delete.retention.ms", valid |v| *v >= 0, "at least 0";
    /// `min.compaction.lag.ms`: records younger than this are not compacted (default 0).
    min_compaction_lag_ms: i64 = 0, "min.compaction.lag.ms", valid |v| *v >= 0, "at least 0";
    /// `max.compaction.lag.ms`: records older than this are compacted regardless (default: never).
    max_compaction_lag_ms: i64 = NEVER, "max.compaction.lag.ms", valid |v| *v >= 1, "at least 1";
    /// `min.cleanable.dirty.ratio`: compaction trigger (default 0.5).
    min_cleanable_dirty_ratio: f64 = 0.5, "min.cleanable.dirty.ratio", valid |v| (0.0..=1.0).contains(v), "between 0 and 1";
    /// `compression.type`: codec of batches the log writes (default `producer`).
    compression_type: CompressionType = CompressionType::Producer, "compression.type", valid |_| true, "a codec name or producer";
    /// `message.timestamp.type`: `CreateTime` (default) or `LogAppendTime`.
    message_timestamp_type: TimestampType = TimestampType::CreateTime, "message.timestamp.type", valid |_| true, "CreateTime or LogAppendTime";
    /// `message.timestamp.before.max.ms`: reject CreateTime records older than this (default: no limit).
    message_timestamp_before_max_ms: i64 = NEVER, "message.timestamp.before.max.ms", valid |v| *v >= 0, "at least 0";
    /// `message.timestamp.after.max.ms`: reject CreateTime records further in the future (default: no limit).
    message_timestamp_after_max_ms: i64 = NEVER, "message.timestamp.after.max.ms", valid |v| *v >= 0, "at least 0";
}

impl LogConfig {
    /// Flush policy: sets `flush.messages` and `flush.ms` for `durability`.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        (self.flush_messages, self.flush_ms) = durability.flush_settings();
        self
    }

    /// Kafka's defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses Kafka-style properties: one `key=value` per line, blank lines
    /// and `#` or `!` comments ignored; unset keys keep their defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a line that is not `key=value`, an unknown key, a value that
    /// does not parse or is out of range, or settings that together fail [`LogConfig::validate`].
    pub fn from_properties(text: &str) -> Result<Self> {
        let mut config = Self::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (key, value) = line.split_once('=').ok_or_else(|| Error::InvalidConfig {
                key: line.to_string(),
                value: String::new(),
                reason: "expected key=value".into(),
            })?;
            config.apply(key.trim(), value.trim())?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Every key with its value, in [`LogConfig::KEYS`] order.
    #[must_use]
    pub fn to_properties(&self) -> String {
        let mut out = String::new();
        for key in Self::KEYS {
            if let Some(v) = self.get(key) {
                out.push_str(key);
                out.push('=');
                out.push_str(&v);
                out.push('\n');
            }
        }
        out
    }

    /// The segment-level settings.
    pub(crate) fn segment_config(&self) -> crate::segment::SegmentConfig {
        crate::segment::SegmentConfig {
            index_interval_bytes: self.index_interval_bytes.max(0) as u64,
            max_index_size: self.segment_index_bytes.max(12) as u64,
            // Small segments reserve no more than they can hold.
            preallocate_bytes: (self.segment_bytes.max(0) as u64).min(crate::segment::DEFAULT_PREALLOCATE_BYTES),
        }
    }

    /// `segment.ms`, capped by `max.compaction.lag.ms` for compacted logs (Kafka's `maxSegmentMs`).
    #[must_use]
    pub fn max_segment_ms(&self) -> i64 {
        if self.cleanup_policy.compacts() && self.max_compaction_lag_ms > 0 {
            self.segment_ms.min(self.max_compaction_lag_ms)
        } else {
            self.segment_ms
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = LogConfig::default();
        assert_eq!(c.get("segment.bytes").as_deref(), Some("1073741824"));
        assert_eq!(c.get("retention.ms").as_deref(), Some("604800000"));
        assert_eq!(c.get("max.message.bytes").as_deref(), Some("1048588"));
        assert_eq!(c.get("cleanup.policy").as_deref(), Some("delete"));
        assert_eq!(c.get("compression.type").as_deref(), Some("producer"));
        assert_eq!(c.get("flush.messages").as_deref(), Some("9223372036854775807"));
        c.validate().unwrap();
    }

    #[test]
    fn properties_round_trip() {
        let c = LogConfig::new()
            .segment_bytes(1 << 20)
            .message_timestamp_type(TimestampType::LogAppendTime)
            .compression_type(CompressionType::Codec(Compression::None));
        assert_eq!(LogConfig::from_properties(&c.to_properties()).unwrap(), c);
    }

    #[test]
    fn invalid_values_name_the_key() {
        let c = LogConfig::default();
        for (k, v) in [
            ("segment.bytes", "10"),
            ("segment.bytes", "ten"),
            ("retention.ms", "-2"),
            ("cleanup.policy", "keep"),
            ("message.timestamp.type", "Now"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("compression.type", "brotli"),
            ("no.such.key", "1"),
        ] {
            match c.clone().set(k, v) {
                Err(Error::InvalidConfig { key, value, .. }) => assert_eq!((key.as_str(), value.as_str()), (k, v)),
                other => panic!("{k}={v}: {other:?}"),
            }
        }
        assert!(matches!(
            LogConfig::new().min_compaction_lag_ms(10).max_compaction_lag_ms(5).validate(),
            Err(Error::InvalidConfig { .. })
        ));
    }
}
