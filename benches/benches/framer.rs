//! The framer against the floor and the alternatives, side by side on one corpus.
//!
//! Contenders, each over the whole ~4 MiB chat corpus of `llxmpp_benches::chat_corpus`:
//! - `memchr_floor`: counting `<` with memchr, the least any XML reader must do;
//! - `utf8_floor`: `std::str::from_utf8` over the corpus, the least any reader that
//!   validates UTF-8 with the standard library must do (the framer does this once);
//! - `bitmap_floor_swar`, `bitmap_floor_simd`: the first pass of a simdjson-style scanner
//!   and nothing else: each 64-byte block classified into a bitmap of its markup bytes
//!   (`<`, `>`, `&`, quotes, `=`, `/`) and one of whitespace, controls and non-ASCII, then
//!   every markup bit visited once. What a scanner built that way cannot go below: with
//!   eight bytes a `u64` step in plain Rust, and with SSE2 through `wide`'s safe vectors;
//! - `quick_xml`: quick-xml's borrowed reader, every event read, nothing validated beyond
//!   what it does by default;
//! - `rxml`: rxml's restricted-XML push parser fed 4 KiB chunks;
//! - `framer`: our framer fed 4 KiB chunks, every frame taken;
//! - `framer_typed`: the same, plus the typed parse of every message stanza.
//!
//! After criterion has measured them, `main` writes `bench-summary.json` (MB/s and
//! stanzas/s per contender) into the target directory and prints the ratios.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput};
use llxmpp_benches::{chat_corpus, Corpus};
use llxmpp_framer::{Frame, Framer, StanzaKind};

const CHUNK: usize = 4096;
const CONTENDERS: [&str; 8] = [
    "memchr_floor",
    "utf8_floor",
    "bitmap_floor_swar",
    "bitmap_floor_simd",
    "quick_xml",
    "rxml",
    "framer",
    "framer_typed",
];

fn memchr_floor(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'<', bytes).count()
}

fn utf8_floor(bytes: &[u8]) -> usize {
    std::str::from_utf8(bytes).map_or(0, str::len)
}

/// A bitmap of a 64-byte block: bit `i` set when byte `i` is one of the markup bytes, and
/// one of the bytes below `!` (whitespace, controls) or at and above 0x80 (non-ASCII).
#[derive(Default)]
struct BlockBits {
    markup: u64,
    other: u64,
}

/// The bytes that mark up XML: what a scanner stops at outside names.
const MARKUP: [u8; 7] = [b'<', b'>', b'&', b'"', b'\'', b'=', b'/'];

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW_SEVEN: u64 = 0x7F7F_7F7F_7F7F_7F7F;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that is below `limit` (≤ 0x80): exact, no borrow
/// between bytes.
fn below(word: u64, limit: u8) -> u64 {
    !(((word & LOW_SEVEN) + ONES * u64::from(0x80 - limit)) | word) & HIGH_BITS
}

/// The high bit of each byte of `word` equal to `byte`.
fn equal(word: u64, byte: u8) -> u64 {
    below(word ^ (ONES * u64::from(byte)), 1)
}

/// The eight high bits of `bits` (one a byte) gathered into the low eight.
fn gather(bits: u64) -> u64 {
    ((bits >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

fn block_bits_swar(block: &[u8; 64]) -> BlockBits {
    let mut bits = BlockBits::default();
    for (i, word) in block.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let markup = MARKUP
            .into_iter()
            .fold(0, |found, byte| found | equal(word, byte));
        let other = below(word, b'!') | (word & HIGH_BITS);
        bits.markup |= gather(markup) << (i * 8);
        bits.other |= gather(other) << (i * 8);
    }
    bits
}

fn block_bits_simd(block: &[u8; 64]) -> BlockBits {
    use wide::u8x16;
    let mut bits = BlockBits::default();
    for (i, lane) in block.chunks_exact(16).enumerate() {
        let lane = u8x16::new(lane.try_into().expect("sixteen bytes"));
        let markup = MARKUP.into_iter().fold(u8x16::splat(0), |found, byte| {
            found | lane.cmp_eq(u8x16::splat(byte))
        });
        let low = lane.min(u8x16::splat(b' ')).cmp_eq(lane);
        let high = lane.max(u8x16::splat(0x80)).cmp_eq(lane);
        bits.markup |= u64::from(markup.move_mask() as u16) << (i * 16);
        bits.other |= u64::from((low | high).move_mask() as u16) << (i * 16);
    }
    bits
}

/// Classifies each whole 64-byte block with `classify` and visits every markup bit, as a
/// scanner walking the bitmaps would (its work at each stop left out).
fn bitmap_floor(bytes: &[u8], classify: fn(&[u8; 64]) -> BlockBits) -> usize {
    let mut seen = 0usize;
    for (index, block) in bytes.chunks_exact(64).enumerate() {
        let block: &[u8; 64] = block.try_into().expect("64 bytes");
        let BlockBits { mut markup, other } = classify(block);
        seen = seen.wrapping_add(other.count_ones() as usize);
        while markup != 0 {
            let at = markup.trailing_zeros() as usize;
            seen = seen.wrapping_add(index * 64 + at) ^ usize::from(block[at]);
            markup &= markup - 1;
        }
    }
    seen
}

fn quick_xml(bytes: &[u8]) -> usize {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut events = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => return events,
            Ok(event) => {
                black_box(&event);
                events += 1;
            }
            Err(error) => panic!("quick-xml rejected the corpus: {error}"),
        }
    }
}

