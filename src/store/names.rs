//! Topic names (Kafka's rules) and partition directory names.

use crate::error::{Error, Result};

/// Longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks a topic name: 1-249 characters from `[a-zA-Z0-9._-]`, not `.` or
/// `..`. Nothing that passes can leave the data directory.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidTopicName { name: name.to_string(), reason: reason.to_string() };
    if name.is_empty() {
        return Err(bad("a topic name cannot be empty"));
    }
    if name == "." || name == ".." {
        return Err(bad("a topic name cannot be \".\" or \"..\""));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(bad(&format!("{} characters, more than the {MAX_TOPIC_NAME_LEN} allowed", name.len())));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(bad(&format!("character {c:?} is not allowed (only ASCII letters, digits, '.', '_' and '-')")));
    }
    Ok(())
}

/// `<topic>-<partition>`.
pub fn partition_dir_name(topic: &str, partition: u32) -> String {
    format!("{topic}-{partition}")
}

/// Splits a partition directory name at its last `-` (Kafka's rule).
pub fn parse_partition_dir_name(name: &str) -> Option<(&str, u32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((topic, partition.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        for ok in ["orders", "a", "my.topic_1-x", &"x".repeat(249)] {
            validate_topic_name(ok).unwrap();
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", "ü", &"x".repeat(250), "a\\b", "a\0"] {
            assert!(matches!(validate_topic_name(bad), Err(Error::InvalidTopicName { .. })), "{bad:?}");
        }
    }

    #[test]
    fn partition_dir_names() {
        assert_eq!(parse_partition_dir_name("test_topic-143"), Some(("test_topic", 143)));
        assert_eq!(parse_partition_dir_name("my-topic-7"), Some(("my-topic", 7)));
        for bad in ["test_topic-1999a", "", "-1", "topic", "topic-"] {
            assert_eq!(parse_partition_dir_name(bad), None, "{bad:?}");
        }
        assert_eq!(partition_dir_name("orders", 2), "orders-2");
    }
}
