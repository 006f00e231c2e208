//! The human mode of `llxmpp chat` when standard input or output is not a terminal: one
//! command a line in, one line an event out, as scripts and pipes have always seen it.
//! Its wording is for people (docs/CONTRACT.md), but it stays as it is so that existing
//! pipes keep working; the interactive mode is [`super::terminal`].

use llxmpp_dnssd::avatar_phsh;
use llxmpp_framer::ChatState;
use llxmpp_roster::{Peer, Status};

use super::SendIds;
use crate::node::{NodeCommand, NodeEvent};

/// A peer's status and its message, as the chat shows them: `dnd — in a meeting`.
pub fn status_text(peer: &Peer) -> String {
    let status = peer.presence.status.txt_value();
    match &peer.presence.msg {
        Some(msg) => format!("{status} — {msg}"),
        None => status.to_owned(),
    }
}

/// The line (or lines, for the roster) written for an event, without the final line feed.
pub fn event_text(event: &NodeEvent) -> String {
    match event {
        NodeEvent::Ready { instance, port } => format!("* online as {instance} (port {port})"),
        NodeEvent::Registered { domain, instance } => {
            format!("* registered in {domain} as {instance}")
        }
        NodeEvent::PeerOnline(peer) => format!(
            "* {} ({}) is online: {}",
            peer.instance,
            peer.display_name(),
            status_text(peer)
        ),
        NodeEvent::PeerChanged(peer) => {
            format!("* {} is now {}", peer.instance, status_text(peer))
        }
        NodeEvent::PeerOffline { peer } => format!("* {peer} went offline"),
        NodeEvent::Message { from, body, .. } => format!("<{from}> {body}"),
        NodeEvent::Typing { from, state } => format!("* {from} is {state}"),
        NodeEvent::Sent { to, id } => format!("* sent {id} to {to}"),
        NodeEvent::SendFailed { to, id, reason } => {
            format!("! could not send {id} to {to}: {reason}")
        }
        NodeEvent::Peers(peers) if peers.is_empty() => "* nobody on the link".into(),
        NodeEvent::Peers(peers) => peers
            .iter()
            .map(|p| {
                format!(
                    "* {} ({}) {}",
                    p.instance,
                    p.display_name(),
                    p.presence.status.txt_value()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        NodeEvent::Avatar { peer, image: None } => format!("* {peer} has no avatar"),
        NodeEvent::Avatar {
            peer,
            image: Some(image),
        } => format!(
            "* {peer}'s avatar: {} bytes, SHA-1 {}",
            image.len(),
            avatar_phsh(image)
        ),
        NodeEvent::FileOffer {
            id,
            from,
            name,
            size,
            ..
        } => format!("* {from} offers {name} ({size} bytes): /accept {id} or /reject {id}"),
        NodeEvent::FileProgress { id, bytes, total } => format!("* {id}: {bytes} of {total} bytes"),
        NodeEvent::FileDone {
            id,
            path,
            bytes,
            sha256,
        } => format!("* {id} done: {path} ({bytes} bytes, SHA-256 {sha256})"),
        NodeEvent::FileFailed { id, reason } => format!("! {id} failed: {reason}"),
        NodeEvent::Link {
            peer,
            encrypted: true,
            key,
            key_status,
        } => format!(
            "* encrypted with {peer} (key {}, {}): /code {peer} shows the code to compare",
            key.as_deref().unwrap_or("?"),
            key_status.as_deref().unwrap_or("?")
        ),
        NodeEvent::Link { peer, .. } => {
            format!(
                "! {peer}: unencrypted; anyone on the link can read and forge this conversation"
            )
        }
        NodeEvent::KeyChanged { peer, key, pinned } => format!(
            "! {peer} presented another key ({key}) than the one known ({pinned}): refused. \
             If {peer} really has a new key, compare the code and /trust {peer} {key}"
        ),
        NodeEvent::LinkRefused { peer, reason } => format!(
            "! refused the stream with {}: {reason}",
            peer.as_deref().unwrap_or("a peer")
        ),
        NodeEvent::VerificationCode { peer, code } => {
            format!("* code with {peer}: {code} (the same on {peer}'s screen: /verify {peer})")
        }
        NodeEvent::Error(message) => format!("! {message}"),
        NodeEvent::Stopped => "* bye".into(),
    }
}

/// Reads one line of the human mode; `Ok(None)` for an empty line, `Err` the text of the
/// `!` line that answers a malformed or unknown command.
pub fn parse_command(line: &str, ids: &mut SendIds) -> Result<Option<NodeCommand>, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "/msg" => {
            let (to, body) = rest.trim().split_once(' ').ok_or("usage: /msg PEER TEXT")?;
            Ok(Some(NodeCommand::Send {
                to: to.into(),
                body: body.into(),
                id: ids.next_id(),
            }))
        }
        "/status" => {
            let rest = rest.trim();
            let (word, msg) = rest
                .split_once(' ')
                .map_or((rest, None), |(w, m)| (w, Some(m.to_owned())));
            let status = Status::from_user(word).ok_or("usage: /status avail|away|dnd [TEXT]")?;
            Ok(Some(NodeCommand::Status { status, msg }))
        }
        "/typing" => {
            let to = rest.trim();
            if to.is_empty() {
                return Err("usage: /typing PEER".into());
            }
            Ok(Some(NodeCommand::Typing {
                to: to.into(),
                state: ChatState::Composing,
            }))
        }
        "/peers" => Ok(Some(NodeCommand::Peers)),
        "/avatar" => {
            let peer = rest.trim();
            if peer.is_empty() {
                return Err("usage: /avatar PEER".into());
            }
            Ok(Some(NodeCommand::Avatar { peer: peer.into() }))
        }
        "/send" => {
            let (to, path) = rest
                .trim()
                .split_once(' ')
                .ok_or("usage: /send PEER PATH")?;
            Ok(Some(NodeCommand::SendFile {
                to: to.into(),
                path: path.trim().into(),
                id: ids.next_file_id(),
                method: None,
            }))
        }
        "/accept" => {
            let rest = rest.trim();
            let (id, dir) = rest
                .split_once(' ')
                .map_or((rest, None), |(id, dir)| (id, Some(dir.trim().into())));
            if id.is_empty() {
                return Err("usage: /accept ID [FOLDER]".into());
            }
            Ok(Some(NodeCommand::AcceptFile { id: id.into(), dir }))
        }
        "/reject" | "/cancel" => {
            let id = rest.trim();
            if id.is_empty() {
                return Err(format!("usage: {word} ID"));
            }
            Ok(Some(if word == "/reject" {
                NodeCommand::RejectFile { id: id.into() }
            } else {
                NodeCommand::CancelFile { id: id.into() }
            }))
        }
        "/code" | "/verify" => {
            let peer = rest.trim();
            if peer.is_empty() {
                return Err(format!("usage: {word} PEER"));
            }
            Ok(Some(if word == "/code" {
                NodeCommand::VerificationCode { peer: peer.into() }
            } else {
                NodeCommand::TrustKey {
                    peer: peer.into(),
                    key: None,
                    verified: true,
                }
            }))
        }
        "/trust" => {
            let (peer, key) = rest
                .trim()
                .split_once(' ')
                .ok_or("usage: /trust PEER KEY")?;
            Ok(Some(NodeCommand::TrustKey {
                peer: peer.into(),
                key: Some(key.trim().into()),
                verified: false,
            }))
        }
        "/quit" => Ok(Some(NodeCommand::Quit)),
        _ => Err(
            "commands: /msg PEER TEXT, /status avail|away|dnd [TEXT], /typing PEER, \
             /avatar PEER, /peers, /send PEER PATH, /accept ID [FOLDER], /reject ID, \
             /cancel ID, /code PEER, /verify PEER, /trust PEER KEY, /quit"
                .into(),
        ),
    }
}
