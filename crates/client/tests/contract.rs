//! docs/CONTRACT.md held against the client: every event the JSON encoder writes, with
//! every field and its type, must be documented there; every command documented there
//! must be accepted by the JSON parser, as documented (required fields required, optional
//! ones optional, unknown ones ignored); and the subcommands and flags of `--help` must be
//! the documented ones. No network, no root.
//!
//! The document marks what this test reads with `<!-- contract: KIND NAME -->` comments:
//! `event` and `object` sections hold a `field | type | when` table, `command` sections
//! the same table and JSON examples, `flags` sections a table whose first column is the
//! flag.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;

use llxmpp::cli::json::{event_value, parse_command};
use llxmpp::cli::SendIds;
use llxmpp::node::{NodeCommand, NodeEvent};
use llxmpp_dnssd::InterfaceAddr;
use llxmpp_roster::{Peer, Presence, Status};
use serde_json::Value;

const CONTRACT: &str = include_str!("../../../docs/CONTRACT.md");

/// One marked part of the document: its table's rows (header and separator left out) and
/// the JSON examples that follow it.
#[derive(Debug)]
struct Section {
    kind: String,
    name: String,
    rows: Vec<Vec<String>>,
    examples: Vec<String>,
}

/// The marked sections of the document. A section ends at the next marker or heading;
/// its table is the first run of table lines after the marker.
fn sections(doc: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut open = false;
    let mut table = TableState::Before;
    let mut example: Option<String> = None;
    for line in doc.lines() {
        if let Some(example_text) = &mut example {
            if line.trim() == "```" {
                let text = example.take().unwrap_or_default();
                sections.last_mut().unwrap().examples.push(text);
            } else {
                example_text.push_str(line);
                example_text.push('\n');
            }
            continue;
        }
        if let Some(marker) = line
            .trim()
            .strip_prefix("<!-- contract:")
            .and_then(|rest| rest.strip_suffix("-->"))
        {
            let mut words = marker.split_whitespace();
            let (Some(kind), Some(name), None) = (words.next(), words.next(), words.next()) else {
                panic!("a marker is `<!-- contract: KIND NAME -->`: {line}");
            };
            sections.push(Section {
                kind: kind.to_owned(),
                name: name.to_owned(),
                rows: Vec::new(),
                examples: Vec::new(),
            });
            open = true;
            table = TableState::Before;
            continue;
        }
        if line.starts_with('#') {
            open = false;
            continue;
        }
        if !open {
            continue;
        }
        if line.trim() == "```json" {
            example = Some(String::new());
            continue;
        }
        let is_row = line.trim_start().starts_with('|');
        table = match (table, is_row) {
            (TableState::Before, true) => TableState::Header,
            (TableState::Header, true) => TableState::Rows,
            (TableState::Rows, true) => {
                let section = sections.last_mut().unwrap();
                section.rows.push(cells(line));
                TableState::Rows
            }
            (TableState::Header | TableState::Rows, false) => TableState::After,
            (state, _) => state,
        };
    }
    assert!(example.is_none(), "an example is not closed with ```");
    sections
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TableState {
    Before,
    /// The header row was read; the separator row comes next.
    Header,
    Rows,
    After,
}

/// A table row's cells, trimmed, code marks removed from the first.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells: Vec<String> = inner.split('|').map(|c| c.trim().to_owned()).collect();
    cells[0] = cells[0].trim_matches('`').to_owned();
    cells
}

/// A JSON type as the `type` column writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Type {
    String,
    Integer,
    Boolean,
    ArrayOf(Box<Type>),
    /// An object documented in its own `object` section.
    Object(String),
    OrNull(Box<Type>),
}

fn parse_type(text: &str, objects: &BTreeSet<String>) -> Type {
    if let Some(inner) = text.strip_suffix(" or null") {
        return Type::OrNull(Box::new(parse_type(inner, objects)));
    }
    if let Some(inner) = text.strip_prefix("array of ") {
        return Type::ArrayOf(Box::new(parse_type(inner, objects)));
    }
    match text {
        "string" => Type::String,
        "integer" => Type::Integer,
        "boolean" => Type::Boolean,
        name if objects.contains(name) => Type::Object(name.to_owned()),
        other => panic!("CONTRACT.md uses a type this test does not know: {other:?}"),
    }
}

