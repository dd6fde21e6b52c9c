//! `facteur-fuzz [--cases N] [--seed S] [--case N] [--keep-going] [--list] [TARGET…]`: runs the
//! mutation fuzzer over the named targets (all by default) and exits 1 when any case panics,
//! aborts or is slow. `--case N` replays one case and writes its input to `fuzz-crashes/`.
//!
//! Cases run in child processes of this same binary, a chunk at a time, so that an abort
//! (a stack overflow, an allocation failure) ends one chunk, not the run: the parent then
//! bisects the chunk in further children down to the case that aborts, and saves its input.

use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use facteur_fuzz::{Target, input};

/// Cases per child process.
const CHUNK: u64 = 50_000;

fn main() -> ExitCode {
    let mut cases: u64 = 1_000_000;
    let mut seed: u64 = 1;
    let mut only_case: Option<u64> = None;
    let mut range: Option<(u64, u64)> = None;
    let mut keep_going = false;
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> u64 {
            match args.next().and_then(|v| v.replace('_', "").parse().ok()) {
                Some(n) => n,
                None => {
                    eprintln!("facteur-fuzz: {what} takes a whole number");
                    std::process::exit(2)
                }
            }
        };
        match arg.as_str() {
            "--cases" => cases = number("--cases"),
            "--seed" => seed = number("--seed"),
            "--case" => only_case = Some(number("--case")),
            "--range" => range = Some((number("--range"), number("--range"))),
            "--keep-going" => keep_going = true,
            "--list" => {
                for t in facteur_fuzz::all() {
                    println!("{}", t.name);
                }
                return ExitCode::SUCCESS;
            }
            "-h" | "--help" => {
                println!(
                    "usage: facteur-fuzz [--cases N] [--seed S] [--case N] [--keep-going] [--list] [TARGET…]"
                );
                return ExitCode::SUCCESS;
            }
            name => names.push(name.to_string()),
        }
    }
    let targets: Vec<_> = facteur_fuzz::all()
        .into_iter()
        .filter(|t| names.is_empty() || names.iter().any(|n| n == t.name))
        .collect();
    if targets.is_empty() {
        eprintln!("facteur-fuzz: no target matches {names:?}; --list shows them");
        return ExitCode::from(2);
    }
    if let Some(case) = only_case {
        for t in &targets {
            let data = input(t, seed, case);
            let path = save(t.name, seed, case, &data);
            println!(
                "{}: case {case} of seed {seed} ({} bytes) written to {path}",
                t.name,
                data.len()
            );
            (t.run)(&data);
            println!("{}: case {case} returned", t.name);
        }
        return ExitCode::SUCCESS;
    }
    if let Some((from, to)) = range {
        // A child: one target, one range; failures as `FAIL case reason` lines.
        let report = facteur_fuzz::run_range(&targets[0], seed, from..to, keep_going, |_| {});
        println!("SLOWEST {}", report.slowest.as_micros());
        for (case, failure) in &report.failures {
            println!("FAIL {case} {failure:?}");
        }
        return if report.failures.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let mut failed = false;
    for t in &targets {
        failed |= !fuzz_target(t, seed, cases, keep_going);
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// What one child reported.
struct Child {
    /// `None` when the child died without reporting (abort, signal).
    failures: Option<Vec<(u64, String)>>,
    slowest_us: u64,
}

fn child(target: &Target, seed: u64, from: u64, to: u64, keep_going: bool) -> Child {
    let exe = std::env::current_exe().expect("own path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--seed",
        &seed.to_string(),
        "--range",
        &from.to_string(),
        &to.to_string(),
    ]);
    if keep_going {
        cmd.arg("--keep-going");
    }
    let out = cmd
        .arg(target.name)
        .stderr(Stdio::null())
        .output()
        .expect("run a child");
    let text = String::from_utf8_lossy(&out.stdout);
    let slowest_us = text
        .lines()
        .find_map(|l| l.strip_prefix("SLOWEST "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let reported = text.lines().any(|l| l.starts_with("SLOWEST "));
    let failures = reported.then(|| {
        text.lines()
            .filter_map(|l| l.strip_prefix("FAIL "))
            .filter_map(|l| l.split_once(' '))
            .filter_map(|(case, why)| Some((case.parse().ok()?, why.to_string())))
            .collect()
    });
    Child {
        failures,
        slowest_us,
    }
}

/// The first case of `from..to` whose child dies, by bisection.
fn aborting_case(target: &Target, seed: u64, mut from: u64, mut to: u64) -> Option<u64> {
    while to - from > 1 {
        let mid = from + (to - from) / 2;
        if child(target, seed, from, mid, false).failures.is_none() {
            to = mid;
        } else {
            from = mid;
        }
    }
    child(target, seed, from, to, false)
        .failures
        .is_none()
        .then_some(from)
}

/// Fuzzes one target; prints its summary line and failures. `false` when anything failed.
fn fuzz_target(t: &Target, seed: u64, cases: u64, keep_going: bool) -> bool {
    let started = Instant::now();
    let mut failures: Vec<(u64, String)> = Vec::new();
    let mut slowest_us = 0;
    let mut done = 0;
    while done < cases && (keep_going || failures.is_empty()) {
        let to = (done + CHUNK).min(cases);
        let c = child(t, seed, done, to, keep_going);
        slowest_us = slowest_us.max(c.slowest_us);
        match c.failures {
            Some(f) => failures.extend(f),
            None => match aborting_case(t, seed, done, to) {
                Some(case) => failures.push((
                    case,
                    "aborted (stack overflow, allocation failure or signal)".into(),
                )),
                None => failures.push((
                    done,
                    "a chunk aborted but no single case did on its own".into(),
                )),
            },
        }
        done = to;
        eprint!(
            "\r{}: {done}/{cases} cases, {:.0} s ",
            t.name,
            started.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    }
    eprint!("\r");
    println!(
        "{}: {done} cases in {:.1} s, slowest {:.1} ms, {} failure(s)",
        t.name,
        started.elapsed().as_secs_f64(),
        slowest_us as f64 / 1000.0,
        failures.len()
    );
    for (case, why) in &failures {
        let data = input(t, seed, *case);
        let path = save(t.name, seed, *case, &data);
        println!(
            "  case {case}: {why}; input in {path}; replay: facteur-fuzz --seed {seed} --case {case} {}",
            t.name
        );
    }
    failures.is_empty()
}

fn save(name: &str, seed: u64, case: u64, data: &[u8]) -> String {
    let _ = std::fs::create_dir_all("fuzz-crashes");
    let path = format!("fuzz-crashes/{name}-{seed}-{case}.bin");
    if let Err(e) = std::fs::write(&path, data) {
        eprintln!("facteur-fuzz: cannot write {path}: {e}");
    }
    path
}
