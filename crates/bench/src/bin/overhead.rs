//! Gateway overhead benchmark at fixed request rates, targets measured in turn in one run.
//! Prints Markdown tables for docs/BENCHMARKS.md.
//!
//! - Default: the simulator straight vs through the gateway; with `--baseline OTHER`, also
//!   through a gateway built from another revision (`baseline`), so that a change's cost
//!   is measured side by side with the code before it.
//! - `--ledger`: what keys, limits and the usage log add. It compares three gateways in
//!   front of one simulator: `bare` (no keys, no usage log), `sqlite` (a key with RPM, TPM
//!   and a budget checked in memory, the usage log in SQLite) and `redis+pg` (the same
//!   key's limits in the local Redis, the usage log in the local PostgreSQL, database
//!   `test`).
//!
//! Usage: `overhead --bin target/release/switchyard [--rates 500,1000,2000] [--duration 10]
//! [--stream] [--ledger] [--baseline PATH]` (`bench/overhead.sh` builds and runs it). Loopback only; stops by
//! itself.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use switchyard_bench::ExtraHeaders;
use switchyard_bench::client::Transport;
use switchyard_bench::engine::{Load, Plan, Rec, run};
use switchyard_bench::report::Stat;
use switchyard_bench::summary::stat_of;
use switchyard_bench::workload::{Dist, Source};
use tokio::process::{Child, Command};

#[path = "shared/procs.rs"]
mod procs;
use procs::{cpu_secs, rss_kib, spawn_until};

struct Args {
    bin: PathBuf,
    rates: Vec<f64>,
    duration: Duration,
    stream: bool,
    ledger: bool,
    baseline: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        bin: PathBuf::from("target/release/switchyard"),
        rates: vec![500.0, 1000.0, 2000.0],
        duration: Duration::from_secs(10),
        stream: false,
        ledger: false,
        baseline: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bin" => args.bin = PathBuf::from(val()?),
            "--rates" => {
                args.rates = val()?
                    .split(',')
                    .map(|r| {
                        r.trim()
                            .parse::<f64>()
                            .with_context(|| format!("bad rate '{r}'"))
                    })
                    .collect::<Result<_>>()?;
            }
            "--duration" => args.duration = procs::seconds(&val()?, "--duration")?,
            "--stream" => args.stream = true,
            "--ledger" => args.ledger = true,
            "--baseline" => args.baseline = Some(PathBuf::from(val()?)),
            "--bench" => {} // passed by `cargo bench`
            other => bail!("unknown argument {other}; see the module docs"),
        }
    }
    Ok(args)
}

struct Row {
    rate: f64,
    target: &'static str,
    ok: usize,
    errors: usize,
    service: Option<Stat>,
    scheduled: Option<Stat>,
    dispatch_p99_ms: f64,
    ttft: Option<Stat>,
    /// CPU microseconds per request of the process that served it (sim or gateway).
    cpu_us_per_req: f64,
}

fn row(rate: f64, target: &'static str, recs: &[Rec], cpu_secs: f64) -> Row {
    let ok: Vec<&Rec> = recs.iter().filter(|r| r.error.is_none()).collect();
    if let Some(e) = recs.iter().find(|r| r.error.is_some()) {
        eprintln!("  example failure ({target} @ {rate}/s): {:?}", e.error);
    }
    Row {
        rate,
        target,
        ok: ok.len(),
        errors: recs.len() - ok.len(),
        service: stat_of(ok.iter().map(|r| r.done - r.sent)),
        scheduled: stat_of(ok.iter().map(|r| r.e2e())),
        dispatch_p99_ms: stat_of(recs.iter().map(|r| r.sent.saturating_sub(r.scheduled)))
            .map_or(0.0, |s| s.p99),
        ttft: stat_of(ok.iter().filter_map(|r| r.ttft)),
        cpu_us_per_req: cpu_secs * 1e6 / recs.len().max(1) as f64,
    }
}

