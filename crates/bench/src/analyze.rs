//! From raw request timelines to the [`Report`]: percentiles, rates, goodput, windows,
//! distributions, and the warnings a reader must see.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::engine::{GroupData, Load, Plan, Rec, RunData, errors_by_kind, micros};
use crate::report::{GroupReport, RateBasis, Report, RunMeta, WindowPoint};
use crate::slo::Conditions;
use crate::summary::{cost_of, log_buckets, stat_of, stat_of_micros, stat_of_values};

/// Dispatch delay (p99) beyond which the generator is said to have fallen behind.
const BEHIND_P99: Duration = Duration::from_millis(10);

/// Analyse a run.
pub fn analyze(plan: &Plan, data: &RunData, slo: Option<&Conditions>, meta: RunMeta) -> Report {
    let n_groups = data.groups.len().max(1) as f64;
    let groups: Vec<GroupReport> = data
        .groups
        .iter()
        .map(|g| group_report(plan, g, data.offered_rps.map(|r| r / n_groups), slo))
        .collect();
    let mut warnings = Vec::new();
    let all: Vec<&Rec> = data.groups.iter().flat_map(|g| g.recs.iter()).collect();
    if !matches!(plan.load, Load::Closed { .. }) {
        if let Some(d) = stat_of(all.iter().map(|r| r.sent.saturating_sub(r.scheduled)))
            && d.p99 > BEHIND_P99.as_secs_f64() * 1000.0
        {
            warnings.push(format!(
                "the load generator fell behind its schedule: p99 dispatch delay {:.1} ms (max {:.1} ms). \
                 Latencies are measured from the schedule, so they include this delay; lower the rate or \
                 give the generator more CPU",
                d.p99, d.max
            ));
        }
        if let (Some(rate), Some(last)) = (data.offered_rps, all.iter().map(|r| r.sent).max()) {
            let secs = last.as_secs_f64().max(1e-3);
            let achieved = all.len() as f64 / secs;
            if all.len() > 20 && achieved < 0.9 * rate {
                warnings.push(format!(
                    "the generator sent {achieved:.1} req/s against {rate:.1} req/s offered: it could not keep up"
                ));
            }
        }
    }
    let estimated = all
        .iter()
        .filter(|r| r.error.is_none() && r.estimated)
        .count();
    if estimated > 0 {
        warnings.push(format!(
            "token counts of {estimated} request(s) are estimates: the server sent no usage (our estimator, not the model's tokenizer)"
        ));
    }
    let unreadable = all.iter().filter(|r| r.cost_unreadable).count();
    if unreadable > 0 {
        warnings.push(format!(
            "{unreadable} response(s) carried a cost that could not be read (not dollars with at most 9 decimals, or over $1,000): left out of the cost figures"
        ));
    }
    for g in &groups {
        if g.requests > 0 && g.ok == 0 {
            warnings.push(format!(
                "every request to '{}' failed: {:?}",
                g.name, g.errors_by_kind
            ));
        }
    }
    Report {
        meta,
        groups,
        sweep: None,
        warnings,
        failed_thresholds: Vec::new(),
    }
}

