//! Paths outside any provider's API that the host's own tests use on a fake's origin:
//! a large body (`/raw/big`, 2 MiB), a slow answer (`/raw/slow`, 3 s), a body that
//! stalls after its first bytes (`/raw/stall`) and an upload sink (`/raw/upload`).

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
        _ => return None,
    })
}
