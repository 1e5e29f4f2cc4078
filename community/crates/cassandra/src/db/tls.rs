//! Defines the rustls client configuration for `ssl: true`: the CA from `ssl_cafile`
//! (else the system roots), an optional client certificate for mutual TLS — taken as
//! OpenSSL, the original's TLS, takes it (X.509 v1 or v3, PKCS#1, PKCS#8 or SEC1 keys),
//! with the checks that matter made here and said in words — and
//! `ssl_verify_hostname: false` for certificates that do not name the node's IP.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::x509;
use crate::config::{Material, Tls};

fn certs(m: &Material, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = m
        .read()
        .map_err(|e| format!("{key} {m}: cannot read PEM certificates: {e}"))?;
    let list: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&bytes).collect();
    let list = list.map_err(|e| format!("{key} {m}: invalid PEM certificate: {e}"))?;
    if list.is_empty() {
        return Err(format!("{key} {m}: no PEM certificate found in it"));
    }
    Ok(list)
}

/// Builds the client configuration.
pub(super) fn client_config(tls: &Tls) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    // The CA certificates themselves too: a chain webpki will not read (X.509 v1) is
    // checked against them by [`OpenSslLike`].
    let mut anchors: Vec<CertificateDer<'static>> = Vec::new();
    if let Some(ca) = &tls.ca_file {
        for cert in certs(ca, "ssl_cafile")? {
            roots
                .add(cert.clone())
                .map_err(|e| format!("ssl_cafile {ca}: unusable CA certificate: {e}"))?;
            anchors.push(cert);
        }
    } else {
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            if roots.add(cert.clone()).is_ok() {
                anchors.push(cert);
            }
        }
        if roots.is_empty() {
            return Err(
                "ssl: true but no ssl_cafile and no system CA certificates found; set ssl_cafile"
                    .into(),
            );
        }
    }
    let provider = provider();
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("cannot use the CA certificates: {e}"))?;
    let verifier = OpenSslLike {
        webpki,
        anchors,
        algs: provider.signature_verification_algorithms,
        check_name: tls.verify_hostname,
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let cert_pem = cert
                .read()
                .map_err(|e| format!("ssl_certfile {cert}: cannot be read: {e}"))?;
            let key_pem = key
                .read()
                .map_err(|e| format!("ssl_keyfile {key}: cannot be read: {e}"))?;
            let identity = client_identity(
                &cert_pem,
                &format!("ssl_certfile {cert}"),
                &key_pem,
                &format!("ssl_keyfile {key}"),
                &provider,
                now_secs(),
            )?;
            Ok(builder.with_client_cert_resolver(present(identity)))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(_), None) => Err(
            "ssl_certfile is set but ssl_keyfile is not: mutual TLS needs the client key too \
             (set ssl_keyfile to the key the certificate was made for)"
                .into(),
        ),
        (None, Some(_)) => Err(
            "ssl_keyfile is set but ssl_certfile is not: mutual TLS needs the client \
             certificate too (set ssl_certfile)"
                .into(),
        ),
    }
}

