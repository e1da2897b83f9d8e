//! `--proxy URL` and `--no-proxy`, shared by `connect` and `bench`.

use wsbolt::proxy::{Proxy, ProxySetting};
use wsbolt::ClientConfig;

/// Which proxy to go through.
#[derive(clap::Args, Debug, Clone)]
pub struct ProxyFlags {
    /// Go through this proxy: http://[user:pass@]host:port (CONNECT),
    /// https://… (CONNECT over TLS), socks5://… or socks5h://… (the proxy
    /// resolves names). By default the environment's (wss_proxy / ws_proxy,
    /// then https_proxy / http_proxy, then all_proxy; no_proxy exempts hosts).
    #[arg(long, value_name = "URL", conflicts_with = "no_proxy")]
    proxy: Option<String>,
    /// Connect directly, ignoring proxy settings in the environment.
    #[arg(long)]
    no_proxy: bool,
}

impl ProxyFlags {
    /// Sets `config.proxy` from the flags (left to the environment without them).
    pub fn apply(&self, config: &mut ClientConfig) -> Result<(), wsbolt::Error> {
        if let Some(url) = &self.proxy {
            config.proxy = ProxySetting::Through(Proxy::parse(url)?);
        } else if self.no_proxy {
            config.proxy = ProxySetting::Direct;
        }
        Ok(())
    }
}
