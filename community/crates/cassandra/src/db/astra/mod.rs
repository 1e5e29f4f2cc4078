//! Defines the AstraDB connection: read the secure connect bundle, ask the bundle's
//! metadata service (mutual TLS) for the SNI proxy and the nodes' host ids, and open a
//! session through per-node forwarders (see [`proxy`]), logging in as `token` with the
//! application token and preferring the bundle's local datacenter.
//!
//! `scylla` speaks protocol v4 (Astra's) but sets no TLS SNI and has no cloud mode of
//! its own, hence the forwarders.

mod bundle;
mod own;
mod proxy;

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use serde::Deserialize;
use uuid::Uuid;

pub(crate) use bundle::{read as read_bundle, Bundle};
pub(crate) use proxy::{Proxy, Translator};

use crate::config::{Material, Secret};
use crate::db::tls;

/// What the metadata service answers.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    /// `host:port` of the SNI proxy.
    pub(crate) sni_proxy: String,
    /// The nodes' host ids.
    pub(crate) contact_points: Vec<Uuid>,
    /// The local datacenter.
    pub(crate) local_dc: Option<String>,
}

#[derive(Deserialize)]
struct MetadataDoc {
    contact_info: ContactInfo,
}

#[derive(Deserialize)]
struct ContactInfo {
    sni_proxy_address: String,
    contact_points: Vec<String>,
    #[serde(default)]
    local_dc: Option<String>,
}

/// Everything a session needs to reach Astra.
pub(crate) struct Astra {
    /// The bundle.
    pub(crate) bundle: Bundle,
    /// The metadata service's answer.
    pub(crate) metadata: Metadata,
    /// The forwarders.
    pub(crate) proxy: Arc<Proxy>,
}

/// Reads the bundle, asks the metadata service, and checks the SNI proxy answers.
pub(crate) async fn prepare(material: &Material) -> Result<Astra, String> {
    let bundle = bundle::read(material)?;
    let metadata = metadata(&bundle).await?;
    let proxy_host = metadata
        .sni_proxy
        .rsplit_once(':')
        .map_or(metadata.sni_proxy.as_str(), |(h, _)| h)
        .trim_matches(['[', ']'])
        .to_string();
    let name = ServerName::try_from(proxy_host.clone())
        .map_err(|e| format!("the SNI proxy host '{proxy_host}' is not a server name ({e})"))?;
    let tls = proxy::tls_config(&bundle, name)
        .map_err(|e| format!("secure_connect_bundle {material}: {e}"))?;
    let proxy = Arc::new(Proxy::new(&metadata.sni_proxy, tls));
    let first = *metadata
        .contact_points
        .first()
        .ok_or("the AstraDB metadata service listed no nodes; is the database active?")?;
    proxy.probe(first).await.map_err(|e| {
        format!("{e}; check the network (and that the bundle is this database's current one)")
    })?;
    Ok(Astra {
        bundle,
        metadata,
        proxy,
    })
}

/// `GET https://<host>:<port>/metadata` with the bundle's mutual TLS.
async fn metadata(bundle: &Bundle) -> Result<Metadata, String> {
    let url = format!(
        "https://{}:{}/metadata",
        bundle.config.host, bundle.config.port
    );
    // The bundle's mutual TLS as the SNI proxy uses it (its certificate may be X.509 v1,
    // which reqwest's own identity loading refuses), checked against the service's name.
    let name = ServerName::try_from(bundle.config.host.clone()).map_err(|_| {
        format!(
            "the bundle's config.json names the host '{}', which is not a host name",
            bundle.config.host
        )
    })?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(proxy::tls_config(bundle, name)?)
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| format!("cannot set up HTTPS for the AstraDB metadata service ({e})"))?;
    let at = format!("the AstraDB metadata service at {url}");
    let response = client.get(&url).send().await.map_err(|e| {
        let cause = innermost(&e);
        // Decided on rustls's typed error, found in the chain of causes.
        let hint = match tls::rustls_cause(&e) {
            Some(rustls::Error::InvalidCertificate(_)) => {
                "the bundle's CA did not sign the service's certificate: download the bundle again"
            }
            Some(rustls::Error::AlertReceived(_)) => {
                "the service refused the bundle's client certificate: download the bundle \
                 again (a bundle of another database, or an old one, is refused)"
            }
            _ => "check the network; a hibernated database wakes up from the Astra console",
        };
        format!("cannot reach {at}: {cause}; {hint}")
    })?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("{at}: reading its answer failed ({})", innermost(&e)))?;
    if !status.is_success() {
        return Err(format!(
            "{at} answered {status}; check that the database is active in the Astra console"
        ));
    }
    let doc: MetadataDoc = serde_json::from_str(&body)
        .map_err(|e| format!("{at} answered something that is not Astra's metadata ({e})"))?;
    let mut contact_points = Vec::new();
    for p in &doc.contact_info.contact_points {
        contact_points.push(
            Uuid::parse_str(p).map_err(|_| format!("{at} listed '{p}', which is not a host id"))?,
        );
    }
    Ok(Metadata {
        sni_proxy: doc.contact_info.sni_proxy_address,
        contact_points,
        local_dc: doc.contact_info.local_dc,
    })
}

/// The innermost cause of an error.
fn innermost(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        last = c.to_string();
        cur = c.source();
    }
    last
}

/// The login of an Astra session: `token` / the application token.
pub(crate) fn login(token: &Secret) -> (&'static str, &str) {
    ("token", token.expose())
}
