//! Small pieces every handler reads and answers with.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::counter;

use crate::error::GatewayError;

/// A JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Count an error answer under `switchyard_errors_total` by its code.
pub(crate) fn count_error(code: &'static str) {
    counter!("switchyard_errors_total", "code" => code).increment(1);
}

/// Read the request body, at most `limit` bytes and within `deadline`: a client that
/// trickles its body is cut off instead of holding the gateway's resources.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::TooLarge { limit });
    }
    let read = tokio::time::timeout(deadline, axum::body::to_bytes(body, limit));
    let Ok(read) = read.await else {
        return Err(GatewayError::BodyTimeout {
            secs: deadline.as_secs_f64(),
        });
    };
    read.map_err(|e| {
        let too_large = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
            .any(|e| e.to_string().contains("length limit exceeded"));
        if too_large {
            GatewayError::TooLarge { limit }
        } else {
            GatewayError::InvalidJson(format!("could not read the request body: {e}"))
        }
    })
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// The client's `x-request-id` when it sent a usable one, else a new gateway id.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok())
        && !id.is_empty()
        && id.len() <= 128
    {
        return id.to_string();
    }
    let n = REQUEST_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("sy-{:08x}-{n:x}", boot_nonce())
}

fn boot_nonce() -> u32 {
    static NONCE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *NONCE.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (t.as_nanos() as u32) ^ std::process::id().rotate_left(16)
    })
}
