//! Operations endpoints: `/healthz` (the process answers), `/readyz` (a provider is
//! usable; whether the keys are fresh), `/admin/health` (circuit breakers, routes, load)
//! and `/metrics` (Prometheus) — the last two behind the admin token when keys are on,
//! unless `[keys] public` lists them.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use switchyard_ledger::UsageEvent;

use super::allowed;
use crate::config::PublicEndpoint;
use crate::error::GatewayError;
use crate::keys::access::{PeerAddr, denied};
use crate::respond::json_response;
use crate::runtime::Live;
use crate::series::{ALL, Key};
use crate::state::AppState;
use crate::trail::MAX_TRAILS;
use crate::usage::{LogReader, read_log};

pub(super) async fn healthz() -> Response {
    json_response(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}"))
}

pub(super) async fn readyz(State(live): State<Arc<Live>>) -> Response {
    let st = live.get();
    // Draining at shutdown: out of rotation at once, whatever else holds.
    if st.drain.is_draining() {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from_static(b"{\"status\":\"draining\"}"),
        );
    }
    let usable: Vec<&str> = st
        .providers
        .values()
        .filter(|p| p.usable())
        .map(|p| p.id.as_str())
        .collect();
    let status = if usable.is_empty() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut body = json!({
        "status": if usable.is_empty() { "no usable provider" } else { "ready" },
        "providers": st.providers.values().map(|p| (p.id.clone(), json!({
            "usable": p.usable(),
            "simulated": p.simulated,
            "regions": p.regions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        }))).collect::<serde_json::Map<_, _>>(),
    });
    // Keys refreshed from a store that stopped answering are stale (revocations made
    // elsewhere are not seen); said here, without taking the replica out of rotation.
    if let Some(ring) = &st.keys {
        let every = st.config.keys.refresh;
        let fresh = ring.freshness(every, st.config.usage.postgres_options.query_timeout);
        body["keys"] = json!(fresh);
    }
    json_response(status, Bytes::from(body.to_string()))
}

