//! `switchyard plan`: what a workload costs under each routing policy, the capacity and
//! quotas it needs, and the availability its failover buys (docs/PLAN.md). The figures
//! come from `switchyard_plan`; this module turns arguments, the config and the usage log
//! into its inputs, and prints the table, JSON or HTML.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use switchyard_bench::workload::Dist;
use switchyard_gateway::Config;
use switchyard_gateway::config::Policy as RoutePolicy;
use switchyard_plan::availability::{self, Assumptions};
use switchyard_plan::capacity::{CapacityInputs, GatewaySizing, Latency, Quota};
use switchyard_plan::policy::{Deployment, Landscape, Policy, Tiers, compare_set};
use switchyard_plan::usage::observe;
use switchyard_plan::workload::{
    Share, Tokens, Workload, parse_fraction, parse_profile, parse_shares, profile_with_peak,
};
use switchyard_plan::{PlanError, report};

use crate::usage_cmd::{Events, days_ago, load_events};

/// `switchyard plan` arguments.
#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    /// Config whose catalog overrides, deployments (and their rpm/tpm), fallbacks and
    /// tiered virtual models the plan uses (default: the embedded default).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Requests per day.
    #[arg(long)]
    requests_per_day: Option<f64>,
    /// The busiest hour's traffic over the day's mean (1 = flat) [default: 3].
    #[arg(long, conflicts_with = "profile")]
    peak_factor: Option<f64>,
    /// The busiest hour, UTC.
    #[arg(long, default_value_t = 14)]
    peak_hour: usize,
    /// Traffic per hour from 00 UTC: 24 comma-separated relative values.
    #[arg(long)]
    profile: Option<String>,
    /// Where traffic comes from: name:share,… summing to 1 [default: all:1].
    #[arg(long)]
    regions: Option<String>,
    /// Prompt tokens per request: 800, 400..1200 (uniform) or 800:400 (normal, mean:sd).
    #[arg(long, default_value = "800:400")]
    input_tokens: Dist,
    /// Completion tokens per request (reasoning included), same forms.
    #[arg(long, default_value = "300:200")]
    output_tokens: Dist,
    /// Share of prompt tokens served from the vendor's cache.
    #[arg(long, default_value_t = 0.0)]
    cached_share: f64,
    /// Share of requests that stream.
    #[arg(long, default_value_t = 0.5)]
    stream_share: f64,
    /// Take the workload from the usage log (requests, mix, tokens, latency, errors).
    #[arg(long)]
    from_usage: bool,
    /// With --from-usage: the last N days.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// With --from-usage: this SQLite usage log instead of the config's.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Latency per model from a `switchyard bench --json` report.
    #[arg(long)]
    bench_json: Option<PathBuf>,
    /// One model answers everything.
    #[arg(long, conflicts_with_all = ["mix", "virtual_model"])]
    model: Option<String>,
    /// An explicit mix: model:share,… summing to 1.
    #[arg(long, conflicts_with = "virtual_model")]
    mix: Option<String>,
    /// A tiered virtual model of the config.
    #[arg(long)]
    virtual_model: Option<String>,
    /// Share of a lower tier's answers escalated to the next [default: the usage log's, else 0].
    #[arg(long)]
    escalation_rate: Option<f64>,
    /// Also plan always-premium, always-cheap, tiered and cheapest-that-fits side by side.
    #[arg(long)]
    compare: bool,
    /// One account's quota per provider: provider=rpm:N,tpm:M;… (replaces [routes] rpm/tpm).
    #[arg(long)]
    quota: Vec<String>,
    /// Requests per second one gateway core serves (docs/BENCHMARKS.md).
    #[arg(long, default_value_t = 2000.0)]
    gateway_rps_per_core: f64,
    /// Cores per gateway replica.
    #[arg(long, default_value_t = 2.0)]
    cores_per_replica: f64,
    /// Share of replica capacity kept free at the peak.
    #[arg(long, default_value_t = 0.3)]
    headroom: f64,
    /// Gateway replicas per region at least.
    #[arg(long, default_value_t = 2)]
    min_replicas: u32,
    /// The SLA target.
    #[arg(long, default_value_t = 0.999)]
    sla: f64,
    /// Availability of one deployment (provider region) unless given below.
    #[arg(long, default_value_t = 0.995)]
    deployment_availability: f64,
    /// Availability of named deployments: provider/name=0.999,…
    #[arg(long)]
    availability: Option<String>,
    /// Availability of a whole vendor (every region down at once).
    #[arg(long, default_value_t = 0.999)]
    vendor_availability: f64,
    /// Write the plan as JSON to this file (`-`: standard output, instead of the table).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report with plots to this file.
    #[arg(long)]
    html: Option<PathBuf>,
}

