//! `GET /dashboard` and the `GET /admin/overview` it reads: open on the offline default,
//! behind the admin token (or the login form's session) once a token is set; the series
//! per deployment and the resilience events as a region fails; the SLO window and this
//! month's spend kept across a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_gateway::{AppState, Config};

use crate::common::{ADMIN_TOKEN, admin, ask, new_key, start, start_with};

/// Poll `check` every 50 ms until it gives `Some`, for at most `secs` seconds.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    secs: u64,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "waited {secs} s for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_dashboard_is_open_on_the_offline_default_without_keys_or_a_token() {
    let mut config = Config::embedded_default().unwrap();
    config.simulator.time_scale = 0.0;
    config.usage.enabled = false;
    config.slo.persist = false;
    let state = Arc::new(AppState::build(config, &|_| None).await.unwrap());
    let listener = switchyard_gateway::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(switchyard_gateway::serve(
        state,
        listener,
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();

    let page = get("/dashboard").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().await.unwrap().contains("/dashboard/app.js"));
    let js = get("/dashboard/app.js").await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(get("/dashboard/secrets.txt").await.unwrap().status(), 404);

    let o: Value = serde_json::from_slice(
        &get("/admin/overview?range=1m&points=30")
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(o["range_secs"], 60);
    assert_eq!(o["series"]["step_secs"], 2);
    assert_eq!(o["series"]["t"].as_array().unwrap().len(), 30);
    assert_eq!(o["slo"]["target"], 0.999);
    assert_eq!(o["slo"]["window_days"], 30);
    assert!(
        o["breakers"].as_array().unwrap().len() >= 8,
        "{}",
        o["breakers"]
    );
    for bad in [
        "/admin/overview?range=2d",
        "/admin/overview?points=0",
        "/admin/stats?points=4000",
    ] {
        let r = get(bad).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(v["error"]["code"], "invalid_value", "{bad}: {v}");
    }
}

#[tokio::test]
async fn with_an_admin_token_the_dashboard_needs_the_token_or_the_session_of_its_login_form() {
    let gw = start_with(0.0, |c| c.keys.enabled = true).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = gw.get("/dashboard").await;
    assert_eq!(page.status, 401);
    assert!(String::from_utf8_lossy(&page.body).contains("name=\"token\""));
    assert_eq!(gw.get("/admin/overview").await.status, 401);
    let bearer = admin(&gw, "GET", "/admin/overview", None, ADMIN_TOKEN).await;
    assert_eq!(bearer.status, 200);

    let login = |token: &str| {
        no_redirects
            .post(format!("{}/dashboard/login", gw.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    let wrong = login("nope").await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let right = login(ADMIN_TOKEN).await.unwrap();
    assert_eq!(right.status(), 303);
    assert_eq!(right.headers()["location"], "/dashboard");
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(ADMIN_TOKEN),
        "the token itself never goes to the browser"
    );
    let session = cookie.split(';').next().unwrap().to_string();

    let with_session = |method: reqwest::Method, path: &str| {
        no_redirects
            .request(method, format!("{}{path}", gw.base))
            .header("cookie", session.clone())
            .send()
    };
    for path in [
        "/dashboard",
        "/admin/overview",
        "/admin/stats",
        "/admin/health",
        "/metrics",
    ] {
        let r = with_session(reqwest::Method::GET, path).await.unwrap();
        assert_eq!(r.status(), 200, "{path} with the session");
    }
    // The session reads; it does not manage keys.
    assert_eq!(
        with_session(reqwest::Method::GET, "/admin/keys")
            .await
            .unwrap()
            .status(),
        401
    );
    let forged = no_redirects
        .get(format!("{}/admin/overview", gw.base))
        .header("cookie", "switchyard_admin=00")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let out = with_session(reqwest::Method::POST, "/dashboard/logout")
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let huge = no_redirects
        .post(format!("{}/dashboard/login", gw.base))
        .body(vec![b'a'; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
}

#[tokio::test]
async fn a_failing_region_shows_in_its_deployment_series_its_breaker_and_the_failover_count() {
    let gw = start().await;
    gw.fault("deepseek", "global", json!({"kind": "server_error"}))
        .await;
    for n in 0..8 {
        let r = gw.chat(ask("deepseek-v4-flash", &format!("hi {n}"))).await;
        assert_eq!(r.status, 200, "failed over to the other region");
    }
    let o = admin(&gw, "GET", "/admin/overview?range=1m", None, ADMIN_TOKEN)
        .await
        .json();
    let s = &o["series"];
    let sum = |v: &Value| -> f64 { v.as_array().unwrap().iter().filter_map(Value::as_f64).sum() };
    let failing = &s["deployments"]["deepseek/global"];
    assert!(sum(&failing["rps"]) >= 5.0, "{failing}");
    assert!(
        failing["error_ratio"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .all(|r| r == 1.0),
        "{failing}"
    );
    assert_eq!(sum(&s["deployments"]["deepseek/global-b"]["rps"]), 8.0);
    assert!(sum(&s["all"]["events_per_s"]["failovers"]) >= 5.0);
    assert_eq!(
        sum(&s["all"]["errors_per_s"]["upstream"]),
        0.0,
        "every request was answered"
    );
    assert_eq!(sum(&s["models"]["deepseek-v4-flash"]["rps"]), 8.0);
    let breaker = o["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["provider"] == "deepseek" && b["deployment"] == "global")
        .unwrap();
    assert_eq!(breaker["state"], "open", "{breaker}");
    let why = breaker["opened_because"].as_str().unwrap();
    assert!(
        why.contains("failures in a row") && why.contains("Internal Server Error"),
        "{why}"
    );
    assert!(breaker["opened_at_ms"].as_i64().unwrap() > 0);
    assert_eq!(o["slo"]["requests"], 8);
    assert_eq!(o["slo"]["failed"], 0);

    // Scripts read one deployment's series from /admin/stats.
    let one = admin(
        &gw,
        "GET",
        "/admin/stats?series=deployment:deepseek/global&range=1m&points=6",
        None,
        ADMIN_TOKEN,
    )
    .await
    .json();
    assert_eq!(one["step_secs"], 10);
    let points = one["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    let failed: f64 = points
        .iter()
        .map(|p| p["errors_per_s"]["upstream"].as_f64().unwrap() * 10.0)
        .sum();
    assert!(failed >= 5.0, "{one}");
    assert!(
        one["series_kept"]
            .as_array()
            .unwrap()
            .contains(&json!("deployment:deepseek/global-b"))
    );
}

#[tokio::test]
async fn the_slo_window_and_this_months_spend_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (usage, slo) = (dir.path().join("usage.db"), dir.path().join("slo.json"));
    let tweak = |c: &mut Config| {
        c.usage.path = Some(usage.clone());
        c.slo.path = Some(slo.clone());
        c.keys.enabled = true;
    };
    let first = start_with(0.0, tweak).await;
    let (key, id) = new_key(&first, json!({"name": "k", "team": "t"})).await;
    for n in 0..3 {
        let r = first
            .chat_as(&key, ask("qwen3-32b", &format!("hi {n}")))
            .await;
        assert_eq!(r.status, 200);
    }
    first
        .fault("dashscope", "*", json!({"kind": "server_error"}))
        .await;
    assert!(first.chat_as(&key, ask("qwen3-32b", "fails")).await.status >= 500);
    first.flush_usage();
    let before = admin(&first, "GET", "/admin/overview", None, ADMIN_TOKEN)
        .await
        .json();
    assert_eq!(
        (
            before["slo"]["requests"].as_u64(),
            before["slo"]["failed"].as_u64()
        ),
        (Some(4), Some(1))
    );
    let spent = before["spend"]["keys"][0]["month_usd"].as_f64().unwrap();
    assert!(spent > 0.0);
    assert_eq!(before["spend"]["keys"][0]["key"], id.as_str());
    drop(first);
    // The server writes the window once its last request is recorded.
    until("the SLO window on disk", 10, || async {
        slo.exists().then_some(())
    })
    .await;

    let second = start_with(0.0, tweak).await;
    let after = until("this month's spend from the usage log", 10, || async {
        let o = admin(&second, "GET", "/admin/overview", None, ADMIN_TOKEN)
            .await
            .json();
        (!o["spend"]["keys"].as_array().unwrap().is_empty()).then_some(o)
    })
    .await;
    assert_eq!(after["slo"]["requests"], 4);
    assert_eq!(after["slo"]["failed"], 1);
    let key_row = &after["spend"]["keys"][0];
    assert_eq!(key_row["key"], id.as_str());
    assert!(
        (key_row["month_usd"].as_f64().unwrap() - spent).abs() < 1e-12,
        "{key_row} vs {spent}"
    );
    assert!((key_row["today_usd"].as_f64().unwrap() - spent).abs() < 1e-12);
    assert_eq!(after["spend"]["teams"][0]["team"], "t");
}
