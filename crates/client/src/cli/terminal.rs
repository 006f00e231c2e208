//! The human mode of `llxmpp chat` at a terminal (standard input and output both
//! terminals): a line editor whose prompt stays whole while events print above it,
//! history kept in the user's data folder, peers named by a prefix or a nickname with Tab
//! completion, and a current conversation (`/query`) to which a plain line goes.
//!
//! The editor is rustyline: its `ExternalPrinter` writes a line above the prompt and
//! redraws the line being typed, so a message that arrives mid-sentence breaks nothing.
//! What this mode prints is for people and may change (docs/CONTRACT.md); scripts use
//! `--json`, and pipes get [`super::plain`], unchanged.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use llxmpp_dnssd::avatar_phsh;
use llxmpp_event_loop::LoopHandle;
use llxmpp_framer::ChatState;
use llxmpp_roster::{Peer, Status};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::{FileHistory, History};
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, ExternalPrinter};

use super::names::{self, NameError};
use super::plain::status_text;
use super::SendIds;
use crate::node::{Events, NodeCommand, NodeEvent};

/// The one line `/help` prints for each command.
const HELP: &[&str] = &[
    "/query PEER   talk to PEER: plain lines go there (also /q; alone: no one)",
    "/msg PEER TEXT   send one message to PEER",
    "/peers   the peers on the link, with unread messages (also /who)",
    "/status avail|away|dnd [TEXT]   set our status and its message",
    "/avatar PEER   the size and SHA-1 of PEER's avatar",
    "/typing PEER   tell PEER we are typing",
    "/send PEER PATH   offer a file to PEER",
    "/accept ID [FOLDER]   take a file offered (into the downloads folder, or FOLDER)",
    "/reject ID   decline a file offered",
    "/cancel ID   stop a file transfer, either way",
    "/code PEER   the code to compare with PEER (encrypted links)",
    "/verify PEER   the code matched: PEER's key is verified",
    "/trust PEER KEY   accept PEER's changed key (check with PEER first)",
    "/help   this list",
    "/quit   say goodbye and exit (also Ctrl-D)",
];

/// Command names Tab offers, aliases included.
const COMMAND_WORDS: &[&str] = &[
    "/accept", "/avatar", "/cancel", "/code", "/help", "/msg", "/peers", "/q", "/query", "/quit",
    "/reject", "/send", "/status", "/trust", "/typing", "/verify", "/who",
];

/// Commands whose first argument is a peer, completed with peer names.
const PEER_COMMANDS: &[&str] = &[
    "/msg", "/q", "/query", "/typing", "/avatar", "/send", "/code", "/verify", "/trust",
];

/// How long after the last keystroke a conversation's "composing" becomes "paused"
/// (XEP-0085 §2 defines paused as no input "for a short period of time"; a few seconds is
/// what people see in iChat and libpurple).
const PAUSED_AFTER: Duration = Duration::from_secs(5);

/// How many lines the history keeps.
const HISTORY_SIZE: usize = 1000;

/// Where the history is kept: `$XDG_DATA_HOME/llxmpp/history`, else
/// `~/.local/share/llxmpp/history` (XDG Base Directory); `None` without either.
pub fn history_path() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|home| home.join(".local/share"))
        })?;
    Some(data.join("llxmpp").join("history"))
}

/// Whether to colour what we print: only on a terminal that is not `dumb`, and never
/// when `NO_COLOR` is set to anything but the empty string (no-color.org).
pub fn colour_wanted() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    std::io::stdout().is_terminal() && !no_color && !dumb
}

/// Where log lines go while the editor runs: to the thread that prints events above the
/// prompt, so that `RUST_LOG=debug` does not break the line being typed. A channel, not
/// the printer itself: a log line written by the editor's own thread must not wait for
/// that thread to print it.
static LOG_LINES: Mutex<Option<mpsc::Sender<String>>> = Mutex::new(None);

/// A log writer (for `tracing_subscriber`'s `with_writer(LogLine::default)`): each log
/// line goes to standard error, or above the prompt while the terminal chat runs.
#[derive(Default)]
pub struct LogLine {
    text: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    /// The subscriber takes one writer per event: the whole line is here.
    fn drop(&mut self) {
        if let Some(lines) = lock(&LOG_LINES).as_ref() {
            if lines
                .send(String::from_utf8_lossy(&self.text).into_owned())
                .is_ok()
            {
                return;
            }
        }
        let _ = std::io::stderr().write_all(&self.text);
    }
}

