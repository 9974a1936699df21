//! `switchyard route train|cv|eval|explain`: the tiered router's classifier, trained and
//! measured on labelled prompts (`../shared/data/routing/dev.jsonl` format).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use switchyard_router::cv::{cross_validate, fold_of};
use switchyard_router::eval::{self, Metrics};
use switchyard_router::{Model, Row, TrainConfig, held_out};

/// `switchyard route` options.
#[derive(Debug, Args)]
pub(crate) struct RouteArgs {
    #[command(subcommand)]
    command: RouteCommand,
}

#[derive(Debug, Subcommand)]
enum RouteCommand {
    /// Fit the classifier on the rows not held out, and write it.
    Train(TrainArgs),
    /// k-fold cross-validation on the rows `train` uses (never the held-out ones): APGR and
    /// strong calls saved at 95% quality, mean ± standard deviation over the folds. For
    /// choosing training settings without looking at the held-out rows.
    Cv(CvArgs),
    /// APGR, CPT(50%), CPT(80%) and strong calls saved at 95% quality, for the shipped
    /// classifier and for random and oracle routers.
    Eval(EvalArgs),
    /// The score of one prompt (how likely the cheap model fails it where the strong one
    /// would not), how it ranks, and — with --config — the tier and model each tiered
    /// virtual model of that config would pick.
    Explain(ExplainArgs),
}

/// `switchyard route train` options.
#[derive(Debug, Args)]
struct TrainArgs {
    /// Labelled prompts, JSON lines.
    #[arg(long)]
    data: PathBuf,
    /// Where to write the classifier.
    #[arg(long, default_value = "crates/router/data/classifier.json")]
    out: PathBuf,
    /// Share of rows held out from training (chosen by a hash of each row's id).
    #[arg(long, default_value_t = 0.3)]
    holdout: f64,
}

