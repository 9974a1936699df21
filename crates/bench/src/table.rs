//! Plain-text outputs: the terminal summary (models side by side) and `--csv`.

use std::fmt::Write as _;

use crate::report::{GroupReport, Report, Stat};

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

/// The terminal summary: one column per model, then warnings, sweep and thresholds.
pub fn render_table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} · {} · {}",
        r.meta.target, r.meta.load, r.meta.workload
    );
    let label_w = ROWS.iter().map(|(l, _)| l.len()).max().unwrap_or(10);
    let cols: Vec<Vec<String>> = r
        .groups
        .iter()
        .map(|g| ROWS.iter().map(|(_, f)| f(g)).collect())
        .collect();
    let widths: Vec<usize> = r
        .groups
        .iter()
        .zip(&cols)
        .map(|(g, c)| {
            c.iter()
                .map(String::len)
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
    for (i, (label, _)) in ROWS.iter().enumerate() {
        let _ = write!(out, "{label:label_w$}");
        for (c, w) in cols.iter().zip(&widths) {
            let _ = write!(out, "  {:>w$}", c[i]);
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
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
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
