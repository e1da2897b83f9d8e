//! Trusting a private CA from the command line: `--cacert FILE`, and
//! `SSL_CERT_FILE` as curl honours it; without either, a clear certificate
//! error with its own exit status.

mod common;

use std::time::Duration;

use common::connect_with_env;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncBufReadExt;

/// A fresh private CA and a certificate for localhost it signed: (CA PEM,
/// certificate PEM, key PEM).
fn private_ca() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// A client that trusts only `ca_pem`.
fn trusting(ca_pem: &str) -> wsbolt::ClientConfig {
    wsbolt::ClientConfig::default()
        .tls(Some(
            wsbolt::tls::client_config_with_ca_pem(ca_pem.as_bytes(), false).unwrap(),
        ))
        .proxy(wsbolt::proxy::ProxySetting::Direct)
}

/// A `wsbolt serve` with TLS whose certificate a fresh private CA signed;
/// gives its port and the CA's PEM file.
async fn serve_with_private_ca(dir: &std::path::Path) -> (u16, std::path::PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (ca, cert, key) = private_ca();
    let (cert_file, key_file, ca_file) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("ca.pem"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    std::fs::write(&ca_file, ca).unwrap();
    let config = wsbolt_server::ServeConfig::default()
        .listen("127.0.0.1:0".parse().unwrap())
        .tls_cert(Some(cert_file))
        .tls_key(Some(key_file));
    let server = wsbolt_server::Server::bind(config).await.unwrap();
    let port = server.local_addr().unwrap().port();
    tokio::spawn(server.run(std::future::pending()));
    (port, ca_file)
}

#[tokio::test]
async fn a_private_ca_is_trusted_with_cacert_or_ssl_cert_file() {
    let dir = std::env::temp_dir().join(format!("wsbolt-cli-ca-{}", std::process::id()));
    let (port, ca) = serve_with_private_ca(&dir).await;
    let url = format!("wss://localhost:{port}/echo");
    let ca = ca.display().to_string();
    // Neither: the certificate is refused, exit 6, and the message says what to do.
    let (code, _, err) = connect_with_env(&[&url], &[("SSL_CERT_FILE", "/nonexistent")], b"x\n").await;
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("--cacert"), "{err}");
    // --cacert.
    let (code, out, err) = connect_with_env(&["--cacert", &ca, &url], &[], b"over tls\n").await;
    assert_eq!((code, out.as_str()), (0, "over tls\n"), "{err}");
    // SSL_CERT_FILE, as curl honours it.
    let (code, out, err) = connect_with_env(&[&url], &[("SSL_CERT_FILE", &ca)], b"via env\n").await;
    assert_eq!((code, out.as_str()), (0, "via env\n"), "{err}");
    // A --cacert that is not there: a usage error naming it.
    let (code, _, err) = connect_with_env(&["--cacert", "/nonexistent.pem", &url], &[], b"").await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cacert /nonexistent.pem"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Certificate rotation: after SIGHUP a new connection gets the new
/// certificate, a connection opened before keeps working, and a broken new
/// pair leaves the last good one serving. SIGHUP never ends the server.
#[tokio::test]
async fn sighup_rotates_the_certificate_without_closing_a_connection() {
    let dir = std::env::temp_dir().join(format!("wsbolt-cli-rotate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca1, cert1, key1) = private_ca();
    let (ca2, cert2, key2) = private_ca();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, &cert1).unwrap();
    std::fs::write(&key_file, &key1).unwrap();
    let mut server = common::wsbolt(&[])
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "info", "--tls-cert"])
        .arg(&cert_file)
        .arg("--tls-key")
        .arg(&key_file)
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = tokio::io::BufReader::new(server.stderr.take().unwrap()).lines();
    let mut wait_for = async |want: &str| -> String {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let line = log.next_line().await.unwrap().expect("the server's log ended");
                if line.contains(want) {
                    return line;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no log line with {want:?}"))
    };
    let listening = wait_for("listening on").await;
    let port = listening
        .split("127.0.0.1:")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let url = format!("wss://localhost:{port}/echo");
    let hup = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };

    let (mut before, _) = wsbolt::connect_with_config(&url, &trusting(&ca1)).await.unwrap();
    before.send(wsbolt::Message::text("one")).await.unwrap();
    assert_eq!(before.next().await.unwrap().unwrap(), wsbolt::Message::text("one"));

    std::fs::write(&cert_file, &cert2).unwrap();
    std::fs::write(&key_file, &key2).unwrap();
    hup(server.id().unwrap());
    wait_for("SIGHUP: reloaded the TLS certificate").await;
    let (mut after, _) = wsbolt::connect_with_config(&url, &trusting(&ca2)).await.unwrap();
    after.send(wsbolt::Message::text("two")).await.unwrap();
    assert_eq!(after.next().await.unwrap().unwrap(), wsbolt::Message::text("two"));
    let old = wsbolt::connect_with_config(&url, &trusting(&ca1)).await;
    assert!(
        matches!(old, Err(wsbolt::Error::Tls(_))),
        "the old certificate is still served"
    );
    before.send(wsbolt::Message::text("still here")).await.unwrap();
    assert_eq!(
        before.next().await.unwrap().unwrap(),
        wsbolt::Message::text("still here")
    );

    std::fs::write(&cert_file, "not a certificate").unwrap();
    hup(server.id().unwrap());
    wait_for("SIGHUP: kept the TLS certificate already served").await;
    let (mut last, _) = wsbolt::connect_with_config(&url, &trusting(&ca2)).await.unwrap();
    last.send(wsbolt::Message::text("three")).await.unwrap();
    assert_eq!(last.next().await.unwrap().unwrap(), wsbolt::Message::text("three"));
    assert!(server.try_wait().unwrap().is_none(), "SIGHUP ended the server");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A private CA with a server certificate for localhost and a client
/// certificate: (CA PEM, (server certificate, key), (client certificate, key)).
fn mutual_ca() -> (String, (String, String), (String, String)) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    (ca.pem(), leaf("localhost"), leaf("client.example"))
}

