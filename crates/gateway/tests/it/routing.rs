//! Deployments and how requests spread over them: home region first, weights, least
//! outstanding, latency, per-deployment and gateway-wide concurrency limits, and hedged
//! requests that beat a slow deployment — each through the real gateway and simulator.

use std::time::{Duration, Instant};

use crate::common;
use crate::common::{ask, routes, start_with};
use futures_util::future::join_all;
use serde_json::json;

/// Two deepseek deployments in one tier, so that the balancer (not failover) decides.
fn two_deepseek(extra: &str) -> String {
    format!(
        "[routes.\"deepseek-v4-flash\"]\n{extra}\n\
         deployments = [{{ region = \"global\", priority = 0 }}, {{ region = \"global-b\", priority = 0 }}]\n"
    )
}

#[tokio::test]
async fn the_home_region_serves_and_other_regions_only_take_spill_over() {
    let gw = start_with(0.0, |c| c.server.region = Some("cn".into())).await;
    for _ in 0..10 {
        let r = gw.chat(ask("kimi-k2.5", "hi")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-switchyard-region"), Some("cn"));
    }
    assert_eq!(gw.served("moonshot", "global").await, 0);
    // Home region down: the far one takes over.
    gw.fault("moonshot", "cn", json!({"kind": "server_error"}))
        .await;
    let r = gw.chat(ask("kimi-k2.5", "hi")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-switchyard-region"), Some("global"));
}

#[tokio::test]
async fn weighted_balance_splits_traffic_by_weight() {
    let gw = start_with(0.0, |c| {
        c.routes = routes(
            "[routes.\"deepseek-v4-flash\"]\nbalance = \"weighted\"\n\
             deployments = [{ region = \"global\", weight = 3, priority = 0 }, { region = \"global-b\", weight = 1, priority = 0 }]\n",
        );
    })
    .await;
    for _ in 0..400 {
        assert_eq!(gw.chat(ask("deepseek-v4-flash", "hi")).await.status, 200);
    }
    let (a, b) = (
        gw.served("deepseek", "global").await,
        gw.served("deepseek", "global-b").await,
    );
    assert_eq!(a + b, 400);
    assert!((250..=350).contains(&a), "3:1 split expected, got {a}:{b}");
}

#[tokio::test]
async fn least_outstanding_steers_concurrent_load_away_from_a_slow_deployment() {
    let gw = start_with(0.0, |c| c.routes = routes(&two_deepseek(""))).await;
    gw.fault(
        "deepseek",
        "global",
        json!({"kind": "latency_spike", "delay_ms": 400}),
    )
    .await;
    // A request every 20 ms, overlapping: while one is stuck on the slow deployment, it
    // loses every two-choice draw to the idle fast one.
    let gw = &gw;
    let arrivals = (0..20u64).map(|i| async move {
        tokio::time::sleep(Duration::from_millis(20 * i)).await;
        gw.chat(ask("deepseek-v4-flash", "hi")).await
    });
    assert!(join_all(arrivals).await.iter().all(|r| r.status == 200));
    let slow = gw.served("deepseek", "global").await;
    let fast = gw.served("deepseek", "global-b").await;
    assert_eq!(slow + fast, 20);
    assert!(slow <= 3, "fast {fast} vs slow {slow}");
}

#[tokio::test]
async fn latency_balance_learns_which_deployment_answers_first() {
    let gw = start_with(0.0, |c| {
        c.routes = routes(&two_deepseek("balance = \"latency\""));
    })
    .await;
    gw.fault(
        "deepseek",
        "global",
        json!({"kind": "latency_spike", "delay_ms": 150}),
    )
    .await;
    for _ in 0..30 {
        assert_eq!(gw.chat(ask("deepseek-v4-flash", "hi")).await.status, 200);
    }
    let slow = gw.served("deepseek", "global").await;
    assert!(
        slow <= 3,
        "after one measurement the slow deployment loses: {slow}"
    );
    let health = gw.get("/admin/health").await.json();
    let deps = health["routes"]["deepseek-v4-flash"]["deployments"]
        .as_array()
        .unwrap()
        .clone();
    let ewma = |name: &str| {
        deps.iter().find(|d| d["name"] == name).unwrap()["ewma_ttft_ms"]
            .as_f64()
            .unwrap()
    };
    assert!(ewma("global") >= 150.0 && ewma("global-b") < 150.0);
}

#[tokio::test]
async fn a_full_deployment_spills_over_and_a_full_model_is_shed_with_retry_after() {
    let gw = start_with(0.0, |c| {
        c.routes = routes(
            "[routes.\"deepseek-v4-flash\"]\n\
             deployments = [{ region = \"global\", max_concurrency = 1 }, { region = \"global-b\", max_concurrency = 1 }]\n",
        );
    })
    .await;
    gw.fault(
        "deepseek",
        "*",
        json!({"kind": "latency_spike", "delay_ms": 500}),
    )
    .await;
    let started = Instant::now();
    let replies = join_all((0..3).map(|_| gw.chat(ask("deepseek-v4-flash", "hi")))).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 429]);
    let shed = replies.iter().find(|r| r.status == 429).unwrap();
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert!(
        shed.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("concurrency limit")
    );
    let regions: Vec<&str> = replies
        .iter()
        .filter_map(|r| r.header("x-switchyard-region"))
        .collect();
    assert!(regions.contains(&"global") && regions.contains(&"global-b"));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        gw.served("deepseek", "global").await + gw.served("deepseek", "global-b").await,
        2,
        "the shed request never reached a vendor"
    );
}

