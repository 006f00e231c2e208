//! Helpers shared by the framer's integration tests.
#![allow(dead_code)]

use llxmpp_framer::{Error, Frame, Framer, Limits, StreamHeader};

/// A frame copied out of the framer, so frames from different runs can be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    Open(StreamHeader),
    Stanza(String),
    Keepalive,
    Close,
}

/// Everything a framer yields for `input` fed in chunks ending at `cuts` (offsets in
/// increasing order), and the error that ended it, if any.
pub fn frame_with_cuts(
    input: &[u8],
    cuts: &[usize],
    limits: Limits,
) -> (Vec<Owned>, Option<Error>) {
    let mut framer = Framer::with_limits(limits);
    let mut frames = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(from, input.len());
        framer.feed(&input[from..cut]);
        from = cut;
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => frames.push(own(frame)),
                Ok(None) => break,
                Err(error) => return (frames, Some(error)),
            }
        }
    }
    (frames, None)
}

/// Frames `input` fed whole.
pub fn frame_whole(input: &[u8]) -> (Vec<Owned>, Option<Error>) {
    frame_with_cuts(input, &[], Limits::DEFAULT)
}

/// Frames `input` fed one byte at a time.
pub fn frame_bytewise(input: &[u8], limits: Limits) -> (Vec<Owned>, Option<Error>) {
    let cuts: Vec<usize> = (1..input.len()).collect();
    frame_with_cuts(input, &cuts, limits)
}

pub fn own(frame: Frame<'_>) -> Owned {
    match frame {
        Frame::StreamOpen(header) => Owned::Open(*header),
        Frame::Stanza(stanza) => Owned::Stanza(stanza.as_str().to_owned()),
        Frame::Keepalive => Owned::Keepalive,
        Frame::StreamClose => Owned::Close,
    }
}

/// The header every synthetic stream of the tests starts with.
pub const HEADER: &str = "<?xml version='1.0' encoding='UTF-8'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='a@x' to='b@y' version='1.0'>";

/// `HEADER`, then `body`.
pub fn stream(body: &str) -> Vec<u8> {
    format!("{HEADER}{body}").into_bytes()
}
