//! Where a plugin may send requests.
//!
//! The allowlist is the hosts the plugin declares (narrowed by `allow_hosts` when the
//! operator sets it) plus the host of a configured `base_url`. Loopback, private,
//! link-local and other non-public addresses are refused unless the operator named
//! the host (in `base_url` or `allow_hosts`), both for IP literals and for what a
//! host name resolves to (so DNS cannot point an allowed name at the LAN).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

/// Why a URL was refused. One consequence for all: the plugin's request fails with
/// `denied` (or the download fails the job); each message says what would allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The URL has no host.
    #[error("{0} has no host")]
    NoHost(String),
    /// `user:password@` in the URL.
    #[error("credentials in the URL are not allowed")]
    Credentials,
    /// The host is not on the allowlist.
    #[error("{0} is not on this plugin's allowlist")]
    NotAllowed(String),
    /// Not https, and the host is not the operator's.
    #[error("{scheme}:// to {host} is not allowed (https only, unless the config names the host)")]
    Scheme {
        /// The URL's scheme.
        scheme: String,
        /// The URL's host.
        host: String,
    },
    /// A private or local IP the operator did not name.
    #[error(
        "{0} is a private or local address; name it in the provider's base_url or allow_hosts to allow it"
    )]
    PrivateAddress(IpAddr),
}

/// The hosts one plugin may reach.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    /// Allowed host names or IPs (lower case); `*.example.com` allows subdomains.
    hosts: BTreeSet<String>,
    /// The operator's base_url host: it may be a private address and plain http.
    named: BTreeSet<String>,
    /// The origins (scheme, host, port) the operator lets the key go to: base_url's
    /// and `key_origins`. Nothing else ever gets it.
    key_origins: BTreeSet<String>,
}

impl Allowlist {
    /// Declared ∩ `allow_hosts` (when given) ∪ the hosts of `base_url` and
    /// `key_origins` (the operator's: they alone may be private or plain http, and
    /// their origins alone receive the key).
    pub fn new(
        declared: &[String],
        allow_hosts: &[String],
        base_url: Option<&str>,
        key_origins: &[String],
    ) -> Self {
        let lower = |host: &String| host.trim().to_ascii_lowercase();
        let declared: BTreeSet<String> = declared.iter().map(lower).collect();
        let configured: BTreeSet<String> = allow_hosts.iter().map(lower).collect();
        let mut hosts: BTreeSet<String> = if configured.is_empty() {
            declared
        } else {
            declared
                .into_iter()
                .filter(|host| configured.contains(host))
                .collect()
        };
        // Only the base_url host is "named" (private addresses and plain http allowed):
        // narrowing with allow_hosts must never loosen anything.
        let mut named = BTreeSet::new();
        let mut origins = BTreeSet::new();
        let operator = base_url
            .into_iter()
            .chain(key_origins.iter().map(String::as_str))
            .filter_map(|url| Url::parse(url).ok());
        for url in operator {
            if let Some(host) = url.host_str().map(str::to_ascii_lowercase) {
                hosts.insert(host.clone());
                named.insert(host);
            }
            if url.origin().is_tuple() {
                origins.insert(url.origin().ascii_serialization());
            }
        }
        // A named host that the plugin did not declare is still not reachable, except
        // through the operator's own URLs (added above): the operator narrows, never
        // widens.
        Allowlist {
            hosts,
            named,
            key_origins: origins,
        }
    }

    /// Whether the operator named any origin that may receive the key.
    pub fn has_key_origin(&self) -> bool {
        !self.key_origins.is_empty()
    }

    /// Whether a request to `url` may carry the key: only to an origin (scheme, host
    /// and port) the operator named, base_url's or one of `key_origins`. Hosts the
    /// plugin declared, another port of the same host, and object storage serving
    /// pre-signed links are reached without it.
    pub fn takes_key(&self, url: &Url) -> bool {
        url.origin().is_tuple()
            && self
                .key_origins
                .contains(&url.origin().ascii_serialization())
    }

