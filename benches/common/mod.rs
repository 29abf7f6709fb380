//! Helpers shared by the benches (`mod common;` in each): deterministic data,
//! the criterion filter, the scratch-file warm-up and the paired (interleaved
//! A/B) comparisons of `/work/shared/BENCHMARKING.md`.

// Compiled into each bench separately, and not every bench uses every helper.
#![allow(dead_code)]

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const SCRATCH_BYTES: usize = 512 << 20;

/// Deterministic xorshift64, so every run uses the same data and targets.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------- filter

fn args() -> Vec<String> {
    std::env::args().skip(1).collect()
}

/// Whether criterion runs with `--profile-time`.
pub fn profiling() -> bool {
    args().iter().any(|a| a == "--profile-time")
}

/// The leading word of the criterion filter (`append_100B/partition` →
/// `append_100B`), empty without one.
fn filter_word() -> String {
    // Criterion options that take a value, so that the value is not read as the filter.
    const WITH_VALUE: [&str; 17] = [
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--plotting-backend",
        "--output-format",
        "--color",
    ];
    let mut filter = None;
    let mut skip_next = false;
    let args = args();
    for arg in &args {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        if arg.starts_with('-') {
            skip_next = WITH_VALUE.contains(&arg.as_str());
        } else {
            filter = Some(arg.as_str());
            break;
        }
    }
    filter
        .unwrap_or_default()
        .trim_start_matches('^')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Whether the filter can select `group` (its setup is skipped otherwise).
pub fn selected(group: &str) -> bool {
    group.contains(&filter_word())
}

/// Whether to run `group`'s paired comparison: under `cargo bench` (not
/// `cargo test --benches`, not `--profile-time`) when the filter selects it.
pub fn paired_enabled(group: &str) -> bool {
    args().iter().any(|a| a == "--bench") && !profiling() && selected(group)
}

// ---------------------------------------------------------------- timing

/// Writes and deletes a 512 MiB file in `dir`, so the next timed phase
/// writes into pages freed a moment ago (BENCHMARKING.md). Skipped when profiling.
pub fn warm_pages(dir: &Path) {
    if profiling() {
        return;
    }
    let path = dir.join("scratch");
    let chunk = vec![0x5a_u8; 1 << 20];
    let mut file = File::create(&path).expect("create scratch");
    for _ in 0..SCRATCH_BYTES / chunk.len() {
        file.write_all(&chunk).expect("write scratch");
    }
    drop(file);
    std::fs::remove_file(&path).expect("remove scratch");
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

pub fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn timed<T>(f: impl FnOnce() -> T) -> Duration {
    let start = Instant::now();
    black_box(f());
    start.elapsed()
}

// ---------------------------------------------------------------- paired runs

/// A contender of a paired run: its name, and a closure timing one repetition.
pub type Contender<'a> = (&'a str, Box<dyn FnMut() -> Duration + 'a>);

pub fn contender<'a>(name: &'a str, time: impl FnMut() -> Duration + 'a) -> Contender<'a> {
    (name, Box::new(time))
}

/// Runs the contenders interleaved for `rounds` rounds, rotating their order
/// each round and calling `before` ahead of each contender's turn (of `reps`
/// repetitions). Returns, per contender, the median of its `reps`
/// repetitions in each round.
pub fn interleave(
    rounds: usize,
    reps: usize,
    before: &mut dyn FnMut(),
    contenders: &mut [Contender<'_>],
) -> Vec<Vec<Duration>> {
    let n = contenders.len();
    let mut out = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            before();
            let time = &mut contenders[i].1;
            let times = (0..reps).map(|_| time()).collect();
            out[i].push(median(times));
        }
    }
    out
}

/// What one repetition does, for the figures `report` prints.
#[derive(Clone, Copy)]
pub enum Units {
    /// Bytes handled.
    Bytes(u64),
    /// Records handled, and bytes of their batches.
    Records { records: u64, bytes: u64 },
    /// Operations of one kind (`"lookup"`, `"read"`), shown as ns per operation.
    Ops(u64, &'static str),
}

/// Prints each contender's median figure and, per round, the speed of each
/// subject (contenders from `baselines` on) relative to each baseline
/// (> 1 means the subject is faster). `reps` is the repetitions per round
/// behind each figure, mentioned when more than one.
pub fn report(title: &str, names: &[&str], rounds: &[Vec<Duration>], reps: usize, baselines: usize, units: Units) {
    let medians = if reps > 1 { format!(", median of {reps} reps each") } else { String::new() };
    println!("paired {title} ({} rounds interleaved{medians}):", rounds[0].len());
    for (name, times) in names.iter().zip(rounds) {
        let m = median(times.clone());
        let secs = m.as_secs_f64();
        let figure = match units {
            Units::Bytes(bytes) => format!("{:.3} GB/s", bytes as f64 / secs / 1e9),
            Units::Records { records, bytes } => {
                format!("{:7.2} M records/s  {:6.3} GB/s", records as f64 / secs / 1e6, bytes as f64 / secs / 1e9)
            }
            Units::Ops(ops, unit) => format!("{:8.1} ns/{unit}", secs * 1e9 / ops as f64),
        };
        println!("  {name:<24} median {m:>10.3?}  {figure}");
    }
    for (name, times) in names.iter().zip(rounds).skip(baselines) {
        for (base_name, base) in names.iter().zip(rounds).take(baselines) {
            let ratios: Vec<f64> = times.iter().zip(base).map(|(t, b)| b.as_secs_f64() / t.as_secs_f64()).collect();
            let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
            println!("  speed {name} / {base_name}: median {:.3}  per round [{}]", median_f64(ratios), shown.join(" "));
        }
    }
}
