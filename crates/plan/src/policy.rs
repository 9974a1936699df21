//! Which models answer: one model, an explicit mix, or a tiered virtual model (its tier
//! shares, and the requests escalation sends to a second, pricier model); and the
//! policies `--compare` sets side by side.

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_catalog::{Catalog, Model, Price};

use crate::error::PlanError;
use crate::workload::{Share, Workload};

/// One deployment of a model: a vendor's region (or account), its vendor quotas and
/// what it bills.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    /// Provider id: the model's maker, or a vendor that resells it.
    pub provider: String,
    /// Deployment (region) name.
    pub name: String,
    /// Requests per minute one account may send, when known.
    pub rpm: Option<u64>,
    /// Tokens per minute one account may send, when known.
    pub tpm: Option<u64>,
    /// A contract price for this deployment (`[routes]` `price`); `None`: the vendor's
    /// list price from the catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
}

/// A tiered virtual model of the config: its models, cheapest first, and the share of
/// traffic each tier is calibrated to take.
#[derive(Debug, Clone, PartialEq)]
pub struct Tiers {
    /// Canonical model ids, tier by tier.
    pub models: Vec<String>,
    /// The share of traffic each tier takes (sums to 1).
    pub shares: Vec<f64>,
    /// Whether a weak answer is escalated to the next tier.
    pub escalate: bool,
}

/// What the config says about serving models.
#[derive(Debug, Clone)]
pub struct Landscape {
    /// The catalog, with the config's overrides.
    pub catalog: Catalog,
    /// Deployments per canonical model id, in failover order.
    pub deployments: BTreeMap<String, Vec<Deployment>>,
    /// Fallback models per model id (`[fallbacks]`).
    pub fallbacks: BTreeMap<String, Vec<String>>,
    /// Tiered virtual models by name.
    pub tiers: BTreeMap<String, Tiers>,
}

impl Landscape {
    /// The catalog model `name` names (an id or an alias), for argument `arg`.
    pub fn model(&self, arg: &'static str, name: &str) -> Result<&Model, PlanError> {
        self.catalog
            .find(name)
            .ok_or_else(|| PlanError::UnknownModel {
                arg,
                model: name.to_string(),
            })
    }

