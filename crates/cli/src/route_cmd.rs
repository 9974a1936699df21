//! `switchyard route train|eval|explain`: the tiered router's classifier, trained and
//! measured on labelled prompts (`../shared/data/routing/dev.jsonl` format).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use switchyard_router::eval::{self, Metrics};
use switchyard_router::{Model, Row, TrainConfig, held_out};

/// `switchyard route` options.
#[derive(Debug, Args)]
pub struct RouteArgs {
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
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The score of one prompt: how likely the cheap model fails it where the strong one
    /// would not.
    Explain {
        /// The prompt.
        prompt: String,
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
pub fn run(args: RouteArgs) -> Result<()> {
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
        RouteCommand::Eval {
            data,
            held_out: only_held_out,
            holdout,
            model,
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
            if json {
                let v: serde_json::Map<String, serde_json::Value> = results
                    .iter()
                    .map(|(n, m)| ((*n).to_string(), json!(m)))
                    .collect();
                println!(
                    "{}",
                    json!({ "rows": rows.len(), "held_out_only": only_held_out, "routers": v })
                );
            } else {
                let m = &results[0].1;
                println!(
                    "{} rows{}; weak quality {}, strong {}",
                    rows.len(),
                    if only_held_out { " (held out)" } else { "" },
                    pct(m.q_weak),
                    pct(m.q_strong)
                );
                println!("router       APGR   CPT(50%)  CPT(80%)  strong calls saved at 95%");
                for (name, m) in &results {
                    println!(
                        "{name:<10}  {:.3}  {:>8}  {:>8}  {:>8}",
                        m.apgr,
                        pct(m.cpt50),
                        pct(m.cpt80),
                        pct(m.saved_at_95)
                    );
                }
            }
        }
        RouteCommand::Explain { prompt } => {
            let model = Model::shipped()?;
            let s = model.score(&prompt);
            println!(
                "score {s:.3}: the cheap model is {} likely to fail where the strong one would not",
                if s >= 0.5 { "more" } else { "less" }
            );
        }
    }
    Ok(())
}
