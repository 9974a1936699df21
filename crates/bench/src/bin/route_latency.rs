//! Routing latency benchmark: how long the tiered router's classifier takes to score one
//! prompt, over every prompt of a labelled file, several passes, one thread. Prints a
//! Markdown row for docs/BENCHMARKS.md.
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
        sink += model.score(p);
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut bytes = 0usize;
    for _ in 0..passes {
        for p in &prompts {
            let t = Instant::now();
            sink += model.score(p);
            hist.record(t.elapsed().as_nanos().max(1) as u64)?;
            bytes += p.len();
        }
    }
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "| prompts scored | mean prompt bytes | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
        hist.len(),
        bytes / hist.len().max(1) as usize,
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        hist.max() as f64 / 1000.0
    );
    eprintln!("(checksum {sink:.3})");
    Ok(())
}
