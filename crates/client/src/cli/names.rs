//! Naming peers as a person does at the terminal: by a prefix of the instance name
//! (`bob` for `bob@hostb`), or by the nickname or given name its TXT record publishes.
//!
//! A name that fits several peers is never guessed at: [`resolve`] returns every
//! candidate so the terminal can list them. Scripts use full instance names (`--json`).

use llxmpp_roster::Peer;

/// Why a name given at the terminal names no single peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Nobody on the link has such a name or prefix.
    Unknown,
    /// These peers' instance names (sorted) all fit.
    Ambiguous(Vec<String>),
}

/// The instance name of the one peer that `name` names.
///
/// Matching ignores ASCII case. An exact match (of the instance name, the nickname or the
/// given name) wins over prefixes, so `bob` still names `bob@hostb` when `bobby@hostc` is
/// online; otherwise `name` must be a prefix of exactly one peer's instance name,
/// nickname or given name.
pub fn resolve<'p>(
    name: &str,
    peers: impl IntoIterator<Item = &'p Peer>,
) -> Result<String, NameError> {
    let name = name.to_lowercase();
    let mut exact = Vec::new();
    let mut prefixed = Vec::new();
    for peer in peers {
        let words = names_of(peer);
        if words.iter().any(|w| w.to_lowercase() == name) {
            exact.push(peer.instance.clone());
        } else if words.iter().any(|w| w.to_lowercase().starts_with(&name)) {
            prefixed.push(peer.instance.clone());
        }
    }
    let mut found = if exact.is_empty() { prefixed } else { exact };
    found.sort();
    found.dedup();
    match found.len() {
        0 => Err(NameError::Unknown),
        1 => Ok(found.remove(0)),
        _ => Err(NameError::Ambiguous(found)),
    }
}

/// The peers whose names start with `prefix` (ignoring ASCII case), sorted by instance
/// name: what Tab offers. Each is the instance name and, when it has one, the name shown
/// for it (`bob@hostb`, `Some("Bob")`).
pub fn completions<'p>(
    prefix: &str,
    peers: impl IntoIterator<Item = &'p Peer>,
) -> Vec<(String, Option<String>)> {
    let prefix = prefix.to_lowercase();
    let mut found: Vec<(String, Option<String>)> = peers
        .into_iter()
        .filter(|peer| {
            names_of(peer)
                .iter()
                .any(|w| w.to_lowercase().starts_with(&prefix))
        })
        .map(|peer| {
            let shown = peer.display_name();
            let shown = (shown != peer.instance).then_some(shown);
            (peer.instance.clone(), shown)
        })
        .collect();
    found.sort();
    found
}

/// The names a peer answers to: its instance name, nickname and given name.
fn names_of(peer: &Peer) -> Vec<&str> {
    let p = &peer.presence;
    [
        Some(peer.instance.as_str()),
        p.nick.as_deref(),
        p.first.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|w| !w.is_empty())
    .collect()
}

#[cfg(test)]
mod tests {
    use llxmpp_roster::Presence;

    use super::*;

    fn peer(instance: &str, nick: Option<&str>, first: Option<&str>) -> Peer {
        Peer {
            instance: instance.into(),
            host: "host".into(),
            port: 5298,
            addresses: Vec::new(),
            presence: Presence {
                nick: nick.map(Into::into),
                first: first.map(Into::into),
                ..Presence::default()
            },
            avatar: None,
        }
    }

    fn link() -> Vec<Peer> {
        vec![
            peer("bob@hostb", None, Some("Robert")),
            peer("bea@hostc", Some("B"), None),
            peer("carol@hostc", Some("caz"), None),
            peer("bobby@hostd", None, None),
        ]
    }

    #[test]
    fn a_unique_prefix_names_its_peer() {
        assert_eq!(resolve("car", &link()), Ok("carol@hostc".into()));
        assert_eq!(resolve("bea", &link()), Ok("bea@hostc".into()));
    }

    #[test]
    fn a_nick_or_given_name_names_its_peer_in_any_case() {
        assert_eq!(resolve("CAZ", &link()), Ok("carol@hostc".into()));
        assert_eq!(resolve("robert", &link()), Ok("bob@hostb".into()));
    }

    #[test]
    fn an_exact_name_wins_over_longer_names_it_prefixes() {
        assert_eq!(resolve("bob@hostb", &link()), Ok("bob@hostb".into()));
        assert_eq!(
            resolve("b", &link()),
            Ok("bea@hostc".into()),
            "bea's nick is B"
        );
    }

    #[test]
    fn an_ambiguous_prefix_lists_every_candidate() {
        assert_eq!(
            resolve("bo", &link()),
            Err(NameError::Ambiguous(vec![
                "bob@hostb".into(),
                "bobby@hostd".into()
            ]))
        );
    }

    #[test]
    fn a_name_nobody_has_is_unknown() {
        assert_eq!(resolve("dave", &link()), Err(NameError::Unknown));
    }

    #[test]
    fn completions_offer_instances_with_their_shown_names() {
        assert_eq!(
            completions("c", &link()),
            [("carol@hostc".to_owned(), Some("caz".to_owned()))]
        );
        let bo: Vec<String> = completions("BO", &link())
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(bo, ["bob@hostb", "bobby@hostd"]);
    }
}
