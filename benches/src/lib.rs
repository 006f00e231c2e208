//! Deterministic workloads shared by llxmpp's benchmarks.
//!
//! The chat corpus imitates what link-local peers send on one stream (docs/PEERS.md):
//! libpurple-style chat messages with XHTML parts and XEP-0022 requests, bodies of 10 to
//! 400 characters mixing ASCII, accented and CJK text, emoji and escaped markup; typing
//! notifications and XEP-0085 chat states; disco#info results; pings; whitespace
//! keepalives. The same seed always yields the same bytes.

/// The workspace's target directory (`$CARGO_TARGET_DIR`, or `target/`).
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Adds `entries` to `target/bench-summary.json` (or `$CARGO_TARGET_DIR/…`), keeping
/// what the other benchmarks wrote there; returns the file's path.
pub fn add_to_summary(
    entries: serde_json::Map<String, serde_json::Value>,
) -> std::io::Result<std::path::PathBuf> {
    let path = target_dir().join("bench-summary.json");
    let mut all: serde_json::Map<String, serde_json::Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    all.extend(entries);
    let text = serde_json::to_string_pretty(&all).map_err(std::io::Error::other)?;
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The resident set size of process `pid` (`None`: this process), from /proc, in bytes.
pub fn rss_bytes(pid: Option<u32>) -> u64 {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Raises this process's descriptor limit towards `wanted` (children inherit it) and
/// returns the limit in force.
pub fn raise_descriptor_limit(wanted: u64) -> u64 {
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap_or((1024, 1024));
    // Root may raise the hard limit too; others get what the hard limit allows.
    if rlimit::Resource::NOFILE
        .set(wanted, wanted.max(hard))
        .is_err()
    {
        let _ = rlimit::Resource::NOFILE.set(wanted.min(hard), hard);
    }
    rlimit::Resource::NOFILE
        .get()
        .map_or(1024, |(soft, _)| soft)
}

/// A stream (header and stanzas, not closed) and what it contains.
pub struct Corpus {
    /// The stream's bytes.
    pub bytes: Vec<u8>,
    /// How many stanzas it holds.
    pub stanzas: usize,
    /// How many of them are `<message/>`.
    pub messages: usize,
}

/// A small xorshift generator: the corpus must not depend on a crate's RNG algorithm.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "hello",
    "are",
    "you",
    "coming",
    "to",
    "the",
    "meeting",
    "lunch",
    "ok",
    "sure",
    "café",
    "naïve",
    "Grüße",
    "日本語",
    "テスト",
    "🙂",
    "👍",
    "&amp;",
    "&lt;b&gt;",
    "&quot;quoted&quot;",
    "it&apos;s",
    "https://example.invalid/x?a=1&amp;b=2",
    "see",
    "file",
    "build",
    "passes",
    "tomorrow",
    "thanks",
    "weekend",
    "ça",
    "va",
    "¿qué?",
    "Ωmega",
];

const PEERS: &[&str] = &["alice@macbook", "bob@thinkpad", "carol@imac", "dave@pi"];

/// The header every corpus stream starts with, as libpurple writes it.
pub const HEADER: &str = "<?xml version='1.0' encoding='UTF-8' ?>\n<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='alice@macbook' to='bob@thinkpad'>";

/// A chat corpus of at least `min_bytes` bytes.
pub fn chat_corpus(min_bytes: usize) -> Corpus {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(min_bytes + 4096);
    out.push_str(HEADER);
    let (mut stanzas, mut messages) = (0, 0);
    let mut id = 0u64;
    while out.len() < min_bytes {
        let from = rng.pick(PEERS);
        let to = rng.pick(PEERS);
        id += 1;
        match rng.below(100) {
            0..=69 => {
                let body = body_text(&mut rng);
                out.push_str(&format!("<message to='{to}' from='{from}' type='chat' id='m{id}'><body>{body}</body>"));
                if rng.below(2) == 0 {
                    out.push_str(&format!(
                        "<html xmlns='http://www.w3.org/1999/xhtml'><body><font face='Helvetica' ABSZ='12'>{body}</font></body></html>"
                    ));
                }
                out.push_str("<x xmlns='jabber:x:event'><composing/></x></message>");
                messages += 1;
            }
            70..=77 => {
                out.push_str(&format!(
                    "<message to='{to}' from='{from}'><body/><x xmlns='jabber:x:event'><composing/><id>m{}</id></x></message>",
                    id - 1
                ));
                messages += 1;
            }
            78..=89 => {
                let state = rng.pick(&["active", "composing", "paused", "inactive"]);
                out.push_str(&format!(
                    "<message to='{to}' from='{from}' type='chat'><{state} xmlns='http://jabber.org/protocol/chatstates'/></message>"
                ));
                messages += 1;
            }
            90..=94 => out.push_str(&format!(
                "<iq type='result' id='d{id}' to='{to}' from='{from}'><query xmlns='http://jabber.org/protocol/disco#info' node='https://llxmpp.invalid#abc'><identity category='client' type='pc' name='llxmpp'/><feature var='http://jabber.org/protocol/disco#info'/><feature var='urn:xmpp:ping'/><feature var='jabber:x:event'/><feature var='http://jabber.org/protocol/chatstates'/><feature var='http://jabber.org/protocol/xhtml-im'/></query></iq>"
            )),
            _ => out.push_str(&format!("<iq type='get' id='p{id}' to='{to}' from='{from}'><ping xmlns='urn:xmpp:ping'/></iq>")),
        }
        stanzas += 1;
        if rng.below(10) == 0 {
            out.push_str(rng.pick(&[" ", "\n", "\r\n"]));
        }
    }
    Corpus {
        bytes: out.into_bytes(),
        stanzas,
        messages,
    }
}

/// A body of 10 to 400 characters of words, with escaped markup among them.
fn body_text(rng: &mut Rng) -> String {
    let target = 10 + rng.below(391);
    let mut body = String::new();
    while body.chars().count() < target {
        if !body.is_empty() {
            body.push(' ');
        }
        body.push_str(rng.pick(WORDS));
    }
    body
}

#[cfg(test)]
mod tests {
    use llxmpp_framer::{Frame, Framer};

    use super::*;

    #[test]
    fn corpus_is_a_valid_stream_with_the_counted_stanzas() {
        let corpus = chat_corpus(200_000);
        assert_eq!(corpus.bytes, chat_corpus(200_000).bytes);
        let mut framer = Framer::new();
        framer.feed(&corpus.bytes);
        let (mut stanzas, mut messages) = (0, 0);
        while let Some(frame) = framer.next_frame().unwrap() {
            if let Frame::Stanza(stanza) = frame {
                stanzas += 1;
                if stanza.name() == "message" {
                    messages += 1;
                    stanza.parse().unwrap();
                }
            }
        }
        assert_eq!((stanzas, messages), (corpus.stanzas, corpus.messages));
    }
}
