//! Fuzz target `si`: see `check_si` in fuzz/si_checks.rs for the property.
#![no_main]

#[path = "../si_checks.rs"]
mod si_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| si_checks::check_si(data));
