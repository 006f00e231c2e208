//! Fuzz target `socks5`: see `check_socks5` in fuzz/socks5_checks.rs for the property.
#![no_main]

#[path = "../socks5_checks.rs"]
mod socks5_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| socks5_checks::check_socks5(data));