fn group_report(
    plan: &Plan,
    g: &GroupData,
    offered_rps: Option<f64>,
    slo: Option<&Conditions>,
) -> GroupReport {
    let recs = &g.recs;
    let ok: Vec<&Rec> = recs.iter().filter(|r| r.error.is_none()).collect();
    let start = recs.iter().map(|r| r.scheduled).min().unwrap_or_default();
    let end = recs.iter().map(|r| r.done).max().unwrap_or_default();
    let wall = end.saturating_sub(start).as_secs_f64().max(1e-3);
    let errors = errors_by_kind(recs);
    let output_tokens: u64 = ok.iter().map(|r| u64::from(r.output_tokens)).sum();
    let mut ttft_h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok();
    if let Some(h) = ttft_h.as_mut() {
        for t in ok.iter().filter_map(|r| r.ttft) {
            let _ = h.record(micros(t).clamp(1, 3_600_000_000));
        }
    }
    let tpot = ok.iter().filter_map(|r| {
        let (ttft, n) = (r.ttft?, r.output_tokens);
        (n > 1).then(|| r.done.saturating_sub(r.sent).saturating_sub(ttft) / (n - 1))
    });
    let per_request_tps = ok.iter().filter_map(|r| {
        let from = r.ttft.unwrap_or_default();
        let secs = r
            .done
            .saturating_sub(r.sent)
            .saturating_sub(from)
            .as_secs_f64();
        (r.output_tokens > 1 && secs > 0.0).then(|| f64::from(r.output_tokens) / secs)
    });
    let goodput_rps = slo.map(|c| ok.iter().filter(|r| meets(c, r)).count() as f64 / wall);
    let throughput_rps = recs.len() as f64 / wall;
    let cost = match offered_rps {
        Some(rate) => cost_of(recs, rate, RateBasis::Offered),
        None => cost_of(recs, throughput_rps, RateBasis::Achieved),
    };
    GroupReport {
        name: g.name.clone(),
        requests: recs.len() as u64,
        ok: ok.len() as u64,
        errors: (recs.len() - ok.len()) as u64,
        timeouts: errors.get("timeout").copied().unwrap_or(0),
        errors_by_kind: errors,
        offered_rps,
        throughput_rps,
        goodput_rps,
        input_tokens: ok.iter().map(|r| u64::from(r.input_tokens)).sum(),
        output_tokens,
        tokens_estimated: ok.iter().any(|r| r.estimated),
        output_tokens_per_s: output_tokens as f64 / wall,
        ttft: ttft_h.as_ref().and_then(stat_of_micros),
        first_byte: stat_of(ok.iter().filter_map(|r| r.first_byte)),
        itl_chunk: stat_of_micros(&g.itl_chunk),
        itl_token: stat_of_micros(&g.itl_token),
        tpot: stat_of(tpot),
        e2e: stat_of(ok.iter().map(|r| r.e2e())),
        service: stat_of(ok.iter().map(|r| r.done.saturating_sub(r.sent))),
        dispatch_delay: stat_of(recs.iter().map(|r| r.sent.saturating_sub(r.scheduled))),
        request_tokens_per_s: stat_of_values(per_request_tps),
        timeline: timeline(recs, plan.stream),
        ttft_histogram: ttft_h.as_ref().map(log_buckets).unwrap_or_default(),
        itl_histogram: log_buckets(&g.itl_chunk),
        cost,
    }
}

/// Whether one request meets the latency clauses of an SLO (percentile prefixes do not
/// apply to a single request: `p99_ttft<=800ms` asks its TTFT to be within 800 ms).
pub fn meets(slo: &Conditions, r: &Rec) -> bool {
    slo.0.iter().all(|c| {
        let what = c.metric.split_once('_').map_or("", |(_, w)| w);
        let value = match what {
            "ttft" => r.ttft,
            "e2e" => Some(r.e2e()),
            "tpot" => r
                .ttft
                .filter(|_| r.output_tokens > 1)
                .map(|t| r.done.saturating_sub(r.sent).saturating_sub(t) / (r.output_tokens - 1)),
            _ => return true, // rates, error rate, ITL: judged on the whole run, not per request
        };
        value.is_some_and(|v| c.holds(v.as_secs_f64() * 1000.0))
    })
}

fn timeline(recs: &[Rec], stream: bool) -> Vec<WindowPoint> {
    let Some(end) = recs.iter().map(|r| r.done).max() else {
        return Vec::new();
    };
    let secs = end.as_secs_f64();
    let width = if secs <= 120.0 { 1.0 } else { secs / 120.0 };
    let n = (secs / width).ceil().max(1.0) as usize;
    let mut windows: Vec<Vec<&Rec>> = vec![Vec::new(); n];
    for r in recs {
        let i = ((r.done.as_secs_f64() / width) as usize).min(n - 1);
        windows[i].push(r);
    }
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let t_end = Duration::from_secs_f64((i as f64 + 1.0) * width);
            let e2e = stat_of(w.iter().filter(|r| r.error.is_none()).map(|r| r.e2e()));
            let ttft = if stream {
                stat_of(w.iter().filter_map(|r| r.ttft))
            } else {
                None
            };
            WindowPoint {
                t_s: i as f64 * width,
                completed: w.len() as u64,
                errors: w.iter().filter(|r| r.error.is_some()).count() as u64,
                p50_e2e_ms: e2e.map_or(0.0, |s| s.p50),
                p99_e2e_ms: e2e.map_or(0.0, |s| s.p99),
                p99_ttft_ms: ttft.map_or(0.0, |s| s.p99),
                in_flight: recs
                    .iter()
                    .filter(|r| r.sent <= t_end && r.done > t_end)
                    .count() as u64,
            }
        })
        .collect()
}
