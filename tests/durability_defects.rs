//! Regression tests for the defects of the "durability contract" issue: each
//! test is named for the behaviour it protects, and each failed on the code
//! before the fix (the closing note of that change lists how).
//!
//! Crashes are simulated by dropping a partition without `close` and
//! rewriting its state file; lost pages are simulated by zeroing or cutting
//! the bytes a machine crash could lose.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use topiclog::ManualClock;
use topiclog::PartitionOptions;
use topiclog::format::Record;

/// The partition state file's name (an internal detail these tests reach into).
const STATE_FILE: &str = "topiclog.state";
use topiclog::{Error, LogConfig, Partition};

const T0: i64 = 1_700_000_000_000;

fn open_with(dir: &Path, config: LogConfig) -> topiclog::Result<Partition> {
    Partition::open_with(dir, PartitionOptions { config, clock: Arc::new(ManualClock::new(T0)), ..Default::default() })
}

fn open(dir: &Path, config: LogConfig) -> Partition {
    open_with(dir, config).unwrap()
}

fn value(i: i64) -> String {
    format!("value-{i:06}")
}

/// Appends records `from..to`, one batch each, with timestamps `T0 + i`.
fn append_range(p: &Partition, from: i64, to: i64) {
    for i in from..to {
        let a = p.append(&[Record::new().key(format!("k{i}")).value(value(i)).timestamp(T0 + i)]).unwrap();
        assert_eq!(a.first_offset, i);
    }
}

/// Every record from the log start, as (offset, value); panics on a read error.
fn read_all(p: &Partition) -> Vec<(i64, String)> {
    p.read_from(p.log_start_offset())
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.offset(), String::from_utf8(r.value().unwrap().to_vec()).unwrap())
        })
        .collect()
}

fn assert_dense(records: &[(i64, String)], from: i64, to: i64) {
    let offsets: Vec<i64> = records.iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets, (from..to).collect::<Vec<_>>(), "offsets are dense from {from} to {to}");
    for (o, v) in records {
        assert_eq!(v, &value(*o));
    }
}

/// Rewrites the state file as a crash at a chosen moment leaves it.
fn set_state(dir: &Path, log_start: i64, recovery_point: i64, clean: bool) {
    let text =
        format!("version 0\nlog_start_offset {log_start}\nrecovery_point {recovery_point}\nclean_shutdown {clean}\n");
    std::fs::write(dir.join(STATE_FILE), text).unwrap();
}

fn segment_file(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}{suffix}"))
}

fn bases(dir: &Path) -> Vec<i64> {
    let mut v: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".log").and_then(|b| b.parse().ok())
        })
        .collect();
    v.sort();
    v
}

/// Size of the batch `append_range` writes for offset `i`.
fn batch_size(i: i64) -> u64 {
    let mut b = topiclog::format::BatchBuilder::new(topiclog::format::Compression::None).base_offset(i);
    b.append(&Record::new().key(format!("k{i}")).value(value(i)).timestamp(T0 + i)).unwrap();
    b.build().unwrap().size_in_bytes() as u64
}

fn overwrite(path: &Path, at: u64, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

fn file_bytes(path: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    std::fs::File::open(path).unwrap().read_to_end(&mut v).unwrap();
    v
}

/// Three segments of ten one-record batches each (0..10, 10..20, 20..30),
/// closed cleanly.
fn three_closed_segments(dir: &Path, config: LogConfig) {
    let p = open(dir, config);
    append_range(&p, 0, 10);
    p.roll().unwrap();
    append_range(&p, 10, 20);
    p.roll().unwrap();
    append_range(&p, 20, 30);
    p.close().unwrap();
    assert_eq!(bases(dir), vec![0, 10, 20]);
}

// ---- 1. the sealed segment's closing time-index entry -------------------

/// A roll right after a flush seals the old segment after the recovery
/// point has passed it. If the page holding its closing time-index entry is
/// lost in a machine crash, the segment must still read (the index is a cache
/// that is rebuilt), on every reopen.
#[test]
fn a_lost_closing_time_index_entry_never_makes_a_segment_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::new().index_interval_bytes(1));
    append_range(&p, 0, 10);
    p.flush().unwrap();
    p.roll().unwrap();
    append_range(&p, 10, 15);
    p.flush().unwrap();
    drop(p);
    // The machine crashed: the time index kept its trimmed length, but the
    // page with the closing entry never reached the disk.
    let time_index = segment_file(dir.path(), 0, ".timeindex");
    let len = std::fs::metadata(&time_index).unwrap().len();
    assert!(len >= 12, "the sealed time index has entries");
    overwrite(&time_index, len - 12, &[0; 12]);
    for _ in 0..2 {
        let p = open(dir.path(), LogConfig::new().index_interval_bytes(1));
        assert_dense(&read_all(&p), 0, 15);
        assert_eq!(p.offset_for_timestamp(T0 + 3).unwrap().map(|t| t.offset), Some(3));
        drop(p);
    }
}

