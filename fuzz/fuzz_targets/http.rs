//! Fuzz target `http`: see `check_http` in fuzz/http_checks.rs for the property.
#![no_main]

#[path = "../http_checks.rs"]
mod http_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| http_checks::check_http(data));
