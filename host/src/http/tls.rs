//! TLS in the process (`[server] tls_cert` / `tls_key`): rustls with the certificate chain
//! and key read from PEM files, and read again when the files change (a renewed
//! certificate is served from the next handshake on; connections already open keep
//! theirs). A renewal that does not load is logged and the serving certificate stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// How often the files are looked at for a renewal.
const RELOAD_CHECK: Duration = Duration::from_secs(5);

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
}

/// The certificate the server presents, swapped whole on a renewal.
#[derive(Debug)]
pub struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// The files' modification times and sizes when they were last loaded.
    seen: std::sync::Mutex<(Option<Stamp>, Option<Stamp>)>,
}

/// A file's modification time and size.
type Stamp = (SystemTime, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reads a PEM certificate chain and private key into what rustls serves.
///
/// # Errors
/// A file cannot be read, holds no certificate or key, or the key is of a kind rustls
/// cannot sign with.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source });
    let invalid = |path: &Path, detail: String| TlsError::Invalid { path: path.to_owned(), detail };
    let cert_pem = read(cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(cert, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(cert, "holds no certificate (-----BEGIN CERTIFICATE-----)".into()));
    }
    let key_pem = read(key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| invalid(key, format!("no private key: {e}")))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&private)
        .map_err(|e| invalid(key, format!("a key rustls cannot sign with: {e}")))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| invalid(key, format!("does not belong to the certificate: {e}")))?;
    Ok(certified)
}

impl CertStore {
    /// Loads the files now.
    ///
    /// # Errors
    /// As [`load`].
    pub fn open(cert: &Path, key: &Path) -> Result<Arc<CertStore>, TlsError> {
        let seen = (stamp(cert), stamp(key));
        let current = load(cert, key)?;
        Ok(Arc::new(CertStore {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: ArcSwap::from_pointee(current),
            seen: std::sync::Mutex::new(seen),
        }))
    }

    /// Loads the files again if either changed since the last load; returns whether a new
    /// certificate is now served.
    ///
    /// # Errors
    /// The changed files do not load (the previous certificate stays).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = (stamp(&self.cert), stamp(&self.key));
        {
            let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if *seen == now {
                return Ok(false);
            }
        }
        let loaded = load(&self.cert, &self.key);
        // Remembered either way: a broken renewal is reported once, not every few seconds.
        *self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = now;
        self.current.store(Arc::new(loaded?));
        Ok(true)
    }

    /// The acceptor for this certificate (TLS 1.2 and 1.3; HTTP/1.1, as the server speaks).
    ///
    /// # Errors
    /// The crypto provider lacks the default protocol versions.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, TlsError> {
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Invalid { path: self.cert.clone(), detail: e.to_string() })?
                .with_no_client_auth()
                .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Looks at the files every few seconds and serves a renewal once it loads.
    pub fn watch(self: &Arc<Self>) {
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RELOAD_CHECK).await;
                let Some(store) = store.upgrade() else { return };
                let checked = tokio::task::spawn_blocking(move || (store.reload_if_changed(), store)).await;
                match checked {
                    Ok((Ok(true), store)) => tracing::info!(cert = %store.cert.display(), "TLS certificate reloaded"),
                    Ok((Err(e), _)) => {
                        tracing::error!(error = %e, "the renewed TLS certificate does not load; the previous one is still served")
                    }
                    _ => {}
                }
            }
        });
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
