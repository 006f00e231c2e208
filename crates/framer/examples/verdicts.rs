//! Prints what the framer makes of every file under the given directories, one line per
//! file and way of reading it, so that two versions of the framer can be compared: run it
//! in each (a `git worktree` of the older commit, with this file copied in) and `diff` the
//! outputs. A speed change must not change a single line.
//!
//! ```text
//! cargo run --release -p llxmpp-framer --example verdicts -- fuzz/seeds/framer … > new.txt
//! ```
//!
//! Each file is read raw (the framer target's inputs) and after a stream header (the
//! stanza and differential targets' inputs), each in chunks of 1, 7 and 4,096 bytes, with
//! the default limits and with [`TIGHT`] ones that small inputs reach. A
//! line holds the file's name, the way it was read, how many frames came out, the error
//! that ended the stream, where the framer stood (position and bytes held) and a hash of
//! everything it handed out on the way: every frame's `Debug` form, every stanza's kind,
//! name, `to` attribute and typed parse, and the position after each frame.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

use llxmpp_framer::{Frame, Framer, Limits};

/// The header the fuzz targets other than `framer` put before their inputs.
const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='a@x' to='b@y' version='1.0'>";

/// Limits small enough for fuzz inputs to reach every one of them.
const TIGHT: Limits = Limits {
    max_stanza_bytes: 200,
    max_depth: 3,
    max_attributes: 5,
    max_header_bytes: 400,
    max_text_bytes: 20,
};

fn main() {
    let mut files = Vec::new();
    for dir in std::env::args().skip(1) {
        collect(Path::new(&dir), &mut files);
    }
    files.sort();
    for path in &files {
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        let mut with_header = HEADER.to_vec();
        with_header.extend_from_slice(&data);
        for (how, input) in [("raw", &data[..]), ("header", &with_header[..])] {
            for (limits_name, limits) in [("default", Limits::DEFAULT), ("tight", TIGHT)] {
                for chunk in [1, 7, 4096] {
                    let verdict = verdict(input, chunk, limits);
                    println!("{} {how} {limits_name} {chunk} {verdict}", path.display());
                }
            }
        }
    }
    eprintln!("{} files", files.len());
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// What the framer with `limits` makes of `input` fed in chunks of `chunk` bytes.
fn verdict(input: &[u8], chunk: usize, limits: Limits) -> String {
    let mut framer = Framer::with_limits(limits);
    let mut hasher = DefaultHasher::new();
    let mut frames = 0;
    let mut error = None;
    'feed: for piece in input.chunks(chunk) {
        framer.feed(piece);
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => {
                    frames += 1;
                    format!("{frame:?}").hash(&mut hasher);
                    if let Frame::Stanza(stanza) = &frame {
                        format!("{:?}", stanza.kind()).hash(&mut hasher);
                        stanza.name().hash(&mut hasher);
                        stanza.attribute("to").hash(&mut hasher);
                        format!("{:?}", stanza.parse()).hash(&mut hasher);
                    }
                    framer.position().hash(&mut hasher);
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    format!(
        "frames {frames} error {error:?} at {} holding {} hash {:016x}",
        framer.position(),
        framer.buffered_len(),
        hasher.finish()
    )
}
