//! Project tasks: `cargo xtask <task>` (the alias lives in .cargo/config.toml).
//!
//! - `fuzz [--seconds N] [TARGET…]`: runs every fuzz target (or the named ones) for N
//!   seconds each with cargo-fuzz on the nightly toolchain, starting from the committed
//!   seeds. A crash fails the task and names the input to add to fuzz/regressions.
//! - `bench [--quick]`: runs every benchmark in `benches/` (they write
//!   `target/bench-summary.json`), then, as root, the figures against real peers
//!   (libpurple's throughput, discovery and goodbye times with Avahi and libpurple; see
//!   interop.rs), and prints every figure with its goal.
//! - `interop`: llxmpp against real third-party peers (libpurple, Avahi, python-zeroconf,
//!   Apple's mDNSResponder) in network namespaces; prints `N passed, N failed, N skipped`
//!   (see interop.rs).
//! - `discovery [--runs N]`: as root, how long llxmpp, Apple's `dns-sd` and Avahi take to
//!   find 100 services held by mDNSResponder (also part of `bench`).
//! - `package`: `cargo package` of the five library crates, each built from its packaged
//!   files alone; fails on any warning (see [`package`]).
//! - `ci`: what `.ci/run` checks, from a developer's checkout: format, clippy, docs, the
//!   packages, the tests, interop, every fuzz target for 60 s. It installs nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

mod interop;
mod netlab;

const FUZZ_TARGETS: [&str; 10] = [
    "framer",
    "stanza",
    "differential",
    "mdns",
    "socks5",
    "http",
    "si",
    "known_keys",
    "starttls",
    "unicast",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("fuzz") => fuzz(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("interop") => interop::interop(&workspace_root(), &args[1..]),
        Some("package") => package(),
        Some("discovery") => interop::discovery(&workspace_root(), &args[1..]),
        Some("transfer-bench") => interop::transfer_bench(&workspace_root(), &args[1..]),
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
    "usage: cargo xtask fuzz [--seconds N] [TARGET...] | cargo xtask bench [--quick] | cargo xtask interop [--capture DIR] [--mdnsresponder DIR] [--encrypt MODE] | cargo xtask package | cargo xtask discovery [--runs N] | cargo xtask transfer-bench [--mib N] | cargo xtask ci".to_owned()
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
    package()?;
    interop::interop(&root, &[])?;
    fuzz(&["--seconds".to_owned(), "60".to_owned()])
}

/// Packs the five library crates and builds each from its packaged files alone, as a
/// user of crates.io would get them (benches and xtask are `publish = false`, which
/// `--workspace` does not skip). Any warning fails the task.
///
/// Cargo unpacks the crates of its temporary registry into `CARGO_HOME` once, and builds
/// them once, as if a version's content could never change: a second run after an edit
/// would verify the old code. So our unpacked copies and their build fingerprints go
/// first, and the verification has a target dir of its own.
fn package() -> Result<(), String> {
    let root = workspace_root();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let target = root.join("target").join("package-check");
    let stale = [
        (cargo_home.join("registry").join("src"), true),
        (target.join("debug").join(".fingerprint"), false),
    ];
    for (dir, registries) in stale {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if registries && name.starts_with('-') {
                // A temporary registry's sources (a local registry's folder has no host
                // name before the hash): ours alone are removed.
                remove_ours(&entry.path())?;
            } else if !registries && name.starts_with("llxmpp") {
                std::fs::remove_dir_all(entry.path())
                    .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            }
        }
    }
    println!("xtask: package");
    let output = Command::new("cargo")
        .current_dir(&root)
        .args(["package", "--workspace", "--exclude", "llxmpp-benches"])
        .args(["--exclude", "xtask", "--target-dir"])
        .arg(&target)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    eprint!("{log}");
    if !output.status.success() {
        return Err("cargo package failed".into());
    }
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("warning")).collect();
    if !warnings.is_empty() {
        return Err(format!("cargo package warned: {warnings:?}"));
    }
    Ok(())
}

/// Removes the unpacked `llxmpp*` crates from one registry's source folder.
fn remove_ours(registry: &Path) -> Result<(), String> {
    let entries =
        std::fs::read_dir(registry).map_err(|e| format!("{}: {e}", registry.display()))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with("llxmpp") {
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn bench(args: &[String]) -> Result<(), String> {
    let mut criterion_args = Vec::new();
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            // Enough samples for a ratio, in about a minute in all.
            "--quick" => {
                quick = true;
                criterion_args.extend(["--warm-up-time", "1", "--measurement-time", "2"]);
            }
            other => return Err(format!("unknown bench option {other}")),
        }
    }
    let root = workspace_root();
    // The e2e benchmark measures the release binary's memory.
    let status = Command::new("cargo")
        .current_dir(&root)
        .args(["build", "--release", "--quiet", "--package", "llxmpp"])
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --release --package llxmpp failed".to_owned());
    }
    let summary = llxmpp_benches::target_dir().join("bench-summary.json");
    let _ = std::fs::remove_file(&summary);
    let status = Command::new("cargo")
        .current_dir(&root)
        .env("CRITERION_HOME", root.join("target/criterion"))
        .env(
            "LLXMPP_BIN",
            llxmpp_benches::target_dir().join("release/llxmpp"),
        )
        .args(["bench", "--package", "llxmpp-benches", "--benches", "--"])
        .args(&criterion_args)
        .status()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !status.success() {
        return Err("benchmarks failed".to_owned());
    }
    if is_root() {
        let (runs, spell) = if quick { (3, 3) } else { (7, 5) };
        let figures = interop::peer_figures(&root, runs, Duration::from_secs(spell))?;
        llxmpp_benches::add_to_summary(figures).map_err(|e| e.to_string())?;
    } else {
        println!("xtask: not root: the figures against libpurple and Avahi are not measured");
    }
    let text = std::fs::read_to_string(&summary)
        .map_err(|e| format!("{} was not written: {e}", summary.display()))?;
    let figures: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    print_summary(&figures);
    println!("xtask: summary in {}", summary.display());
    Ok(())
}