/// Run `switchyard plan`.
pub(crate) fn run(args: PlanArgs) -> Result<()> {
    let config = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config file {}", p.display()))?;
            Config::parse(&text, &p.display().to_string())?
        }
        None => Config::embedded_default()?,
    };
    let land = landscape(&config)?;
    let observed = if args.from_usage {
        let cfg = args.config.as_ref().map(|_| &config);
        let (events, _) = load_events(args.db.as_ref(), cfg, Events::Since(days_ago(args.days)))?;
        Some(observe(&events)?)
    } else {
        None
    };
    let workload = workload(&args, observed.as_ref())?;
    let (policies, note) = policies(&args, &land, &workload, observed.as_ref())?;
    let inputs = capacity_inputs(&args, &land, observed.as_ref())?;
    let assumptions = assumptions(&args, observed.as_ref())?;
    let mut plan = switchyard_plan::plan(&land, &workload, policies, &inputs, &assumptions)?;
    plan.measured = observed.as_ref().map(|o| o.measured);
    plan.notes.extend(note);
    if let Some(path) = &args.html {
        std::fs::write(path, report::html::render(&plan))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    match &args.json {
        Some(p) if p.as_os_str() == "-" => outln!("{}", serde_json::to_string_pretty(&plan)?)?,
        Some(p) => {
            std::fs::write(p, serde_json::to_string_pretty(&plan)?)
                .with_context(|| format!("cannot write {}", p.display()))?;
            out!("{}", report::table(&plan))?;
        }
        None => out!("{}", report::table(&plan))?,
    }
    Ok(())
}

/// The config's catalog (its providers and models applied, as the gateway does),
/// deployments (each on its own vendor), fallbacks and tiers. A model without `[routes]`
/// deployments fails over across its provider's regions (`Landscape::deployments_of`).
fn landscape(config: &Config) -> Result<Landscape> {
    let catalog = switchyard_gateway::catalog(config)?;
    let mut deployments = BTreeMap::new();
    for (name, route) in &config.routes {
        let Some(model) = catalog.find(name) else {
            continue;
        };
        let list = route.deployments.iter().flatten().map(|d| Deployment {
            // The vendor of this deployment: the maker, or a reseller of the model.
            provider: d.provider.clone().unwrap_or_else(|| model.provider.clone()),
            name: d.name.clone().unwrap_or_else(|| d.region.clone()),
            rpm: d.rpm,
            tpm: d.tpm,
            price: d.price.clone(),
        });
        deployments.insert(model.id.clone(), list.collect());
    }
    let resolve = |n: &String| catalog.find(n).map(|m| m.id.clone());
    let fallbacks = config
        .fallbacks
        .iter()
        .filter_map(|(k, v)| Some((resolve(k)?, v.iter().filter_map(resolve).collect())))
        .collect();
    let tiers = config
        .virtual_models
        .iter()
        .filter(|(_, v)| v.policy == RoutePolicy::Tiered)
        .map(|(name, v)| {
            let n = v.models.len().max(1);
            let shares = if v.shares.len() == v.models.len() {
                v.shares.clone()
            } else {
                vec![1.0 / n as f64; n]
            };
            let models = v
                .models
                .iter()
                .map(|m| resolve(m).unwrap_or_else(|| m.clone()))
                .collect();
            (
                name.clone(),
                Tiers {
                    models,
                    shares,
                    escalate: v.escalate,
                },
            )
        })
        .collect();
    Ok(Landscape {
        catalog,
        deployments,
        fallbacks,
        tiers,
    })
}