#[tokio::test]
async fn past_the_gateway_limit_requests_get_a_fast_503() {
    let gw = start_with(0.0, |c| c.server.max_concurrency = 2).await;
    gw.fault(
        "deepseek",
        "*",
        json!({"kind": "latency_spike", "delay_ms": 600}),
    )
    .await;
    let slow = (0..2).map(|_| gw.chat(ask("deepseek-v4-flash", "hi")));
    let probe = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let t = Instant::now();
        let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
        (r, t.elapsed())
    };
    let (slow, (shed, took)) = tokio::join!(join_all(slow), probe);
    assert!(slow.iter().all(|r| r.status == 200));
    assert_eq!(shed.status, 503);
    assert_eq!(shed.json()["error"]["code"], "gateway_overloaded");
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert!(
        took < Duration::from_millis(300),
        "shed at once, took {took:?}"
    );
    // Capacity comes back when the requests finish.
    assert_eq!(gw.chat(ask("deepseek-v4-flash", "hi")).await.status, 200);
}

/// Hedging on deepseek-v4-flash across two deployments, the first one slow.
fn hedged(c: &mut switchyard_gateway::Config) {
    c.routes = routes(
        "[routes.\"deepseek-v4-flash\"]\nbalance = \"ordered\"\n\
         hedge = { percentile = 90, initial_delay_ms = 100, min_delay_ms = 20 }\n\
         deployments = [{ region = \"global\", priority = 0 }, { region = \"global-b\", priority = 0 }]\n",
    );
}

