//! `switchyard bench`: arguments, validation, and writing the outputs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use switchyard_bench::ExtraHeaders;
use switchyard_bench::engine::{self, Load, Plan};
use switchyard_bench::headers::{REDACTED, is_secret};
use switchyard_bench::report::RunMeta;
use switchyard_bench::slo::Conditions;
use switchyard_bench::sweep::{SweepPlan, sweep};
use switchyard_bench::workload::{Dist, Mix, Source};
use switchyard_bench::{analyze, html, table};

/// Exit code when a `--fail-on` threshold is broken.
pub(crate) const EXIT_THRESHOLD: u8 = 3;

/// `switchyard bench` arguments.
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Base URL of an OpenAI-compatible API; requests go to `<target>/chat/completions`
    /// (e.g. http://127.0.0.1:8080/v1).
    #[arg(long)]
    target: String,
    /// Model name(s), comma-separated; the load is shared round-robin and each model is
    /// reported side by side.
    #[arg(long, value_delimiter = ',', required = true)]
    model: Vec<String>,
    /// API key (default: $OPENAI_API_KEY).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Send this header with every request, 'Name: value' (repeatable), e.g.
    /// --header 'x-portkey-provider: openai'. An `authorization` header replaces the
    /// bearer token of --api-key. host, content-length, transfer-encoding, connection and
    /// the other hop-by-hop headers are bench's own and refused. The report lists the
    /// headers sent, with secret values (authorization, cookie, names with a word such as
    /// key, token, secret, auth) redacted.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Open loop: offer this many requests per second.
    #[arg(long, group = "load", allow_negative_numbers = true)]
    rate: Option<f64>,
    /// Closed loop: keep this many requests in flight.
    #[arg(long, group = "load")]
    concurrency: Option<u32>,
    /// Open loop with a linear ramp, FROM:TO requests per second over the duration.
    #[arg(long, group = "load")]
    ramp: Option<String>,
    /// Step the offered load up until --slo breaks (starts at --sweep-start).
    #[arg(long, group = "load", requires = "slo")]
    sweep: bool,
    /// Poisson arrivals instead of evenly spaced ones (open loop).
    #[arg(long)]
    poisson: bool,
    /// How long to offer load (e.g. 30s, 2m, 500ms); per step for --sweep. Default 30s
    /// unless --requests is given.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(long)]
    requests: Option<u64>,
    /// Ask for whole responses instead of streams (no TTFT or ITL then).
    #[arg(long)]
    no_stream: bool,
    /// Prompt length in tokens: 256, 128..1024 (uniform) or 512:64 (normal mean:sd).
    #[arg(long, default_value = "128")]
    input_tokens: String,
    /// Completion length (max_tokens), same forms as --input-tokens.
    #[arg(long, default_value = "64")]
    output_tokens: String,
    /// JSONL prompt file: {"prompt": "..."} or {"messages": [...]}, optional "max_tokens".
    #[arg(long, conflicts_with = "mix")]
    dataset: Option<PathBuf>,
    /// Built-in mix: chat, long, code.
    #[arg(long)]
    mix: Option<String>,
    /// Service-level objective, e.g. 'p99_ttft<=800ms,error_rate<=1%' (goodput; --sweep).
    #[arg(long)]
    slo: Option<String>,
    /// First rate of a sweep, requests per second.
    #[arg(long, default_value_t = 5.0)]
    sweep_start: f64,
    /// Rate multiplier between sweep steps.
    #[arg(long, default_value_t = 1.5)]
    sweep_factor: f64,
    /// Most sweep steps before narrowing the edge.
    #[arg(long, default_value_t = 12)]
    sweep_steps: u32,
    /// Exit with code 3 if any of these holds, e.g. 'p99_ttft>800ms,error_rate>0.1%'.
    #[arg(long)]
    fail_on: Option<String>,
    /// Write every figure as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write one CSV row per model.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write a self-contained HTML report with plots.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Per-request time-out (e.g. 60s).
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    timeout: Duration,
    /// Seed of prompt draws and Poisson gaps.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
    /// Let the model stop where it would: no `"ignore_eos": true` beside `max_tokens`
    /// (sent by default, vLLM's extension, so output sizes are exact; servers that refuse
    /// unknown fields, as OpenAI's own API does, need this flag).
    #[arg(long)]
    natural_lengths: bool,
    /// Worker threads of the load generator (default: the number of cores, at most 4).
    /// One drives tens of thousands of req/s; more keep readers from falling behind when
    /// a thousand streams deliver at once, which keeps TTFT stamps exact.
    #[arg(long)]
    threads: Option<usize>,
}

