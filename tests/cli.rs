//! The `topiclog` binary, run as an operator would: every command, its
//! error paths, `dump-log` against the real Kafka fixtures' reference dumps,
//! `verify` on damaged copies, and a producer killed mid-stream.
#![cfg(feature = "cli")]

mod common;

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_topiclog");

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn finish(out: Output) -> Run {
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `topiclog --data-dir DIR ARGS` with `stdin` as input.
fn run_in(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    finish(child.wait_with_output().unwrap())
}

fn ok(dir: &Path, args: &[&str]) -> String {
    ok_with(dir, args, "")
}

fn ok_with(dir: &Path, args: &[&str], stdin: &str) -> String {
    let r = run_in(dir, args, stdin);
    assert_eq!(r.status, 0, "{args:?} failed: {}{}", r.stdout, r.stderr);
    r.stdout
}

/// Runs a command that must fail with one clear line on stderr containing `needle`.
fn fails(dir: &Path, args: &[&str], stdin: &str, needle: &str) -> Run {
    let r = run_in(dir, args, stdin);
    assert_ne!(r.status, 0, "{args:?} should fail; stdout: {}", r.stdout);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("Processed")).collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one error line, got {:?}", r.stderr);
    assert!(lines[0].contains(needle), "{args:?}: {:?} lacks {needle:?}", lines[0]);
    assert!(!r.stderr.contains("panicked") && !r.stderr.contains("{ "), "{args:?}: {}", r.stderr);
    r
}

/// Name, size and content hash of every file under `dir`.
/// Every file under `dir`: size, content hash and modification time (a file
/// rewritten with the same bytes still counts as changed).
fn hash_dir(dir: &Path) -> BTreeMap<PathBuf, (u64, u64, std::time::SystemTime)> {
    common::files_under(dir, &|_| true)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let mut h = DefaultHasher::new();
            bytes.hash(&mut h);
            let modified = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, (bytes.len() as u64, h.finish(), modified))
        })
        .collect()
}

fn describe_rows(out: &str) -> Vec<Vec<String>> {
    out.lines().skip(1).map(|l| l.split_whitespace().map(String::from).collect()).collect()
}