/// Runs the terminal chat until `/quit`, Ctrl-D, Ctrl-C or the node's own stop; the
/// node's thread is joined before it returns.
pub fn run(
    handle: LoopHandle<NodeCommand>,
    events: Events,
    node: thread::JoinHandle<()>,
) -> Result<(), String> {
    let style = Style {
        colour: colour_wanted(),
    };
    let shared = Arc::new(Mutex::new(Shared::default()));
    let typing = Arc::new(Mutex::new(Typing::default()));
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .max_history_size(HISTORY_SIZE)
        .map_err(|e| e.to_string())?
        .auto_add_history(false)
        .build();
    let mut editor: Editor<ChatHelper, FileHistory> =
        Editor::with_config(config).map_err(|e| format!("cannot start the line editor: {e}"))?;
    editor.set_helper(Some(ChatHelper {
        shared: shared.clone(),
        typing: typing.clone(),
        handle: handle.clone(),
    }));
    let history = history_path();
    if let Some(path) = &history {
        if path.exists() {
            if let Err(e) = editor.load_history(path) {
                eprintln!(
                    "llxmpp: warning: cannot read the history {}: {e}",
                    path.display()
                );
            }
        }
    }
    let printer = editor
        .create_external_printer()
        .map_err(|e| format!("cannot print above the prompt: {e}"))?;
    let (logs_tx, logs) = mpsc::channel();
    *lock(&LOG_LINES) = Some(logs_tx);
    // The modes to put back if the node stops while the editor holds the terminal raw.
    let saved_modes = nix::sys::termios::tcgetattr(std::io::stdin()).ok();
    let quitting = Arc::new(AtomicBool::new(false));
    let (done_tx, done) = mpsc::channel();
    let printing = {
        let shared = shared.clone();
        let typing = typing.clone();
        let handle = handle.clone();
        let quitting = quitting.clone();
        thread::spawn(move || {
            show_events(
                events,
                logs,
                printer,
                shared,
                typing,
                handle,
                style,
                quitting,
                saved_modes,
            );
            let _ = done_tx.send(());
        })
    };

    let mut ids = SendIds::new();
    loop {
        let prompt = prompt(&lock(&shared));
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("llxmpp: the terminal failed: {e}");
                break;
            }
        };
        if !line.trim().is_empty() {
            let _ = editor.add_history_entry(line.as_str());
            lock(&shared).typed.push(line.clone());
        }
        {
            // The line went (a message ends composing: XEP-0085 §3, the state chart).
            let mut typing = lock(&typing);
            typing.composing = None;
            typing.line.clear();
        }
        let action = interpret(&line, &mut lock(&shared), &mut ids);
        match action {
            Action::Nothing => {}
            Action::Quit => break,
            Action::Say(text) => say(&style, &text),
            Action::Node(command, confirm) => {
                if handle.send(command).is_err() {
                    break;
                }
                if let Some(text) = confirm {
                    say(&style, &text);
                }
            }
        }
    }
    quitting.store(true, Ordering::SeqCst);
    *lock(&LOG_LINES) = None;
    let _ = handle.send(NodeCommand::Quit);
    if let Some(path) = &history {
        keep_history(path, |path| editor.save_history(path));
    }
    // Goodbyes take a moment; the events printed meanwhile still reach the screen.
    let _ = done.recv_timeout(Duration::from_secs(5));
    let _ = printing.join();
    let _ = node.join();
    Ok(())
}

/// What the terminal knows of the link, shared by the editor (completion, names) and the
/// thread that prints events.
#[derive(Default)]
struct Shared {
    /// The peers online, by instance name.
    peers: BTreeMap<String, Peer>,
    /// Messages from each peer not read in its conversation.
    unread: HashMap<String, usize>,
    /// The peer plain lines go to.
    current: Option<String>,
    /// The peers composing a message to us, as their last notification said.
    composing: HashSet<String>,
    /// The lines typed in this session, for the history if the editor cannot save it.
    typed: Vec<String>,
    /// The ids of `/msg` sends, whose delivery is confirmed: the line typed named the
    /// peer only by a prefix, and it is not the conversation's.
    one_offs: HashSet<String>,
    /// The tenths of each moving file shown so far, for its progress bar.
    progress_shown: HashMap<String, u64>,
    /// Whether our stream with each peer is encrypted, as its last `link` said (known
    /// only with `--encrypt`): the prompt shows a padlock or "(unencrypted)".
    encrypted: HashMap<String, bool>,
    /// Peers already warned of as plaintext: once a session is enough.
    warned_plaintext: HashSet<String>,
}

/// Our own typing, as last told to the peer of the conversation.
#[derive(Default)]
struct Typing {
    /// The peer told "composing", and when the last key was pressed.
    composing: Option<(String, Instant)>,
    /// The line as the last keystroke left it: a redraw that changes nothing is no typing.
    line: String,
}