    /// The allowed hosts, for `chute plugins check`.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(String::as_str)
    }

    /// Whether the operator named `host` (private addresses and http allowed).
    pub fn is_named(&self, host: &str) -> bool {
        self.named.contains(&host.to_ascii_lowercase())
    }

    /// Checks a URL before anything is sent; the error says why it was refused.
    pub fn check(&self, url: &Url) -> Result<(), Refusal> {
        let host = url
            .host_str()
            .ok_or_else(|| Refusal::NoHost(redact(url)))?
            .to_ascii_lowercase();
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        if !self.allows(&host) {
            return Err(Refusal::NotAllowed(host));
        }
        let named = self.is_named(&host);
        match url.scheme() {
            "https" => {}
            "http" if named => {}
            scheme => {
                return Err(Refusal::Scheme {
                    scheme: scheme.to_owned(),
                    host,
                });
            }
        }
        if let Ok(ip) = host.parse::<IpAddr>()
            && !named
            && !is_public(ip)
        {
            return Err(Refusal::PrivateAddress(ip));
        }
        Ok(())
    }

    fn allows(&self, host: &str) -> bool {
        self.hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(domain) => {
                    host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}"))
                }
                None => allowed == host,
            })
    }
}

/// A URL for logs: scheme, host, port and path only (never the query, which may
/// carry a key).
pub fn redact(url: &Url) -> String {
    format!(
        "{}://{}{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port()
            .map(|port| format!(":{port}"))
            .unwrap_or_default(),
        url.path()
    )
}

/// True for addresses on the public internet.
///
/// IPv6 addresses that carry an IPv4 address (mapped, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) are judged by that address, so `64:ff9b::a9fe:a9fe` is the metadata
/// service it translates to. Translation and tunnel ranges whose target cannot be read
/// off the address (local-use NAT64, Teredo) are not public.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let octets = v6.octets();
            let embedded = |at: usize| {
                IpAddr::V4(Ipv4Addr::new(
                    octets[at],
                    octets[at + 1],
                    octets[at + 2],
                    octets[at + 3],
                ))
            };
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(embedded(12)); // NAT64, well-known prefix
            }
            if segments[0] == 0x2002 {
                return is_public(embedded(2)); // 6to4
            }
            let first = segments[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || segments[..6] == [0; 6] // IPv4-compatible (deprecated)
                || segments[..3] == [0x64, 0xff9b, 1] // local-use NAT64
                || segments[..4] == [0x100, 0, 0, 0] // discard-only
                || segments[..2] == [0x2001, 0] // Teredo
                || segments[..2] == [0x2001, 0xdb8] // documentation
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link local
        }
    }
}

/// A DNS resolver that drops non-public answers for hosts the operator did not name.
#[derive(Debug, Clone)]
pub struct PublicOnlyResolver {
    named: Arc<BTreeSet<String>>,
}