/// One thing under load: its URL, the key to send, and the processes whose CPU it costs.
struct Target {
    name: &'static str,
    url: String,
    key: String,
    pids: Vec<u32>,
    _children: Vec<Child>,
}

/// This run's scratch folder (configs, usage databases), removed at the end.
fn work_dir() -> PathBuf {
    std::env::temp_dir().join(format!("switchyard-overhead-{}", std::process::id()))
}

async fn serve(bin: &std::path::Path, name: &str, config: &str) -> Result<(Child, String)> {
    let dir = work_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config)?;
    let arg = path.display().to_string();
    spawn_until(
        bin,
        &["serve", "--config", &arg, "--listen", "127.0.0.1:0"],
        "switchyard listening on ",
    )
    .await
}

/// A key with limits far above the offered load (so every request is checked, none
/// refused), issued in the key store that `store` names (`--db FILE` or `--config FILE`).
async fn issue_key(bin: &std::path::Path, store: [&str; 2]) -> Result<String> {
    let out = Command::new(bin)
        .args([
            "keys",
            "create",
            "--name",
            "bench",
            "--team",
            "bench",
            "--rpm",
            "10000000",
            "--tpm",
            "10000000000",
            "--budget",
            "1000000",
            "--period",
            "day",
            "--json",
        ])
        .args(store)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "keys create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    v["key"]
        .as_str()
        .map(str::to_string)
        .context("no key in the output")
}

async fn targets(args: &Args, sim: Child, sim_url: &str) -> Result<Vec<Target>> {
    let sim_pid = sim.id().context("simulator has no pid")?;
    let provider = format!(
        "[providers.deepseek]\napi_key = \"bench\"\nregions = [{{ name = \"global\", base_url = \"{sim_url}/deepseek/global\" }}]\n"
    );
    let dir = work_dir();
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("usage.db").display().to_string();
    if !args.ledger {
        let (gw, gw_url) = serve(
            &args.bin,
            "gateway",
            &format!("[usage]\npath = \"{db}\"\n\n{provider}"),
        )
        .await?;
        let gw_pid = gw.id().context("gateway has no pid")?;
        let mut out = vec![
            Target {
                name: "direct",
                url: format!("{sim_url}/deepseek/global"),
                key: "bench".into(),
                pids: vec![sim_pid],
                _children: vec![sim],
            },
            Target {
                name: "gateway",
                url: format!("{gw_url}/v1"),
                key: "bench".into(),
                pids: vec![gw_pid, sim_pid],
                _children: vec![gw],
            },
        ];
        if let Some(bin) = &args.baseline {
            let db = dir.join("usage-baseline.db").display().to_string();
            let config = format!("[usage]\npath = \"{db}\"\n\n{provider}");
            let (gw, url) = serve(bin, "baseline", &config).await?;
            out.push(Target {
                name: "baseline",
                url: format!("{url}/v1"),
                key: "bench".into(),
                pids: vec![gw.id().context("baseline has no pid")?, sim_pid],
                _children: vec![gw],
            });
        }
        return Ok(out);
    }
    let key = issue_key(&args.bin, ["--db", &db]).await?;
    let table = format!("bench_usage_{}", std::process::id());
    let configs = [
        ("bare", format!("[usage]\nstore = \"none\"\n\n{provider}")),
        (
            "sqlite",
            format!("[keys]\nenabled = true\n\n[usage]\npath = \"{db}\"\n\n{provider}"),
        ),
        (
            "redis+pg",
            format!(
                "[keys]\nenabled = true\n\n[limits]\nbackend = \"redis\"\nredis_prefix = \"bench-{}\"\n\n\
                 [usage]\npath = \"{db}\"\nstore = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:5432/test\"\ntable = \"{table}\"\n\n{provider}",
                std::process::id()
            ),
        ),
    ];
    let mut out = Vec::new();
    let mut sim = Some(sim);
    for (name, config) in configs {
        // A gateway whose keys live in PostgreSQL needs its key issued there.
        let key = if config.contains("store = \"postgres\"") {
            let path = work_dir().join(format!("{name}-keys.toml"));
            std::fs::write(&path, &config)?;
            issue_key(&args.bin, ["--config", &path.display().to_string()]).await?
        } else {
            key.clone()
        };
        let (gw, url) = serve(&args.bin, name, &config).await?;
        let pid = gw.id().context("gateway has no pid")?;
        let mut children = vec![gw];
        children.extend(sim.take());
        out.push(Target {
            name,
            url: format!("{url}/v1"),
            key,
            pids: vec![pid, sim_pid],
            _children: children,
        });
    }
    Ok(out)
}