#[test]
fn seed_walkthrough() {
    let tmp = tempfile::tempdir().unwrap();
    let d = &tmp.path().join("data");
    let t = "hello.kafka";
    assert!(
        ok(d, &["topics", "--create", "--topic", t, "--partitions", "3", "--config", "retention.ms=172800000"])
            .contains("Created topic hello.kafka")
    );
    assert_eq!(ok(d, &["topics", "--list"]).lines().collect::<Vec<_>>(), vec![t]);
    let described = ok(d, &["topics", "--describe", "--topic", t]);
    assert!(described.contains("PartitionCount: 3") && described.contains("retention.ms=172800000"), "{described}");
    assert_eq!(described.matches("\tPartition: ").count(), 3);

    ok(d, &["topics", "--alter", "--topic", t, "--partitions", "4"]);
    fails(d, &["topics", "--alter", "--topic", t, "--partitions", "2"], "", "can only grow");
    assert!(ok(d, &["topics", "--describe", "--topic", t]).contains("PartitionCount: 4"));

    let configs = ["configs", "--entity-type", "topics", "--entity-name", t];
    ok(d, &[&configs[..], &["--alter", "--add-config", "retention.ms=86400000"]].concat());
    let described = ok(d, &[&configs[..], &["--describe"]].concat());
    assert!(described.contains("retention.ms=86400000"), "{described}");
    let all = ok(d, &[&configs[..], &["--describe", "--all"]].concat());
    assert!(all.contains("segment.bytes=") && all.contains("DEFAULT_CONFIG"), "{all}");

    let keyed = ["--property", "parse.key=true", "--property", "key.separator=:"];
    ok_with(d, &[&["console-producer", "--topic", t][..], &keyed[..]].concat(), "key1:no1\nkey2:no2\n");
    let consume = [
        "console-consumer",
        "--topic",
        t,
        "--from-beginning",
        "--group",
        "g1",
        "--property",
        "print.key=true",
        "--property",
        "key.separator=-",
        "--timeout-ms",
        "300",
    ];
    let mut printed: Vec<String> = ok(d, &consume).lines().map(String::from).collect();
    printed.sort();
    assert_eq!(printed, vec!["key1-no1", "key2-no2"]);

    let describe = ok(d, &["consumer-groups", "--describe", "--group", "g1"]);
    assert!(describe.starts_with("GROUP"), "{describe}");
    for col in ["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"] {
        assert!(describe.lines().next().unwrap().contains(col), "{describe}");
    }
    let rows = describe_rows(&describe);
    assert_eq!(rows.len(), 4, "{describe}");
    assert!(rows.iter().all(|r| r[5] == "0"), "{describe}");
    assert_eq!(ok(d, &["consumer-groups", "--list"]).trim(), "g1");

    ok_with(d, &[&["console-producer", "--topic", t][..], &keyed[..]].concat(), "key3:no3\nkey4:no4\nkey5:no5\n");
    let rows = describe_rows(&ok(d, &["consumer-groups", "--describe", "--group", "g1"]));
    let lag: i64 = rows.iter().map(|r| r[5].parse::<i64>().unwrap()).sum();
    assert_eq!(lag, 3);

    // Delete the records of the partition holding key1, up to its log end.
    let offsets = ok(d, &["get-offsets", "--topic", t]);
    let (p, end) = offsets
        .lines()
        .map(|l| {
            let mut parts = l.rsplitn(3, ':');
            let end: i64 = parts.next().unwrap().parse().unwrap();
            let p: u32 = parts.next().unwrap().parse().unwrap();
            (p, end)
        })
        .find(|&(_, end)| end > 0)
        .unwrap();
    let json = tmp.path().join("delete.json");
    std::fs::write(&json, format!(r#"{{"partitions":[{{"topic":"{t}","partition":{p},"offset":-1}}],"version":1}}"#))
        .unwrap();
    let deleted = ok(d, &["delete-records", "--offset-json-file", json.to_str().unwrap()]);
    assert!(deleted.contains(&format!("partition: {t}-{p}\tlow_watermark: {end}")), "{deleted}");
    let described = ok(d, &["topics", "--describe", "--topic", t]);
    assert!(described.contains(&format!("Partition: {p}\tLogStartOffset: {end}\tLogEndOffset: {end}")), "{described}");
    assert_eq!(
        ok(d, &["get-offsets", "--topic", t, "--partitions", &p.to_string(), "--time", "-2"]).trim(),
        format!("{t}:{p}:{end}")
    );

    ok(d, &["topics", "--delete", "--topic", t]);
    assert_eq!(ok(d, &["topics", "--list", "--exclude-internal"]).trim(), "");
    fails(d, &["topics", "--describe", "--topic", t], "", "does not exist");
}

#[test]
fn console_consumer_options_and_group_resets() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["topics", "--create", "--topic", "t", "--partitions", "2"]);
    let lines: String = (0..10).map(|i| format!("v{i}\n")).collect();
    ok_with(d, &["console-producer", "--topic", "t", "--sync"], &lines);
    let ends: Vec<i64> = ok(d, &["get-offsets", "--topic", "t"])
        .lines()
        .map(|l| l.rsplit(':').next().unwrap().parse::<i64>().unwrap())
        .collect();
    assert_eq!(ends.iter().sum::<i64>(), 10);
    let busy = if ends[0] >= 2 { "0" } else { "1" };

    let out = ok(
        d,
        &[
            "console-consumer",
            "--topic",
            "t",
            "--partition",
            busy,
            "--offset",
            "0",
            "--max-messages",
            "2",
            "--timeout-ms",
            "5000",
            "--property",
            "print.offset=true",
            "--property",
            "print.partition=true",
            "--property",
            "print.timestamp=true",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("CreateTime:") && lines[0].contains(&format!("\tPartition:{busy}\tOffset:0\t")),
        "{out}"
    );

    // Interrupted while waiting for more: what it printed was committed on the way.
    let mut child = Command::new(BIN)
        .args([
            "--data-dir",
            d.to_str().unwrap(),
            "console-consumer",
            "--topic",
            "t",
            "--group",
            "live",
            "--from-beginning",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1800));
    child.kill().unwrap();
    let printed = child.wait_with_output().unwrap().stdout;
    assert_eq!(String::from_utf8_lossy(&printed).lines().count(), 10);
    let rows = describe_rows(&ok(d, &["consumer-groups", "--describe", "--group", "live"]));
    assert!(rows.iter().all(|r| r[5] == "0"), "{rows:?}");

    // Without --from-beginning a new group starts at the end: nothing printed, all committed at the end.
    assert_eq!(ok(d, &["console-consumer", "--topic", "t", "--group", "late", "--timeout-ms", "200"]), "");
    let rows = describe_rows(&ok(d, &["consumer-groups", "--describe", "--group", "late"]));
    assert!(rows.iter().all(|r| r[5] == "0"));

    // --group with --max-messages commits only what was printed.
    let out = ok(
        d,
        &[
            "console-consumer",
            "--topic",
            "t",
            "--group",
            "g",
            "--from-beginning",
            "--max-messages",
            "3",
            "--timeout-ms",
            "2000",
        ],
    );
    assert_eq!(out.lines().count(), 3);
    let rows = describe_rows(&ok(d, &["consumer-groups", "--describe", "--group", "g"]));
    let lag: i64 = rows.iter().map(|r| r[5].parse::<i64>().unwrap()).sum();
    assert_eq!(lag, 7);

    let g = ["consumer-groups", "--reset-offsets", "--group", "g", "--topic", "t"];
    let dry = ok(d, &[&g[..], &["--to-latest", "--dry-run"]].concat());
    assert!(dry.starts_with("GROUP") && dry.contains("NEW-OFFSET"), "{dry}");
    let rows = describe_rows(&ok(d, &["consumer-groups", "--describe", "--group", "g"]));
    assert_eq!(rows.iter().map(|r| r[5].parse::<i64>().unwrap()).sum::<i64>(), 7, "a dry run changes nothing");
    ok(d, &[&g[..], &["--to-latest", "--execute"]].concat());
    ok(d, &[&g[..], &["--shift-by", "-1", "--execute"]].concat());
    let rows = describe_rows(&ok(d, &["consumer-groups", "--describe", "--group", "g"]));
    let non_empty = ends.iter().filter(|&&e| e > 0).count() as i64;
    assert_eq!(rows.iter().map(|r| r[5].parse::<i64>().unwrap()).sum::<i64>(), non_empty);
    ok(d, &[&g[..], &["--to-offset", "1", "--execute"]].concat());
    ok(d, &[&g[..], &["--to-earliest", "--execute"]].concat());
    let rows = describe_rows(&ok(d, &["consumer-groups", "--describe", "--group", "g"]));
    assert_eq!(rows.iter().map(|r| r[5].parse::<i64>().unwrap()).sum::<i64>(), 10);
    ok(d, &[&g[..], &["--to-datetime", "2000-01-01T00:00:00.000", "--execute"]].concat());
    let rows = describe_rows(&ok(d, &["consumer-groups", "--describe", "--group", "g"]));
    assert!(rows.iter().all(|r| r[3] == "0"), "every record is after 2000");
    ok(d, &[&g[..], &["--to-datetime", "2999-01-01T00:00:00Z", "--execute"]].concat());
    let rows = describe_rows(&ok(d, &["consumer-groups", "--describe", "--group", "g"]));
    assert!(rows.iter().all(|r| r[5] == "0"), "no record is after 2999: the log end");

    fails(d, &[&g[..], &["--to-earliest"]].concat(), "", "--dry-run");
    fails(d, &g, "", "--to-earliest");
    fails(d, &[&g[..], &["--to-datetime", "yesterday", "--execute"]].concat(), "", "to-datetime");
    ok(d, &["consumer-groups", "--delete", "--group", "g"]);
    fails(d, &["consumer-groups", "--describe", "--group", "g"], "", "does not exist");
    fails(d, &["consumer-groups", "--delete", "--group", "g"], "", "does not exist");
    assert_eq!(ok(d, &["consumer-groups", "--list"]).trim(), "late\nlive");
}

#[test]
fn error_paths_are_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let missing = tmp.path().join("nothing-here");
    // Read-only commands do not create a data directory.
    fails(&missing, &["topics", "--list"], "", "does not exist");
    fails(&missing, &["get-offsets", "--topic", "x"], "", "does not exist");
    fails(&missing, &["verify"], "", "does not exist");
    assert!(!missing.exists());

    ok(d, &["topics", "--create", "--topic", "t", "--partitions", "1"]);
    fails(d, &["topics", "--create", "--topic", "t"], "", "exists");
    fails(d, &["topics", "--create", "--topic", "bad/name"], "", "");
    fails(d, &["topics", "--create", "--topic", "u", "--config", "retention.ms=soon"], "", "retention.ms");
    fails(d, &["topics", "--create", "--topic", "u", "--config", "nonsense"], "", "key=value");
    fails(d, &["topics", "--delete", "--topic", "nope"], "", "does not exist");
    fails(d, &["topics", "--alter", "--topic", "t"], "", "--partitions");
    fails(d, &["topics", "--create"], "", "--topic");
    fails(d, &["topics"], "", "");
    fails(d, &["topics", "--list", "--delete"], "", "cannot be used with");
    fails(d, &["no-such-command"], "", "unrecognized subcommand");

    let configs = ["configs", "--entity-type", "topics", "--entity-name", "t"];
    fails(d, &[&configs[..], &["--alter", "--add-config", "retention.ms=abc"]].concat(), "", "retention.ms");
    fails(
        d,
        &[&configs[..], &["--alter", "--add-config", "segment.bytes=1048576,retention.ms=abc"]].concat(),
        "",
        "retention.ms",
    );
    assert!(
        !ok(d, &[&configs[..], &["--describe"]].concat()).contains("segment.bytes"),
        "a refused change applies nothing"
    );
    fails(d, &[&configs[..], &["--alter", "--delete-config", "retention.ms"]].concat(), "", "no override");
    fails(d, &[&configs[..], &["--alter"]].concat(), "", "--add-config");
    fails(d, &["configs", "--entity-type", "brokers", "--entity-name", "0", "--describe"], "", "only topics");
    ok(
        d,
        &[&configs[..], &["--alter", "--add-config", "cleanup.policy=[compact,delete],segment.bytes=1048576"]].concat(),
    );
    let described = ok(d, &[&configs[..], &["--describe"]].concat());
    assert!(
        described.contains("cleanup.policy=compact,delete") && described.contains("segment.bytes=1048576"),
        "{described}"
    );
    ok(d, &[&configs[..], &["--alter", "--delete-config", "cleanup.policy,segment.bytes"]].concat());
    assert!(!ok(d, &[&configs[..], &["--describe"]].concat()).contains("segment.bytes"));

    // A line without the separator: the lines before it are written, it and those after are not.
    let keyed = ["console-producer", "--topic", "t", "--property", "parse.key=true", "--property", "key.separator=:"];
    let r = fails(d, &keyed, "a:1\nb:2\nno separator here\nc:3\n", "line 3");
    assert!(r.stderr.contains("no separator here"), "{}", r.stderr);
    assert_eq!(ok(d, &["get-offsets", "--topic", "t"]).trim(), "t:0:2");
    fails(d, &["console-producer", "--topic", "nope"], "x\n", "does not exist");
    fails(d, &["console-producer", "--topic", "t", "--property", "bogus=1"], "", "unknown property");
    fails(d, &["console-producer", "--topic", "t", "--property", "parse.key=maybe"], "", "true or false");
    assert_eq!(ok(d, &["get-offsets", "--topic", "t"]).trim(), "t:0:2");

    fails(d, &["console-consumer", "--topic", "nope", "--timeout-ms", "10"], "", "does not exist");
    fails(d, &["console-consumer", "--topic", "t", "--partition", "5", "--timeout-ms", "10"], "", "no partition 5");
    fails(d, &["console-consumer", "--topic", "t", "--offset", "3"], "", "--partition");
    fails(d, &["console-consumer", "--topic", "t", "--partition", "0", "--offset", "abc"], "", "not an offset");

    fails(d, &["get-offsets", "--topic", "nope"], "", "does not exist");
    fails(d, &["get-offsets", "--topic", "t", "--time", "soon"], "", "--time");
    fails(d, &["get-offsets", "--topic", "t", "--partitions", "3"], "", "no partition 3");
    let max_ts = ok(d, &["get-offsets", "--topic", "t", "--time", "-3"]);
    assert!(max_ts.trim() == "t:0:0" || max_ts.trim() == "t:0:1", "{max_ts}");
    assert_eq!(ok(d, &["get-offsets", "--topic", "t", "--time", "0"]).trim(), "t:0:0");
    assert_eq!(ok(d, &["get-offsets", "--topic", "t", "--time", "99999999999999"]).trim(), "");

    // Malformed delete-records files: one error, nothing deleted.
    let json = tmp.path().join("d.json");
    for (text, needle) in [
        ("{not json", "not valid JSON"),
        (r#"{"version":1}"#, "partitions"),
        (r#"{"partitions":[{"topic":"t","partition":0}],"version":1}"#, "offset"),
        (
            r#"{"partitions":[{"topic":"t","partition":0,"offset":1},{"topic":"t","partition":0,"offset":"x"}]}"#,
            "partitions[1]",
        ),
        (r#"{"partitions":[{"topic":"t","partition":0,"offset":-5}]}"#, "-5"),
        (r#"{"partitions":[{"topic":"t","partition":0,"offset":1}],"version":7}"#, "version"),
        (
            r#"{"partitions":[{"topic":"t","partition":0,"offset":1},{"topic":"nope","partition":0,"offset":1}]}"#,
            "does not exist",
        ),
        (
            r#"{"partitions":[{"topic":"t","partition":0,"offset":1},{"topic":"t","partition":9,"offset":1}]}"#,
            "no partition 9",
        ),
        (r#"{"partitions":[{"topic":"t","partition":0,"offset":99}]}"#, "past the log end"),
    ] {
        std::fs::write(&json, text).unwrap();
        fails(d, &["delete-records", "--offset-json-file", json.to_str().unwrap()], "", needle);
        assert_eq!(ok(d, &["get-offsets", "--topic", "t", "--time", "-2"]).trim(), "t:0:0", "{text}");
    }
    fails(d, &["delete-records", "--offset-json-file", "/nonexistent.json"], "", "cannot read");

    fails(d, &["dump-log", "--files", "/nonexistent/00000000000000000000.log"], "", "cannot read");
    fails(d, &["verify", "--topic", "nope"], "", "no partition directory");
    fails(d, &["perf-test", "--topic", "p", "--num-records", "0", "--record-size", "10"], "", "at least 1");

    // The store is locked while another process has it open.
    let lock_holder = std::process::Command::new(BIN)
        .args(["--data-dir", d.to_str().unwrap(), "console-consumer", "--topic", "t", "--timeout-ms", "3000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = lock_holder;
    let mut saw_lock = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(40));
        let r = run_in(d, &["topics", "--list"], "");
        if r.status != 0 {
            assert!(r.stderr.contains("another process"), "{}", r.stderr);
            assert_eq!(r.stderr.lines().count(), 1);
            saw_lock = true;
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(saw_lock, "a second open should be refused while the consumer runs");
}

#[test]
fn every_command_has_help_with_an_example() {
    let tmp = tempfile::tempdir().unwrap();
    for cmd in [
        "topics",
        "configs",
        "console-producer",
        "console-consumer",
        "consumer-groups",
        "delete-records",
        "get-offsets",
        "dump-log",
        "verify",
        "perf-test",
    ] {
        let help = ok(tmp.path(), &[cmd, "--help"]);
        assert!(help.contains("Example"), "{cmd} --help has no example:\n{help}");
        assert!(help.contains("topiclog "), "{cmd}: {help}");
    }
    assert!(ok(tmp.path(), &["--help"]).contains("Example"));
}

#[test]
fn read_only_commands_change_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["topics", "--create", "--topic", "t", "--partitions", "2"]);
    ok_with(d, &["console-producer", "--topic", "t"], "a\nb\nc\n");
    ok(d, &["console-consumer", "--topic", "t", "--group", "g", "--from-beginning", "--timeout-ms", "200"]);
    let before = hash_dir(d);
    ok(d, &["topics", "--list"]);
    ok(d, &["topics", "--describe"]);
    ok(d, &["get-offsets", "--topic", "t", "--time", "-3"]);
    ok(d, &["consumer-groups", "--list"]);
    ok(d, &["consumer-groups", "--describe", "--group", "g"]);
    ok(d, &["consumer-groups", "--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--dry-run"]);
    ok(d, &["configs", "--entity-type", "topics", "--entity-name", "t", "--describe"]);
    ok(d, &["verify"]);
    let log = d.join("t-0/00000000000000000000.log");
    ok(d, &["dump-log", "--files", log.to_str().unwrap(), "--deep-iteration"]);
    assert_eq!(before, hash_dir(d));
}

#[test]
fn dump_log_matches_the_reference_dumps_of_real_kafka_files() {
    let Some(dir) = common::kafka_real_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let files = common::files_under(&dir, &|n| {
        n.ends_with(".log") || n.ends_with(".index") || n.ends_with(".timeindex") || n.ends_with(".checkpoint")
    });
    let files: Vec<PathBuf> = files.into_iter().filter(|p| common::dump_path(p).exists()).collect();
    let (mut logs, mut indexes) = (0, 0);
    for chunk in files.chunks(16) {
        let list = chunk.iter().map(|p| p.to_str().unwrap().to_string()).collect::<Vec<_>>().join(",");
        let r = run_in(tmp.path(), &["dump-log", "--deep-iteration", "--files", &list], "");
        assert_eq!(r.status, 0, "{}", r.stderr);
        // Split the output per file.
        let mut per_file: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        let mut current = String::new();
        for line in r.stdout.lines() {
            if let Some(f) = line.strip_prefix("Dumping ") {
                current = f.to_string();
            }
            per_file.entry(current.clone()).or_default().push(line);
        }
        for file in chunk {
            let out = &per_file[file.to_str().unwrap()];
            let name = file.file_name().unwrap().to_str().unwrap();
            if name.ends_with(".log") || name.ends_with(".checkpoint") {
                logs += 1;
                compare_log(file, out);
            } else {
                indexes += 1;
                compare_index(file, out);
            }
        }
    }
    assert!(logs >= 20 && indexes >= 20, "{logs} logs, {indexes} indexes");

    // Producer-state snapshots, checked by their CRC-32C.
    let snapshot = dir.join("kafka-2.7.1-source-build-zk/myTopic-0/00000000000000000038.snapshot");
    let out = ok(tmp.path(), &["dump-log", "--files", snapshot.to_str().unwrap()]);
    let producers: Vec<&str> = out.lines().filter(|l| l.starts_with("producerId: ")).collect();
    assert_eq!(producers.len(), 3, "{out}");
    assert!(
        producers[1].starts_with("producerId: 4002 producerEpoch: 0 ") && producers[1].contains("lastOffset: 23"),
        "{out}"
    );
}

/// `key: value` pairs of one dump-log line.
fn kv(line: &str) -> BTreeMap<String, String> {
    let tokens: Vec<&str> = line.trim_start_matches("| ").split_whitespace().collect();
    let mut out = BTreeMap::new();
    for pair in tokens.windows(2) {
        if let Some(k) = pair[0].strip_suffix(':') {
            out.insert(k.to_string(), pair[1].to_string());
        }
    }
    out
}

fn compare_log(file: &Path, out: &[&str]) {
    let reference = common::read_log_dump(&common::dump_path(file));
    let batches: Vec<BTreeMap<String, String>> =
        out.iter().filter(|l| l.starts_with("baseOffset:")).map(|l| kv(l)).collect();
    assert_eq!(batches.len(), reference.len(), "{}", file.display());
    let records: Vec<i64> =
        out.iter().filter(|l| l.starts_with("| offset:")).map(|l| kv(l)["offset"].parse().unwrap()).collect();
    let mut seen = 0;
    for (ours, theirs) in batches.iter().zip(&reference) {
        let ctx = format!("{} batch at {}", file.display(), theirs.int("position"));
        assert_eq!(ours["position"].parse::<i64>().unwrap(), theirs.int("position"), "{ctx}");
        assert_eq!(ours["baseOffset"].parse::<i64>().unwrap(), theirs.int("baseOffset"), "{ctx}");
        assert_eq!(ours["lastOffset"].parse::<i64>().unwrap(), theirs.int("lastOffset"), "{ctx}");
        assert_eq!(ours["count"].parse::<i64>().unwrap(), theirs.int("recordsCount"), "{ctx}");
        assert_eq!(ours["crc"].parse::<i64>().unwrap(), theirs.int("stored"), "{ctx}");
        let valid = theirs.int("stored") == theirs.int("computed");
        assert_eq!(ours["isvalid"], valid.to_string(), "{ctx}");
        assert_eq!(ours["size"].parse::<i64>().unwrap(), theirs.int("batchLength") + 12, "{ctx}");
        assert_eq!(ours["producerId"].parse::<i64>().unwrap(), theirs.int("producerId"), "{ctx}");
        assert_eq!(ours["compresscodec"], theirs.text("compression"), "{ctx}");
        // The reference lists a preview of each batch's records.
        let n = theirs.int("recordsCount") as usize;
        let ours_records = records.get(seen..seen + n).unwrap_or_else(|| panic!("{ctx}: records missing"));
        for (o, t) in ours_records.iter().zip(&theirs.records) {
            assert_eq!(*o, t.offset, "{ctx}");
        }
        seen += n;
    }
    assert_eq!(seen, records.len(), "{}", file.display());
}

fn compare_index(file: &Path, out: &[&str]) {
    let text = std::fs::read_to_string(common::dump_path(file)).unwrap();
    let is_time = file.extension().unwrap() == "timeindex";
    let reference: Vec<(i64, i64)> = text
        .lines()
        .filter(|l| l.starts_with(if is_time { "time index entry" } else { "offset index entry" }))
        .map(|l| {
            let f = common::fields(l.split(": ").nth(1).unwrap());
            let offset = l.split("(offset ").nth(1).unwrap().split(')').next().unwrap().parse().unwrap();
            if is_time {
                (common::parse_int(&f["timestamp"]), offset)
            } else {
                (offset, common::parse_int(&f["position"]))
            }
        })
        .collect();
    let ours: Vec<(i64, i64)> = out
        .iter()
        .filter(|l| l.starts_with(if is_time { "timestamp:" } else { "offset:" }))
        .map(|l| {
            let m = kv(l);
            if is_time {
                (m["timestamp"].parse().unwrap(), m["offset"].parse().unwrap())
            } else {
                (m["offset"].parse().unwrap(), m["position"].parse().unwrap())
            }
        })
        .collect();
    assert_eq!(ours, reference, "{}", file.display());
    if reference.is_empty() && !is_time {
        assert!(out.iter().any(|l| l.ends_with("is empty.")), "{}", file.display());
    }
}

#[test]
fn dump_log_prints_data_and_reports_damage_and_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let d = &tmp.path().join("data");
    ok(d, &["topics", "--create", "--topic", "t", "--partitions", "1"]);
    for i in 0..4 {
        ok_with(
            d,
            &["console-producer", "--topic", "t", "--property", "parse.key=true"],
            &format!("k{i}\tvalue-{i}\n"),
        );
    }
    let log = d.join("t-0/00000000000000000000.log");
    let out = ok(d, &["dump-log", "--print-data-log", "--files", log.to_str().unwrap()]);
    assert!(out.contains("Log starting offset: 0"), "{out}");
    assert_eq!(out.matches("isvalid: true").count(), 4, "{out}");
    assert!(out.contains("| offset: 2 CreateTime: ") && out.contains("key: k2 payload: value-2"), "{out}");
    let index = d.join("t-0/00000000000000000000.index");
    let out = ok(d, &["dump-log", "--index-sanity-check", "--files", index.to_str().unwrap()]);
    assert!(out.contains("is empty.") || out.contains("passed sanity check"), "{out}");

    // Damage: a flipped CRC byte in batch 1 and a wrecked length in batch 2.
    let copy = tmp.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let positions: Vec<usize> = out_positions(&ok(d, &["dump-log", "--files", log.to_str().unwrap()]));
    bytes[positions[1] + 40] ^= 0xff;
    bytes[positions[2] + 8..positions[2] + 12].copy_from_slice(&[0, 0, 0, 1]);
    std::fs::write(&copy, &bytes).unwrap();
    let r = run_in(d, &["dump-log", "--deep-iteration", "--files", copy.to_str().unwrap()], "");
    assert_eq!(r.status, 1);
    assert!(
        r.stdout.contains(&format!("position: {} ", positions[1])) && r.stdout.contains("isvalid: false"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("Corrupt batch at position {}", positions[2])), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("dump resumed at position {}", positions[3])), "{}", r.stdout);
    assert!(r.stdout.contains("| offset: 3 "), "the batch after the damage is dumped: {}", r.stdout);

    // The offsets decoder on the store's own __consumer_offsets.
    ok(d, &["console-consumer", "--topic", "t", "--group", "grp", "--from-beginning", "--timeout-ms", "200"]);
    let offsets_log = d.join("__consumer_offsets-0/00000000000000000000.log");
    let out = ok(d, &["dump-log", "--offsets-decoder", "--files", offsets_log.to_str().unwrap()]);
    assert!(out.contains(r#""group":"grp""#) && out.contains(r#""offset":4"#), "{out}");
}

fn out_positions(out: &str) -> Vec<usize> {
    out.lines().filter(|l| l.starts_with("baseOffset:")).map(|l| kv(l)["position"].parse().unwrap()).collect()
}

#[test]
fn verify_finds_a_flipped_byte_and_a_torn_tail_without_changing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = &tmp.path().join("data");
    ok(d, &["topics", "--create", "--topic", "v", "--partitions", "1", "--config", "segment.bytes=2000"]);
    ok(d, &["topics", "--create", "--topic", "other", "--partitions", "1"]);
    ok_with(d, &["console-producer", "--topic", "other"], "x\ny\n");
    let lines: String = (0..200).map(|i| format!("record number {i} with some padding to fill segments\n")).collect();
    ok_with(d, &["console-producer", "--topic", "v", "--sync"], &lines);
    let out = ok(d, &["verify"]);
    assert!(out.contains("all OK"), "{out}");

    let dir = d.join("v-0");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 3, "{logs:?}");
    // Flip a byte in the middle of an old segment.
    let victim = &logs[1];
    let mut bytes = std::fs::read(victim).unwrap();
    let mut mid = bytes.len() / 2;
    // partitionLeaderEpoch (bytes 12..16 of a batch) is covered by no check, in Kafka either.
    let starts = out_positions(&ok(d, &["dump-log", "--files", victim.to_str().unwrap()]));
    let start = starts.iter().copied().filter(|&p| p <= mid).max().unwrap();
    if (12..16).contains(&(mid - start)) {
        mid = start + 30;
    }
    bytes[mid] ^= 0x55;
    std::fs::write(victim, &bytes).unwrap();
    // Tear the last segment's tail.
    let last = logs.last().unwrap();
    let mut tail = std::fs::read(last).unwrap();
    let torn_at = tail.len();
    tail.extend_from_within(..30);
    std::fs::write(last, &tail).unwrap();

    let before = hash_dir(d);
    let r = run_in(d, &["verify"], "");
    assert_eq!(before, hash_dir(d), "verify changed files");
    assert_eq!(r.status, 1, "{}", r.stdout);
    let problems: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("PROBLEM")).collect();
    let victim_name = victim.display().to_string();
    let flipped = problems.iter().find(|l| l.contains(&victim_name)).unwrap_or_else(|| panic!("{}", r.stdout));
    // The batch holding the byte: its position is at or before the byte.
    let at: usize = flipped.split("position ").nth(1).unwrap().split(':').next().unwrap().parse().unwrap();
    assert!(at <= mid, "{flipped}");
    assert!(
        problems.iter().any(|l| l.contains(&last.display().to_string())
            && l.contains(&format!("position {torn_at}:"))
            && l.contains("torn")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.lines().last().unwrap().contains("problems"), "{}", r.stdout);
    // --topic narrows the check.
    let r = run_in(d, &["verify", "--topic", "v"], "");
    assert_eq!(r.status, 1);
    let r = run_in(d, &["verify", "--topic", "other"], "");
    assert_eq!(r.status, 0, "{}", r.stdout);
    assert!(r.stdout.contains("Checked 1 partitions"), "{}", r.stdout);
    assert_eq!(before, hash_dir(d));

    // A damaged index entry is named with its file and byte position.
    let tmp2 = tempfile::tempdir().unwrap();
    let d2 = &tmp2.path().join("data");
    ok(d2, &["topics", "--create", "--topic", "w", "--partitions", "1", "--config", "index.interval.bytes=100"]);
    ok_with(d2, &["console-producer", "--topic", "w", "--sync"], &lines);
    let index = d2.join("w-0/00000000000000000000.index");
    let mut bytes = std::fs::read(&index).unwrap();
    assert!(bytes.len() >= 16, "the index has entries");
    bytes[12..16].copy_from_slice(&[0, 0, 0, 7]); // entry 1 points at position 7
    std::fs::write(&index, &bytes).unwrap();
    let r = run_in(d2, &["verify"], "");
    assert_eq!(r.status, 1);
    assert!(r.stdout.contains(&format!("{}: position 8: entry 1", index.display())), "{}", r.stdout);
}

#[test]
fn killed_producer_leaves_a_prefix_of_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    let d = &tmp.path().join("data");
    ok(d, &["topics", "--create", "--topic", "k", "--partitions", "1"]);
    let input: Vec<String> = (0..4000).map(|i| format!("line-{i:05}")).collect();
    let consumed = |d: &Path| -> Vec<String> {
        ok(d, &["console-consumer", "--topic", "k", "--from-beginning", "--timeout-ms", "300"])
            .lines()
            .map(String::from)
            .collect()
    };
    for round in 0..3u64 {
        let have = consumed(d);
        assert_eq!(have[..], input[..have.len()], "round {round}: not a prefix of the input");
        let mut child = Command::new(BIN)
            .args(["--data-dir", d.to_str().unwrap(), "console-producer", "--topic", "k", "--linger-ms", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let rest: Vec<String> = input[have.len()..].to_vec();
        let writer = std::thread::spawn(move || {
            for chunk in rest.chunks(50) {
                let text: String = chunk.iter().map(|l| format!("{l}\n")).collect();
                if stdin.write_all(text.as_bytes()).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        std::thread::sleep(Duration::from_millis(60 + 40 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        writer.join().unwrap();
        let r = run_in(d, &["verify"], "");
        assert!(r.status == 0 || r.stdout.contains("torn tail"), "{}", r.stdout);
    }
    // A last run to the end: exactly the input, nothing lost, doubled or reordered.
    let have = consumed(d);
    assert_eq!(have[..], input[..have.len()]);
    let rest: String = input[have.len()..].iter().map(|l| format!("{l}\n")).collect();
    ok_with(d, &["console-producer", "--topic", "k"], &rest);
    assert_eq!(consumed(d), input);
    assert!(ok(d, &["verify"]).contains("all OK"));
}

#[test]
fn perf_test_reports_beside_raw_io() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let out = ok(
        d,
        &[
            "perf-test",
            "--topic",
            "perf",
            "--num-records",
            "3000",
            "--record-size",
            "100",
            "--batch-size",
            "50",
            "--flush-every",
            "1000",
            "--partitions",
            "2",
        ],
    );
    assert!(out.contains("3000 records sent") && out.contains("records/sec") && out.contains("MB/sec"), "{out}");
    assert!(out.contains("99th") && out.contains("raw write()") && out.contains("raw read()"), "{out}");
    assert!(out.contains("3000 records read"), "{out}");
    assert_eq!(ok(d, &["get-offsets", "--topic", "perf"]).lines().count(), 2);
    assert!(!std::fs::read_dir(d).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("perf-test-raw")));
}

#[test]
fn verify_passes_every_real_kafka_directory_but_the_orphaned_index() {
    let Some(dir) = common::kafka_real_dir() else { return };
    let mut sources: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    sources.sort();
    assert!(sources.len() >= 8);
    for source in sources {
        let before = hash_dir(&source);
        let r = run_in(&source, &["verify"], "");
        assert_eq!(before, hash_dir(&source));
        if source.ends_with("toy-node-log-collector-cp-kafka-orphan-index") {
            assert_eq!(r.status, 1);
            assert_eq!(r.stdout.matches("index file without its .log").count(), 2, "{}", r.stdout);
        } else {
            assert_eq!(r.status, 0, "{}: {}", source.display(), r.stdout);
            assert!(r.stdout.contains("all OK"));
        }
    }
}