    /// The vendor that normally serves `model` (its first deployment's), and the price it
    /// bills: the deployment's contract price, else that vendor's list price for the model,
    /// else the maker's.
    pub fn serving<'s>(&'s self, model: &'s Model) -> (&'s str, &'s Price) {
        let Some(first) = self.deployments.get(&model.id).and_then(|d| d.first()) else {
            return (&model.provider, &model.price);
        };
        let price = first
            .price
            .as_ref()
            .or_else(|| model.sold_by(&first.provider).map(|s| s.price));
        (&first.provider, price.unwrap_or(&model.price))
    }

    /// The deployments of `model`: the config's, else one per region of its provider.
    pub fn deployments_of(&self, model: &Model) -> Vec<Deployment> {
        if let Some(d) = self.deployments.get(&model.id).filter(|d| !d.is_empty()) {
            return d.clone();
        }
        self.catalog
            .provider(&model.provider)
            .map(|p| {
                p.regions
                    .iter()
                    .map(|r| Deployment {
                        provider: p.id.clone(),
                        name: r.name.clone(),
                        rpm: None,
                        tpm: None,
                        price: None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A routing policy, as the traffic it sends to each model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// Its name (`deepseek-v4-flash`, `mix`, `tiered auto`, `always-cheap`, …).
    pub name: String,
    /// Share of requests each model answers (sums to 1).
    pub answered: Vec<Share>,
    /// Requests also sent to a model whose answer was then escalated away, as a share of
    /// all requests: paid for, not kept.
    pub discarded: Vec<Share>,
    /// The escalation rate assumed (share of a lower tier's answers escalated).
    pub escalation_rate: f64,
}

impl Policy {
    /// Every request to one model.
    pub fn single(land: &Landscape, arg: &'static str, name: &str) -> Result<Policy, PlanError> {
        let m = land.model(arg, name)?;
        Ok(Policy {
            name: m.id.clone(),
            answered: vec![Share {
                name: m.id.clone(),
                share: 1.0,
            }],
            discarded: Vec::new(),
            escalation_rate: 0.0,
        })
    }

    /// An explicit mix (`--mix`), its names resolved to catalog ids.
    pub fn mix(land: &Landscape, shares: Vec<Share>) -> Result<Policy, PlanError> {
        let mut answered = Vec::new();
        for s in shares {
            let m = land.model("--mix", &s.name)?;
            answered.push(Share {
                name: m.id.clone(),
                share: s.share,
            });
        }
        Ok(Policy {
            name: "mix".into(),
            answered,
            discarded: Vec::new(),
            escalation_rate: 0.0,
        })
    }

    /// A tiered virtual model: each tier its share; with escalation, `rate` of every tier's
    /// answers but the top's goes on to the next tier (the first answer is paid and
    /// discarded).
    pub fn tiered(name: &str, tiers: &Tiers, rate: f64) -> Policy {
        let rate = if tiers.escalate { rate } else { 0.0 };
        let n = tiers.models.len();
        let mut answered: Vec<Share> = tiers
            .models
            .iter()
            .zip(&tiers.shares)
            .map(|(m, &s)| Share {
                name: m.clone(),
                share: s,
            })
            .collect();
        let mut discarded = Vec::new();
        for i in 0..n.saturating_sub(1) {
            let moved = tiers.shares.get(i).copied().unwrap_or(0.0) * rate;
            if moved > 0.0 {
                answered[i].share -= moved;
                answered[i + 1].share += moved;
                discarded.push(Share {
                    name: tiers.models[i].clone(),
                    share: moved,
                });
            }
        }
        Policy {
            name: format!("tiered {name}"),
            answered,
            discarded,
            escalation_rate: rate,
        }
    }

    /// Every model this policy sends traffic to, with its share of all requests
    /// (answered and discarded together): what capacity and quotas must carry.
    pub fn load(&self) -> Vec<Share> {
        let mut out: Vec<Share> = Vec::new();
        for s in self.answered.iter().chain(&self.discarded) {
            match out.iter_mut().find(|o| o.name == s.name) {
                Some(o) => o.share += s.share,
                None => out.push(s.clone()),
            }
        }
        out.retain(|s| s.share > 0.0);
        out
    }
}

/// What a typical request of `w` costs on `m` at the vendor that serves it, in
/// nano-dollars (for ranking only).
fn typical_cost(land: &Landscape, w: &Workload, m: &Model) -> u64 {
    let (i, o) = w.tokens_of(&m.id);
    let prompt = i.mean().round() as u64;
    let cached = (prompt as f64 * w.cached_share).round() as u64;
    land.serving(m)
        .1
        .week_average_nanos(prompt, cached, o.mean().round() as u64)
}

/// The policies `--compare` sets side by side, from `base` (a tiered virtual model's
/// models, or the models of a mix): always the priciest, always the cheapest, the tiered
/// split when there is one, and the cheapest catalog model whose context holds the
/// workload's largest requests.
pub fn compare_set(
    land: &Landscape,
    w: &Workload,
    base: &Policy,
    tiered: Option<Policy>,
) -> Result<Vec<Policy>, PlanError> {
    let mut models: Vec<&Model> = Vec::new();
    for s in &base.answered {
        models.push(land.model("--compare", &s.name)?);
    }
    let by_cost = |a: &&Model, b: &&Model| typical_cost(land, w, a).cmp(&typical_cost(land, w, b));
    let premium = models.iter().copied().max_by(by_cost);
    let cheap = models.iter().copied().min_by(by_cost);
    let mut out = Vec::new();
    for (label, m) in [("always-premium", premium), ("always-cheap", cheap)] {
        if let Some(m) = m {
            let mut p = Policy::single(land, "--compare", &m.id)?;
            p.name = format!("{label} ({})", m.id);
            out.push(p);
        }
    }
    if let Some(t) = tiered {
        out.push(t);
    } else if base.answered.len() > 1 {
        out.push(base.clone());
    }
    let (i, o) = (&w.input, &w.output);
    let need = largest(i) + largest(o);
    let fits = land
        .catalog
        .models()
        .iter()
        .filter(|m| !m.is_embedding())
        .filter(|m| u64::from(m.context_window) >= need && u64::from(m.max_output) >= largest(o))
        .min_by(|a, b| by_cost(a, b));
    if let Some(m) = fits {
        let mut p = Policy::single(land, "--compare", &m.id)?;
        p.name = format!("cheapest-that-fits ({})", m.id);
        out.push(p);
    }
    Ok(out)
}

/// The 99th percentile of a token count (drawn, with a fixed seed).
fn largest(t: &crate::workload::Tokens) -> u64 {
    use rand::SeedableRng;
    if let Some(n) = t.fixed() {
        return u64::from(n);
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    let mut draws: Vec<u32> = (0..10_000).map(|_| t.sample(&mut rng)).collect();
    draws.sort_unstable();
    u64::from(draws.get(9_899).copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_moves_answers_up_a_tier_and_pays_for_the_first_answer() {
        let tiers = Tiers {
            models: vec!["cheap".into(), "mid".into(), "top".into()],
            shares: vec![0.7, 0.2, 0.1],
            escalate: true,
        };
        let p = Policy::tiered("auto", &tiers, 0.1);
        let got: Vec<f64> = p.answered.iter().map(|s| s.share).collect();
        assert!(
            (got[0] - 0.63).abs() < 1e-12 && (got[1] - 0.25).abs() < 1e-12,
            "{got:?}"
        );
        assert!((got[2] - 0.12).abs() < 1e-12);
        assert!((got.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let load: f64 = p.load().iter().map(|s| s.share).sum();
        assert!(
            (load - 1.09).abs() < 1e-12,
            "9% of requests are sent twice: {load}"
        );
        let flat = Policy::tiered(
            "auto",
            &Tiers {
                escalate: false,
                ..tiers
            },
            0.1,
        );
        assert!(flat.discarded.is_empty() && flat.escalation_rate == 0.0);
    }
}
