//! What a policy costs: per model and provider, per day and per 30-day month, priced per
//! request with the catalog's own integer arithmetic (`Price::week_average_nanos`: the tier
//! of each prompt, off-peak prices for the off-peak share of a week; the gateway's
//! function), with the spread the token distributions give.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::Serialize;
use switchyard_catalog::NANOS_PER_USD;

use crate::error::PlanError;
use crate::policy::{Landscape, Policy};
use crate::workload::Workload;

/// Days in a month, for monthly figures: the same 30-day month as `bench`'s $/month.
pub const DAYS_PER_MONTH: f64 = switchyard_bench::cost::SECONDS_PER_MONTH / 86_400.0;
/// Requests drawn to estimate a model's cost per request when token counts vary.
const DRAWS: usize = 20_000;
/// z for a two-sided 90% band (p5 to p95).
const Z90: f64 = 1.644_853_626_951_472_2;

/// Cost per request, in USD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    /// Mean.
    pub mean: f64,
    /// 5th percentile.
    pub p5: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// One model's part of a policy's cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCost {
    /// Canonical model id.
    pub model: String,
    /// Provider id.
    pub provider: String,
    /// Requests per day it takes (answered and escalated away).
    pub requests_per_day: f64,
    /// Cost of one request.
    pub per_request_usd: Band,
    /// Per day.
    pub per_day_usd: f64,
    /// Per month, in nano-dollars (an integer whenever token counts are fixed).
    pub per_month_nanos: f64,
    /// Per month.
    pub per_month_usd: f64,
    /// The month's total at p5 and p95: the spread of token counts over its requests.
    pub per_month_band_usd: (f64, f64),
    /// List prices, USD per million tokens: input, cached input, output.
    pub price_per_million: (f64, f64, f64),
    /// The date the price rests on, and where it comes from.
    pub price_as_of: String,
    /// Its source.
    pub price_source: String,
}

/// A policy's cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyCost {
    /// The policy.
    pub policy: String,
    /// Per model.
    pub models: Vec<ModelCost>,
    /// Per provider, per month.
    pub providers: Vec<(String, f64)>,
    /// Per day.
    pub per_day_usd: f64,
    /// Per month.
    pub per_month_usd: f64,
    /// The month's total at p5 and p95.
    pub per_month_band_usd: (f64, f64),
    /// Mean cost of one request (all its calls).
    pub per_request_usd: f64,
}

fn usd(nanos: f64) -> f64 {
    nanos / NANOS_PER_USD as f64
}

/// The cost of `policy` for `w`.
pub fn cost(land: &Landscape, w: &Workload, policy: &Policy) -> Result<PolicyCost, PlanError> {
    let mut models = Vec::new();
    for share in policy.load() {
        let m = land.model("--mix", &share.name)?;
        let (input, output) = w.tokens_of(&m.id);
        // At the vendor that normally serves it: the maker, or a reseller first in its route.
        let (provider, price) = land.serving(m);
        let one = |prompt: u32, completion: u32| {
            let cached = (f64::from(prompt) * w.cached_share).round() as u64;
            price.week_average_nanos(u64::from(prompt), cached, u64::from(completion))
        };
        let (mean, sd, band) = match (input.fixed(), output.fixed()) {
            (Some(i), Some(o)) => {
                let c = one(i, o) as f64;
                (c, 0.0, [c, c, c])
            }
            _ => {
                let mut rng = SmallRng::seed_from_u64(42);
                let mut draws: Vec<u64> = (0..DRAWS)
                    .map(|_| one(input.sample(&mut rng), output.sample(&mut rng)))
                    .collect();
                draws.sort_unstable();
                let n = draws.len() as f64;
                let mean = draws.iter().map(|&c| c as f64).sum::<f64>() / n;
                let var = draws
                    .iter()
                    .map(|&c| (c as f64 - mean).powi(2))
                    .sum::<f64>()
                    / n;
                let at = |q: f64| {
                    draws
                        .get(((n - 1.0) * q).round() as usize)
                        .copied()
                        .unwrap_or(0) as f64
                };
                (mean, var.sqrt(), [at(0.05), at(0.5), at(0.95)])
            }
        };
        let per_day = w.requests_per_day * share.share;
        let month_requests = per_day * DAYS_PER_MONTH;
        let month = month_requests * mean;
        let spread = Z90 * month_requests.sqrt() * sd;
        models.push(ModelCost {
            model: m.id.clone(),
            provider: provider.to_string(),
            requests_per_day: per_day,
            per_request_usd: Band {
                mean: usd(mean),
                p5: usd(band[0]),
                p50: usd(band[1]),
                p95: usd(band[2]),
            },
            per_day_usd: usd(per_day * mean),
            per_month_nanos: month,
            per_month_usd: usd(month),
            per_month_band_usd: (usd(month - spread), usd(month + spread)),
            price_per_million: (price.input, price.cached_input, price.output),
            price_as_of: price.as_of.clone(),
            price_source: price.source.clone(),
        });
    }
    Ok(total(policy, models, w))
}

fn total(policy: &Policy, models: Vec<ModelCost>, w: &Workload) -> PolicyCost {
    let mut providers: Vec<(String, f64)> = Vec::new();
    for m in &models {
        match providers.iter_mut().find(|(p, _)| *p == m.provider) {
            Some((_, v)) => *v += m.per_month_usd,
            None => providers.push((m.provider.clone(), m.per_month_usd)),
        }
    }
    let month: f64 = models.iter().map(|m| m.per_month_usd).sum();
    // Models' spreads are independent: they add in quadrature.
    let spread = models
        .iter()
        .map(|m| (m.per_month_band_usd.1 - m.per_month_usd).powi(2))
        .sum::<f64>()
        .sqrt();
    PolicyCost {
        policy: policy.name.clone(),
        providers,
        per_day_usd: models.iter().map(|m| m.per_day_usd).sum(),
        per_month_usd: month,
        per_month_band_usd: (month - spread, month + spread),
        per_request_usd: if w.requests_per_day > 0.0 {
            month / (w.requests_per_day * DAYS_PER_MONTH)
        } else {
            0.0
        },
        models,
    }
}
