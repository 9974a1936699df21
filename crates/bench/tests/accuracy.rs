//! The load tester measured against the simulator with known, jitter-free latency:
//! its TTFT, ITL and E2E figures must match the configured values; an overloaded target
//! must show its queue in open-loop figures (no coordinated omission); errors must be
//! counted by kind; and a sweep must find a known capacity.

#![expect(
    clippy::unwrap_used,
    reason = "test crate: a failed step is a failed test"
)]

use std::sync::Arc;
use std::time::Duration;

use switchyard_bench::ExtraHeaders;
use switchyard_bench::analyze::analyze;
use switchyard_bench::engine::{self, Load, Plan};
use switchyard_bench::report::{GroupReport, RunMeta};
use switchyard_bench::slo::Conditions;
use switchyard_bench::sweep::{SweepPlan, sweep};
use switchyard_bench::workload::{Dist, Source};
use switchyard_catalog::Catalog;
use switchyard_sim::{SimConfig, SimHandle};
use switchyard_wire::Dialect;

const MODEL: &str = "deepseek-v4-flash";

struct Target {
    sim: SimHandle,
    /// Configured time to first token, ms (scaled).
    ttft_ms: f64,
    /// Configured time per token, ms (scaled).
    per_token_ms: f64,
}

async fn sim(time_scale: f64, capacity: Option<u32>) -> Target {
    let catalog = Arc::new(Catalog::builtin().unwrap());
    let m = catalog.get(MODEL).unwrap();
    let (ttft, tps) = (
        f64::from(m.typical_ttft_ms),
        f64::from(m.typical_tokens_per_sec),
    );
    let mut config = SimConfig::for_catalog(&catalog, 7, time_scale);
    config.jitter = false;
    config.capacity = capacity;
    let sim = switchyard_sim::spawn(config, catalog, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    Target {
        sim,
        ttft_ms: ttft * time_scale,
        per_token_ms: 1000.0 / tps * time_scale,
    }
}

fn plan(t: &Target, load: Load, requests: u64, output: u32) -> Plan {
    Plan {
        target: t.sim.base_url("deepseek", "global", Dialect::DeepSeek),
        models: vec![MODEL.into()],
        load,
        duration: None,
        max_requests: Some(requests),
        stream: true,
        timeout: Duration::from_secs(30),
        api_key: Some("k".into()),
        headers: ExtraHeaders::default(),
        source: Source::Synthetic {
            input: Dist::Fixed(32),
            output: Dist::Fixed(output),
        },
        seed: 3,
        progress: false,
        exact_output: true,
    }
}

async fn measure(p: &Plan) -> GroupReport {
    let client = engine::http_client().unwrap();
    let data = engine::run(p, &client).await.unwrap();
    analyze(p, &data, None, RunMeta::default()).groups.remove(0)
}

fn close(measured: f64, expected: f64, tol_ms: f64, what: &str) {
    assert!(
        (measured - expected).abs() <= tol_ms,
        "{what}: measured {measured:.2} ms, configured {expected:.2} ms (tolerance ±{tol_ms} ms)"
    );
}

#[tokio::test]
async fn ttft_itl_and_e2e_match_the_configured_latency() {
    let t = sim(0.25, None).await;
    let out = 12;
    let g = measure(&plan(&t, Load::Closed { concurrency: 4 }, 24, out)).await;
    assert_eq!((g.ok, g.errors), (24, 0));
    let (ttft, itl, e2e) = (g.ttft.unwrap(), g.itl_token.unwrap(), g.e2e.unwrap());
    close(ttft.p50, t.ttft_ms, 3.0, "TTFT p50");
    close(ttft.p99, t.ttft_ms, 6.0, "TTFT p99");
    close(itl.p50, t.per_token_ms, 1.0, "ITL per token p50");
    // The simulator's schedule: token k (1-based) at TTFT + (k-1) steps, and the finish
    // chunk (with usage and [DONE]) one step after the last token; E2E ends there.
    let expected_e2e = t.ttft_ms + f64::from(out) * t.per_token_ms;
    close(e2e.p50, expected_e2e, 6.0, "E2E p50");
    close(g.tpot.unwrap().p50, t.per_token_ms, 1.0, "TPOT p50");
    assert_eq!(
        g.output_tokens,
        24 * u64::from(out),
        "token counts come from usage"
    );
    assert!(!g.tokens_estimated);
}

#[tokio::test]
async fn overloaded_target_shows_its_queue_in_open_loop_figures() {
    // One slot; each request takes S = TTFT + 1 token; offered at 2/S it is twice over capacity.
    let t = sim(0.05, Some(1)).await;
    let service_ms = t.ttft_ms + t.per_token_ms;
    let rate = 2000.0 / service_ms;
    let open = measure(&plan(
        &t,
        Load::Open {
            rate,
            poisson: false,
        },
        20,
        1,
    ))
    .await;
    let closed = measure(&plan(&t, Load::Closed { concurrency: 1 }, 10, 1)).await;
    let (open_e2e, closed_e2e) = (open.e2e.unwrap(), closed.e2e.unwrap());
    // Closed loop waits for each answer, so it never sees the queue: E2E ≈ S.
    close(closed_e2e.p50, service_ms, 5.0, "closed-loop E2E p50");
    // Open loop keeps sending on schedule: the last request waits for ~10 before it.
    assert!(
        open_e2e.max > 8.0 * service_ms,
        "open-loop max E2E {:.1} ms should show ~10 queued requests of {service_ms:.1} ms",
        open_e2e.max
    );
    assert!(
        open_e2e.p50 > 3.0 * service_ms,
        "median request queued: {:.1} ms",
        open_e2e.p50
    );
    // The queue is the target's, not the generator's: requests left about on time
    // (bounded loosely, as tests share the cores).
    assert!(
        open.dispatch_delay.unwrap().p50 < service_ms / 2.0,
        "the generator kept its schedule"
    );
}

#[tokio::test]
async fn errors_are_counted_by_kind_and_the_run_goes_on() {
    let t = sim(0.0, None).await;
    let transport = engine::http_client().unwrap();
    let http = transport.reqwest();
    let fault = |body: &str| {
        http.put(format!("http://{}/_sim/faults/deepseek/global", t.sim.addr))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    assert!(
        fault(r#"{"kind": "rate_limit", "count": 5}"#)
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let g = measure(&plan(&t, Load::Closed { concurrency: 1 }, 20, 4)).await;
    assert_eq!(g.errors_by_kind.get("http_429"), Some(&5));
    assert_eq!((g.ok, g.errors), (15, 5));
    assert!(
        fault(r#"{"kind": "drop_after", "tokens": 2, "count": 3}"#)
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let g = measure(&plan(&t, Load::Closed { concurrency: 1 }, 10, 8)).await;
    assert_eq!(
        g.errors_by_kind.get("stream_truncated"),
        Some(&3),
        "{:?}",
        g.errors_by_kind
    );
    assert_eq!(g.ok, 7);
    // A stalled stream is cut at --timeout and counted as a time-out.
    assert!(
        fault(r#"{"kind": "stall_after", "tokens": 1, "count": 2}"#)
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let mut p = plan(&t, Load::Closed { concurrency: 2 }, 6, 4);
    p.timeout = Duration::from_millis(300);
    let g = measure(&p).await;
    assert_eq!((g.timeouts, g.ok), (2, 4), "{:?}", g.errors_by_kind);
}

#[tokio::test]
async fn a_generator_that_cannot_keep_up_says_so() {
    let t = sim(0.0, None).await;
    let mut p = plan(
        &t,
        Load::Open {
            rate: 100_000.0,
            poisson: false,
        },
        0,
        1,
    );
    p.max_requests = None;
    p.duration = Some(Duration::from_millis(200));
    let client = engine::http_client().unwrap();
    let data = engine::run(&p, &client).await.unwrap();
    let report = analyze(&p, &data, None, RunMeta::default());
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("fell behind") || w.contains("could not keep up")),
        "{:?}",
        report.warnings
    );
}

#[tokio::test]
async fn unreachable_target_fails_fast_with_the_reason() {
    let started = std::time::Instant::now();
    let err = engine::preflight("http://127.0.0.1:9/v1")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot reach") && err.contains("refused"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(engine::preflight("not a url").await.is_err());
}

#[tokio::test]
async fn sweep_finds_the_known_capacity() {
    // Capacity C = 4 slots, S = time_scale × (TTFT + 1 token): capacity C/S req/s.
    let t = sim(0.05, Some(4)).await;
    let service_ms = t.ttft_ms + t.per_token_ms;
    let capacity = 4.0 * 1000.0 / service_ms;
    let slo: Conditions = format!("p99_e2e<={}ms", (3.0 * service_ms).round())
        .parse()
        .unwrap();
    let mut p = plan(
        &t,
        Load::Open {
            rate: 1.0,
            poisson: false,
        },
        0,
        1,
    );
    p.max_requests = None;
    let sp = SweepPlan {
        start: capacity / 4.0,
        factor: 1.5,
        max_steps: 8,
        step: Duration::from_millis(1000),
        poisson: false,
    };
    let client = engine::http_client().unwrap();
    let report = sweep(&p, &client, &slo, sp, RunMeta::default())
        .await
        .unwrap();
    let s = report.sweep.unwrap();
    let found = s.max_rate_within_slo.expect("some step held the SLO");
    assert!(
        found >= 0.7 * capacity && found <= 1.1 * capacity,
        "found {found:.1} req/s, capacity is {capacity:.1} req/s; steps: {:?}",
        s.steps
            .iter()
            .map(|st| (st.offered_rps, st.p99_e2e_ms, st.within_slo))
            .collect::<Vec<_>>()
    );
    assert!(
        s.steps.iter().any(|st| !st.within_slo),
        "the sweep went past capacity"
    );
    let knee = s.knee_rate.expect("a knee");
    assert!(
        knee <= found * 1.01,
        "latency bends at or before the SLO breaks"
    );
}

#[tokio::test]
async fn poisson_and_ramp_schedules_offer_the_asked_load() {
    let t = sim(0.0, None).await;
    // Poisson at 400 req/s for 1 s: ~400 requests (a Poisson count has sd 20).
    let mut p = plan(
        &t,
        Load::Open {
            rate: 400.0,
            poisson: true,
        },
        0,
        2,
    );
    p.max_requests = None;
    p.duration = Some(Duration::from_secs(1));
    let g = measure(&p).await;
    assert!(
        (320..=480).contains(&g.requests),
        "poisson sent {}",
        g.requests
    );
    // Ramp 50 → 450 req/s over 1 s: ~250 in all, and the second half busier than the first.
    p.load = Load::Ramp {
        from: 50.0,
        to: 450.0,
    };
    let client = engine::http_client().unwrap();
    let data = engine::run(&p, &client).await.unwrap();
    let recs = &data.groups[0].recs;
    assert!(
        (200..=300).contains(&recs.len()),
        "ramp sent {}",
        recs.len()
    );
    let first_half = recs
        .iter()
        .filter(|r| r.scheduled < Duration::from_millis(505))
        .count();
    assert!(
        first_half * 2 < recs.len(),
        "first half {first_half} of {}",
        recs.len()
    );
}
