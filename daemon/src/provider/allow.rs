//! Where a plugin may send requests.
//!
//! Two kinds of places. The hosts the plugin declares (narrowed by the host names in
//! `allow_hosts` when the operator lists some) are reached over https on port 443 only,
//! and only at public addresses. The origins the operator writes (scheme, host and
//! port: `base_url`'s, `key_origins`, origins in `allow_hosts`) are reached exactly as
//! written, so they alone may be plain http or a private address; another port of such
//! a host is another origin. The key goes only to `base_url`'s origin and
//! `key_origins`. Names are resolved to public addresses only unless the operator
//! named the host (so DNS cannot point an allowed name at the LAN).

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
    /// Not https, and not an origin the operator wrote.
    #[error(
        "{scheme}:// to {host} is not allowed (https only, unless the config names the origin)"
    )]
    Scheme {
        /// The URL's scheme.
        scheme: String,
        /// The URL's host.
        host: String,
    },
    /// An allowed host on a port other than 443, not an origin the operator wrote.
    #[error(
        "port {port} of {host} is not allowed (declared hosts are reached on 443; list the origin in allow_hosts to allow it)"
    )]
    Port {
        /// The URL's host.
        host: String,
        /// The port asked for.
        port: u16,
    },
    /// A private or local IP the operator did not name.
    #[error(
        "{0} is a private or local address; name it in the provider's base_url or allow_hosts to allow it"
    )]
    PrivateAddress(IpAddr),
}

/// The places one plugin may reach.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    /// Declared host names or IPs (lower case), reached over https on 443;
    /// `*.example.com` allows subdomains.
    hosts: BTreeSet<String>,
    /// The origins the operator wrote (`scheme://host[:port]`): reached as written,
    /// private addresses and plain http included.
    origins: BTreeSet<String>,
    /// The hosts of those origins: the resolver may answer private addresses for them.
    named: BTreeSet<String>,
    /// The origins the key may go to: base_url's and `key_origins`. Nothing else ever
    /// gets it.
    key_origins: BTreeSet<String>,
}

impl Allowlist {
    /// Declared ∩ the host names of `allow_hosts` (when it has any), reached over https
    /// on 443; plus the operator's origins: `base_url`'s, `key_origins` and the origins
    /// in `allow_hosts`. The first two receive the key.
    pub fn new(
        declared: &[String],
        allow_hosts: &[String],
        base_url: Option<&str>,
        key_origins: &[String],
    ) -> Self {
        let lower = |host: &String| host.trim().to_ascii_lowercase();
        let declared: BTreeSet<String> = declared.iter().map(lower).collect();
        let (extra_origins, names): (Vec<&String>, Vec<&String>) =
            allow_hosts.iter().partition(|entry| entry.contains("://"));
        let configured: BTreeSet<String> = names.into_iter().map(lower).collect();
        let hosts: BTreeSet<String> = if configured.is_empty() {
            declared
        } else {
            declared
                .into_iter()
                .filter(|host| configured.contains(host))
                .collect()
        };
        let origin_of = |text: &str| {
            let url = Url::parse(text).ok()?;
            let host = url.host_str()?.to_ascii_lowercase();
            url.origin()
                .is_tuple()
                .then(|| (url.origin().ascii_serialization(), host))
        };
        let mut list = Allowlist {
            hosts,
            ..Allowlist::default()
        };
        let keyed = base_url
            .into_iter()
            .chain(key_origins.iter().map(String::as_str));
        for (origin, host) in keyed.filter_map(origin_of) {
            list.key_origins.insert(origin.clone());
            list.origins.insert(origin);
            list.named.insert(host);
        }
        for (origin, host) in extra_origins.into_iter().filter_map(|text| origin_of(text)) {
            list.origins.insert(origin);
            list.named.insert(host);
        }
        list
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

    /// The allowed places, for `chute plugins check`: declared hosts (https, 443) and
    /// the operator's origins.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts
            .iter()
            .chain(self.origins.iter())
            .map(String::as_str)
    }

    /// Whether the operator named `host` in one of its origins (the resolver may
    /// answer private addresses for it).
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
        if url.origin().is_tuple() && self.origins.contains(&url.origin().ascii_serialization()) {
            return Ok(());
        }
        if !self.allows(&host) {
            return Err(Refusal::NotAllowed(host));
        }
        if url.scheme() != "https" {
            return Err(Refusal::Scheme {
                scheme: url.scheme().to_owned(),
                host,
            });
        }
        if let Ok(ip) = host.parse::<IpAddr>()
            && !is_public(ip)
        {
            return Err(Refusal::PrivateAddress(ip));
        }
        if let Some(port) = url.port() {
            return Err(Refusal::Port { host, port });
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
        // The named origin is the one written: not another port or scheme of its host.
        assert!(list.check(&url("http://127.0.0.1:10/v1beta")).is_err());
        assert!(list.check(&url("https://127.0.0.1:9/v1beta")).is_err());
    }

    #[test]
    fn an_allowed_host_is_allowed_on_its_port_only() {
        let declared = ["api.example.com".to_string(), "127.0.0.1".to_string()];
        let list = Allowlist::new(
            &declared,
            &["http://127.0.0.1:7000".into()],
            Some("http://127.0.0.1:9"),
            &[],
        );
        assert!(list.check(&url("https://api.example.com:443/v1")).is_ok());
        assert_eq!(
            list.check(&url("https://api.example.com:8443/v1")),
            Err(Refusal::Port {
                host: "api.example.com".into(),
                port: 8443
            })
        );
        // An origin in allow_hosts is reached as written, without the key, and does
        // not narrow the declared hosts.
        assert!(list.check(&url("http://127.0.0.1:7000/blob")).is_ok());
        assert!(!list.takes_key(&url("http://127.0.0.1:7000/blob")));
        assert!(list.check(&url("http://127.0.0.1:7001/blob")).is_err());
        assert!(list.check(&url("https://127.0.0.1/")).is_err());
        assert!(list.check(&url("https://api.example.com/v1")).is_ok());
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