#[tokio::test]
async fn a_hedge_beats_a_slow_deployment_and_the_loser_is_cancelled_and_costed() {
    let gw = start_with(0.0, hedged).await;
    gw.fault(
        "deepseek",
        "global",
        json!({"kind": "latency_spike", "delay_ms": 3000}),
    )
    .await;
    for stream in [false, true] {
        let mut body = ask("deepseek-v4-flash", "hi");
        body["stream"] = json!(stream);
        let t = Instant::now();
        let r = gw.chat(body).await;
        assert_eq!(r.status, 200, "stream={stream}");
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(r.header("x-switchyard-deployment"), Some("global-b"));
        assert_eq!(r.header("x-switchyard-attempts"), Some("2"));
        if stream {
            assert!(r.ends_with_done());
            assert!(!common::streamed_text(&r.chunks(), "content").is_empty());
        } else {
            assert!(r.json()["choices"][0]["message"]["content"].is_string());
        }
    }
    // Each request billed once as completed; each cancelled hedge loser once, apart.
    let model = "model=\"deepseek-v4-flash\"";
    let completed = gw
        .metric(
            "switchyard_usage_records_total",
            &[model, "outcome=\"completed\""],
        )
        .await;
    let cancelled = gw
        .metric(
            "switchyard_usage_records_total",
            &[model, "outcome=\"hedge_cancelled\""],
        )
        .await;
    assert_eq!((completed, cancelled), (2.0, 2.0));
    assert_eq!(gw.metric("switchyard_hedges_total", &[]).await, 2.0);
    assert_eq!(gw.metric("switchyard_hedge_wins_total", &[]).await, 2.0);
    // The loser was cancelled upstream: the simulator saw the client leave.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(gw.sim_stats().await["in_flight"], 0);
}

#[tokio::test]
async fn a_fast_first_attempt_is_not_hedged() {
    let gw = start_with(0.0, hedged).await;
    for _ in 0..5 {
        let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-switchyard-attempts"), Some("1"));
    }
    assert_eq!(gw.served("deepseek", "global-b").await, 0);
    assert_eq!(gw.metric("switchyard_hedges_total", &[]).await, 0.0);
}

#[tokio::test]
async fn the_hedge_budget_caps_extra_requests() {
    let gw = start_with(0.0, |c| {
        c.routes = routes(
            "[routes.\"deepseek-v4-flash\"]\nbalance = \"ordered\"\n\
             hedge = { initial_delay_ms = 20, min_delay_ms = 20, budget_ratio = 0.0, budget_reserve = 2 }\n\
             deployments = [{ region = \"global\", priority = 0 }, { region = \"global-b\", priority = 0 }]\n",
        );
    })
    .await;
    gw.fault(
        "deepseek",
        "global",
        json!({"kind": "latency_spike", "delay_ms": 200}),
    )
    .await;
    let mut attempts = Vec::new();
    for _ in 0..5 {
        let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
        assert_eq!(r.status, 200);
        attempts.push(r.header("x-switchyard-attempts").unwrap().to_string());
    }
    assert_eq!(
        attempts,
        ["2", "2", "1", "1", "1"],
        "two saved-up hedges, then none"
    );
    assert_eq!(gw.metric("switchyard_hedges_total", &[]).await, 2.0);
}

#[tokio::test]
async fn a_models_own_ttft_limit_moves_a_stalled_stream_on() {
    let gw = start_with(0.0, |c| {
        c.routes = routes("[routes.\"kimi-k2.5\"]\nttft_timeout_secs = 0.3\n");
    })
    .await;
    gw.fault(
        "moonshot",
        "global",
        json!({"kind": "stall_after", "tokens": 0}),
    )
    .await;
    let mut body = ask("kimi-k2.5", "hi");
    body["stream"] = json!(true);
    let t = Instant::now();
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200);
    assert!(r.ends_with_done());
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(gw.served("moonshot", "cn").await, 1);
}

