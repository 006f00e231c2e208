//! Project tasks: `cargo xtask <task>` (the alias lives in .cargo/config.toml).
//!
//! - `fuzz [--seconds N] [TARGET…]`: runs every fuzz target (or the named ones) for N
//!   seconds each with cargo-fuzz on the nightly toolchain, starting from the committed
//!   seeds. A crash fails the task and names the input to add to fuzz/regressions.
//! - `bench [--quick]`: runs the criterion benchmarks; they write
//!   `target/bench-summary.json` and print their tables and ratios.
//! - `interop`: llxmpp against real third-party peers (libpurple, Avahi) in network
//!   namespaces; prints `N passed, N failed` (see interop.rs).
//! - `ci`: what `.ci/run` checks, from a developer's checkout: format, clippy, docs, the
//!   tests, interop, every fuzz target for 60 s. It installs nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod interop;
mod netlab;

const FUZZ_TARGETS: [&str; 4] = ["framer", "stanza", "differential", "mdns"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("fuzz") => fuzz(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("interop") => interop::interop(&workspace_root(), &args[1..]),
        Some("ci") => ci(&args[1..]),
        _ => Err(usage()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> String {
    "usage: cargo xtask fuzz [--seconds N] [TARGET...] | cargo xtask bench [--quick] | cargo xtask interop [--capture DIR] | cargo xtask ci".to_owned()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn fuzz(args: &[String]) -> Result<(), String> {
    let mut seconds = 60u64;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a number")?;
                seconds = value
                    .parse()
                    .map_err(|_| format!("--seconds: not a number: {value}"))?;
            }
            target if FUZZ_TARGETS.contains(&target) => targets.push(target.to_owned()),
            other => {
                return Err(format!(
                    "unknown fuzz target or option {other}; targets: {FUZZ_TARGETS:?}"
                ))
            }
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let has_cargo_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !has_cargo_fuzz {
        return Err("cargo-fuzz on the nightly toolchain is missing: \
                    `rustup toolchain install nightly` and `cargo install cargo-fuzz --locked`"
            .to_owned());
    }
    let fuzz_dir = workspace_root().join("fuzz");
    let mut failed = Vec::new();
    for target in &targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let seeds = fuzz_dir.join("seeds").join(target);
        println!("xtask: fuzzing {target} for {seconds} s");
        let status = Command::new("cargo")
            .current_dir(&fuzz_dir)
            .args(["+nightly", "fuzz", "run", "-O", target])
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            .status()
            .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
        if !status.success() {
            println!(
                "xtask: {target} FAILED; the input is in fuzz/artifacts/{target}/: copy it to \
                 fuzz/regressions/{target}/ so that `cargo test` replays it"
            );
            failed.push(target.clone());
        }
    }
    let passed = targets.len() - failed.len();
    println!("{passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz targets failed: {failed:?}"))
    }
}

/// A step of `ci`: its name, cargo's arguments, and an environment variable to set.
type CiStep = (
    &'static str,
    &'static [&'static str],
    Option<(&'static str, &'static str)>,
);

fn ci(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("ci takes no options (got {args:?})"));
    }
    let root = workspace_root();
    let steps: [CiStep; 4] = [
        ("format", &["fmt", "--all", "--", "--check"], None),
        (
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            None,
        ),
        (
            "docs",
            &["doc", "--workspace", "--no-deps", "--quiet"],
            Some(("RUSTDOCFLAGS", "-D warnings")),
        ),
        ("tests", &["test", "--workspace"], None),
    ];
    for (name, cargo_args, env) in steps {
        println!("xtask: {name}");
        let mut command = Command::new("cargo");
        command.current_dir(&root).args(cargo_args);
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        let status = command
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("{name} failed"));
        }
    }
    interop::interop(&root, &[])?;
    fuzz(&["--seconds".to_owned(), "60".to_owned()])
}

fn bench(args: &[String]) -> Result<(), String> {
    let mut criterion_args = Vec::new();
    for arg in args {
        match arg.as_str() {
            // Enough samples for a ratio, in about a minute in all.
            "--quick" => criterion_args.extend(["--warm-up-time", "1", "--measurement-time", "2"]),
            other => return Err(format!("unknown bench option {other}")),
        }
    }
    let root = workspace_root();
    let status = Command::new("cargo")
        .current_dir(&root)
        .env("CRITERION_HOME", root.join("target/criterion"))
        .args(["bench", "--package", "llxmpp-benches", "--"])
        .args(&criterion_args)
        .status()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !status.success() {
        return Err("benchmarks failed".to_owned());
    }
    let summary = root.join("target/bench-summary.json");
    if !summary.exists() {
        return Err(format!("{} was not written", summary.display()));
    }
    println!("xtask: summary in {}", summary.display());
    Ok(())
}
