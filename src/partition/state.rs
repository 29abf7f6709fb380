//! The partition's own checkpoint, `topiclog.state`: log start offset,
//! recovery point and whether the last close was clean. Kafka keeps these in
//! data-directory files; a partition usable on its own keeps them beside its
//! segments (Kafka ignores the file). It also lists the segments' base
//! offsets as of its writing, so that a segment whose files vanish is
//! detected instead of becoming a silent gap. Text, written atomically.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::write_atomically;

/// File name of the partition state checkpoint.
pub const STATE_FILE: &str = "topiclog.state";

/// What a partition remembers across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PartitionState {
    pub log_start_offset: i64,
    pub recovery_point: i64,
    pub clean_shutdown: bool,
    /// Base offsets of the segments the log had (and of segments known to be
    /// missing); `None` in state files written before the list existed.
    pub segments: Option<Vec<i64>>,
    /// Where the cleaner's next pass starts, once the log has been cleaned.
    pub first_dirty_offset: Option<i64>,
}

pub(crate) fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

impl PartitionState {
    /// Reads the state file; `None` when there is none (a new directory, or
    /// one written by Kafka).
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = state_path(dir);
        let corrupt = |problem: String| Error::CorruptState { path: path.clone(), problem };
        let Some(bytes) = crate::fsutil::read_if_present(&path)? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|e| corrupt(format!("not UTF-8 text: {e}")))?;
        let mut lines = text.lines();
        if lines.next() != Some("version 0") {
            return Err(corrupt("expected \"version 0\" on the first line".into()));
        }
        let mut state = PartitionState::default();
        let (mut start, mut recovery, mut clean) = (false, false, false);
        for line in lines {
            let (key, value) = line.split_once(' ').ok_or_else(|| corrupt(format!("malformed line {line:?}")))?;
            let number = || value.parse::<i64>().map_err(|_| corrupt(format!("not a number in {line:?}")));
            match key {
                "log_start_offset" => (state.log_start_offset, start) = (number()?, true),
                "recovery_point" => (state.recovery_point, recovery) = (number()?, true),
                "clean_shutdown" => {
                    state.clean_shutdown = value == "true";
                    clean = true;
                }
                "first_dirty_offset" => state.first_dirty_offset = Some(number()?),
                "segments" => {
                    let bases: std::result::Result<Vec<i64>, _> = value.split_whitespace().map(str::parse).collect();
                    state.segments = Some(bases.map_err(|_| corrupt(format!("not a list of offsets in {line:?}")))?);
                }
                _ => return Err(corrupt(format!("unknown key in {line:?}"))),
            }
        }
        if !(start && recovery && clean) {
            return Err(corrupt("missing a field".into()));
        }
        Ok(Some(state))
    }

    /// Writes the state file atomically and durably.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let mut text = format!(
            "version 0\nlog_start_offset {}\nrecovery_point {}\nclean_shutdown {}\n",
            self.log_start_offset, self.recovery_point, self.clean_shutdown
        );
        if let Some(offset) = self.first_dirty_offset {
            text.push_str(&format!("first_dirty_offset {offset}\n"));
        }
        if let Some(bases) = &self.segments {
            let list: Vec<String> = bases.iter().map(i64::to_string).collect();
            text.push_str(&format!("segments {}\n", list.join(" ")));
        }
        write_atomically(&state_path(dir), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(PartitionState::read(dir.path()).unwrap(), None);
        let s = PartitionState {
            log_start_offset: 5,
            recovery_point: 9,
            clean_shutdown: true,
            segments: Some(vec![0, 7, 12]),
            first_dirty_offset: Some(7),
        };
        s.write(dir.path()).unwrap();
        assert_eq!(PartitionState::read(dir.path()).unwrap(), Some(s));
        std::fs::write(state_path(dir.path()), "version 0\nlog_start_offset x\n").unwrap();
        assert!(matches!(PartitionState::read(dir.path()), Err(Error::CorruptState { .. })));
    }
}
