//! TLS through rustls, with the `ring` crypto provider named explicitly so
//! that no process-wide default has to be installed (and nothing panics when
//! several providers are compiled in).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::boxed::BoxedStream;
use crate::error::TlsError;

/// The crypto provider every TLS config of this crate uses: *ring*'s.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // rustls 0.23.48 deprecates this function because the *ring* provider
    // has no post-quantum key exchange (it still works, and the rustls 0.23
    // line keeps it). Moving to aws-lc-rs, which has one, means a C and
    // cmake build for every user: a decision of its own, not a warning fix.
    // Until then the deprecation is allowed here, in this one place.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client TLS config a `wss://` connection uses unless
/// [`ClientConfig::tls`](crate::ClientConfig::tls) says otherwise: the
/// system's roots, as curl does — the operating system's store, or the
/// certificates `SSL_CERT_FILE` / `SSL_CERT_DIR` name when set — read once
/// per process; the Mozilla root store ([`mozilla_client_config`]) when that
/// yields no certificate (a minimal container, say).
pub fn default_client_config() -> Arc<rustls::ClientConfig> {
    static DEFAULT: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    DEFAULT
        .get_or_init(|| native_roots_client_config().unwrap_or_else(|_| mozilla_client_config()))
        .clone()
}

/// A client TLS config trusting the Mozilla root store (`webpki-roots`)
/// whatever the system has.
pub fn mozilla_client_config() -> Arc<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    client_config_with_roots(roots)
}

/// A client TLS config trusting the operating system's certificate store
/// (through `rustls-native-certs`: `/etc/ssl/certs` and `SSL_CERT_FILE` /
/// `SSL_CERT_DIR` on Linux, the keychain on macOS, the system store on
/// Windows).
///
/// # Errors
///
/// [`TlsErrorKind::Config`](crate::TlsErrorKind::Config) if no certificate
/// could be loaded.
pub fn native_roots_client_config() -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.first().map(|e| e.to_string()).unwrap_or_default();
        return Err(TlsError::config(format!(
            "no usable certificate in the system's store {why}"
        )));
    }
    Ok(client_config_with_roots(roots))
}

