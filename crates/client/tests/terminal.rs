//! `llxmpp chat` as a person uses it: in a real pseudo-terminal, whose output a terminal
//! model (vt100) turns into the screen the person would see. The peers are `--json`
//! nodes on other hosts (network namespaces this test makes, joined by a bridge). It
//! needs root and iproute2, which CI has. Also: with stdin piped, the plain line mode
//! writes exactly the lines it always did.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

use common::{netlab, ChatNode, Lab};

const ROWS: u16 = 30;
const COLS: u16 = 110;

/// `llxmpp chat` (human mode) in a pseudo-terminal, with the screen it draws.
struct Terminal {
    child: Child,
    keys: File,
    screen: Arc<Mutex<vt100::Parser>>,
    data_home: PathBuf,
}

impl Terminal {
    /// Starts it with `env` added to the environment (TERM is xterm-256color, NO_COLOR
    /// unset, the data folder a fresh one).
    fn start(hosts: &netlab::Hosts, host: &str, name: &str, env: &[(&str, &str)]) -> Terminal {
        Terminal::start_with(hosts, host, name, env, &[])
    }

    /// As `start`, with `extra` arguments for `llxmpp chat`.
    fn start_with(
        hosts: &netlab::Hosts,
        host: &str,
        name: &str,
        env: &[(&str, &str)],
        extra: &[&str],
    ) -> Terminal {
        let size = nix::pty::Winsize {
            ws_row: ROWS,
            ws_col: COLS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(&size, None).unwrap();
        let data_home = std::env::temp_dir().join(format!("llxmpp-{}-{name}", hosts.ns(host)));
        let _ = std::fs::remove_dir_all(&data_home);
        let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
        let child = netlab::in_namespace(&hosts.ns(host), env!("CARGO_BIN_EXE_llxmpp"))
            .args([
                "chat",
                "--name",
                name,
                "--host",
                &format!("host{host}"),
                "--interface",
                "eth0",
            ])
            .args(extra)
            .env("TERM", "xterm-256color")
            .env("XDG_DATA_HOME", &data_home)
            .env_remove("NO_COLOR")
            // After the defaults, so that `env` may replace them.
            .envs(env.iter().copied())
            .stdin(stdio(&pty.slave))
            .stdout(stdio(&pty.slave))
            .stderr(stdio(&pty.slave))
            .spawn()
            .unwrap();
        drop(pty.slave);
        let master = File::from(pty.master);
        let keys = master.try_clone().unwrap();
        let screen = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let drawn = screen.clone();
        let mut answers = master.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut master = master;
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child has closed the terminal.
            while let Ok(n @ 1..) = master.read(&mut buf) {
                let mut parser = drawn.lock().unwrap();
                parser.process(&buf[..n]);
                // The editor asks where the cursor is (DSR); a terminal answers.
                if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                    let (row, col) = parser.screen().cursor_position();
                    let _ = write!(answers, "\x1b[{};{}R", row + 1, col + 1);
                }
            }
        });
        Terminal {
            child,
            keys,
            screen,
            data_home,
        }
    }

    fn type_keys(&mut self, keys: &str) {
        self.keys.write_all(keys.as_bytes()).unwrap();
        self.keys.flush().unwrap();
    }

    /// The screen's rows, without trailing blanks.
    fn rows(&self) -> Vec<String> {
        let parser = self.screen.lock().unwrap();
        parser
            .screen()
            .rows(0, COLS)
            .map(|row| row.trim_end().to_owned())
            .collect()
    }

    /// The row the cursor is on: the line being typed.
    fn cursor_row(&self) -> String {
        let parser = self.screen.lock().unwrap();
        let (row, _) = parser.screen().cursor_position();
        let line = parser.screen().rows(0, COLS).nth(usize::from(row));
        line.unwrap_or_default().trim_end().to_owned()
    }

    /// Waits until the screen satisfies `want`, up to `secs`.
    fn wait_for(&self, secs: u64, what: &str, want: impl Fn(&Terminal) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if want(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{what} not on the screen within {secs} s; the screen:\n{}",
            self.rows().join("\n")
        );
    }

    /// Whether any cell on the screen is bold, dim or coloured.
    fn any_styled(&self) -> bool {
        let parser = self.screen.lock().unwrap();
        let screen = parser.screen();
        (0..ROWS).any(|row| {
            (0..COLS).any(|col| {
                screen.cell(row, col).is_some_and(|cell| {
                    cell.bold() || cell.dim() || cell.fgcolor() != vt100::Color::Default
                })
            })
        })
    }

    fn shows(&self, text: &str) -> bool {
        self.rows().iter().any(|row| row.contains(text))
    }

    fn quit(&mut self) {
        self.type_keys("/quit\r");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no exit after /quit; the screen:\n{}",
            self.rows().join("\n")
        );
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_home);
    }
}

