//! What the `llxmpp` binary promises to scripts, kept in the library so that tests can
//! hold it against `docs/CONTRACT.md`.
//!
//! - [`json`]: the JSON-lines protocol of `llxmpp chat --json` and `llxmpp peers --json`,
//!   both ways: events out, commands in.
//!
//! The human mode, whose wording is for people and may change:
//!
//! - [`plain`]: one line a command and an event, when standard input or output is not a
//!   terminal (pipes rely on it staying as it is);
//! - [`terminal`]: the line editor at a terminal, with [`names`] to name peers by prefix
//!   or nickname.
//!
//! The flags themselves live in the binary (`src/main.rs`).

pub mod json;
pub mod names;
pub mod plain;
pub mod terminal;

/// Ids for the sends that name none: `m1`, `m2`, … in the order the commands arrive.
///
/// The `sent` or `send_failed` event of such a send carries the id given here, so a
/// script that counts its sends can tell which one an outcome is about.
#[derive(Clone, Debug, Default)]
pub struct SendIds {
    last: u64,
    files: u64,
}

impl SendIds {
    /// A counter whose first id is `m1`.
    pub fn new() -> SendIds {
        SendIds::default()
    }

    /// The next id.
    pub fn next_id(&mut self) -> String {
        self.last += 1;
        format!("m{}", self.last)
    }

    /// The next id of a file we send that names none: `f1`, `f2`, … (offers from peers
    /// are numbered by the node: `r1`, `r2`, …).
    pub fn next_file_id(&mut self) -> String {
        self.files += 1;
        format!("f{}", self.files)
    }
}
