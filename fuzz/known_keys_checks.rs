//! The property of the `known_keys` fuzz target, shared with the secure crate's test that
//! replays its seeds: whatever a known-keys file holds (it is ours, but a user may edit
//! it, or a disk may mangle it), reading it never panics, and what it reads writes back to
//! a text that reads the same.

use llxmpp_secure::known::{is_pinnable_name, KnownKeys};

/// `known_keys` target: the input, as text, is a known-keys file.
pub fn check_known_keys(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(known) = KnownKeys::parse(text) else {
        return;
    };
    assert!(known.names().all(is_pinnable_name));
    let written = known.to_text();
    assert_eq!(KnownKeys::parse(&written).as_ref(), Ok(&known));
}
