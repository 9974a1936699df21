//! `switchyard`: the command-line entry point.
//!
//! - `serve`  — the gateway (embedded default when there is no config and no keys);
//! - `sim`    — the simulated providers, standalone;
//! - `models` — the model catalog as a table or JSON;
//! - `bench`  — the load tester, for any OpenAI-compatible endpoint;
//! - `demo`   — a region outage rehearsed under load, with the gateway's failover.

/// `println!` that hands back the write error instead of panicking: a closed pipe (as in
/// `switchyard route eval … | head`) then ends the command quietly (see [`main`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` the same way as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod bench_cmd;
mod demo;
mod healthcheck_cmd;
mod keys_cmd;
mod plan_cmd;
mod route_cmd;
mod usage_cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use switchyard_catalog::Catalog;
use switchyard_gateway::config::VENDOR_KEY_VARS;
use switchyard_gateway::{AppState, Config, Live};

/// mimalloc: lower and steadier allocation latency than the system allocator on the
/// request path (see docs/BENCHMARKS.md). Built with `no_thp`: with transparent huge
/// pages its arenas cost ~23 KB more RSS per open stream (66 KB against 43 KB at 8,000
/// idle streams, `bench/lagging_streams.py --idle`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "One OpenAI-compatible endpoint in front of DeepSeek, Qwen, Kimi, GLM and any OpenAI-compatible server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Config file (TOML). Without one, and without provider keys in the
        /// environment, the embedded default runs every provider simulated.
        #[arg(long, short, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address, overriding the config (e.g. 127.0.0.1:0 for any free port).
        #[arg(long, short)]
        listen: Option<SocketAddr>,
        /// Time scale of simulated providers, overriding the config (1 = realistic).
        #[arg(long)]
        sim_time_scale: Option<f64>,
        /// Check the config (syntax, values, providers and models) and exit, without
        /// serving or connecting to anything: 0 when it is valid.
        #[arg(long)]
        check: bool,
    },
    /// Run the simulated providers standalone.
    Sim {
        /// Listen address.
        #[arg(long, short, default_value = "127.0.0.1:9900")]
        listen: SocketAddr,
        /// Seed of latency and text draws.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Multiplies every delay (1 = realistic, 0 = none).
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        /// Require this API key (default: any non-empty bearer token).
        #[arg(long)]
        api_key: Option<String>,
        /// Requests each provider region generates at once; more wait in a FIFO queue
        /// (default: unlimited).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        capacity: Option<u32>,
        /// Requests that may wait per provider region when --capacity is set; beyond that
        /// the vendor's overload error (default: unbounded).
        #[arg(long, requires = "capacity")]
        max_queue: Option<u32>,
        /// Give every request exactly its model's typical latency (no random draws).
        #[arg(long)]
        no_jitter: bool,
        /// A fault in place from the start, as PROVIDER/REGION=JSON (repeatable), e.g.
        /// 'deepseek/global={"kind":"latency_spike","delay_ms":2000,"probability":0.05}'.
        #[arg(long = "fault", value_name = "PROVIDER/REGION=JSON")]
        faults: Vec<switchyard_sim::FaultRule>,
    },
    /// Load-test an OpenAI-compatible endpoint (TTFT, ITL, E2E percentiles, goodput).
    Bench(Box<bench_cmd::BenchArgs>),
    /// Rehearse a region outage under load: success rate and latency before, during, after.
    Demo(demo::DemoArgs),
    /// Spend and latency from the usage log, by key, team, model, day or endpoint.
    Usage(usage_cmd::UsageArgs),
    /// What a workload will cost, the capacity and quotas it needs, and whether its failover meets the SLA
    Plan(Box<plan_cmd::PlanArgs>),
    /// Issue, list, revoke and rotate gateway keys.
    Keys(keys_cmd::KeysArgs),
    /// Train, evaluate and explain the tiered router's classifier.
    Route(route_cmd::RouteArgs),
    /// Exit 0 if a gateway answers /healthz (a container's HEALTHCHECK).
    Healthcheck(healthcheck_cmd::HealthcheckArgs),
    /// Print the model catalog.
    Models {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Who sells each model: its maker and the resellers, with their ids and prices.
        #[arg(long)]
        vendors: bool,
        /// Apply this config's model and provider overlays first.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if closed_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether `e` is stdout's reader having gone away.
fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn run(cli: Cli) -> Result<std::process::ExitCode> {
    init_tracing();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Bench(args) = &cli.command {
        // The load generator needs few threads: one drives tens of thousands of requests
        // per second, and leaves the other cores to the target when it runs alongside.
        builder.worker_threads(args.threads());
    }
    let rt = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve {
                config,
                check: true,
                ..
            } => check_config(config.as_ref()),
            Command::Serve {
                config,
                listen,
                sim_time_scale,
                check: false,
            } => serve(config, listen, sim_time_scale).await,
            Command::Sim {
                listen,
                seed,
                time_scale,
                api_key,
                capacity,
                max_queue,
                no_jitter,
                faults,
            } => {
                let limits = SimLimits {
                    capacity,
                    max_queue,
                    jitter: !no_jitter,
                    faults,
                };
                sim(listen, seed, time_scale, api_key, limits).await
            }
            Command::Models {
                json,
                vendors,
                config,
            } => models(json, vendors, config).await,
            Command::Healthcheck(args) => healthcheck_cmd::run(args).await,
            Command::Bench(args) => return bench_cmd::run(*args).await,
            Command::Demo(args) => demo::run(args).await,
            // Database clients that block (PostgreSQL's makes its own runtime) run off the
            // async workers.
            Command::Usage(args) => tokio::task::block_in_place(|| usage_cmd::run(args)),
            Command::Plan(args) => tokio::task::block_in_place(|| plan_cmd::run(*args)),
            Command::Keys(args) => tokio::task::block_in_place(|| keys_cmd::run(args)),
            Command::Route(args) => tokio::task::block_in_place(|| route_cmd::run(args)),
        }
        .map(|()| std::process::ExitCode::SUCCESS)
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,switchyard=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Which configuration to run, and why (for the banner).
/// `serve --check`: the config loads, and its provider and model overlays apply to the
/// catalog.
fn check_config(path: Option<&PathBuf>) -> Result<()> {
    let (config, why) = load_config(path)?;
    switchyard_gateway::catalog(&config)?;
    outln!("config OK: {why}")?;
    Ok(())
}

fn load_config(path: Option<&PathBuf>) -> Result<(Config, String)> {
    if let Some(path) = path {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let config = Config::parse(&text, &path.display().to_string())?;
        return Ok((config, format!("config file {}", path.display())));
    }
    let keys: Vec<&str> = VENDOR_KEY_VARS
        .iter()
        .copied()
        .filter(|v| std::env::var(v).is_ok_and(|k| !k.trim().is_empty()))
        .collect();
    if keys.is_empty() {
        let why = format!(
            "embedded default: no config file and no provider keys, so every provider is simulated \
             in-process (set {} or pass --config to reach the real vendors)",
            VENDOR_KEY_VARS.join(", ")
        );
        return Ok((Config::embedded_default()?, why));
    }
    let config = Config::parse("", "environment")?;
    Ok((
        config,
        format!("live vendors: keys found in {}", keys.join(", ")),
    ))
}

async fn serve(
    path: Option<PathBuf>,
    listen: Option<SocketAddr>,
    time_scale: Option<f64>,
) -> Result<()> {
    if let Some(t) = time_scale {
        anyhow::ensure!(
            t.is_finite() && t >= 0.0,
            "--sim-time-scale must be a number >= 0"
        );
    }
    let overrides = Overrides { listen, time_scale };
    let (config, why) = load_config(path.as_ref())?;
    let config = overrides.apply(config);
    let listen = config.server.listen;
    let state = AppState::build(config, &|var| std::env::var(var).ok()).await?;
    let listener = switchyard_gateway::bind(listen).await?;
    let addr = listener.local_addr().context("listener has no address")?;
    let stop = shared_shutdown(Arc::clone(&state.drain))?;

    outln!("switchyard {} — {why}", env!("CARGO_PKG_VERSION"))?;
    if let Some(sim) = &state.sim {
        outln!(
            "  simulator: http://{} (time scale {}, seed {})",
            sim.addr,
            state.config.simulator.time_scale,
            state.config.simulator.seed
        )?;
    }
    outln!(
        "  {} models in the catalog; providers:",
        state.catalog.models().len()
    )?;
    for line in state.banner() {
        outln!("{line}")?;
    }
    // Everything about the set-up is said before the line that tells it is listening
    // (scripts and tests wait for that line, then read what came before).
    if let Some(log) = &state.usage {
        outln!("  usage log: {}", log.describe())?;
    }
    if let Some(url) = state.config.telemetry.traces_url() {
        outln!("  traces: OTLP/HTTP to {url}")?;
    }
    outln!("switchyard listening on http://{addr}")?;
    outln!("  try: curl http://{addr}/v1/chat/completions -H 'content-type: application/json' \\")?;
    outln!(
        "         -d '{{\"model\":\"deepseek-v4-flash\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello\"}}]}}'"
    )?;

    let live = Arc::new(Live::new(Arc::new(state)));
    let live_for_exit = Arc::clone(&live);
    reload_on_sighup(Arc::clone(&live), path, overrides)?;
    // The server drains (`switchyard_gateway::Drain`), then ends what is left (each
    // request records what it used as it goes); it returns once every request is recorded.
    switchyard_gateway::serve_live(live, listener, fired(stop))
        .await
        .context("server failed")?;
    // The limits of requests that ended last are settled in Redis, and everything
    // recorded — by the state in force and by any a reload replaced — is written before
    // the process exits.
    if !live_for_exit.settle_limits(Duration::from_secs(5)).await {
        eprintln!("switchyard: some requests' limits were not settled in redis within 5 s");
    }
    if !live_for_exit.flush_traces(Duration::from_secs(5)).await {
        eprintln!("switchyard: some spans were not sent to the OTLP endpoint within 5 s");
    }
    let errors = tokio::task::block_in_place(|| live_for_exit.flush_usage(Duration::from_secs(10)));
    for e in errors {
        eprintln!("switchyard: usage log not fully written: {e}");
    }
    Ok(())
}

/// Command-line settings that win over the config file, on start and on every reload.
#[derive(Clone, Copy)]
struct Overrides {
    listen: Option<SocketAddr>,
    time_scale: Option<f64>,
}

impl Overrides {
    fn apply(self, mut config: Config) -> Config {
        if let Some(addr) = self.listen {
            config.server.listen = addr;
        }
        if let Some(t) = self.time_scale {
            config.simulator.time_scale = t;
        }
        config
    }
}

/// On each SIGHUP, read the config again and, if it is valid, put it in force for new
/// requests; requests in flight finish on the config they started with. An invalid file
/// is reported and the running config kept. The listen address is not changed by a
/// reload (that needs a restart).
fn reload_on_sighup(live: Arc<Live>, path: Option<PathBuf>, overrides: Overrides) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let loaded = load_config(path.as_ref()).map(|(c, _)| overrides.apply(c));
            let config = match loaded {
                Ok(c) => c,
                Err(e) => {
                    eprintln!(
                        "switchyard: config reload failed, keeping the running config: {e:#}"
                    );
                    continue;
                }
            };
            let listen = config.server.listen;
            match AppState::build(config, &|var| std::env::var(var).ok()).await {
                Ok(state) => {
                    let old = live.swap(Arc::new(state));
                    if old.config.server.listen != listen {
                        eprintln!(
                            "switchyard: listen address changed to {listen}; it takes effect at the next restart"
                        );
                    }
                    outln!(
                        "switchyard: config reloaded from {}",
                        live.get().config.source
                    )
                    .ok();
                }
                Err(e) => {
                    eprintln!("switchyard: config reload failed, keeping the running config: {e}");
                }
            }
        }
    });
    Ok(())
}

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopSignal {
    /// SIGTERM: an orchestrator (Kubernetes, systemd, podman) stopping the process.
    Terminate,
    /// SIGINT: Ctrl-C at a terminal.
    Interrupt,
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C), saying which. The handlers are
/// installed when this is called, not when it is first polled, so a signal that arrives
/// right after start-up is never missed.
fn stop_signal() -> Result<impl std::future::Future<Output = StopSignal> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => StopSignal::Terminate,
            _ = int.recv() => StopSignal::Interrupt,
        }
    })
}