/// The workload: observed (with the arguments given on top), or from the arguments.
fn workload(
    args: &PlanArgs,
    observed: Option<&switchyard_plan::usage::Observed>,
) -> Result<Workload, PlanError> {
    let profile = match (&args.profile, args.peak_factor) {
        (Some(p), _) => Some(parse_profile(p)?),
        (None, Some(f)) => Some(profile_with_peak(f, args.peak_hour % 24)?),
        (None, None) => None,
    };
    let regions = args
        .regions
        .as_deref()
        .map(|r| parse_shares("--regions", r))
        .transpose()?;
    let mut w = match observed {
        Some(o) => o.workload.clone(),
        None => {
            let Some(rpd) = args.requests_per_day else {
                return Err(PlanError::arg(
                    "--requests-per-day",
                    "say how many requests a day to plan for (e.g. 2000000), or take the workload from --from-usage",
                ));
            };
            if !(rpd.is_finite() && rpd > 0.0 && rpd <= 1e12) {
                return Err(PlanError::arg(
                    "--requests-per-day",
                    format!("{rpd} must be a number above 0"),
                ));
            }
            Workload {
                requests_per_day: rpd,
                profile: profile_with_peak(3.0, args.peak_hour % 24)?,
                regions: vec![Share {
                    name: "all".into(),
                    share: 1.0,
                }],
                input: Tokens::Dist(args.input_tokens),
                output: Tokens::Dist(args.output_tokens),
                cached_share: parse_fraction("--cached-share", args.cached_share)?,
                stream_share: parse_fraction("--stream-share", args.stream_share)?,
                per_model: Vec::new(),
                source: "given".into(),
            }
        }
    };
    if let Some(p) = profile {
        w.profile = p;
    }
    if let Some(r) = regions {
        w.regions = r;
    }
    if observed.is_some()
        && let Some(rpd) = args.requests_per_day
    {
        w.requests_per_day = rpd;
        w.source
            .push_str(&format!("; scaled to {rpd} requests/day"));
    }
    Ok(w)
}

/// The policies to plan, and a note on where they come from.
fn policies(
    args: &PlanArgs,
    land: &Landscape,
    w: &Workload,
    observed: Option<&switchyard_plan::usage::Observed>,
) -> Result<(Vec<Policy>, Option<String>), PlanError> {
    let rate = match args.escalation_rate {
        Some(r) => parse_fraction("--escalation-rate", r)?,
        None => observed.map_or(0.0, |o| o.escalation_rate),
    };
    let mut tiered = None;
    let (base, note) = if let Some(m) = &args.model {
        (Policy::single(land, "--model", m)?, None)
    } else if let Some(mix) = &args.mix {
        (Policy::mix(land, parse_shares("--mix", mix)?)?, None)
    } else if let Some(name) = &args.virtual_model {
        let t = land.tiers.get(name).ok_or_else(|| {
            let known: Vec<&str> = land.tiers.keys().map(String::as_str).collect();
            PlanError::arg(
                "--virtual-model",
                format!(
                    "no tiered virtual model '{name}' in the config (tiered ones: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })?;
        let p = Policy::tiered(name, t, rate);
        tiered = Some(p.clone());
        (p, None)
    } else if let Some(o) = observed {
        let mut p = Policy::mix(land, o.mix.clone())?;
        p.name = "as observed".into();
        (
            p,
            Some("the policy is the model mix the usage log shows".into()),
        )
    } else {
        return Err(PlanError::arg(
            "--model",
            "say which models answer: --model M, --mix a:0.7,b:0.3, --virtual-model NAME, or --from-usage",
        ));
    };
    if !args.compare {
        return Ok((vec![base], note));
    }
    Ok((compare_set(land, w, &base, tiered)?, note))
}

/// Measured latencies, quotas and replica sizing.
fn capacity_inputs(
    args: &PlanArgs,
    land: &Landscape,
    observed: Option<&switchyard_plan::usage::Observed>,
) -> Result<CapacityInputs> {
    let mut measured: BTreeMap<String, Latency> =
        observed.map(|o| o.latency.clone()).unwrap_or_default();
    if let Some(path) = &args.bench_json {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--bench-json: cannot read {}", path.display()))?;
        let report: switchyard_bench::report::Report =
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "--bench-json: {} is not a `switchyard bench --json` report",
                    path.display()
                )
            })?;
        for g in &report.groups {
            let Some(m) = land.catalog.find(&g.name) else {
                continue;
            };
            if let Some(s) = g.service.as_ref().or(g.e2e.as_ref()) {
                measured.insert(
                    m.id.clone(),
                    Latency {
                        mean_s: s.mean / 1e3,
                        source: format!("bench {}", path.display()),
                    },
                );
            }
        }
    }
    let mut quotas = BTreeMap::new();
    for q in &args.quota {
        let (provider, quota) = parse_quota(q)?;
        quotas.insert(provider, quota);
    }
    for (arg, v) in [
        ("--gateway-rps-per-core", args.gateway_rps_per_core),
        ("--cores-per-replica", args.cores_per_replica),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(PlanError::arg(arg, format!("{v} must be a number above 0")).into());
        }
    }
    if !(0.0..0.95).contains(&args.headroom) {
        return Err(PlanError::arg(
            "--headroom",
            "keep from 0 to 0.95 of a replica free (e.g. 0.3)",
        )
        .into());
    }
    Ok(CapacityInputs {
        measured,
        quotas,
        gateway: GatewaySizing {
            rps_per_core: args.gateway_rps_per_core,
            cores_per_replica: args.cores_per_replica,
            headroom: args.headroom,
            min_replicas: args.min_replicas,
        },
    })
}

