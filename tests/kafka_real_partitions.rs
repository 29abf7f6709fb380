//! Real Kafka partition directories open as `Partition`s (copied, since
//! opening recovers and rewrites indexes) and every record reads back equal
//! to the dumps; `offset_for_timestamp` agrees with them.

mod common;

use topiclog::{LogConfig, Partition};

/// (offset, timestamp, key length, value length, headers) of a record.
type Expected = (i64, i64, i64, i64, usize);

#[test]
fn kafka_partition_directories_read_back_as_their_dumps() {
    let Some(root) = common::kafka_real_dir() else { return };
    let mut dirs: Vec<_> = common::files_under(&root, &|n| n.ends_with(".log"))
        .into_iter()
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    dirs.sort();
    dirs.dedup();
    assert!(dirs.len() >= 15, "partition directories found: {}", dirs.len());
    let (mut records_checked, mut lookups) = (0usize, 0usize);
    for dir in &dirs {
        let ctx = dir.display().to_string();
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join(dir.file_name().unwrap());
        common::copy_fixture_dir(dir, &copy);

        let mut expected: Vec<Expected> = Vec::new();
        let mut logs = common::files_under(dir, &|n| n.ends_with(".log"));
        logs.sort();
        for log in &logs {
            for batch in common::read_log_dump(&common::dump_path(log)) {
                if batch.text("control") == "True" {
                    continue;
                }
                for r in batch.records {
                    expected.push((r.offset, r.timestamp, r.key_length, r.value_length, r.headers));
                }
            }
        }

        let p = Partition::open(&copy, LogConfig::default()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let reports = p.recovery_reports();
        assert!(reports.iter().all(|r| r.truncated_bytes == 0), "{ctx}: recovery cut Kafka's data: {reports:?}");
        let got: Vec<Expected> = p
            .read_from(p.log_start_offset())
            .unwrap()
            .map(|r| {
                let r = r.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                let len = |b: Option<&[u8]>| b.map_or(-1, |b| b.len() as i64);
                (r.offset(), r.timestamp(), len(r.key()), len(r.value()), r.headers().len())
            })
            .collect();
        assert_eq!(got, expected, "{ctx}");
        let last_batch_end = logs
            .iter()
            .flat_map(|l| common::read_log_dump(&common::dump_path(l)))
            .map(|b| b.int("lastOffset") + 1)
            .max();
        if let Some(end) = last_batch_end {
            assert_eq!(p.log_end_offset(), end, "{ctx}: log end offset");
        }

        // Lookups by time, where timestamps never go down.
        if expected.windows(2).all(|w| w[0].1 <= w[1].1) {
            for &(_, ts, ..) in expected.iter().step_by((expected.len() / 100).max(1)) {
                let want = expected.iter().find(|r| r.1 >= ts).map(|r| r.0);
                assert_eq!(p.offset_for_timestamp(ts).unwrap().map(|e| e.offset), want, "{ctx}: {ts}");
                lookups += 1;
            }
        }
        records_checked += got.len();
        p.close().unwrap();
        // Reopened cleanly, nothing changes.
        let p = Partition::open(&copy, LogConfig::default()).unwrap();
        assert_eq!(p.read_from(p.log_start_offset()).unwrap().count(), got.len(), "{ctx}: after reopen");
    }
    assert!(records_checked > 20_000, "{records_checked} records checked");
    assert!(lookups > 100, "{lookups} time lookups checked");
}
