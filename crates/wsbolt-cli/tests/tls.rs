//! Trusting a private CA from the command line: `--cacert FILE`, and
//! `SSL_CERT_FILE` as curl honours it; without either, a clear certificate
//! error with its own exit status.

mod common;

use common::connect_with_env;

/// A `wsbolt serve` with TLS whose certificate a fresh private CA signed;
/// gives its port and the CA's PEM file.
async fn serve_with_private_ca(dir: &std::path::Path) -> (u16, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let (cert_file, key_file, ca_file) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("ca.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    std::fs::write(&ca_file, ca.pem()).unwrap();
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
