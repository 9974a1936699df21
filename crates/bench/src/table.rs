//! Plain-text outputs: the terminal summary (models side by side) and `--csv`.

use std::fmt::Write as _;

use crate::cost::usd;
use crate::report::{CostReport, GroupReport, Report, Stat};

/// Rows of the side-by-side table: label and how to read the value from a group.
type Row = (&'static str, fn(&GroupReport) -> String);

fn stat(s: &Option<Stat>, f: fn(&Stat) -> f64) -> String {
    s.as_ref().map_or("-".into(), |s| fmt_ms(f(s)))
}

fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

const ROWS: &[Row] = &[
    ("requests", |g| g.requests.to_string()),
    ("ok", |g| g.ok.to_string()),
    ("errors", |g| {
        if g.errors == 0 {
            "0".into()
        } else {
            let kinds: Vec<String> = g
                .errors_by_kind
                .iter()
                .map(|(k, n)| format!("{k}:{n}"))
                .collect();
            format!("{} ({})", g.errors, kinds.join(" "))
        }
    }),
    ("throughput req/s", |g| format!("{:.1}", g.throughput_rps)),
    ("goodput req/s", |g| {
        g.goodput_rps.map_or("-".into(), |v| format!("{v:.1}"))
    }),
    ("output tok/s", |g| {
        format!(
            "{:.0}{}",
            g.output_tokens_per_s,
            if g.tokens_estimated { " (est.)" } else { "" }
        )
    }),
    ("TTFT p50 ms", |g| stat(&g.ttft, |s| s.p50)),
    ("TTFT p90 ms", |g| stat(&g.ttft, |s| s.p90)),
    ("TTFT p99 ms", |g| stat(&g.ttft, |s| s.p99)),
    ("TTFT p99.9 ms", |g| stat(&g.ttft, |s| s.p999)),
    ("ITL/chunk p50 ms", |g| stat(&g.itl_chunk, |s| s.p50)),
    ("ITL/chunk p99 ms", |g| stat(&g.itl_chunk, |s| s.p99)),
    ("ITL/token p50 ms", |g| stat(&g.itl_token, |s| s.p50)),
    ("TPOT p50 ms", |g| stat(&g.tpot, |s| s.p50)),
    ("TPOT p99 ms", |g| stat(&g.tpot, |s| s.p99)),
    ("E2E p50 ms", |g| stat(&g.e2e, |s| s.p50)),
    ("E2E p90 ms", |g| stat(&g.e2e, |s| s.p90)),
    ("E2E p95 ms", |g| stat(&g.e2e, |s| s.p95)),
    ("E2E p99 ms", |g| stat(&g.e2e, |s| s.p99)),
    ("E2E p99.9 ms", |g| stat(&g.e2e, |s| s.p999)),
    ("E2E max ms", |g| stat(&g.e2e, |s| s.max)),
    ("E2E mean ms", |g| stat(&g.e2e, |s| s.mean)),
    ("dispatch p99 ms", |g| stat(&g.dispatch_delay, |s| s.p99)),
    ("req tok/s p50", |g| {
        g.request_tokens_per_s
            .map_or("-".into(), |s| format!("{:.1}", s.p50))
    }),
];

/// The cost rows, when some model reported a cost (a Switchyard target): label, and
/// each group's value (`-` for a group without one).
fn cost_rows(r: &Report) -> Vec<(String, Vec<String>)> {
    let basis = r.groups.iter().find_map(|g| g.cost).map(|c| c.rate_basis);
    let Some(basis) = basis else {
        return Vec::new();
    };
    let per = |f: fn(&CostReport) -> f64| -> Vec<String> {
        let value = |g: &GroupReport| g.cost.as_ref().map_or("-".into(), |c| usd(f(c)));
        r.groups.iter().map(value).collect()
    };
    vec![
        ("$/1k req".to_string(), per(|c| c.per_1k_requests_usd)),
        (
            format!("$/month ({} rate)", basis.as_str()),
            per(|c| c.per_month_usd),
        ),
    ]
}

/// The terminal summary: one column per model, then warnings, sweep and thresholds.
pub fn render_table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} · {} · {}",
        r.meta.target, r.meta.load, r.meta.workload
    );
    let mut rows: Vec<(String, Vec<String>)> = ROWS
        .iter()
        .map(|(label, f)| (label.to_string(), r.groups.iter().map(f).collect()))
        .collect();
    rows.extend(cost_rows(r));
    let label_w = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(10);
    let widths: Vec<usize> = r
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            rows.iter()
                .filter_map(|(_, vals)| vals.get(i).map(String::len))
                .chain([g.name.chars().count()])
                .max()
                .unwrap_or(4)
        })
        .collect();
    let _ = write!(out, "{:label_w$}", "");
    for (g, w) in r.groups.iter().zip(&widths) {
        let _ = write!(out, "  {:>w$}", g.name);
    }
    out.push('\n');
    for (label, vals) in &rows {
        let _ = write!(out, "{label:label_w$}");
        for (v, w) in vals.iter().zip(&widths) {
            let _ = write!(out, "  {v:>w$}");
        }
        out.push('\n');
    }
    if let Some(s) = &r.sweep {
        let _ = writeln!(out, "\nsweep (SLO {}):", s.slo);
        let _ = writeln!(
            out,
            "  {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}  SLO",
            "offered/s", "achieved/s", "p50 e2e", "p99 e2e", "p99 ttft", "errors"
        );
        for st in &s.steps {
            let _ = writeln!(
                out,
                "  {:>10.1} {:>10.1} {:>10} {:>10} {:>10} {:>7.2}%  {}",
                st.offered_rps,
                st.achieved_rps,
                fmt_ms(st.p50_e2e_ms),
                fmt_ms(st.p99_e2e_ms),
                fmt_ms(st.p99_ttft_ms),
                st.error_rate * 100.0,
                if st.within_slo { "held" } else { "BROKEN" }
            );
        }
        let _ = writeln!(
            out,
            "  highest rate within SLO: {}   knee: {}",
            s.max_rate_within_slo
                .map_or("none".into(), |v| format!("{v:.1} req/s")),
            s.knee_rate
                .map_or("none".into(), |v| format!("{v:.1} req/s"))
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "WARNING: {w}");
    }
    for t in &r.failed_thresholds {
        let _ = writeln!(out, "THRESHOLD BROKEN: {t}");
    }
    out
}

