//! Fuzz target `differential`: see `check_differential` in fuzz/checks.rs for the property.
#![no_main]

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_differential(data));
