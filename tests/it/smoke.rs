//! Smoke test of the Cassandra fixture itself, through the `scylla` driver: connect,
//! create a table, run an LWT twice and read `[applied]` true, then false. Also TLS
//! and mutual TLS against the `secure` instance.

use std::sync::Arc;
use std::time::Duration;

use cassachange_tests::db::{block_on, plain, secure};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use scylla::client::session_builder::SessionBuilder;
use scylla::value::CqlValue;

#[test]
fn lwt_applies_once() {
    let ks = plain().keyspace("smoke");
    plain().exec(&format!(
        "CREATE TABLE {}.t (k text PRIMARY KEY, v int)",
        ks.name
    ));
    let insert = format!(
        "INSERT INTO {}.t (k, v) VALUES ('a', 1) IF NOT EXISTS",
        ks.name
    );
    let first = plain().rows(&insert);
    let second = plain().rows(&insert);
    assert_eq!(first[0][0], Some(CqlValue::Boolean(true)));
    assert_eq!(second[0][0], Some(CqlValue::Boolean(false)), "{second:?}");
    assert_eq!(
        second[0].len(),
        3,
        "a failed LWT returns the current row too"
    );
}

fn tls_session(with_client_cert: bool) -> Result<(), String> {
    let s = secure();
    let ca = s.ca.as_ref().expect("secure has a CA");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = if with_client_cert {
        let (cert, key) = s.client.as_ref().expect("client cert");
        let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        b.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
            .unwrap()
    } else {
        b.with_no_client_auth()
    };
    let (u, p) = s.login.clone().expect("secure has a login");
    // A server that refuses the handshake can leave the driver waiting for an answer
    // (seen once in CI: an hour): no session within the limit is no session.
    let builder = SessionBuilder::new()
        .known_nodes(s.hosts.iter().map(|h| format!("{h}:{}", s.port)))
        .user(u, p)
        .tls_context(Some(Arc::new(config)));
    let session =
        block_on(async { tokio::time::timeout(Duration::from_secs(30), builder.build()).await })
            .map_err(|_| "no session within 30s".to_string())?
            .map_err(|e| e.to_string())?;
    block_on(session.query_unpaged("SELECT release_version FROM system.local", &[]))
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[test]
fn secure_instance_speaks_tls_and_mtls_with_a_login() {
    tls_session(false).expect_err("mutual TLS is required: no client certificate, no session");
    tls_session(true).expect("TLS with a client certificate");
    assert!(
        !secure()
            .rows("SELECT release_version FROM system.local")
            .is_empty(),
        "plain login too"
    );
}
