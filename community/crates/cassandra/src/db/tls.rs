//! Defines the rustls client configuration for `ssl: true`: the CA from `ssl_cafile`
//! (else the system roots), an optional client certificate for mutual TLS, and
//! `ssl_verify_hostname: false` for certificates that do not name the node's IP.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

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
    if let Some(ca) = &tls.ca_file {
        for cert in certs(ca, "ssl_cafile")? {
            roots
                .add(cert)
                .map_err(|e| format!("ssl_cafile {ca}: unusable CA certificate: {e}"))?;
        }
    } else {
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(
                "ssl: true but no ssl_cafile and no system CA certificates found; set ssl_cafile"
                    .into(),
            );
        }
    }
    let roots = Arc::new(roots);
    let builder = if tls.verify_hostname {
        ClientConfig::builder().with_root_certificates(roots)
    } else {
        let inner = WebPkiServerVerifier::builder(roots)
            .build()
            .map_err(|e| format!("cannot use the CA certificates: {e}"))?;
        ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
    };
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert, "ssl_certfile")?;
            let pem = key
                .read()
                .map_err(|e| format!("ssl_keyfile {key}: cannot read a PEM private key: {e}"))?;
            let key_der = PrivateKeyDer::from_pem_slice(&pem)
                .map_err(|e| format!("ssl_keyfile {key}: cannot read a PEM private key: {e}"))?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                format!("ssl_certfile/ssl_keyfile: the key does not fit the certificate: {e}")
            })
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err("mutual TLS needs both ssl_certfile and ssl_keyfile".into()),
    }
}

/// Verifies the chain against the CA but accepts any name, for `ssl_verify_hostname: false`.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
