//! Replays the `socks5` and `http` fuzz targets' seeds and regressions (fuzz/seeds/…,
//! fuzz/regressions/…) through their own checks, so `cargo test` exercises them.

#[path = "../../../fuzz/http_checks.rs"]
mod http_checks;
#[path = "../../../fuzz/socks5_checks.rs"]
mod socks5_checks;

/// Runs `check` on every seed and regression input of `target`; how many there were.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
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
fn socks5_seeds_pass() {
    let count = replay("socks5", socks5_checks::check_socks5);
    assert!(count >= 8, "only {count} seeds");
}

#[test]
fn http_seeds_pass() {
    let count = replay("http", http_checks::check_http);
    assert!(count >= 8, "only {count} seeds");
}
