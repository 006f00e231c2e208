//! Replays the `mdns` fuzz target's seeds and regressions (fuzz/seeds/mdns,
//! fuzz/regressions/mdns) through its own check, so `cargo test` exercises it.

#[path = "../../../fuzz/mdns_checks.rs"]
mod mdns_checks;

#[test]
fn mdns_seeds_pass() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("mdns")) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| mdns_checks::check_mdns(&data));
            assert!(result.is_ok(), "{} fails its check", path.display());
            count += 1;
        }
    }
    assert!(count >= 10, "only {count} seeds");
}
