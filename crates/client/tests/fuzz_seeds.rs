//! Replays the `starttls` fuzz target's seeds and regressions (fuzz/seeds/starttls,
//! fuzz/regressions/starttls) through its check, so `cargo test` exercises them.

#[path = "../../../fuzz/replay.rs"]
mod replay;
#[path = "../../../fuzz/starttls_checks.rs"]
mod starttls_checks;

#[test]
fn starttls_seeds_pass() {
    let count = replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "starttls",
        starttls_checks::check_starttls,
    );
    assert!(count >= 8, "only {count} seeds");
}