#[tokio::test]
async fn a_route_to_an_unknown_model_or_region_fails_start_up_naming_the_line() {
    for (toml, needle) in [
        (
            "\n[routes.\"deepseek-v4-flash\"]\ndeployments = [{ region = \"mars\" }]\n",
            "use one of: global, global-b",
        ),
        (
            "\n[routes.\"no-such-model\"]\nbalance = \"weighted\"\n",
            "switchyard models",
        ),
    ] {
        let mut config = switchyard_gateway::Config::embedded_default().unwrap();
        config.simulator.time_scale = 0.0;
        config.routes = routes(toml);
        config.source = "routes.toml".into();
        let err = common::start_error(config).await;
        assert!(err.contains("routes.toml line 2"), "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

#[tokio::test]
async fn a_probe_brings_a_region_back_and_it_warms_up_gradually() {
    let gw = start_with(0.0, |c| {
        c.health.consecutive_failures = 2;
        c.health.cooldown = Duration::from_secs(600);
        c.health.probe_interval = Some(Duration::from_millis(50));
        c.health.slow_start = Duration::from_secs(600);
    })
    .await;
    let state = |h: &serde_json::Value| h["providers"]["deepseek"]["global"]["state"].clone();
    gw.fault("deepseek", "global", json!({"kind": "server_error"}))
        .await;
    for _ in 0..4 {
        assert_eq!(gw.chat(ask("deepseek-v4-flash", "hi")).await.status, 200);
    }
    assert_eq!(state(&gw.get("/admin/health").await.json()), "open");
    // While the region is still down, probes keep it out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(state(&gw.get("/admin/health").await.json()), "open");
    assert!(
        gw.metric("switchyard_probes_total", &["result=\"down\""])
            .await
            >= 2.0
    );
    // Back up: a probe (not a live request, the cooldown is 10 minutes) notices.
    gw.clear_faults().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while state(&gw.get("/admin/health").await.json()) != "closed" {
        assert!(Instant::now() < deadline, "no probe closed the breaker");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let health = gw.get("/admin/health").await.json();
    assert!(
        health["providers"]["deepseek"]["global"]["warmth"]
            .as_f64()
            .unwrap()
            < 0.2
    );
    // Warming up: the home region takes back only about a tenth of the traffic for now.
    let before = gw.served("deepseek", "global").await;
    for _ in 0..200 {
        assert_eq!(gw.chat(ask("deepseek-v4-flash", "hi")).await.status, 200);
    }
    let back = gw.served("deepseek", "global").await - before;
    assert!(
        (5..=50).contains(&back),
        "{back} of 200 went to the recovering region"
    );
}

#[tokio::test]
async fn a_deployment_far_slower_than_its_peer_is_taken_out_as_an_outlier() {
    let gw = start_with(0.0, |c| {
        c.health.consecutive_failures = 3;
        c.routes = routes(&two_deepseek("balance = \"weighted\""));
    })
    .await;
    gw.fault(
        "deepseek",
        "global",
        json!({"kind": "latency_spike", "delay_ms": 300}),
    )
    .await;
    let open = |h: serde_json::Value| h["providers"]["deepseek"]["global"]["state"] == "open";
    let mut sent = 0;
    while !open(gw.get("/admin/health").await.json()) {
        assert!(sent < 60, "the slow deployment was never taken out");
        let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
        assert_eq!(r.status, 200, "slow answers are still delivered");
        sent += 1;
    }
    assert!(gw.metric("switchyard_latency_outliers_total", &[]).await >= 3.0);
    // Out: the fast deployment takes everything.
    let before = gw.served("deepseek", "global").await;
    for _ in 0..10 {
        assert_eq!(gw.chat(ask("deepseek-v4-flash", "hi")).await.status, 200);
    }
    assert_eq!(gw.served("deepseek", "global").await, before);
}

#[tokio::test]
async fn a_deployment_at_its_vendor_quota_spills_over_then_the_model_answers_429() {
    let gw = start_with(0.0, |c| {
        c.routes = routes(
            "[routes.\"deepseek-v4-flash\"]\n\
             deployments = [{ region = \"global\", rpm = 2 }, { region = \"global-b\", rpm = 1 }]\n",
        );
    })
    .await;
    let mut regions = Vec::new();
    for _ in 0..3 {
        let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
        assert_eq!(r.status, 200);
        regions.push(r.header("x-switchyard-region").unwrap().to_string());
    }
    assert_eq!(
        regions,
        ["global", "global", "global-b"],
        "spill-over past the quota"
    );
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 429);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("vendor quota")
    );
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(
        gw.served("deepseek", "global").await + gw.served("deepseek", "global-b").await,
        3,
        "the refused request never reached the vendor"
    );
}
