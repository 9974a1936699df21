//! `--sweep`: step the offered load up until the SLO breaks, then narrow the edge.
//!
//! Steps run at `start`, `start·factor`, `start·factor²`, … for `step` each. After the
//! first step that breaks the SLO, two bisection steps between the last good and the
//! first bad rate sharpen the capacity. Reported: the highest offered rate that held
//! the SLO, and the knee — the highest rate before median E2E rose more than 25% above
//! its value at the lowest load.

use std::time::Duration;

use crate::analyze::analyze;
use crate::engine::{GroupData, Load, Plan, RunData, histogram, run};
use crate::error::BenchError;
use crate::report::{GroupReport, RateBasis, Report, RunMeta, SweepReport, SweepStep};
use crate::slo::Conditions;
use crate::summary::priced_at;

/// Sweep settings.
#[derive(Debug, Clone, Copy)]
pub struct SweepPlan {
    /// First offered rate.
    pub start: f64,
    /// Multiplier between steps.
    pub factor: f64,
    /// Most steps before bisection.
    pub max_steps: u32,
    /// Duration of each step.
    pub step: Duration,
    /// Poisson arrivals.
    pub poisson: bool,
}

/// How much the median may rise before the latency is said to bend.
const KNEE_RISE: f64 = 1.25;

/// Run a sweep; the returned report's groups are those of the best step within the SLO
/// (or the first step, when none held).
pub async fn sweep(
    plan: &Plan,
    client: &crate::client::Transport,
    slo: &Conditions,
    sp: SweepPlan,
    meta: RunMeta,
) -> Result<Report, BenchError> {
    let mut steps: Vec<(SweepStep, Report)> = Vec::new();
    let mut rate = sp.start;
    for _ in 0..sp.max_steps {
        let (step, report) = one_step(plan, client, slo, sp, rate, &meta).await?;
        let held = step.within_slo;
        steps.push((step, report));
        if !held {
            break;
        }
        rate *= sp.factor;
    }
    // Bisect between the last good and the first bad rate.
    for _ in 0..2 {
        let good = steps
            .iter()
            .filter(|(s, _)| s.within_slo)
            .map(|(s, _)| s.offered_rps)
            .fold(None, max_opt);
        let bad = steps
            .iter()
            .filter(|(s, _)| !s.within_slo)
            .map(|(s, _)| s.offered_rps)
            .fold(None, min_opt);
        let (Some(g), Some(b)) = (good, bad) else {
            break;
        };
        if b / g < 1.05 {
            break;
        }
        let (step, report) = one_step(plan, client, slo, sp, (g + b) / 2.0, &meta).await?;
        steps.push((step, report));
    }
    steps.sort_by(|a, b| a.0.offered_rps.total_cmp(&b.0.offered_rps));
    let max_rate_within_slo = steps
        .iter()
        .filter(|(s, _)| s.within_slo)
        .map(|(s, _)| s.offered_rps)
        .fold(None, max_opt);
    let knee_rate = knee(&steps.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>());
    let best = steps.iter().rposition(|(s, _)| s.within_slo).unwrap_or(0);
    let mut report = steps.get(best).map(|(_, r)| r.clone()).unwrap_or_default();
    report.meta = meta;
    price_months_at_achieved(&mut report);
    report.sweep = Some(SweepReport {
        slo: slo.to_string(),
        steps: steps.into_iter().map(|(s, _)| s).collect(),
        max_rate_within_slo,
        knee_rate,
    });
    Ok(report)
}

/// The user offered no one rate: a sweep's month is priced at the throughput each model
/// achieved in the reported step.
fn price_months_at_achieved(report: &mut Report) {
    for g in &mut report.groups {
        g.cost = g
            .cost
            .map(|c| priced_at(c, g.throughput_rps, RateBasis::Achieved));
    }
}

fn max_opt(acc: Option<f64>, v: f64) -> Option<f64> {
    Some(acc.map_or(v, |a| a.max(v)))
}

fn min_opt(acc: Option<f64>, v: f64) -> Option<f64> {
    Some(acc.map_or(v, |a| a.min(v)))
}