/// `switchyard route cv` options.
#[derive(Debug, Args)]
struct CvArgs {
    /// Labelled prompts, JSON lines.
    #[arg(long)]
    data: PathBuf,
    /// Share held out, as given to `train` (those rows are left out of every fold).
    #[arg(long, default_value_t = 0.3)]
    holdout: f64,
    /// Number of folds (each row's fold is chosen by a hash of its id).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// L2 penalty (default: the one `train` uses).
    #[arg(long)]
    l2: Option<f32>,
    /// Passes over the data (default: as `train`).
    #[arg(long)]
    epochs: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `switchyard route eval` options.
#[derive(Debug, Args)]
struct EvalArgs {
    /// Labelled prompts, JSON lines.
    #[arg(long)]
    data: PathBuf,
    /// Evaluate only the rows `train` held out (by default every row is used; rows the
    /// classifier was trained on flatter it).
    #[arg(long)]
    held_out: bool,
    /// Share held out, as given to `train`.
    #[arg(long, default_value_t = 0.3)]
    holdout: f64,
    /// A classifier file instead of the shipped one.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Also price the workload: the cheap tier's catalog model.
    #[arg(long, requires = "premium")]
    cheap: Option<String>,
    /// Also price the workload: the premium tier's catalog model.
    #[arg(long, requires = "cheap")]
    premium: Option<String>,
    /// Completion tokens assumed per request when pricing.
    #[arg(long, default_value_t = 256)]
    output_tokens: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `switchyard route explain` options.
#[derive(Debug, Args)]
struct ExplainArgs {
    /// The prompt.
    prompt: String,
    /// A gateway config whose `[virtual_models]` to apply.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

/// The text of the file at `path`, or an error naming it.
fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let text = read_text(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<Row>(l).with_context(|| {
                format!(
                    "{} line {}: not a labelled row ({{\"id\", \"prompt\", \"weak_correct\", \"strong_correct\"}})",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

/// The rows of `path` that `train` learns from: those not held out at share `holdout`.
fn training_rows(path: &Path, holdout: f64) -> Result<Vec<Row>> {
    Ok(read_rows(path)?
        .into_iter()
        .filter(|r| !held_out(&r.id, holdout))
        .collect())
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Run `switchyard route …`.
pub(crate) fn run(args: RouteArgs) -> Result<()> {
    match args.command {
        RouteCommand::Train(args) => train(&args),
        RouteCommand::Cv(args) => cv(&args),
        RouteCommand::Eval(args) => evaluate(&args),
        RouteCommand::Explain(args) => explain(&args),
    }
}

/// `route train`: fit the classifier on the rows not held out and write it to `--out`.
fn train(args: &TrainArgs) -> Result<()> {
    let rows = training_rows(&args.data, args.holdout)?;
    anyhow::ensure!(!rows.is_empty(), "no rows left to train on");
    let model = Model::train(&rows, TrainConfig::default());
    std::fs::write(&args.out, model.to_json())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "trained on {} rows ({} held out); wrote {}",
        rows.len(),
        pct(args.holdout),
        args.out.display()
    );
    Ok(())
}

/// `route cv`: cross-validate on the training rows and print the folds as JSON or a table.
fn cv(args: &CvArgs) -> Result<()> {
    let rows = training_rows(&args.data, args.holdout)?;
    let defaults = TrainConfig::default();
    let config = TrainConfig {
        l2: args.l2.unwrap_or(defaults.l2),
        epochs: args.epochs.unwrap_or(defaults.epochs),
        ..defaults
    };
    let report = cross_validate(&rows, args.folds, config)?;
    if args.json {
        outln!("{}", json!({ "rows": rows.len(), "cv": report }))?;
        return Ok(());
    }
    let folds = args.folds;
    outln!(
        "{folds}-fold cross-validation on {} training rows (epochs {}, learning rate {}, decay {}, l2 {}, seed {})",
        rows.len(),
        config.epochs,
        config.learning_rate,
        config.decay,
        config.l2,
        config.seed
    )?;
    outln!("fold  rows   APGR   strong calls saved at 95%")?;
    for (i, m) in report.folds.iter().enumerate() {
        let n = rows.iter().filter(|r| fold_of(&r.id, folds) == i).count();
        outln!("{i:>4}  {n:>4}  {:.3}  {:>8}", m.apgr, pct(m.saved_at_95))?;
    }
    outln!(
        "mean        {:.3} ± {:.3}  {} ± {}",
        report.apgr.mean,
        report.apgr.std,
        pct(report.saved_at_95.mean),
        pct(report.saved_at_95.std)
    )?;
    Ok(())
}

/// What `route eval` found: each router's metrics and, when asked, the priced workload.
struct Evaluation {
    rows: usize,
    held_out_only: bool,
    routers: [(&'static str, Metrics); 3],
    costs: Option<Vec<Priced>>,
}

/// `route eval`: score the rows with the classifier, compare it with random and oracle
/// routers, price the workload if asked, and print the figures.
fn evaluate(args: &EvalArgs) -> Result<()> {
    let model = match &args.model {
        Some(p) => Model::from_json(&read_text(p)?)?,
        None => Model::shipped()?,
    };
    let rows: Vec<Row> = read_rows(&args.data)?
        .into_iter()
        .filter(|r| !args.held_out || held_out(&r.id, args.holdout))
        .collect();
    anyhow::ensure!(!rows.is_empty(), "no rows to evaluate");
    let scores: Vec<f64> = rows
        .iter()
        .map(|r| f64::from(model.score(&r.prompt)))
        .collect();
    let routers = [
        ("classifier", eval::metrics(&rows, &scores)),
        (
            "random",
            eval::metrics(&rows, &eval::random_scores(rows.len(), 1)),
        ),
        ("oracle", eval::metrics(&rows, &eval::oracle_scores(&rows))),
    ];
    let costs = match (&args.cheap, &args.premium) {
        (Some(c), Some(p)) => Some(price_workload(
            &rows,
            &scores,
            &model,
            c,
            p,
            args.output_tokens,
        )?),
        _ => None,
    };
    let evaluation = Evaluation {
        rows: rows.len(),
        held_out_only: args.held_out,
        routers,
        costs,
    };
    if args.json {
        print_evaluation_json(&evaluation)
    } else {
        print_evaluation_table(&evaluation)
    }
}

/// Print an evaluation as one JSON object.
fn print_evaluation_json(e: &Evaluation) -> Result<()> {
    let routers: serde_json::Map<String, serde_json::Value> = e
        .routers
        .iter()
        .map(|(n, m)| ((*n).to_string(), json!(m)))
        .collect();
    outln!(
        "{}",
        json!({ "rows": e.rows, "held_out_only": e.held_out_only, "routers": routers, "costs": e.costs })
    )?;
    Ok(())
}

/// Print an evaluation as text tables: the routers, then the priced workload if any.
fn print_evaluation_table(e: &Evaluation) -> Result<()> {
    let m = &e.routers[0].1;
    outln!(
        "{} rows{}; weak quality {}, strong {}",
        e.rows,
        if e.held_out_only { " (held out)" } else { "" },
        pct(m.q_weak),
        pct(m.q_strong)
    )?;
    outln!("router       APGR   CPT(50%)  CPT(80%)  strong calls saved at 95%")?;
    for (name, m) in &e.routers {
        outln!(
            "{name:<10}  {:.3}  {:>8}  {:>8}  {:>8}",
            m.apgr,
            pct(m.cpt50),
            pct(m.cpt80),
            pct(m.saved_at_95)
        )?;
    }
    if let Some(costs) = &e.costs {
        outln!()?;
        outln!("workload                    premium share  quality   cost per 1k requests")?;
        for c in costs {
            outln!(
                "{:<26}  {:>12}  {:>7}  ${:>10.4}",
                c.name,
                pct(c.premium_share),
                pct(c.quality),
                c.cost_per_1k_usd
            )?;
        }
    }
    Ok(())
}

/// `route explain`: print one prompt's score and rank, and with `--config` the tier each
/// tiered virtual model would pick.
fn explain(args: &ExplainArgs) -> Result<()> {
    let model = Model::shipped()?;
    let s = model.score(&args.prompt);
    outln!(
        "score {s:.3}: harder-looking than {} of the training prompts (the chance that the cheap model fails where a strong one would not)",
        pct(model.rank(s))
    )?;
    match &args.config {
        Some(path) => explain_tiers(&model, s, path),
        None => Ok(()),
    }
}

/// Print the tier and model that each tiered virtual model of the config at `path` picks
/// for a prompt of score `s`.
fn explain_tiers(model: &Model, s: f32, path: &Path) -> Result<()> {
    let text = read_text(path)?;
    let cfg = switchyard_gateway::Config::parse(&text, &path.display().to_string())?;
    let tiered: Vec<_> = cfg
        .virtual_models
        .iter()
        .filter(|(_, v)| v.policy == switchyard_gateway::config::Policy::Tiered)
        .collect();
    anyhow::ensure!(
        !tiered.is_empty(),
        "{} has no tiered [virtual_models]",
        path.display()
    );
    for (name, v) in tiered {
        let thresholds: Vec<f32> = (1..v.shares.len())
            .map(|i| model.threshold_for_share(v.shares[i..].iter().sum()))
            .collect();
        let tier = thresholds.iter().filter(|t| s >= **t).count();
        outln!(
            "{name}: tier {tier} of {} -> {} (thresholds {:?})",
            v.models.len(),
            v.models.get(tier).map_or("?", String::as_str),
            thresholds
        )?;
    }
    Ok(())
}

/// One way of serving the workload, priced.
#[derive(Debug, serde::Serialize)]
struct Priced {
    name: String,
    premium_share: f64,
    quality: f64,
    cost_per_1k_usd: f64,
}

/// The workload's cost and quality always-cheap, always-premium, and under the tiered
/// router at premium shares of 10%, 20% and 30% (thresholds from the classifier's
/// calibration, as `[virtual_models]` sets them). Cheap answers are as good as the weak
/// model's labels, premium ones as the strong model's.
fn price_workload(
    rows: &[Row],
    scores: &[f64],
    model: &Model,
    cheap: &str,
    premium: &str,
    output_tokens: u64,
) -> Result<Vec<Priced>> {
    let catalog = switchyard_catalog::Catalog::builtin()?;
    let (c, p) = (catalog.resolve(cheap)?, catalog.resolve(premium)?);
    let n = rows.len() as f64;
    let serve = |name: String, premium_for: &dyn Fn(usize) -> bool| {
        let mut nanos = 0u64;
        let mut good = 0u64;
        let mut up = 0u64;
        for (i, r) in rows.iter().enumerate() {
            let prompt = switchyard_wire::tokens::estimate(&r.prompt);
            let (m, ok) = if premium_for(i) {
                up += 1;
                (p, r.strong_correct)
            } else {
                (c, r.weak_correct)
            };
            nanos += m.price.cost_nanos(prompt, 0, output_tokens);
            good += u64::from(ok);
        }
        Priced {
            name,
            premium_share: up as f64 / n,
            quality: good as f64 / n,
            cost_per_1k_usd: nanos as f64 / 1e9 / n * 1000.0,
        }
    };
    let mut out = vec![
        serve(format!("always {}", c.id), &|_| false),
        serve(format!("always {}", p.id), &|_| true),
    ];
    for share in [0.1, 0.2, 0.3] {
        let t = f64::from(model.threshold_for_share(share));
        out.push(serve(
            format!("auto ({:.0}% premium target)", share * 100.0),
            &|i| scores[i] >= t,
        ));
    }
    Ok(out)
}
