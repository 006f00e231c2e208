//! Replays the `known_keys` fuzz target's seeds and regressions (fuzz/seeds/known_keys,
//! fuzz/regressions/known_keys) through its check, so `cargo test` exercises them.

#[path = "../../../fuzz/known_keys_checks.rs"]
mod known_keys_checks;
#[path = "../../../fuzz/replay.rs"]
mod replay;

#[test]
fn known_keys_seeds_pass() {
    let count = replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "known_keys",
        known_keys_checks::check_known_keys,
    );
    assert!(count >= 8, "only {count} seeds");
}
