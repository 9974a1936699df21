//! A plan as a terminal table ([`table`]), JSON (the [`crate::Plan`] itself) and a
//! self-contained HTML page with plots ([`html`]).

pub mod html;

use std::fmt::Write as _;

use crate::Plan;

fn money(x: f64) -> String {
    if x.abs() >= 1_000.0 {
        format!("${}", thousands(x.round()))
    } else if x.abs() >= 1.0 {
        format!("${x:.2}")
    } else {
        format!("${x:.6}")
    }
}

fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 { format!("-{out}") } else { out }
}

fn pct(x: f64, digits: usize) -> String {
    format!("{:.*}%", digits, x * 100.0)
}

/// The plan as text for a terminal.
pub fn table(plan: &Plan) -> String {
    let mut s = String::new();
    workload(&mut s, plan);
    cost(&mut s, plan);
    for p in &plan.policies {
        capacity(&mut s, p);
    }
    availability(&mut s, plan);
    if let Some(m) = &plan.measured {
        let _ = writeln!(
            s,
            "\nMeasured in the usage log: {} requests over {:.0} s, {} spent, {:.1} in flight on average ({:.1} in the busiest minute)",
            m.requests,
            m.span_s,
            money(m.cost_usd),
            m.concurrency_mean,
            m.concurrency_busiest_minute
        );
    }
    for n in &plan.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

fn workload(s: &mut String, plan: &Plan) {
    let w = &plan.workload;
    let (peak_h, peak) = w
        .profile
        .iter()
        .copied()
        .enumerate()
        .fold((0, 0.0), |b, (h, x)| if x > b.1 { (h, x) } else { b });
    let regions: Vec<String> = w
        .regions
        .iter()
        .map(|r| format!("{} {}", r.name, pct(r.share, 0)))
        .collect();
    let _ = writeln!(
        s,
        "Workload: {} requests/day ({:.1} req/s on average; peak {:.1}× at {:02}:00 UTC = {:.1} req/s)\n  regions {}; prompt {} tokens (mean {:.0}), completion {} (mean {:.0}); cached {}, streamed {}\n  from: {}",
        thousands(w.requests_per_day),
        w.mean_rps,
        peak,
        peak_h,
        w.mean_rps * peak,
        regions.join(" · "),
        w.input_tokens.0,
        w.input_tokens.1,
        w.output_tokens.0,
        w.output_tokens.1,
        pct(w.cached_share, 0),
        pct(w.stream_share, 0),
        w.source
    );
}

fn cost(s: &mut String, plan: &Plan) {
    let _ = writeln!(s, "\nCost (30-day month)");
    let _ = writeln!(
        s,
        "  {:<40} {:>12} {:>14} {:>27} {:>12}",
        "policy", "per day", "per month", "month p5 – p95", "per request"
    );
    for p in &plan.policies {
        let c = &p.cost;
        let _ = writeln!(
            s,
            "  {:<40} {:>12} {:>14} {:>27} {:>12}",
            c.policy,
            money(c.per_day_usd),
            money(c.per_month_usd),
            format!(
                "{} – {}",
                money(c.per_month_band_usd.0),
                money(c.per_month_band_usd.1)
            ),
            money(c.per_request_usd)
        );
        for m in &c.models {
            let _ = writeln!(
                s,
                "    {:<24} {:<10} {:>12} req/day  {}/request (p5 {}, p95 {})  {}/month  [${}/${}/${} per 1M in/cached/out, as of {}]",
                m.model,
                m.provider,
                thousands(m.requests_per_day),
                money(m.per_request_usd.mean),
                money(m.per_request_usd.p5),
                money(m.per_request_usd.p95),
                money(m.per_month_usd),
                m.price_per_million.0,
                m.price_per_million.1,
                m.price_per_million.2,
                if m.price_as_of.is_empty() {
                    "unknown"
                } else {
                    &m.price_as_of
                }
            );
        }
    }
}

fn capacity(s: &mut String, p: &crate::PolicyPlan) {
    let c = &p.capacity;
    let _ = writeln!(
        s,
        "\nCapacity at the peak hour ({:02}:00 UTC, {:.1}× the mean): {}",
        c.peak_hour, c.peak_factor, c.policy
    );
    let _ = writeln!(
        s,
        "  {:<10} {:<22} {:>10} {:>9} {:>16} {:>8} {:>11} {:>18} {:>9}",
        "region",
        "model",
        "req/s",
        "latency",
        "in flight (p99)",
        "RPM p99",
        "TPM",
        "quota RPM/TPM",
        "accounts"
    );
    for m in &c.models {
        let quota = match (m.quota.rpm, m.quota.tpm) {
            (None, None) => "–".to_string(),
            (r, t) => format!(
                "{}/{}",
                r.map_or("–".into(), |v| thousands(v as f64)),
                t.map_or("–".into(), |v| thousands(v as f64))
            ),
        };
        let _ = writeln!(
            s,
            "  {:<10} {:<22} {:>10.2} {:>8.2}s {:>16} {:>8} {:>11} {:>18} {:>9}",
            m.region,
            m.model,
            m.peak_rps,
            m.latency.mean_s,
            format!("{:.1} ({})", m.concurrency_mean, m.concurrency_p99),
            thousands(m.rpm_needed as f64),
            thousands(m.tpm_needed as f64),
            quota,
            m.accounts.map_or("–".into(), |a| a.to_string())
        );
    }
    for r in &c.regions {
        let _ = writeln!(
            s,
            "  {:<10} total: {:.2} req/s, {:.1} in flight (p99 {}), {} gateway replica(s)",
            r.region, r.peak_rps, r.concurrency_mean, r.concurrency_p99, r.replicas
        );
    }
    let g = &c.gateway;
    let _ = writeln!(
        s,
        "  replicas at {} req/s per core × {} cores, {} kept free, at least {} per region",
        thousands(g.rps_per_core),
        g.cores_per_replica,
        pct(g.headroom, 0),
        g.min_replicas
    );
}

fn availability(s: &mut String, plan: &Plan) {
    let Some(first) = plan.policies.first() else {
        return;
    };
    let a = &first.availability.assumptions;
    let _ = writeln!(
        s,
        "\nAvailability against a {} SLA ({:.1} min/month allowed); a region {} unless given, a whole vendor {}",
        pct(a.target, 2),
        first.availability.allowed_minutes_per_month,
        pct(a.deployment_default, 2),
        pct(a.vendor, 2)
    );
    for p in &plan.policies {
        let v = &p.availability;
        let _ = writeln!(
            s,
            "  {:<40} {:>10}  {:>7.1} min/month down  {}  (one more region: {})",
            v.policy,
            pct(v.availability, 4),
            v.downtime_minutes_per_month,
            if v.meets_target {
                "meets the target"
            } else {
                "MISSES the target"
            },
            pct(v.with_one_more_region, 4)
        );
        for m in &v.models {
            let cross = m
                .with_cross_vendor_fallback
                .as_ref()
                .map_or(String::new(), |(o, x)| {
                    format!(", with a fallback to {o}: {}", pct(*x, 4))
                });
            let second = m
                .with_second_vendor
                .as_ref()
                .map_or(String::new(), |(v, x)| {
                    format!(", also at {v}: {}", pct(*x, 4))
                });
            let _ = writeln!(
                s,
                "    {:<24} {:>10} over {}{}{}",
                m.model,
                pct(m.availability, 4),
                m.deployments.join(", "),
                second,
                cross
            );
        }
    }
}
