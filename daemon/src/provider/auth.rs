//! How a key is attached to a request, and which header names a plugin may set.
//!
//! A plugin declares its scheme in `describe` (`bearer`, `header(NAME)`, `query(NAME)`),
//! but it is the operator's key: a declared scheme is accepted only when it is one of
//! the known provider schemes below, and the operator can pin any other with
//! `auth = "header:NAME"` in `[providers.NAME]`. A standard or hop-by-hop header
//! (`Host`, `Content-Length`, `Forwarded`…) never carries a key, whoever asks.

use super::bindings::Auth;

/// Header names that carry an API key at the providers chute knows (Google,
/// ElevenLabs, Anthropic-style `x-api-key`, Azure-style `api-key`), plus `cookie`
/// for a web session (Whisk).
pub const KNOWN_HEADERS: &[&str] = &[
    "x-goog-api-key",
    "xi-api-key",
    "x-api-key",
    "api-key",
    "cookie",
];

/// Query parameters that carry an API key at the providers chute knows.
pub const KNOWN_QUERY: &[&str] = &["key", "api_key"];

/// Why a key scheme is not accepted; the provider does not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The plugin asks for a scheme chute does not know, and the operator did not pin it.
    #[error(
        "the plugin wants the key in {0}, which is not a known provider scheme; if that is right, pin it with auth = \"{1}\" in the provider's table"
    )]
    Unknown(String, String),
    /// A standard or hop-by-hop header can never carry a key.
    #[error("a key may never be sent in the standard header {0:?}")]
    StandardHeader(String),
    /// `auth` in the config is not `bearer`, `none`, `header:NAME` or `query:NAME`.
    #[error("auth = {0:?} is not one of \"bearer\", \"none\", \"header:NAME\", \"query:NAME\"")]
    Syntax(String),
}

/// Parses the operator's `auth` setting.
pub fn parse_pin(text: &str) -> Result<Auth, AuthError> {
    let syntax = || AuthError::Syntax(text.to_owned());
    let token = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let auth = match text.trim().split_once(':') {
        None if text.trim().eq_ignore_ascii_case("bearer") => Auth::Bearer,
        None if text.trim().eq_ignore_ascii_case("none") => Auth::None,
        Some((kind, name)) if token(name) && kind.eq_ignore_ascii_case("header") => {
            Auth::Header(name.to_owned())
        }
        Some((kind, name)) if token(name) && kind.eq_ignore_ascii_case("query") => {
            Auth::Query(name.to_owned())
        }
        _ => return Err(syntax()),
    };
    if let Auth::Header(name) = &auth
        && is_standard_header(name)
    {
        return Err(AuthError::StandardHeader(name.clone()));
    }
    Ok(auth)
}

/// The scheme the host uses: the operator's pin when there is one, else the plugin's
/// declaration when it is a known scheme.
pub fn effective(declared: &Auth, pinned: Option<&Auth>) -> Result<Auth, AuthError> {
    if let Some(pinned) = pinned {
        return Ok(pinned.clone());
    }
    let known =
        |list: &[&str], name: &str| list.iter().any(|known| known.eq_ignore_ascii_case(name));
    let (described, pin) = match declared {
        Auth::None | Auth::Bearer => return Ok(declared.clone()),
        Auth::Header(name) if is_standard_header(name) => {
            return Err(AuthError::StandardHeader(name.clone()));
        }
        Auth::Header(name) if known(KNOWN_HEADERS, name) => return Ok(declared.clone()),
        Auth::Query(name) if known(KNOWN_QUERY, name) => return Ok(declared.clone()),
        Auth::Header(name) => (format!("the header {name:?}"), format!("header:{name}")),
        Auth::Query(name) => (
            format!("the query parameter {name:?}"),
            format!("query:{name}"),
        ),
    };
    Err(AuthError::Unknown(described, pin))
}

/// Standard, hop-by-hop and proxy header names: the protocol's own, never a key's.
pub fn is_standard_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("proxy-")
        || name.starts_with("x-forwarded-")
        || name.starts_with("accept")
        || name.starts_with("content-")
        || name.starts_with("if-")
        || name.starts_with("sec-")
        || name.starts_with("access-control-")
        || matches!(
            name.as_str(),
            "host"
                | "connection"
                | "keep-alive"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
                | "expect"
                | "user-agent"
                | "referer"
                | "origin"
                | "location"
                | "via"
                | "forwarded"
                | "x-real-ip"
                | "cache-control"
                | "pragma"
                | "range"
                | "date"
                | "set-cookie"
                | "www-authenticate"
        )
}