fn is(event: &Value, kind: &str) -> bool {
    event["event"] == kind
}

#[test]
fn a_message_arriving_mid_line_leaves_both_lines_whole_and_query_sends_plain_lines() {
    let Some(lab) = Lab::new("q") else { return };
    let mut bob = ChatNode::start_with(&lab, "b", "bob", &[]);
    let mut alice = Terminal::start(&lab.hosts, "a", "alice", &[]);
    alice.wait_for(15, "bob online", |t| {
        t.shows("bob@hostb (bob@hostb) is online")
    });
    bob.expect(15, "alice online", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });

    // A prefix names bob; the prompt then says where plain lines go.
    alice.type_keys("/query bo\r");
    alice.wait_for(5, "the conversation", |t| {
        t.shows("* talking to bob@hostb") && t.cursor_row() == "bob@hostb>"
    });

    // Half a line typed, then bob's message arrives.
    alice.type_keys("half a li");
    alice.wait_for(5, "the half line", |t| {
        t.cursor_row() == "bob@hostb> half a li"
    });
    let text = "are you there? <b>bold</b> & stuff";
    bob.command(json!({"cmd": "send", "to": "alice@hosta", "body": text, "id": "b1"}));
    alice.wait_for(10, "bob's message above the prompt", |t| {
        t.rows()
            .iter()
            .any(|row| row.ends_with(&format!("<bob@hostb> {text}")))
    });
    alice.wait_for(5, "the half line redrawn below it", |t| {
        t.cursor_row() == "bob@hostb> half a li"
    });
    let rows = alice.rows();
    assert!(
        !rows
            .iter()
            .any(|row| row.contains("half a li") && row.contains("<bob@hostb>")),
        "a line mixes what is typed and what arrived: {rows:#?}"
    );
    let message_row = rows.iter().position(|r| r.contains(text)).unwrap();
    let prompt_row = rows.iter().rposition(|r| r.contains("half a li")).unwrap();
    assert!(message_row < prompt_row, "{rows:#?}");
    assert!(alice.any_styled(), "colours on a terminal without NO_COLOR");
    // A timestamp (HH:MM) before the sender.
    let message = &rows[message_row];
    let stamp = &message[..5];
    assert!(
        stamp.as_bytes()[2] == b':' && stamp.replace(':', "").bytes().all(|b| b.is_ascii_digit()),
        "{message}"
    );

    // The line is finished and goes to bob, a plain line with no command.
    alice.type_keys("ne\r");
    let got = bob.expect(10, "alice's plain line", |e| is(e, "message"));
    assert_eq!(
        (got["from"].as_str(), got["body"].as_str()),
        (Some("alice@hosta"), Some("half a line"))
    );

    // `/msg` with a prefix still works for a one-off; `/status` confirms.
    alice.type_keys("/msg bob one-off\r");
    bob.expect(10, "the one-off", |e| {
        is(e, "message") && e["body"] == "one-off"
    });
    alice.wait_for(5, "the one-off confirmed", |t| {
        t.shows("* sent to bob@hostb")
    });
    alice.type_keys("/status away Lunch\r");
    alice.wait_for(5, "the confirmation", |t| {
        t.shows("* status set: away — Lunch")
    });
    bob.expect(10, "alice away", |e| {
        is(e, "peer_changed") && e["peer"] == "alice@hosta" && e["msg"] == "Lunch"
    });

    // Typing in the conversation tells bob (he has written, so the node knows he takes
    // notifications): composing at once, paused after a few idle seconds.
    alice.type_keys("still th");
    let typing = bob.expect(10, "alice composing", |e| {
        is(e, "typing") && e["state"] == "composing"
    });
    assert_eq!(typing["from"], "alice@hosta");
    let started = Instant::now();
    // Paused, which XEP-0022 (what llxmpp's messages ask for) says as "stopped".
    bob.expect(10, "alice paused", |e| {
        is(e, "typing") && (e["state"] == "paused" || e["state"] == "stopped")
    });
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "paused too soon"
    );
    alice.type_keys("\x15");

    // Bob's typing shows in the prompt, in place of its `>`, and goes when he pauses;
    // what alice is typing stays.
    alice.type_keys("so");
    bob.command(json!({"cmd": "typing", "to": "alice@hosta", "state": "composing"}));
    alice.wait_for(10, "bob composing in the prompt", |t| {
        t.cursor_row() == "bob@hostb✎ so"
    });
    bob.command(json!({"cmd": "typing", "to": "alice@hosta", "state": "paused"}));
    alice.wait_for(10, "bob paused", |t| t.cursor_row() == "bob@hostb> so");
    assert!(
        !alice.rows().iter().any(|row| row.contains("typing")),
        "typing is not a line in the scrollback: {:#?}",
        alice.rows()
    );
    alice.type_keys("\x15");

    // History: the lines typed are kept in the data folder.
    let history = alice.data_home.join("llxmpp/history");
    alice.type_keys("\x1b[A");
    alice.wait_for(5, "the last line again (arrow up)", |t| {
        t.cursor_row() == "bob@hostb> /status away Lunch"
    });
    alice.type_keys("\x15");
    alice.quit();
    let history_text = std::fs::read_to_string(&history).unwrap();
    assert!(
        history_text.contains("half a line") && history_text.contains("/query bo"),
        "{history_text}"
    );
    bob.quit();
}