/// `--help`: what the module doc says.
const USAGE: &str = "overhead: the gateway's overhead at fixed request rates, the simulator straight vs through it (and through a --baseline build), side by side in one run; prints Markdown tables.

usage: overhead --bin target/release/switchyard [--rates 500,1000,2000] [--duration 10]
                [--stream] [--ledger] [--baseline OTHER/switchyard]

  --bin PATH        the switchyard binary to run as simulator and gateway
  --rates LIST      offered request rates, req/s, comma-separated
  --duration SECS   seconds per rate and target
  --stream          streamed requests (adds TTFT columns)
  --ledger          keys, limits and the usage log: none vs SQLite vs Redis+PostgreSQL
  --baseline PATH   also through a gateway built from another revision

bench/overhead.sh builds the release binaries and runs it. Loopback only; stops by itself.";

#[tokio::main]
async fn main() -> Result<()> {
    if procs::help(USAGE) {
        return Ok(());
    }
    let args = parse_args()?;
    let (sim, sim_url) = spawn_until(
        &args.bin,
        &["sim", "--listen", "127.0.0.1:0", "--time-scale", "0"],
        "switchyard sim listening on ",
    )
    .await?;
    let targets = targets(&args, sim, &sim_url).await?;
    let watched = watched_pid(&targets);

    let client = switchyard_bench::engine::http_client()?;
    for t in &targets {
        run(
            &plan(t, 200.0, Duration::from_secs(2), args.stream),
            &client,
        )
        .await?;
    }
    let (rss0, _) = rss_kib(watched);
    let rows = measure(&args, &targets, &client).await?;
    let (rss, hwm) = rss_kib(watched);

    print_latency_table(&rows, args.stream);
    println!();
    print_added_table(&rows);
    println!();
    println!(
        "gateway RSS: {:.1} MiB after warm-up, {:.1} MiB at the end, peak {:.1} MiB",
        rss0 as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    drop(targets);
    clean_up(args.ledger).await;
    Ok(())
}

/// The process whose memory the run reports: the gateway, else the last target's server.
fn watched_pid(targets: &[Target]) -> u32 {
    targets
        .iter()
        .find(|t| t.name == "gateway")
        .or(targets.last())
        .map_or(0, |t| t.pids[0])
}

/// A constant-rate load of small requests against `t` for `duration`.
fn plan(t: &Target, rate: f64, duration: Duration, stream: bool) -> Plan {
    Plan {
        target: t.url.clone(),
        models: vec!["deepseek-v4-flash".into()],
        load: Load::Open {
            rate,
            poisson: false,
        },
        duration: Some(duration),
        max_requests: None,
        stream,
        timeout: Duration::from_secs(10),
        api_key: Some(t.key.clone()),
        headers: ExtraHeaders::default(),
        source: Source::Synthetic {
            input: Dist::Fixed(8),
            output: Dist::Fixed(16),
        },
        seed: 1,
        progress: false,
        exact_output: true,
    }
}

/// Load every target at every rate in turn; one group of rows per rate, in target order.
async fn measure(args: &Args, targets: &[Target], client: &Transport) -> Result<Vec<Vec<Row>>> {
    let mut rows = Vec::new();
    for (i, &rate) in args.rates.iter().enumerate() {
        // Rotate the order per rate so no target always runs on a warmer machine.
        let n = targets.len();
        let mut group: Vec<Option<Row>> = (0..n).map(|_| None).collect();
        for k in 0..n {
            let t = (i + k) % n;
            group[t] = Some(measure_one(args, &targets[t], rate, client).await?);
        }
        rows.push(group.into_iter().flatten().collect::<Vec<_>>());
    }
    Ok(rows)
}

/// Load one target at `rate` for the run's duration; its row, with the CPU its servers used.
async fn measure_one(args: &Args, target: &Target, rate: f64, client: &Transport) -> Result<Row> {
    eprintln!(
        "running {} at {rate} req/s for {:?}",
        target.name, args.duration
    );
    let cpu0: f64 = target.pids.iter().map(|&p| cpu_secs(p)).sum();
    let data = run(&plan(target, rate, args.duration, args.stream), client).await?;
    let samples: Vec<Rec> = data.groups.into_iter().flat_map(|g| g.recs).collect();
    let cpu = target.pids.iter().map(|&p| cpu_secs(p)).sum::<f64>() - cpu0;
    Ok(row(rate, target.name, &samples, cpu))
}

/// Print the Markdown table of each target's latency, dispatch delay and CPU per rate
/// (and TTFT when streaming).
fn print_latency_table(rows: &[Vec<Row>], stream: bool) {
    println!(
        "| rate (req/s) | target | ok | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | p99 from schedule ms | dispatch p99 ms | server CPU µs/req |{}",
        if stream {
            " TTFT p50 ms | TTFT p99 ms |"
        } else {
            ""
        }
    );
    println!(
        "|---|---|---|---|---|---|---|---|---|---|---|---|{}",
        if stream { "---|---|" } else { "" }
    );
    for r in rows.iter().flatten() {
        let s = r.service.unwrap_or_default();
        let sched = r.scheduled.map_or(0.0, |s| s.p99);
        let ttft = if stream {
            r.ttft.map_or(" - | - |".to_string(), |t| {
                format!(" {:.3} | {:.3} |", t.p50, t.p99)
            })
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} |{ttft}",
            r.rate,
            r.target,
            r.ok,
            r.errors,
            s.p50,
            s.p90,
            s.p99,
            s.p999,
            s.max,
            sched,
            r.dispatch_p99_ms,
            r.cpu_us_per_req
        );
    }
}