/// The process's crypto provider (aws-lc-rs unless one was installed).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The client certificate chain and key of mutual TLS, checked as OpenSSL (the
/// original's TLS) would take them — X.509 v1 or v3; PKCS#1, PKCS#8 or SEC1 keys; RSA
/// or EC; intermediates after the certificate — and with what matters checked here
/// (the key belongs to the certificate, the certificate is within its validity), so a
/// failure says which file holds what. `cert_at` and `key_at` name where the PEM came
/// from (`ssl_certfile '/path'`, `the bundle's cert`).
pub(crate) fn client_identity(
    cert_pem: &[u8],
    cert_at: &str,
    key_pem: &[u8],
    key_at: &str,
    provider: &CryptoProvider,
    now: i64,
) -> Result<Arc<CertifiedKey>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{cert_at}: invalid PEM certificate: {e}"))?;
    if chain.is_empty() {
        return Err(format!("{cert_at}: no PEM certificate found in it"));
    }
    let key_der = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
        format!(
            "{key_at}: no private key found in it (expected a PEM block BEGIN PRIVATE KEY, \
             BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY, unencrypted)"
        )
    })?;
    let kind = match &key_der {
        PrivateKeyDer::Pkcs1(_) => "PKCS#1 RSA key",
        PrivateKeyDer::Sec1(_) => "SEC1 EC key",
        _ => "PKCS#8 key",
    };
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("{key_at}: the {kind} cannot be used: {e}"))?;
    let leaf = x509::parse(&chain[0])
        .map_err(|e| format!("{cert_at}: the first certificate cannot be read ({e})"))?;
    if now > leaf.not_after {
        return Err(format!(
            "{cert_at}: the certificate expired on {}; renew it (the server refuses an \
             expired client certificate)",
            x509::date(leaf.not_after)
        ));
    }
    if now < leaf.not_before {
        return Err(format!(
            "{cert_at}: the certificate is not valid before {}; check this machine's clock, \
             or the certificate's dates",
            x509::date(leaf.not_before)
        ));
    }
    match signing.public_key() {
        Some(spki) if spki.as_ref() != leaf.spki => {
            return Err(format!(
                "{key_at} does not belong to the certificate in {cert_at}: their public keys \
                 differ (is the key of another certificate, or the certificate of another \
                 key?)"
            ))
        }
        _ => {}
    }
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

/// A resolver that presents `identity` whenever a server asks for a client certificate.
pub(crate) fn present(identity: Arc<CertifiedKey>) -> Arc<dyn ResolvesClientCert> {
    Arc::new(Identity(identity))
}

/// Presents the one client identity whenever the server asks.
#[derive(Debug)]
struct Identity(Arc<CertifiedKey>);

impl ResolvesClientCert for Identity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Verifies the node's certificate as the original's OpenSSL does: an X.509 v3 chain
/// by webpki; a chain webpki will not read (a v1 certificate, `openssl x509 -req`
/// without `-extfile`) by this module — every certificate within its dates, each signed
/// by the next, the last by a CA of `ssl_cafile`. With `ssl_verify_hostname` (the
/// default, like the original) the certificate must name the node's address; a v1
/// certificate names none (it has no subjectAltName), so it passes only with
/// `ssl_verify_hostname: false`, which checks the chain alone.
#[derive(Debug)]
struct OpenSslLike {
    webpki: Arc<WebPkiServerVerifier>,
    anchors: Vec<CertificateDer<'static>>,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
    check_name: bool,
}

fn bad(e: CertificateError) -> rustls::Error {
    rustls::Error::InvalidCertificate(e)
}

fn parse_cert(der: &[u8]) -> Result<x509::Certificate<'_>, rustls::Error> {
    x509::parse(der).map_err(|_| bad(CertificateError::BadEncoding))
}

