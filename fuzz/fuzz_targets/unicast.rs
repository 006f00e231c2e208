//! Fuzz target `unicast`: see `check_unicast` in fuzz/unicast_checks.rs.
#![no_main]

#[path = "../unicast_checks.rs"]
mod unicast_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| unicast_checks::check_unicast(data));
