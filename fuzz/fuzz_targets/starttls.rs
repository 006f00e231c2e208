//! Fuzz target `starttls`: see `check_starttls` in fuzz/starttls_checks.rs.
#![no_main]

#[path = "../starttls_checks.rs"]
mod starttls_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| starttls_checks::check_starttls(data));