#[test]
fn tab_completes_a_unique_prefix_and_lists_the_candidates_of_an_ambiguous_one() {
    let Some(lab) = Lab::new("c") else { return };
    let mut bob = ChatNode::start_with(&lab, "b", "bob", &[]);
    let mut bea = ChatNode::start_with(&lab, "c", "bea", &[]);
    let mut alice = Terminal::start(&lab.hosts, "a", "alice", &[("NO_COLOR", "1")]);
    alice.wait_for(15, "bob and bea online", |t| {
        t.shows("bob@hostb (bob@hostb) is online") && t.shows("bea@hostc (bea@hostc) is online")
    });
    bea.expect(15, "alice online", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });

    // Command names complete too.
    alice.type_keys("/que\t");
    alice.wait_for(5, "/query completed", |t| t.cursor_row() == "> /query");
    alice.type_keys("\x15");

    // A unique prefix completes to the instance name.
    alice.type_keys("/msg bo\t");
    alice.wait_for(5, "bob completed", |t| t.cursor_row() == "> /msg bob@hostb");
    alice.type_keys("\x15");

    // An ambiguous one: the first Tab beeps, the second lists both.
    alice.type_keys("/msg b\t\t");
    alice.wait_for(5, "both candidates listed", |t| {
        t.rows()
            .iter()
            .any(|row| row.contains("bea@hostc") && row.contains("bob@hostb"))
    });
    alice.wait_for(5, "the line under the list", |t| {
        t.cursor_row() == "> /msg b"
    });
    // A name left ambiguous is refused with the candidates, and nothing is sent.
    alice.type_keys(" hello?\r");
    alice.wait_for(5, "the candidates", |t| {
        t.shows("! b could be bea@hostc, bob@hostb")
    });
    // Typing more makes it unique.
    alice.type_keys("/msg be\thi bea\r");
    let got = bea.expect(10, "alice's message", |e| is(e, "message"));
    assert_eq!(got["body"], "hi bea");
    assert!(!bob.seen.iter().any(|e| is(e, "message")));

    // Outside any conversation, a message says who it is from and how to answer it, and
    // counts as unread in /who until its conversation is opened.
    bea.command(json!({"cmd": "send", "to": "alice@hosta", "body": "hi alice", "id": "e1"}));
    alice.wait_for(10, "bea's message", |t| {
        t.shows("<bea@hostc> hi alice  (answer: /q be)")
    });
    alice.type_keys("/who\r");
    alice.wait_for(10, "the unread count", |t| {
        t.shows("* bea@hostc (bea@hostc) avail, 1 unread")
    });
    alice.type_keys("/q be\r");
    alice.wait_for(5, "the conversation", |t| {
        t.shows("* talking to bea@hostc: plain lines go there (1 message was unread, above)")
    });
    alice.type_keys("/help\r");
    alice.wait_for(5, "the help", |t| t.shows("* /quit   say goodbye and exit"));
    assert!(
        !alice.any_styled(),
        "no colour with NO_COLOR: {:#?}",
        alice.rows()
    );

    // SIGTERM while the editor holds the terminal: goodbyes, the terminal's modes back
    // as they were (line editing and echo), exit status 0.
    alice.type_keys("half");
    alice.wait_for(5, "the half line", |t| t.cursor_row() == "bea@hostc> half");
    let raw = nix::sys::termios::tcgetattr(&alice.keys).unwrap();
    assert!(!raw
        .local_flags
        .contains(nix::sys::termios::LocalFlags::ICANON));
    let pid = alice.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    bea.expect(10, "alice offline", |e| {
        is(e, "peer_offline") && e["peer"] == "alice@hosta"
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while alice.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(alice.child.try_wait().unwrap().is_some_and(|s| s.success()));
    let modes = nix::sys::termios::tcgetattr(&alice.keys).unwrap();
    assert!(modes
        .local_flags
        .contains(nix::sys::termios::LocalFlags::ICANON | nix::sys::termios::LocalFlags::ECHO));
    // The session's lines were kept all the same.
    let history = std::fs::read_to_string(alice.data_home.join("llxmpp/history")).unwrap();
    assert!(
        history.contains("/msg bea@hostc hi bea") && history.contains("/help"),
        "{history}"
    );
    bob.quit();
    bea.quit();
}

#[test]
fn log_lines_print_above_the_prompt_too() {
    let Some(lab) = Lab::new("l") else { return };
    // A data folder that cannot be made: the history is not saved, and that is a warning.
    let mut alice = Terminal::start(
        &lab.hosts,
        "a",
        "alice",
        &[("RUST_LOG", "info"), ("XDG_DATA_HOME", "/dev/null/nowhere")],
    );
    alice.wait_for(15, "online", |t| t.shows("* online as alice@hosta"));
    alice.type_keys("half a li");
    alice.wait_for(5, "the half line", |t| t.cursor_row() == "> half a li");
    // A connection from an address no peer has: alice resets it, and logs that. The reset
    // may come before `connect` returns (EPIPE or ECONNRESET there); only a refusal fails.
    let knock = netlab::in_namespace(&lab.hosts.ns("c"), "/usr/bin/python3")
        .args([
            "-c",
            "import socket\n\
             try:\n    s = socket.create_connection(('10.80.0.1', 5298), timeout=5)\n    \
             s.recv(1)\n\
             except (ConnectionResetError, BrokenPipeError):\n    pass\n",
        ])
        .output()
        .unwrap();
    assert!(knock.status.success(), "{knock:?}");
    alice.wait_for(10, "the log line", |t| {
        t.shows("closing a connection from an unknown address")
    });
    alice.wait_for(5, "the half line, whole", |t| {
        t.cursor_row() == "> half a li"
    });
    let rows = alice.rows();
    assert!(
        !rows
            .iter()
            .any(|row| row.contains("half a li") && row.contains("unknown address")),
        "{rows:#?}"
    );
    alice.type_keys("\x15");
    alice.quit();
    alice.wait_for(5, "the warning", |t| {
        t.shows("llxmpp: warning: cannot save the history to /dev/null/nowhere")
    });
}

/// With stdin piped (not a terminal), `llxmpp chat` writes exactly the lines it always
/// wrote: no prompt, no colour, no timestamps.
#[test]
fn piped_stdin_keeps_the_plain_line_mode() {
    let Some(lab) = Lab::new("p") else { return };
    let mut bob = ChatNode::start_with(&lab, "b", "bob", &[]);
    let mut alice = netlab::in_namespace(&lab.hosts.ns("a"), env!("CARGO_BIN_EXE_llxmpp"))
        .args([
            "chat",
            "--name",
            "alice",
            "--host",
            "hosta",
            "--interface",
            "eth0",
        ])
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = alice.stdin.take().unwrap();
    let stdout = alice.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
            let _ = tx.send(String::from_utf8(line).unwrap());
        }
    });
    let mut seen = Vec::new();
    let mut wait_line = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !seen.iter().any(|l| l == want) {
            let line = lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no line {want:?}; saw {seen:#?}"));
            seen.push(line);
        }
        seen.clone()
    };
    wait_line("* online as alice@hosta (port 5298)");
    wait_line("* bob@hostb (bob@hostb) is online: avail");
    bob.expect(15, "alice online", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });
    writeln!(stdin, "/msg bob@hostb hi\nhello without a command").unwrap();
    wait_line(
        "! commands: /msg PEER TEXT, /status avail|away|dnd [TEXT], /typing PEER, \
         /avatar PEER, /peers, /send PEER PATH, /accept ID [FOLDER], /reject ID, \
         /cancel ID, /code PEER, /verify PEER, /trust PEER KEY, /quit",
    );
    wait_line("* sent m1 to bob@hostb");
    bob.command(json!({"cmd": "send", "to": "alice@hosta", "body": "back", "id": "b1"}));
    let all = wait_line("<bob@hostb> back");
    drop(stdin);
    assert!(alice.wait().unwrap().success());
    for line in &all {
        assert!(
            !line.contains('\x1b') && !line.contains('\r'),
            "{line:?}: no escapes in the plain mode"
        );
    }
    bob.quit();
}

