//! Encrypted links in the node (docs/DESIGN.md, Encryption): our key, the peers' keys
//! pinned on first use, and the judgement of each stream's key and of plaintext.
//!
//! The session negotiates STARTTLS and hands up the peer's key
//! ([`SessionEvent::Secured`](crate::session::SessionEvent::Secured)); here it is
//! judged against the known keys: a new one is pinned, a known one accepted, a changed
//! one refused (the stream ends, and so does what was to go over it), loudly.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use llxmpp_event_loop::{ConnectionId, Context};
use llxmpp_secure::{verification_code, Fingerprint, Identity, KeyStatus, KnownKeys, TlsContext};

use super::{Node, NodeEvent};
use crate::session::{Encryption, MustEncrypt};

/// Whether the node encrypts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncryptMode {
    /// Plaintext with everyone, as every other link-local peer.
    #[default]
    Off,
    /// Encrypted with peers that can (llxmpp), plaintext with the others, except peers
    /// whose key is pinned: a downgrade is refused.
    Prefer,
    /// Encrypted or not at all.
    Require,
}

impl EncryptMode {
    /// The contract's word: `off`, `prefer`, `require`.
    pub fn name(self) -> &'static str {
        match self {
            EncryptMode::Off => "off",
            EncryptMode::Prefer => "prefer",
            EncryptMode::Require => "require",
        }
    }
}

/// How the node encrypts, and with what.
#[derive(Clone, Debug)]
pub struct EncryptionConfig {
    /// Off, prefer or require.
    pub mode: EncryptMode,
    /// Our key.
    pub identity: Identity,
    /// The keys pinned so far.
    pub known_keys: KnownKeys,
    /// Where pins are written as they are made (`None`: kept in memory only).
    pub known_keys_file: Option<PathBuf>,
}

/// The node's encryption state.
#[derive(Debug, Default)]
pub(super) struct Links {
    mode: EncryptMode,
    tls: Option<Arc<TlsContext>>,
    known: Arc<Mutex<KnownKeys>>,
    /// Peers online whose TXT says they encrypt (`tls=`): never accepted in plaintext.
    hinted: Arc<Mutex<HashSet<String>>>,
    file: Option<PathBuf>,
}

impl Links {
    pub(super) fn new() -> Links {
        Links::default()
    }
}

impl Node {
    /// Turns encryption on (or off) for the streams opened from now on.
    pub fn set_encryption(&mut self, config: EncryptionConfig) -> Result<(), String> {
        let tls = match config.mode {
            EncryptMode::Off => None,
            _ => Some(Arc::new(
                TlsContext::new(&config.identity).map_err(|e| e.to_string())?,
            )),
        };
        self.links = Links {
            mode: config.mode,
            tls,
            known: Arc::new(Mutex::new(config.known_keys)),
            hinted: Arc::clone(&self.links.hinted),
            file: config.known_keys_file,
        };
        Ok(())
    }

    /// What the sessions are told.
    pub(super) fn session_encryption(&self) -> Encryption {
        let Some(tls) = &self.links.tls else {
            return Encryption::Off;
        };
        match self.links.mode {
            EncryptMode::Off => Encryption::Off,
            EncryptMode::Prefer => {
                let known = Arc::clone(&self.links.known);
                let hinted = Arc::clone(&self.links.hinted);
                Encryption::Prefer {
                    tls: Arc::clone(tls),
                    // A peer that ever encrypted with us (its key is pinned), or says in
                    // its TXT that it encrypts, is never accepted in plaintext: that would
                    // be a downgrade.
                    must_encrypt: MustEncrypt(Arc::new(move |peer| {
                        let pinned = known.lock().map(|k| k.pin(peer).is_some()).unwrap_or(true);
                        pinned || hinted.lock().map(|h| h.contains(peer)).unwrap_or(true)
                    })),
                }
            }
            EncryptMode::Require => Encryption::Require {
                tls: Arc::clone(tls),
            },
        }
    }

    /// Whether `peer`'s TXT says it encrypts (`tls=`), as the roster last saw it.
    pub(super) fn note_key_hint(&mut self, peer: &str, hinted: bool) {
        if let Ok(mut set) = self.links.hinted.lock() {
            if hinted {
                set.insert(peer.to_owned());
            } else {
                set.remove(peer);
            }
        }
    }

