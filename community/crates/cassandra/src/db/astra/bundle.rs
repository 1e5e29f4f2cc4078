//! Defines the AstraDB secure connect bundle: a zip (from a file, or bytes from a file
//! secret) holding `config.json` (the metadata service's host and port, the keyspace,
//! the local datacenter) and the mutual-TLS material `ca.crt`, `cert` and `key`. Read in
//! memory: nothing is extracted to disk.

use std::io::Read;

use serde::Deserialize;

use crate::config::Material;

/// The largest entry read from a bundle (real ones hold a few KiB per entry).
const MAX_ENTRY: u64 = 1 << 20;

/// What `config.json` says.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BundleConfig {
    /// The metadata service's host.
    pub(crate) host: String,
    /// Its port.
    pub(crate) port: u16,
    /// The local datacenter.
    #[serde(default, rename = "localDC")]
    pub(crate) local_dc: Option<String>,
}

/// A read bundle.
#[derive(Clone)]
pub(crate) struct Bundle {
    /// `config.json`.
    pub(crate) config: BundleConfig,
    /// The CA that signed the metadata service's and the proxy's certificates (PEM).
    pub(crate) ca: Vec<u8>,
    /// The client certificate (PEM).
    pub(crate) cert: Vec<u8>,
    /// The client key (PEM).
    pub(crate) key: Vec<u8>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Reads the bundle of `secure_connect_bundle`; the error names the bundle and the
/// entry at fault.
pub(crate) fn read(material: &Material) -> Result<Bundle, String> {
    let at = |what: String| format!("secure_connect_bundle {material}: {what}");
    let bytes = material
        .read()
        .map_err(|e| at(format!("cannot read it ({e})")))?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.as_ref())).map_err(|e| {
        at(format!(
            "not a secure connect bundle: it is not a readable zip ({e}); download it again \
             from the Astra console"
        ))
    })?;
    let mut entry = |name: &str| -> Result<Vec<u8>, String> {
        let file = zip
            .by_name(name)
            .map_err(|_| at(format!("it has no {name}; download the bundle again")))?;
        let mut out = Vec::new();
        file.take(MAX_ENTRY).read_to_end(&mut out).map_err(|e| {
            at(format!(
                "{name} cannot be read ({e}); download the bundle again"
            ))
        })?;
        Ok(out)
    };
    let config_bytes = entry("config.json")?;
    let ca = entry("ca.crt")?;
    let cert = entry("cert")?;
    let key = entry("key")?;
    let config: BundleConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| at(format!("config.json is not what a bundle holds ({e})")))?;
    if config.host.trim().is_empty() {
        return Err(at("config.json names no host".into()));
    }
    Ok(Bundle {
        config,
        ca,
        cert,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut buf);
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
        buf.into_inner()
    }

    fn mem(bytes: Vec<u8>) -> Material {
        Material::Memory {
            key: "secure_connect_bundle",
            bytes: bytes.into(),
        }
    }

    #[test]
    fn reads_a_bundle_from_bytes() {
        let config = br#"{"host":"abc-us-east1.db.astra.datastax.com","port":29080,"keyspace":"app","localDC":"us-east1","caCertLocation":"./ca.crt"}"#;
        let b = read(&mem(zip_of(&[
            ("config.json", config),
            ("ca.crt", b"CA"),
            ("cert", b"CERT"),
            ("key", b"KEY"),
        ])))
        .unwrap();
        assert_eq!(b.config.host, "abc-us-east1.db.astra.datastax.com");
        assert_eq!(b.config.port, 29080);
        assert_eq!(b.config.local_dc.as_deref(), Some("us-east1"));
        assert_eq!(b.key, b"KEY");
    }

    #[test]
    fn a_missing_or_bad_entry_is_named() {
        let err = read(&mem(zip_of(&[("config.json", b"{}")]))).unwrap_err();
        assert_eq!(
            err,
            "secure_connect_bundle (from secrets.secure_connect_bundle, in memory): it has no \
             ca.crt; download the bundle again"
        );
        let err = read(&mem(zip_of(&[
            ("config.json", b"{\"port\": 1}"),
            ("ca.crt", b""),
            ("cert", b""),
            ("key", b""),
        ])))
        .unwrap_err();
        assert!(
            err.contains("config.json is not what a bundle holds (missing field `host`"),
            "{err}"
        );
        let err = read(&mem(b"not a zip".to_vec())).unwrap_err();
        assert!(err.contains("it is not a readable zip"), "{err}");
        let err = read(&Material::Path("/nonexistent/scb.zip".into())).unwrap_err();
        assert!(
            err.starts_with("secure_connect_bundle '/nonexistent/scb.zip': cannot read it"),
            "{err}"
        );
    }
}
