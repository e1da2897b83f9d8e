//! The command itself: shell completions and manual pages.

mod common;

fn run(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(common::WSBOLT).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn completions_cover_every_command_in_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, script) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        for word in ["serve", "connect", "bench", "print-config", "follow"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    assert_eq!(run(&["completions", "tcsh"]).0, 2);
}

#[test]
fn manual_pages_for_the_command_and_each_subcommand() {
    let (code, page) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(page.starts_with(".ie") || page.contains(".TH wsbolt 1"), "{page}");
    for sub in ["serve", "connect", "bench"] {
        assert!(page.contains(sub), "wsbolt(1) does not name {sub}");
    }
    let (code, page) = run(&["man", "serve"]);
    assert_eq!(code, 0);
    assert!(
        page.contains(".TH wsbolt-serve 1") && page.contains("print\\-config"),
        "{page}"
    );
    let (code, page) = run(&["man", "connect"]);
    assert_eq!(code, 0);
    assert!(
        page.contains("Exit status"),
        "wsbolt-connect(1) lacks the exit statuses"
    );
    assert_eq!(run(&["man", "nope"]).0, 2);
}

/// `--log-format json`: every log line is one JSON object a log shipper can
/// read (level, message, time), the start-up lines included.
#[test]
fn serve_logs_one_json_object_per_line() {
    use std::io::{BufRead, BufReader};
    let mut server = std::process::Command::new(common::WSBOLT)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log",
            "info",
        ])
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"] == "INFO", "{line}");
        let message = v["fields"]["message"].as_str().unwrap_or_default().to_string();
        seen.push(message.clone());
        if message.starts_with("listening on") {
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        seen.iter().any(|m| m.starts_with("routes: /echo (built-in)")),
        "{seen:?}"
    );
    assert!(
        seen.last()
            .is_some_and(|m| m.starts_with("listening on ws://127.0.0.1:")),
        "{seen:?}"
    );
}
