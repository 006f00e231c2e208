//! Fuzz target `known_keys`: see `check_known_keys` in fuzz/known_keys_checks.rs.
#![no_main]

#[path = "../known_keys_checks.rs"]
mod known_keys_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| known_keys_checks::check_known_keys(data));