impl OpenSslLike {
    /// Checks a chain of certificates webpki does not read.
    fn verify_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: i64,
    ) -> Result<(), rustls::Error> {
        let mut cert = parse_cert(end_entity)?;
        let anchors: Vec<x509::Certificate<'_>> = self
            .anchors
            .iter()
            .filter_map(|a| x509::parse(a).ok())
            .collect();
        let chain: Vec<x509::Certificate<'_>> = intermediates
            .iter()
            .map(|c| parse_cert(c))
            .collect::<Result<_, _>>()?;
        for _ in 0..=chain.len() {
            if now > cert.not_after {
                return Err(bad(CertificateError::Expired));
            }
            if now < cert.not_before {
                return Err(bad(CertificateError::NotValidYet));
            }
            let signed_by = |issuer: &x509::Certificate<'_>| {
                issuer.subject == cert.issuer && self.signed(&cert, issuer)
            };
            if anchors.iter().any(&signed_by) {
                return Ok(());
            }
            match chain.iter().find(|i| signed_by(i)) {
                Some(next) => cert = next.clone(),
                None => return Err(bad(CertificateError::UnknownIssuer)),
            }
        }
        Err(bad(CertificateError::UnknownIssuer))
    }

    /// True when `issuer`'s key made `cert`'s signature.
    fn signed(&self, cert: &x509::Certificate<'_>, issuer: &x509::Certificate<'_>) -> bool {
        self.algs.all.iter().any(|alg| {
            *alg.signature_alg_id() == *cert.signature_alg
                && *alg.public_key_alg_id() == *issuer.key_alg
                && alg
                    .verify_signature(issuer.key, cert.tbs, cert.signature)
                    .is_ok()
        })
    }

    /// Verifies a handshake signature made with the key of a certificate webpki does
    /// not read.
    fn verify_with_key(
        &self,
        message: &[u8],
        cert: &x509::Certificate<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let candidates = self
            .algs
            .mapping
            .iter()
            .filter(|(scheme, _)| *scheme == dss.scheme)
            .flat_map(|(_, algs)| algs.iter());
        for alg in candidates {
            if *alg.public_key_alg_id() == *cert.key_alg {
                return alg
                    .verify_signature(cert.key, message, dss.signature())
                    .map(|()| HandshakeSignatureValid::assertion())
                    .map_err(|_| {
                        rustls::Error::InvalidCertificate(CertificateError::BadSignature)
                    });
            }
        }
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::NoSignatureSchemesInCommon,
        ))
    }

    /// The certificate, when it is one webpki does not read (X.509 v1 or v2).
    fn old<'c>(cert: &'c CertificateDer<'_>) -> Option<x509::Certificate<'c>> {
        x509::parse(cert).ok().filter(|c| c.version < 3)
    }
}