impl BenchArgs {
    /// Runtime worker threads to start (at least one).
    pub(crate) fn threads(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        self.threads.unwrap_or(cores.min(4)).max(1)
    }
}

/// `30s`, `2m`, `500ms`, `1.5s`, or bare seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a duration: write 30s, 2m or 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("'{s}' must be a positive duration"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is too long a duration"))
}

fn load(args: &BenchArgs) -> Result<Load> {
    let positive = |v: f64, what: &str| -> Result<f64> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            bail!("{what} must be a positive number, got {v}")
        }
    };
    Ok(
        match (args.rate, args.concurrency, &args.ramp, args.sweep) {
            (Some(r), ..) => Load::Open {
                rate: positive(r, "--rate")?,
                poisson: args.poisson,
            },
            (_, Some(0), ..) => bail!("--concurrency must be at least 1"),
            (_, Some(c), ..) => Load::Closed { concurrency: c },
            (_, _, Some(spec), _) => {
                let (a, b) = spec
                    .split_once(':')
                    .context("--ramp takes FROM:TO, e.g. --ramp 10:200")?;
                let parse = |t: &str| {
                    t.trim()
                        .parse::<f64>()
                        .with_context(|| format!("--ramp: '{t}' is not a number"))
                };
                Load::Ramp {
                    from: positive(parse(a)?, "--ramp FROM")?,
                    to: positive(parse(b)?, "--ramp TO")?,
                }
            }
            (_, _, _, true) => Load::Open {
                rate: positive(args.sweep_start, "--sweep-start")?,
                poisson: args.poisson,
            },
            _ => bail!(
                "choose a load: --rate R (open loop), --concurrency N (closed loop), --ramp FROM:TO, or --sweep --slo '...'"
            ),
        },
    )
}

fn source(args: &BenchArgs) -> Result<Source> {
    let output: Dist = args.output_tokens.parse().context("--output-tokens")?;
    if let Some(path) = &args.dataset {
        return Ok(Source::from_file(path, output)?);
    }
    if let Some(mix) = &args.mix {
        return Ok(Source::Mix(mix.parse::<Mix>()?));
    }
    let input: Dist = args.input_tokens.parse().context("--input-tokens")?;
    Ok(Source::Synthetic { input, output })
}

/// Exit code for bad arguments (as clap uses).
pub(crate) const EXIT_USAGE: u8 = 2;

/// Arguments checked and parsed, before anything touches the network.
struct Checked {
    load: Load,
    source: Source,
    slo: Option<Conditions>,
    fail_on: Option<Conditions>,
    headers: ExtraHeaders,
}

fn check(args: &BenchArgs) -> Result<Checked> {
    engine::parse_target(args.target.trim_end_matches('/'))?;
    let load = load(args)?;
    let source = source(args)?;
    let slo: Option<Conditions> = args
        .slo
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--slo")?;
    let fail_on: Option<Conditions> = args
        .fail_on
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--fail-on")?;
    if args.model.iter().any(|m| m.trim().is_empty()) {
        bail!("--model has an empty name");
    }
    let headers = ExtraHeaders::parse(&args.headers)?;
    // The whole set (the api key's bearer token included) is built here once to refuse
    // a bad key before the run; the run builds it once more, never per request.
    headers.request_headers(args.api_key.as_deref())?;
    Ok(Checked {
        load,
        source,
        slo,
        fail_on,
        headers,
    })
}