/// An echo server that requires a client certificate signed by `ca_pem`.
async fn mutual_tls_echo(ca_pem: &str, cert_pem: &str, key_pem: &str) -> u16 {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = wsbolt::tls::provider();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
        .build()
        .unwrap();
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut ws) = wsbolt::accept(tls).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_data() && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_client_certificate_is_presented_with_cert_and_key() {
    let dir = std::env::temp_dir().join(format!("wsbolt-cli-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, (server_cert, server_key), (client_cert, client_key)) = mutual_ca();
    let port = mutual_tls_echo(&ca, &server_cert, &server_key).await;
    let (ca_file, cert_file, key_file) = (dir.join("ca.pem"), dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&ca_file, &ca).unwrap();
    std::fs::write(&cert_file, &client_cert).unwrap();
    std::fs::write(&key_file, &client_key).unwrap();
    let (ca, cert, key) = (
        ca_file.display().to_string(),
        cert_file.display().to_string(),
        key_file.display().to_string(),
    );
    let url = format!("wss://localhost:{port}/");
    // With the client certificate: the server lets it in.
    let (code, out, err) = connect_with_env(
        &["--cacert", &ca, "--cert", &cert, "--key", &key, &url],
        &[],
        b"mutual\n",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "mutual\n"), "{err}");
    // Without it: the server's alert is a TLS failure (exit 6) that says what to do.
    let (code, out, err) = connect_with_env(&["--cacert", &ca, &url], &[], b"anonymous\n").await;
    assert_eq!((code, out.as_str()), (6, ""), "{err}");
    assert!(
        err.contains("client certificate") && err.contains("--cert FILE --key FILE"),
        "{err}"
    );
    // --cert without --key is a usage error; a key that is not the
    // certificate's is refused before connecting.
    let (code, _, err) = connect_with_env(&["--cacert", &ca, "--cert", &cert, &url], &[], b"").await;
    assert_eq!(code, 2, "{err}");
    let (_, (_, other_key)) = (0, mutual_ca().2);
    std::fs::write(&key_file, other_key).unwrap();
    let (code, _, err) = connect_with_env(&["--cacert", &ca, "--cert", &cert, "--key", &key, &url], &[], b"").await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cert"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
