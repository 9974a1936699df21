//! `switchyard demo`: a region outage, rehearsed. Starts the gateway on the embedded
//! default (simulated providers, two regions each), offers steady load with the load
//! tester's engine, takes DeepSeek's first region down for the middle third of the run
//! and brings it back, then prints what a person wants to see: success rate and latency
//! before, during and after, the failovers, and the cost.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use switchyard_bench::ExtraHeaders;
use switchyard_bench::client::Transport;
use switchyard_bench::engine::{self, Load, Plan, Rec};
use switchyard_bench::summary::stat_of;
use switchyard_bench::workload::{Dist, Source};
use switchyard_gateway::{AppState, Config};

/// `switchyard demo` arguments.
#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// How long to offer load (the outage covers the middle third).
    #[arg(long, value_parser = crate::bench_cmd::parse_duration, default_value = "30s")]
    duration: Duration,
    /// Requests per second (open loop).
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Simulated latency scale (1 = realistic TTFT of about a second).
    #[arg(long, default_value_t = 0.1)]
    time_scale: f64,
    /// Stream responses.
    #[arg(long)]
    stream: bool,
    /// Write the figures as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where the rehearsal's gateway listens (watch it at `http://<listen>/dashboard`).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

const MODEL: &str = "deepseek-v4-flash";
const PROVIDER: &str = "deepseek";
const DOWN_REGION: &str = "global";

/// Run the demo.
pub(crate) async fn run(args: DemoArgs) -> Result<()> {
    check_args(&args)?;
    let gateway = Gateway::start(args.time_scale, args.listen).await?;
    outln!(
        "switchyard demo: gateway http://{}, simulated providers at http://{}; {} req/s for {:?} to {MODEL}",
        gateway.addr,
        gateway.sim,
        args.rate,
        args.duration
    )?;
    outln!(
        "  watch it live: http://{}/dashboard (the outage covers the middle third)",
        gateway.addr
    )?;

    let third = args.duration / 3;
    let transport = engine::http_client()?;
    let outage = spawn_outage(&transport, gateway.sim, third);
    let data = engine::run(&load_plan(&args, gateway.addr), &transport).await?;
    let outage_injected = outage.await.unwrap_or(false);
    let recs: Vec<&Rec> = data.groups.iter().flat_map(|g| g.recs.iter()).collect();
    let metrics = switchyard_gateway::render_metrics();
    gateway.stop().await;

    let phases = print_phases(&recs, third, args.duration)?;
    let totals = Totals::of(&recs, &metrics, outage_injected);
    print_totals(&totals)?;
    if let Some(path) = &args.json {
        write_report(path, &args, &totals, phases)?;
    }
    Ok(())
}

/// Refuse a rate that is not positive or a time scale below zero.
fn check_args(args: &DemoArgs) -> Result<()> {
    anyhow::ensure!(
        args.rate.is_finite() && args.rate > 0.0,
        "--rate must be positive"
    );
    anyhow::ensure!(
        args.time_scale.is_finite() && args.time_scale >= 0.0,
        "--time-scale must be >= 0"
    );
    Ok(())
}