async fn one_step(
    plan: &Plan,
    client: &crate::client::Transport,
    slo: &Conditions,
    sp: SweepPlan,
    rate: f64,
    meta: &RunMeta,
) -> Result<(SweepStep, Report), BenchError> {
    let mut p = plan.clone();
    p.load = Load::Open {
        rate,
        poisson: sp.poisson,
    };
    p.duration = Some(sp.step);
    p.max_requests = None;
    if plan.progress {
        eprintln!("sweep step: {rate:.1} req/s for {:?}", sp.step);
    }
    let data = run(&p, client).await?;
    let report = analyze(&p, &data, Some(slo), meta.clone());
    let all = merged(&p, &data)?;
    let step = SweepStep {
        offered_rps: rate,
        achieved_rps: all.throughput_rps,
        p50_e2e_ms: all.e2e.map_or(0.0, |s| s.p50),
        p99_e2e_ms: all.e2e.map_or(0.0, |s| s.p99),
        p99_ttft_ms: all.ttft.map_or(0.0, |s| s.p99),
        error_rate: if all.requests == 0 {
            1.0
        } else {
            all.errors as f64 / all.requests as f64
        },
        within_slo: all.requests > 0
            && report.groups.iter().all(|g| slo.all_hold(g))
            && slo.all_hold(&all),
    };
    Ok((step, report))
}

/// All groups of a run as one.
fn merged(plan: &Plan, data: &RunData) -> Result<GroupReport, BenchError> {
    let mut g = GroupData {
        name: "all".into(),
        recs: Vec::new(),
        itl_chunk: histogram()?,
        itl_token: histogram()?,
        recent_e2e: histogram()?,
    };
    for src in &data.groups {
        g.recs.extend(src.recs.iter().cloned());
        let _ = g.itl_chunk.add(&src.itl_chunk);
        let _ = g.itl_token.add(&src.itl_token);
    }
    let one = RunData {
        groups: vec![g],
        offered_for: data.offered_for,
        offered_rps: data.offered_rps,
    };
    Ok(analyze(plan, &one, None, RunMeta::default())
        .groups
        .into_iter()
        .next()
        .unwrap_or_default())
}

/// The highest offered rate before the median E2E rose more than [`KNEE_RISE`]× above
/// its value at the lowest rate. `steps` sorted by rate.
pub fn knee(steps: &[SweepStep]) -> Option<f64> {
    let base = steps.first()?.p50_e2e_ms;
    let mut knee = None;
    for s in steps {
        if s.p50_e2e_ms > base * KNEE_RISE || s.error_rate > 0.5 {
            break;
        }
        knee = Some(s.offered_rps);
    }
    knee
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rate: f64, p50: f64) -> SweepStep {
        SweepStep {
            offered_rps: rate,
            p50_e2e_ms: p50,
            ..SweepStep::default()
        }
    }

    #[test]
    fn knee_is_the_last_rate_before_the_median_bends() {
        let steps = [
            step(10.0, 100.0),
            step(20.0, 104.0),
            step(40.0, 118.0),
            step(80.0, 300.0),
            step(160.0, 2000.0),
        ];
        assert_eq!(knee(&steps), Some(40.0));
    }

    #[test]
    fn a_sweep_prices_the_month_at_the_achieved_rate() {
        let cost = crate::report::CostReport {
            requests_with_cost: 4,
            total_nanos: 4_000,
            per_1k_requests_usd: 0.001,
            per_month_usd: 1.0,
            rate_rps: 8.0,
            rate_basis: RateBasis::Offered,
            ..Default::default()
        };
        let mut report = Report {
            groups: vec![GroupReport {
                throughput_rps: 2.0,
                cost: Some(cost),
                ..GroupReport::default()
            }],
            ..Report::default()
        };
        price_months_at_achieved(&mut report);
        let c = report.groups[0].cost.unwrap();
        assert_eq!((c.rate_rps, c.rate_basis), (2.0, RateBasis::Achieved));
        // $0.000001 a request × 2 req/s × 2,592,000 s.
        assert!((c.per_month_usd - 5.184).abs() < 1e-12, "{c:?}");
        assert_eq!(c.total_nanos, 4_000);
    }

    #[test]
    fn no_steps_no_knee() {
        assert_eq!(knee(&[]), None);
    }
}
