//! TLS 1.3 between llxmpp peers: each side presents the self-signed certificate of its
//! user's key, and each accepts any certificate whose key signs the handshake. Who the
//! key belongs to is not the certificate's to say: the caller judges the key
//! ([`certificate_key`], [`KnownKeys`](crate::KnownKeys)) before the stream goes on.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    ClientConfig, ClientConnection, Connection, DigitallySignedStruct, DistinguishedName,
    ServerConfig, ServerConnection, SignatureScheme,
};

use crate::Fingerprint;

/// A user's key and the self-signed certificate that carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    key_pkcs8: Vec<u8>,
    certificate: Vec<u8>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private key, not even in a log.
        f.debug_struct("Identity")
            .field("key", &certificate_key(&self.certificate).ok())
            .finish_non_exhaustive()
    }
}

/// Why an identity or a TLS configuration cannot be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSetupError(pub String);

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsSetupError {}

impl Identity {
    /// A new Ed25519 key and its self-signed certificate (subject `llxmpp`, valid from
    /// 2000 to 9999: its dates are never checked, and it must outlive its user).
    pub fn generate() -> Result<Identity, TlsSetupError> {
        let fail = |e: rcgen::Error| TlsSetupError(format!("cannot make a key: {e}"));
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(fail)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "llxmpp");
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(9999, 12, 31);
        let certificate = params.self_signed(&key).map_err(fail)?;
        Ok(Identity {
            key_pkcs8: key.serialize_der(),
            certificate: certificate.der().to_vec(),
        })
    }

    /// An identity kept earlier: the key as PKCS#8 DER and the certificate as DER. The
    /// certificate's key is checked to be the key's.
    pub fn from_der(key_pkcs8: Vec<u8>, certificate: Vec<u8>) -> Result<Identity, TlsSetupError> {
        let identity = Identity {
            key_pkcs8,
            certificate,
        };
        // A configuration is only made if key and certificate go together.
        TlsContext::new(&identity)?;
        Ok(identity)
    }

    /// The private key, PKCS#8 DER: to be kept readable by its owner only.
    pub fn key_pkcs8(&self) -> &[u8] {
        &self.key_pkcs8
    }

    /// The certificate, DER.
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// This identity's key fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        // The certificate was made or checked with its key: it reads.
        certificate_key(&self.certificate).unwrap_or(Fingerprint([0; 32]))
    }
}

/// The fingerprint of the key in a DER certificate: the SHA-256 of its
/// SubjectPublicKeyInfo.
pub fn certificate_key(certificate: &[u8]) -> Result<Fingerprint, TlsSetupError> {
    let der = CertificateDer::from(certificate);
    let parsed = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| TlsSetupError(format!("not a certificate we can read ({e:?})")))?;
    Ok(Fingerprint::of_public_key(
        parsed.subject_public_key_info().as_ref(),
    ))
}

/// The TLS configurations of one identity, both roles: TLS 1.3 only, mutual, on ring.
#[derive(Clone)]
pub struct TlsContext {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    ours: Fingerprint,
}

impl fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsContext")
            .field("ours", &self.ours)
            .finish_non_exhaustive()
    }
}

/// The name the client side puts in its ClientHello: no peer checks names (the key is
/// what is judged), and `.invalid` never resolves (RFC 6761).
const SERVER_NAME: &str = "llxmpp.invalid";

impl TlsContext {
    /// Both configurations of `identity`.
    pub fn new(identity: &Identity) -> Result<TlsContext, TlsSetupError> {
        let fail = |e: rustls::Error| TlsSetupError(format!("TLS configuration: {e}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(AnyKeyThatSigns {
            algorithms: provider.signature_verification_algorithms,
        });
        let certificates = vec![CertificateDer::from(identity.certificate.clone())];
        let key = || PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_pkcs8.clone()));
        let mut client = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(fail)?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_client_auth_cert(certificates.clone(), key())
            .map_err(fail)?;
        // The name is the same for every peer and means nothing: not sent in the clear.
        client.enable_sni = false;
        // No resumption: a ticket is kept by server name, which every peer shares, and a
        // resumed handshake would skip the certificates that are the point.
        client.resumption = rustls::client::Resumption::disabled();
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(fail)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certificates, key())
            .map_err(fail)?;
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        Ok(TlsContext {
            client: Arc::new(client),
            server: Arc::new(server),
            ours: identity.fingerprint(),
        })
    }

    /// Our key's fingerprint.
    pub fn ours(&self) -> Fingerprint {
        self.ours
    }

    /// A TLS connection for one stream: the client side if we opened the stream (the
    /// STARTTLS initiator), else the server side. Its buffer limit is lifted: the stream
    /// above bounds what it writes.
    pub fn start(&self, initiator: bool) -> Result<Connection, TlsSetupError> {
        let fail = |e: rustls::Error| TlsSetupError(format!("TLS: {e}"));
        let mut connection: Connection = if initiator {
            let name = ServerName::try_from(SERVER_NAME)
                .map_err(|e| TlsSetupError(format!("TLS: {e}")))?;
            ClientConnection::new(Arc::clone(&self.client), name)
                .map_err(fail)?
                .into()
        } else {
            ServerConnection::new(Arc::clone(&self.server))
                .map_err(fail)?
                .into()
        };
        connection.set_buffer_limit(None);
        Ok(connection)
    }
}

