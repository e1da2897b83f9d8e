//! What the CLI tests share: an in-process `wsbolt serve`, and
//! the command run as a user runs it, in an environment without the
//! developer's proxy settings.
#![allow(dead_code)]

pub mod cluster;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub const WSBOLT: &str = env!("CARGO_BIN_EXE_wsbolt");

/// A `wsbolt serve` in this process on a free port; its `ws://` base URL.
pub async fn start_server() -> String {
    let config = wsbolt_server::ServeConfig::default().listen("127.0.0.1:0".parse().unwrap());
    let server = wsbolt_server::Server::bind(config).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending()));
    format!("ws://{addr}")
}

/// `wsbolt` with no proxy variables but those in `env`.
pub fn wsbolt(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(WSBOLT);
    for k in wsbolt::proxy::VARIABLES {
        cmd.env_remove(k).env_remove(k.to_ascii_uppercase());
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// Runs `wsbolt connect ARGS` with `env` and `stdin` piped in; gives the
/// exit status, stdout and stderr.
pub async fn connect_with_env(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> (i32, String, String) {
    let mut child = wsbolt(env)
        .arg("connect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `wsbolt connect ARGS` with `stdin`, no proxy.
pub async fn connect(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    connect_with_env(args, &[], stdin).await
}
