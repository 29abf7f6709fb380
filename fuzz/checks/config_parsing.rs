//! The `config_parsing` check, shared by the fuzz target
//! (`fuzz/fuzz_targets/config_parsing.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`).
//!
//! Arbitrary text (lossily decoded as UTF-8) goes through
//! [`LogConfig::from_properties`] and [`StoreConfig::from_properties`], and
//! each of its first lines, as a value, through [`TopicConfig::set`] for
//! every key of [`LogConfig::KEYS`] and [`StoreConfig::set`] for every key
//! of [`StoreConfig::keys`] (a line `key=value` is also tried as that pair).
//!
//! Checked: nothing panics; every refusal is [`Error::InvalidConfig`]; a
//! parsed [`LogConfig`] validates, prints every key, and round-trips through
//! its properties; a value one key accepts sets the same value on a
//! [`LogConfig`] and prints back to itself; a [`StoreConfig`] that parsed or
//! took a value passes [`StoreConfig::validate`] (what `Store::open` runs)
//! and gives topic defaults.

use topiclog::{Error, LogConfig, StoreConfig, TopicConfig};

/// Lines of the input tried one by one as values.
pub const MAX_LINES: usize = 8;

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_log_config(&text);
    check_store_config(&text);
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(MAX_LINES) {
        for key in LogConfig::KEYS {
            check_topic_value(key, line);
        }
        for key in StoreConfig::keys() {
            check_store_value(key, line);
        }
        if let Some((key, value)) = line.split_once('=') {
            check_topic_value(key, value);
            check_store_value(key, value);
        }
    }
}

fn invalid_config(what: &str, e: Error) {
    assert!(matches!(e, Error::InvalidConfig { .. }), "{what}: not InvalidConfig: {e:?}");
}

fn check_log_config(text: &str) {
    let config = match LogConfig::from_properties(text) {
        Ok(c) => c,
        Err(e) => return invalid_config("LogConfig::from_properties", e),
    };
    if let Err(e) = config.validate() {
        panic!("parsed config fails validate: {e}\n{config:?}");
    }
    for key in LogConfig::KEYS {
        let Some(value) = config.get(key) else { panic!("parsed config has no value for {key}") };
        match LogConfig::new().set(key, &value) {
            Ok(c) => assert!(c.get(key).as_deref() == Some(value.as_str()), "{key}={value} set back differently"),
            Err(e) => panic!("{key}={value}, as printed, is refused: {e}"),
        }
    }
    let printed = config.to_properties();
    match LogConfig::from_properties(&printed) {
        Ok(again) => assert!(again == config, "round trip changed the config:\n{printed}\n{again:?}\n{config:?}"),
        Err(e) => panic!("printed config does not parse: {e}\n{printed}"),
    }
}

fn check_store_config(text: &str) {
    let config = match StoreConfig::from_properties(text) {
        Ok(c) => c,
        Err(e) => return invalid_config("StoreConfig::from_properties", e),
    };
    if let Err(e) = config.validate() {
        panic!("parsed store config fails validate: {e}");
    }
    if let Err(e) = config.topic_defaults() {
        panic!("parsed store config gives no topic defaults: {e}");
    }
}

/// A value a topic key accepts is what a [`LogConfig`] takes and prints back.
fn check_topic_value(key: &str, value: &str) {
    let topic = match TopicConfig::new().set(key, value) {
        Ok(t) => t,
        Err(e) => {
            invalid_config("TopicConfig::set", e);
            // A [`LogConfig`] refuses it too.
            assert!(LogConfig::new().set(key, value).is_err(), "LogConfig takes {key}={value:?}, TopicConfig not");
            return;
        }
    };
    assert!(LogConfig::KEYS.contains(&key), "TopicConfig took unknown key {key:?}");
    let stored = topic.get(key).unwrap_or_else(|| panic!("TopicConfig lost {key}"));
    let config = match LogConfig::new().set(key, stored) {
        Ok(c) => c,
        Err(e) => panic!("{key}={stored:?} stored by TopicConfig is refused: {e}"),
    };
    let printed = config.get(key).unwrap();
    match LogConfig::new().set(key, &printed) {
        Ok(again) => assert!(again == config, "{key}={printed} (from {stored:?}) sets a different value"),
        Err(e) => panic!("{key}={printed} (from {stored:?}) is refused: {e}"),
    }
}

/// A value a broker key accepts leaves a valid store configuration.
fn check_store_value(key: &str, value: &str) {
    let config = match StoreConfig::new().set(key, value) {
        Ok(c) => c,
        Err(e) => return invalid_config("StoreConfig::set", e),
    };
    if let Err(e) = config.validate() {
        panic!("StoreConfig took {key}={value:?} but fails validate: {e}");
    }
    if let Err(e) = config.topic_defaults() {
        panic!("StoreConfig took {key}={value:?} but gives no topic defaults: {e}");
    }
}