/// Accepts any certificate (self-signed, any name, any dates) but checks that its key
/// signed the handshake: a peer shows it holds the key, and the caller judges the key.
#[derive(Debug)]
struct AnyKeyThatSigns {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyKeyThatSigns {
    fn tls13(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signed: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, certificate, signed, &self.algorithms)
    }
}

/// TLS 1.2 is never offered or accepted (the configurations are TLS 1.3 only).
fn no_tls12() -> rustls::Error {
    rustls::Error::General("TLS 1.2 is not spoken here".into())
}

impl ServerCertVerifier for AnyKeyThatSigns {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signed: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signed: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, certificate, signed)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for AnyKeyThatSigns {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signed: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signed: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, certificate, signed)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Moves every pending TLS byte from `from` to `to`; returns what moved.
    fn pass(from: &mut Connection, to: &mut Connection) -> Vec<u8> {
        let mut wire = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut wire).unwrap();
        }
        let mut slice = wire.as_slice();
        while !slice.is_empty() {
            to.read_tls(&mut slice).unwrap();
            to.process_new_packets().unwrap();
        }
        wire
    }

    fn handshake(a: &TlsContext, b: &TlsContext) -> (Connection, Connection, Vec<u8>) {
        let mut client = a.start(true).unwrap();
        let mut server = b.start(false).unwrap();
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.extend(pass(&mut client, &mut server));
            seen.extend(pass(&mut server, &mut client));
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
        (client, server, seen)
    }

    fn peer(connection: &Connection) -> Fingerprint {
        certificate_key(&connection.peer_certificates().unwrap()[0]).unwrap()
    }

    #[test]
    fn each_side_learns_the_others_key_and_the_text_is_sealed() {
        let (alice, bob) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        assert_ne!(alice.fingerprint(), bob.fingerprint());
        let (a, b) = (
            TlsContext::new(&alice).unwrap(),
            TlsContext::new(&bob).unwrap(),
        );
        let (mut client, mut server, mut seen) = handshake(&a, &b);
        assert_eq!(peer(&client), bob.fingerprint());
        assert_eq!(peer(&server), alice.fingerprint());
        client.writer().write_all(b"hello secret").unwrap();
        seen.extend(pass(&mut client, &mut server));
        let mut got = [0u8; 64];
        let n = server.reader().read(&mut got).unwrap();
        assert_eq!(&got[..n], b"hello secret");
        assert!(!seen.windows(12).any(|w| w == b"hello secret"));
        // Nothing names anything in the clear: no SNI.
        assert!(!seen.windows(7).any(|w| w == b"invalid"));
    }

    #[test]
    fn a_kept_identity_is_the_same_key_and_a_mismatched_one_is_refused() {
        let alice = Identity::generate().unwrap();
        let kept =
            Identity::from_der(alice.key_pkcs8().to_vec(), alice.certificate().to_vec()).unwrap();
        assert_eq!(kept.fingerprint(), alice.fingerprint());
        let bob = Identity::generate().unwrap();
        assert!(
            Identity::from_der(alice.key_pkcs8().to_vec(), bob.certificate().to_vec()).is_err()
        );
        assert!(Identity::from_der(b"junk".to_vec(), alice.certificate().to_vec()).is_err());
        assert!(certificate_key(b"not a certificate").is_err());
        assert!(!format!("{alice:?}").contains(&format!("{:?}", alice.key_pkcs8())));
    }
}
