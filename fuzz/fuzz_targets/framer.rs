//! Fuzz target `framer`: see `check_framer` in fuzz/checks.rs for the property.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_framer(data));