// ---- 2. holes after power loss -------------------------------------------

/// A segment's unsynced tail was lost while the next segment's data
/// survived: recovery cuts everything after the gap (with a report) instead
/// of keeping a log with a hole.
#[test]
fn recovery_cuts_everything_after_a_gap_between_segments() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::new());
    append_range(&p, 0, 10);
    p.roll().unwrap();
    append_range(&p, 10, 25);
    drop(p);
    // Nothing was flushed; the first segment lost its last batch.
    let log = segment_file(dir.path(), 0, ".log");
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(len - batch_size(9)).unwrap();

    let p = open(dir.path(), LogConfig::new());
    assert_dense(&read_all(&p), 0, 9);
    assert_eq!(p.log_end_offset(), 9);
    assert!(!p.recovery_reports().is_empty(), "the cut is reported");
    assert_eq!(p.append(&[Record::new().value(value(9))]).unwrap().first_offset, 9);
}

/// A middle segment whose files are gone (deleted, or renamed `.deleted`)
/// is never a silent gap: reading across it is an error that names the
/// missing offsets, and the reader then moves past it.
#[test]
fn a_missing_middle_segment_is_an_error_not_a_silent_gap() {
    for rename in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        three_closed_segments(dir.path(), LogConfig::new());
        for suffix in [".log", ".index", ".timeindex"] {
            let path = segment_file(dir.path(), 10, suffix);
            if rename {
                std::fs::rename(&path, format!("{}.deleted", path.display())).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
        let Ok(p) = open_with(dir.path(), LogConfig::new()) else { continue };
        let results: Vec<_> = p.read_from(0).unwrap().take(100).collect();
        let offsets: Vec<i64> = results.iter().filter_map(|r| r.as_ref().ok().map(|r| r.offset())).collect();
        let errors: Vec<String> = results.iter().filter_map(|r| r.as_ref().err().map(|e| e.to_string())).collect();
        assert_eq!(errors.len(), 1, "one error for the gap, then the reader moves on: {errors:?}");
        assert_eq!(offsets, (0..10).chain(20..30).collect::<Vec<_>>());
    }
}

// ---- 3. size limits apply to appends, not to recovery --------------------

/// Lowering `max.message.bytes` or `segment.bytes` and then reopening after a
/// crash keeps every batch already written.
#[test]
fn recovery_keeps_batches_larger_than_the_current_size_limits() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::new());
    for i in 0..20 {
        p.append(&[Record::new().value(vec![i as u8; 4000])]).unwrap();
    }
    p.flush().unwrap();
    drop(p);
    set_state(dir.path(), 0, 0, false);
    let p = open(dir.path(), LogConfig::new().max_message_bytes(1000).segment_bytes(2000));
    assert_eq!(p.log_end_offset(), 20);
    assert_eq!(p.read_from(0).unwrap().map(Result::unwrap).count(), 20);
}

// ---- 4. a state file naming a log start beyond the log end ---------------

/// A state file whose log start is past the log end is corruption: the
/// segments are trusted, nothing is deleted, and the problem is reported.
#[test]
fn a_log_start_beyond_the_log_end_deletes_nothing() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let p = open(dir.path(), LogConfig::new());
        append_range(&p, 0, 10);
        p.close().unwrap();
        set_state(dir.path(), 1_000_000, 10, clean);
        let p = open(dir.path(), LogConfig::new());
        assert_eq!(p.log_end_offset(), 10);
        assert_eq!(p.log_start_offset(), 0);
        assert_dense(&read_all(&p), 0, 10);
        assert!(!p.recovery_reports().is_empty(), "the bad state is reported");
        assert_eq!(bases(dir.path()), vec![0]);
    }
}

// ---- 6. reads of damaged data --------------------------------------------

