//! The Origin policy: same-origin pages and clients that send no `Origin`
//! are allowed; other origins only if listed (`*` allows any).

/// Whether a request with `origin` and the `Host` field `host` may connect.
pub(crate) fn allowed(origin: Option<&str>, host: Option<&str>, allow: &[String]) -> bool {
    let Some(origin) = origin else { return true };
    if allow.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    // Same origin: the page was served by this server, so its origin's
    // host[:port] is the Host the browser connects to.
    let Ok(url) = url::Url::parse(origin) else { return false };
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let Some(host) = host else {
        return false;
    };
    let origin_authority = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return false,
    };
    let default_port = if url.scheme() == "https" { ":443" } else { ":80" };
    let host = host.to_ascii_lowercase();
    host == origin_authority || host.strip_suffix(default_port) == Some(origin_authority.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str) -> Option<&str> {
        Some(host)
    }

    #[test]
    fn policy() {
        let none: Vec<String> = vec![];
        assert!(allowed(None, req("localhost:9998"), &none));
        assert!(allowed(Some("http://localhost:9998"), req("localhost:9998"), &none));
        assert!(allowed(Some("http://example.com"), req("example.com:80"), &none));
        assert!(!allowed(Some("http://evil.example:9998"), req("localhost:9998"), &none));
        assert!(!allowed(Some("http://localhost:9999"), req("localhost:9998"), &none));
        assert!(!allowed(Some("null"), req("localhost:9998"), &none));
        assert!(allowed(
            Some("https://app.example"),
            req("localhost:9998"),
            &["https://app.example".into()]
        ));
        assert!(allowed(Some("http://anything"), req("localhost:9998"), &["*".into()]));
    }
}
