//! Fuzz target `mdns`: see `check_mdns` in fuzz/mdns_checks.rs for the property.
#![no_main]

#[path = "../mdns_checks.rs"]
mod mdns_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| mdns_checks::check_mdns(data));