/// What reading a whole partition from its start gives: the offsets read
/// and the errors' messages.
fn read_with_errors(p: &Partition) -> (Vec<i64>, Vec<String>) {
    let (mut offsets, mut errors) = (Vec::new(), Vec::new());
    for r in p.read_from(p.log_start_offset()).unwrap().take(1000) {
        match r {
            Ok(r) => offsets.push(r.offset()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (offsets, errors)
}

/// Damage to a batch in a sealed segment of a cleanly closed log: readers
/// get an error naming the file and the batch's absolute position, the file is
/// not modified by reading, and the reader then moves past the damage.
#[test]
fn damaged_batches_in_sealed_segments_are_errors_and_reads_modify_nothing() {
    let size = batch_size(10);
    // (what, byte offset inside the batch, bytes written there)
    let damages: [(&str, u64, Vec<u8>); 4] = [
        ("magic 2 -> 1", 16, vec![1]),
        ("length 2^31-1", 8, i32::MAX.to_be_bytes().to_vec()),
        ("a record byte", size - 3, vec![0xff]),
        ("the CRC", 17, vec![0, 0, 0, 0]),
    ];
    for (what, at, bytes) in damages {
        for batch in [0u64, 4, 9] {
            let dir = tempfile::tempdir().unwrap();
            // No index entries at all in the small segments: the case whose first read cut the file.
            three_closed_segments(dir.path(), LogConfig::new());
            let log = segment_file(dir.path(), 10, ".log");
            let position = batch * size;
            overwrite(&log, position + at, &bytes);
            let before = file_bytes(&log);
            let p = open(dir.path(), LogConfig::new());
            let (offsets, errors) = read_with_errors(&p);
            let case = format!("{what} in batch {batch}");
            assert_eq!(errors.len(), 1, "{case}: exactly one error: {errors:?}");
            assert!(errors[0].contains("00000000000000000010.log"), "{case}: the error names the file: {errors:?}");
            assert!(errors[0].contains(&format!("position {position}")), "{case}: absolute position: {errors:?}");
            let expected: Vec<i64> = (0..10 + batch as i64).chain(20..30).collect();
            assert_eq!(offsets, expected, "{case}: everything before the damage, then the next segment");
            drop(p);
            assert_eq!(file_bytes(&log), before, "{case}: reading never modifies a segment");
        }
    }
}

/// Writes an offset-index file holding `entries` (relative offset, position).
fn write_offset_index(path: &Path, entries: &[(u32, u32)]) {
    let mut bytes = Vec::new();
    for (o, p) in entries {
        bytes.extend_from_slice(&o.to_be_bytes());
        bytes.extend_from_slice(&p.to_be_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// An offset-index entry that points past the log end, at a later batch or
/// into the middle of a batch is detected; reads start exactly at the offset asked for.
#[test]
fn a_wrong_offset_index_entry_never_moves_a_read() {
    let size = batch_size(10) as u32;
    let config = || LogConfig::new().index_interval_bytes(1);
    let wrong: [(&str, Vec<(u32, u32)>); 3] = [
        ("past the log end", vec![(1, size), (3, 1_000_000)]),
        ("a later batch", vec![(1, size), (3, 7 * size)]),
        ("the middle of a batch", vec![(1, size), (3, 3 * size + 5)]),
    ];
    for (what, entries) in wrong {
        let dir = tempfile::tempdir().unwrap();
        three_closed_segments(dir.path(), config());
        write_offset_index(&segment_file(dir.path(), 10, ".index"), &entries);
        let p = open(dir.path(), config());
        for start in [13, 14, 15] {
            let first = p.read_from(start).unwrap().next().unwrap().unwrap();
            assert_eq!(first.offset(), start, "{what}: read_from({start})");
        }
        assert_eq!(read_with_errors(&p), ((0..30).collect(), vec![]), "{what}: a full read is whole");
    }
}

/// A time-index entry with timestamp `i64::MAX` does not hide the records.
#[test]
fn a_wrong_time_index_entry_never_hides_records() {
    let dir = tempfile::tempdir().unwrap();
    three_closed_segments(dir.path(), LogConfig::new().index_interval_bytes(1));
    let mut entry = i64::MAX.to_be_bytes().to_vec();
    entry.extend_from_slice(&2u32.to_be_bytes());
    std::fs::write(segment_file(dir.path(), 10, ".timeindex"), entry).unwrap();
    let p = open(dir.path(), LogConfig::new().index_interval_bytes(1));
    for i in [5, 12, 15, 19, 25] {
        assert_eq!(p.offset_for_timestamp(T0 + i).unwrap().map(|t| t.offset), Some(i), "lookup of T0 + {i}");
    }
}

// ---- 7. readers after an error -------------------------------------------

/// After an error a reader moves past it or ends; it never returns the same
/// error forever.
#[test]
fn a_reader_never_repeats_an_error_forever() {
    let dir = tempfile::tempdir().unwrap();
    three_closed_segments(dir.path(), LogConfig::new());
    overwrite(&segment_file(dir.path(), 20, ".log"), 17, &[0, 0, 0, 0]);
    let p = open(dir.path(), LogConfig::new());
    let items = p.read_from(0).unwrap().take(10_000).count();
    assert!(items < 100, "the reader ended after the damage in the last segment ({items} items)");

    // A closed partition: the reader ends.
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::new());
    append_range(&p, 0, 5);
    let reader = p.read_from(0).unwrap();
    p.close().unwrap();
    assert!(reader.take(10_000).count() < 10);
}

// ---- 12. symlinks ----------------------------------------------------------

/// A symlinked `.log` or `.index` inside a partition directory is refused,
/// and the file it points to is never written.
#[test]
fn symlinked_segment_files_are_never_written_through() {
    for suffix in [".log", ".index", ".timeindex"] {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let p = open(dir.path(), LogConfig::new().index_interval_bytes(1));
        append_range(&p, 0, 5);
        drop(p);
        let target = outside.path().join("precious.txt");
        let precious = b"an operator's file that must never change\n".repeat(100);
        std::fs::write(&target, &precious).unwrap();
        let link = segment_file(dir.path(), 0, suffix);
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        set_state(dir.path(), 0, 0, false);
        if let Ok(p) = open_with(dir.path(), LogConfig::new().index_interval_bytes(1)) {
            let _ = p.append(&[Record::new().value("x")]);
            let _ = p.flush();
            let _ = p.close();
        }
        assert!(
            std::fs::read(&target).unwrap() == precious,
            "{suffix}: the outside file was written through the symlink"
        );
    }
}

// ---- 13. smaller ones ------------------------------------------------------

/// A `delete_records` whose state write fails leaves the log start where it was.
#[test]
fn a_failed_delete_records_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::new());
    append_range(&p, 0, 10);
    // The state file cannot be replaced: a non-empty directory stands in its way.
    let state = dir.path().join(STATE_FILE);
    std::fs::remove_file(&state).unwrap();
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("x"), "x").unwrap();
    assert!(p.delete_records(5).is_err());
    assert_eq!(p.log_start_offset(), 0, "the in-memory log start did not move");
    assert_eq!(p.read_from(0).unwrap().count(), 10);
}

/// A `.log.swap` that is not whole valid batches never replaces good records.
#[test]
fn a_garbage_swap_file_never_replaces_good_records() {
    let dir = tempfile::tempdir().unwrap();
    three_closed_segments(dir.path(), LogConfig::new());
    let swap = PathBuf::from(format!("{}.swap", segment_file(dir.path(), 10, ".log").display()));
    std::fs::write(&swap, vec![0xab; 5000]).unwrap();
    let p = open(dir.path(), LogConfig::new());
    assert_dense(&read_all(&p), 0, 30);
    let reports = p.recovery_reports();
    assert!(reports.iter().any(|r| format!("{r:?}").contains("swap")), "the discarded swap is reported: {reports:?}");
    assert!(!swap.exists());
}

/// Reads after `close` fail with `Closed`, as documented.
#[test]
fn reads_after_close_fail_with_closed() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), LogConfig::new());
    append_range(&p, 0, 3);
    p.close().unwrap();
    assert!(matches!(p.read(0, 1000), Err(Error::Closed { .. })));
    assert!(matches!(p.read_from(0), Err(Error::Closed { .. })));
    assert!(matches!(p.offset_for_timestamp(T0), Err(Error::Closed { .. })));
}

