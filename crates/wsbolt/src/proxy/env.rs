//! Proxy discovery from environment variables, and `no_proxy` matching.

use std::collections::HashMap;
use std::net::IpAddr;

use super::Proxy;
use crate::error::Result;
use crate::target::Target;

/// A snapshot of the proxy variables of an environment (names compared
/// without regard to case; see [`ProxySetting::FromEnv`](super::ProxySetting::FromEnv)
/// for the order they are consulted in).
///
/// ```
/// use wsbolt::proxy::ProxyEnv;
/// let env = ProxyEnv::from_vars([
///     ("https_proxy", "http://proxy.internal:3128"),
///     ("no_proxy", "localhost,.corp.example,10.0.0.0/8"),
/// ]);
/// let target = wsbolt::Target::parse("wss://chat.example.org/ws")?;
/// assert_eq!(env.proxy_for(&target)?.unwrap().to_string(), "http://proxy.internal:3128");
/// let inside = wsbolt::Target::parse("wss://build.corp.example/ws")?;
/// assert!(env.proxy_for(&inside)?.is_none());
/// # Ok::<_, wsbolt::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    /// Lower-cased name → value, the lower-case spelling winning.
    vars: HashMap<String, String>,
}

/// Every variable [`ProxyEnv`] reads, in lower case (each is also read in
/// upper case): to clear a child process's environment, say.
pub const VARIABLES: [&str; 6] = [
    "wss_proxy",
    "ws_proxy",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    NO_PROXY,
];

/// The variables consulted, by scheme, in order.
const FOR_WSS: [&str; 3] = ["wss_proxy", "https_proxy", "all_proxy"];
const FOR_WS: [&str; 3] = ["ws_proxy", "http_proxy", "all_proxy"];
const NO_PROXY: &str = "no_proxy";

impl ProxyEnv {
    /// The current process's environment.
    pub fn from_process() -> ProxyEnv {
        let cgi = std::env::var_os("REQUEST_METHOD").is_some();
        ProxyEnv::collect(
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
            cgi,
        )
    }

    /// The given variables (for tests, or a program that keeps its own
    /// environment).
    pub fn from_vars<I, K, V>(vars: I) -> ProxyEnv
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        ProxyEnv::collect(
            vars.into_iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string())),
            false,
        )
    }

    fn collect(vars: impl Iterator<Item = (String, String)>, cgi: bool) -> ProxyEnv {
        let mut map = HashMap::new();
        for (name, value) in vars {
            let lower = name.to_ascii_lowercase();
            if !lower.ends_with("_proxy") || value.trim().is_empty() || (cgi && name == "HTTP_PROXY") {
                continue;
            }
            // The lower-case spelling replaces any other; another never
            // replaces what is there.
            if name == lower {
                map.insert(lower, value);
            } else {
                map.entry(lower).or_insert(value);
            }
        }
        ProxyEnv { vars: map }
    }

    /// The proxy for `target`, or `None` when no variable names one or
    /// `no_proxy` matches the target.
    ///
    /// # Errors
    ///
    /// [`ProxyErrorKind::Config`](super::ProxyErrorKind::Config) when the
    /// chosen variable holds a URL that cannot be used.
    pub fn proxy_for(&self, target: &Target) -> Result<Option<Proxy>> {
        if let Some(list) = self.vars.get(NO_PROXY) {
            if NoProxy::parse(list).matches(&target.host, target.port) {
                return Ok(None);
            }
        }
        let names = if target.secure { FOR_WSS } else { FOR_WS };
        match names.iter().find_map(|n| self.vars.get(*n)) {
            Some(url) => Proxy::parse(url.trim()).map(Some),
            None => Ok(None),
        }
    }
}

