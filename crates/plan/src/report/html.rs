//! The plan as one self-contained HTML page (inline CSS and SVG, no script, no network),
//! in the `bench` report's style: cost per policy, cost against traffic, requests in
//! flight over the day, availability against regions, and the tables behind them.

use std::fmt::Write as _;

use switchyard_bench::html::{STYLE, escape, line_chart};

use super::{money, pct, thousands};
use crate::Plan;

/// Render `plan` as an HTML document.
pub fn render(plan: &Plan) -> String {
    let w = &plan.workload;
    let mut h = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>Switchyard plan</title><style>{STYLE}
.bars div{{margin:4px 0}} .bar{{display:inline-block;height:14px;background:#1f77b4;vertical-align:middle;margin-right:8px}}
.ok{{color:#2ca02c}} .miss{{color:#c2185b;font-weight:600}}</style></head><body><main>
<header><h1>Switchyard plan</h1><dl class="meta"><dt>requests/day</dt><dd>{}</dd>
<dt>peak</dt><dd>{:.1} req/s</dd><dt>tokens</dt><dd>prompt {} · completion {}</dd>
<dt>cached</dt><dd>{}</dd><dt>from</dt><dd>{}</dd></dl></header>"#,
        thousands(w.requests_per_day),
        w.mean_rps * w.profile.iter().copied().fold(0.0, f64::max),
        escape(&w.input_tokens.0),
        escape(&w.output_tokens.0),
        pct(w.cached_share, 0),
        escape(&w.source),
    );
    cost_section(&mut h, plan);
    capacity_section(&mut h, plan);
    availability_section(&mut h, plan);
    for n in &plan.notes {
        let _ = write!(h, "<p class=\"note\">{}</p>", escape(n));
    }
    h.push_str("</main></body></html>\n");
    h
}

fn cost_section(h: &mut String, plan: &Plan) {
    h.push_str("<section id=\"cost\"><h2>Cost per 30-day month</h2><div class=\"bars\">");
    let top = plan
        .policies
        .iter()
        .map(|p| p.cost.per_month_usd)
        .fold(0.0, f64::max);
    for p in &plan.policies {
        let width = if top > 0.0 {
            (p.cost.per_month_usd / top * 400.0).round()
        } else {
            0.0
        };
        let _ = write!(
            h,
            "<div data-policy=\"{}\"><span class=\"bar\" style=\"width:{width}px\"></span>{} — {} / month (p5–p95 {} – {})</div>",
            escape(&p.cost.policy),
            escape(&p.cost.policy),
            money(p.cost.per_month_usd),
            money(p.cost.per_month_band_usd.0),
            money(p.cost.per_month_band_usd.1)
        );
    }
    h.push_str("</div>");
    let lines: Vec<(String, Vec<(f64, f64)>)> = plan
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let pts = plan
                .cost_vs_traffic
                .iter()
                .map(|(f, v)| {
                    (
                        f * plan.workload.requests_per_day / 1e6,
                        v.get(i).copied().unwrap_or(0.0),
                    )
                })
                .collect();
            (p.cost.policy.clone(), pts)
        })
        .collect();
    h.push_str(&line_chart(
        "cost-traffic",
        "Monthly cost against traffic",
        ("million requests per day", "USD per month"),
        &lines,
    ));
    h.push_str("<table><thead><tr><th>policy</th><th>model</th><th>provider</th><th>requests/day</th><th>$/request (p5–p95)</th><th>$/month</th><th>price per 1M in/cached/out</th><th>as of</th></tr></thead><tbody>");
    for p in &plan.policies {
        for m in &p.cost.models {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({} – {})</td><td>{}</td><td>${} / ${} / ${}</td><td>{}</td></tr>",
                escape(&p.cost.policy),
                escape(&m.model),
                escape(&m.provider),
                thousands(m.requests_per_day),
                money(m.per_request_usd.mean),
                money(m.per_request_usd.p5),
                money(m.per_request_usd.p95),
                money(m.per_month_usd),
                m.price_per_million.0,
                m.price_per_million.1,
                m.price_per_million.2,
                escape(&m.price_as_of)
            );
        }
    }
    h.push_str("</tbody></table></section>");
}

