//! The JSON-lines protocol of `llxmpp chat --json` (and of `llxmpp peers --json`'s one
//! line): every event the node reports as one JSON object, and every command line a
//! script may write as a [`NodeCommand`].
//!
//! `docs/CONTRACT.md` describes both directions field by field, and the `contract` test
//! checks this file against it: an event kind or a field written here must be documented
//! there, and every command documented there must be accepted here. The contract is
//! extended, never broken (`docs/CONTRACT.md` says what that allows).

use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use llxmpp_dnssd::{avatar_phsh, InterfaceAddr};
use llxmpp_framer::ChatState;
use llxmpp_roster::{Peer, Status};
use serde_json::{json, Value};

use super::SendIds;
use crate::node::{Method, NodeCommand, NodeEvent};

/// An event as the JSON object written for it; its field `"event"` names its kind.
pub fn event_value(event: &NodeEvent) -> Value {
    match event {
        NodeEvent::Ready { instance, port } => {
            json!({"event": "ready", "instance": instance, "port": port})
        }
        NodeEvent::PeerOnline(peer) => peer_value("peer_online", peer),
        NodeEvent::PeerChanged(peer) => peer_value("peer_changed", peer),
        NodeEvent::PeerOffline { peer } => json!({"event": "peer_offline", "peer": peer}),
        NodeEvent::Message {
            from,
            body,
            id,
            thread,
        } => json!({"event": "message", "from": from, "body": body, "id": id, "thread": thread}),
        NodeEvent::Typing { from, state } => {
            json!({"event": "typing", "from": from, "state": state})
        }
        NodeEvent::Sent { to, id } => json!({"event": "sent", "to": to, "id": id}),
        NodeEvent::SendFailed { to, id, reason } => {
            json!({"event": "send_failed", "to": to, "id": id, "reason": reason})
        }
        NodeEvent::Peers(peers) => {
            json!({"event": "peers", "peers": peers.iter().map(|p| peer_value("peer", p)).collect::<Vec<_>>()})
        }
        NodeEvent::Avatar { peer, image } => json!({
            "event": "avatar",
            "peer": peer,
            "sha1": image.as_deref().map(avatar_phsh),
            "data": image.as_ref().map(|bytes| STANDARD.encode(bytes)),
        }),
        NodeEvent::FileOffer {
            id,
            from,
            name,
            size,
            method,
        } => {
            json!({"event": "file_offer", "id": id, "from": from, "name": name, "size": size, "method": method})
        }
        NodeEvent::FileProgress { id, bytes, total } => {
            json!({"event": "file_progress", "id": id, "bytes": bytes, "total": total})
        }
        NodeEvent::FileDone {
            id,
            path,
            bytes,
            sha256,
        } => {
            json!({"event": "file_done", "id": id, "path": path, "bytes": bytes, "sha256": sha256})
        }
        NodeEvent::FileFailed { id, reason } => {
            json!({"event": "file_failed", "id": id, "reason": reason})
        }
        NodeEvent::Link {
            peer,
            encrypted,
            key,
            key_status,
        } => {
            json!({"event": "link", "peer": peer, "encrypted": encrypted, "key": key, "key_status": key_status})
        }
        NodeEvent::KeyChanged { peer, key, pinned } => {
            json!({"event": "key_changed", "peer": peer, "key": key, "pinned": pinned})
        }
        NodeEvent::LinkRefused { peer, reason } => {
            json!({"event": "link_refused", "peer": peer, "reason": reason})
        }
        NodeEvent::VerificationCode { peer, code } => {
            json!({"event": "code", "peer": peer, "code": code})
        }
        NodeEvent::Registered { domain, instance } => {
            json!({"event": "registered", "domain": domain, "instance": instance})
        }
        NodeEvent::Error(message) => json!({"event": "error", "message": message}),
        NodeEvent::Stopped => json!({"event": "stopped"}),
    }
}

/// An event as the line written for it, without the line feed.
pub fn event_line(event: &NodeEvent) -> String {
    event_value(event).to_string()
}

