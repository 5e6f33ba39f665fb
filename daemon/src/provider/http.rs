//! The network a plugin gets: `send` for API requests and `download` for large
//! results. The host enforces the allowlist, refuses credential headers a plugin
//! sets, adds the key itself, caps sizes and time, and records every exchange (for
//! key health and result.json) without the key or the query string.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use tokio::io::AsyncWriteExt;

use super::allow::{Allowlist, PublicOnlyResolver, Refusal, redact};
use super::auth::is_forbidden_header;
use super::bindings::{Auth, HttpError, Request, Response};
use super::exchange::{Exchange, read_google_error, retry_after};
use super::keys::KeyLease;
use super::scrub::Scrubber;

/// The HTTP client of a plugin could not be built (TLS roots, resolver): the provider
/// does not load. Remedy: check the system's CA certificates (`ca-certificates`).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0} (check the system's CA certificates)")]
pub struct ClientError(#[from] reqwest::Error);

/// Why a plugin's request was refused before anything left the host. The plugin
/// sees `denied` with this sentence; the fix is in the plugin (or the allowlist).
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestRefused {
    /// The URL does not parse.
    #[error("bad URL: {0}")]
    BadUrl(String),
    /// The allowlist refuses the URL.
    #[error("{0}")]
    Url(#[from] Refusal),
    /// The plugin put the key's own query parameter in the URL.
    #[error("the query parameter {0:?} carries the key; the host adds it")]
    KeyParameter(String),
    /// A method other than GET, POST, PUT, PATCH, DELETE, HEAD.
    #[error("method {0:?} is not allowed")]
    Method(String),
    /// A credential-like or hop-by-hop header.
    #[error("a plugin may not set the {0:?} header (credentials are added by the host)")]
    ForbiddenHeader(String),
    /// A header name that is not a token.
    #[error("bad header name {0:?}")]
    HeaderName(String),
    /// A header value with bytes headers cannot hold.
    #[error("bad value for header {0}")]
    HeaderValue(String),
}

/// Why a download did not produce its file, grouped by consequence: the first three
/// are worth another attempt later, the last two fail the job.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// No answer in time, or the connection broke: try again later.
    #[error("the download did not complete: {0}")]
    Interrupted(String),
    /// The server answered with an error status (an expired link, an outage): try
    /// again later, with a fresh link from a new status check. The text is the
    /// storage's own `Code: Message` when its error body has them (S3/TOS/GCS style,
    /// JSON or XML), else empty.
    #[error("the download failed with HTTP {0}{reason}", reason = in_parentheses(.1))]
    Status(u16, String),
    /// The file could not be written: try again later (check free space).
    #[error("cannot write {}: {source}", path.display())]
    Storage {
        /// The file being written.
        path: PathBuf,
        /// What the filesystem said.
        source: std::io::Error,
    },
    /// The URL, or a redirect, is not one the plugin may reach: a plugin bug or a
    /// provider that moved its files; fail the job.
    #[error("the download URL was refused: {0}")]
    Refused(String),
    /// The file is larger than `plugins.max_download`: fail the job.
    #[error("the download is larger than the {cap}-byte cap (plugins.max_download)")]
    TooLarge {
        /// `plugins.max_download` in bytes.
        cap: u64,
    },
}

impl DownloadError {
    /// True when another attempt later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DownloadError::Interrupted(_)
                | DownloadError::Status(..)
                | DownloadError::Storage { .. }
        )
    }

    /// What the operator can do about it.
    pub fn remedy(&self) -> &'static str {
        match self {
            DownloadError::Interrupted(_) | DownloadError::Status(..) => {
                "the provider's file server may be slow or down; the job tries again by itself"
            }
            DownloadError::Storage { .. } => "check free space and permissions in the spool",
            DownloadError::Refused(_) => {
                "the plugin returned a URL outside its allowlist: add the host to allow_hosts if it is trusted, or report a plugin bug"
            }
            DownloadError::TooLarge { .. } => {
                "raise plugins.max_download if files this large are expected, then `chute retry ID`"
            }
        }
    }
}

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
    pub fn new(allowlist: Allowlist, auth: Auth, caps: HttpCaps) -> Result<HostHttp, ClientError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve names itself, past the public-address check.
            .no_proxy()
            .connect_timeout(caps.connect)
            .read_timeout(caps.idle)
            .dns_resolver(Arc::new(PublicOnlyResolver::new(&allowlist)))
            .user_agent(concat!("chute/", env!("CARGO_PKG_VERSION")))
            .build()?;
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
    /// before anything left the host. `room` is what is left of the call's memory: a
    /// response larger than that (or than `max_response`) is refused. A response to a
    /// request that carried the key comes back with every reflection of the key
    /// scrubbed ([`Scrubber`]).
    pub async fn send(
        &self,
        request: Request,
        key: Option<&KeyLease>,
        deadline: Instant,
        room: usize,
    ) -> (Result<Response, HttpError>, Option<Exchange>) {
        let checked = if request.body.len() > self.caps.max_request {
            Err(HttpError::TooLarge(format!(
                "the request body ({} bytes) is larger than the {}-byte cap",
                request.body.len(),
                self.caps.max_request
            )))
        } else {
            self.prepare(&request)
                .map_err(|refused| HttpError::Denied(refused.to_string()))
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
        // The key goes only to an origin the operator named; a request the plugin
        // authorizes itself (see `plugin_may_authorize`) carries its token instead.
        let key = key.filter(|_| {
            self.allowlist.takes_key(&url) && !headers.contains_key(reqwest::header::AUTHORIZATION)
        });
        let mut exchange = Exchange {
            method: method.to_string(),
            url: redact(&url),
            key: key.map(|key| key.fingerprint().to_owned()),
            ..Exchange::default()
        };
        let mut builder_headers = headers;
        let mut scrubber = None;
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
            scrubber = Some(Scrubber::new(key.secret().expose()));
        }
        let started = Instant::now();
        let cap = self.caps.max_response.min(room);
        let result = self
            .exchange(
                method,
                url,
                builder_headers,
                request.body,
                &mut exchange,
                cap,
            )
            .await
            .map(|response| match &scrubber {
                Some(scrubber) => scrub_response(scrubber, response),
                None => response,
            });
        exchange.millis = started.elapsed().as_millis() as u64;
        if let Err(error) = &result {
            exchange.error = Some(format!("{error:?}"));
        }
        (result, Some(exchange))
    }

    /// Checks a plugin request against the allowlist and header rules.
    fn prepare(&self, request: &Request) -> Result<(Method, Url, HeaderMap), RequestRefused> {
        let url =
            Url::parse(&request.url).map_err(|error| RequestRefused::BadUrl(error.to_string()))?;
        self.allowlist.check(&url)?;
        if let Auth::Query(parameter) = &self.auth
            && url
                .query_pairs()
                .any(|(name, _)| name.eq_ignore_ascii_case(parameter))
        {
            return Err(RequestRefused::KeyParameter(parameter.clone()));
        }
        let method = match request.method.to_ascii_uppercase().as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            "HEAD" => Method::HEAD,
            other => return Err(RequestRefused::Method(other.to_owned())),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            if is_forbidden_header(name, &self.auth) {
                return Err(RequestRefused::ForbiddenHeader(name.clone()));
            }
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| RequestRefused::HeaderName(name.clone()))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| RequestRefused::HeaderValue(name.to_string()))?;
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
        cap: usize,
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
        let too_large = |what: String| {
            HttpError::TooLarge(if cap < self.caps.max_response {
                format!(
                    "{what} does not fit in the {cap} bytes left of the call's memory cap (plugins.memory)"
                )
            } else {
                format!("{what} is larger than the {cap}-byte cap (plugins.max_response)")
            })
        };
        if let Some(length) = response.content_length()
            && length > cap as u64
        {
            return Err(too_large(format!("the response ({length} bytes)")));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(transport_error)?;
            if body.len() + chunk.len() > cap {
                return Err(too_large("the response".into()));
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
    /// allowlist; the key goes only to the origin the plugin named when that is the
    /// API's own origin ([`Allowlist::takes_key`]), never to a redirect
    /// target on another origin (host or port).
    pub async fn download(
        &self,
        url: &str,
        key: Option<&KeyLease>,
        destination: &Path,
    ) -> Result<(u64, Vec<Exchange>), DownloadError> {
        let mut url = Url::parse(url)
            .map_err(|error| DownloadError::Refused(format!("bad download URL: {error}")))?;
        let origin = url.origin();
        let mut exchanges = Vec::new();
        for _hop in 0..6 {
            self.allowlist
                .check(&url)
                .map_err(|refusal| DownloadError::Refused(refusal.to_string()))?;
            let mut target = url.clone();
            let mut headers = HeaderMap::new();
            // Same scheme, host and port: a redirect elsewhere never gets the key, nor
            // does a URL outside the API origin (pre-signed storage links).
            let same_host = target.origin() == origin && self.allowlist.takes_key(&url);
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
            .map_err(|_| {
                DownloadError::Interrupted(format!("no response within {:?}", self.caps.first_byte))
            })?
            .map_err(|error| DownloadError::Interrupted(format!("{}", error.without_url())))?;
            let status = response.status();
            exchange.status = Some(status.as_u16());
            if status.is_redirection() {
                exchange.millis = started.elapsed().as_millis() as u64;
                exchanges.push(exchange);
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .ok_or_else(|| {
                        DownloadError::Refused("a redirect without a Location".into())
                    })?;
                url = url
                    .join(location)
                    .map_err(|error| DownloadError::Refused(format!("bad redirect: {error}")))?;
                continue;
            }
            if !status.is_success() {
                exchanges.push(exchange);
                let reason = storage_reason(response).await;
                return Err(DownloadError::Status(status.as_u16(), reason));
            }
            let written = self.stream_to(response, destination).await?;
            exchange.millis = started.elapsed().as_millis() as u64;
            exchanges.push(exchange);
            return Ok((written, exchanges));
        }
        Err(DownloadError::Refused("more than 5 redirects".into()))
    }

    async fn stream_to(
        &self,
        response: reqwest::Response,
        destination: &Path,
    ) -> Result<u64, DownloadError> {
        let io = |source: std::io::Error| DownloadError::Storage {
            path: destination.to_owned(),
            source,
        };
        let partial = destination.with_extension("part");
        let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
        let mut written: u64 = 0;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|error| DownloadError::Interrupted(format!("{}", error.without_url())))?;
            written += chunk.len() as u64;
            if written > self.caps.max_download {
                drop(file);
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(DownloadError::TooLarge {
                    cap: self.caps.max_download,
                });
            }
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        drop(file);
        tokio::fs::rename(&partial, destination).await.map_err(io)?;
        Ok(written)
    }
}

