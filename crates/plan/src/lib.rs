//! `switchyard plan`: what a workload will cost under each routing policy, the capacity
//! and vendor quotas it needs at its peak, and the availability its failover buys
//! against an SLA — computed from the catalog's prices and latencies, the config's
//! deployments, fallbacks and tiers, and optionally the usage log and a `bench` report.
//! docs/PLAN.md states every formula and assumption.
//!
//! The stages follow the questions: [`workload`] (what traffic), [`policy`] (which
//! models answer it), then [`cost`], [`capacity`] and [`availability`] for each policy,
//! [`usage`] when the workload comes from the usage log, and [`report`] (table, JSON,
//! HTML).

pub mod availability;
pub mod capacity;
pub mod cost;
mod error;
pub mod policy;
pub mod report;
pub mod usage;
pub mod workload;

use serde::Serialize;

pub use error::PlanError;

use crate::availability::{Assumptions, Availability};
use crate::capacity::{Capacity, CapacityInputs};
use crate::cost::PolicyCost;
use crate::policy::{Landscape, Policy};
use crate::usage::Measured;
use crate::workload::{Share, Workload};

/// The workload as the plan states it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadSummary {
    /// Requests per day.
    pub requests_per_day: f64,
    /// Mean requests per second.
    pub mean_rps: f64,
    /// Traffic per hour (UTC) over the day's mean.
    pub profile: Vec<f64>,
    /// Regions and their shares.
    pub regions: Vec<Share>,
    /// Prompt tokens per request, in words, and their mean.
    pub input_tokens: (String, f64),
    /// Completion tokens per request, in words, and their mean.
    pub output_tokens: (String, f64),
    /// Share of prompt tokens from the cache.
    pub cached_share: f64,
    /// Share of requests that stream.
    pub stream_share: f64,
    /// Where the figures come from.
    pub source: String,
}

/// One policy's plan.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyPlan {
    /// The policy.
    pub policy: Policy,
    /// What it costs.
    pub cost: PolicyCost,
    /// What it needs at the peak.
    pub capacity: Capacity,
    /// What its failover buys.
    pub availability: Availability,
}

/// A whole plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The workload.
    pub workload: WorkloadSummary,
    /// One plan per policy, side by side.
    pub policies: Vec<PolicyPlan>,
    /// What the usage log measured, when the workload came from it.
    pub measured: Option<Measured>,
    /// Monthly cost of each policy at 0.25×, 0.5×, 1×, 2× and 4× the traffic.
    pub cost_vs_traffic: Vec<(f64, Vec<f64>)>,
    /// Things the reader must know.
    pub notes: Vec<String>,
}

/// Plan `policies` for `w`.
pub fn plan(
    land: &Landscape,
    w: &Workload,
    policies: Vec<Policy>,
    inputs: &CapacityInputs,
    assumptions: &Assumptions,
) -> Result<Plan, PlanError> {
    let mut out = Vec::new();
    for policy in policies {
        out.push(PolicyPlan {
            cost: cost::cost(land, w, &policy)?,
            capacity: capacity::capacity(land, w, &policy, inputs)?,
            availability: availability::availability(land, &policy, assumptions)?,
            policy,
        });
    }
    let cost_vs_traffic = [0.25, 0.5, 1.0, 2.0, 4.0]
        .into_iter()
        .map(|f| (f, out.iter().map(|p| p.cost.per_month_usd * f).collect()))
        .collect();
    Ok(Plan {
        workload: WorkloadSummary {
            requests_per_day: w.requests_per_day,
            mean_rps: w.mean_rps(),
            profile: w.profile.to_vec(),
            regions: w.regions.clone(),
            input_tokens: (w.input.describe(), w.input.mean()),
            output_tokens: (w.output.describe(), w.output.mean()),
            cached_share: w.cached_share,
            stream_share: w.stream_share,
            source: w.source.clone(),
        },
        policies: out,
        measured: None,
        cost_vs_traffic,
        notes: Vec::new(),
    })
}
