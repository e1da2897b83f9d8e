//! `wsbolt serve --config FILE` and `--print-config`. A config file's keys
//! are the flags' long names with the flags' meaning: the file is read
//! through the flags' own definition (the same parsers, ranges and checks),
//! so the two cannot disagree, and `--print-config` writes every flag back
//! as a file that `--config` reads to the same settings.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command, ValueHint};
use wsbolt_server::{ServeConfig, SlowConsumer};

/// How `wsbolt serve` logs (its `log` and `log-format` settings, which are
/// not the server library's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Logging {
    /// The filter (`RUST_LOG` overrides it).
    pub filter: String,
    /// One JSON object per line instead of text.
    pub json: bool,
}

/// Flags that make no sense inside a file.
const NOT_IN_A_FILE: &[&str] = &["config", "print-config", "help"];

/// The flags a file may set, in `--help` order.
pub(crate) fn settable(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments()
        .filter(|a| a.get_long().is_some_and(|l| !NOT_IN_A_FILE.contains(&l)))
}

/// The file's settings as command-line arguments for `cmd` (`--name=value`),
/// relative paths resolved against the file's folder.
///
/// # Errors
///
/// The file cannot be read or is not TOML; a key is not a flag (the message
/// names the nearest one); a value has the wrong kind for its flag.
pub(crate) fn args_from_file(cmd: &Command, path: &Path) -> Result<Vec<String>, String> {
    let at = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{at}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e| format!("{at}: {e}"))?;
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let folder = std::path::absolute(folder).map_err(|e| format!("{at}: {e}"))?;
    let mut out = Vec::new();
    for (key, value) in &table {
        let Some(arg) = settable(cmd).find(|a| a.get_long() == Some(key.as_str())) else {
            return Err(unknown_key(cmd, &at, key));
        };
        match arg.get_action() {
            ArgAction::SetTrue => match value {
                toml::Value::Boolean(true) => out.push(format!("--{key}")),
                toml::Value::Boolean(false) => {}
                _ => return Err(format!("{at}: {key} takes true or false")),
            },
            ArgAction::Append => {
                let items = match value {
                    toml::Value::Array(items) => items.as_slice(),
                    one => std::slice::from_ref(one),
                };
                for item in items {
                    out.push(format!("--{key}={}", scalar(&at, key, item, arg, &folder)?));
                }
            }
            _ => out.push(format!("--{key}={}", scalar(&at, key, value, arg, &folder)?)),
        }
    }
    Ok(out)
}

/// One value as the flag would take it.
fn scalar(at: &str, key: &str, value: &toml::Value, arg: &Arg, folder: &Path) -> Result<String, String> {
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        _ => return Err(format!("{at}: {key} takes a string or a number")),
    };
    if is_path(arg) && Path::new(&text).is_relative() {
        return Ok(folder.join(text).display().to_string());
    }
    Ok(text)
}

fn is_path(arg: &Arg) -> bool {
    matches!(
        arg.get_value_hint(),
        ValueHint::FilePath | ValueHint::DirPath | ValueHint::AnyPath
    )
}

/// "unknown key" with the nearest flag name, when one is near.
fn unknown_key(cmd: &Command, at: &str, key: &str) -> String {
    if NOT_IN_A_FILE.contains(&key) {
        return format!("{at}: {key} cannot be set in a config file");
    }
    let nearest = settable(cmd)
        .filter_map(|a| a.get_long())
        .map(|name| (distance(key, name), name))
        .min();
    match nearest {
        Some((d, name)) if d <= key.len().max(3) / 2 + 1 || name.contains(key) || key.contains(name) => {
            format!("{at}: unknown key {key:?}; did you mean {name:?}? (keys are the flags' names)")
        }
        _ => format!("{at}: unknown key {key:?} (keys are the flags' names: see wsbolt serve --help)"),
    }
}

/// Levenshtein distance between two short ASCII names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + usize::from(ca != cb));
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The effective settings as a config file: every flag of `cmd` that a file
/// may set, in `--help` order (unset ones as comments), paths absolute.
///
/// # Panics
///
/// When a flag has no line here: adding a flag means adding its line (the
/// tests walk every flag).
pub(crate) fn print(cmd: &Command, c: &ServeConfig, log: &Logging) -> String {
    let mut out = String::from("# wsbolt serve --print-config: the effective settings (keys are the flags' names)\n");
    for arg in settable(cmd) {
        let key = arg.get_long().expect("settable flags are long");
        let value = value_of(key, c, log).unwrap_or_else(|| panic!("--print-config has no line for --{key}"));
        match value {
            Some(v) => writeln!(out, "{key} = {v}"),
            None => writeln!(out, "# {key} (not set)"),
        }
        .expect("writing to a String");
    }
    out
}