pub(super) async fn admin_health(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let st = match allowed(&live, peer, &headers, PublicEndpoint::Health) {
        Ok(st) => st,
        Err(r) => return *r,
    };
    let mut body = st.health.snapshot();
    let mut routes: Vec<(&String, _)> = st.routes.iter().collect();
    routes.sort_by(|a, b| a.0.cmp(b.0));
    body["routes"] = routes
        .into_iter()
        .map(|(id, r)| (id.clone(), r.snapshot()))
        .collect::<serde_json::Map<_, _>>()
        .into();
    body["in_flight"] = st
        .admitted
        .load(std::sync::atomic::Ordering::Acquire)
        .into();
    body["max_concurrency"] = st.config.server.max_concurrency.into();
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

pub(super) async fn metrics_text(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = allowed(&live, peer, &headers, PublicEndpoint::Metrics) {
        return *r;
    }
    let mut resp = crate::telemetry::render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// `GET /admin/requests/{id}`: the trail of a recent request — route, attempts, usage
/// and cost. With keys on it needs the admin token (a trail names other callers' models
/// and spend), whatever `[keys] public` says.
pub(super) async fn request_trail(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let st = live.get();
    if st.keys.is_some()
        && let Err(r) = st.gate().admin(&headers, peer.map(|p| p.0))
    {
        return *r;
    }
    let trails = live.find_trails(&id);
    if trails.is_empty() {
        // Older requests: what the usage log has of them.
        match from_usage_log(&st, &id).await {
            Ok(records) if !records.is_empty() => {
                let body = json!({ "request_id": id, "source": "usage_log", "records": records });
                return json_response(StatusCode::OK, Bytes::from(body.to_string()));
            }
            Ok(_) => {}
            Err(e) => {
                // Not the same as "no such request": say so, and when to ask again.
                tracing::warn!(error = %e, "cannot read the usage log for a request trail");
                let mut r = denied(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable_error",
                    "usage_log_unavailable",
                    format!(
                        "request '{id}' is not in memory and the usage log cannot be read now; retry shortly"
                    ),
                );
                r.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    HeaderValue::from_static("1"),
                );
                return *r;
            }
        }
        return *denied(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "request_not_found",
            format!(
                "no request with id '{id}': not among the last {MAX_TRAILS} in memory, nor in the usage log"
            ),
        );
    }
    let trails: Vec<&crate::trail::Trail> = trails.iter().map(AsRef::as_ref).collect();
    let body = json!({ "request_id": id, "source": "memory", "trails": trails });
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

/// The usage log's records of request `id` (none when the log is off), read off the
/// runtime's workers.
async fn from_usage_log(st: &AppState, id: &str) -> Result<Vec<UsageEvent>, String> {
    /// Lookups in the log at once: each opens the database, so callers asking for ids
    /// that are not in memory cannot tie up the blocking pool or the database.
    static LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    if !st.config.usage.enabled {
        return Ok(Vec::new());
    }
    let _lookup = LOOKUPS
        .try_acquire()
        .map_err(|_| "two usage-log lookups are already running".to_string())?;
    let usage = st.config.usage.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        read_log(&usage, |log| match log {
            LogReader::Postgres(mut s) => s.events_of_request(&id),
            LogReader::Sqlite(s) => s.events_of_request(&id),
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map(Option::unwrap_or_default)
    .map_err(|e| e.to_string())
}

/// `GET /admin/stats` query: `series` (`all`, the default; a model id; or
/// `deployment:<provider>/<name>`), `range` (seconds, or with a unit: `5m`, `1h`,
/// `24h`; default `5m`, at most a day) and `points` (fold to at most this many; default:
/// every second up to an hour, every minute beyond).
#[derive(Debug, serde::Deserialize)]
pub(super) struct StatsQuery {
    series: Option<String>,
    range: Option<String>,
    points: Option<usize>,
}

/// `range` in seconds: a number, or a number with `s`, `m`, `h` or `d`.
fn parse_range(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, 's') => (text.get(..i)?, 1),
        (i, 'm') => (text.get(..i)?, 60),
        (i, 'h') => (text.get(..i)?, 3600),
        (i, 'd') => (text.get(..i)?, 86_400),
        _ => (text, 1),
    };
    let secs = number.parse::<u64>().ok()?.checked_mul(unit)?;
    (1..=86_400).contains(&secs).then_some(secs)
}

/// The range and point count of a stats or overview query, or the 400 saying what is
/// wrong.
fn range_and_points(
    range: Option<&str>,
    points: Option<usize>,
    default_points: usize,
) -> Result<(Duration, usize), Box<Response>> {
    let Some(range) = range.map_or(Some(300), parse_range) else {
        return Err(Box::new(
            GatewayError::InvalidValue {
                param: "range".into(),
                message: "range must be seconds (300) or a duration (5m, 1h, 24h), at most a day"
                    .into(),
            }
            .into_response(),
        ));
    };
    match points.unwrap_or(default_points) {
        p @ 1..=3600 => Ok((Duration::from_secs(range), p)),
        _ => Err(Box::new(
            GatewayError::InvalidValue {
                param: "points".into(),
                message: "points must be from 1 to 3600".into(),
            }
            .into_response(),
        )),
    }
}

/// `GET /admin/stats`: one series' points over a range — per second up to an hour, per
/// minute beyond — with the names of every series kept. Guarded like `/admin/health`.
pub(super) async fn stats(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    Query(q): Query<StatsQuery>,
) -> Response {
    let st = match allowed(&live, peer, &headers, PublicEndpoint::Health) {
        Ok(st) => st,
        Err(r) => return *r,
    };
    let (range, points) = match range_and_points(q.range.as_deref(), q.points, 3600) {
        Ok(rp) => rp,
        Err(r) => return *r,
    };
    let name = q.series.as_deref().unwrap_or(ALL);
    let found = Key::parse(name).and_then(|key| st.stats.points(key, range, points));
    let Some((width, points)) = found else {
        return *denied(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "series_not_found",
            format!(
                "no series '{name}': one is kept for all traffic, each of the first models used \
                 and each of the first deployments (`deployment:<provider>/<name>`)"
            ),
        );
    };
    let body = json!({
        "series": name,
        "range_secs": range.as_secs(),
        "step_secs": width,
        "points": points,
        "series_kept": st.stats.names(),
    });
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

/// `GET /admin/overview` query: `range` as for `/admin/stats`, `points` (default 300).
#[derive(Debug, serde::Deserialize)]
pub(super) struct OverviewQuery {
    range: Option<String>,
    points: Option<usize>,
}

/// `GET /admin/overview`: everything the dashboard draws, in one answer — every series
/// as columns, the breakers, requests in flight, the SLO and spend. Behind the admin
/// token (or the dashboard's session) whenever keys are on or a token is set.
pub(super) async fn overview(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let st = live.get();
    if let Err(r) = st.gate().dashboard(&headers, peer.map(|p| p.0)) {
        return *r;
    }
    let (range, points) = match range_and_points(q.range.as_deref(), q.points, 300) {
        Ok(rp) => rp,
        Err(r) => return *r,
    };
    let body = json!({
        "now": crate::series::now_secs(),
        "range_secs": range.as_secs(),
        "series": st.stats.overview(range, points),
        "breakers": super::overview::breakers(&st),
        "in_flight": st.admitted.load(std::sync::atomic::Ordering::Acquire),
        "max_concurrency": st.config.server.max_concurrency,
        "slo": st.stats.slo(st.config.slo.target, st.config.slo.window),
        "spend": super::overview::spend(&st),
    });
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_take_seconds_or_a_unit_and_stop_at_a_day() {
        assert_eq!(parse_range("300"), Some(300));
        assert_eq!(parse_range("5m"), Some(300));
        assert_eq!(parse_range("1h"), Some(3600));
        assert_eq!(parse_range("24h"), Some(86_400));
        assert_eq!(parse_range("1d"), Some(86_400));
        assert_eq!(parse_range("2d"), None);
        assert_eq!(parse_range("0"), None);
        assert_eq!(parse_range("m"), None);
        assert_eq!(parse_range("99999999999999999999h"), None);
        assert_eq!(parse_range("é"), None);
    }
}
