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
