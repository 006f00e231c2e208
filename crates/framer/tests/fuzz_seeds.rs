//! Replays the committed fuzz seed corpora (fuzz/seeds) through the fuzz targets' own
//! checks, so `cargo test` exercises every target without nightly or cargo-fuzz.

#[path = "../../../fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// Runs `check` on every file of `fuzz/seeds/<target>` and on every crash input saved in
/// `fuzz/regressions/<target>`, and returns how many it ran.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(result.is_ok(), "{} fails its check", path.display());
            count += 1;
        }
    }
    count
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