/// A `no_proxy` list: comma- or space-separated entries, each one of
/// - `*`: every host;
/// - a host name: that host and every name under it (`example.com` and
///   `.example.com` both match `example.com` and `a.example.com`);
/// - an IP address (`10.1.2.3`, `::1`, `[::1]`) or a CIDR range
///   (`10.0.0.0/8`, `fd00::/8`): addresses written as such in the URL (names
///   are not resolved to check them);
/// - any of these with `:port`: only that port.
///
/// Names are compared without regard to case. `localhost` is not implied.
#[derive(Debug, Clone, Default)]
pub struct NoProxy {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    pattern: Pattern,
    port: Option<u16>,
}

#[derive(Debug, Clone)]
enum Pattern {
    Any,
    Name(String),
    Net(IpAddr, u8),
}

impl NoProxy {
    /// Parses a list; entries that mean nothing are ignored.
    pub fn parse(list: &str) -> NoProxy {
        let entries = list
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .filter_map(parse_entry)
            .collect();
        NoProxy { entries }
    }

    /// Whether `host` (a name or an IP literal, IPv6 with or without
    /// brackets) at `port` is reached directly.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.');
        let ip = host.parse::<IpAddr>().ok();
        let host = host.to_ascii_lowercase();
        self.entries.iter().any(|e| {
            if e.port.is_some_and(|p| p != port) {
                return false;
            }
            match &e.pattern {
                Pattern::Any => true,
                Pattern::Name(n) => {
                    host == *n || (host.ends_with(n.as_str()) && host[..host.len() - n.len()].ends_with('.'))
                }
                Pattern::Net(net, bits) => ip.is_some_and(|ip| in_net(ip, *net, *bits)),
            }
        })
    }
}