/// Run `switchyard bench`.
pub(crate) async fn run(args: BenchArgs) -> Result<ExitCode> {
    let Checked {
        load,
        source,
        slo,
        fail_on,
        headers,
    } = match check(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(Duration::from_secs(30)),
        (d, _) => d,
    };
    let target = args.target.trim_end_matches('/').to_string();
    engine::preflight(&target).await?;
    let client = engine::http_client()?;
    let plan = Plan {
        target: target.clone(),
        models: args.model.iter().map(|m| m.trim().to_string()).collect(),
        load,
        duration,
        max_requests: args.requests,
        stream: !args.no_stream,
        timeout: args.timeout,
        api_key: args.api_key.clone(),
        headers,
        source,
        seed: args.seed,
        progress: !args.quiet,
        exact_output: !args.natural_lengths,
    };
    let meta = RunMeta {
        version: env!("CARGO_PKG_VERSION").into(),
        target,
        command: redacted_command(std::env::args()),
        started_at: now_rfc3339(),
        load: if args.sweep {
            format!(
                "sweep from {} req/s ×{}",
                args.sweep_start, args.sweep_factor
            )
        } else {
            load.describe()
        },
        workload: plan.source.describe(),
        duration_s: duration.map_or(0.0, |d| d.as_secs_f64()),
        stream: plan.stream,
        headers: plan.headers.redacted(),
    };
    let mut report = match (&slo, args.sweep) {
        (Some(slo), true) => {
            let sp = SweepPlan {
                start: args.sweep_start,
                factor: args.sweep_factor.max(1.01),
                max_steps: args.sweep_steps.max(1),
                step: duration.unwrap_or(Duration::from_secs(10)),
                poisson: args.poisson,
            };
            sweep(&plan, &client, slo, sp, meta).await?
        }
        _ => {
            let data = engine::run(&plan, &client).await?;
            analyze::analyze(&plan, &data, slo.as_ref(), meta)
        }
    };
    if let Some(f) = &fail_on {
        for g in &report.groups {
            for (clause, value) in f.true_of(g) {
                report
                    .failed_thresholds
                    .push(format!("{}: {} (measured {value:.3})", g.name, clause.text));
            }
        }
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    out!("{}", table::render_table(&report))?;
    if let Some(p) = &args.json {
        write(p, &serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(p) = &args.csv {
        write(p, &table::to_csv(&report))?;
    }
    if let Some(p) = &args.html {
        write(p, &html::render_html(&report))?;
    }
    Ok(if report.failed_thresholds.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_THRESHOLD)
    })
}

/// The command line for the report, with secrets out: the value of `--api-key`, and
/// of every `--header` whose name looks secret (see `switchyard_bench::headers`).
fn redacted_command(args: impl Iterator<Item = String>) -> String {
    let mut out: Vec<String> = Vec::new();
    // The flag whose value the next argument is.
    let mut value_of: Option<String> = None;
    for arg in args {
        let shown = match (value_of.take().as_deref(), arg.split_once('=')) {
            (Some("--api-key"), _) => REDACTED.to_string(),
            (Some(_), _) => redact_header(&arg),
            (None, Some(("--api-key", _))) => format!("--api-key={REDACTED}"),
            (None, Some(("--header", h))) => format!("--header={}", redact_header(h)),
            (None, _) => {
                if arg == "--api-key" || arg == "--header" {
                    value_of = Some(arg.clone());
                }
                arg
            }
        };
        out.push(shown);
    }
    out.join(" ")
}

/// `Name: value` with the value redacted when the name looks secret.
fn redact_header(spec: &str) -> String {
    match spec.split_once(':') {
        Some((name, _)) if is_secret(name.trim()) => format!("{name}: {REDACTED}"),
        _ => spec.to_string(),
    }
}

fn write(path: &PathBuf, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        for bad in ["", "abc", "5 parsecs", "-1s", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_reported_command_line_hides_keys_and_secret_headers() {
        let argv = [
            "switchyard",
            "bench",
            "--api-key",
            "sk-1",
            "--api-key=sk-2",
            "--header",
            "Authorization: Bearer sk-3",
            "--header=x-api-key: sk-4",
            "--header",
            "x-portkey-provider: openai",
        ];
        let line = redacted_command(argv.iter().map(|s| s.to_string()));
        for secret in ["sk-1", "sk-2", "sk-3", "sk-4"] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
        assert!(
            line.contains("--header x-portkey-provider: openai"),
            "{line}"
        );
        assert!(
            line.contains("--header Authorization: <redacted>"),
            "{line}"
        );
    }

    #[test]
    fn a_bad_header_is_an_argument_error_naming_the_flag() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let args = |h: &str| {
            let argv = ["x", "--target", "http://127.0.0.1:1/v1", "--model", "m"];
            let argv = argv.into_iter().chain(["--rate", "1", "--header", h]);
            Cli::try_parse_from(argv).unwrap().bench
        };
        for bad in ["x y: 1", "host: example.com", "x-a: a\nb", "nocolon"] {
            let e = check(&args(bad)).err().map(|e| format!("{e:#}"));
            assert!(
                e.as_deref().is_some_and(|e| e.contains("--header")),
                "{bad:?}: {e:?}"
            );
        }
        let ok = check(&args("x-portkey-provider: openai")).unwrap();
        assert_eq!(ok.headers.redacted(), ["x-portkey-provider: openai"]);
    }

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_786), (2026, 11, 29));
    }
}
