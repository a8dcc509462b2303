//! TLS through rustls: one certificate per host from `<dir>/<host>/cert.pem` and `key.pem`
//! (`<dir>/default/` answers unknown or missing SNI names; `*.example.com` folders match one
//! label), ALPN `h2` and `http/1.1`, and a reload whenever a file changes on disk — new
//! handshakes get the new certificate, open connections keep theirs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Certificates by host name, reloadable.
#[derive(Debug)]
pub struct CertStore {
    dir: PathBuf,
    certs: ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
    stamp: Mutex<Vec<(PathBuf, Option<SystemTime>, u64)>>,
}

impl CertStore {
    /// Loads every `<dir>/<host>/{cert.pem,key.pem}` (creating `dir`). A host whose files do
    /// not parse is skipped with a warning; the others still load.
    pub fn load(dir: &Path) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(dir)?;
        let store = Arc::new(CertStore {
            dir: dir.to_path_buf(),
            certs: ArcSwap::from_pointee(HashMap::new()),
            stamp: Mutex::new(Vec::new()),
        });
        store.reload_if_changed();
        Ok(store)
    }

    /// Host names with a certificate.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.certs.load().keys().cloned().collect();
        hosts.sort();
        hosts
    }

    fn snapshot(&self) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
        let mut files = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                for name in ["cert.pem", "key.pem"] {
                    let p = e.path().join(name);
                    let meta = std::fs::metadata(&p).ok();
                    files.push((
                        p,
                        meta.as_ref().and_then(|m| m.modified().ok()),
                        meta.map_or(0, |m| m.len()),
                    ));
                }
            }
        }
        files.sort();
        files
    }

    /// Rebuilds the table when any certificate or key file changed; true when it did.
    pub fn reload_if_changed(&self) -> bool {
        let now = self.snapshot();
        let Ok(mut stamp) = self.stamp.lock() else {
            return false;
        };
        if *stamp == now && !now.is_empty() {
            return false;
        }
        let mut certs = HashMap::new();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let host = e.file_name().to_string_lossy().to_ascii_lowercase();
                match load_pair(&e.path().join("cert.pem"), &e.path().join("key.pem")) {
                    Ok(Some(key)) => {
                        certs.insert(host, Arc::new(key));
                    }
                    Ok(None) => {}
                    Err(err) => tracing::warn!(%host, %err, "certificate not loaded"),
                }
            }
        }
        let changed = *stamp != now;
        self.certs.store(Arc::new(certs));
        *stamp = now;
        changed
    }

    fn find(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let certs = self.certs.load();
        if let Some(name) = name.map(str::to_ascii_lowercase) {
            if let Some(c) = certs.get(&name) {
                return Some(c.clone());
            }
            if let Some((_, parent)) = name.split_once('.')
                && let Some(c) = certs.get(&format!("*.{parent}"))
            {
                return Some(c.clone());
            }
        }
        certs.get("default").cloned()
    }

    /// A rustls server configuration that asks this store for certificates.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.find(hello.server_name())
    }
}

/// Loads a certificate chain and its private key (PEM); `None` when either file is absent.
pub fn load_pair(cert: &Path, key: &Path) -> Result<Option<CertifiedKey>, String> {
    if !cert.exists() || !key.exists() {
        return Ok(None);
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    Ok(Some(CertifiedKey::new(chain, signing)))
}
