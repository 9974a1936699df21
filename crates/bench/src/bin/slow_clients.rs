//! Slow-loris benchmark: normal traffic's latency alone and beside many slow clients
//! (half trickling their headers, half their body, one byte every `--drip-ms`,
//! reconnecting when the gateway cuts them off), phases interleaved A B A B in one run.
//! The slow clients run in a child process (this binary with `--trickle ADDR`), so the
//! load generator's own timing is not theirs. Prints a Markdown table for
//! docs/BENCHMARKS.md.
//!
//! Usage: `slow_clients --bin target/release/switchyard [--slow 2000] [--rate 500]
//! [--duration 10] [--drip-ms 1000] [--gateway-cpu N]` (`bench/slow_clients.sh` builds
//! and runs it). With `--gateway-cpu`, the gateway runs alone on that CPU (`taskset`) and
//! the caller should keep this binary (load generator and slow clients) off it. The gateway runs with
//! its default `header_timeout_secs` (10) and `body_timeout_secs` (30), in front of its
//! simulated DeepSeek at time scale 0. Loopback only; stops by itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use switchyard_bench::ExtraHeaders;
use switchyard_bench::client::Transport;
use switchyard_bench::engine::{Load, Plan, Rec, run};
use switchyard_bench::summary::stat_of;
use switchyard_bench::workload::{Dist, Source};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

#[path = "shared/procs.rs"]
mod procs;
use procs::{cpu_secs, rss_kib, spawn_until};

struct Args {
    bin: PathBuf,
    slow: usize,
    rate: f64,
    duration: Duration,
    drip: Duration,
    /// Child mode: only trickle against this address for `duration`, then print counts.
    trickle: Option<String>,
    /// Run the gateway on this CPU alone (`taskset`); run this binary on the others.
    gateway_cpu: Option<u32>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        bin: PathBuf::from("target/release/switchyard"),
        slow: 2000,
        rate: 500.0,
        duration: Duration::from_secs(10),
        drip: Duration::from_secs(1),
        trickle: None,
        gateway_cpu: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bin" => args.bin = PathBuf::from(val()?),
            "--slow" => args.slow = val()?.parse().context("bad --slow")?,
            "--rate" => args.rate = val()?.parse().context("bad --rate")?,
            "--duration" => args.duration = procs::seconds(&val()?, "--duration")?,
            "--drip-ms" => {
                args.drip = Duration::from_millis(val()?.parse().context("bad --drip-ms")?)
            }
            "--trickle" => args.trickle = Some(val()?),
            "--gateway-cpu" => {
                args.gateway_cpu = Some(val()?.parse().context("bad --gateway-cpu")?)
            }
            "--bench" => {}
            other => bail!("unknown argument {other}; see the module docs"),
        }
    }
    Ok(args)
}

/// How the gateway ended slow connections, counted over the run.
#[derive(Default)]
struct Cuts {
    /// Closed with no answer (headers never finished).
    closed: AtomicU64,
    /// Answered 408 (body never finished).
    timed_out: AtomicU64,
    /// Connections opened.
    opened: AtomicU64,
}