/// A client TLS config trusting the CA certificates in `pem` (a private CA),
/// and, with `and_mozilla`, the Mozilla root store too.
///
/// ```
/// # fn f(ca_pem: &[u8]) -> Result<(), wsbolt::TlsError> {
/// let cfg = wsbolt::ClientConfig::default()
///     .tls(Some(wsbolt::tls::client_config_with_ca_pem(ca_pem, false)?));
/// # drop(cfg); Ok(()) }
/// ```
///
/// # Errors
///
/// [`TlsErrorKind::Config`](crate::TlsErrorKind::Config) if the PEM holds no
/// certificate or one that does not parse.
pub fn client_config_with_ca_pem(pem: &[u8], and_mozilla: bool) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::config(format!("CA certificate: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::config("CA certificate: no CERTIFICATE block found"));
    }
    let mut roots = rustls::RootCertStore::empty();
    if and_mozilla {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for c in certs {
        roots
            .add(c)
            .map_err(|e| TlsError::config(format!("CA certificate: {e}")))?;
    }
    Ok(client_config_with_roots(roots))
}

fn client_config_with_roots(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// `config` with a client certificate: the chain in `cert_pem` (the
/// client's own certificate first) and its private key in `key_pem` (PKCS#8,
/// PKCS#1 or SEC1), presented when a server asks for one (mutual TLS).
/// Everything else of `config` (its roots, its ALPN) is kept.
///
/// ```
/// # fn f(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<(), wsbolt::TlsError> {
/// let base = wsbolt::tls::client_config_with_ca_pem(ca, false)?;
/// let tls = wsbolt::tls::with_client_certificate(&base, cert, key)?;
/// let cfg = wsbolt::ClientConfig::default().tls(Some(tls));
/// # drop(cfg); Ok(()) }
/// ```
///
/// # Errors
///
/// [`TlsErrorKind::Config`](crate::TlsErrorKind::Config) if the certificate
/// or the key does not parse, or the key is not the certificate's.
pub fn with_client_certificate(
    config: &rustls::ClientConfig,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::config(format!("client certificate: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::config("client certificate: no CERTIFICATE block found"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::config(format!("client key: {e}")))?;
    let certified = rustls::sign::CertifiedKey::from_der(certs, key, &provider())
        .map_err(|e| TlsError::config(format!("client certificate and key: {e}")))?;
    let mut cfg = config.clone();
    cfg.client_auth_cert_resolver = Arc::new(ClientCertificate(Arc::new(certified)));
    Ok(Arc::new(cfg))
}

/// One client certificate, presented to every server that asks.
#[derive(Debug)]
struct ClientCertificate(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        // Offered only when the key can sign with a scheme the server takes.
        self.0.key.choose_scheme(sigschemes).map(|_| self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A server TLS config from a PEM certificate chain and private key.
pub fn server_config_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    if certs.is_empty() {
        return Err("certificate: no CERTIFICATE block found".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("private key: {e}"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A TCP stream, with or without TLS, or a [`BoxedStream`] for a transport
/// that is not a TCP stream of its own.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// Plain TCP (`ws://`).
    Plain(TcpStream),
    /// TLS as a client (`wss://`).
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// TLS as a server.
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// TLS as a client inside TLS to an `https://` proxy (`wss://` through
    /// an HTTPS proxy).
    ClientTlsInTls(Box<tokio_rustls::client::TlsStream<tokio_rustls::client::TlsStream<TcpStream>>>),
    /// A transport that is not a TCP stream of its own: a stream of an
    /// HTTP/2 connection (RFC 8441), which may carry other WebSockets too, or
    /// a connection (HTTP/1.1) or stream (HTTP/2) that hyper handed over
    /// after an upgrade (feature `hyper`).
    Boxed(BoxedStream),
}

impl MaybeTlsStream {
    /// The underlying TCP stream; `None` for a WebSocket that shares its
    /// connection (HTTP/2) or whose connection hyper holds.
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            MaybeTlsStream::Plain(s) => Some(s),
            MaybeTlsStream::ClientTls(s) => Some(s.get_ref().0),
            MaybeTlsStream::ServerTls(s) => Some(s.get_ref().0),
            MaybeTlsStream::ClientTlsInTls(s) => Some(s.get_ref().0.get_ref().0),
            MaybeTlsStream::Boxed(_) => None,
        }
    }

    /// Whether this is an HTTP/2 stream (RFC 8441) rather than a connection
    /// of its own.
    pub fn is_http2(&self) -> bool {
        matches!(self, MaybeTlsStream::Boxed(b) if b.is_http2())
    }
}

macro_rules! forward {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            MaybeTlsStream::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            MaybeTlsStream::ClientTls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
            MaybeTlsStream::ServerTls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
            MaybeTlsStream::ClientTlsInTls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
            MaybeTlsStream::Boxed($s) => {
                let $s = Pin::new($s);
                $e
            }
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        forward!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        forward!(self, s => s.poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        forward!(self, s => s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(s) => s.is_write_vectored(),
            MaybeTlsStream::ClientTls(s) => s.is_write_vectored(),
            MaybeTlsStream::ServerTls(s) => s.is_write_vectored(),
            MaybeTlsStream::ClientTlsInTls(s) => s.is_write_vectored(),
            MaybeTlsStream::Boxed(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self, s => s.poll_shutdown(cx))
    }
}

pub(crate) fn server_name(host: &str) -> io::Result<rustls::pki_types::ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid TLS server name {host:?}: {e}"),
        )
    })
}

/// A client TLS config that accepts any server certificate, for development
/// against self-signed certificates (`wsbolt connect --insecure`). It gives
/// no protection against an active attacker: never use it in production.
pub fn insecure_client_config() -> Arc<rustls::ClientConfig> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    // Signatures are still checked: only the certificate chain is not.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
