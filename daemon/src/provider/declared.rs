//! What a plugin declares in `describe` (name, version, capabilities, hosts, auth name),
//! checked before the plugin is trusted with traffic.

use super::bindings::{Auth, Info};

/// What is wrong with what a plugin declares in `describe` (or its manifest).
#[derive(Debug, Clone, thiserror::Error)]
pub enum InfoError {
    /// The name is not a plain identifier.
    #[error("describe gave a bad name {0:?} (letters, digits, '-', '_')")]
    Name(String),
    /// The version is not semver-like.
    #[error("describe gave a bad version {0:?} (use semver, e.g. 1.2.0)")]
    Version(String),
    /// Nothing is offered.
    #[error("describe lists no capabilities")]
    NoCapabilities,
    /// A host is not a host name.
    #[error("describe lists a bad host {0:?} (a host name such as api.example.com)")]
    Host(String),
    /// A wildcard covers a whole top-level domain.
    #[error("describe lists a bad host {0:?}: a wildcard needs a domain (*.example.com)")]
    Wildcard(String),
    /// The auth header or parameter name is not a plain token.
    #[error("describe gives a bad auth name {0:?}")]
    AuthName(String),
}

/// What a plugin declares must make sense before it is trusted with traffic.
pub fn validate_info(info: &Info) -> Result<(), InfoError> {
    let name_ok = !info.name.is_empty()
        && info.name.len() <= 64
        && info
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(InfoError::Name(info.name.clone()));
    }
    if info.version.split('.').count() < 2 || !info.version.split('.').all(|part| !part.is_empty())
    {
        return Err(InfoError::Version(info.version.clone()));
    }
    if info.capabilities.is_empty() {
        return Err(InfoError::NoCapabilities);
    }
    for host in &info.hosts {
        let bare = host.strip_prefix("*.").unwrap_or(host);
        if bare.is_empty() || bare.contains(['/', ':', '@', ' ', '*']) {
            return Err(InfoError::Host(host.clone()));
        }
        // A wildcard names one organisation's subdomains, never a whole TLD.
        if host.starts_with("*.") && bare.split('.').filter(|label| !label.is_empty()).count() < 2 {
            return Err(InfoError::Wildcard(host.clone()));
        }
    }
    match &info.auth {
        Auth::Header(name) | Auth::Query(name)
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Err(InfoError::AuthName(name.clone()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::bindings::{Capability, Limits};

    fn info() -> Info {
        Info {
            name: "gemini".into(),
            version: "1.2.0".into(),
            capabilities: vec![Capability::Text],
            hosts: vec![
                "generativelanguage.googleapis.com".into(),
                "*.googleusercontent.com".into(),
            ],
            auth: Auth::Header("x-goog-api-key".into()),
            limits: Limits {
                requests_per_minute: None,
                requests_per_day: None,
                max_concurrent_polls: None,
            },
        }
    }

    #[test]
    fn garbage_in_describe_is_refused_with_the_field_named() {
        assert!(validate_info(&info()).is_ok());
        type Spoil = fn(&mut Info);
        let cases: Vec<(Spoil, &str)> = vec![
            (|info| info.name = "../evil".into(), "bad name"),
            (|info| info.version = "latest".into(), "bad version"),
            (|info| info.capabilities.clear(), "no capabilities"),
            (
                |info| info.hosts.push("https://x.example.com/path".into()),
                "bad host",
            ),
            (|info| info.hosts.push("*".into()), "bad host"),
            (
                |info| info.hosts.push("*.com".into()),
                "a wildcard needs a domain",
            ),
            (
                |info| info.auth = Auth::Header("x-key\r\nHost: evil".into()),
                "bad auth name",
            ),
        ];
        for (spoil, expected) in cases {
            let mut bad = info();
            spoil(&mut bad);
            let error = validate_info(&bad).expect_err(expected).to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
