//! Gateway overhead benchmark: the simulator straight vs through the gateway, at fixed
//! request rates, side by side in one run. Prints a Markdown table for docs/BENCHMARKS.md.
//!
//! Usage: `overhead --bin target/release/switchyard [--rates 500,1000,2000] [--duration 10]`
//! (`bench/overhead.sh` builds and runs it). Loopback only; stops by itself.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use switchyard_bench::engine::{Load, Plan, Rec, run};
use switchyard_bench::report::Stat;
use switchyard_bench::summary::stat_of;
use switchyard_bench::workload::{Dist, Source};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Args {
    bin: PathBuf,
    rates: Vec<f64>,
    duration: Duration,
    stream: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        bin: PathBuf::from("target/release/switchyard"),
        rates: vec![500.0, 1000.0, 2000.0],
        duration: Duration::from_secs(10),
        stream: false,
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
            "--duration" => {
                args.duration = Duration::from_secs_f64(val()?.parse().context("bad --duration")?)
            }
            "--stream" => args.stream = true,
            "--bench" => {} // passed by `cargo bench`
            other => bail!("unknown argument {other}; see the module docs"),
        }
    }
    Ok(args)
}

/// Spawn `bin args…` and wait for the stdout line that starts with `marker`; return the
/// child and the URL that follows the marker.
async fn spawn_until(bin: &PathBuf, args: &[&str], marker: &str) -> Result<(Child, String)> {
    let mut child = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix(marker) {
                return Ok::<_, anyhow::Error>(rest.trim().to_string());
            }
        }
        bail!("{} exited before printing '{marker}'", bin.display())
    })
    .await
    .context("timed out waiting for start-up")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15, i.e. indices 11 and 12 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
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

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let (sim, sim_url) = spawn_until(
        &args.bin,
        &["sim", "--listen", "127.0.0.1:0", "--time-scale", "0"],
        "switchyard sim listening on ",
    )
    .await?;
    let config = format!(
        "[providers.deepseek]\napi_key = \"bench\"\nregions = [{{ name = \"global\", base_url = \"{sim_url}/deepseek/global\" }}]\n"
    );
    let config_path =
        std::env::temp_dir().join(format!("switchyard-overhead-{}.toml", std::process::id()));
    std::fs::write(&config_path, config)?;
    let config_arg = config_path.display().to_string();
    let (gw, gw_url) = spawn_until(
        &args.bin,
        &["serve", "--config", &config_arg, "--listen", "127.0.0.1:0"],
        "switchyard listening on ",
    )
    .await?;
    let gw_pid = gw.id().context("gateway has no pid")?;
    let sim_pid = sim.id().context("simulator has no pid")?;

    let client = switchyard_bench::engine::http_client()?;
    let targets = [
        ("direct", format!("{sim_url}/deepseek/global")),
        ("gateway", format!("{gw_url}/v1")),
    ];
    let plan = |target: &str, rate: f64, duration: Duration| Plan {
        target: target.to_string(),
        models: vec!["deepseek-v4-flash".into()],
        load: Load::Open {
            rate,
            poisson: false,
        },
        duration: Some(duration),
        max_requests: None,
        stream: args.stream,
        timeout: Duration::from_secs(10),
        api_key: Some("bench".into()),
        source: Source::Synthetic {
            input: Dist::Fixed(8),
            output: Dist::Fixed(16),
        },
        seed: 1,
        progress: false,
    };
    for (_, url) in &targets {
        run(&plan(url, 200.0, Duration::from_secs(2)), &client).await?;
    }
    let (rss0, _) = rss_kib(gw_pid);

    let mut rows = Vec::new();
    for (i, &rate) in args.rates.iter().enumerate() {
        // Alternate the order per rate so neither target always runs on a warmer machine.
        let order: Vec<usize> = if i % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
        let mut pair: Vec<Option<Row>> = vec![None, None];
        for t in order {
            let (name, url) = &targets[t];
            eprintln!("running {name} at {rate} req/s for {:?}", args.duration);
            let (sim0, gw0) = (cpu_secs(sim_pid), cpu_secs(gw_pid));
            let data = run(&plan(url, rate, args.duration), &client).await?;
            let samples: Vec<Rec> = data.groups.into_iter().flat_map(|g| g.recs).collect();
            let cpu = (cpu_secs(sim_pid) - sim0) + (cpu_secs(gw_pid) - gw0);
            pair[t] = Some(row(rate, name, &samples, cpu));
        }
        rows.extend(pair.into_iter().flatten());
    }
    let (rss, hwm) = rss_kib(gw_pid);

    println!(
        "| rate (req/s) | target | ok | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | p99 from schedule ms | dispatch p99 ms | server CPU µs/req |{}",
        if args.stream {
            " TTFT p50 ms | TTFT p99 ms |"
        } else {
            ""
        }
    );
    println!(
        "|---|---|---|---|---|---|---|---|---|---|---|---|{}",
        if args.stream { "---|---|" } else { "" }
    );
    for r in &rows {
        let s = r.service.unwrap_or_default();
        let sched = r.scheduled.map_or(0.0, |s| s.p99);
        let ttft = if args.stream {
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
    println!();
    println!("| rate (req/s) | added p50 ms | added p99 ms | gateway CPU µs/req |");
    println!("|---|---|---|---|");
    for pair in rows.chunks(2) {
        if let [d, g] = pair
            && let (Some(ds), Some(gs)) = (d.service, g.service)
        {
            println!(
                "| {} | {:.3} | {:.3} | {:.0} |",
                d.rate,
                gs.p50 - ds.p50,
                gs.p99 - ds.p99,
                g.cpu_us_per_req - d.cpu_us_per_req
            );
        }
    }
    println!();
    println!(
        "gateway RSS: {:.1} MiB after warm-up, {:.1} MiB at the end, peak {:.1} MiB",
        rss0 as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    drop(gw);
    drop(sim);
    let _ = std::fs::remove_file(&config_path);
    Ok(())
}
