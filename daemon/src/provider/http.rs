//! The network a plugin gets: `send` for API requests and `download` for large
//! results. The host enforces the allowlist, refuses credential headers a plugin
//! sets, adds the key itself, caps sizes and time, and records every exchange (for
//! key health and result.json) without the key or the query string.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::allow::{Allowlist, PublicOnlyResolver, redact};
use super::keys::KeyLease;
use super::plugin::{Auth, HttpError, Request, Response};

/// Size and time caps for one plugin's traffic.
#[derive(Debug, Clone)]
pub struct HttpCaps {
    /// Largest request body a plugin may send.
    pub max_request: usize,
    /// Largest response body handed back to a plugin.
    pub max_response: usize,
    /// Largest file `download` writes.
    pub max_download: u64,
    /// Connecting.
    pub connect: Duration,
    /// From sending to the response headers.
    pub first_byte: Duration,
    /// Between two reads of the body.
    pub idle: Duration,
}

/// One request as the host saw it: no key, no query string.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exchange {
    /// `GET`, `POST`, …
    pub method: String,
    /// Scheme, host, port and path.
    pub url: String,
    /// The HTTP status, when one came back.
    pub status: Option<u16>,
    /// How long the provider asked to wait (Retry-After or RetryInfo).
    #[serde(with = "humantime_serde")]
    pub retry_after: Option<Duration>,
    /// A 429 naming a per-day quota.
    pub daily_quota: bool,
    /// The provider said the key itself is invalid (Google `API_KEY_INVALID`).
    pub key_rejected: bool,
    /// Transport failure or refusal, when no status came back.
    pub error: Option<String>,
    /// Milliseconds from send to the end of the body.
    pub millis: u64,
    /// The key's fingerprint, when one was used.
    pub key: Option<String>,
}

/// Header names a plugin may not set: credentials are the host's job.
fn is_forbidden_header(name: &str, auth: &Auth) -> bool {
    let name = name.to_ascii_lowercase();
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
                | "te"
                | "upgrade"
        )
        || matches!(auth, Auth::Header(header) if header.eq_ignore_ascii_case(&name))
}

/// One plugin's HTTP client, allowlist and auth scheme.
pub struct HostHttp {
    client: reqwest::Client,
    allowlist: Allowlist,
    auth: Auth,
    caps: HttpCaps,
}

