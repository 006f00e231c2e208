//! What the real-socket tests of the `llxmpp` binary share: hosts in network namespaces
//! this test makes (joined by a bridge) and `llxmpp chat --json` nodes on them, driven
//! through their JSON lines. They need root and iproute2, which CI has.

#![allow(dead_code)] // Each test file uses a part.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "../../../../xtask/src/netlab.rs"]
pub mod netlab;

/// Hosts a, b, c (10.80.0.1–3) on a bridge.
pub struct Lab {
    pub hosts: netlab::Hosts,
}

impl Lab {
    pub fn new(tag: &str) -> Option<Lab> {
        let prefix = format!("l{tag}{}", std::process::id() % 100_000);
        match netlab::Hosts::bridged(&prefix, &["a", "b", "c"], "10.80.0") {
            Ok(hosts) => Some(Lab { hosts }),
            Err(e) => {
                eprintln!(
                    "\n!!! CLI END-TO-END TESTS NOT RUN: cannot make network namespaces: {e}\n"
                );
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must run the CLI end-to-end tests"
                );
                None
            }
        }
    }

    pub fn command(&self, host: &str, args: &[&str]) -> Command {
        let mut command = netlab::in_namespace(&self.hosts.ns(host), env!("CARGO_BIN_EXE_llxmpp"));
        command.args(args);
        command
    }
}

/// A running `llxmpp chat --json`.
pub struct ChatNode {
    pub child: Child,
    pub stdin: ChildStdin,
    pub events: mpsc::Receiver<Value>,
    pub seen: Vec<Value>,
}

impl ChatNode {
    /// `name` on `host`, with the given name `Test` and `extra` arguments.
    pub fn start(lab: &Lab, host: &str, name: &str, extra: &[&str]) -> ChatNode {
        let mut args = vec!["--first", "Test"];
        args.extend(extra);
        ChatNode::start_with(lab, host, name, &args)
    }

    /// `name` on `host` with `extra` arguments only.
    pub fn start_with(lab: &Lab, host: &str, name: &str, extra: &[&str]) -> ChatNode {
        let mut args = netlab::chat_args(name, host);
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // LLXMPP_TEST_LOGS=DIR keeps each node's log (RUST_LOG, else debug) in DIR.
        ChatNode::spawn(lab.command(host, &args), &format!("{name}-{host}"))
    }

    /// A node from its whole command (`llxmpp chat --json …`); `tag` names its log.
    pub fn spawn(mut command: Command, tag: &str) -> ChatNode {
        let stderr = match std::env::var_os("LLXMPP_TEST_LOGS") {
            Some(dir) => Stdio::from(
                std::fs::File::create(Path::new(&dir).join(format!("{tag}.log"))).unwrap(),
            ),
            None => Stdio::null(),
        };
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "debug");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line: {line:?}: {e}"));
                assert!(
                    value.get("event").is_some(),
                    "every event has the field \"event\": {line}"
                );
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        ChatNode {
            child,
            stdin,
            events,
            seen: Vec::new(),
        }
    }

    pub fn command(&mut self, command: Value) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Asks the node to quit and checks that it exits 0 within 10 s (a goodbye goes out
    /// at once; a wide-area removal waits at most 2 s). One still running then is killed
    /// and the test fails, instead of waiting for it for ever.
    pub fn quit(&mut self) {
        self.command(json!({"cmd": "quit"}));
        let mut status = None;
        let _ = netlab::wait_for(
            || {
                status = self.child.try_wait().unwrap();
                status.is_some()
            },
            "the exit",
        );
        let Some(status) = status else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("still running 10 s after it was told to quit");
        };
        assert!(status.success(), "exited with {status} after quit");
    }

    /// Waits for an event matching `want`, up to `secs`.
    pub fn expect(&mut self, secs: u64, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(found) = self.seen.iter().find(|v| want(v)) {
            return found.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        while let Ok(event) = self
            .events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(event.clone());
            if want(&event) {
                return event;
            }
        }
        panic!("no {what} within {secs} s; saw {:#?}", self.seen);
    }
}

/// Alice on host a and Bob on host b, each having seen the other.
pub fn alice_and_bob(lab: &Lab) -> (ChatNode, ChatNode) {
    let mut alice = ChatNode::start(lab, "a", "alice", &[]);
    let mut bob = ChatNode::start(lab, "b", "bob", &[]);
    alice.expect(10, "bob online", |e| {
        is(e, "peer_online") && e["peer"] == "bob@hostb"
    });
    bob.expect(10, "alice online", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });
    (alice, bob)
}

/// Quits every node and checks that each exits 0.
pub fn quit_all<const N: usize>(nodes: [&mut ChatNode; N]) {
    for node in nodes {
        node.quit();
    }
}

pub fn is(event: &Value, kind: &str) -> bool {
    event["event"] == kind
}
