//! What availability a policy's failover buys. A model is down for a request only when
//! every deployment it can fail over to is down, and so are its fallback models'. Two
//! kinds of outage are assumed independent: one region (deployment) of a vendor, with
//! availability `a_d`, and the whole vendor at once (its control plane, billing, a bad
//! release), with availability `v_p`. So for a set of models served by providers `p`
//! with deployments `D_p`:
//!
//! `A = 1 − Π_p [ (1 − v_p) + v_p · Π_{d ∈ D_p} (1 − a_d) ]`
//!
//! and a policy's availability is its models' availabilities weighted by their shares.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::cost::DAYS_PER_MONTH;
use crate::error::PlanError;
use crate::policy::{Deployment, Landscape, Policy};

/// Minutes in a month.
const MONTH_MINUTES: f64 = DAYS_PER_MONTH * 24.0 * 60.0;

/// The assumptions availability rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assumptions {
    /// Availability of a deployment not listed below.
    pub deployment_default: f64,
    /// Availability of named deployments (`provider/name`), given or from the usage log.
    pub deployments: BTreeMap<String, f64>,
    /// Availability of a whole vendor.
    pub vendor: f64,
    /// The SLA target.
    pub target: f64,
}

/// One model's availability with its failover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelAvailability {
    /// Canonical model id.
    pub model: String,
    /// Its share of requests.
    pub share: f64,
    /// Deployments it fails over across (`provider/name`), its own then its fallbacks'.
    pub deployments: Vec<String>,
    /// Fallback models.
    pub fallbacks: Vec<String>,
    /// Availability.
    pub availability: f64,
    /// With one more region of its own vendor.
    pub with_one_more_region: f64,
    /// With a fallback to another vendor's model (named), when the catalog has one.
    pub with_cross_vendor_fallback: Option<(String, f64)>,
    /// With the same model also deployed at another vendor that sells it (named: the
    /// cheapest such vendor not already deployed), when one does.
    pub with_second_vendor: Option<(String, f64)>,
}

/// A policy's availability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Availability {
    /// The policy.
    pub policy: String,
    /// Per model.
    pub models: Vec<ModelAvailability>,
    /// Expected availability of a request.
    pub availability: f64,
    /// Expected minutes down per 30-day month.
    pub downtime_minutes_per_month: f64,
    /// Minutes the target allows per month.
    pub allowed_minutes_per_month: f64,
    /// Whether the target holds.
    pub meets_target: bool,
    /// With one more region for every model.
    pub with_one_more_region: f64,
    /// With 1, 2, 3 and 4 regions of its own vendor per model (default availabilities, no
    /// fallbacks): what adding regions buys, and where the vendor's own outages cap it.
    pub by_region_count: Vec<(u32, f64)>,
    /// The assumptions.
    pub assumptions: Assumptions,
}

/// `A` of the module doc for `deployments`.
fn of_set(deployments: &[Deployment], a: &Assumptions) -> f64 {
    let mut by_provider: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for d in deployments {
        by_provider.entry(&d.provider).or_default().insert(&d.name);
    }
    let all_down: f64 = by_provider
        .iter()
        .map(|(p, names)| {
            let regions_down: f64 = names
                .iter()
                .map(|n| {
                    1.0 - a
                        .deployments
                        .get(&format!("{p}/{n}"))
                        .copied()
                        .unwrap_or(a.deployment_default)
                })
                .product();
            (1.0 - a.vendor) + a.vendor * regions_down
        })
        .product();
    1.0 - all_down
}

/// Validate an availability figure for `arg`.
pub fn check(arg: &'static str, v: f64) -> Result<f64, PlanError> {
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(PlanError::arg(
            arg,
            format!("{v} must be an availability above 0 and at most 1 (e.g. 0.995)"),
        ))
    }
}