/// The TOML value of flag `key` (`Some(None)` when it is unset), or `None`
/// for a flag this function does not know.
fn value_of(key: &str, c: &ServeConfig, log: &Logging) -> Option<Option<String>> {
    let s = |v: &str| Some(quote(v));
    let n = |v: u64| Some(v.to_string());
    let path = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| quote(&std::path::absolute(p).unwrap_or(p.clone()).display().to_string()))
    };
    Some(match key {
        "listen" => s(&c.listen.to_string()),
        "max-message-size" => n(c.max_message_size as u64),
        "handshake-timeout" => n(c.handshake_timeout),
        "ping-interval" => n(c.ping_interval),
        "ping-timeout" => n(c.ping_timeout),
        "no-http2" => Some((!c.http2).to_string()),
        "no-deflate" => Some((!c.deflate).to_string()),
        "deflate-no-context-takeover" => Some(c.deflate_no_context_takeover.to_string()),
        "deflate-level" => n(u64::from(c.deflate_level)),
        "deflate-window-bits" => n(u64::from(c.deflate_window_bits)),
        "max-connections" => n(c.max_connections as u64),
        "max-connections-per-ip" => n(c.max_connections_per_ip as u64),
        "allow-origin" => Some(format!(
            "[{}]",
            c.allow_origin.iter().map(|o| quote(o)).collect::<Vec<_>>().join(", ")
        )),
        "web-root" => path(&c.web_root),
        "handlers" => path(&c.handlers),
        "handlers-binary" => Some(c.handlers_binary.to_string()),
        "max-handler-processes" => n(c.max_handler_processes as u64),
        "max-outbound-queue" => n(c.max_outbound_queue as u64),
        "slow-consumer" => s(match c.slow_consumer {
            SlowConsumer::Close1013 => "close1013",
            _ => "close1008",
        }),
        "write-timeout" => n(c.write_timeout),
        "engine-threads" => n(c.engine_threads as u64),
        "tls-cert" => path(&c.tls_cert),
        "tls-key" => path(&c.tls_key),
        "tls-self-signed" => Some(c.tls_self_signed.to_string()),
        "shutdown-grace" => n(c.shutdown_grace),
        "redis" => c.redis.as_deref().map(quote),
        "redis-required" => Some(c.redis_required.to_string()),
        "redis-prefix" => s(&c.redis_prefix),
        "redis-presence-timeout" => n(c.redis_presence_timeout),
        "redis-stream-length" => n(c.redis_stream_length as u64),
        "redis-outbox-limit" => n(c.redis_outbox_limit as u64),
        "rooms-history-size" => n(c.rooms_history_size as u64),
        "rooms-history-age" => n(c.rooms_history_age),
        "rooms-history-memory" => n(c.rooms_history_memory as u64),
        "rooms-max-subscriptions" => n(c.rooms_max_subscriptions as u64),
        "rooms-token-key" => path(&c.rooms_token_key),
        "rooms-token-grace" => n(c.rooms_token_grace),
        "log" => s(&log.filter),
        "log-format" => s(if log.json { "json" } else { "text" }),
        "access-log" => Some(c.access_log.to_string()),
        _ => return None,
    })
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => write!(out, "\\u{:04X}", c as u32).expect("writing to a String"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_near_a_flag_are_suggested() {
        assert_eq!(distance("deflate", "no-deflate"), 3);
        let cmd = crate::serve::command();
        let msg = unknown_key(&cmd, "f.toml", "deflate");
        assert!(msg.contains("did you mean \"no-deflate\""), "{msg}");
        let msg = unknown_key(&cmd, "f.toml", "max-conections");
        assert!(msg.contains("did you mean \"max-connections\""), "{msg}");
        let msg = unknown_key(&cmd, "f.toml", "zzzzzzzzzzzzzz");
        assert!(!msg.contains("did you mean"), "{msg}");
        assert!(unknown_key(&cmd, "f.toml", "config").contains("cannot be set in a config file"));
    }

    #[test]
    fn strings_are_quoted_for_toml() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
        let parsed: toml::Table = format!("k = {}", quote("a\"b\\c\n")).parse().unwrap();
        assert_eq!(parsed["k"].as_str(), Some("a\"b\\c\n"));
    }
}