/// A named percentile figure of a group, for the CSV columns.
type StatColumn = (&'static str, fn(&GroupReport) -> &Option<Stat>);

/// `--csv`: one row per model with every figure.
pub fn to_csv(r: &Report) -> String {
    let stats: [StatColumn; 9] = [
        ("ttft", |g| &g.ttft),
        ("first_byte", |g| &g.first_byte),
        ("itl_chunk", |g| &g.itl_chunk),
        ("itl_token", |g| &g.itl_token),
        ("tpot", |g| &g.tpot),
        ("e2e", |g| &g.e2e),
        ("service", |g| &g.service),
        ("dispatch_delay", |g| &g.dispatch_delay),
        ("request_tokens_per_s", |g| &g.request_tokens_per_s),
    ];
    let parts = [
        "count", "mean", "min", "p50", "p90", "p95", "p99", "p999", "max",
    ];
    let mut header = vec![
        "model".to_string(),
        "requests".into(),
        "ok".into(),
        "errors".into(),
        "timeouts".into(),
        "offered_rps".into(),
        "throughput_rps".into(),
        "goodput_rps".into(),
        "input_tokens".into(),
        "output_tokens".into(),
        "output_tokens_per_s".into(),
        "tokens_estimated".into(),
        "errors_by_kind".into(),
    ];
    for (name, _) in &stats {
        for p in parts {
            header.push(format!("{name}_{p}"));
        }
    }
    header.extend(COST_COLUMNS.map(String::from));
    let mut out = header.join(",");
    out.push('\n');
    for g in &r.groups {
        let kinds: Vec<String> = g
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        let mut row = vec![
            csv_field(&g.name),
            g.requests.to_string(),
            g.ok.to_string(),
            g.errors.to_string(),
            g.timeouts.to_string(),
            g.offered_rps.map_or(String::new(), |v| format!("{v:.3}")),
            format!("{:.3}", g.throughput_rps),
            g.goodput_rps.map_or(String::new(), |v| format!("{v:.3}")),
            g.input_tokens.to_string(),
            g.output_tokens.to_string(),
            format!("{:.3}", g.output_tokens_per_s),
            g.tokens_estimated.to_string(),
            csv_field(&kinds.join(" ")),
        ];
        for (_, get) in &stats {
            match get(g) {
                Some(s) => {
                    row.push(s.count.to_string());
                    for v in [s.mean, s.min, s.p50, s.p90, s.p95, s.p99, s.p999, s.max] {
                        row.push(format!("{v:.3}"));
                    }
                }
                None => row.extend(std::iter::repeat_n(String::new(), parts.len())),
            }
        }
        row.extend(cost_cells(g.cost.as_ref()));
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// The cost columns of `--csv`, last so that readers by position are not disturbed.
const COST_COLUMNS: [&str; 7] = [
    "cost_requests",
    "cost_unreadable",
    "cost_total_nanos",
    "cost_per_1k_requests_usd",
    "cost_per_month_usd",
    "cost_rate_rps",
    "cost_rate_basis",
];

/// The cost cells of a row, empty when the model reported no cost.
fn cost_cells(c: Option<&CostReport>) -> [String; 7] {
    let Some(c) = c else {
        return Default::default();
    };
    [
        c.requests_with_cost.to_string(),
        c.cost_unreadable.to_string(),
        c.total_nanos.to_string(),
        format!("{:.9}", c.per_1k_requests_usd),
        format!("{:.6}", c.per_month_usd),
        format!("{:.3}", c.rate_rps),
        c.rate_basis.as_str().to_string(),
    ]
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let g = GroupReport {
            name: "a,b".into(),
            requests: 10,
            ok: 9,
            errors: 1,
            errors_by_kind: [("http_429".to_string(), 1)].into_iter().collect(),
            e2e: Some(Stat {
                count: 9,
                p50: 12.0,
                p99: 40.0,
                ..Stat::default()
            }),
            ..GroupReport::default()
        };
        Report {
            groups: vec![g],
            warnings: vec!["w".into()],
            ..Report::default()
        }
    }

    #[test]
    fn table_shows_every_row_and_warnings() {
        let t = render_table(&report());
        for (label, _) in ROWS {
            assert!(t.contains(label), "{label}");
        }
        assert!(t.contains("http_429:1") && t.contains("WARNING: w"));
    }

    fn costed() -> Report {
        let mut r = report();
        let mut b = r.groups[0].clone();
        b.name = "b".into();
        r.groups[0].cost = Some(CostReport {
            requests_with_cost: 10,
            total_nanos: 123_450,
            per_1k_requests_usd: 0.012345,
            per_month_usd: 1234.4,
            rate_rps: 5.0,
            ..CostReport::default()
        });
        r.groups.push(b);
        r
    }

    #[test]
    fn cost_rows_show_only_when_a_cost_was_read() {
        let plain = render_table(&report());
        assert!(
            !plain.contains("$/1k req") && !plain.contains("$/month"),
            "{plain}"
        );
        let t = render_table(&costed());
        let line = |label: &str| {
            let l = t.lines().find(|l| l.starts_with(label));
            l.unwrap_or_else(|| panic!("no {label} row in\n{t}"))
                .to_string()
        };
        let per_1k: Vec<String> = line("$/1k req")
            .split_whitespace()
            .map(String::from)
            .collect();
        assert_eq!(
            per_1k[per_1k.len() - 2..],
            ["0.01235".to_string(), "-".into()]
        );
        let month: Vec<String> = line("$/month (offered rate)")
            .split_whitespace()
            .map(String::from)
            .collect();
        assert_eq!(month[month.len() - 2..], ["1234".to_string(), "-".into()]);
    }

    #[test]
    fn csv_carries_cost_columns_last_and_empty_without_a_cost() {
        let c = to_csv(&costed());
        let lines: Vec<&str> = c.lines().collect();
        assert!(lines[0].ends_with(&COST_COLUMNS.join(",")), "{}", lines[0]);
        assert!(lines[1].ends_with(",10,0,123450,0.012345000,1234.400000,5.000,offered"));
        assert!(lines[2].ends_with(",,,,,,,"), "{}", lines[2]);
    }

    #[test]
    fn csv_rows_match_the_header_and_quote_names() {
        let c = to_csv(&report());
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("\"a,b\","));
        let cols = |l: &str| l.split(',').count();
        assert_eq!(
            cols(lines[0]) + 1,
            cols(lines[1]),
            "one quoted comma in the name"
        );
    }
}