/// The documented fields of every `event`, `object` or `command` section, by kind and
/// name.
struct Contract {
    tables: BTreeMap<(String, String), BTreeMap<String, (Type, String)>>,
}

impl Contract {
    fn read() -> (Contract, Vec<Section>) {
        let sections = sections(CONTRACT);
        let objects: BTreeSet<String> = sections
            .iter()
            .filter(|s| s.kind == "object")
            .map(|s| s.name.clone())
            .collect();
        let mut tables = BTreeMap::new();
        for section in &sections {
            if !matches!(section.kind.as_str(), "event" | "object" | "command") {
                continue;
            }
            let mut fields = BTreeMap::new();
            for row in &section.rows {
                assert_eq!(
                    row.len(),
                    3,
                    "{} {}: a row is `field | type | when`: {row:?}",
                    section.kind,
                    section.name
                );
                let ty = parse_type(&row[1], &objects);
                let previous = fields.insert(row[0].clone(), (ty, row[2].clone()));
                assert!(
                    previous.is_none(),
                    "{} {}: {} twice",
                    section.kind,
                    section.name,
                    row[0]
                );
            }
            assert!(
                !fields.is_empty(),
                "{} {} has no table",
                section.kind,
                section.name
            );
            let key = (section.kind.clone(), section.name.clone());
            assert!(
                tables.insert(key, fields).is_none(),
                "{} {} is documented twice",
                section.kind,
                section.name
            );
        }
        (Contract { tables }, sections)
    }

    fn table(&self, kind: &str, name: &str) -> Option<&BTreeMap<String, (Type, String)>> {
        self.tables.get(&(kind.to_owned(), name.to_owned()))
    }

    fn names(&self, kind: &str) -> BTreeSet<String> {
        self.tables
            .keys()
            .filter(|(k, _)| k == kind)
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// Checks that `value` has the type `ty`, objects field by field; collects what does
    /// not match in `problems`.
    fn check(&self, value: &Value, ty: &Type, path: &str, problems: &mut Vec<String>) {
        match (ty, value) {
            (Type::OrNull(_), Value::Null) => {}
            (Type::OrNull(inner), _) => self.check(value, inner, path, problems),
            (Type::String, Value::String(_)) | (Type::Boolean, Value::Bool(_)) => {}
            (Type::Integer, Value::Number(n)) if n.is_u64() || n.is_i64() => {}
            (Type::ArrayOf(inner), Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    self.check(item, inner, &format!("{path}[{i}]"), problems);
                }
            }
            (Type::Object(name), Value::Object(_)) => {
                let table = self.table("object", name).expect("parse_type checked it");
                self.check_fields(value, table, path, problems);
            }
            _ => problems.push(format!("{path} is {value}, documented as {ty:?}")),
        }
    }

    /// Every field of `value` documented with its type, and every documented field present.
    fn check_fields(
        &self,
        value: &Value,
        table: &BTreeMap<String, (Type, String)>,
        path: &str,
        problems: &mut Vec<String>,
    ) {
        let Some(object) = value.as_object() else {
            problems.push(format!("{path} is not an object: {value}"));
            return;
        };
        for (field, field_value) in object {
            match table.get(field) {
                Some((ty, _)) => self.check(field_value, ty, &format!("{path}.{field}"), problems),
                None => problems.push(format!(
                    "{path}.{field} is written but not documented in CONTRACT.md ({field_value})"
                )),
            }
        }
        for field in table.keys() {
            if !object.contains_key(field) {
                problems.push(format!(
                    "{path}.{field} is documented but not written (a removed field breaks scripts)"
                ));
            }
        }
    }
}

