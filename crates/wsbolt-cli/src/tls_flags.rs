//! `--cacert FILE` and `--insecure`, shared by `connect` and `bench`.

use std::path::PathBuf;

use clap::ValueHint;
use wsbolt::ClientConfig;

/// Which servers' certificates to trust. Without these flags: the system's
/// roots (or `SSL_CERT_FILE` / `SSL_CERT_DIR`), as curl does.
#[derive(clap::Args, Debug, Clone)]
pub struct TlsFlags {
    /// Trust the CA certificates of this PEM file (and only those) for
    /// wss:// and https:// proxies: a private CA.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, conflicts_with = "insecure")]
    cacert: Option<PathBuf>,
    /// Accept any TLS certificate (self-signed servers in development only).
    #[arg(long)]
    insecure: bool,
}

impl TlsFlags {
    /// Sets `config.tls` from the flags (the library's default without them).
    pub fn apply(&self, config: &mut ClientConfig) -> Result<(), String> {
        if self.insecure {
            config.tls = Some(wsbolt::tls::insecure_client_config());
        } else if let Some(path) = &self.cacert {
            let pem = std::fs::read(path).map_err(|e| format!("--cacert {}: {e}", path.display()))?;
            let tls = wsbolt::tls::client_config_with_ca_pem(&pem, false)
                .map_err(|e| format!("--cacert {}: {e}", path.display()))?;
            config.tls = Some(tls);
        }
        Ok(())
    }
}
