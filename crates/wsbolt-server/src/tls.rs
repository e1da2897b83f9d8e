//! TLS for `wss://` and `https://`: a PEM certificate and key, which
//! [`TlsReloader::reload`] reads again without closing a connection (a new
//! handshake gets the new certificate; a broken new one leaves the old one
//! serving), or a self-signed certificate for localhost made at start-up
//! (development).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use crate::config::ServeConfig;

/// The TLS acceptor the settings ask for, if any, and the reloader of its
/// certificate when it comes from files.
pub(crate) fn acceptor(
    config: &ServeConfig,
) -> Result<(Option<tokio_rustls::TlsAcceptor>, Option<TlsReloader>), String> {
    let (mut server_config, reloader) = match (&config.tls_cert, &config.tls_key, config.tls_self_signed) {
        (Some(cert), Some(key), _) => {
            let stamp = stamp(cert, key);
            let files = Arc::new(CertFiles {
                cert: cert.clone(),
                key: key.clone(),
                current: RwLock::new(Arc::new(load(cert, key)?)),
                stamp: Mutex::new(stamp),
            });
            let server_config = rustls::ServerConfig::builder_with_provider(wsbolt::tls::provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_no_client_auth()
                .with_cert_resolver(files.clone());
            (server_config, Some(TlsReloader { files }))
        }
        (Some(_), None, _) | (None, Some(_), _) => return Err("tls-cert and tls-key go together".into()),
        (None, None, true) => {
            let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
            let cert = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
            tracing::warn!("serving TLS with a self-signed certificate for localhost: development only");
            let pem = (cert.cert.pem(), cert.key_pair.serialize_pem());
            let config = wsbolt::tls::server_config_from_pem(pem.0.as_bytes(), pem.1.as_bytes())?;
            ((*config).clone(), None)
        }
        (None, None, false) => return Ok((None, None)),
    };
    // HTTP/2 first when on: browsers then share one connection for pages and
    // WebSockets (RFC 8441).
    server_config.alpn_protocols = if config.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok((Some(tokio_rustls::TlsAcceptor::from(Arc::new(server_config))), reloader))
}

/// A certificate chain and its key read from PEM files, checked to match.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let cert_pem = std::fs::read(cert).map_err(|e| format!("tls-cert {}: {e}", cert.display()))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("tls-key {}: {e}", key.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("tls-cert {}: no CERTIFICATE block found", cert.display()));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| format!("tls-key {}: {e}", key.display()))?;
    CertifiedKey::from_der(chain, key_der, &wsbolt::tls::provider())
        .map_err(|e| format!("tls-cert {} with tls-key {}: {e}", cert.display(), key.display()))
}

/// The files' modification times and sizes, to notice a change.
type Stamp = Option<[(Option<SystemTime>, u64); 2]>;

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let one = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.modified().ok(), m.len()));
    Some([one(cert)?, one(key)?])
}

/// The certificate files and what was last read from them.
#[derive(Debug)]
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files as they were when last read (or tried).
    stamp: Mutex<Stamp>,
}

impl ResolvesServerCert for CertFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("certificate lock").clone())
    }
}

/// Reads a server's `--tls-cert` and `--tls-key` again (on SIGHUP, or when
/// the files change): handshakes from then on get the new certificate;
/// connections already open keep theirs.
#[derive(Debug, Clone)]
pub struct TlsReloader {
    files: Arc<CertFiles>,
}

impl TlsReloader {
    /// Reads the files again and serves what they hold.
    ///
    /// # Errors
    ///
    /// The files cannot be read, hold no certificate or key, or the key does
    /// not match the certificate: the certificate already served stays.
    pub fn reload(&self) -> Result<(), String> {
        let files = &self.files;
        *files.stamp.lock().expect("stamp lock") = stamp(&files.cert, &files.key);
        let fresh = load(&files.cert, &files.key)?;
        *files.current.write().expect("certificate lock") = Arc::new(fresh);
        Ok(())
    }

    /// [`reload`](TlsReloader::reload) if either file changed (its
    /// modification time or size) since it was last read or tried; `None` if
    /// neither did. A pair that failed is tried again only once it changes.
    ///
    /// # Errors
    ///
    /// As `reload`.
    pub fn reload_if_changed(&self) -> Option<Result<(), String>> {
        let files = &self.files;
        let now = stamp(&files.cert, &files.key);
        if *files.stamp.lock().expect("stamp lock") == now {
            return None;
        }
        Some(self.reload())
    }
}