impl ServerCertVerifier for OpenSslLike {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let old_chain =
            Self::old(end_entity).is_some() || intermediates.iter().any(|c| Self::old(c).is_some());
        if old_chain {
            let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
            self.verify_chain(end_entity, intermediates, secs)?;
            if self.check_name && Self::old(end_entity).is_some() {
                // No subjectAltName: it names no address (OpenSSL checks an IP against
                // the subjectAltName only).
                return Err(bad(CertificateError::NotValidForNameContext {
                    expected: server_name.to_owned(),
                    presented: Vec::new(),
                }));
            }
            return Ok(ServerCertVerified::assertion());
        }
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match Self::old(cert) {
            Some(c) => self.verify_with_key(message, &c, dss),
            None => self.webpki.verify_tls12_signature(message, cert, dss),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match Self::old(cert) {
            Some(c) => self.verify_with_key(message, &c, dss),
            None => self.webpki.verify_tls13_signature(message, cert, dss),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Why a TLS connection to `contact` (`host:port`) fails, in words (the reason and
/// what to do), when TLS is the reason: run after the driver failed to open a session,
/// it makes one handshake of its own with the same configuration and reads the typed
/// error (the driver's message buries it in frame-parsing text). `None` when the
/// handshake and a first exchange succeed, or the failure is not TLS's.
pub(super) async fn explain(
    contact: &str,
    config: Arc<ClientConfig>,
    tls: &Tls,
) -> Option<(String, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limit = std::time::Duration::from_secs(5);
    let addr = tokio::net::lookup_host(contact).await.ok()?.next()?;
    let tcp = tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let name = ServerName::IpAddress(addr.ip().into());
    let handshake = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
    let mut stream = match tokio::time::timeout(limit, handshake).await.ok()? {
        Ok(s) => s,
        Err(e) => return Some(describe(rustls_cause(&e)?, addr.ip(), tls)),
    };
    // TLS 1.3 tells a refused client certificate after the handshake, on the first
    // read: ask the node for OPTIONS (CQL v4) and read the answer's header.
    let exchange = async {
        stream.write_all(&[0x04, 0, 0, 0, 0x05, 0, 0, 0, 0]).await?;
        let mut header = [0u8; 9];
        stream.read_exact(&mut header).await.map(drop)
    };
    let err = tokio::time::timeout(limit, exchange).await.ok()?.err()?;
    Some(match rustls_cause(&err) {
        Some(e) => describe(e, addr.ip(), tls),
        // The node hung up without saying why, right after a handshake that succeeded
        // on our side: that is how a node refuses the client certificate.
        None => match &tls.cert_file {
            Some(cert) => (
                format!(
                    "the node closed the connection right after the TLS handshake: it refused \
                     the client certificate in ssl_certfile {cert}"
                ),
                "check that it is signed by a CA in the node's truststore".into(),
            ),
            None => (
                "the node closed the connection right after the TLS handshake: it requires \
                 a client certificate (mutual TLS) and none is configured"
                    .into(),
                "set ssl_certfile and ssl_keyfile (a certificate signed by a CA the node \
                 trusts, and its key)"
                    .into(),
            ),
        },
    })
}

/// A TLS failure as the person running the command reads it: what was found (naming
/// the file) and what to do.
fn describe(e: &rustls::Error, node: std::net::IpAddr, tls: &Tls) -> (String, String) {
    use rustls::AlertDescription as A;
    let ca = tls.ca_file.as_ref().map_or_else(
        || "the system's CA certificates".to_string(),
        |f| format!("the CA in ssl_cafile {f}"),
    );
    let check_ca = "check ssl_cafile: it must hold the CA that signed the node's certificate";
    match e {
        rustls::Error::AlertReceived(alert) => match (&tls.cert_file, alert) {
            (None, A::CertificateRequired | A::HandshakeFailure | A::BadCertificate) => (
                "the node requires a client certificate (mutual TLS) and none is configured".into(),
                "set ssl_certfile and ssl_keyfile (a certificate signed by a CA the node \
                 trusts, and its key)"
                    .into(),
            ),
            (Some(cert), A::UnknownCA) => (
                format!(
                    "the node refused the client certificate in ssl_certfile {cert} (TLS \
                     alert: unknown CA)"
                ),
                "use a certificate signed by a CA in the node's truststore".into(),
            ),
            (Some(cert), A::CertificateExpired) => (
                format!(
                    "the node refused the client certificate in ssl_certfile {cert}: it expired"
                ),
                "renew the certificate".into(),
            ),
            (Some(cert), other) => (
                format!(
                    "the node refused the client certificate in ssl_certfile {cert} (TLS \
                     alert: {other:?})"
                ),
                "check that it is signed by a CA in the node's truststore".into(),
            ),
            (None, other) => (
                format!("the node ended the TLS handshake (TLS alert: {other:?})"),
                "check the node's client_encryption_options".into(),
            ),
        },
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => (
                format!("the node's certificate is not signed by {ca}"),
                check_ca.into(),
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                "the node's certificate has expired".into(),
                "the node needs a new certificate".into(),
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                "the node's certificate is not valid yet".into(),
                "check this machine's clock, or the certificate's dates".into(),
            ),
            CertificateError::NotValidForNameContext { presented, .. } if presented.is_empty() => (
                format!(
                    "the node's certificate names no address (an X.509 v1 certificate has no \
                     subjectAltName), so it cannot name {node}, the address cassachange \
                     connected to"
                ),
                format!(
                    "set ssl_verify_hostname: false to check only that {ca} signed it, or give \
                     the node a v3 certificate with its IP address in subjectAltName"
                ),
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                (
                    format!(
                        "the node's certificate does not name {node}, the address cassachange \
                     connected to"
                    ),
                    format!(
                        "set ssl_verify_hostname: false to check only that {ca} signed it, or \
                     give the certificate that IP address"
                    ),
                )
            }
            other => (
                format!("the node's certificate cannot be verified against {ca}: {other}"),
                check_ca.into(),
            ),
        },
        other => (
            format!("TLS failed: {other}"),
            "check ssl_cafile, ssl_certfile and ssl_keyfile".into(),
        ),
    }
}

/// The rustls error in `e`'s chain of causes (directly, or inside an I/O error), if
/// any: what a TLS failure is, typed, under the layers of an HTTP client or a driver.
pub(crate) fn rustls_cause<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        // An I/O error's `source()` skips the error it wraps: look inside it first.
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}
