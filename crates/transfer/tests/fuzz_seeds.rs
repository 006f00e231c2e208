//! Replays the `socks5`, `http` and `si` fuzz targets' seeds and regressions (fuzz/seeds/…,
//! fuzz/regressions/…) through their own checks, so `cargo test` exercises them.

#[path = "../../../fuzz/http_checks.rs"]
mod http_checks;
#[path = "../../../fuzz/replay.rs"]
mod replay;
#[path = "../../../fuzz/si_checks.rs"]
mod si_checks;
#[path = "../../../fuzz/socks5_checks.rs"]
mod socks5_checks;

#[test]
fn socks5_seeds_pass() {
    let count = replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "socks5",
        socks5_checks::check_socks5,
    );
    assert!(count >= 8, "only {count} seeds");
}

#[test]
fn http_seeds_pass() {
    let count = replay::replay(env!("CARGO_MANIFEST_DIR"), "http", http_checks::check_http);
    assert!(count >= 8, "only {count} seeds");
}

#[test]
fn si_seeds_pass() {
    let count = replay::replay(env!("CARGO_MANIFEST_DIR"), "si", si_checks::check_si);
    assert!(count >= 8, "only {count} seeds");
}
