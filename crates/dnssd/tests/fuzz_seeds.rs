//! Replays the `mdns` fuzz target's seeds and regressions (fuzz/seeds/mdns,
//! fuzz/regressions/mdns) through its own check, so `cargo test` exercises it.

#[path = "../../../fuzz/mdns_checks.rs"]
mod mdns_checks;
#[path = "../../../fuzz/replay.rs"]
mod replay;

#[test]
fn mdns_seeds_pass() {
    let count = replay::replay(env!("CARGO_MANIFEST_DIR"), "mdns", mdns_checks::check_mdns);
    assert!(count >= 10, "only {count} seeds");
}
