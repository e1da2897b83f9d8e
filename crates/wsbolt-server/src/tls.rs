//! TLS for `wss://` and `https://`: a PEM certificate and key, or a
//! self-signed certificate for localhost made at start-up (development).

use std::sync::Arc;

use crate::config::ServeConfig;

/// The TLS acceptor the settings ask for, if any.
pub(crate) fn acceptor(config: &ServeConfig) -> Result<Option<tokio_rustls::TlsAcceptor>, String> {
    let server_config = match (&config.tls_cert, &config.tls_key, config.tls_self_signed) {
        (Some(cert), Some(key), _) => {
            let cert = std::fs::read(cert).map_err(|e| format!("tls-cert {}: {e}", cert.display()))?;
            let key = std::fs::read(key).map_err(|e| format!("tls-key {}: {e}", key.display()))?;
            wsbolt::tls::server_config_from_pem(&cert, &key)?
        }
        (Some(_), None, _) | (None, Some(_), _) => return Err("tls-cert and tls-key go together".into()),
        (None, None, true) => {
            let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
            let cert = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
            tracing::warn!("serving TLS with a self-signed certificate for localhost: development only");
            wsbolt::tls::server_config_from_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
        }
        (None, None, false) => return Ok(None),
    };
    let mut server_config = (*server_config).clone();
    // HTTP/2 first when on: browsers then share one connection for pages and
    // WebSockets (RFC 8441).
    server_config.alpn_protocols = if config.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(server_config))))
}
