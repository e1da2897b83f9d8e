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