/// Whether this process runs as root (network namespaces need it).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The figures with their goals (from the issues), and the ratios measured side by side.
fn print_summary(figures: &serde_json::Value) {
    let number = |key: &str| figures.get(key).and_then(|v| v.as_f64());
    let mbps = |key: &str| figures.get(key).and_then(|v| v["mb_per_s"].as_f64());
    println!("\n{:<38} {:>14}  goal", "figure", "value");
    // (figure, value, goal)
    let rows: Vec<(&str, Option<f64>, &str)> = vec![
        ("framer MB/s", mbps("framer"), ""),
        (
            "framer / quick_xml",
            mbps("framer").zip(mbps("quick_xml")).map(|(a, b)| a / b),
            ">= 3",
        ),
        (
            "framer_typed / rxml",
            mbps("framer_typed").zip(mbps("rxml")).map(|(a, b)| a / b),
            ">= 3",
        ),
        ("e2e_msgs_per_s", number("e2e_msgs_per_s"), ">= 200,000"),
        ("e2e_latency_p50_us", number("e2e_latency_p50_us"), ""),
        ("e2e_latency_p99_us", number("e2e_latency_p99_us"), ""),
        (
            "e2e_scaling_msgs_per_s_1",
            number("e2e_scaling_msgs_per_s_1"),
            "",
        ),
        (
            "e2e_scaling_msgs_per_s_10",
            number("e2e_scaling_msgs_per_s_10"),
            "",
        ),
        (
            "e2e_scaling_msgs_per_s_100",
            number("e2e_scaling_msgs_per_s_100"),
            "",
        ),
        ("libpurple_msgs_per_s", number("libpurple_msgs_per_s"), ""),
        (
            "e2e / libpurple",
            number("e2e_msgs_per_s")
                .zip(number("libpurple_msgs_per_s"))
                .map(|(a, b)| a / b),
            ">= 10",
        ),
        (
            "idle_stream_rss_bytes",
            number("idle_stream_rss_bytes"),
            "<= 16,384",
        ),
        (
            "e2e_encrypted_of_plaintext_percent",
            number("e2e_encrypted_of_plaintext_percent"),
            ">= 70",
        ),
        (
            "first message encrypted / plaintext",
            number("e2e_first_message_encrypted_us")
                .zip(number("e2e_first_message_plaintext_us"))
                .map(|(a, b)| a / b),
            "<= 3",
        ),
        (
            "session_idle_bytes_encrypted",
            number("session_idle_bytes_encrypted"),
            "<= 65,536",
        ),
        (
            "zone_register_1000_s",
            number("zone_register_1000_s"),
            "<= 10",
        ),
        ("zone_roster_1000_s", number("zone_roster_1000_s"), "<= 2"),
        (
            "zone_queries_per_quiet_poll",
            number("zone_queries_per_quiet_poll"),
            "<= 1",
        ),
        ("idle_rss_bytes", number("idle_rss_bytes"), "<= 8,388,608"),
        (
            "rss_growth_bytes_per_1m_msgs",
            number("rss_growth_bytes_per_1m_msgs"),
            "<= 1,048,576",
        ),
        (
            "libpurple_idle_rss_bytes",
            number("libpurple_idle_rss_bytes"),
            "",
        ),
        (
            "libpurple_rss_growth_bytes_per_msg",
            number("libpurple_rss_growth_bytes_per_msg"),
            "",
        ),
        (
            "sim_lan_converge_s (1,000 nodes)",
            number("sim_lan_converge_s"),
            "<= 10",
        ),
        ("sim_lan_converge_s_10", number("sim_lan_converge_s_10"), ""),
        (
            "sim_lan_converge_s_100",
            number("sim_lan_converge_s_100"),
            "",
        ),
        (
            "sim_lan_max_multicast (per node)",
            number("sim_lan_max_multicast"),
            "<= RFC bound",
        ),
        (
            "sim_lan_max_unicast (QU answers)",
            number("sim_lan_max_unicast"),
            "",
        ),
        (
            "sim_lan_max_packets (all, per node)",
            number("sim_lan_max_packets"),
            "",
        ),
        (
            "sim_lan_packets_bound_per_node",
            number("sim_lan_packets_bound_per_node"),
            "",
        ),
        ("discovery_ms", number("discovery_ms"), "<= 800"),
        (
            "discovery_libpurple_ms",
            number("discovery_libpurple_ms"),
            "",
        ),
        (
            "discovery_avahi_publish_ms (Avahi's own)",
            number("discovery_avahi_publish_ms"),
            "",
        ),
        ("goodbye_ms", number("goodbye_ms"), "<= 1,010"),
        ("goodbye_avahi_ms", number("goodbye_avahi_ms"), ""),
    ];
    for (name, value, goal) in rows {
        match value {
            Some(v) if v.abs() < 100.0 => println!("{name:<38} {v:>14.2}  {goal}"),
            Some(v) => println!("{name:<38} {v:>14.0}  {goal}"),
            None => println!("{name:<38} {:>14}  {goal}", "not measured"),
        }
    }
}
