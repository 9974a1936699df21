//! The `--html` report: one self-contained file (inline CSS and SVG, no script, no
//! network) that opens from `file://`: the comparison table, the charts (drawn by
//! `svg`, which checks every value for finiteness before it becomes a coordinate and
//! escapes all text), the cost a Switchyard target reported (when it did), the sweep
//! and the definitions.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::report::{Bucket, GroupReport, Report, Stat, SweepReport, SweepStep, WindowPoint};

mod cost;
mod svg;
use svg::*;

/// Series colours, one per group in report order (cycled past eight); the sweep charts
/// use them in order for their metrics.
pub const SERIES_COLOURS: [&str; 8] = [
    "#1f77b4", "#e8710a", "#2ca02c", "#c2185b", "#7b4fd6", "#0f9ba8", "#8c564b", "#5f6b7a",
];

/// The `--header`s the run sent (values of secrets already redacted), as a `<dt>`/`<dd>`
/// pair of the meta list; nothing when there were none.
fn sent_headers(headers: &[String]) -> String {
    if headers.is_empty() {
        return String::new();
    }
    let items: Vec<String> = headers
        .iter()
        .map(|h| format!("<code>{}</code>", esc(h)))
        .collect();
    format!("<dt>headers</dt><dd>{}</dd>", items.join("<br>"))
}

/// Render the report as one HTML document.
pub fn render_html(r: &Report) -> String {
    let m = &r.meta;
    let (target, command, started) = (esc(&m.target), esc(&m.command), esc(&m.started_at));
    let (load, workload, version) = (esc(&m.load), esc(&m.workload), esc(&m.version));
    let (duration, stream) = (num(m.duration_s), if m.stream { "yes" } else { "no" });
    let headers = sent_headers(&m.headers);
    let mut h = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>Switchyard bench: {target}</title>
<style>{CSS}</style></head><body><main><header><h1>Switchyard bench
<span class="target">{target}</span></h1><dl class="meta">
<dt>command</dt><dd><code>{command}</code></dd><dt>started</dt><dd>{started}</dd>
<dt>load</dt><dd>{load}</dd><dt>workload</dt><dd>{workload}</dd>
<dt>duration</dt><dd>{duration} s</dd><dt>stream</dt><dd>{stream}</dd>
<dt>version</dt><dd>{version}</dd>{headers}</dl>"#
    );
    let lists = [("Failed thresholds", &r.failed_thresholds)];
    let lists = lists.into_iter().chain([("Warnings", &r.warnings)]);
    let lists: Vec<_> = lists.filter(|(_, items)| !items.is_empty()).collect();
    if !lists.is_empty() {
        h.push_str(r#"<div class="alert" role="alert">"#);
        for (what, items) in lists {
            let items: String = items
                .iter()
                .map(|i| format!("<li>{}</li>", esc(i)))
                .collect();
            let _ = write!(h, "<strong>{what}</strong><ul>{items}</ul>");
        }
        h.push_str("</div>");
    }
    h.push_str("</header>\n");
    comparison_table(&mut h, r);
    cost::cost_section(&mut h, r);
    let over_time = [latency_over_time(r).svg(), throughput_over_time(r).svg()].concat();
    let _ = write!(
        h,
        r#"<section><h2>Latency percentiles over time</h2><div class="charts">{over_time}</div>
</section><div class="pair">"#
    );
    let ttft = |g: &GroupReport| (g.ttft_histogram.clone(), g.ttft);
    let ttft = histogram(r, "ttft-histogram", "Time to first token", ttft);
    let itl = |g: &GroupReport| (g.itl_histogram.clone(), g.itl_chunk);
    let itl = histogram(r, "itl-histogram", "Inter-token latency, per chunk", itl);
    for (title, chart) in [("TTFT distribution", ttft), ("ITL distribution", itl)] {
        let _ = write!(h, "<section><h2>{title}</h2>{}</section>", chart.svg());
    }
    h.push_str("</div>\n");
    if let Some(sw) = &r.sweep {
        sweep(&mut h, sw, r.meta.stream);
    }
    h + DEFINITIONS
}

#[derive(Clone, Copy)]
enum Better {
    Low,
    High,
    Neither,
}
use Better::{High, Low, Neither};

