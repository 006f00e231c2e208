//! Replays a fuzz target's committed inputs through its check, for the crates' tests
//! (`#[path]`-included), so `cargo test` exercises every target without nightly or
//! cargo-fuzz.

use std::path::Path;

/// Runs `check` on every file of `fuzz/seeds/<target>` and on every crash input saved in
/// `fuzz/regressions/<target>`, and returns how many it ran. `crate_dir` is the calling
/// crate's `CARGO_MANIFEST_DIR` (two floors below the workspace root).
pub fn replay(crate_dir: &str, target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(crate_dir).join("../../fuzz");
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
