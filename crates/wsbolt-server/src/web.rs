//! Plain HTTP on the WebSocket port: `/metrics`, and static pages — the
//! demo pages built into the binary from `web/`, or the files of
//! `--web-root`. Only GET and HEAD (405 otherwise); 404 for anything else.

use std::path::{Component, Path, PathBuf};

/// The demo pages, compiled in.
const BUILTIN: &[(&str, &[u8])] = &[
    ("/index.html", include_bytes!("../web/index.html")),
    ("/echo.html", include_bytes!("../web/echo.html")),
    ("/chat.html", include_bytes!("../web/chat.html")),
    ("/chat.js", include_bytes!("../web/chat.js")),
    ("/style.css", include_bytes!("../web/style.css")),
];

/// Where pages come from.
#[derive(Debug)]
pub(crate) enum Web {
    /// The built-in demo pages.
    Builtin,
    /// A folder (canonical path).
    Root(PathBuf),
}

impl Web {
    /// Pages from `root`, or the built-in ones.
    pub(crate) fn new(root: Option<PathBuf>) -> Result<Web, String> {
        match root {
            None => Ok(Web::Builtin),
            Some(r) => {
                let c = r.canonicalize().map_err(|e| format!("web-root {}: {e}", r.display()))?;
                if !c.is_dir() {
                    return Err(format!("web-root {} is not a folder", r.display()));
                }
                Ok(Web::Root(c))
            }
        }
    }
}

/// The media type for a file name.
pub(crate) fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Percent-decodes a path; `None` if it decodes to something unsafe.
fn decode(path: &str) -> Option<String> {
    let s = wsbolt::http1::percent_decode(path)?;
    (!s.contains('\0') && !s.contains('\\')).then_some(s)
}

/// The file for a request path under `root`, if it exists and stays inside
/// `root` (no `..`, no symlink leading out).
pub(crate) fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let decoded = decode(path)?;
    let rel = Path::new(decoded.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) && !rel.as_os_str().is_empty() {
        return None;
    }
    let mut full = root.join(rel);
    if full.is_dir() {
        full = full.join("index.html");
    }
    let canonical = full.canonicalize().ok()?;
    (canonical.starts_with(root) && canonical.is_file()).then_some(canonical)
}

/// The answer to one plain HTTP request (hyper writes it): `own`, the
/// server's own page for this path if it has one (status, content type,
/// body), else a page of `web`.
pub(crate) async fn respond(
    method: &http::Method,
    path: &str,
    web: &Web,
    own: Option<(u16, &'static str, bytes::Bytes)>,
) -> http::Response<bytes::Bytes> {
    let head = method == http::Method::HEAD;
    let text = "text/plain; charset=utf-8";
    let (status, ctype, body): (u16, &str, bytes::Bytes) = if method != http::Method::GET && !head {
        (405, text, bytes::Bytes::from_static(b"method not allowed\n"))
    } else if let Some(page) = own {
        page
    } else {
        let not_found = (404, text, bytes::Bytes::from_static(b"not found\n"));
        match web {
            Web::Builtin => {
                let p = if path == "/" { "/index.html" } else { path };
                match BUILTIN.iter().find(|(name, _)| *name == p) {
                    Some((name, body)) => (200, content_type(name), bytes::Bytes::from_static(body)),
                    None => not_found,
                }
            }
            Web::Root(root) => match resolve(root, path) {
                Some(file) => match tokio::fs::read(&file).await {
                    Ok(body) => (200, content_type(&file.to_string_lossy()), body.into()),
                    Err(_) => not_found,
                },
                None => not_found,
            },
        }
    };
    let mut b = http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, ctype)
        .header(http::header::CONTENT_LENGTH, body.len());
    if status == 405 {
        b = b.header(http::header::ALLOW, "GET, HEAD");
    }
    // A HEAD answer has the GET answer's fields, without the body.
    let body = if head { bytes::Bytes::new() } else { body };
    b.body(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_refused() {
        let dir = std::env::temp_dir().join(format!("wsbolt-web-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.html"), "a").unwrap();
        std::fs::write(dir.join("sub/index.html"), "i").unwrap();
        let root = dir.canonicalize().unwrap();
        assert_eq!(resolve(&root, "/a.html"), Some(root.join("a.html")));
        assert_eq!(resolve(&root, "/sub/"), Some(root.join("sub/index.html")));
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/sub/../../x",
            "/a.html%00",
            "/..%5c..%5cx",
            "/nope.html",
            "/%zz",
        ] {
            assert_eq!(resolve(&root, bad), None, "{bad}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(content_type("x.js"), "text/javascript; charset=utf-8");
    }
}