fn capacity_section(h: &mut String, plan: &Plan) {
    let Some(first) = plan.policies.first() else {
        return;
    };
    let c = &first.capacity;
    let _ = write!(
        h,
        "<section id=\"capacity\"><h2>Capacity: {}</h2>",
        escape(&c.policy)
    );
    let lines: Vec<(String, Vec<(f64, f64)>)> = c
        .regions
        .iter()
        .map(|r| {
            (
                r.region.clone(),
                r.concurrency_by_hour
                    .iter()
                    .enumerate()
                    .map(|(hr, v)| (hr as f64, *v))
                    .collect(),
            )
        })
        .collect();
    h.push_str(&line_chart(
        "concurrency",
        "Requests in flight over the day (mean per hour)",
        ("hour of day, UTC", "requests in flight"),
        &lines,
    ));
    h.push_str("<table><thead><tr><th>policy</th><th>region</th><th>model</th><th>peak req/s</th><th>latency s</th><th>in flight (p99)</th><th>RPM p99</th><th>TPM</th><th>accounts</th></tr></thead><tbody>");
    for p in &plan.policies {
        for m in &p.capacity.models {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2} ({})</td><td>{:.1} ({})</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&p.capacity.policy),
                escape(&m.region),
                escape(&m.model),
                m.peak_rps,
                m.latency.mean_s,
                escape(&m.latency.source),
                m.concurrency_mean,
                m.concurrency_p99,
                thousands(m.rpm_needed as f64),
                thousands(m.tpm_needed as f64),
                m.accounts.map_or("–".to_string(), |a| a.to_string())
            );
        }
        for r in &p.capacity.regions {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>all</td><td>{:.2}</td><td></td><td>{:.1} ({})</td><td colspan=\"3\">{} gateway replica(s)</td></tr>",
                escape(&p.capacity.policy),
                escape(&r.region),
                r.peak_rps,
                r.concurrency_mean,
                r.concurrency_p99,
                r.replicas
            );
        }
    }
    h.push_str("</tbody></table></section>");
}

fn availability_section(h: &mut String, plan: &Plan) {
    let Some(first) = plan.policies.first() else {
        return;
    };
    let a = &first.availability;
    let _ = write!(
        h,
        "<section id=\"availability\"><h2>Availability against a {} SLA ({:.1} minutes a month allowed)</h2>",
        pct(a.assumptions.target, 2),
        a.allowed_minutes_per_month
    );
    let minutes = |v: f64| (1.0 - v) * crate::cost::DAYS_PER_MONTH * 24.0 * 60.0;
    let lines = vec![
        (
            "expected downtime, one vendor".to_string(),
            a.by_region_count
                .iter()
                .map(|(k, v)| (f64::from(*k), minutes(*v)))
                .collect(),
        ),
        (
            "allowed by the SLA".to_string(),
            a.by_region_count
                .iter()
                .map(|(k, _)| (f64::from(*k), a.allowed_minutes_per_month))
                .collect(),
        ),
    ];
    h.push_str(&line_chart(
        "availability",
        "Downtime against regions (a vendor's own outages cap what regions buy)",
        ("regions of one vendor", "minutes down per month"),
        &lines,
    ));
    h.push_str("<table><thead><tr><th>policy</th><th>availability</th><th>down, min/month</th><th>target</th><th>with one more region</th></tr></thead><tbody>");
    for p in &plan.policies {
        let v = &p.availability;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            escape(&v.policy),
            pct(v.availability, 4),
            v.downtime_minutes_per_month,
            if v.meets_target { "ok" } else { "miss" },
            if v.meets_target { "meets" } else { "misses" },
            pct(v.with_one_more_region, 4)
        );
    }
    let _ = write!(
        h,
        "</tbody></table><p>Assumed: a region {} unless given, a whole vendor {}; outages independent.</p></section>",
        pct(a.assumptions.deployment_default, 2),
        pct(a.assumptions.vendor, 2)
    );
}