/// Reads one line a script wrote; `Err` is the text of the `error` event that answers a
/// line that is not a command (not JSON, an unknown `cmd`, a missing or wrong field).
/// Fields a command does not know are ignored. A `send` without an `id` takes the next of
/// `ids`, as does a `send_file` (`f1`, `f2`…).
pub fn parse_command(line: &str, ids: &mut SendIds) -> Result<NodeCommand, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    match text("cmd").as_deref() {
        Some("send") => {
            let to = text("to").ok_or("send needs \"to\"")?;
            let body = text("body").ok_or("send needs \"body\"")?;
            Ok(NodeCommand::Send {
                to,
                body,
                id: text("id").unwrap_or_else(|| ids.next_id()),
            })
        }
        Some("status") => {
            let word = text("status").ok_or("status needs \"status\"")?;
            let status =
                Status::from_user(&word).ok_or_else(|| format!("unknown status {word:?}"))?;
            Ok(NodeCommand::Status {
                status,
                msg: text("msg"),
            })
        }
        Some("typing") => {
            let to = text("to").ok_or("typing needs \"to\"")?;
            let state = match text("state").as_deref() {
                None | Some("composing") => ChatState::Composing,
                Some("paused") => ChatState::Paused,
                Some(other) => {
                    return Err(format!(
                        "unknown typing state {other:?}: composing or paused"
                    ))
                }
            };
            Ok(NodeCommand::Typing { to, state })
        }
        Some("peers") => Ok(NodeCommand::Peers),
        Some("avatar") => {
            let peer = text("peer").ok_or("avatar needs \"peer\"")?;
            Ok(NodeCommand::Avatar { peer })
        }
        Some("send_file") => {
            Ok(NodeCommand::SendFile {
                to: text("to").ok_or("send_file needs \"to\"")?,
                path: text("path").ok_or("send_file needs \"path\"")?.into(),
                id: text("id").unwrap_or_else(|| ids.next_file_id()),
                method: match text("method") {
                    None => None,
                    Some(name) => Some(Method::from_name(&name).ok_or_else(|| {
                        format!("unknown file method {name:?}: \"si\" or \"oob\"")
                    })?),
                },
            })
        }
        Some("accept") => Ok(NodeCommand::AcceptFile {
            id: text("id").ok_or("accept needs \"id\"")?,
            dir: text("dir").map(Into::into),
        }),
        Some("reject") => Ok(NodeCommand::RejectFile {
            id: text("id").ok_or("reject needs \"id\"")?,
        }),
        Some("cancel") => Ok(NodeCommand::CancelFile {
            id: text("id").ok_or("cancel needs \"id\"")?,
        }),
        Some("code") => Ok(NodeCommand::VerificationCode {
            peer: text("peer").ok_or("code needs \"peer\"")?,
        }),
        Some("verify") => Ok(NodeCommand::TrustKey {
            peer: text("peer").ok_or("verify needs \"peer\"")?,
            key: None,
            verified: true,
        }),
        Some("trust") => Ok(NodeCommand::TrustKey {
            peer: text("peer").ok_or("trust needs \"peer\"")?,
            key: Some(
                text("key").ok_or("trust needs \"key\" (the new key, as key_changed gave it)")?,
            ),
            verified: false,
        }),
        Some("quit") => Ok(NodeCommand::Quit),
        other => Err(format!("unknown command {other:?}")),
    }
}

fn peer_value(event: &str, peer: &Peer) -> Value {
    let p = &peer.presence;
    json!({
        "event": event,
        "peer": peer.instance,
        "status": p.status.txt_value(),
        "msg": p.msg,
        "nick": p.nick,
        "first": p.first,
        "last": p.last,
        "addresses": peer.addresses.iter().map(address_text).collect::<Vec<_>>(),
        "port": peer.port,
        "avatar": peer.avatar.as_deref().map(avatar_phsh),
        "key": p.tls,
    })
}

/// An address as scripts can use it: an IPv6 link-local one carries its zone (the
/// interface index, RFC 4007: `fe80::1%2`), without which it names no interface.
fn address_text(address: &InterfaceAddr) -> String {
    match address.ip {
        IpAddr::V6(v6) if v6.is_unicast_link_local() => format!("{v6}%{}", address.interface),
        ip => ip.to_string(),
    }
}