// ---- 5. Kafka's log-start-offset-checkpoint --------------------------------

/// Adopting a Kafka data directory keeps the log start its
/// `log-start-offset-checkpoint` records (Kafka's DeleteRecords), and closing
/// the store writes it back unchanged.
#[test]
fn adopting_a_kafka_directory_keeps_its_log_start_offset() {
    let data = tempfile::tempdir().unwrap();
    {
        // A partition directory as Kafka leaves it: segments, no topiclog state.
        let p = open(&data.path().join("events-0"), LogConfig::new());
        append_range(&p, 0, 10);
        p.close().unwrap();
    }
    for leftover in [STATE_FILE, ".lock"] {
        let _ = std::fs::remove_file(data.path().join("events-0").join(leftover));
    }
    let checkpoint = data.path().join("log-start-offset-checkpoint");
    std::fs::write(&checkpoint, "0\n1\nevents 0 6\n").unwrap();
    let store = topiclog::Store::open(data.path(), topiclog::StoreConfig::new()).unwrap();
    let p = store.existing_topic("events").unwrap().partition(0).unwrap();
    assert_eq!(p.log_start_offset(), 6, "records deleted in Kafka stay deleted");
    assert_dense(&read_all(&p), 6, 10);
    drop(p);
    store.close().unwrap();
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    assert!(text.lines().any(|l| l == "events 0 6"), "the checkpoint still says 6: {text:?}");
}

// ---- 12. a symlinked partition directory ---------------------------------

/// A partition directory that is a symlink is refused by the store; nothing
/// is written where it points.
#[test]
fn a_symlinked_partition_directory_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    {
        let store = topiclog::Store::open(data.path(), topiclog::StoreConfig::new()).unwrap();
        store.create_topic("t", 1, topiclog::TopicConfig::new()).unwrap();
        store.close().unwrap();
    }
    let dir = data.path().join("t-0");
    std::fs::remove_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(outside.path(), &dir).unwrap();
    let result = topiclog::Store::open(data.path(), topiclog::StoreConfig::new());
    assert!(result.is_err(), "the store refuses the symlinked partition directory");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing was written outside");
}
