//! The framer against the floor and the alternatives, side by side on one corpus.
//!
//! Contenders, each over the whole ~4 MiB chat corpus of `llxmpp_benches::chat_corpus`:
//! - `memchr_floor`: counting `<` with memchr, the least any XML reader must do;
//! - `utf8_floor`: `std::str::from_utf8` over the corpus, the least any reader that
//!   validates UTF-8 with the standard library must do (the framer does this once);
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
const CONTENDERS: [&str; 6] = [
    "memchr_floor",
    "utf8_floor",
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
    println!("\n{:<14} {:>10} {:>14}", "contender", "MB/s", "stanzas/s");
    for (name, mb, stanzas) in &rows {
        println!("{name:<14} {mb:>10.1} {stanzas:>14.0}");
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