impl PublicOnlyResolver {
    /// A resolver for one plugin's allowlist.
    pub fn new(allowlist: &Allowlist) -> Self {
        PublicOnlyResolver {
            named: Arc::new(allowlist.named.clone()),
        }
    }
}

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let named = self.named.clone();
        Box::pin(async move {
            let host = name.as_str().to_ascii_lowercase();
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| named.contains(&host) || is_public(address.ip()))
                .collect();
            if addresses.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("test URL")
    }

    #[test]
    fn declared_hosts_are_allowed_over_https_only() {
        let list = Allowlist::new(&["api.example.com".into()], &[], None, &[]);
        assert!(list.check(&url("https://api.example.com/v1")).is_ok());
        assert!(list.check(&url("http://api.example.com/v1")).is_err());
        assert!(list.check(&url("https://evil.example.com/")).is_err());
        assert!(
            list.check(&url("https://user:pw@api.example.com/"))
                .is_err()
        );
    }

    #[test]
    fn the_config_narrows_and_base_url_adds_a_named_host() {
        let declared = ["a.example.com".to_string(), "b.example.com".to_string()];
        let list = Allowlist::new(
            &declared,
            &["a.example.com".into()],
            Some("http://127.0.0.1:9/x"),
            &[],
        );
        assert!(list.check(&url("https://a.example.com/")).is_ok());
        assert!(list.check(&url("https://b.example.com/")).is_err());
        assert!(list.check(&url("http://127.0.0.1:9/v1beta")).is_ok());
    }

    #[test]
    fn the_key_goes_only_to_origins_the_operator_named() {
        let declared = [
            "api.example.com".to_string(),
            "*.storage.example.com".to_string(),
        ];
        // The plugin's own hosts never get it, however they are declared.
        let list = Allowlist::new(&declared, &[], None, &[]);
        assert!(!list.has_key_origin());
        assert!(!list.takes_key(&url("https://api.example.com/files/1")));
        assert!(!list.takes_key(&url("https://b.storage.example.com/1.mp4?sig=x")));
        let list = Allowlist::new(&declared, &[], Some("http://127.0.0.1:9/api/v3"), &[]);
        assert!(list.takes_key(&url("http://127.0.0.1:9/files/1")));
        // Same host, another port or scheme: another origin, no key.
        assert!(!list.takes_key(&url("http://127.0.0.1:10/blob.mp4")));
        assert!(!list.takes_key(&url("https://127.0.0.1:9/files/1")));
        assert!(!list.takes_key(&url("https://api.example.com/files/1")));
        // An origin the operator lists takes it too, and is reachable.
        let list = Allowlist::new(
            &declared,
            &[],
            Some("https://api.example.com"),
            &["https://upload.example.net:8443".into()],
        );
        assert!(list.takes_key(&url("https://api.example.com/v1/x")));
        assert!(list.takes_key(&url("https://upload.example.net:8443/put")));
        assert!(!list.takes_key(&url("https://upload.example.net/put")));
        assert!(
            list.check(&url("https://upload.example.net:8443/put"))
                .is_ok()
        );
    }

    #[test]
    fn private_addresses_need_to_be_named() {
        let list = Allowlist::new(&["10.0.0.7".into(), "*.example.com".into()], &[], None, &[]);
        assert!(list.check(&url("https://10.0.0.7/")).is_err());
        assert!(list.check(&url("https://cdn.example.com/")).is_ok());
        assert!(list.check(&url("https://example.com/")).is_err());
        assert!(!is_public("169.254.169.254".parse().expect("ip")));
        assert!(!is_public("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!is_public("fd00::1".parse().expect("ip")));
        assert!(is_public("142.250.74.42".parse().expect("ip")));
        for hidden in [
            "64:ff9b::a9fe:a9fe",   // NAT64 of 169.254.169.254
            "64:ff9b::7f00:1",      // NAT64 of 127.0.0.1
            "2002:a00:1::1",        // 6to4 of 10.0.0.1
            "64:ff9b:1::8efa:4a2a", // local-use NAT64
            "2001:0:4136:e378::1",  // Teredo
            "::7f00:1",             // IPv4-compatible 127.0.0.1
            "2001:db8::1",
            "100::1",
        ] {
            assert!(!is_public(hidden.parse().expect("ip")), "{hidden}");
        }
        assert!(is_public("64:ff9b::8efa:4a2a".parse().expect("ip")));
        assert!(is_public("2002:8efa:4a2a::1".parse().expect("ip")));
        assert!(is_public("2a00:1450:4001:80b::200e".parse().expect("ip")));
    }

    #[test]
    fn redacted_urls_drop_the_query() {
        assert_eq!(
            redact(&url("https://h.example.com:8443/v1?key=SECRET")),
            "https://h.example.com:8443/v1"
        );
    }
}