/// Header names a plugin may not set: credentials and the protocol's framing are the
/// host's job.
pub fn is_forbidden_header(name: &str, auth: &Auth) -> bool {
    let name = name.to_ascii_lowercase();
    if name == "authorization" && plugin_may_authorize(auth) {
        return false;
    }
    let credential_like = name.contains("api-key")
        || name.contains("api_key")
        || name.contains("apikey")
        || name.contains("token")
        || name.contains("secret");
    credential_like
        || matches!(
            name.as_str(),
            "authorization"
                | "proxy-authorization"
                | "cookie"
                | "host"
                | "content-length"
                | "transfer-encoding"
                | "connection"
                | "keep-alive"
                | "te"
                | "trailer"
                | "upgrade"
                | "forwarded"
                | "via"
                | "x-real-ip"
        )
        || name.starts_with("x-forwarded-")
        || matches!(auth, Auth::Header(header) if header.eq_ignore_ascii_case(&name))
}

/// Whether a plugin may set `Authorization` itself: only when its key is a browser
/// session cookie (`auth: header("cookie")`), whose web app mints short-lived API
/// tokens from it (Google Labs does). The header can then only carry such a token,
/// never the key, and the host attaches no key to that request, so the cookie stays
/// with the site that set it. Every other scheme keeps `Authorization` the host's.
pub fn plugin_may_authorize(auth: &Auth) -> bool {
    matches!(auth, Auth::Header(name) if name.eq_ignore_ascii_case("cookie"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Auth` has no `PartialEq` (it is generated from the WIT): compare its `Debug`.
    fn shown<T: std::fmt::Debug>(value: T) -> String {
        format!("{value:?}")
    }

    #[test]
    fn credential_headers_are_the_hosts_job() {
        let auth = Auth::Header("x-goog-api-key".into());
        for name in [
            "Authorization",
            "cookie",
            "Host",
            "X-Goog-Api-Key",
            "xi-api-key",
            "X-Auth-Token",
            "X-Forwarded-For",
            "Keep-Alive",
        ] {
            assert!(is_forbidden_header(name, &auth), "{name}");
        }
        assert!(!is_forbidden_header("content-type", &auth));
        assert!(is_forbidden_header(
            "x-custom",
            &Auth::Header("X-Custom".into())
        ));
    }

    #[test]
    fn a_plugin_sets_authorization_only_for_a_token_its_cookie_minted() {
        let cookie = Auth::Header("Cookie".into());
        assert!(!is_forbidden_header("Authorization", &cookie));
        assert!(is_forbidden_header("cookie", &cookie));
        assert!(is_forbidden_header("proxy-authorization", &cookie));
        for auth in [
            Auth::Bearer,
            Auth::None,
            Auth::Query("key".into()),
            Auth::Header("x-goog-api-key".into()),
            Auth::Header("Authorization".into()),
        ] {
            assert!(is_forbidden_header("authorization", &auth), "{auth:?}");
        }
    }

    #[test]
    fn known_schemes_pass_and_others_need_the_operators_pin() {
        for known in [
            Auth::Bearer,
            Auth::None,
            Auth::Header("X-Goog-Api-Key".into()),
            Auth::Header("xi-api-key".into()),
            Auth::Header("cookie".into()),
            Auth::Query("key".into()),
        ] {
            assert_eq!(
                shown(effective(&known, None)),
                shown(Ok::<_, AuthError>(known.clone()))
            );
        }
        let odd = Auth::Header("x-vendor-auth".into());
        let error = effective(&odd, None).expect_err("not a known scheme");
        assert!(
            error
                .to_string()
                .contains("auth = \"header:x-vendor-auth\""),
            "{error}"
        );
        let pin = parse_pin("header:x-vendor-auth").expect("a valid pin");
        assert_eq!(
            shown(effective(&odd, Some(&pin))),
            shown(Ok::<_, AuthError>(odd))
        );
        // The operator's pin wins over what the plugin declares.
        assert_eq!(
            shown(effective(&Auth::Query("key".into()), Some(&Auth::Bearer))),
            shown(Ok::<_, AuthError>(Auth::Bearer))
        );
    }

    #[test]
    fn standard_headers_never_carry_a_key() {
        for name in [
            "Host",
            "content-length",
            "Forwarded",
            "X-Forwarded-Host",
            "Proxy-Authorization",
            "Origin",
        ] {
            assert_eq!(
                shown(effective(&Auth::Header(name.into()), None)),
                shown(Err::<Auth, _>(AuthError::StandardHeader(name.into())))
            );
            assert!(parse_pin(&format!("header:{name}")).is_err(), "{name}");
        }
        assert!(parse_pin("header:x y").is_err());
        assert!(parse_pin("cookie").is_err());
        assert_eq!(
            shown(parse_pin("query:api_key")),
            shown(Ok::<_, AuthError>(Auth::Query("api_key".into())))
        );
    }
}