fn parse_entry(e: &str) -> Option<Entry> {
    if e == "*" {
        return Some(Entry {
            pattern: Pattern::Any,
            port: None,
        });
    }
    // A bare IPv6 address (with or without a prefix length) has colons of
    // its own: only a bracketed one can carry a port.
    let (addr, port) = if let Some(rest) = e.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() || after.starts_with('/') => None,
            None => return None,
        };
        let prefix = after.strip_prefix('/').map(|b| format!("/{b}")).unwrap_or_default();
        (format!("{inside}{prefix}"), port)
    } else if e.matches(':').count() == 1 {
        let (h, p) = e.split_once(':')?;
        (h.to_string(), Some(p.parse().ok()?))
    } else {
        (e.to_string(), None)
    };
    let pattern = if let Some((ip, bits)) = addr.split_once('/') {
        let ip: IpAddr = ip.parse().ok()?;
        let bits: u8 = bits.parse().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if bits > max {
            return None;
        }
        Pattern::Net(ip, bits)
    } else if let Ok(ip) = addr.parse::<IpAddr>() {
        Pattern::Net(ip, if ip.is_ipv4() { 32 } else { 128 })
    } else {
        let name = addr
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .trim_end_matches('.');
        if name.is_empty() {
            return None;
        }
        Pattern::Name(name.to_ascii_lowercase())
    };
    Some(Entry { pattern, port })
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            prefix_eq(u128::from(u32::from(a)) << 96, u128::from(u32::from(n)) << 96, bits)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => prefix_eq(u128::from(a), u128::from(n), bits),
        // An IPv4-mapped IPv6 address is the IPv4 address it maps.
        (IpAddr::V6(a), IpAddr::V4(_)) => a.to_ipv4_mapped().is_some_and(|v4| in_net(IpAddr::V4(v4), net, bits)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

fn prefix_eq(a: u128, b: u128, bits: u8) -> bool {
    bits == 0 || (a ^ b) >> (128 - u32::from(bits)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    fn chosen(env: &ProxyEnv, url: &str) -> Option<String> {
        env.proxy_for(&target(url)).unwrap().map(|p| p.to_string())
    }

    #[test]
    fn scheme_specific_variables_come_first_then_http_then_all() {
        let env = ProxyEnv::from_vars([
            ("wss_proxy", "http://a:1"),
            ("https_proxy", "http://b:1"),
            ("http_proxy", "http://c:1"),
            ("all_proxy", "socks5h://d:1"),
        ]);
        assert_eq!(chosen(&env, "wss://x/").as_deref(), Some("http://a:1"));
        assert_eq!(chosen(&env, "ws://x/").as_deref(), Some("http://c:1"));
        let env = ProxyEnv::from_vars([("https_proxy", "http://b:1"), ("all_proxy", "socks5h://d:1")]);
        assert_eq!(chosen(&env, "wss://x/").as_deref(), Some("http://b:1"));
        assert_eq!(chosen(&env, "ws://x/").as_deref(), Some("socks5h://d:1"));
        assert_eq!(chosen(&ProxyEnv::from_vars([("HOME", "/root")]), "ws://x/"), None);
    }

    #[test]
    fn lower_case_wins_and_upper_case_is_a_fallback() {
        let env = ProxyEnv::from_vars([("HTTP_PROXY", "http://upper:1"), ("http_proxy", "http://lower:1")]);
        assert_eq!(chosen(&env, "ws://x/").as_deref(), Some("http://lower:1"));
        let env = ProxyEnv::from_vars([("http_proxy", "http://lower:1"), ("HTTP_PROXY", "http://upper:1")]);
        assert_eq!(chosen(&env, "ws://x/").as_deref(), Some("http://lower:1"));
        let env = ProxyEnv::from_vars([("WS_PROXY", "http://upper:1"), ("NO_PROXY", "x")]);
        assert_eq!(chosen(&env, "ws://y/").as_deref(), Some("http://upper:1"));
        assert_eq!(chosen(&env, "ws://x/"), None);
        // Under CGI, HTTP_PROXY may come from a request header: ignored.
        let env = ProxyEnv::collect(
            [("HTTP_PROXY".to_string(), "http://evil:1".to_string())].into_iter(),
            true,
        );
        assert_eq!(chosen(&env, "ws://x/"), None);
    }

    #[test]
    fn a_bad_proxy_url_in_the_environment_is_an_error_not_a_direct_connection() {
        let env = ProxyEnv::from_vars([("http_proxy", "gopher://x")]);
        assert!(env.proxy_for(&target("ws://x/")).is_err());
    }

    #[test]
    fn no_proxy_names_suffixes_ips_cidrs_ports_and_star() {
        let np = NoProxy::parse(
            "example.com, .corp.internal,*.dev.test 10.0.0.0/8,192.168.1.7,[::1],fd00::/8,api.local:8443",
        );
        assert!(np.matches("example.com", 80));
        assert!(np.matches("WWW.Example.COM", 80));
        assert!(!np.matches("notexample.com", 80));
        assert!(np.matches("corp.internal", 1) && np.matches("a.b.corp.internal", 1));
        assert!(np.matches("x.dev.test", 1));
        assert!(np.matches("10.200.3.4", 1) && !np.matches("11.0.0.1", 1));
        assert!(np.matches("192.168.1.7", 1) && !np.matches("192.168.1.8", 1));
        assert!(np.matches("::1", 1) && np.matches("[::1]", 1));
        assert!(np.matches("fd12::5", 1) && !np.matches("fe80::1", 1));
        assert!(np.matches("::ffff:10.1.1.1", 1));
        assert!(np.matches("api.local", 8443) && !np.matches("api.local", 443));
        assert!(!np.matches("localhost", 80));
        assert!(NoProxy::parse("*").matches("anything", 1));
        assert!(NoProxy::parse("[::1]:9000").matches("::1", 9000));
        assert!(!NoProxy::parse("[::1]:9000").matches("::1", 9001));
        // Nonsense entries are ignored, not matched.
        let junk = NoProxy::parse("10.0.0.0/99, :80, [::1, ., ,");
        assert!(!junk.matches("10.0.0.1", 80) && !junk.matches("::1", 80));
    }
}
