//! Replays the committed fuzz seed corpora (fuzz/seeds) through the fuzz targets' own
//! checks, so `cargo test` exercises every target without nightly or cargo-fuzz.

#[path = "../../../fuzz/checks.rs"]
mod checks;

#[path = "../../../fuzz/replay.rs"]
mod replay;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    replay::replay(env!("CARGO_MANIFEST_DIR"), target, check)
}

#[test]
fn framer_seeds_pass() {
    assert!(replay("framer", checks::check_framer) >= 10);
}

#[test]
fn stanza_seeds_pass() {
    assert!(replay("stanza", checks::check_stanza) >= 10);
}

#[test]
fn differential_seeds_pass() {
    assert!(replay("differential", checks::check_differential) >= 10);
}