/// [`stop_signal`], whichever it is.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let signal = stop_signal()?;
    Ok(async move {
        signal.await;
    })
}

/// A shutdown signal shared by several waiters. After Ctrl-C the gateway's drain takes
/// no new connections (someone at a terminal wants it to stop); after SIGTERM it takes
/// them for `[server] drain_accept_secs`, while a load balancer notices `/readyz`.
fn shared_shutdown(
    drain: Arc<switchyard_gateway::Drain>,
) -> Result<tokio::sync::watch::Receiver<bool>> {
    let signal = stop_signal()?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if signal.await == StopSignal::Interrupt {
            drain.start(Duration::ZERO);
        }
        let _ = tx.send(true);
    });
    Ok(rx)
}

async fn fired(mut rx: tokio::sync::watch::Receiver<bool>) {
    if rx.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// `switchyard sim`'s capacity and latency options.
struct SimLimits {
    capacity: Option<u32>,
    max_queue: Option<u32>,
    jitter: bool,
    faults: Vec<switchyard_sim::FaultRule>,
}

async fn sim(
    listen: SocketAddr,
    seed: u64,
    time_scale: f64,
    api_key: Option<String>,
    limits: SimLimits,
) -> Result<()> {
    anyhow::ensure!(
        time_scale.is_finite() && time_scale >= 0.0,
        "--time-scale must be a number >= 0"
    );
    let catalog = Arc::new(Catalog::builtin()?);
    let mut config = switchyard_sim::SimConfig::for_catalog(&catalog, seed, time_scale);
    config.api_key = api_key;
    config.capacity = limits.capacity;
    config.max_queue = limits.max_queue;
    config.jitter = limits.jitter;
    config.faults = limits.faults;
    let providers = config.providers.clone();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let stop = shutdown_signal()?;
    outln!(
        "switchyard sim {} (time scale {time_scale}, seed {seed})",
        env!("CARGO_PKG_VERSION")
    )?;
    if let Some(c) = limits.capacity {
        let queue = limits
            .max_queue
            .map_or_else(|| "unbounded".to_string(), |q| q.to_string());
        outln!("  capacity {c} per provider region, queue {queue}")?;
    }
    if !limits.jitter {
        outln!("  no jitter: every request gets its model's typical latency")?;
    }
    for f in &config.faults {
        outln!(
            "  fault on {}/{}: {}",
            f.provider,
            f.region,
            serde_json::to_string(&f.spec).unwrap_or_default()
        )?;
    }
    for p in &providers {
        let prefix = switchyard_sim::path_prefix(p.dialect);
        outln!(
            "  {:<10} http://{addr}/{}/<region>{prefix}/chat/completions",
            p.id,
            p.id
        )?;
    }
    outln!("switchyard sim listening on http://{addr}")?;
    let router = switchyard_sim::router(config, catalog);
    switchyard_sim::serve(listener, router, stop).await?;
    Ok(())
}

async fn models(json: bool, vendors: bool, path: Option<PathBuf>) -> Result<()> {
    let catalog = match path {
        None => Catalog::builtin()?,
        Some(p) => {
            let (mut config, _) = load_config(Some(&p))?;
            config.usage.enabled = false;
            let state = AppState::build(config, &|_| None).await?;
            state.catalog.clone()
        }
    };
    match (json, vendors) {
        (true, false) => outln!("{}", serde_json::to_string_pretty(&catalog.to_json())?)?,
        (true, true) => outln!("{}", serde_json::to_string_pretty(&catalog.vendors_json())?)?,
        (false, false) => out!("{}", catalog.render_table())?,
        (false, true) => out!("{}", catalog.render_vendors_table())?,
    }
    Ok(())
}
