//! Replays the `socks5` fuzz target's seeds and regressions (fuzz/seeds/socks5,
//! fuzz/regressions/socks5) through its own check, so `cargo test` exercises it.

#[path = "../../../fuzz/socks5_checks.rs"]
mod socks5_checks;

#[test]
fn socks5_seeds_pass() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("socks5")) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| socks5_checks::check_socks5(&data));
            assert!(result.is_ok(), "{} fails its check", path.display());
            count += 1;
        }
    }
    assert!(count >= 8, "only {count} seeds");
}
