//! Paths outside any provider's API that the host's own tests use on a fake's origin:
//! a large body (`/raw/big`, 2 MiB), a slow answer (`/raw/slow`, 3 s), a body that
//! stalls after its first bytes (`/raw/stall`), an upload sink (`/raw/upload`), and
//! a server that reflects what it was sent (`/raw/echo`: the query and every header,
//! raw in the body and in an `x-echo` header, percent-decoded, and in base64), as
//! careless error pages do.

use std::time::Duration;

use axum::response::{IntoResponse, Response};

use crate::server::Exchange;

/// The answer when `exchange` is for one of the raw paths.
pub async fn answer(exchange: &Exchange) -> Option<Response> {
    Some(match exchange.path.as_str() {
        "/raw/big" => vec![b'x'; 2 << 20].into_response(),
        "/raw/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "late".into_response()
        }
        "/raw/stall" => {
            let chunks = futures_util::stream::unfold(0, |step| async move {
                match step {
                    0 => Some((Ok::<_, std::io::Error>(axum::body::Bytes::from("first")), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        Some((Ok(axum::body::Bytes::from("late")), 2))
                    }
                    _ => None,
                }
            });
            axum::body::Body::from_stream(chunks).into_response()
        }
        "/raw/upload" => "stored".into_response(),
        "/raw/echo" => echo(exchange),
        _ => return None,
    })
}

/// Everything the request carried, reflected every way a server might.
fn echo(exchange: &Exchange) -> Response {
    use base64::Engine as _;
    let headers: Vec<String> = exchange
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    let decoded: String = form_urlencoded::parse(exchange.query.as_bytes())
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    let everything = format!("{}\n{}", exchange.query, headers.join("\n"));
    let body = serde_json::json!({
        "query": exchange.query,
        "decoded": decoded,
        "headers": headers,
        "base64": base64::engine::general_purpose::STANDARD.encode(&everything),
        "base64url": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("x{everything}")),
    });
    let mut response = axum::Json(body).into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&exchange.query) {
        response.headers_mut().insert("x-echo", value);
    }
    response
}
