//! `GET /dashboard`: the live dashboard, served from assets compiled into the binary (no
//! CDN: it works offline). Open on the embedded default (no keys, no admin token); else
//! behind the admin token — as a bearer token, or through a session cookie the login form
//! sets (a digest of the token, `HttpOnly`, `SameSite=Strict`). The page reads
//! `GET /admin/overview`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::keys::access::{PeerAddr, SESSION_COOKIE, session_value};
use crate::runtime::Live;

const INDEX: &str = include_str!("../../assets/dashboard/index.html");
const LOGIN: &str = include_str!("../../assets/dashboard/login.html");
const APP_JS: &str = include_str!("../../assets/dashboard/app.js");
const STYLE: &str = include_str!("../../assets/dashboard/style.css");
/// Seconds a dashboard session lasts.
const SESSION_SECS: u32 = 12 * 3600;
/// The longest login form read.
const MAX_LOGIN_BYTES: usize = 4096;

/// A page with the headers every dashboard answer carries: no caching, no framing, and
/// scripts, styles and requests from this origin only.
fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(h);
    r
}

fn secure(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The login page, saying `problem` (escaped).
fn login_page(status: StatusCode, problem: &str) -> Response {
    let escaped = problem
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    html(status, LOGIN.replace("{{problem}}", &escaped))
}

/// The message of a refusal from the gate (its JSON error's `message`).
async fn message_of(refusal: Response) -> (StatusCode, String) {
    let status = refusal.status();
    let body = axum::body::to_bytes(refusal.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| "not allowed".to_string());
    (status, message)
}

/// `GET /dashboard`: the page, or the login form.
pub(super) async fn page(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let st = live.get();
    match st.gate().dashboard(&headers, peer.map(|p| p.0)) {
        Ok(()) => html(StatusCode::OK, INDEX.to_string()),
        Err(refusal) => {
            let (status, message) = message_of(*refusal).await;
            // A first visit is not a failure worth shouting about.
            let problem =
                if headers.contains_key(header::COOKIE) || status != StatusCode::UNAUTHORIZED {
                    message
                } else {
                    String::new()
                };
            login_page(status, &problem)
        }
    }
}

/// The login form.
#[derive(Debug, serde::Deserialize)]
pub(super) struct LoginForm {
    token: String,
}

/// `POST /dashboard/login`: a right token sets the session and goes to the dashboard;
/// a wrong one counts against the address like any wrong admin token.
pub(super) async fn login(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    body: axum::body::Body,
) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_LOGIN_BYTES).await else {
        return login_page(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large");
    };
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&bytes) else {
        return login_page(StatusCode::BAD_REQUEST, "send the form with a token field");
    };
    let st = live.get();
    let gate = st.gate();
    if let Err(refusal) = gate.login(&form.token, peer.map(|p| p.0)) {
        let (status, message) = message_of(*refusal).await;
        return login_page(status, &message);
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}",
        session_value(&form.token)
    );
    see_dashboard(&cookie)
}

/// `POST /dashboard/logout`: the session cookie cleared.
pub(super) async fn logout() -> Response {
    see_dashboard(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    ))
}

fn see_dashboard(cookie: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/dashboard"));
    if let Ok(v) = HeaderValue::from_str(cookie) {
        h.insert(header::SET_COOKIE, v);
    }
    secure(h);
    r
}

/// `GET /dashboard/{asset}`: the script and the style sheet (no data in them, so not
/// guarded: the login page uses the style too).
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => {
            return crate::error::GatewayError::UnknownRoute {
                method: "GET".into(),
                path: format!("/dashboard/{name}"),
            }
            .into_response();
        }
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    secure(h);
    r
}