/// The gateway under rehearsal, served in this process, with its simulated providers.
struct Gateway {
    /// Where the gateway listens.
    addr: SocketAddr,
    /// Where its simulated providers listen.
    sim: SocketAddr,
    state: Arc<AppState>,
    stop_tx: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Gateway {
    /// Start the embedded default at `time_scale`, with a short cooldown, no usage log and
    /// no saved SLO window, listening on `listen`.
    async fn start(time_scale: f64, listen: SocketAddr) -> Result<Self> {
        let mut config = Config::embedded_default()?;
        config.simulator.time_scale = time_scale;
        config.health.cooldown = Duration::from_secs(2);
        // A rehearsal: its simulated spend stays out of the real usage log.
        config.usage.enabled = false;
        config.slo.persist = false;
        let state = Arc::new(AppState::build(config, &|_| None).await?);
        let sim = state
            .sim
            .as_ref()
            .map(|s| s.addr)
            .context("the embedded default has no simulator")?;
        let listener = switchyard_gateway::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(switchyard_gateway::serve(state.clone(), listener, async {
            let _ = stop_rx.await;
        }));
        Ok(Self {
            addr,
            sim,
            state,
            stop_tx,
            server,
        })
    }

    /// Stop serving and wait for the server to finish.
    async fn stop(self) {
        // Nothing balances traffic onto the demo's gateway: no window for new connections.
        self.state.drain.start(std::time::Duration::ZERO);
        let _ = self.stop_tx.send(());
        let _ = self.server.await;
        drop(self.state);
    }
}

/// Take the region down after one `third` of the run and bring it back after another;
/// the task answers whether both fault calls reached the simulator at `sim`.
fn spawn_outage(
    transport: &Transport,
    sim: SocketAddr,
    third: Duration,
) -> tokio::task::JoinHandle<bool> {
    let admin = transport.reqwest().clone();
    let fault_url = format!("http://{sim}/_sim/faults/{PROVIDER}/{DOWN_REGION}");
    tokio::spawn(async move {
        tokio::time::sleep(third).await;
        outln!(
            "  t={:>5.1}s  region {PROVIDER}/{DOWN_REGION} goes DOWN (every connection cut)",
            third.as_secs_f64()
        )
        .ok();
        let down = admin
            .put(&fault_url)
            .header("content-type", "application/json")
            .body(r#"{"kind": "drop_after", "tokens": 0}"#)
            .send()
            .await;
        tokio::time::sleep(third).await;
        outln!(
            "  t={:>5.1}s  region {PROVIDER}/{DOWN_REGION} is back",
            (third * 2).as_secs_f64()
        )
        .ok();
        let up = admin.delete(&fault_url).send().await;
        down.is_ok() && up.is_ok()
    })
}

/// The steady open-loop load the demo offers the gateway at `gateway`.
fn load_plan(args: &DemoArgs, gateway: SocketAddr) -> Plan {
    Plan {
        target: format!("http://{gateway}/v1"),
        models: vec![MODEL.into()],
        load: Load::Open {
            rate: args.rate,
            poisson: true,
        },
        duration: Some(args.duration),
        max_requests: None,
        stream: args.stream,
        timeout: Duration::from_secs(60),
        api_key: None,
        headers: ExtraHeaders::default(),
        source: Source::Synthetic {
            input: Dist::Fixed(64),
            output: Dist::Fixed(32),
        },
        seed: 7,
        progress: false,
        exact_output: true,
    }
}

/// Print the table of requests, success and latency before, during and after the outage,
/// and return its rows as JSON.
fn print_phases(
    recs: &[&Rec],
    third: Duration,
    duration: Duration,
) -> Result<Vec<serde_json::Value>> {
    let phases = [
        ("before", Duration::ZERO, third),
        ("during outage", third, third * 2),
        ("after", third * 2, duration + Duration::from_secs(3600)),
    ];
    let mut rows = Vec::new();
    outln!(
        "\n  {:<14} {:>8} {:>10} {:>10} {:>9} {:>9}",
        "phase",
        "requests",
        "succeeded",
        "success",
        "p50 ms",
        "p99 ms"
    )?;
    for (name, from, to) in phases {
        let in_phase: Vec<&&Rec> = recs
            .iter()
            .filter(|r| r.scheduled >= from && r.scheduled < to)
            .collect();
        let ok = in_phase.iter().filter(|r| r.error.is_none()).count();
        let lat = stat_of(
            in_phase
                .iter()
                .filter(|r| r.error.is_none())
                .map(|r| r.e2e()),
        );
        let rate = if in_phase.is_empty() {
            1.0
        } else {
            ok as f64 / in_phase.len() as f64
        };
        outln!(
            "  {name:<14} {:>8} {ok:>10} {:>9.3}% {:>9.1} {:>9.1}",
            in_phase.len(),
            rate * 100.0,
            lat.map_or(0.0, |s| s.p50),
            lat.map_or(0.0, |s| s.p99)
        )?;
        rows.push(
            json!({"phase": name, "requests": in_phase.len(), "succeeded": ok, "success_rate": rate,
            "p50_ms": lat.map(|s| s.p50), "p99_ms": lat.map(|s| s.p99)}),
        );
    }
    Ok(rows)
}

/// The whole run's figures.
struct Totals {
    requests: usize,
    succeeded: usize,
    success_rate: f64,
    failovers: f64,
    cost: f64,
    /// Whether the outage was really injected.
    outage_injected: bool,
}

impl Totals {
    /// Count the requests in `recs` and read failovers and cost from the gateway's `metrics`.
    fn of(recs: &[&Rec], metrics: &str, outage_injected: bool) -> Self {
        let requests = recs.len();
        let succeeded = recs.iter().filter(|r| r.error.is_none()).count();
        let success_rate = if requests == 0 {
            0.0
        } else {
            succeeded as f64 / requests as f64
        };
        Self {
            requests,
            succeeded,
            success_rate,
            failovers: metric_sum(metrics, "switchyard_failovers_total"),
            cost: metric_sum(metrics, "switchyard_cost_usd_total"),
            outage_injected,
        }
    }
}

/// Print the overall line, and a warning when the outage could not be injected.
fn print_totals(t: &Totals) -> Result<()> {
    let Totals {
        requests,
        succeeded,
        failovers,
        cost,
        ..
    } = t;
    outln!(
        "\n  overall: {succeeded}/{requests} succeeded ({:.3}%), {failovers:.0} failovers, cost ${cost:.6} (list prices, simulated tokens)",
        t.success_rate * 100.0
    )?;
    if !t.outage_injected {
        outln!("  warning: the outage could not be injected; the figures show a run without it")?;
    }
    Ok(())
}

/// Write the figures, the per-phase rows and the run's settings to `path` as JSON.
fn write_report(
    path: &Path,
    args: &DemoArgs,
    t: &Totals,
    phases: Vec<serde_json::Value>,
) -> Result<()> {
    let report = json!({
        "requests": t.requests, "succeeded": t.succeeded, "success_rate": t.success_rate,
        "failovers": t.failovers, "cost_usd": t.cost, "phases": phases, "rate": args.rate,
        "duration_s": args.duration.as_secs_f64(), "stream": args.stream, "outage_injected": t.outage_injected,
    });
    std::fs::write(path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Sum of every sample of a Prometheus metric in `text`.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sum_adds_every_labelled_sample() {
        let text = "# TYPE x counter\nx{a=\"1\"} 2\nx{a=\"2\"} 3.5\nx_other 9\n";
        assert_eq!(metric_sum(text, "x"), 5.5);
    }
}