fn comparison_table(h: &mut String, r: &Report) {
    h.push_str("<section><h2>Comparison</h2>");
    let gs = &r.groups;
    if gs.is_empty() {
        h.push_str("<p class=\"empty\">No requests were recorded.</p></section>\n");
        return;
    }
    h.push_str(r#"<div class="scroll"><table class="cmp"><thead><tr><th>metric</th>"#);
    for (i, g) in gs.iter().enumerate() {
        let (c, name) = (colour(i), esc(&g.name));
        let _ = write!(
            h,
            r#"<th><span class="dot" style="background:{c}"></span>{name}</th>"#
        );
    }
    h.push_str("</tr></thead><tbody>");
    let mut add = |label: &str, better, f: &dyn Fn(&GroupReport) -> Option<f64>| {
        row(h, label, better, &gs.iter().map(f).collect::<Vec<_>>());
    };
    add("requests", Neither, &|g| Some(g.requests as f64));
    add("ok", High, &|g| Some(g.ok as f64));
    add("errors", Low, &|g| Some(g.errors as f64));
    let kinds: BTreeSet<&String> = gs.iter().flat_map(|g| g.errors_by_kind.keys()).collect();
    for k in kinds {
        let count = |g: &GroupReport| g.errors_by_kind.get(k).copied().unwrap_or(0) as f64;
        add(&format!("\u{2003}{k}"), Low, &|g| Some(count(g)));
    }
    add("throughput (req/s)", High, &|g| Some(g.throughput_rps));
    if gs.iter().any(|g| g.goodput_rps.is_some()) {
        add("goodput (req/s within SLO)", High, &|g| g.goodput_rps);
    }
    let estimated = gs.iter().any(|g| g.tokens_estimated);
    let tok = ["output tok/s", "output tok/s (partly estimated)"][usize::from(estimated)];
    add(tok, High, &|g| Some(g.output_tokens_per_s));
    type Get = fn(&GroupReport) -> Option<Stat>;
    let stats: [(&str, Get); 6] = [
        ("TTFT", |g| g.ttft),
        ("ITL per chunk", |g| g.itl_chunk),
        ("ITL per token", |g| g.itl_token),
        ("TPOT", |g| g.tpot),
        ("E2E", |g| g.e2e),
        ("dispatch delay", |g| g.dispatch_delay),
    ];
    type Pick = fn(&Stat) -> f64;
    let pcts: [(&str, Pick); 4] = [
        ("p50", |s| s.p50),
        ("p90", |s| s.p90),
        ("p99", |s| s.p99),
        ("p99.9", |s| s.p999),
    ];
    for (name, get) in stats {
        if gs.iter().any(|g| get(g).is_some()) {
            for (p, pick) in pcts {
                add(&format!("{name} {p} (ms)"), Low, &|g| {
                    get(g).map(|s| pick(&s))
                });
            }
        }
    }
    h.push_str("</tbody></table></div></section>\n");
}

/// One table row; the best value is highlighted when the groups differ.
fn row(h: &mut String, label: &str, better: Better, vals: &[Option<f64>]) {
    let vs = vals.iter().flatten().copied();
    let finite: Vec<f64> = vs.filter(|v| v.is_finite()).collect();
    let best = match better {
        _ if finite.len() < 2 || finite.iter().all(|v| *v == finite[0]) => None,
        Low => finite.iter().copied().reduce(f64::min),
        High => finite.iter().copied().reduce(f64::max),
        Neither => None,
    };
    let sep = label.contains(" p50 ") || label.starts_with("throughput");
    let class = if sep { r#" class="sep""# } else { "" };
    let _ = write!(h, "<tr{class}><th>{}</th>", esc(label));
    for v in vals {
        let best = best.is_some() && *v == best;
        let class = if best { r#" class="best""# } else { "" };
        let _ = write!(h, "<td{class}>{}</td>", v.map_or(NONE.to_string(), num));
    }
    h.push_str("</tr>");
}

fn window_width(tl: &[WindowPoint]) -> f64 {
    let gaps = tl.windows(2).map(|p| p[1].t_s - p[0].t_s);
    let w = gaps.filter(|d| d.is_finite() && *d > 0.0);
    let w = w.fold(f64::MAX, f64::min);
    if w < f64::MAX { w } else { 1.0 }
}

fn group_legend(r: &Report) -> Vec<(String, Style)> {
    let line = |(i, g): (usize, &GroupReport)| (g.name.clone(), Style::line(colour(i), SOLID));
    r.groups.iter().enumerate().map(line).collect()
}

fn latency_over_time(r: &Report) -> Chart {
    let labels = ("time since start (s)", "latency (ms)");
    let mut c = Chart::new("latency-over-time", "End-to-end latency per window", labels);
    type Get = fn(&WindowPoint) -> f64;
    let mut metrics: Vec<(&str, &str, Get)> = vec![
        ("p50 E2E", SOLID, |p| p.p50_e2e_ms),
        ("p99 E2E", DASHED, |p| p.p99_e2e_ms),
    ];
    if r.meta.stream {
        metrics.push(("p99 TTFT", DOTTED, |p| p.p99_ttft_ms));
    }
    for (i, g) in r.groups.iter().enumerate() {
        let w = window_width(&g.timeline);
        c.x_extent.extend(g.timeline.last().map(|p| p.t_s + w));
        for (_, dash, f) in &metrics {
            let done = g.timeline.iter().filter(|p| p.completed > 0);
            let points = done.map(|p| (p.t_s + w / 2.0, f(p))).collect();
            let style = Style::line(colour(i), dash).layer(i);
            c.series.push((style, points));
        }
    }
    c.legend = group_legend(r);
    let key =
        |(name, dash, _): &(&str, &'static str, Get)| (name.to_string(), Style::line(INK, dash));
    c.legend.extend(metrics.iter().map(key));
    c.fit(Some(false), None)
}

fn throughput_over_time(r: &Report) -> Chart {
    let labels = ("time since start (s)", "requests per second");
    let title = "Achieved completions and errors";
    let mut c = Chart::new("throughput-over-time", title, labels);
    for (i, g) in r.groups.iter().enumerate() {
        let w = window_width(&g.timeline);
        c.x_extent.extend(g.timeline.last().map(|p| p.t_s + w));
        let per_s = |n: u64, p: &WindowPoint| (p.t_s + w / 2.0, n as f64 / w);
        let done = g.timeline.iter().map(|p| per_s(p.completed, p)).collect();
        let errors = g.timeline.iter().map(|p| per_s(p.errors, p)).collect();
        let style = Style::line(colour(i), SOLID).layer(i);
        c.series.push((style, done));
        c.series
            .push((Style(style.0, DASHED, style.2, false), errors));
    }
    c.legend = group_legend(r);
    let keys = [("completed/s", SOLID), ("errors/s", DASHED)];
    c.legend
        .extend(keys.map(|(k, dash)| (k.to_string(), Style::line(INK, dash))));
    c.fit(Some(false), Some(false))
}

/// Overlaid step outlines, one per group, as a share of that group's samples.
fn histogram<F>(r: &Report, id: &'static str, title: &str, get: F) -> Chart
where
    F: Fn(&GroupReport) -> (Vec<Bucket>, Option<Stat>),
{
    let labels = ("latency (ms, log scale)", "share of samples (%)");
    let mut c = Chart::new(id, title, labels);
    for (i, g) in r.groups.iter().enumerate() {
        let (buckets, stat) = get(g);
        let mut b: Vec<Pt> = buckets.iter().map(|b| (b.le, b.count as f64)).collect();
        b.retain(|(le, _)| le.is_finite() && *le > 0.0);
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        let total: f64 = b.iter().map(|x| x.1).sum();
        let first = b.iter().position(|x| x.1 > 0.0);
        let (Some(first), Some(last)) = (first, b.iter().rposition(|x| x.1 > 0.0)) else {
            continue;
        };
        // The first bucket's lower bound is a guess: the ratio of the next two.
        let ratio = b.get(1).map_or(2.0, |next| (next.0 / b[0].0).max(1.01));
        let lower = |k: usize| if k == 0 { b[0].0 / ratio } else { b[k - 1].0 };
        let mut pts = vec![(lower(first), 0.0)];
        for (k, &(le, n)) in b.iter().enumerate().take(last + 1).skip(first) {
            pts.extend([(lower(k), 100.0 * n / total), (le, 100.0 * n / total)]);
        }
        pts.push((b[last].0, 0.0));
        c.series.push((Style::area(colour(i)).layer(i), pts));
        let label = match stat {
            Some(s) => format!("{} (p50 {} ms, p99 {} ms)", g.name, num(s.p50), num(s.p99)),
            None => g.name.clone(),
        };
        c.legend.push((label, Style::area(colour(i))));
    }
    if !r.meta.stream {
        c.note = " (requests were not streamed)";
    }
    c.fit(Some(true), Some(false))
}

fn sweep(h: &mut String, sw: &SweepReport, stream: bool) {
    let slo = esc(&sw.slo);
    let _ = write!(
        h,
        "<section><h2>Latency vs offered load</h2><p>SLO: <code>{slo}</code>"
    );
    let mut marks = vec![];
    if let Some(v) = sw.max_rate_within_slo {
        let _ = write!(
            h,
            " \u{b7} highest rate within SLO: <b>{} req/s</b>",
            num(v)
        );
        marks.push((v, "max within SLO", Style::line("#15803d", DASHED)));
    }
    if let Some(v) = sw.knee_rate {
        let _ = write!(h, " \u{b7} knee: <b>{} req/s</b>", num(v));
        marks.push((v, "knee", Style::line(INK, DOTTED)));
    }
    let pts = |f: fn(&SweepStep) -> f64| sw.steps.iter().map(|s| (s.offered_rps, f(s))).collect();
    let labels = ("offered load (req/s)", "latency (ms)");
    let mut lat = Chart::new("sweep-latency", "Latency vs offered load", labels);
    lat.plot(
        "p50 E2E",
        Style::line(colour(0), SOLID),
        pts(|s| s.p50_e2e_ms),
    );
    lat.plot(
        "p99 E2E",
        Style::line(colour(1), SOLID),
        pts(|s| s.p99_e2e_ms),
    );
    if stream {
        lat.plot(
            "p99 TTFT",
            Style::line(colour(2), SOLID),
            pts(|s| s.p99_ttft_ms),
        );
    }
    let labels = ("offered load (req/s)", "achieved (req/s)");
    let mut thr = Chart::new("sweep-throughput", "Achieved vs offered load", labels);
    let top = sw.steps.iter().map(|s| s.offered_rps);
    let top = top.filter(|v| v.is_finite()).fold(0.0, f64::max);
    let ideal = if top > 0.0 {
        vec![(0.0, 0.0), (top, top)]
    } else {
        vec![]
    };
    thr.plot("offered (ideal)", Style::line(GREY, DASHED), ideal);
    thr.plot(
        "achieved",
        Style::line(colour(0), SOLID),
        pts(|s| s.achieved_rps),
    );
    for c in [&mut lat, &mut thr] {
        c.legend.extend(
            marks
                .iter()
                .map(|(_, label, style)| (label.to_string(), *style)),
        );
        c.marks = marks.clone();
    }
    let charts = lat.fit(Some(false), None).svg() + &thr.fit(Some(false), Some(false)).svg();
    let _ = write!(
        h,
        r#"</p><div class="charts">{charts}</div><div class="scroll"><table><thead><tr>
<th>offered (req/s)</th><th>achieved (req/s)</th><th>p50 E2E (ms)</th><th>p99 E2E (ms)</th>
<th>p99 TTFT (ms)</th><th>errors</th><th>within SLO</th></tr></thead><tbody>"#
    );
    for s in &sw.steps {
        let ttft = if stream { s.p99_ttft_ms } else { f64::NAN };
        let cells = [
            s.offered_rps,
            s.achieved_rps,
            s.p50_e2e_ms,
            s.p99_e2e_ms,
            ttft,
        ];
        let (cells, errors) = (cells.map(num).join("</td><td>"), num(s.error_rate * 100.0));
        let ok = if s.within_slo { "yes" } else { "no" };
        let _ = write!(
            h,
            r#"<tr class="slo-{ok}"><td>{cells}</td><td>{errors}%</td><td>{ok}</td></tr>"#
        );
    }
    h.push_str("</tbody></table></div></section>\n");
}

const CSS: &str = "
:root{color-scheme:light;--ink:#1e293b;--muted:#64748b;--line:#e2e8f0}
*{box-sizing:border-box}
body{margin:0;background:#f1f5f9;color:var(--ink);font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
main{max-width:1360px;margin:0 auto;padding:12px 24px 40px}
h1{font-size:22px;margin:0 0 12px}h1 .target{font-weight:400;color:var(--muted);font-size:17px;margin-left:8px}
h2{font-size:17px;margin:14px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
section,header{background:#fff;border:1px solid var(--line);border-radius:8px;padding:4px 20px 18px;margin-top:16px}
header{padding-top:16px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}
dd{margin:0}dl.meta dt{color:var(--muted)}dl.defs dt{font-weight:600}
code{font:12.5px/1.4 ui-monospace,'SFMono-Regular',Menlo,Consolas,monospace;background:#f1f5f9;padding:1px 5px;border-radius:3px;word-break:break-all}
.alert{margin-top:14px;border:2px solid #dc2626;background:#fef2f2;color:#7f1d1d;border-radius:6px;padding:10px 14px}
.alert ul{margin:4px 0 6px;padding-left:20px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:4px 14px;text-align:right;border-bottom:1px solid var(--line);white-space:nowrap}
.cmp tbody th,.cmp thead th:first-child{text-align:left;font-weight:500;color:#475569}
thead th{border-bottom:2px solid #cbd5e1}
tr.sep>*{border-top:2px solid #cbd5e1}
td.best{background:#dcfce7;color:#14532d;font-weight:700}
tr.slo-no td{background:#fef2f2;color:#991b1b}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px}
.charts,.pair{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:20px}
@media (max-width:1000px){.charts,.pair{grid-template-columns:1fr}}
.pair{gap:16px;margin-top:16px}.pair>section{margin-top:0}
figure{margin:0}
svg{width:100%;height:auto;display:block;font:12px system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;fill:#475569}
svg .title{font-size:14px;font-weight:600;fill:var(--ink)}
svg .axis{fill:#334155}
svg .plot-area{fill:#fff;stroke:#cbd5e1}
svg .grid{stroke:#e5eaf0}
svg .axis-line{stroke:#94a3b8}
svg .empty{font-size:15px;fill:#94a3b8}
p.empty{color:var(--muted)}
";

const DEFINITIONS: &str = r#"<section><h2>Definitions</h2><dl class="defs">
<dt>TTFT</dt><dd>Time to first token: from sending the request to the first non-empty content, reasoning or tool-call token of the stream.</dd>
<dt>ITL per chunk</dt><dd>Inter-token latency: the gap between consecutive content-bearing stream chunks.</dd>
<dt>ITL per token</dt><dd>Each chunk gap divided by the number of tokens that chunk carried.</dd>
<dt>TPOT</dt><dd>Time per output token: (E2E − TTFT) / (output tokens − 1) for each request, the decode pace after the first token.</dd>
<dt>E2E</dt><dd>End-to-end latency from the request's <em>scheduled</em> start to its last byte, so time queued on the client counts: no coordinated omission.</dd>
<dt>Dispatch delay</dt><dd>How late a request actually left against its schedule; large values mean the load generator fell behind.</dd>
<dt>Throughput</dt><dd>Completed requests per second, successful or not.</dd>
<dt>Goodput</dt><dd>Successful requests per second that also met the SLO.</dd>
<dt>Output tok/s</dt><dd>Completion tokens of successful requests per second of the run.</dd>
<dt>p50 … p99.9</dt><dd>Percentiles from HDR histograms (3 significant digits); the charts over time use per-window percentiles, each request placed by its completion time.</dd>
</dl></section></main></body></html>
"#;

/// A line chart in the report's style, for other reports (`switchyard plan`): one line
/// per `(label, points)`, axes fitted to the data (linear), text escaped. `id` must be a
/// literal (it names the SVG's elements).
pub fn line_chart(
    id: &'static str,
    title: &str,
    labels: (&'static str, &'static str),
    lines: &[(String, Vec<(f64, f64)>)],
) -> String {
    let mut chart = Chart::new(id, title, labels);
    for (i, (label, points)) in lines.iter().enumerate() {
        chart.plot(label, Style::line(colour(i), SOLID), points.clone());
    }
    chart.fit(Some(false), Some(false)).svg()
}

/// `text` escaped for HTML.
pub fn escape(text: &str) -> String {
    esc(text)
}

/// The report's style sheet, for other reports in the same look.
pub const STYLE: &str = CSS;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RunMeta;

    fn stat(p50: f64) -> Stat {
        let (p90, p99, p999) = (p50 * 1.8, p50 * 3.5, p50 * 6.0);
        Stat {
            count: 500,
            p50,
            p90,
            p95: p90,
            p99,
            p999,
            ..Stat::default()
        }
    }

    /// A log-normal-ish histogram around `centre` ms.
    fn buckets(centre: f64, spread: f64) -> Vec<Bucket> {
        let bucket = |k| {
            let le = 0.5 * 1.25f64.powi(k);
            let z = (le / centre).ln() / spread;
            Bucket {
                le,
                count: (400.0 * (-0.5 * z * z).exp()) as u64,
            }
        };
        (0..40).map(bucket).collect()
    }

    fn group(name: &str, slow: f64) -> GroupReport {
        let window = |t: u64| {
            let wobble = 1.0 + 0.25 * (t as f64 * 0.7 * slow).sin();
            WindowPoint {
                t_s: t as f64,
                completed: 40 - u64::from(t.is_multiple_of(7)),
                errors: u64::from(t.is_multiple_of(13)),
                p50_e2e_ms: 900.0 * slow * wobble,
                p99_e2e_ms: 2400.0 * slow * wobble * wobble,
                p99_ttft_ms: 300.0 * slow * wobble,
                in_flight: 30,
            }
        };
        GroupReport {
            name: name.into(),
            requests: 2400,
            ok: 2390,
            errors: 10,
            errors_by_kind: [("http_429".to_string(), 8), ("timeout".to_string(), 2)].into(),
            throughput_rps: 39.8 / slow,
            goodput_rps: Some(38.0 / slow),
            output_tokens_per_s: 5e3 / slow,
            ttft: Some(stat(120.0 * slow)),
            itl_chunk: Some(stat(18.0 * slow)),
            tpot: Some(stat(10.0 * slow)),
            e2e: Some(stat(900.0 * slow)),
            dispatch_delay: Some(stat(0.4)),
            timeline: (0..60).map(window).collect(),
            ttft_histogram: buckets(120.0 * slow, 0.5),
            itl_histogram: buckets(18.0 * slow, 0.8),
            ..GroupReport::default()
        }
    }

    fn sample() -> Report {
        let step = |k: u32| {
            let offered_rps = 20.0 * f64::from(k);
            let load = 1.0 / (1.0 - (offered_rps / 130.0).min(0.97));
            SweepStep {
                offered_rps,
                achieved_rps: offered_rps.min(100.0),
                p50_e2e_ms: 800.0 * load,
                p99_e2e_ms: 2e3 * load * load,
                p99_ttft_ms: 250.0 * load * load,
                error_rate: if k > 4 { 0.03 } else { 0.0 },
                within_slo: k <= 4,
            }
        };
        let sweep = SweepReport {
            slo: "p99_ttft<=800ms,error_rate<=1%".into(),
            steps: (1..=6).map(step).collect(),
            max_rate_within_slo: Some(80.0),
            knee_rate: Some(60.0),
        };
        let meta = RunMeta {
            version: "0.1.0".into(),
            target: "http://127.0.0.1:9900/deepseek/global".into(),
            command: "switchyard bench --model deepseek-v4-flash,deepseek-v3.2 --rate 40".into(),
            started_at: "2026-05-01T12:00:00Z".into(),
            load: "open loop, poisson 40 req/s".into(),
            workload: "synthetic in=512\u{b1}64 out=128".into(),
            duration_s: 60.0,
            stream: true,
            headers: vec![
                "x-portkey-provider: openai".into(),
                "authorization: <redacted>".into(),
            ],
        };
        Report {
            meta,
            groups: vec![group("deepseek-v4-flash", 1.0), group("deepseek-v3.2", 1.6)],
            sweep: Some(sweep),
            warnings: vec!["token counts of 3 requests were estimated".into()],
            failed_thresholds: vec!["p99_e2e<=3s (was 3.9 s)".into()],
        }
    }

    fn assert_clean(html: &str) {
        assert!(
            !html.contains("NaN") && !html.contains("inf"),
            "non-finite value in output"
        );
    }

    #[test]
    fn full_report_has_every_chart_in_order_and_only_finite_values() {
        let html = render_html(&sample());
        assert_eq!(html.matches("<svg").count(), 6);
        assert_clean(&html);
        let order = [
            "<header",
            "Comparison",
            "over time",
            "TTFT distribution",
            "ITL distr",
        ];
        let order = order
            .iter()
            .chain(&["Latency vs offered load", "Definitions"]);
        let at: Vec<usize> = order.map(|s| html.find(s).unwrap_or(usize::MAX)).collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "sections out of order: {at:?}"
        );
        assert!(html.contains("class=\"alert\"") && html.contains("class=\"best\""));
        assert!(html.matches("<path").count() > 12);
        // To look at: open it in a browser.
        let path = std::env::temp_dir().join("switchyard-bench-report-sample.html");
        std::fs::write(&path, &html).unwrap();
    }

    #[test]
    fn a_report_with_costs_has_the_cost_section_after_the_comparison() {
        assert!(!render_html(&sample()).contains("<h2>Cost</h2>"));
        let mut r = sample();
        r.groups[1].cost = Some(crate::report::CostReport {
            requests_with_cost: 1,
            per_month_usd: 3.0,
            ..Default::default()
        });
        let html = render_html(&r);
        assert_eq!(html.matches("<svg").count(), 7);
        let at = |s: &str| html.find(s).unwrap_or(usize::MAX);
        assert!(at("Comparison") < at("<h2>Cost</h2>"));
        assert!(at("<h2>Cost</h2>") < at("over time"));
        assert_clean(&html);
    }

    #[test]
    fn empty_report_renders() {
        let html = render_html(&Report::default());
        assert_eq!(html.matches("<svg").count(), 4);
        assert!(html.contains("no data"));
        assert_clean(&html);
    }

    #[test]
    fn the_headers_sent_are_listed_escaped_and_absent_when_none_were() {
        let mut r = sample();
        r.meta.headers.push("x-note: <i>".into());
        let html = render_html(&r);
        assert!(html.contains("<dt>headers</dt>"));
        assert!(html.contains("<code>x-portkey-provider: openai</code>"));
        assert!(html.contains("<code>authorization: &lt;redacted&gt;</code>"));
        assert!(html.contains("x-note: &lt;i&gt;"));
        r.meta.headers.clear();
        assert!(!render_html(&r).contains("<dt>headers</dt>"));
    }

    #[test]
    fn user_text_is_escaped() {
        let mut r = sample();
        r.groups[0].name = "<script>alert('x')</script>".into();
        r.meta.command = "bench --model \"<b>\"".into();
        let html = render_html(&r);
        assert!(!html.contains("<script") && !html.contains("<b>\""));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    }

    #[test]
    fn degenerate_series_never_produce_non_finite_coordinates() {
        let mut r = sample();
        let one = WindowPoint {
            completed: 1,
            p50_e2e_ms: 5.0,
            ..Default::default()
        };
        r.groups[0].timeline = vec![one];
        r.groups[0].ttft_histogram = vec![Bucket { le: 10.0, count: 3 }];
        r.groups[1].timeline = vec![WindowPoint::default(); 5];
        let odd = [
            Bucket { le: 0.0, count: 0 },
            Bucket {
                le: f64::NAN,
                count: 1,
            },
        ];
        r.groups[1].itl_histogram = odd.to_vec();
        r.groups[1].throughput_rps = f64::NAN;
        r.groups
            .extend((0..6).map(|k| group(&format!("m{k}"), 0.5 + f64::from(k) * 0.4)));
        let sweep = r.sweep.as_mut().unwrap();
        sweep.steps = vec![SweepStep::default()];
        sweep.knee_rate = Some(f64::INFINITY);
        let html = render_html(&r);
        assert_eq!(html.matches("<svg").count(), 6);
        assert_clean(&html);
        r.sweep.as_mut().unwrap().steps.clear();
        r.meta.duration_s = f64::NAN;
        assert_clean(&render_html(&r));
    }
}
