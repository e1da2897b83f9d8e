//! What a handlers folder holds: the programs that answer at `/NAME`, and
//! the files that cannot, each with the reason, so that a file without its
//! run bit is reported at start and its 404 says why, instead of a silent
//! 404.

use std::path::Path;

/// A file of the handlers folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A program that answers at `/NAME`.
    Program(String),
    /// A file that cannot: its name and why.
    Unrunnable(String, String),
}

/// Whether `name` can be a route: one path segment of letters, digits, `-`,
/// `_` and `.`, not starting with `.`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Why the file at `path` cannot run as a handler, or `None` if it can: it
/// is a regular file with a run bit that starts as a program does (`#!` or
/// an ELF header).
pub(crate) fn why_not_runnable(path: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    if !meta.is_file() {
        return Some("not a file".into());
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Some("no run bit (chmod +x it)".into());
    }
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head));
    match n {
        Ok(n) if head[..n].starts_with(b"#!") || head[..n].starts_with(b"\x7fELF") => None,
        Ok(_) => Some("not a program (no #! line, not an executable binary)".into()),
        Err(e) => Some(format!("cannot be read: {e}")),
    }
}

/// Every visible file of `dir`, sorted by name.
pub(crate) fn survey(dir: &Path) -> Vec<Entry> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = read
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            if !valid_name(&name) {
                return Entry::Unrunnable(
                    name,
                    "its name cannot be a route (letters, digits, -, _ and . only)".into(),
                );
            }
            match why_not_runnable(&dir.join(&name)) {
                None => Entry::Program(name),
                Some(why) => Entry::Unrunnable(name, why),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_cannot_run_are_told_apart_with_the_reason() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("wsbolt-programs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("folder")).unwrap();
        let write = |name: &str, text: &[u8], mode: u32| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write("ok.py", b"#!/usr/bin/env python3\n", 0o755);
        write("norun.py", b"#!/usr/bin/env python3\n", 0o644);
        write("notes", b"just text", 0o755);
        write("bad name", b"#!/bin/sh\n", 0o755);
        write(".hidden", b"#!/bin/sh\n", 0o755);
        let found = survey(&dir);
        assert_eq!(
            found[0],
            Entry::Unrunnable(
                "bad name".into(),
                "its name cannot be a route (letters, digits, -, _ and . only)".into()
            )
        );
        assert_eq!(found[1], Entry::Unrunnable("folder".into(), "not a file".into()));
        assert_eq!(
            found[2],
            Entry::Unrunnable("norun.py".into(), "no run bit (chmod +x it)".into())
        );
        assert!(matches!(&found[3], Entry::Unrunnable(n, why) if n == "notes" && why.starts_with("not a program")));
        assert_eq!(found[4], Entry::Program("ok.py".into()));
        assert_eq!(found.len(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
