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
    Train {
        /// Labelled prompts, JSON lines.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the classifier.
        #[arg(long, default_value = "crates/router/data/classifier.json")]
        out: PathBuf,
        /// Share of rows held out from training (chosen by a hash of each row's id).
        #[arg(long, default_value_t = 0.3)]
        holdout: f64,
    },
    /// k-fold cross-validation on the rows `train` uses (never the held-out ones): APGR and
    /// strong calls saved at 95% quality, mean ± standard deviation over the folds. For
    /// choosing training settings without looking at the held-out rows.
    Cv {
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
    },
    /// APGR, CPT(50%), CPT(80%) and strong calls saved at 95% quality, for the shipped
    /// classifier and for random and oracle routers.
    Eval {
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
    },
    /// The score of one prompt (how likely the cheap model fails it where the strong one
    /// would not), how it ranks, and — with --config — the tier and model each tiered
    /// virtual model of that config would pick.
    Explain {
        /// The prompt.
        prompt: String,
        /// A gateway config whose `[virtual_models]` to apply.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
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

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Run `switchyard route …`.
pub(crate) fn run(args: RouteArgs) -> Result<()> {
    match args.command {
        RouteCommand::Train { data, out, holdout } => {
            let rows: Vec<Row> = read_rows(&data)?
                .into_iter()
                .filter(|r| !held_out(&r.id, holdout))
                .collect();
            anyhow::ensure!(!rows.is_empty(), "no rows left to train on");
            let model = Model::train(&rows, TrainConfig::default());
            std::fs::write(&out, model.to_json())
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!(
                "trained on {} rows ({} held out); wrote {}",
                rows.len(),
                pct(holdout),
                out.display()
            );
        }
        RouteCommand::Cv {
            data,
            holdout,
            folds,
            l2,
            epochs,
            json,
        } => {
            let rows: Vec<Row> = read_rows(&data)?
                .into_iter()
                .filter(|r| !held_out(&r.id, holdout))
                .collect();
            let defaults = TrainConfig::default();
            let config = TrainConfig {
                l2: l2.unwrap_or(defaults.l2),
                epochs: epochs.unwrap_or(defaults.epochs),
                ..defaults
            };
            let report = cross_validate(&rows, folds, config)?;
            if json {
                outln!("{}", json!({ "rows": rows.len(), "cv": report }))?;
            } else {
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
            }
        }
        RouteCommand::Eval {
            data,
            held_out: only_held_out,
            holdout,
            model,
            cheap,
            premium,
            output_tokens,
            json,
        } => {
            let model = match model {
                Some(p) => Model::from_json(
                    &std::fs::read_to_string(&p)
                        .with_context(|| format!("cannot read {}", p.display()))?,
                )?,
                None => Model::shipped()?,
            };
            let rows: Vec<Row> = read_rows(&data)?
                .into_iter()
                .filter(|r| !only_held_out || held_out(&r.id, holdout))
                .collect();
            anyhow::ensure!(!rows.is_empty(), "no rows to evaluate");
            let scores: Vec<f64> = rows
                .iter()
                .map(|r| f64::from(model.score(&r.prompt)))
                .collect();
            let results: [(&str, Metrics); 3] = [
                ("classifier", eval::metrics(&rows, &scores)),
                (
                    "random",
                    eval::metrics(&rows, &eval::random_scores(rows.len(), 1)),
                ),
                ("oracle", eval::metrics(&rows, &eval::oracle_scores(&rows))),
            ];
            let costs = match (&cheap, &premium) {
                (Some(c), Some(p)) => {
                    Some(price_workload(&rows, &scores, &model, c, p, output_tokens)?)
                }
                _ => None,
            };
            if json {
                let v: serde_json::Map<String, serde_json::Value> = results
                    .iter()
                    .map(|(n, m)| ((*n).to_string(), json!(m)))
                    .collect();
                outln!(
                    "{}",
                    json!({ "rows": rows.len(), "held_out_only": only_held_out, "routers": v, "costs": costs })
                )?;
            } else {
                let m = &results[0].1;
                outln!(
                    "{} rows{}; weak quality {}, strong {}",
                    rows.len(),
                    if only_held_out { " (held out)" } else { "" },
                    pct(m.q_weak),
                    pct(m.q_strong)
                )?;
                outln!("router       APGR   CPT(50%)  CPT(80%)  strong calls saved at 95%")?;
                for (name, m) in &results {
                    outln!(
                        "{name:<10}  {:.3}  {:>8}  {:>8}  {:>8}",
                        m.apgr,
                        pct(m.cpt50),
                        pct(m.cpt80),
                        pct(m.saved_at_95)
                    )?;
                }
                if let Some(costs) = &costs {
                    outln!()?;
                    outln!(
                        "workload                    premium share  quality   cost per 1k requests"
                    )?;
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
            }
        }
        RouteCommand::Explain { prompt, config } => {
            let model = Model::shipped()?;
            let s = model.score(&prompt);
            outln!(
                "score {s:.3}: harder-looking than {} of the training prompts (the chance that the cheap model fails where a strong one would not)",
                pct(model.rank(s))
            )?;
            if let Some(path) = config {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
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
            }
        }
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
