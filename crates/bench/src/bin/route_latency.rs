//! Routing latency benchmark: how long the tiered router's classifier takes to score one
//! prompt, over every prompt of a labelled file, several passes, one thread. Times the
//! serving path (`Model::score`) beside the reference path through the training feature
//! list, interleaved, and prints Markdown rows for docs/BENCHMARKS.md.
//!
//! Usage: `route_latency --data ../shared/data/routing/dev.jsonl [--passes 5]`
//! (`bench/route_latency.sh` builds and runs it).

use std::time::Instant;

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use switchyard_router::{Model, Row};

fn main() -> Result<()> {
    let mut data = None;
    let mut passes = 5u32;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--data" => data = it.next(),
            "--passes" => passes = it.next().context("--passes needs a number")?.parse()?,
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    let data = data.context("--data FILE is required")?;
    let prompts: Vec<String> = std::fs::read_to_string(&data)
        .with_context(|| format!("cannot read {data}"))?
        .lines()
        .filter_map(|l| serde_json::from_str::<Row>(l).ok())
        .map(|r| r.prompt)
        .collect();
    anyhow::ensure!(!prompts.is_empty(), "no prompts in {data}");
    let model = Model::shipped()?;
    // Warm up caches and the allocator.
    let mut sink = 0f32;
    for p in &prompts {
        sink += model.score(p) + model.score_reference(p);
    }
    // The scoring path, and beside it (interleaved, alternating which goes first) the
    // reference path through the training feature list, so the ratio is side by side.
    let new_hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3);
    let (mut fast, mut reference) = (new_hist()?, new_hist()?);
    let mut bytes = 0usize;
    for pass in 0..passes {
        for (i, p) in prompts.iter().enumerate() {
            let fast_first = (i + pass as usize).is_multiple_of(2);
            for which in [fast_first, !fast_first] {
                let t = Instant::now();
                sink += if which {
                    model.score(p)
                } else {
                    model.score_reference(p)
                };
                let ns = t.elapsed().as_nanos().max(1) as u64;
                if which {
                    fast.record(ns)?;
                } else {
                    reference.record(ns)?;
                }
            }
            bytes += p.len();
        }
    }
    println!(
        "| path | prompts scored | mean prompt bytes | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, hist) in [("score (serving)", &fast), ("score_reference", &reference)] {
        let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "| {name} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            hist.len(),
            bytes / hist.len().max(1) as usize,
            us(0.5),
            us(0.9),
            us(0.99),
            us(0.999),
            hist.max() as f64 / 1000.0
        );
    }
    eprintln!("(checksum {sink:.3})");
    Ok(())
}