/// What a line typed at the prompt asks for.
#[derive(Debug)]
enum Action {
    /// An empty line.
    Nothing,
    /// A command for the node, and the line that confirms it, if the node will not.
    Node(NodeCommand, Option<String>),
    /// A line to print (a confirmation, the help, or why the line was refused).
    Say(String),
    /// Leave.
    Quit,
}

/// Reads one line typed at the prompt.
fn interpret(line: &str, shared: &mut Shared, ids: &mut SendIds) -> Action {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Action::Nothing;
    }
    if !trimmed.starts_with('/') || trimmed.starts_with("//") {
        // `//text` sends `/text`, as in irssi.
        let body = line.strip_prefix('/').filter(|_| trimmed.starts_with("//"));
        let body = body.unwrap_or(line);
        return match &shared.current {
            Some(to) => Action::Node(
                NodeCommand::Send {
                    to: to.clone(),
                    body: body.to_owned(),
                    id: ids.next_id(),
                },
                None,
            ),
            None => Action::Say(
                "! nobody to send to: /query PEER starts a conversation, /msg PEER TEXT \
                 sends one message, /help lists the commands"
                    .into(),
            ),
        };
    }
    let (word, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
    let rest = rest.trim();
    match word {
        "/msg" => {
            let Some((name, body)) = rest.split_once(' ') else {
                return Action::Say("! usage: /msg PEER TEXT".into());
            };
            match name_peer(name, shared) {
                Ok(to) => {
                    let id = ids.next_id();
                    shared.one_offs.insert(id.clone());
                    Action::Node(
                        NodeCommand::Send {
                            to,
                            body: body.trim_start().to_owned(),
                            id,
                        },
                        None,
                    )
                }
                Err(why) => Action::Say(why),
            }
        }
        "/query" | "/q" if rest.is_empty() => match shared.current.take() {
            Some(peer) => Action::Say(format!(
                "* no longer talking to {}: plain lines go nowhere",
                safe(&peer)
            )),
            None => Action::Say("* talking to no one; /query PEER to start".into()),
        },
        "/query" | "/q" => match name_peer(rest, shared) {
            Ok(peer) => {
                let unread = shared.unread.remove(&peer).unwrap_or(0);
                let text = format!(
                    "* talking to {}: plain lines go there{}",
                    safe(&peer),
                    match unread {
                        0 => String::new(),
                        1 => " (1 message was unread, above)".into(),
                        n => format!(" ({n} messages were unread, above)"),
                    }
                );
                shared.current = Some(peer);
                Action::Say(text)
            }
            Err(why) => Action::Say(why),
        },
        "/status" => {
            let (word, msg) = rest
                .split_once(' ')
                .map_or((rest, None), |(w, m)| (w, Some(m.trim().to_owned())));
            let Some(status) = Status::from_user(word) else {
                return Action::Say("! usage: /status avail|away|dnd [TEXT]".into());
            };
            let shown = match &msg {
                Some(msg) => format!("{word} — {msg}"),
                None => word.to_owned(),
            };
            Action::Node(
                NodeCommand::Status { status, msg },
                Some(format!(
                    "* status set: {shown} (published as {})",
                    status.txt_value()
                )),
            )
        }
        "/typing" => match name_peer(rest, shared) {
            Ok(to) => Action::Node(
                NodeCommand::Typing {
                    to: to.clone(),
                    state: ChatState::Composing,
                },
                Some(format!("* told {} we are typing, if it listens", safe(&to))),
            ),
            Err(why) => Action::Say(why),
        },
        "/avatar" => match name_peer(rest, shared) {
            Ok(peer) => Action::Node(NodeCommand::Avatar { peer }, None),
            Err(why) => Action::Say(why),
        },
        "/peers" | "/who" => Action::Node(NodeCommand::Peers, None),
        "/send" => {
            let Some((name, path)) = rest.split_once(' ') else {
                return Action::Say("! usage: /send PEER PATH".into());
            };
            match name_peer(name, shared) {
                Ok(to) => {
                    let id = ids.next_file_id();
                    let text = format!("* offering {} to {} as {id}", path.trim(), safe(&to));
                    Action::Node(
                        NodeCommand::SendFile {
                            to,
                            path: path.trim().into(),
                            id,
                            method: None,
                        },
                        Some(text),
                    )
                }
                Err(why) => Action::Say(why),
            }
        }
        "/accept" => {
            let (id, dir) = rest
                .split_once(' ')
                .map_or((rest, None), |(id, dir)| (id, Some(dir.trim().into())));
            if id.is_empty() {
                return Action::Say("! usage: /accept ID [FOLDER]".into());
            }
            Action::Node(NodeCommand::AcceptFile { id: id.into(), dir }, None)
        }
        "/reject" if !rest.is_empty() => {
            Action::Node(NodeCommand::RejectFile { id: rest.into() }, None)
        }
        "/cancel" if !rest.is_empty() => {
            Action::Node(NodeCommand::CancelFile { id: rest.into() }, None)
        }
        "/reject" | "/cancel" => Action::Say(format!("! usage: {word} ID")),
        "/code" | "/verify" | "/trust" => {
            let (name, key) = rest
                .split_once(' ')
                .map_or((rest, None), |(n, k)| (n, Some(k.trim())));
            let peer = match name_peer(name, shared) {
                Ok(peer) => peer,
                Err(why) => return Action::Say(why),
            };
            match (word, key) {
                ("/code", _) => Action::Node(NodeCommand::VerificationCode { peer }, None),
                ("/verify", _) => Action::Node(
                    NodeCommand::TrustKey {
                        peer,
                        key: None,
                        verified: true,
                    },
                    Some("* marked verified".into()),
                ),
                (_, Some(key)) if !key.is_empty() => Action::Node(
                    NodeCommand::TrustKey {
                        peer,
                        key: Some(key.into()),
                        verified: false,
                    },
                    Some("* the new key is trusted".into()),
                ),
                _ => Action::Say("! usage: /trust PEER KEY".into()),
            }
        }
        "/help" => Action::Say(
            HELP.iter()
                .map(|help| format!("* {help}"))
                .chain(std::iter::once(
                    "* a line without / goes to the peer of /query; Tab completes names".into(),
                ))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        "/quit" => Action::Quit,
        _ => Action::Say(format!("! unknown command {word}: /help lists them")),
    }
}

/// The instance of the peer a typed name names, or the line saying why there is none.
fn name_peer(name: &str, shared: &Shared) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("! which peer? Tab completes names, /peers lists them".into());
    }
    match names::resolve(name, shared.peers.values()) {
        Ok(instance) => Ok(instance),
        // A full name of someone not (yet) seen: the node says whether it can reach them.
        Err(NameError::Unknown) if name.contains('@') => Ok(name.to_owned()),
        Err(NameError::Unknown) => Err(format!(
            "! nobody on the link is called {}: /peers lists them",
            safe(name)
        )),
        Err(NameError::Ambiguous(candidates)) => Err(format!(
            "! {} could be {}: type more of the name",
            safe(name),
            safe(&candidates.join(", "))
        )),
    }
}

