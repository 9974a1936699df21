//! `switchyard usage`: spend and latency from the usage log, by key, team, model, day or endpoint.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use switchyard_gateway::Config;
use switchyard_ledger::report::{self, GroupBy};
use switchyard_ledger::{PgStore, SqliteStore, UsageEvent};

/// `switchyard usage` options.
#[derive(Debug, Args)]
pub(crate) struct UsageArgs {
    /// Group rows by: key, team, model, day or endpoint.
    #[arg(long, default_value = "model", value_parser = clap::value_parser!(GroupByArg))]
    by: GroupByArg,
    /// Only requests of the last N days (default: all).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    days: Option<u32>,
    /// The usage database (default: the one `serve` writes, per [usage] in --config or the
    /// default location).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Read `[usage] path` from this config file.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV instead of a table.
    #[arg(long)]
    csv: bool,
    /// Print the records of one request (its `x-request-id`) instead of totals.
    #[arg(long, value_name = "ID", conflicts_with_all = ["days", "csv"])]
    request: Option<String>,
}

/// Clap wrapper of [`GroupBy`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupByArg(GroupBy);

impl std::str::FromStr for GroupByArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse().map(GroupByArg)
    }
}

/// Run `switchyard usage`.
pub(crate) fn run(args: UsageArgs) -> Result<()> {
    let config = match &args.config {
        Some(c) => {
            let text = std::fs::read_to_string(c)
                .with_context(|| format!("cannot read config file {}", c.display()))?;
            Some(Config::parse(&text, &c.display().to_string())?)
        }
        None => None,
    };
    let since = match args.days {
        None => 0,
        Some(d) => days_ago(d),
    };
    let which = match &args.request {
        Some(id) => Events::OfRequest(id),
        None => Events::Since(since),
    };
    let (events, source) = load_events(args.db.as_ref(), config.as_ref(), which)?;
    if let Some(id) = &args.request {
        return print_request(id, &events, &source, args.json);
    }
    let rows = report::summarize(&events, args.by.0);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
    } else if args.csv {
        out!("{}", report::csv(&rows))?;
    } else {
        outln!("usage log {source}")?;
        out!("{}", report::table(&rows, args.by.0))?;
    }
    Ok(())
}

/// Unix milliseconds `days` days ago.
pub(crate) fn days_ago(days: u32) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
    now - i64::from(days) * 86_400_000
}

/// Which records of the usage log to read.
pub(crate) enum Events<'a> {
    /// Those of one request.
    OfRequest(&'a str),
    /// Those since a time (Unix ms).
    Since(i64),
}

/// Records of the usage log — `db`, else the one `config`'s `[usage]` names (PostgreSQL
/// or SQLite), else the default file — and where they came from.
pub(crate) fn load_events(
    db: Option<&PathBuf>,
    config: Option<&Config>,
    which: Events<'_>,
) -> Result<(Vec<UsageEvent>, String)> {
    let env = |k: &str| std::env::var(k).ok();
    let postgres = config.filter(|_| db.is_none()).and_then(|c| {
        c.usage
            .postgres
            .clone()
            .map(|(url, table)| (url, table, c.usage.postgres_options.clone()))
    });
    if let Some((url, table, options)) = postgres {
        // The config's time limits and TLS trust ([usage] ca_file) apply here too.
        let mut store = PgStore::connect_with(&url, &table, &options)?;
        let events = match which {
            Events::OfRequest(id) => store.events_of_request(id)?,
            Events::Since(t) => store.events_since(t)?,
        };
        return Ok((events, format!("postgres table {table}")));
    }
    let path = match (db, config) {
        (Some(p), _) => p.clone(),
        (None, Some(c)) => c
            .usage
            .path
            .clone()
            .unwrap_or_else(|| switchyard_gateway::config::default_usage_path(&env)),
        (None, None) => switchyard_gateway::config::default_usage_path(&env),
    };
    anyhow::ensure!(
        path.exists(),
        "no usage log at {} (run `switchyard serve` first, or pass --db FILE)",
        path.display()
    );
    let store = SqliteStore::open(&path)?;
    let events = match which {
        Events::OfRequest(id) => store.events_of_request(id)?,
        Events::Since(t) => store.events_since(t)?,
    };
    Ok((events, path.display().to_string()))
}

/// `--request ID`: each record of that request, as JSON or a line per record.
fn print_request(id: &str, events: &[UsageEvent], source: &str, json: bool) -> Result<()> {
    anyhow::ensure!(
        !events.is_empty(),
        "no request with id '{id}' in the usage log {source}"
    );
    if json {
        outln!("{}", serde_json::to_string_pretty(events)?)?;
        return Ok(());
    }
    outln!("request {id} in the usage log {source}")?;
    for e in events {
        let usd = e.cost_nanos as f64 / 1e9;
        let ttft = e.ttft_ms.map_or("-".to_string(), |t| format!("{t} ms"));
        outln!(
            "  {} {} status {} | {} via {} / {} | {} attempt(s) | {} in + {} out tokens{} | ${usd:.9} | {} ms, TTFT {ttft}{}",
            report::day(e.ts_ms),
            e.outcome,
            e.status,
            e.model,
            e.provider,
            e.deployment,
            e.attempts,
            e.prompt_tokens,
            e.completion_tokens,
            if e.estimated { " (estimated)" } else { "" },
            e.latency_ms,
            e.route
                .as_deref()
                .map_or(String::new(), |r| format!(" | route: {r}")),
        )?;
    }
    Ok(())
}