#[test]
fn files_are_offered_accepted_with_a_progress_bar_and_sent_from_the_prompt() {
    let Some(lab) = Lab::new("f") else { return };
    // Bob's link at 50 Mbit/s: his 4 MiB take most of a second, long enough for bars.
    netlab::throttle(&lab.hosts.ns("b"), true).unwrap();
    let mut bob = ChatNode::start_with(&lab, "b", "bob", &[]);
    let mut alice = Terminal::start(&lab.hosts, "a", "alice", &[("NO_COLOR", "1")]);
    alice.wait_for(15, "bob online", |t| {
        t.shows("bob@hostb (bob@hostb) is online")
    });
    bob.expect(15, "alice online", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });
    let dir = std::env::temp_dir().join(format!("llxmpp-{}-files", lab.hosts.ns("a")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let theirs = dir.join("from bob.bin");
    let bytes: Vec<u8> = (0..4u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&theirs, &bytes).unwrap();

    bob.command(json!({"cmd": "send_file", "to": "alice@hosta", "path": theirs, "id": "b1"}));
    alice.wait_for(10, "the offer", |t| {
        t.shows("* bob@hostb offers from bob.bin (4.0 MiB): /accept r1 or /reject r1")
    });
    let inbox = dir.join("inbox");
    alice.type_keys(&format!("/accept r1 {}\r", inbox.display()));
    alice.wait_for(20, "the file saved", |t| {
        t.shows(&format!(
            "* r1 done: {} (4.0 MiB)",
            inbox.join("from bob.bin").display()
        ))
    });
    assert!(
        alice
            .rows()
            .iter()
            .any(|row| row.contains("] r1 ") && row.contains(" of 4.0 MiB")),
        "no progress bar: {:#?}",
        alice.rows()
    );
    assert_eq!(std::fs::read(inbox.join("from bob.bin")).unwrap(), bytes);

    // And the other way, named by a prefix.
    let ours = dir.join("notes.txt");
    std::fs::write(&ours, b"for bob").unwrap();
    alice.type_keys(&format!("/send bo {}\r", ours.display()));
    alice.wait_for(5, "the confirmation", |t| {
        t.shows(&format!("* offering {} to bob@hostb as f1", ours.display()))
    });
    let offer = bob.expect(10, "alice's offer", |e| is(e, "file_offer"));
    bob.command(json!({"cmd": "accept", "id": offer["id"], "dir": dir.join("bob")}));
    alice.wait_for(10, "sent", |t| {
        t.shows(&format!("* f1 done: {}", ours.display()))
    });
    alice.quit();
    bob.quit();
}

#[test]
fn an_encrypted_conversation_shows_its_padlock_and_the_code_to_compare() {
    let Some(lab) = Lab::new("tl") else { return };
    let keys = std::env::temp_dir().join(format!("llxmpp-{}-keys", lab.hosts.ns("a")));
    let bob_keys = std::env::temp_dir().join(format!("llxmpp-{}-keys", lab.hosts.ns("b")));
    for dir in [&keys, &bob_keys] {
        let _ = std::fs::remove_dir_all(dir);
    }
    let mut bob = ChatNode::start_with(
        &lab,
        "b",
        "bob",
        &["--encrypt", "prefer", "--keys", bob_keys.to_str().unwrap()],
    );
    let mut alice = Terminal::start_with(
        &lab.hosts,
        "a",
        "alice",
        &[("NO_COLOR", "1")],
        &["--encrypt", "prefer", "--keys", keys.to_str().unwrap()],
    );
    alice.wait_for(15, "bob online", |t| {
        t.shows("bob@hostb (bob@hostb) is online")
    });
    bob.expect(15, "alice online", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });
    alice.type_keys("/q bob\r");
    alice.wait_for(5, "the conversation", |t| t.shows("talking to bob@hostb"));
    alice.type_keys("hello over TLS\r");
    alice.wait_for(10, "the link", |t| {
        t.shows("* encrypted with bob@hostb (key sha256:")
    });
    bob.expect(10, "the message", |e| {
        is(e, "message") && e["body"] == "hello over TLS"
    });
    alice.wait_for(10, "the link", |t| {
        t.shows("* encrypted with bob@hostb (key sha256:")
    });
    // The next prompt carries the padlock.
    alice.type_keys("/code bob\r");
    bob.command(json!({"cmd": "code", "peer": "alice@hosta"}));
    let code = bob.expect(10, "bob's code", |e| is(e, "code"))["code"]
        .as_str()
        .unwrap()
        .to_owned();
    alice.wait_for(10, "the same code", |t| {
        t.shows(&format!("code with bob@hostb: {code}"))
    });
    alice.wait_for(5, "the padlock", |t| {
        t.cursor_row().starts_with("bob@hostb \u{1F512}>")
    });
    alice.quit();
    bob.quit();
}