/// Print the Markdown table of what each target adds to the first one of its rate.
fn print_added_table(rows: &[Vec<Row>]) {
    println!("| rate (req/s) | target | added p50 ms | added p99 ms | added CPU µs/req |");
    println!("|---|---|---|---|---|");
    for group in rows {
        let Some((base, rest)) = group.split_first() else {
            continue;
        };
        for g in rest {
            if let (Some(bs), Some(gs)) = (base.service, g.service) {
                println!(
                    "| {} | {} vs {} | {:.3} | {:.3} | {:.0} |",
                    g.rate,
                    g.target,
                    base.target,
                    gs.p50 - bs.p50,
                    gs.p99 - bs.p99,
                    g.cpu_us_per_req - base.cpu_us_per_req
                );
            }
        }
    }
}

/// Remove the run's files and, after a `--ledger` run, its usage table in PostgreSQL.
async fn clean_up(ledger: bool) {
    if ledger {
        // Leave the shared `test` database as it was.
        let _ = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "test",
                "-qc",
                &format!(
                    "DROP TABLE IF EXISTS bench_usage_{0}, bench_usage_{0}_keys, bench_usage_{0}_keys_version; \
                     DROP FUNCTION IF EXISTS bench_usage_{0}_keys_bump()",
                    std::process::id()
                ),
            ])
            .status()
            .await;
    }
    let _ = std::fs::remove_dir_all(work_dir());
}
