//! Real proxies as child processes: tinyproxy and microsocks (Debian
//! packages), each on a free loopback port, killed when dropped.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A proxy process, killed when dropped.
pub struct Peer {
    child: Child,
    pub addr: SocketAddr,
    _dir: Option<std::path::PathBuf>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self._dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(program: &str, args: &[String], addr: SocketAddr, dir: Option<std::path::PathBuf>) -> Peer {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} (install the Debian package: tests/proxy/run does)"));
    let peer = Peer { child, addr, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{program} did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
    peer
}

/// tinyproxy in the foreground, with `BasicAuth user password` if given.
pub fn tinyproxy(auth: Option<(&str, &str)>) -> Peer {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("wsbolt-tinyproxy-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut conf =
        format!("Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nAllow 127.0.0.1\nLogLevel Warning\n");
    if let Some((u, p)) = auth {
        conf.push_str(&format!("BasicAuth {u} {p}\n"));
    }
    let file = dir.join("tinyproxy.conf");
    std::fs::write(&file, conf).unwrap();
    let args = ["-d".to_string(), "-c".to_string(), file.display().to_string()];
    spawn("tinyproxy", &args, ([127, 0, 0, 1], port).into(), Some(dir))
}

/// microsocks, with `-u user -P password` if given.
pub fn microsocks(auth: Option<(&str, &str)>) -> Peer {
    let port = free_port();
    let mut args = vec![
        "-i".to_string(),
        "127.0.0.1".to_string(),
        "-p".to_string(),
        port.to_string(),
    ];
    if let Some((u, p)) = auth {
        args.extend(["-u".to_string(), u.to_string(), "-P".to_string(), p.to_string()]);
    }
    spawn("microsocks", &args, ([127, 0, 0, 1], port).into(), None)
}

/// nghttpx terminating TLS (a self-signed certificate for localhost) and
/// HTTP/2 on a free port, in front of the plain HTTP/1.1 `backend`: it turns
/// an RFC 8441 extended CONNECT into an HTTP/1.1 Upgrade.
pub fn nghttpx(backend: SocketAddr) -> Peer {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("wsbolt-nghttpx-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (key, crt) = (dir.join("key.pem"), dir.join("cert.pem"));
    std::fs::write(&key, cert.key_pair.serialize_pem()).unwrap();
    std::fs::write(&crt, cert.cert.pem()).unwrap();
    let args = vec![
        "--conf=/dev/null".to_string(),
        format!("--frontend=127.0.0.1,{port}"),
        format!("--backend=127.0.0.1,{};;proto=http/1.1", backend.port()),
        "--workers=1".to_string(),
        "--no-ocsp".to_string(),
        format!("--errorlog-file={}", dir.join("error.log").display()),
        key.display().to_string(),
        crt.display().to_string(),
    ];
    spawn("nghttpx", &args, ([127, 0, 0, 1], port).into(), Some(dir))
}