/// A response with the key scrubbed from its headers and body.
fn scrub_response(scrubber: &Scrubber, response: Response) -> Response {
    let (body, in_body) = scrubber.scrub(response.body);
    let mut reflected = in_body;
    let headers = response
        .headers
        .into_iter()
        .map(|(name, value)| {
            let (value, found) = scrubber.scrub_text(value);
            reflected |= found;
            (name, value)
        })
        .collect();
    if reflected {
        tracing::warn!(
            "A provider's response repeated the key it was sent; the copy was removed before the plugin saw it."
        );
    }
    Response {
        status: response.status,
        headers,
        body,
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

/// ` (text)`, or nothing for no text.
fn in_parentheses(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

/// `Code: Message` from a storage error body (`{"Code", "Message"}` as TOS answers,
/// `{"Error": {...}}`, or S3/GCS XML `<Code>`/`<Message>`), read from at most its first
/// 4 KiB; empty when the body has neither (nothing else of it is repeated).
async fn storage_reason(response: reqwest::Response) -> String {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while body.len() < 4096 {
        match tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
            Ok(Some(Ok(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(4096);
    let text = String::from_utf8_lossy(&body);
    let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let field = |name: &str| -> Option<String> {
        if let Some(json) = &json {
            let found = json.get(name).or_else(|| json.get("Error")?.get(name));
            return found.and_then(|value| value.as_str()).map(str::to_owned);
        }
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].to_owned())
    };
    let clean = |value: String| -> String {
        value
            .chars()
            .filter(|c| !c.is_control())
            .take(160)
            .collect()
    };
    match (field("Code").map(clean), field("Message").map(clean)) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => String::new(),
    }
}