/// The variant of an event, by the kind CONTRACT.md calls it. The match is exhaustive: a
/// new `NodeEvent` variant stops this test from compiling until it is named here, and
/// then it needs samples in `samples()` (every named kind must have one) and a section
/// in CONTRACT.md.
fn kind(event: &NodeEvent) -> &'static str {
    match event {
        NodeEvent::Ready { .. } => "ready",
        NodeEvent::Registered { .. } => "registered",
        NodeEvent::PeerOnline(_) => "peer_online",
        NodeEvent::PeerChanged(_) => "peer_changed",
        NodeEvent::PeerOffline { .. } => "peer_offline",
        NodeEvent::Message { .. } => "message",
        NodeEvent::Typing { .. } => "typing",
        NodeEvent::Sent { .. } => "sent",
        NodeEvent::SendFailed { .. } => "send_failed",
        NodeEvent::Peers(_) => "peers",
        NodeEvent::Avatar { .. } => "avatar",
        NodeEvent::FileOffer { .. } => "file_offer",
        NodeEvent::FileProgress { .. } => "file_progress",
        NodeEvent::FileDone { .. } => "file_done",
        NodeEvent::FileFailed { .. } => "file_failed",
        NodeEvent::Link { .. } => "link",
        NodeEvent::KeyChanged { .. } => "key_changed",
        NodeEvent::LinkRefused { .. } => "link_refused",
        NodeEvent::VerificationCode { .. } => "code",
        NodeEvent::Error(_) => "error",
        NodeEvent::Stopped => "stopped",
    }
}

/// Every kind `kind` names, in its order; `every_variant_has_samples` keeps the two in
/// step with the samples.
const KINDS: [&str; 21] = [
    "ready",
    "registered",
    "peer_online",
    "peer_changed",
    "peer_offline",
    "message",
    "typing",
    "sent",
    "send_failed",
    "peers",
    "avatar",
    "file_offer",
    "file_progress",
    "file_done",
    "file_failed",
    "link",
    "key_changed",
    "link_refused",
    "code",
    "error",
    "stopped",
];

/// A peer with every optional part set, and one with none: an IPv4 address, an IPv6
/// link-local one (written with its zone) and a global IPv6 one between them.
fn peers() -> [Peer; 2] {
    let full = Peer {
        instance: "bob@hostb".into(),
        host: "hostb".into(),
        port: 5298,
        addresses: vec![
            InterfaceAddr {
                interface: 2,
                ip: IpAddr::V4(Ipv4Addr::new(169, 254, 3, 4)),
            },
            InterfaceAddr {
                interface: 2,
                ip: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            },
            InterfaceAddr {
                interface: 2,
                ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            },
        ],
        presence: Presence {
            status: Status::Dnd,
            msg: Some("in a meeting".into()),
            nick: Some("bobby".into()),
            first: Some("Bob".into()),
            last: Some("Stone".into()),
            ..Presence::default()
        },
        avatar: Some(b"\x89PNG not really".to_vec()),
    };
    let bare = Peer {
        instance: "ichat@mac".into(),
        host: "mac".into(),
        port: 5299,
        addresses: vec![InterfaceAddr {
            interface: 3,
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
        }],
        presence: Presence::default(),
        avatar: None,
    };
    [full, bare]
}

