//! XEP-0174 presence as carried in the TXT record (XEP-0174 §3.3, the link-local
//! registry; the peers' habits are in docs/PEERS.md).

use llxmpp_dnssd::{TxtError, TxtRecord};

/// A peer's availability, as the `status` TXT key carries it.
///
/// Two conventions meet on the link (docs/PEERS.md). Apple's iChat, Adium and libpurple
/// publish `avail` when online, `away` when the user is *idle* (auto-away) and `dnd` for
/// an Away the *user set*; they show `dnd` as Away and libpurple even shows `away` as
/// Available. telepathy-salut and Gajim take the words literally (away → `away`, busy →
/// `dnd`). We publish the Apple way, so that peers show what the user meant: a user's
/// "away" is sent as [`Status::Dnd`], idleness as [`Status::Away`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Status {
    /// `avail`, or no `status` key at all.
    #[default]
    Available,
    /// `away`: idle, for Apple, Adium and libpurple.
    Away,
    /// `dnd`: the Away a user sets, as Apple, Adium and libpurple show it.
    Dnd,
}

impl Status {
    /// The status a TXT value names; an absent, empty or unknown value is available.
    pub fn from_txt(value: Option<&str>) -> Status {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("away") => Status::Away,
            Some(v) if v.eq_ignore_ascii_case("dnd") => Status::Dnd,
            _ => Status::Available,
        }
    }

    /// The TXT value: `avail`, `away` or `dnd`.
    pub fn txt_value(self) -> &'static str {
        match self {
            Status::Available => "avail",
            Status::Away => "away",
            Status::Dnd => "dnd",
        }
    }

    /// What a user means by the words of the client contract (`avail`, `away`, `dnd`),
    /// mapped for publishing: a user's "away" is published as `dnd`, which every Apple-era
    /// peer shows as Away (docs/PEERS.md, libpurple).
    pub fn from_user(word: &str) -> Option<Status> {
        match word {
            "avail" | "available" | "online" => Some(Status::Available),
            "away" | "dnd" | "busy" => Some(Status::Dnd),
            "idle" => Some(Status::Away),
            _ => None,
        }
    }
}

/// XEP-0115 entity capabilities as published in TXT (`node`, `ver`, `hash`, `ext`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Caps {
    /// `node`.
    pub node: Option<String>,
    /// `ver`: a XEP-0115 hash, or (libpurple) a version string.
    pub ver: Option<String>,
    /// `hash`: the hash function; absent for legacy caps.
    pub hash: Option<String>,
    /// `ext`: legacy extensions.
    pub ext: Option<String>,
}

/// Everything a peer says about itself in its TXT record. Empty values count as absent
/// (Adium publishes `email=`, `jid=`, `nick=`…; libpurple `1st=`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Presence {
    /// `status`.
    pub status: Status,
    /// `msg`: free-text status.
    pub msg: Option<String>,
    /// `nick`.
    pub nick: Option<String>,
    /// `1st`: given name.
    pub first: Option<String>,
    /// `last`: family name.
    pub last: Option<String>,
    /// `jid`: the user's XMPP address(es), space-separated.
    pub jid: Option<String>,
    /// `email`: space-separated.
    pub email: Option<String>,
    /// `port.p2pj`: the port as the TXT says (the SRV port is the one to use).
    pub port_p2pj: Option<u16>,
    /// XEP-0115 caps.
    pub caps: Caps,
    /// `phsh`: hex SHA-1 of the avatar (the NULL record).
    pub phsh: Option<String>,
    /// `vc`: audio/video flags (legacy).
    pub vc: Option<String>,
    /// `tls`: llxmpp's hint that the peer encrypts, with its key (`sha256:…`); other
    /// peers ignore keys they do not know (XEP-0174 §3.3 lets a TXT carry any).
    pub tls: Option<String>,
}

impl Presence {
    /// Reads a TXT record. Keys are matched without regard to case; values that are not
    /// UTF-8 are ignored.
    pub fn from_txt(txt: &TxtRecord) -> Presence {
        let text = |key: &str| {
            txt.get_str(key)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Presence {
            status: Status::from_txt(txt.get_str("status")),
            msg: text("msg"),
            nick: text("nick"),
            first: text("1st"),
            last: text("last"),
            jid: text("jid"),
            email: text("email"),
            port_p2pj: text("port.p2pj").and_then(|p| p.trim().parse().ok()),
            caps: Caps {
                node: text("node"),
                ver: text("ver"),
                hash: text("hash"),
                ext: text("ext"),
            },
            phsh: text("phsh"),
            vc: text("vc"),
            tls: text("tls"),
        }
    }

    /// Renders our TXT record (XEP-0174 §3.3; docs/PEERS.md): `txtvers=1` first, `status` and
    /// `port.p2pj` always, every other key only when set, with the registry's exact
    /// spellings. Values too long for one TXT string are cut at a character boundary.
    pub fn to_txt(&self, port: u16) -> Result<TxtRecord, TxtError> {
        let mut txt = TxtRecord::new();
        txt.insert("txtvers", "1")?;
        let optional = [
            ("1st", &self.first),
            ("last", &self.last),
            ("nick", &self.nick),
            ("email", &self.email),
            ("jid", &self.jid),
            ("msg", &self.msg),
            ("node", &self.caps.node),
            ("ver", &self.caps.ver),
            ("hash", &self.caps.hash),
            ("ext", &self.caps.ext),
            ("phsh", &self.phsh),
            ("vc", &self.vc),
            ("tls", &self.tls),
        ];
        txt.insert("port.p2pj", port.to_string())?;
        txt.insert("status", self.status.txt_value())?;
        for (key, value) in optional {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                txt.insert(key, value)?;
            }
        }
        Ok(txt)
    }

    /// The name to show for a peer: `nick`, else `1st last`, else the instance name.
    pub fn display_name(&self, instance: &str) -> String {
        if let Some(nick) = &self.nick {
            return nick.clone();
        }
        match (&self.first, &self.last) {
            (Some(first), Some(last)) => format!("{first} {last}"),
            (Some(one), None) | (None, Some(one)) => one.clone(),
            (None, None) => instance.to_owned(),
        }
    }
}
