//! `wsbolt serve`'s flags and config files: one definition for both.

use super::*;

/// A value other than the default for every flag a file may set, as a
/// command-line value and as a TOML value (`None` for a switch).
const SAMPLES: &[(&str, Option<&str>, &str)] = &[
    ("listen", Some("127.0.0.1:1"), "\"127.0.0.1:1\""),
    ("max-message-size", Some("1234"), "1234"),
    ("handshake-timeout", Some("3"), "3"),
    ("ping-interval", Some("4"), "4"),
    ("ping-timeout", Some("5"), "5"),
    ("no-http2", None, "true"),
    ("no-deflate", None, "true"),
    ("deflate-no-context-takeover", None, "true"),
    ("deflate-level", Some("2"), "2"),
    ("deflate-window-bits", Some("10"), "10"),
    ("max-connections", Some("7"), "7"),
    ("max-connections-per-ip", Some("8"), "8"),
    ("allow-origin", Some("https://x.example"), "[\"https://x.example\"]"),
    ("web-root", Some("/srv/www"), "\"/srv/www\""),
    ("handlers", Some("/srv/handlers"), "\"/srv/handlers\""),
    ("handlers-binary", None, "true"),
    ("max-handler-processes", Some("9"), "9"),
    ("max-outbound-queue", Some("10"), "10"),
    ("slow-consumer", Some("close1013"), "\"close1013\""),
    ("write-timeout", Some("11"), "11"),
    ("engine-threads", Some("19"), "19"),
    ("tls-cert", Some("/srv/c.pem"), "\"/srv/c.pem\""),
    ("tls-key", Some("/srv/k.pem"), "\"/srv/k.pem\""),
    ("tls-self-signed", None, "true"),
    ("shutdown-grace", Some("12"), "12"),
    ("redis", Some("redis://127.0.0.1:1"), "\"redis://127.0.0.1:1\""),
    ("redis-required", None, "true"),
    ("redis-prefix", Some("p"), "\"p\""),
    ("redis-presence-timeout", Some("13"), "13"),
    ("redis-stream-length", Some("14"), "14"),
    ("redis-outbox-limit", Some("15"), "15"),
    ("rooms-history-size", Some("16"), "16"),
    ("rooms-history-age", Some("17"), "17"),
    ("rooms-history-memory", Some("18"), "18"),
    ("rooms-max-subscriptions", Some("19"), "19"),
    ("rooms-token-key", Some("/srv/jwt.pem"), "\"/srv/jwt.pem\""),
    ("rooms-token-grace", Some("20"), "20"),
    ("log", Some("debug"), "\"debug\""),
    ("log-format", Some("json"), "\"json\""),
    ("access-log", None, "true"),
];

fn printed(args: &[String]) -> String {
    let m = command()
        .try_get_matches_from(std::iter::once("serve".to_string()).chain(args.iter().cloned()))
        .unwrap();
    let (config, log) = from_matches(&m).unwrap().effective().unwrap();
    config_file::print(&command(), &config, &log)
}

fn file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("wsbolt-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Every flag: set on the command line it changes the effective settings;
/// set in a file it means the same; and `--print-config` reads back to
/// the same settings.
#[test]
fn every_flag_is_a_config_key_of_the_same_meaning_and_round_trips() {
    let cmd = command();
    let flags: Vec<&str> = config_file::settable(&cmd).filter_map(|a| a.get_long()).collect();
    let sampled: Vec<&str> = SAMPLES.iter().map(|s| s.0).collect();
    assert_eq!(flags, sampled, "every flag needs a sample here, in --help order");
    let defaults = printed(&[]);
    for (i, (flag, cli, toml)) in SAMPLES.iter().enumerate() {
        let mut args = vec![format!("--{flag}")];
        args.extend(cli.map(str::to_string));
        let by_flag = printed(&args);
        assert_ne!(by_flag, defaults, "--{flag} changed nothing");
        let path = file(&format!("{i}.toml"), &format!("{flag} = {toml}\n"));
        let by_file = printed(&["--config".into(), path]);
        assert_eq!(by_file, by_flag, "{flag} in a file means something else than --{flag}");
        let again = file(&format!("{i}.printed.toml"), &by_flag);
        assert_eq!(
            printed(&["--config".into(), again]),
            by_flag,
            "{flag} does not round-trip"
        );
    }
    // All of them at once, too.
    let all = file(
        "all.toml",
        &SAMPLES
            .iter()
            .map(|(f, _, t)| format!("{f} = {t}\n"))
            .collect::<String>(),
    );
    let printed_all = printed(&["--config".into(), all]);
    let again = file("all.printed.toml", &printed_all);
    assert_eq!(printed(&["--config".into(), again]), printed_all);
}

/// Flags win over the file; relative paths in a file are relative to its
/// folder; a key that is no flag names the nearest one.
#[test]
fn flags_win_paths_follow_the_file_and_unknown_keys_are_named() {
    let path = file("mixed.toml", "max-connections = 5\nweb-root = \"www\"\n");
    let folder = std::path::Path::new(&path).parent().unwrap().to_path_buf();
    let m = command()
        .try_get_matches_from(["serve", "--config", &path, "--max-connections", "6"])
        .unwrap();
    let (c, _) = from_matches(&m).unwrap().effective().unwrap();
    assert_eq!(c.max_connections, 6);
    assert_eq!(c.web_root, Some(folder.join("www")));
    let bad = file("bad.toml", "deflate = false\n");
    let m = command().try_get_matches_from(["serve", "--config", &bad]).unwrap();
    let e = from_matches(&m).unwrap().effective().unwrap_err();
    assert!(
        e.contains("unknown key \"deflate\"; did you mean \"no-deflate\"?"),
        "{e}"
    );
    let range = file("range.toml", "deflate-level = 12\n");
    let m = command().try_get_matches_from(["serve", "--config", &range]).unwrap();
    let e = from_matches(&m).unwrap().effective().unwrap_err();
    assert!(e.contains("12 is not in 1..=9"), "{e}");
}