/// The availability of `policy`.
pub fn availability(
    land: &Landscape,
    policy: &Policy,
    a: &Assumptions,
) -> Result<Availability, PlanError> {
    let mut models = Vec::new();
    for share in &policy.answered {
        let m = land.model("--mix", &share.name)?;
        let fallbacks = land.fallbacks.get(&m.id).cloned().unwrap_or_default();
        let mut deps = land.deployments_of(m);
        for f in &fallbacks {
            if let Some(fm) = land.catalog.get(f) {
                deps.extend(land.deployments_of(fm));
            }
        }
        let mut more = deps.clone();
        more.push(Deployment {
            provider: m.provider.clone(),
            name: "(one more region)".into(),
            rpm: None,
            tpm: None,
            price: None,
        });
        let second = second_vendor(m, &deps).map(|vendor| {
            let mut with = deps.clone();
            with.push(Deployment {
                provider: vendor.to_string(),
                name: "(one region)".into(),
                rpm: None,
                tpm: None,
                price: None,
            });
            (vendor.to_string(), of_set(&with, a))
        });
        let cross = cheapest_other_vendor(land, m).map(|other| {
            let mut with = deps.clone();
            with.extend(land.deployments_of(other));
            (other.id.clone(), of_set(&with, a))
        });
        models.push(ModelAvailability {
            model: m.id.clone(),
            share: share.share,
            deployments: deps
                .iter()
                .map(|d| format!("{}/{}", d.provider, d.name))
                .collect(),
            fallbacks,
            availability: of_set(&deps, a),
            with_one_more_region: of_set(&more, a),
            with_cross_vendor_fallback: cross,
            with_second_vendor: second,
        });
    }
    let weighted =
        |f: &dyn Fn(&ModelAvailability) -> f64| models.iter().map(|m| m.share * f(m)).sum::<f64>();
    let availability = weighted(&|m| m.availability);
    Ok(Availability {
        policy: policy.name.clone(),
        availability,
        downtime_minutes_per_month: (1.0 - availability) * MONTH_MINUTES,
        allowed_minutes_per_month: (1.0 - a.target) * MONTH_MINUTES,
        meets_target: availability >= a.target,
        with_one_more_region: weighted(&|m| m.with_one_more_region),
        by_region_count: (1..=4u32)
            .map(|k| {
                let regions: Vec<Deployment> = (0..k)
                    .map(|i| Deployment {
                        provider: "vendor".into(),
                        name: format!("r{i}"),
                        rpm: None,
                        tpm: None,
                        price: None,
                    })
                    .collect();
                (k, of_set(&regions, a))
            })
            .collect(),
        models,
        assumptions: a.clone(),
    })
}

/// The cheapest vendor (by input plus output price) that sells `m` and has no deployment
/// in `deps` yet.
fn second_vendor<'a>(m: &'a switchyard_catalog::Model, deps: &[Deployment]) -> Option<&'a str> {
    m.vendors()
        .filter(|s| !deps.iter().any(|d| d.provider == s.provider))
        .min_by(|a, b| {
            (a.price.input + a.price.output).total_cmp(&(b.price.input + b.price.output))
        })
        .map(|s| s.provider)
}

/// The cheapest model (by output price) of a provider other than `m`'s.
fn cheapest_other_vendor<'a>(
    land: &'a Landscape,
    m: &switchyard_catalog::Model,
) -> Option<&'a switchyard_catalog::Model> {
    land.catalog
        .models()
        .iter()
        .filter(|o| o.provider != m.provider && !o.is_embedding())
        .min_by(|a, b| {
            (a.price.input + a.price.output).total_cmp(&(b.price.input + b.price.output))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(p: &str, n: &str) -> Deployment {
        Deployment {
            provider: p.into(),
            name: n.into(),
            rpm: None,
            tpm: None,
            price: None,
        }
    }

    fn assume(vendor: f64) -> Assumptions {
        Assumptions {
            deployment_default: 0.99,
            deployments: BTreeMap::new(),
            vendor,
            target: 0.999,
        }
    }

    #[test]
    fn regions_of_one_vendor_fail_over_but_share_its_outages() {
        let a = assume(1.0);
        // Two independent regions at 99%: down together 0.01² of the time.
        let two = of_set(&[dep("x", "a"), dep("x", "b")], &a);
        assert!((two - 0.9999).abs() < 1e-12, "{two}");
        // A vendor at 99.9% caps any number of its regions.
        let capped = of_set(
            &[dep("x", "a"), dep("x", "b"), dep("x", "c")],
            &assume(0.999),
        );
        assert!(capped < 0.999 && capped > 0.9989, "{capped}");
        // Another vendor's model lifts the cap: both vendors must be down.
        let cross = of_set(&[dep("x", "a"), dep("y", "a")], &assume(0.999));
        let by_hand = 1.0 - (0.001 + 0.999 * 0.01) * (0.001 + 0.999 * 0.01);
        assert!((cross - by_hand).abs() < 1e-12);
        // The same region listed twice is one region.
        assert_eq!(
            of_set(&[dep("x", "a"), dep("x", "a")], &a),
            of_set(&[dep("x", "a")], &a)
        );
    }

    #[test]
    fn availability_figures_outside_zero_to_one_are_refused_by_name() {
        assert!(
            check("--vendor-availability", 1.2)
                .unwrap_err()
                .to_string()
                .starts_with("--vendor-availability")
        );
        assert!(check("--vendor-availability", 0.0).is_err());
        assert_eq!(check("--vendor-availability", 1.0).unwrap(), 1.0);
    }
}
