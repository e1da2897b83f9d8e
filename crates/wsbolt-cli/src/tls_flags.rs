//! `--cacert FILE`, `--cert FILE`/`--key FILE` and `--insecure`, shared by
//! `connect` and `bench`.

use std::path::{Path, PathBuf};

use clap::ValueHint;
use wsbolt::ClientConfig;

/// Which servers' certificates to trust, and which certificate to show when
/// a server asks for one. Without these flags: the system's roots (or
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`), as curl does, and no client
/// certificate.
#[derive(clap::Args, Debug, Clone)]
pub struct TlsFlags {
    /// Trust the CA certificates of this PEM file (and only those) for
    /// wss:// and https:// proxies: a private CA.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, conflicts_with = "insecure")]
    cacert: Option<PathBuf>,
    /// Present this PEM client certificate (chain, own certificate first)
    /// to a server that asks for one (mutual TLS); needs --key.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, requires = "key")]
    cert: Option<PathBuf>,
    /// The PEM private key of --cert.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, requires = "cert")]
    key: Option<PathBuf>,
    /// Accept any TLS certificate (self-signed servers in development only).
    #[arg(long)]
    insecure: bool,
}

impl TlsFlags {
    /// Sets `config.tls` from the flags (the library's default without them).
    pub fn apply(&self, config: &mut ClientConfig) -> Result<(), String> {
        let mut tls = if self.insecure {
            Some(wsbolt::tls::insecure_client_config())
        } else if let Some(path) = &self.cacert {
            let tls = wsbolt::tls::client_config_with_ca_pem(&read("--cacert", path)?, false)
                .map_err(|e| format!("--cacert {}: {e}", path.display()))?;
            Some(tls)
        } else {
            None
        };
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            let base = tls.unwrap_or_else(wsbolt::tls::default_client_config);
            let with = wsbolt::tls::with_client_certificate(&base, &read("--cert", cert)?, &read("--key", key)?)
                .map_err(|e| format!("--cert {} --key {}: {e}", cert.display(), key.display()))?;
            tls = Some(with);
        }
        if tls.is_some() {
            config.tls = tls;
        }
        Ok(())
    }
}

/// A file a flag names, or a message naming the flag.
fn read(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
}
