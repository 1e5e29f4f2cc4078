//! Defines how the session reaches AstraDB's nodes: one forwarder per node (by host
//! id), listening on 127.0.0.1 only, that opens TLS to the bundle's SNI proxy with the
//! node's host id as the server name and the bundle's client certificate, and checks
//! the proxy's certificate against the bundle's CA and the proxy's host name. The
//! session connects to the forwarders in plain CQL; an `AddressTranslator` maps every
//! node it learns about to that node's forwarder, creating it on first use. The
//! forwarders end with the session.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use scylla::errors::TranslationError;
use scylla::policies::address_translator::{AddressTranslator, UntranslatedPeer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use uuid::Uuid;

use super::bundle::Bundle;
use crate::db::tls;

/// The TLS configuration for the bundle's mutual TLS: its CA as the only root, its
/// client certificate and key; the server's name is checked against `name` (the
/// proxy's host), whatever SNI is sent.
pub(crate) fn tls_config(
    bundle: &Bundle,
    name: ServerName<'static>,
) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bundle.ca) {
        let cert =
            cert.map_err(|e| format!("the bundle's ca.crt is not a PEM certificate ({e})"))?;
        roots
            .add(cert)
            .map_err(|e| format!("the bundle's ca.crt is not a usable CA ({e})"))?;
    }
    if roots.is_empty() {
        return Err("the bundle's ca.crt holds no certificate".into());
    }
    let provider = tls::provider();
    let identity = tls::client_identity(
        &bundle.cert,
        "the bundle's cert",
        &bundle.key,
        "the bundle's key",
        &provider,
        tls::now_secs(),
    )?;
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("the bundle's CA is not usable ({e})"))?;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NamedVerifier { inner, name }))
        .with_client_cert_resolver(tls::present(identity)))
}

/// Checks the server's chain against the bundle's CA and its name against the proxy's
/// host name, whatever name was sent as SNI (the node's host id).
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _sni: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The forwarders of one session.
pub(crate) struct Proxy {
    /// `host:port` of the SNI proxy.
    address: String,
    connector: TlsConnector,
    forwarders: Mutex<HashMap<Uuid, (SocketAddr, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Forwarders to `proxy` (`host:port`) with `tls` (the bundle's mutual TLS,
    /// checking the proxy's host name).
    pub(crate) fn new(proxy: &str, tls: ClientConfig) -> Self {
        Proxy {
            address: proxy.to_string(),
            connector: TlsConnector::from(Arc::new(tls)),
            forwarders: Mutex::new(HashMap::new()),
        }
    }

    /// Opens one TLS connection to the proxy for `host_id`, to say plainly when the
    /// proxy cannot be reached or refuses, before the driver tries.
    pub(crate) async fn probe(&self, host_id: Uuid) -> Result<(), String> {
        open(&self.address, &self.connector, host_id)
            .await
            .map(drop)
            .map_err(|e| format!("the AstraDB SNI proxy at {}: {e}", self.address))
    }

    /// The local address of `host_id`'s forwarder, started on first use.
    pub(crate) async fn forwarder(&self, host_id: Uuid) -> std::io::Result<SocketAddr> {
        if let Some((addr, _)) = self.lock().get(&host_id) {
            return Ok(*addr);
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (proxy, connector) = (self.address.clone(), self.connector.clone());
        let task = tokio::spawn(async move {
            while let Ok((inbound, peer)) = listener.accept().await {
                // The bundle's certificate serves this process's connections only.
                if !super::own::is_own(peer, addr) {
                    tracing::warn!(
                        "AstraDB forwarder {addr}: refused a connection from {peer}, which \
                         is not this process's"
                    );
                    continue;
                }
                let (proxy, connector) = (proxy.clone(), connector.clone());
                tokio::spawn(async move {
                    match open(&proxy, &connector, host_id).await {
                        Ok(mut outbound) => {
                            let mut inbound = inbound;
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                        Err(e) => tracing::warn!("AstraDB node {host_id} through {proxy}: {e}"),
                    }
                });
            }
        });
        let mut map = self.lock();
        // Another caller may have started one meanwhile: keep the first.
        if let Some((first, _)) = map.get(&host_id) {
            task.abort();
            return Ok(*first);
        }
        map.insert(host_id, (addr, task));
        tracing::debug!("AstraDB node {host_id}: forwarder on {addr}");
        Ok(addr)
    }

    /// Host ids with a forwarder, and their local addresses.
    pub(crate) fn forwarders(&self) -> Vec<(Uuid, SocketAddr)> {
        self.lock().iter().map(|(id, (a, _))| (*id, *a)).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (SocketAddr, JoinHandle<()>)>> {
        self.forwarders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for (_, task) in self.lock().values() {
            task.abort();
        }
    }
}

/// A TLS connection to the proxy for `host_id` (SNI = the host id).
async fn open(
    proxy: &str,
    connector: &TlsConnector,
    host_id: Uuid,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        TcpStream::connect(proxy),
    )
    .await
    .map_err(|_| "no connection within 10s".to_string())?
    .map_err(|e| format!("cannot connect ({e})"))?;
    let _ = tcp.set_nodelay(true);
    let sni = ServerName::try_from(host_id.to_string())
        .map_err(|e| format!("host id {host_id} is not a usable server name ({e})"))?;
    connector
        .connect(sni, tcp)
        .await
        .map_err(|e| format!("TLS failed ({e})"))
}

/// Maps each node, by host id, to its forwarder.
#[derive(Debug)]
pub(crate) struct Translator(pub(crate) Arc<Proxy>);

#[async_trait::async_trait]
impl AddressTranslator for Translator {
    async fn translate_address(
        &self,
        peer: &UntranslatedPeer,
    ) -> Result<SocketAddr, TranslationError> {
        self.0
            .forwarder(peer.host_id())
            .await
            .map_err(|e| TranslationError::IoError(Arc::new(e)))
    }
}