impl HostHttp {
    /// A client that never follows redirects on its own and resolves names to
    /// public addresses only (unless the operator named the host).
    pub fn new(allowlist: Allowlist, auth: Auth, caps: HttpCaps) -> Result<HostHttp, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve names itself, past the public-address check.
            .no_proxy()
            .connect_timeout(caps.connect)
            .read_timeout(caps.idle)
            .dns_resolver(Arc::new(PublicOnlyResolver::new(&allowlist)))
            .user_agent(concat!("chute/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        Ok(HostHttp {
            client,
            allowlist,
            auth,
            caps,
        })
    }

    /// The allowlist, for `chute plugins check`.
    pub fn allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    /// Sends one plugin request. The exchange is `None` when the request was refused
    /// before anything left the host.
    pub async fn send(
        &self,
        request: Request,
        key: Option<&KeyLease>,
        deadline: Instant,
    ) -> (Result<Response, HttpError>, Option<Exchange>) {
        let checked = if request.body.len() > self.caps.max_request {
            Err(HttpError::TooLarge(format!(
                "the request body ({} bytes) is larger than the {}-byte cap",
                request.body.len(),
                self.caps.max_request
            )))
        } else {
            self.prepare(&request).map_err(HttpError::Denied)
        };
        let prepared = match checked {
            Ok(prepared) => prepared,
            Err(error) => {
                let (HttpError::TooLarge(why)
                | HttpError::Denied(why)
                | HttpError::Timeout(why)
                | HttpError::Network(why)) = &error;
                tracing::warn!(url = %request.url.split('?').next().unwrap_or(""), "Refused a plugin request: {why}");
                return (Err(error), None);
            }
        };
        let (method, mut url, headers) = prepared;
        let mut exchange = Exchange {
            method: method.to_string(),
            url: redact(&url),
            key: key.map(|key| key.fingerprint().to_owned()),
            ..Exchange::default()
        };
        let mut builder_headers = headers;
        if let Some(key) = key {
            if let Err(wait) = key.wait_for_room(deadline).await {
                let why = format!(
                    "key {} has no room under its rate limit for {wait:.0?}",
                    key.fingerprint()
                );
                exchange.error = Some(why.clone());
                return (Err(HttpError::Timeout(why)), Some(exchange));
            }
            self.attach(key, &mut url, &mut builder_headers);
        }
        let started = Instant::now();
        let result = self
            .exchange(method, url, builder_headers, request.body, &mut exchange)
            .await;
        exchange.millis = started.elapsed().as_millis() as u64;
        if let Err(error) = &result {
            exchange.error = Some(format!("{error:?}"));
        }
        (result, Some(exchange))
    }

    /// Checks a plugin request against the allowlist and header rules.
    fn prepare(&self, request: &Request) -> Result<(Method, Url, HeaderMap), String> {
        let url = Url::parse(&request.url).map_err(|error| format!("bad URL: {error}"))?;
        self.allowlist.check(&url)?;
        if let Auth::Query(parameter) = &self.auth
            && url
                .query_pairs()
                .any(|(name, _)| name.eq_ignore_ascii_case(parameter))
        {
            return Err(format!(
                "the query parameter {parameter:?} carries the key; the host adds it"
            ));
        }
        let method = match request.method.to_ascii_uppercase().as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            "HEAD" => Method::HEAD,
            other => return Err(format!("method {other:?} is not allowed")),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            if is_forbidden_header(name, &self.auth) {
                return Err(format!(
                    "a plugin may not set the {name:?} header (credentials are added by the host)"
                ));
            }
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("bad header name {name:?}"))?;
            let value =
                HeaderValue::from_str(value).map_err(|_| format!("bad value for header {name}"))?;
            headers.append(name, value);
        }
        Ok((method, url, headers))
    }

    /// Adds the key per the plugin's auth scheme.
    fn attach(&self, key: &KeyLease, url: &mut Url, headers: &mut HeaderMap) {
        let secret = key.secret().expose();
        let sensitive = |text: String| {
            HeaderValue::from_str(&text).map(|mut value| {
                value.set_sensitive(true);
                value
            })
        };
        match &self.auth {
            Auth::None => {}
            Auth::Header(name) => {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    sensitive(secret.to_owned()),
                ) {
                    headers.insert(name, value);
                }
            }
            Auth::Bearer => {
                if let Ok(value) = sensitive(format!("Bearer {secret}")) {
                    headers.insert(reqwest::header::AUTHORIZATION, value);
                }
            }
            Auth::Query(parameter) => {
                url.query_pairs_mut().append_pair(parameter, secret);
            }
        }
    }

    async fn exchange(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Vec<u8>,
        exchange: &mut Exchange,
    ) -> Result<Response, HttpError> {
        let request = self.client.request(method, url).headers(headers).body(body);
        let response = tokio::time::timeout(self.caps.first_byte, request.send())
            .await
            .map_err(|_| {
                HttpError::Timeout(format!("no response within {:?}", self.caps.first_byte))
            })?
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        exchange.status = Some(status);
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != reqwest::header::SET_COOKIE)
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        exchange.retry_after = retry_after(&headers);
        if let Some(length) = response.content_length()
            && length > self.caps.max_response as u64
        {
            return Err(HttpError::TooLarge(format!(
                "the response ({length} bytes) is larger than the {}-byte cap",
                self.caps.max_response
            )));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(transport_error)?;
            if body.len() + chunk.len() > self.caps.max_response {
                return Err(HttpError::TooLarge(format!(
                    "the response is larger than the {}-byte cap",
                    self.caps.max_response
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if status == 429 || status == 400 {
            read_google_error(&body, exchange);
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Streams a result URL into `destination` (never through plugin memory).
    /// Redirects are followed by hand (at most 5), each hop checked against the
    /// allowlist; the key goes only to the origin the plugin named, never to a
    /// redirect target on another origin (host or port).
    pub async fn download(
        &self,
        url: &str,
        key: Option<&KeyLease>,
        destination: &Path,
    ) -> Result<(u64, Vec<Exchange>), String> {
        let mut url = Url::parse(url).map_err(|error| format!("bad download URL: {error}"))?;
        let origin = url.origin();
        let mut exchanges = Vec::new();
        for _hop in 0..6 {
            self.allowlist.check(&url)?;
            let mut target = url.clone();
            let mut headers = HeaderMap::new();
            // Same scheme, host and port: a redirect elsewhere never gets the key.
            let same_host = target.origin() == origin;
            if let (Some(key), true) = (key, same_host) {
                self.attach(key, &mut target, &mut headers);
            }
            let started = Instant::now();
            let mut exchange = Exchange {
                method: "GET".into(),
                url: redact(&url),
                key: key
                    .filter(|_| same_host)
                    .map(|key| key.fingerprint().to_owned()),
                ..Exchange::default()
            };
            let response = tokio::time::timeout(
                self.caps.first_byte,
                self.client.get(target).headers(headers).send(),
            )
            .await
            .map_err(|_| format!("no response within {:?}", self.caps.first_byte))?
            .map_err(|error| format!("{}", error.without_url()))?;
            let status = response.status();
            exchange.status = Some(status.as_u16());
            if status.is_redirection() {
                exchange.millis = started.elapsed().as_millis() as u64;
                exchanges.push(exchange);
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .ok_or("a redirect without a Location")?;
                url = url
                    .join(location)
                    .map_err(|error| format!("bad redirect: {error}"))?;
                continue;
            }
            if !status.is_success() {
                exchanges.push(exchange);
                return Err(format!("download failed with HTTP {status}"));
            }
            let written = self.stream_to(response, destination).await?;
            exchange.millis = started.elapsed().as_millis() as u64;
            exchanges.push(exchange);
            return Ok((written, exchanges));
        }
        Err("more than 5 redirects".into())
    }

    async fn stream_to(
        &self,
        response: reqwest::Response,
        destination: &Path,
    ) -> Result<u64, String> {
        let io = |error: std::io::Error| format!("{}: {error}", destination.display());
        let partial = destination.with_extension("part");
        let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
        let mut written: u64 = 0;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| format!("{}", error.without_url()))?;
            written += chunk.len() as u64;
            if written > self.caps.max_download {
                drop(file);
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(format!(
                    "the download is larger than the {}-byte cap",
                    self.caps.max_download
                ));
            }
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        drop(file);
        tokio::fs::rename(&partial, destination).await.map_err(io)?;
        Ok(written)
    }
}

/// A reqwest error without its URL (the query may hold a key).
fn transport_error(error: reqwest::Error) -> HttpError {
    let timeout = error.is_timeout();
    let message = format!("{}", error.without_url());
    if timeout {
        HttpError::Timeout(message)
    } else {
        HttpError::Network(message)
    }
}

/// `Retry-After` in seconds.
fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let value = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))?;
    let seconds: f64 = value.1.trim().parse().ok()?;
    (seconds.is_finite() && (0.0..86_400.0).contains(&seconds))
        .then(|| Duration::from_secs_f64(seconds))
}

/// Google's error envelope: `RetryInfo.retryDelay`, per-day `QuotaFailure` ids and
/// `ErrorInfo.reason == API_KEY_INVALID`.
fn read_google_error(body: &[u8], exchange: &mut Exchange) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let Some(details) = value
        .pointer("/error/details")
        .and_then(|details| details.as_array())
    else {
        return;
    };
    for detail in details {
        let kind = detail
            .get("@type")
            .and_then(|kind| kind.as_str())
            .unwrap_or("");
        if kind.ends_with("google.rpc.RetryInfo")
            && let Some(delay) = detail.get("retryDelay").and_then(|delay| delay.as_str())
            && let Some(seconds) = delay.strip_suffix('s').and_then(|s| s.parse::<f64>().ok())
            && seconds.is_finite()
            && (0.0..86_400.0).contains(&seconds)
        {
            exchange.retry_after = Some(Duration::from_secs_f64(seconds));
        }
        if kind.ends_with("google.rpc.QuotaFailure") {
            exchange.daily_quota |= detail
                .get("violations")
                .and_then(|violations| violations.as_array())
                .into_iter()
                .flatten()
                .filter_map(|violation| violation.get("quotaId")?.as_str())
                .any(|id| id.contains("PerDay"));
        }
        if kind.ends_with("google.rpc.ErrorInfo")
            && detail.get("reason").and_then(|r| r.as_str()) == Some("API_KEY_INVALID")
        {
            exchange.key_rejected = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn google_retry_info_and_daily_quota_are_read() {
        let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"29.5s"}]}}"#;
        let mut exchange = Exchange::default();
        read_google_error(body, &mut exchange);
        assert_eq!(exchange.retry_after, Some(Duration::from_millis(29_500)));
        assert!(exchange.daily_quota);
        assert_eq!(
            retry_after(&[("Retry-After".into(), "7".into())]),
            Some(Duration::from_secs(7))
        );
    }
}