/// Samples of every event, each optional field both set and not.
fn samples() -> Vec<NodeEvent> {
    let [full, bare] = peers();
    vec![
        NodeEvent::Ready {
            instance: "alice@hosta".into(),
            port: 5298,
        },
        NodeEvent::PeerOnline(full.clone()),
        NodeEvent::PeerOnline(bare.clone()),
        NodeEvent::PeerChanged(full.clone()),
        NodeEvent::PeerChanged(bare.clone()),
        NodeEvent::PeerOffline {
            peer: "bob@hostb".into(),
        },
        NodeEvent::Message {
            from: "bob@hostb".into(),
            body: "hello <there> & \"you\" ☺".into(),
            id: Some("b1".into()),
            thread: Some("t1".into()),
        },
        NodeEvent::Message {
            from: "unknown@10.0.0.7".into(),
            body: "no id, no thread".into(),
            id: None,
            thread: None,
        },
        NodeEvent::Typing {
            from: "bob@hostb".into(),
            state: "composing".into(),
        },
        NodeEvent::Sent {
            to: "bob@hostb".into(),
            id: "a1".into(),
        },
        NodeEvent::SendFailed {
            to: "nobody@nowhere".into(),
            id: "a2".into(),
            reason: "no such peer on the link".into(),
        },
        NodeEvent::Peers(vec![full.clone(), bare.clone()]),
        NodeEvent::Peers(Vec::new()),
        NodeEvent::Avatar {
            peer: "bob@hostb".into(),
            image: full.avatar.clone(),
        },
        NodeEvent::Avatar {
            peer: "ichat@mac".into(),
            image: None,
        },
        NodeEvent::FileOffer {
            id: "r1".into(),
            from: "bob@hostb".into(),
            name: "naïve file.bin".into(),
            size: 5_242_880,
            method: "si-socks5".into(),
        },
        NodeEvent::FileProgress {
            id: "r1".into(),
            bytes: 1 << 20,
            total: 5_242_880,
        },
        NodeEvent::FileDone {
            id: "r1".into(),
            path: "/home/alice/Downloads/naïve file.bin".into(),
            bytes: 5_242_880,
            sha256: "7d35fb8d4e3c49a8beb9b28fba12fd88b64b4f5240df0b9c750d0bd7525c7111".into(),
        },
        NodeEvent::FileFailed {
            id: "f1".into(),
            reason: "bob@hostb refused the offer (forbidden: Offer Declined)".into(),
        },
        NodeEvent::Link {
            peer: "bob@hostb".into(),
            encrypted: true,
            key: Some("sha256:q1HhVd2hX0b3w1qjk0vxQm1e6b7H1lVw1i1Yf0dP9Yk".into()),
            key_status: Some("new".into()),
        },
        NodeEvent::Link {
            peer: "purple@hostc".into(),
            encrypted: false,
            key: None,
            key_status: None,
        },
        NodeEvent::KeyChanged {
            peer: "bob@hostb".into(),
            key: "sha256:AAAAVd2hX0b3w1qjk0vxQm1e6b7H1lVw1i1Yf0dP9Yk".into(),
            pinned: "sha256:q1HhVd2hX0b3w1qjk0vxQm1e6b7H1lVw1i1Yf0dP9Yk".into(),
        },
        NodeEvent::LinkRefused {
            peer: Some("bob@hostb".into()),
            reason: "bob@hostb would not encrypt, and it must".into(),
        },
        NodeEvent::LinkRefused {
            peer: None,
            reason: "TLS: received fatal alert: BadCertificate".into(),
        },
        NodeEvent::VerificationCode {
            peer: "bob@hostb".into(),
            code: "12345 67890 13579 24680 11223 34455 66778 89900".into(),
        },
        NodeEvent::Registered {
            domain: "example.test".into(),
            instance: "alice@hosta".into(),
        },
        NodeEvent::Error("not JSON: expected value at line 1 column 1".into()),
        NodeEvent::Stopped,
    ]
}

#[test]
fn every_variant_has_samples() {
    let sampled: BTreeSet<&str> = samples().iter().map(kind).collect();
    let named: BTreeSet<&str> = KINDS.into_iter().collect();
    assert_eq!(
        sampled, named,
        "every kind `kind` names has samples, and KINDS lists them all"
    );
}

