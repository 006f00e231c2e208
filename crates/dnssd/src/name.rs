//! Owned DNS names, compared as mDNS compares them (RFC 6762 §16: ASCII case-insensitive).

use std::fmt;
use std::hash::{Hash, Hasher};

use simple_dns::{Label, Name};

/// The XEP-0174 service type's labels, `_presence._tcp.local`.
pub const SERVICE_TYPE: [&str; 3] = ["_presence", "_tcp", "local"];

/// The DNS-SD service-type enumeration name, `_services._dns-sd._udp.local` (RFC 6763 §9).
pub const SERVICES_ENUMERATION: [&str; 4] = ["_services", "_dns-sd", "_udp", "local"];

/// A DNS name as a list of labels. A label is opaque bytes: an instance label may hold
/// dots, spaces, `@`, `#`, `(` or `\` (docs/PEERS.md), so names are never split on dots.
#[derive(Clone, Default)]
pub struct DnsName {
    labels: Vec<Vec<u8>>,
}

impl DnsName {
    /// A name from its labels.
    pub fn from_labels<L: AsRef<[u8]>>(labels: impl IntoIterator<Item = L>) -> DnsName {
        DnsName {
            labels: labels.into_iter().map(|l| l.as_ref().to_vec()).collect(),
        }
    }

    /// `_presence._tcp.local`.
    pub fn service_type() -> DnsName {
        DnsName::from_labels(SERVICE_TYPE)
    }

    /// `<instance>._presence._tcp.local`: the owner of a service's SRV, TXT and NULL.
    pub fn instance(instance: &str) -> DnsName {
        let mut labels = vec![instance.as_bytes().to_vec()];
        labels.extend(SERVICE_TYPE.iter().map(|l| l.as_bytes().to_vec()));
        DnsName { labels }
    }

    /// `<host>.local`: the owner of a host's A and AAAA records.
    pub fn host(host: &str) -> DnsName {
        DnsName::from_labels([host.as_bytes(), b"local"])
    }

    /// The labels.
    pub fn labels(&self) -> &[Vec<u8>] {
        &self.labels
    }

    /// Whether this is `_presence._tcp.local`.
    pub fn is_service_type(&self) -> bool {
        labels_are(&self.labels, &SERVICE_TYPE)
    }

    /// Whether this is `<instance>._presence._tcp.local`.
    pub fn is_instance(&self) -> bool {
        self.labels
            .split_first()
            .is_some_and(|(_, rest)| labels_are(rest, &SERVICE_TYPE))
    }

    /// Whether this is `<host>.local`.
    pub fn is_host(&self) -> bool {
        self.labels.len() == 2 && labels_are(&self.labels[1..], &["local"])
    }

    /// If this is `<instance>._presence._tcp.local`, the instance label (as UTF-8, lossily).
    pub fn instance_label(&self) -> Option<String> {
        self.is_instance()
            .then(|| String::from_utf8_lossy(&self.labels[0]).into_owned())
    }

    /// If this is `<host>.local`, the host label.
    pub fn host_label(&self) -> Option<String> {
        self.is_host()
            .then(|| String::from_utf8_lossy(&self.labels[0]).into_owned())
    }

    /// The encoded length in bytes (labels with their length bytes and the root).
    pub fn wire_len(&self) -> usize {
        self.labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1
    }

    /// The name for simple-dns, borrowing our labels.
    pub(crate) fn to_simple(&self) -> Name<'_> {
        let labels: Vec<Label<'_>> = self
            .labels
            .iter()
            .map(|l| Label::new_unchecked(l.as_slice()))
            .collect();
        Name::new_with_labels(&labels)
    }

    /// The name with ASCII letters lowered, for maps keyed by name.
    pub(crate) fn canonical(&self) -> DnsName {
        DnsName {
            labels: self.labels.iter().map(|l| l.to_ascii_lowercase()).collect(),
        }
    }
}

/// Whether `labels` are `expected`, ASCII case ignored.
fn labels_are(labels: &[Vec<u8>], expected: &[&str]) -> bool {
    labels.len() == expected.len()
        && labels
            .iter()
            .zip(expected)
            .all(|(label, e)| label.eq_ignore_ascii_case(e.as_bytes()))
}

impl PartialEq for DnsName {
    fn eq(&self, other: &Self) -> bool {
        self.labels.len() == other.labels.len()
            && self
                .labels
                .iter()
                .zip(&other.labels)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

impl Eq for DnsName {}

impl Ord for DnsName {
    /// Label by label, ASCII case ignored: consistent with `Eq`.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        for (a, b) in self.labels.iter().zip(&other.labels) {
            // The first byte that differs decides; equal prefixes are the common case.
            let order = match a
                .iter()
                .zip(b)
                .position(|(x, y)| !x.eq_ignore_ascii_case(y))
            {
                Some(i) => a[i].to_ascii_lowercase().cmp(&b[i].to_ascii_lowercase()),
                None => a.len().cmp(&b.len()),
            };
            if order.is_ne() {
                return order;
            }
        }
        self.labels.len().cmp(&other.labels.len())
    }
}

impl PartialOrd for DnsName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for DnsName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // One write per label (lowercased on the stack), not one per byte: hashers pay
        // per call.
        let mut lower = [0u8; 64];
        for label in &self.labels {
            state.write_usize(label.len());
            for chunk in label.chunks(lower.len()) {
                let lower = &mut lower[..chunk.len()];
                lower.copy_from_slice(chunk);
                lower.make_ascii_lowercase();
                state.write(lower);
            }
        }
    }
}

impl fmt::Display for DnsName {
    /// Labels joined by dots, with dots and backslashes inside labels escaped (RFC 4343).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, label) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            let text = String::from_utf8_lossy(label);
            for c in text.chars() {
                if c == '.' || c == '\\' {
                    write!(f, "\\{c}")?;
                } else {
                    write!(f, "{c}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DnsName({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_labels_keep_dots_and_compare_without_case() {
        let name = DnsName::instance("J.Doe@Pronto (2)");
        assert_eq!(name.labels().len(), 4);
        assert_eq!(name.instance_label().as_deref(), Some("J.Doe@Pronto (2)"));
        assert_eq!(name, DnsName::instance("j.doe@pronto (2)"));
        assert_eq!(name.to_string(), "J\\.Doe@Pronto (2)._presence._tcp.local");
        assert_eq!(
            DnsName::host("pronto").host_label().as_deref(),
            Some("pronto")
        );
    }

    #[test]
    fn kinds_of_name_are_told_apart_without_case() {
        let service = DnsName::from_labels(["_Presence", "_TCP", "Local"]);
        assert!(service.is_service_type());
        assert!(!service.is_instance() && !service.is_host());
        let instance = DnsName::from_labels(["a.b@c", "_presence", "_tcp", "LOCAL"]);
        assert!(instance.is_instance());
        assert!(!instance.is_service_type() && !instance.is_host());
        let host = DnsName::from_labels(["pronto", "LOCAL"]);
        assert!(host.is_host());
        assert!(!host.is_instance() && !host.is_service_type());
        for other in [
            DnsName::from_labels(["pronto", "example"]),
            DnsName::from_labels(["x", "_presence", "_udp", "local"]),
            DnsName::from_labels(["local"]),
            DnsName::default(),
        ] {
            assert!(!other.is_host() && !other.is_instance() && !other.is_service_type());
            assert_eq!(other.instance_label(), None);
            assert_eq!(other.host_label(), None);
        }
    }
}