fn rxml(bytes: &[u8]) -> usize {
    use rxml::{error::EndOrError, Parse, Parser};
    let mut parser = Parser::new();
    let mut events = 0;
    for chunk in bytes.chunks(CHUNK) {
        let mut rest = chunk;
        loop {
            match parser.parse(&mut rest, false) {
                Ok(Some(event)) => {
                    black_box(&event);
                    events += 1;
                }
                Ok(None) | Err(EndOrError::NeedMoreData) => break,
                Err(EndOrError::Error(error)) => panic!("rxml rejected the corpus: {error}"),
            }
        }
    }
    events
}

fn framer(bytes: &[u8], typed: bool) -> usize {
    let mut framer = Framer::new();
    let mut stanzas = 0;
    for chunk in bytes.chunks(CHUNK) {
        framer.feed(chunk);
        while let Some(frame) = framer.next_frame().expect("the corpus is valid") {
            if let Frame::Stanza(stanza) = frame {
                stanzas += 1;
                if typed && stanza.kind() == StanzaKind::Message {
                    black_box(stanza.parse().expect("messages parse"));
                } else {
                    black_box(stanza.as_str());
                }
            }
        }
    }
    stanzas
}

fn run(contender: &str, bytes: &[u8]) -> usize {
    match contender {
        "memchr_floor" => memchr_floor(bytes),
        "utf8_floor" => utf8_floor(bytes),
        "bitmap_floor_swar" => bitmap_floor(bytes, block_bits_swar),
        "bitmap_floor_simd" => bitmap_floor(bytes, block_bits_simd),
        "quick_xml" => quick_xml(bytes),
        "rxml" => rxml(bytes),
        "framer" => framer(bytes, false),
        "framer_typed" => framer(bytes, true),
        _ => unreachable!("unknown contender {contender}"),
    }
}

fn criterion_home() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("criterion"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Mean time of one iteration, in seconds, from criterion's saved estimates.
fn mean_seconds(contender: &str) -> Option<f64> {
    let path = criterion_home()
        .join("framer")
        .join(contender)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(json["mean"]["point_estimate"].as_f64()? / 1e9)
}

fn write_summary(corpus: &Corpus) {
    let mut summary = serde_json::Map::new();
    let mut rows = Vec::new();
    for contender in CONTENDERS {
        let Some(seconds) = mean_seconds(contender) else {
            eprintln!("no estimate for {contender}: was it filtered out?");
            return;
        };
        let mb_per_s = corpus.bytes.len() as f64 / seconds / 1e6;
        let stanzas_per_s = corpus.stanzas as f64 / seconds;
        summary.insert(
            contender.to_owned(),
            serde_json::json!({ "mb_per_s": mb_per_s, "stanzas_per_s": stanzas_per_s }),
        );
        rows.push((contender, mb_per_s, stanzas_per_s));
    }
    let by_name = |name: &str| rows.iter().find(|r| r.0 == name).map_or(f64::NAN, |r| r.1);
    let ratios = serde_json::json!({
        "framer_over_quick_xml": by_name("framer") / by_name("quick_xml"),
        "framer_typed_over_rxml": by_name("framer_typed") / by_name("rxml"),
        "memchr_floor_over_quick_xml": by_name("memchr_floor") / by_name("quick_xml"),
        "utf8_floor_over_quick_xml": by_name("utf8_floor") / by_name("quick_xml"),
        "bitmap_floor_swar_over_quick_xml": by_name("bitmap_floor_swar") / by_name("quick_xml"),
        "bitmap_floor_simd_over_quick_xml": by_name("bitmap_floor_simd") / by_name("quick_xml"),
    });
    summary.insert("framer_ratios".to_owned(), ratios.clone());
    summary.insert(
        "framer_corpus".to_owned(),
        serde_json::json!({ "bytes": corpus.bytes.len(), "stanzas": corpus.stanzas, "messages": corpus.messages }),
    );
    let path = match llxmpp_benches::add_to_summary(summary) {
        Ok(path) => path,
        Err(error) => {
            eprintln!("cannot write the summary: {error}");
            return;
        }
    };
    println!("\n{:<18} {:>10} {:>14}", "contender", "MB/s", "stanzas/s");
    for (name, mb, stanzas) in &rows {
        println!("{name:<18} {mb:>10.1} {stanzas:>14.0}");
    }
    println!("ratios: {ratios}");
    println!("written to {}", path.display());
}

fn main() {
    let corpus = chat_corpus(4 << 20);
    for contender in CONTENDERS {
        assert!(run(contender, &corpus.bytes) > 0, "{contender} saw nothing");
    }
    assert_eq!(framer(&corpus.bytes, true), corpus.stanzas);
    assert_eq!(
        bitmap_floor(&corpus.bytes, block_bits_swar),
        bitmap_floor(&corpus.bytes, block_bits_simd),
        "both classifiers find the same bytes"
    );
    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("framer");
        group.throughput(Throughput::Bytes(corpus.bytes.len() as u64));
        group.sample_size(20);
        for contender in CONTENDERS {
            group.bench_function(contender, |b| {
                b.iter(|| run(contender, black_box(&corpus.bytes)))
            });
        }
        group.finish();
    }
    criterion.final_summary();
    write_summary(&corpus);
}
