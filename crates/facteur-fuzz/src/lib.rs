//! A small mutation fuzzer for the parsers that read outside input.
//!
//! rustc 1.95 stable has no `-Zsanitizer=fuzzer`, so coverage-guided fuzzing (cargo fuzz) is out
//! of reach; this is the fallback the hardening issue allows: property tests over arbitrary bytes,
//! driven by a seeded PRNG, starting from each target's seed corpus and a dictionary of the
//! tokens its grammar cares about (CRLF, dots, `{%`, `<mj-`, …). A target is a function over
//! bytes that must return for every input without panicking, aborting or taking more than
//! [`SLOW`]. `bench/fuzz.sh` runs a million cases per target; `tests/smoke.rs` a few thousand in
//! every `cargo test`. A failing input is written to `fuzz-crashes/` and printed with the
//! command that replays it; once fixed it becomes a regression test in the crate that owns the
//! parser.

pub mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// A case slower than this is a failure: parsers must be linear, and a render has a time budget.
pub const SLOW: Duration = Duration::from_secs(2);

/// One parser under test.
pub struct Target {
    pub name: &'static str,
    /// Valid and near-valid inputs the mutations start from.
    pub seeds: Vec<Vec<u8>>,
    /// Tokens inserted by mutations (the grammar's keywords and separators).
    pub dict: Vec<&'static [u8]>,
    /// Runs the parser; must not panic on any input.
    pub run: fn(&[u8]),
}

/// xorshift64*: fast, seeded, good enough to pick mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes every text parser should meet: line ends alone and in pairs, NUL, dot lines, high bytes.
const COMMON: [&[u8]; 12] = [
    b"\r\n",
    b"\r",
    b"\n",
    b"\0",
    b"\r\n.\r\n",
    b"\n.\n",
    b"\xff",
    b"\xc3\xa9",
    b" ",
    b"\t",
    b"\"",
    b"\\",
];

/// The input of case number `case` of a run seeded with `seed` (the same pair always gives the
/// same bytes, so a failure is replayed with `--seed S --case N`).
pub fn input(target: &Target, seed: u64, case: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ case.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let mut data = if target.seeds.is_empty() || rng.below(16) == 0 {
        let len = rng.below(64);
        (0..len).map(|_| rng.next() as u8).collect()
    } else {
        target.seeds[rng.below(target.seeds.len())].clone()
    };
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        mutate(&mut data, target, &mut rng);
    }
    data
}

fn token<'a>(target: &'a Target, rng: &mut Rng) -> &'a [u8] {
    if !target.dict.is_empty() && rng.below(3) != 0 {
        target.dict[rng.below(target.dict.len())]
    } else {
        COMMON[rng.below(COMMON.len())]
    }
}

fn mutate(data: &mut Vec<u8>, target: &Target, rng: &mut Rng) {
    let at = |rng: &mut Rng, data: &Vec<u8>| rng.below(data.len() + 1);
    match rng.below(11) {
        0 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] ^= 1 << rng.below(8);
        }
        1 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] = rng.next() as u8;
        }
        2 => {
            let i = at(rng, data);
            data.insert(i, rng.next() as u8);
        }
        3 if !data.is_empty() => {
            let start = rng.below(data.len());
            let end = (start + 1 + rng.below(16)).min(data.len());
            data.drain(start..end);
        }
        4 | 5 => {
            let i = at(rng, data);
            let t = token(target, rng).to_vec();
            data.splice(i..i, t);
        }
        6 if !data.is_empty() => {
            // Duplicate a slice many times: deep nesting, long lines, many arguments.
            let start = rng.below(data.len());
            let end = (start + 1 + rng.below(32)).min(data.len());
            let piece = data[start..end].to_vec();
            let most = if rng.below(8) == 0 { 4096 } else { 16 };
            let times = 1 + rng.below(most);
            let mut out = Vec::with_capacity(data.len() + piece.len() * times);
            out.extend_from_slice(&data[..end]);
            for _ in 0..times {
                out.extend_from_slice(&piece);
            }
            out.extend_from_slice(&data[end..]);
            *data = out;
        }
        7 if !target.seeds.is_empty() => {
            // Splice: the head of this input, the tail of another seed.
            let other = &target.seeds[rng.below(target.seeds.len())];
            let cut = at(rng, data);
            let from = rng.below(other.len() + 1);
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        8 if !data.is_empty() => {
            let len = rng.below(data.len());
            data.truncate(len);
        }
        9 if data.len() > 1 => {
            let i = rng.below(data.len());
            let j = rng.below(data.len());
            data.swap(i, j);
        }
        _ => {
            let i = at(rng, data);
            let t = token(target, rng).to_vec();
            let times = 1 + rng.below(4);
            for _ in 0..times {
                data.splice(i..i, t.iter().copied());
            }
        }
    }
}

/// Why a case failed.
#[derive(Debug)]
pub enum Failure {
    Panic(String),
    Slow(Duration),
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: u64,
    pub slowest: Duration,
    pub failures: Vec<(u64, Failure)>,
}

/// Runs `cases` cases of `target` starting at case 0 of `seed`. `progress` is called every
/// 10,000 cases with the number done. Stops after the first failure unless `keep_going`.
pub fn run(
    target: &Target,
    seed: u64,
    cases: u64,
    keep_going: bool,
    progress: impl FnMut(u64),
) -> Report {
    run_range(target, seed, 0..cases, keep_going, progress)
}

/// [`run`] over the cases `range` of `seed` (how a crashing case is found by bisection).
pub fn run_range(
    target: &Target,
    seed: u64,
    range: std::ops::Range<u64>,
    keep_going: bool,
    mut progress: impl FnMut(u64),
) -> Report {
    let mut report = Report::default();
    for case in range {
        let data = input(target, seed, case);
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(&data)));
        let took = started.elapsed();
        report.cases += 1;
        report.slowest = report.slowest.max(took);
        let failure = match outcome {
            Err(payload) => Some(Failure::Panic(panic_message(&payload))),
            Ok(()) if took > SLOW => Some(Failure::Slow(took)),
            Ok(()) => None,
        };
        if let Some(f) = failure {
            report.failures.push((case, f));
            if !keep_going {
                break;
            }
        }
        if (case + 1) % 10_000 == 0 {
            progress(case + 1);
        }
    }
    report
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Every target, by name.
pub fn all() -> Vec<Target> {
    let mut all = Vec::new();
    all.extend(targets::smtp::targets());
    all.extend(targets::message::targets());
    all.extend(targets::template::targets());
    all
}