/// `provider=rpm:N,tpm:M` (either part optional, neither zero).
fn parse_quota(text: &str) -> Result<(String, Quota), PlanError> {
    let bad = |why: String| PlanError::arg("--quota", why);
    let (provider, limits) = text
        .split_once('=')
        .ok_or_else(|| bad(format!("'{text}' is not provider=rpm:N,tpm:M")))?;
    let mut q = Quota {
        rpm: None,
        tpm: None,
    };
    for part in limits.split(',').map(str::trim) {
        let (kind, n) = part
            .split_once(':')
            .ok_or_else(|| bad(format!("'{part}' is not rpm:N or tpm:N")))?;
        let n: u64 = n.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
            bad(format!(
                "{provider}: {kind} '{n}' is impossible: a quota is a whole number above 0"
            ))
        })?;
        match kind.trim() {
            "rpm" => q.rpm = Some(n),
            "tpm" => q.tpm = Some(n),
            other => return Err(bad(format!("'{other}' is not rpm or tpm"))),
        }
    }
    Ok((provider.trim().to_string(), q))
}

/// What availability rests on: the arguments, with the usage log's error rates where it
/// has them.
fn assumptions(
    args: &PlanArgs,
    observed: Option<&switchyard_plan::usage::Observed>,
) -> Result<Assumptions, PlanError> {
    let mut deployments: BTreeMap<String, f64> =
        observed.map(|o| o.deployments.clone()).unwrap_or_default();
    if let Some(list) = &args.availability {
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (d, v) = part.split_once('=').ok_or_else(|| {
                PlanError::arg(
                    "--availability",
                    format!("'{part}' is not provider/name=0.999"),
                )
            })?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| PlanError::arg("--availability", format!("'{v}' is not a number")))?;
            deployments.insert(
                d.trim().to_string(),
                availability::check("--availability", v)?,
            );
        }
    }
    Ok(Assumptions {
        deployment_default: availability::check(
            "--deployment-availability",
            args.deployment_availability,
        )?,
        deployments,
        vendor: availability::check("--vendor-availability", args.vendor_availability)?,
        target: availability::check("--sla", args.sla)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_and_impossible_ones_name_the_argument() {
        let (p, q) = parse_quota("deepseek=rpm:1000,tpm:500000").unwrap();
        assert_eq!(
            (p.as_str(), q.rpm, q.tpm),
            ("deepseek", Some(1000), Some(500_000))
        );
        for bad in [
            "deepseek",
            "deepseek=rpm:0",
            "deepseek=rpm:-5",
            "deepseek=rps:5",
            "x=rpm:lots",
        ] {
            let e = parse_quota(bad).unwrap_err().to_string();
            assert!(e.starts_with("--quota:"), "{bad}: {e}");
        }
    }
}
