//! `switchyard keys create|list|revoke|rotate`: manage gateway keys in the database a
//! gateway reads (`[usage] path`, or PostgreSQL with `[usage] store = "postgres"`). A running gateway picks changes up within
//! `[keys] refresh_secs`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use switchyard_catalog::Catalog;
use switchyard_gateway::Config;
use switchyard_ledger::keys::{BudgetPeriod, KeyRecord, KeyStore, NewKey};

/// `switchyard keys` options.
#[derive(Debug, Args)]
pub(crate) struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    /// The database (default: the one `serve` uses, per --config or the default location).
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    /// Use the key store of this config file: `[usage]` PostgreSQL, or its `path`.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Issue a key; it is printed once and stored only hashed.
    Create {
        /// Label.
        #[arg(long)]
        name: String,
        /// Owner team (for spend reports).
        #[arg(long)]
        team: Option<String>,
        /// Models it may use, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Requests per minute.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        rpm: Option<u64>,
        /// Tokens per minute (prompt + max output reserved up front).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        tpm: Option<u64>,
        /// Budget in US dollars per --period.
        #[arg(long)]
        budget: Option<f64>,
        /// Budget period: day, month or total.
        #[arg(long, default_value = "month")]
        period: BudgetPeriod,
        /// Expiry, in days from now.
        #[arg(long)]
        expires_days: Option<f64>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke {
        /// Key id.
        id: String,
    },
    /// Give a key a new secret; the old one stops working.
    Rotate {
        /// Key id.
        id: String,
    },
}

/// The key store `serve` uses: PostgreSQL when the config's `[usage]` says so, else the
/// SQLite database (`--db`, the config's `[usage] path`, or the default location).
fn open_store(args: &KeysArgs) -> Result<KeyStore> {
    let env = |k: &str| std::env::var(k).ok();
    let config = match (&args.db, &args.config) {
        (Some(p), _) => return Ok(KeyStore::open(p)?),
        (None, Some(c)) => {
            let text = std::fs::read_to_string(c)
                .with_context(|| format!("cannot read config file {}", c.display()))?;
            Some(Config::parse(&text, &c.display().to_string())?)
        }
        (None, None) => None,
    };
    let usage = config.map(|c| c.usage);
    if let Some(u) = &usage
        && let Some((url, table)) = &u.postgres
    {
        // The config's time limits and TLS trust ([usage] ca_file) apply here too.
        return Ok(KeyStore::open_postgres_with(
            url,
            table,
            &u.postgres_options,
        )?);
    }
    let path = usage
        .and_then(|u| u.path)
        .unwrap_or_else(|| switchyard_gateway::config::default_usage_path(&env));
    Ok(KeyStore::open(&path)?)
}

fn describe(k: &KeyRecord) -> String {
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
    let state = if k.revoked_ms.is_some() {
        "revoked"
    } else {
        "active"
    };
    format!(
        "{:<12}  {:<16}  {:<12}  rpm {:<6}  tpm {:<8}  budget {:<12}  models {:<24}  {state}",
        k.id,
        k.name,
        k.team.as_deref().unwrap_or("-"),
        opt(k.rpm),
        opt(k.tpm),
        k.budget_nanos.map_or_else(
            || "-".to_string(),
            |b| format!("${:.2}/{}", b as f64 / 1e9, k.budget_period.as_str())
        ),
        if k.models.is_empty() {
            "all".to_string()
        } else {
            k.models.join(",")
        },
    )
}

/// Run `switchyard keys …`.
pub(crate) fn run(args: KeysArgs) -> Result<()> {
    let store = open_store(&args)?;
    match args.command {
        KeysCommand::Create {
            name,
            team,
            models,
            rpm,
            tpm,
            budget,
            period,
            expires_days,
        } => {
            anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
            let catalog = Catalog::builtin()?;
            let models = models
                .iter()
                .map(|m| catalog.resolve(m).map(|x| x.id.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            let budget_nanos = match budget {
                None => None,
                Some(b) if b.is_finite() && b >= 0.0 => Some((b * 1e9).round() as u64),
                Some(b) => anyhow::bail!("--budget {b} must be a dollar amount >= 0"),
            };
            let expires_ms = match expires_days {
                None => None,
                Some(d) if d.is_finite() && d > 0.0 => Some(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)?
                        .as_millis() as i64
                        + (d * 86_400_000.0) as i64,
                ),
                Some(d) => anyhow::bail!("--expires-days {d} must be > 0"),
            };
            let (record, key) = store.create(&NewKey {
                name,
                team,
                models,
                rpm,
                tpm,
                budget_nanos,
                budget_period: period,
                expires_ms,
            })?;
            if args.json {
                outln!("{}", serde_json::json!({ "key": key, "record": record }))?;
            } else {
                outln!("{key}")?;
                eprintln!(
                    "key {} created in {}; it is shown only now: store it as the client's API key",
                    record.id,
                    store.location()
                );
            }
        }
        KeysCommand::List => {
            let keys = store.list()?;
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&keys)?)?;
            } else {
                for k in &keys {
                    outln!("{}", describe(k))?;
                }
                eprintln!("{} keys in {}", keys.len(), store.location());
            }
        }
        KeysCommand::Revoke { id } => {
            anyhow::ensure!(store.revoke(&id)?, "no key '{id}' in {}", store.location());
            eprintln!("key {id} revoked");
        }
        KeysCommand::Rotate { id } => {
            let key = store
                .rotate(&id)?
                .with_context(|| format!("no usable key '{id}' in {}", store.location()))?;
            outln!("{key}")?;
            eprintln!("key {id} rotated; the old secret no longer works");
        }
    }
    Ok(())
}