/// The prompt: whom a plain line goes to (`bob@hostb> `), or `> ` outside a
/// conversation. While that peer composes, [`ChatHelper`] shows `✎` in place of `>`.
fn prompt(shared: &Shared) -> String {
    match &shared.current {
        Some(peer) => format!("{}{}> ", safe(peer), link_mark(shared, peer)),
        None => "> ".into(),
    }
}

/// What the prompt says of the stream with `peer`: a padlock when it is encrypted,
/// "(unencrypted)" when it is not, nothing when unknown (encryption off, no stream yet).
fn link_mark(shared: &Shared, peer: &str) -> &'static str {
    match shared.encrypted.get(peer) {
        Some(true) => " \u{1F512}",
        Some(false) => " (unencrypted)",
        None => "",
    }
}

/// The prompt while the conversation's peer is composing: as wide as [`prompt`]'s, since
/// the editor measured that one.
fn composing_prompt(shared: &Shared, peer: &str) -> String {
    format!("{}{}{COMPOSING} ", safe(peer), link_mark(shared, peer))
}

/// What stands for "is typing" in the prompt, one column wide like the `>` it replaces.
const COMPOSING: char = '✎';

/// Prints events above the prompt until the node stops; tells the conversation's peer
/// "paused" when our typing stops.
#[allow(clippy::too_many_arguments)]
fn show_events(
    events: Events,
    logs: mpsc::Receiver<String>,
    mut printer: impl ExternalPrinter,
    shared: Arc<Mutex<Shared>>,
    typing: Arc<Mutex<Typing>>,
    handle: LoopHandle<NodeCommand>,
    style: Style,
    quitting: Arc<AtomicBool>,
    saved_modes: Option<nix::sys::termios::Termios>,
) {
    loop {
        match events.recv_timeout(Duration::from_millis(250)) {
            Ok(NodeEvent::Stopped) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Ok(event) => {
                let text = event_lines(&event, &mut lock(&shared), &style);
                if let Some(text) = text {
                    let _ = printer.print(format!("{text}\n"));
                } else if matches!(event, NodeEvent::Typing { .. }) {
                    // A redraw of the prompt, printing nothing: up a row, then the line
                    // feed the printer ends with, back down to where the prompt goes.
                    let _ = printer.print("\x1b[A\n".into());
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        while let Ok(line) = logs.try_recv() {
            let _ = printer.print(line);
        }
        let mut typing = lock(&typing);
        if let Some((to, last)) = &typing.composing {
            if last.elapsed() >= PAUSED_AFTER {
                let _ = handle.send(NodeCommand::Typing {
                    to: to.clone(),
                    state: ChatState::Paused,
                });
                typing.composing = None;
            }
        }
    }
    if quitting.load(Ordering::SeqCst) {
        let _ = printer.print("* bye\n".into());
        return;
    }
    // The node stopped on its own (SIGTERM, a failure) while the editor may hold the
    // terminal: put the terminal back as we found it, then leave.
    if let Some(modes) = saved_modes {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &modes,
        );
    }
    let mut out = std::io::stdout();
    let _ = write!(out, "\r\n* bye\r\n");
    let _ = out.flush();
    // The editor's history dies with its thread: this session's lines are added to the
    // file here instead.
    if let Some(path) = history_path() {
        let typed = std::mem::take(&mut lock(&shared).typed);
        keep_history(&path, |path| {
            let config = Config::builder().max_history_size(HISTORY_SIZE)?.build();
            let mut history = FileHistory::with_config(&config);
            if path.exists() {
                history.load(path)?;
            }
            for line in &typed {
                history.add(line)?;
            }
            history.save(path)
        });
    }
    std::process::exit(0);
}

/// Writes the history with `save`, making its folder first; a failure is a warning.
fn keep_history(path: &Path, save: impl FnOnce(&Path) -> rustyline::Result<()>) {
    let saved = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .map_err(|e| e.to_string())
        .and_then(|()| save(path).map_err(|e| e.to_string()));
    if let Err(e) = saved {
        eprintln!(
            "llxmpp: warning: cannot save the history to {}: {e}",
            path.display()
        );
    }
}

/// What the terminal shows for an event, if anything; keeps `shared` up to date.
fn event_lines(event: &NodeEvent, shared: &mut Shared, style: &Style) -> Option<String> {
    let now = style.dim(&chrono::Local::now().format("%H:%M").to_string());
    let text = match event {
        NodeEvent::Ready { instance, port } => {
            format!("* online as {instance} (port {port}); /help lists the commands, Tab completes")
        }
        NodeEvent::PeerOnline(peer) => {
            shared.peers.insert(peer.instance.clone(), peer.clone());
            style.dim(&format!(
                "{now} * {} ({}) is online: {}",
                safe(&peer.instance),
                safe(&peer.display_name()),
                safe(&status_text(peer))
            ))
        }
        NodeEvent::PeerChanged(peer) => {
            let before = shared.peers.insert(peer.instance.clone(), peer.clone());
            // An avatar or an address changing is no news to a person.
            if before.is_some_and(|b| status_text(&b) == status_text(peer)) {
                return None;
            }
            style.dim(&format!(
                "{now} * {} is now {}",
                safe(&peer.instance),
                safe(&status_text(peer))
            ))
        }
        NodeEvent::PeerOffline { peer } => {
            shared.peers.remove(peer);
            let yours = if shared.current.as_deref() == Some(peer) {
                " (your lines to them will fail until they return)"
            } else {
                ""
            };
            style.dim(&format!("{now} * {} went offline{yours}", safe(peer)))
        }
        NodeEvent::Message { from, body, .. } => {
            // A message ends the composing that led to it (XEP-0085 §3, the state chart).
            shared.composing.remove(from);
            let body = safe_body(body);
            let sender = format!("<{}>", safe(from));
            if shared.current.as_deref() == Some(from) {
                format!("{now} {} {body}", style.bold(&sender))
            } else {
                *shared.unread.entry(from.clone()).or_default() += 1;
                let short = safe(&short_name(from, shared));
                format!(
                    "{now} {} {body}  {}",
                    style.cyan(&sender),
                    style.dim(&format!("(answer: /q {short})"))
                )
            }
        }
        NodeEvent::Typing { from, state } => {
            // News for the prompt, not for the scrollback: the caller redraws it.
            if state == "composing" {
                shared.composing.insert(from.clone());
            } else {
                shared.composing.remove(from);
            }
            return None;
        }
        // A conversation's lines stay on screen after the prompt; silence is their success.
        NodeEvent::Sent { to, id } => {
            if !shared.one_offs.remove(id) {
                return None;
            }
            style.dim(&format!("{now} * sent to {}", safe(to)))
        }
        NodeEvent::SendFailed { to, id, reason } => {
            shared.one_offs.remove(id);
            style.red(&format!(
                "{now} ! {} not delivered to {}: {}",
                safe(id),
                safe(to),
                safe(reason)
            ))
        }
        NodeEvent::Peers(peers) if peers.is_empty() => "* nobody on the link".into(),
        NodeEvent::Peers(peers) => {
            for peer in peers {
                shared.peers.insert(peer.instance.clone(), peer.clone());
            }
            let mut peers: Vec<&Peer> = peers.iter().collect();
            peers.sort_by(|a, b| a.instance.cmp(&b.instance));
            peers
                .iter()
                .map(|p| {
                    let unread = match shared.unread.get(&p.instance).copied().unwrap_or(0) {
                        0 => String::new(),
                        n => style.cyan(&format!(", {n} unread")),
                    };
                    let mark = if shared.current.as_deref() == Some(&p.instance) {
                        ">"
                    } else {
                        "*"
                    };
                    format!(
                        "{mark} {} ({}) {}{unread}",
                        safe(&p.instance),
                        safe(&p.display_name()),
                        safe(&status_text(p))
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        NodeEvent::Avatar { peer, image: None } => format!("* {} has no avatar", safe(peer)),
        NodeEvent::Avatar {
            peer,
            image: Some(image),
        } => format!(
            "* {}'s avatar: {} bytes, SHA-1 {}",
            safe(peer),
            image.len(),
            avatar_phsh(image)
        ),
        NodeEvent::FileOffer {
            id,
            from,
            name,
            size,
            ..
        } => style.bold(&format!(
            "{now} * {} offers {} ({}): /accept {id} or /reject {id}",
            safe(from),
            safe(name),
            human_size(*size)
        )),
        NodeEvent::FileProgress { id, bytes, total } => {
            // A bar at each tenth, not at every report: the lines stay above the prompt.
            let tenths = (bytes * 10).checked_div(*total).unwrap_or(0).min(10);
            let shown = shared.progress_shown.entry(id.clone()).or_insert(0);
            if tenths <= *shown {
                return None;
            }
            *shown = tenths;
            let bar: String = (0..10)
                .map(|i| if i < tenths { '#' } else { '.' })
                .collect();
            style.dim(&format!(
                "{now} [{bar}] {id} {} of {}",
                human_size(*bytes),
                human_size(*total)
            ))
        }
        NodeEvent::FileDone {
            id, path, bytes, ..
        } => {
            shared.progress_shown.remove(id);
            format!("{now} * {id} done: {} ({})", safe(path), human_size(*bytes))
        }
        NodeEvent::FileFailed { id, reason } => {
            shared.progress_shown.remove(id);
            style.red(&format!("{now} ! {id} failed: {}", safe(reason)))
        }
        NodeEvent::Link {
            peer,
            encrypted,
            key_status,
            ..
        } => {
            let before = shared.encrypted.insert(peer.clone(), *encrypted);
            // A stream reopens after each idle spell: news only when something changed.
            let text = safe(&super::plain::event_text(event));
            if *encrypted {
                if before == Some(true) && key_status.as_deref() != Some("new") {
                    return None;
                }
                style.dim(&format!("{now} {text}"))
            } else {
                if !shared.warned_plaintext.insert(peer.clone()) {
                    return None;
                }
                style.red(&format!("{now} {text}"))
            }
        }
        NodeEvent::VerificationCode { .. } | NodeEvent::Registered { .. } => {
            style.dim(&format!("{now} {}", safe(&super::plain::event_text(event))))
        }
        NodeEvent::KeyChanged { .. } | NodeEvent::LinkRefused { .. } => {
            style.red(&format!("{now} {}", safe(&super::plain::event_text(event))))
        }
        NodeEvent::Error(message) => style.red(&format!("{now} ! {}", safe(message))),
        NodeEvent::Stopped => return None,
    };
    Some(text)
}

/// A size for people: bytes, KiB, MiB or GiB with one decimal.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A name or a line from the network as the terminal may show it: control characters
/// (escape sequences that would retitle the window, move the cursor or forge a line) as
/// U+FFFD.
fn safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// A message body as the terminal may show it: as [`safe`], but its lines kept, each
/// after the first indented under the timestamp so that no line can pass for another
/// message.
fn safe_body(body: &str) -> String {
    body.split('\n')
        .map(|line| safe(line.strip_suffix('\r').unwrap_or(line)))
        .collect::<Vec<_>>()
        .join("\n      ")
}

/// The shortest name that still names `instance` alone, for "answer with" hints.
fn short_name(instance: &str, shared: &Shared) -> String {
    let user = instance.split('@').next().unwrap_or(instance);
    for end in (1..=user.len()).filter(|&i| user.is_char_boundary(i)) {
        let prefix = &user[..end];
        if names::resolve(prefix, shared.peers.values()).as_deref() == Ok(instance) {
            return prefix.to_owned();
        }
    }
    instance.to_owned()
}

/// Prints a line of our own while the editor is not reading.
fn say(style: &Style, text: &str) {
    let text = if text.starts_with('!') {
        style.red(text)
    } else {
        text.to_owned()
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// SGR colours, or nothing when colours are off.
#[derive(Clone, Copy)]
struct Style {
    colour: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    fn cyan(&self, text: &str) -> String {
        self.paint("1;36", text)
    }

    fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
}

/// The editor's helper: completes command and peer names, and watches keystrokes to tell
/// the conversation's peer that we are typing.
struct ChatHelper {
    shared: Arc<Mutex<Shared>>,
    typing: Arc<Mutex<Typing>>,
    handle: LoopHandle<NodeCommand>,
}

impl Completer for ChatHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(' ').map_or(0, |i| i + 1);
        let word = &before[start..];
        if start == 0 && word.starts_with('/') {
            let found = COMMAND_WORDS
                .iter()
                .filter(|c| c.starts_with(word))
                .map(|c| Pair {
                    display: (*c).to_owned(),
                    replacement: format!("{c} "),
                })
                .collect();
            return Ok((0, found));
        }
        let command = before.split(' ').next().unwrap_or("");
        let second_word = before[..start].trim_end() == command;
        if !(second_word && PEER_COMMANDS.contains(&command)) {
            return Ok((pos, Vec::new()));
        }
        let shared = lock(&self.shared);
        let found = names::completions(word, shared.peers.values())
            .into_iter()
            .map(|(instance, shown)| Pair {
                display: match shown {
                    Some(shown) => format!("{} ({})", safe(&instance), safe(&shown)),
                    None => safe(&instance),
                },
                replacement: format!("{instance} "),
            })
            .collect();
        Ok((start, found))
    }
}

impl Hinter for ChatHelper {
    type Hint = String;

    /// Called as the line changes: the cheap place to see someone typing to the peer of
    /// the conversation (XEP-0085 §2: "composing" while they interact with the input).
    fn hint(&self, line: &str, _pos: usize, _ctx: &Context<'_>) -> Option<String> {
        let current = lock(&self.shared).current.clone();
        let mut typing = lock(&self.typing);
        if typing.line == line {
            return None;
        }
        typing.line = line.to_owned();
        let writing = !line.is_empty() && !line.starts_with('/');
        match (current, writing) {
            (Some(peer), true) => {
                let fresh = typing.composing.as_ref().is_none_or(|(to, _)| *to != peer);
                if fresh {
                    let _ = self.handle.send(NodeCommand::Typing {
                        to: peer.clone(),
                        state: ChatState::Composing,
                    });
                }
                typing.composing = Some((peer, Instant::now()));
            }
            (_, false) => {
                if let Some((to, _)) = typing.composing.take() {
                    let _ = self.handle.send(NodeCommand::Typing {
                        to,
                        state: ChatState::Paused,
                    });
                }
            }
            (None, true) => {}
        }
        None
    }
}

impl Highlighter for ChatHelper {
    /// Called at every redraw: the place to show the peer's typing in the prompt.
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        default: bool,
    ) -> Cow<'b, str> {
        let shared = lock(&self.shared);
        match &shared.current {
            Some(peer)
                if default
                    && shared.composing.contains(peer)
                    && prompt == self::prompt(&shared) =>
            {
                Cow::Owned(composing_prompt(&shared, peer))
            }
            _ => Cow::Borrowed(prompt),
        }
    }
}

impl Validator for ChatHelper {}

impl rustyline::Helper for ChatHelper {}

#[cfg(test)]
mod tests {
    use llxmpp_roster::Presence;

    use super::*;

    fn shared_with(instances: &[&str]) -> Shared {
        let mut shared = Shared::default();
        for instance in instances {
            shared.peers.insert(
                (*instance).to_owned(),
                Peer {
                    instance: (*instance).to_owned(),
                    host: "h".into(),
                    port: 5298,
                    addresses: Vec::new(),
                    presence: Presence::default(),
                    avatar: None,
                },
            );
        }
        shared
    }

    #[test]
    fn a_plain_line_goes_to_the_peer_of_the_query() {
        let mut shared = shared_with(&["bob@hostb", "carol@hostc"]);
        let mut ids = SendIds::new();
        assert!(matches!(
            interpret("hello", &mut shared, &mut ids),
            Action::Say(text) if text.contains("/query")
        ));
        assert!(matches!(
            interpret("/q ca", &mut shared, &mut ids),
            Action::Say(text) if text.contains("talking to carol@hostc")
        ));
        assert!(matches!(
            interpret("hello there", &mut shared, &mut ids),
            Action::Node(NodeCommand::Send { to, body, .. }, None)
                if to == "carol@hostc" && body == "hello there"
        ));
        assert!(matches!(
            interpret("//me", &mut shared, &mut ids),
            Action::Node(NodeCommand::Send { body, .. }, None) if body == "/me"
        ));
    }

    #[test]
    fn an_ambiguous_name_lists_the_candidates_and_sends_nothing() {
        let mut shared = shared_with(&["bob@hostb", "bobby@hostd"]);
        let action = interpret("/msg bo hi", &mut shared, &mut SendIds::new());
        assert!(matches!(
            action,
            Action::Say(text) if text.contains("bob@hostb, bobby@hostd")
        ));
    }

    #[test]
    fn every_command_is_confirmed_or_answered() {
        let mut shared = shared_with(&["bob@hostb"]);
        let mut ids = SendIds::new();
        assert!(matches!(
            interpret("/status away Lunch", &mut shared, &mut ids),
            Action::Node(NodeCommand::Status { .. }, Some(text)) if text.contains("away — Lunch")
        ));
        assert!(matches!(
            interpret("/help", &mut shared, &mut ids),
            Action::Say(text) if text.lines().count() == HELP.len() + 1
        ));
        assert!(matches!(
            interpret("/nonsense", &mut shared, &mut ids),
            Action::Say(text) if text.starts_with('!')
        ));
    }

    #[test]
    fn what_a_peer_sends_cannot_drive_the_terminal_or_forge_a_line() {
        let mut shared = shared_with(&["bob@hostb"]);
        let style = Style { colour: false };
        let message = NodeEvent::Message {
            from: "bob@hostb".into(),
            body: "hi\x1b]0;pwned\x07\n12:00 <carol@hostc> trust me\x1b[2J".into(),
            id: None,
            thread: None,
        };
        let text = event_lines(&message, &mut shared, &style).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text:?}");
        assert!(
            lines[0].ends_with("<bob@hostb> hi\u{FFFD}]0;pwned\u{FFFD}"),
            "{text:?}"
        );
        assert!(
            lines[1].starts_with("      12:00 <carol@hostc>"),
            "{text:?}"
        );
    }

    #[test]
    fn unread_messages_count_until_their_conversation_is_opened() {
        let mut shared = shared_with(&["bob@hostb", "bea@hostc"]);
        let style = Style { colour: false };
        let message = NodeEvent::Message {
            from: "bob@hostb".into(),
            body: "hi".into(),
            id: None,
            thread: None,
        };
        let line = event_lines(&message, &mut shared, &style).unwrap();
        assert!(line.ends_with("<bob@hostb> hi  (answer: /q bo)"), "{line}");
        assert_eq!(shared.unread.get("bob@hostb"), Some(&1));
        interpret("/q bob", &mut shared, &mut SendIds::new());
        assert_eq!(shared.unread.get("bob@hostb"), None);
        let line = event_lines(&message, &mut shared, &style).unwrap();
        assert!(line.ends_with("<bob@hostb> hi"), "{line}");
    }

    #[test]
    fn the_prompt_shows_the_link_and_plaintext_is_warned_of_once() {
        let style = Style { colour: false };
        let mut shared = shared_with(&["bob@hostb", "purple@hostc"]);
        shared.current = Some("bob@hostb".into());
        assert_eq!(prompt(&shared), "bob@hostb> ");
        let link = |peer: &str, encrypted: bool, status: &str| NodeEvent::Link {
            peer: peer.into(),
            encrypted,
            key: encrypted.then(|| "sha256:k".to_owned()),
            key_status: encrypted.then(|| status.to_owned()),
        };
        let line = event_lines(&link("bob@hostb", true, "new"), &mut shared, &style).unwrap();
        assert!(line.contains("encrypted with bob@hostb"), "{line}");
        assert_eq!(prompt(&shared), "bob@hostb \u{1F512}> ");
        assert_eq!(
            composing_prompt(&shared, "bob@hostb").chars().count(),
            prompt(&shared).chars().count()
        );
        // The same link again (a stream reopened after an idle spell): nothing to say.
        assert_eq!(
            event_lines(&link("bob@hostb", true, "known"), &mut shared, &style),
            None
        );
        let warning = event_lines(&link("purple@hostc", false, ""), &mut shared, &style).unwrap();
        assert!(warning.contains("unencrypted"), "{warning}");
        assert_eq!(
            event_lines(&link("purple@hostc", false, ""), &mut shared, &style),
            None
        );
        shared.current = Some("purple@hostc".into());
        assert_eq!(prompt(&shared), "purple@hostc (unencrypted)> ");
    }
}