    /// Our key's fingerprint, if we encrypt.
    pub fn our_key(&self) -> Option<Fingerprint> {
        self.links.tls.as_ref().map(|tls| tls.ours())
    }

    /// The TLS handshake of `conn` is done: judge the peer's key.
    pub(super) fn on_secured(
        &mut self,
        ctx: &mut Context<'_>,
        conn: ConnectionId,
        key: Fingerprint,
    ) {
        let Some(peer) = self.conns.get(&conn).map(|c| c.peer.clone()) else {
            return;
        };
        let (status, pinned) = match (&peer, self.links.known.lock()) {
            (Some(peer), Ok(mut known)) => {
                let status = known.status(peer, &key);
                if status == KeyStatus::New {
                    known.remember(peer, key);
                }
                (status, known.pin(peer).map(|p| p.key))
            }
            _ => (KeyStatus::Changed, None),
        };
        if status == KeyStatus::New {
            self.save_known_keys();
        }
        let Some(session) = self.conns.get_mut(&conn).and_then(|c| c.session.as_mut()) else {
            return;
        };
        match (peer, status) {
            (None, _) => session.refuse_key("an encrypted stream from a peer we cannot name"),
            (Some(peer), KeyStatus::Changed) => {
                let pinned = pinned.map(|p| p.to_string()).unwrap_or_default();
                session.refuse_key(&format!(
                    "{peer} presented the key {key}, not the key pinned for it ({pinned})"
                ));
                self.emit(NodeEvent::KeyChanged {
                    peer,
                    key: key.to_string(),
                    pinned,
                });
            }
            (Some(peer), status) => {
                session.accept_key(ctx.now());
                self.emit(NodeEvent::Link {
                    peer,
                    encrypted: true,
                    key: Some(key.to_string()),
                    key_status: Some(status.name().to_owned()),
                });
            }
        }
        self.pump(ctx, conn);
    }

    /// `conn` opened in plaintext though we encrypt.
    pub(super) fn on_plaintext(&mut self, conn: ConnectionId) {
        let Some(peer) = self.conns.get(&conn).and_then(|c| c.peer.clone()) else {
            return;
        };
        self.emit(NodeEvent::Link {
            peer,
            encrypted: false,
            key: None,
            key_status: None,
        });
    }

    /// The verification code of our link with `peer`: from its pinned key and ours.
    pub fn verification_code(&self, peer: &str) -> Result<String, String> {
        let ours = self
            .our_key()
            .ok_or("encryption is off (--encrypt prefer or require)")?;
        let known = self
            .links
            .known
            .lock()
            .map_err(|_| "the key store failed")?;
        let pin = known
            .pin(peer)
            .ok_or_else(|| format!("no key is known for {peer}: chat with it encrypted first"))?;
        Ok(verification_code(&ours, &pin.key))
    }

    /// The user compared the code: `peer`'s pinned key is verified. With `key`, the
    /// user accepts that key (a changed one) as `peer`'s.
    pub fn trust_key(
        &mut self,
        peer: &str,
        key: Option<Fingerprint>,
        verified: bool,
    ) -> Result<KeyStatus, String> {
        let status = {
            let mut known = self
                .links
                .known
                .lock()
                .map_err(|_| "the key store failed")?;
            let key = match key {
                Some(key) => key,
                None => known
                    .pin(peer)
                    .map(|p| p.key)
                    .ok_or_else(|| format!("no key is known for {peer}"))?,
            };
            let stored = if verified {
                known.verify(peer, key)
            } else {
                known.replace(peer, key)
            };
            if !stored {
                return Err(format!("{peer:?} cannot be pinned"));
            }
            known.status(peer, &key)
        };
        self.save_known_keys();
        Ok(status)
    }

    fn save_known_keys(&self) {
        let Some(file) = &self.links.file else {
            return;
        };
        let Ok(text) = self.links.known.lock().map(|k| k.to_text()) else {
            return;
        };
        if let Err(e) = crate::keys::write_private(file, text.as_bytes()) {
            self.emit(NodeEvent::Error(format!(
                "cannot keep the peers' keys in {}: {e}",
                file.display()
            )));
        }
    }
}