#[test]
fn every_event_written_is_documented_field_by_field_with_its_type() {
    let (contract, _) = Contract::read();
    let mut problems = Vec::new();
    for event in samples() {
        let value = event_value(&event);
        let written = value["event"].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            written,
            kind(&event),
            "the encoder names {event:?} otherwise"
        );
        let Some(table) = contract.table("event", &written) else {
            problems.push(format!(
                "event {written:?} is written but CONTRACT.md has no `<!-- contract: event {written} -->` section"
            ));
            continue;
        };
        contract.check_fields(&value, table, &written, &mut problems);
        // One line each, as the contract says: the encoder never writes a raw line feed.
        assert!(!llxmpp::cli::json::event_line(&event).contains('\n'));
    }
    let documented = contract.names("event");
    let sampled: BTreeSet<String> = KINDS.iter().map(|k| k.to_string()).collect();
    for stale in documented.difference(&sampled) {
        problems.push(format!(
            "CONTRACT.md documents event {stale:?}, which the client never writes"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The name of a command as `{"cmd": …}` says it. Exhaustive, so that a new command of the
/// node is seen here.
fn command_name(command: &NodeCommand) -> &'static str {
    match command {
        NodeCommand::Send { .. } => "send",
        NodeCommand::Status { .. } => "status",
        NodeCommand::Typing { .. } => "typing",
        NodeCommand::Peers => "peers",
        NodeCommand::Avatar { .. } => "avatar",
        NodeCommand::SendFile { .. } => "send_file",
        NodeCommand::AcceptFile { .. } => "accept",
        NodeCommand::RejectFile { .. } => "reject",
        NodeCommand::CancelFile { .. } => "cancel",
        NodeCommand::VerificationCode { .. } => "code",
        NodeCommand::TrustKey { verified: true, .. } => "verify",
        NodeCommand::TrustKey { .. } => "trust",
        NodeCommand::Quit => "quit",
    }
}

/// Every name `command_name` gives, so that a command missing from CONTRACT.md is noticed.
const COMMANDS: [&str; 13] = [
    "send",
    "status",
    "typing",
    "peers",
    "avatar",
    "send_file",
    "accept",
    "reject",
    "cancel",
    "code",
    "verify",
    "trust",
    "quit",
];

fn parse(line: &str) -> Result<NodeCommand, String> {
    parse_command(line, &mut SendIds::new())
}

#[test]
fn every_documented_command_is_accepted_as_documented() {
    let (contract, sections) = Contract::read();
    let mut problems = Vec::new();
    let documented = contract.names("command");
    let known: BTreeSet<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
    if documented != known {
        problems.push(format!(
            "CONTRACT.md documents the commands {documented:?}; the client takes {known:?}"
        ));
    }
    for section in sections.iter().filter(|s| s.kind == "command") {
        let name = &section.name;
        let table = contract.table("command", name).unwrap();
        if section.examples.is_empty() {
            problems.push(format!("command {name}: no JSON example"));
        }
        for example in &section.examples {
            let value: Value = match serde_json::from_str(example) {
                Ok(value) => value,
                Err(e) => {
                    problems.push(format!(
                        "command {name}: example is not JSON ({e}): {example}"
                    ));
                    continue;
                }
            };
            let line = value.to_string();
            match parse(&line) {
                Ok(command) if command_name(&command) == name => {}
                Ok(command) => problems.push(format!(
                    "command {name}: {line} is taken as {}",
                    command_name(&command)
                )),
                Err(e) => problems.push(format!("command {name}: {line} is refused: {e}")),
            }
            if value["cmd"] != name.as_str() {
                problems.push(format!("command {name}: example {line} has another cmd"));
            }
            contract.check_fields_present(&value, table, name, &mut problems);
            // Without each field, in turn: refused if documented required, accepted if not.
            for field in value.as_object().into_iter().flat_map(|o| o.keys()) {
                let mut without = value.clone();
                without.as_object_mut().unwrap().remove(field);
                let required = table
                    .get(field)
                    .is_some_and(|(_, when)| when.starts_with("required"));
                match (required, parse(&without.to_string())) {
                    (true, Ok(_)) => problems.push(format!(
                        "command {name}: documented as required, {field} may be left out"
                    )),
                    (false, Err(e)) => problems.push(format!(
                        "command {name}: documented as optional, {field} is required: {e}"
                    )),
                    _ => {}
                }
            }
            // A field the command does not know is ignored (so commands can grow).
            let mut extended = value.clone();
            extended
                .as_object_mut()
                .unwrap()
                .insert("a_field_from_the_future".into(), Value::from(1));
            if let Err(e) = parse(&extended.to_string()) {
                problems.push(format!("command {name}: an unknown field is refused: {e}"));
            }
        }
        for (field, (_, when)) in table {
            if !when.starts_with("required") && !when.starts_with("optional") {
                problems.push(format!(
                    "command {name}: the `when` of {field} starts with `required` or `optional`"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

impl Contract {
    /// A command example uses only documented fields, with their types, and shows every
    /// required one.
    fn check_fields_present(
        &self,
        value: &Value,
        table: &BTreeMap<String, (Type, String)>,
        name: &str,
        problems: &mut Vec<String>,
    ) {
        let Some(object) = value.as_object() else {
            problems.push(format!("command {name}: example is not an object: {value}"));
            return;
        };
        for (field, field_value) in object {
            match table.get(field) {
                Some((ty, _)) => self.check(field_value, ty, &format!("{name}.{field}"), problems),
                None => problems.push(format!(
                    "command {name}: example uses {field}, not in its table"
                )),
            }
        }
        for (field, (_, when)) in table {
            if when.starts_with("required") && !object.contains_key(field) {
                problems.push(format!("command {name}: example lacks required {field}"));
            }
        }
    }
}

#[test]
fn a_send_without_an_id_is_numbered_m1_m2_and_one_with_an_id_keeps_it() {
    let mut ids = SendIds::new();
    let mut id = |line: &str| match parse_command(line, &mut ids) {
        Ok(NodeCommand::Send { id, .. }) => id,
        other => panic!("{other:?}"),
    };
    assert_eq!(id(r#"{"cmd":"send","to":"b@h","body":"x"}"#), "m1");
    assert_eq!(
        id(r#"{"cmd":"send","to":"b@h","body":"x","id":"mine"}"#),
        "mine"
    );
    assert_eq!(id(r#"{"cmd":"send","to":"b@h","body":"x"}"#), "m2");
}

#[test]
fn lines_that_are_not_commands_are_refused_with_a_reason() {
    for line in [
        "",
        "not json",
        "[]",
        r#"{"cmd":"dance"}"#,
        r#"{"to":"b@h"}"#,
        r#"{"cmd":"status","status":"sleepy"}"#,
        r#"{"cmd":"typing","to":"b@h","state":"thinking"}"#,
    ] {
        let refused = parse(line);
        assert!(
            refused.as_ref().is_err_and(|reason| !reason.is_empty()),
            "{line:?}: {refused:?}"
        );
    }
}

/// The long flags `llxmpp ARGS --help` lists (`--help` and `--version` left out), or its
/// subcommands when `subcommands` is set.
fn help(args: &[&str], subcommands: bool) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_llxmpp"))
        .args(args)
        .arg("--help")
        .output()
        .expect("llxmpp runs");
    assert!(output.status.success(), "{args:?} --help");
    let text = String::from_utf8(output.stdout).unwrap();
    let mut names = BTreeSet::new();
    let mut in_commands = false;
    for line in text.lines() {
        if subcommands {
            if line.starts_with("Commands:") {
                in_commands = true;
            } else if in_commands && line.trim().is_empty() {
                in_commands = false;
            } else if in_commands {
                let name = line.split_whitespace().next().unwrap_or_default();
                if name != "help" {
                    names.insert(name.to_owned());
                }
            }
            continue;
        }
        // An option's line starts with it: `  -h, --help …` or `      --name <NAME> …`.
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue;
        }
        let flag = line.split([' ', ',']).find(|w| w.starts_with("--"));
        if let Some(flag) = flag.filter(|f| !matches!(*f, "--help" | "--version")) {
            names.insert(flag.to_owned());
        }
    }
    names
}

#[test]
fn the_subcommands_and_flags_of_help_are_the_documented_ones() {
    let sections = sections(CONTRACT);
    let documented: BTreeMap<String, BTreeSet<String>> = sections
        .iter()
        .filter(|s| s.kind == "flags")
        .map(|s| {
            let flags = s.rows.iter().map(|row| row[0].clone()).collect();
            (s.name.clone(), flags)
        })
        .collect();
    let subcommands = help(&[], true);
    assert_eq!(
        subcommands,
        documented.keys().cloned().collect(),
        "`llxmpp --help` lists these subcommands; CONTRACT.md has a flags table for each"
    );
    for (subcommand, flags) in &documented {
        assert_eq!(
            &help(&[subcommand], false),
            flags,
            "`llxmpp {subcommand} --help` against CONTRACT.md's table"
        );
    }
}