/// One slow client: connect, send `head`, then a byte every `every` until cut off; again,
/// until `stop`.
async fn slow_client(
    addr: String,
    (head, drip, every): (Arc<[u8]>, u8, Duration),
    stop: Arc<AtomicBool>,
    cuts: Arc<Cuts>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        cuts.opened.fetch_add(1, Ordering::Relaxed);
        if s.write_all(&head).await.is_err() {
            continue;
        }
        let mut buf = [0u8; 256];
        let mut answer = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            tokio::select! {
                r = s.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                },
                () = tokio::time::sleep(every) => {
                    if s.write_all(&[drip]).await.is_err() {
                        break;
                    }
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let counter = if answer.starts_with(b"HTTP/1.1 408") {
            &cuts.timed_out
        } else {
            &cuts.closed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn heads() -> (Arc<[u8]>, Arc<[u8]>) {
    let header = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-slow: ".to_vec();
    let body =
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: 100000\r\n\r\n{\"model\": \"deepseek-v4-flash\", \"messages\": ["
            .to_vec();
    (header.into(), body.into())
}

/// Child mode: `slow` slow clients against `addr` for `duration`, then one line of counts.
async fn trickle(args: &Args, addr: &str) -> Result<()> {
    let cuts = Arc::new(Cuts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (header, body) = heads();
    let mut tasks = Vec::new();
    for i in 0..args.slow {
        let how = if i % 2 == 0 {
            (Arc::clone(&header), b'a', args.drip)
        } else {
            (Arc::clone(&body), b' ', args.drip)
        };
        let (stop, cuts) = (Arc::clone(&stop), Arc::clone(&cuts));
        tasks.push(tokio::spawn(slow_client(addr.to_string(), how, stop, cuts)));
    }
    tokio::time::sleep(args.duration).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "{} {} {}",
        cuts.opened.load(Ordering::Relaxed),
        cuts.closed.load(Ordering::Relaxed),
        cuts.timed_out.load(Ordering::Relaxed)
    );
    Ok(())
}

/// `--help`: what the module doc says.
const USAGE: &str = "slow_clients: normal traffic's latency alone and beside many slow clients (slow-loris), phases interleaved in one run; prints a Markdown table.

usage: slow_clients --bin target/release/switchyard [--slow 2000] [--rate 500]
                    [--duration 10] [--drip-ms 1000] [--gateway-cpu N]

  --bin PATH        the switchyard binary (gateway, and its simulated DeepSeek)
  --slow N          slow clients, half trickling headers, half bodies
  --rate R          normal requests per second
  --duration SECS   seconds per phase
  --drip-ms MS      one byte every MS milliseconds from each slow client
  --gateway-cpu N   run the gateway alone on CPU N (taskset)

bench/slow_clients.sh builds and runs it. Loopback only; stops by itself.";

#[tokio::main]
async fn main() -> Result<()> {
    if procs::help(USAGE) {
        return Ok(());
    }
    let args = parse_args()?;
    if let Some(addr) = &args.trickle {
        return trickle(&args, addr).await;
    }
    let dir = std::env::temp_dir().join(format!("switchyard-slow-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (gw, url) = start_gateway(&args, &dir).await?;
    let pid = gw.id().context("gateway has no pid")?;

    let client = switchyard_bench::engine::http_client()?;
    run(&plan(&url, Duration::from_secs(2), args.rate), &client).await?;
    let bench = Bench {
        args: &args,
        url: &url,
        pid,
        client: &client,
    };
    let (phases, counts) = run_phases(&bench).await?;
    let (_, hwm) = rss_kib(pid);

    let p99 = print_phase_table(&phases, args.slow);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!();
    println!(
        "p99 beside {} slow clients (a byte every {} ms) / alone: {:.2}x; slow connections opened {}, closed at the header limit {}, answered 408 at the body limit {}; gateway peak RSS {:.1} MiB",
        args.slow,
        args.drip.as_millis(),
        mean(&p99[1]) / mean(&p99[0]).max(f64::MIN_POSITIVE),
        counts[0],
        counts[1],
        counts[2],
        hwm as f64 / 1024.0
    );
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Write the gateway's config into `dir` and start it (pinned to `--gateway-cpu` if
/// given) in front of its simulated DeepSeek; the child and its URL.
async fn start_gateway(args: &Args, dir: &Path) -> Result<(Child, String)> {
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        "[usage]\nstore = \"none\"\n\n[providers.deepseek]\nsimulated = true\nregions = [{ name = \"global\" }]\n",
    )?;
    let config = config.display().to_string();
    let bin = args.bin.display().to_string();
    let serve = [
        bin.as_str(),
        "serve",
        "--config",
        &config,
        "--listen",
        "127.0.0.1:0",
        "--sim-time-scale",
        "0",
    ];
    match args.gateway_cpu {
        Some(cpu) => {
            let cpu = cpu.to_string();
            let mut pinned = vec!["-c", cpu.as_str()];
            pinned.extend(serve);
            spawn_until(Path::new("taskset"), &pinned, "switchyard listening on ").await
        }
        None => spawn_until(&args.bin, &serve[1..], "switchyard listening on ").await,
    }
}

/// A constant-rate load of small requests against the gateway at `url` for `duration`.
fn plan(url: &str, duration: Duration, rate: f64) -> Plan {
    Plan {
        target: format!("{url}/v1"),
        models: vec!["deepseek-v4-flash".into()],
        load: Load::Open {
            rate,
            poisson: false,
        },
        duration: Some(duration),
        max_requests: None,
        stream: false,
        timeout: Duration::from_secs(10),
        api_key: None,
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

/// What the measured phases need: the options, the gateway's URL and pid, and the client.
struct Bench<'a> {
    args: &'a Args,
    url: &'a str,
    pid: u32,
    client: &'a Transport,
}

/// One measured phase of normal traffic.
struct Phase {
    round: usize,
    /// Whether the slow clients ran beside it.
    beside: bool,
    recs: Vec<Rec>,
    /// Gateway CPU microseconds per request.
    cpu_us_per_req: f64,
}

/// Run the phases A B A B (normal traffic alone, then beside the slow clients); the
/// phases, and the slow clients' counts summed: opened, closed, answered 408.
async fn run_phases(bench: &Bench<'_>) -> Result<(Vec<Phase>, [u64; 3])> {
    let me = std::env::current_exe().context("cannot find this binary")?;
    let addr = bench.url.trim_start_matches("http://");
    let mut counts = [0u64; 3];
    let mut phases = Vec::new();
    for round in 0..2 {
        for beside in [false, true] {
            let child = if beside {
                Some(spawn_slow_clients(&me, addr, bench.args).await?)
            } else {
                None
            };
            eprintln!(
                "round {round}: normal traffic {} slow clients",
                if beside { "beside" } else { "without" }
            );
            let (recs, cpu_us_per_req) = measure(bench, child, &mut counts).await?;
            phases.push(Phase {
                round,
                beside,
                recs,
                cpu_us_per_req,
            });
        }
    }
    Ok((phases, counts))
}

/// Start the slow clients in a child process (this binary with `--trickle`) against
/// `addr`, and give them a second to connect.
async fn spawn_slow_clients(me: &Path, addr: &str, args: &Args) -> Result<Child> {
    // The slow clients outlive the phase by a second at each end.
    let secs = args.duration.as_secs_f64() + 2.0;
    let child = Command::new(me)
        .args(["--trickle", addr, "--slow", &args.slow.to_string()])
        .args(["--drip-ms", &args.drip.as_millis().to_string()])
        .args(["--duration", &secs.to_string()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the slow clients")?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(child)
}

/// Offer normal traffic for the run's duration and add the slow clients' counts (if
/// `child` ran them) to `counts`; every request, and gateway CPU microseconds per request.
async fn measure(
    bench: &Bench<'_>,
    child: Option<Child>,
    counts: &mut [u64; 3],
) -> Result<(Vec<Rec>, f64)> {
    let cpu0 = cpu_secs(bench.pid);
    let data = run(
        &plan(bench.url, bench.args.duration, bench.args.rate),
        bench.client,
    )
    .await?;
    let cpu = cpu_secs(bench.pid) - cpu0;
    if let Some(c) = child {
        let out = c.wait_with_output().await?;
        let text = String::from_utf8_lossy(&out.stdout);
        for (n, v) in counts.iter_mut().zip(text.split_whitespace()) {
            *n += v.parse::<u64>().unwrap_or(0);
        }
    }
    let recs: Vec<Rec> = data.groups.into_iter().flat_map(|g| g.recs).collect();
    if let Some(e) = recs.iter().find_map(|r| r.error.as_ref()) {
        eprintln!("  example failure: {e:?}");
    }
    let cpu_us_per_req = cpu * 1e6 / recs.len().max(1) as f64;
    Ok((recs, cpu_us_per_req))
}

/// Print the Markdown table of the phases; the p99s alone (`[0]`) and beside `slow`
/// slow clients (`[1]`).
fn print_phase_table(phases: &[Phase], slow: usize) -> [Vec<f64>; 2] {
    println!(
        "| round | slow clients | ok | errors | p50 ms | p99 ms | max ms | gateway CPU µs/req |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut p99 = [Vec::new(), Vec::new()];
    for phase in phases {
        let Phase {
            round,
            beside,
            recs,
            cpu_us_per_req: cpu_us,
        } = phase;
        let ok: Vec<&Rec> = recs.iter().filter(|r| r.error.is_none()).collect();
        let s = stat_of(ok.iter().map(|r| r.done - r.sent)).unwrap_or_default();
        p99[usize::from(*beside)].push(s.p99);
        println!(
            "| {round} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {cpu_us:.0} |",
            if *beside { slow } else { 0 },
            ok.len(),
            recs.len() - ok.len(),
            s.p50,
            s.p99,
            s.max
        );
    }
    p99
}
