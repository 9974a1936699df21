//! The `--html` report: one self-contained file (inline CSS and SVG, no script, no
//! network) that opens from `file://`. Charts are drawn here as SVG; every value is
//! checked for finiteness before it becomes a coordinate, and all text is escaped.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::report::{Bucket, GroupReport, Report, Stat, SweepReport, SweepStep, WindowPoint};

/// Series colours, one per group in report order (cycled past eight); the sweep charts
/// use them in order for their metrics.
pub const SERIES_COLOURS: [&str; 8] = [
    "#1f77b4", "#e8710a", "#2ca02c", "#c2185b", "#7b4fd6", "#0f9ba8", "#8c564b", "#5f6b7a",
];
const SOLID: &str = "";
const DASHED: &str = "7 4";
const DOTTED: &str = "2 3";
const INK: &str = "#334155";
const GREY: &str = "#94a3b8";
const NONE: &str = "\u{2014}";
// Chart geometry in SVG user units (the SVG scales to the width of its box).
const W: f64 = 640.0;
const PLOT_H: f64 = 250.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = W - 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = TOP + PLOT_H;

type Pt = (f64, f64);

/// Render the report as one HTML document.
pub fn render_html(r: &Report) -> String {
    let m = &r.meta;
    let (target, command, started) = (esc(&m.target), esc(&m.command), esc(&m.started_at));
    let (load, workload, version) = (esc(&m.load), esc(&m.workload), esc(&m.version));
    let (duration, stream) = (num(m.duration_s), if m.stream { "yes" } else { "no" });
    let mut h = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>Switchyard bench: {target}</title>
<style>{CSS}</style></head><body><main><header><h1>Switchyard bench
<span class="target">{target}</span></h1><dl class="meta">
<dt>command</dt><dd><code>{command}</code></dd><dt>started</dt><dd>{started}</dd>
<dt>load</dt><dd>{load}</dd><dt>workload</dt><dd>{workload}</dd>
<dt>duration</dt><dd>{duration} s</dd><dt>stream</dt><dd>{stream}</dd>
<dt>version</dt><dd>{version}</dd></dl>"#
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

fn colour(i: usize) -> &'static str {
    SERIES_COLOURS[i % SERIES_COLOURS.len()]
}

/// A value for reading: about three significant digits; `—` when not a number.
fn num(v: f64) -> String {
    match v.abs() {
        _ if !v.is_finite() => NONE.to_string(),
        a if a >= 100.0 || v.fract() == 0.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// A tick label: short, no trailing zeros (`0.5`, `20`, `1.5k`).
fn tick(v: f64) -> String {
    let k = v.abs() >= 1000.0;
    let s = format!("{:.3}", if k { v / 1000.0 } else { v });
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!(
        "{}{}",
        if s == "-0" { "0" } else { s },
        if k { "k" } else { "" }
    )
}

/// A coordinate: one decimal, never `NaN` or `inf`.
fn xy(v: f64) -> String {
    format!("{:.1}", if v.is_finite() { v } else { 0.0 })
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let m = [1.0, 2.0, 5.0].into_iter().find(|m| raw / mag <= *m);
    mag * m.unwrap_or(10.0)
}

/// One axis: its domain, and whether it is logarithmic.
#[derive(Debug, Clone, Copy, Default)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    /// Fit `values`: `log` forces the scale, or `None` picks log when all values are
    /// positive and span more than a factor of 30. Linear axes include zero.
    fn fit(values: &[f64], log: Option<bool>) -> Axis {
        let vals: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let pos = vals.iter().copied().filter(|v| *v > 0.0);
        let (pmin, pmax) = pos.fold((f64::MAX, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let log = log.unwrap_or(pmax / pmin > 30.0 && vals.iter().all(|v| *v > 0.0));
        if log && pmax <= 0.0 {
            let (lo, hi) = (1.0, 10.0);
            return Axis { lo, hi, log };
        } else if log {
            let (a, b) = (pmin.log10().max(-6.0), pmax.log10().clamp(-6.0, 9.0));
            let pad = ((b - a) * 0.04).max(0.08);
            let (lo, hi) = (10f64.powf(a - pad), 10f64.powf(b.max(a) + pad));
            return Axis { lo, hi, log };
        }
        let max = vals.iter().copied().fold(0.0, f64::max);
        let min = vals.iter().copied().fold(0.0, f64::min);
        let step = nice_step((max - min) / 5.0);
        let (lo, hi) = ((min / step).floor() * step, (max / step).ceil() * step);
        let hi = if hi > lo { hi } else { lo + step };
        Axis { lo, hi, log }
    }

    /// Where `v` falls: 0 at `lo`, 1 at `hi`; `None` when it cannot be placed.
    fn frac(&self, v: f64) -> Option<f64> {
        let f = match self.log {
            true if v <= 0.0 => return None,
            true => (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10()),
            false => (v - self.lo) / (self.hi - self.lo),
        };
        f.is_finite().then_some(f)
    }

    fn ticks(&self) -> Vec<f64> {
        let (lo, hi) = (self.lo, self.hi);
        if !self.log {
            let step = nice_step((hi - lo) / 5.0);
            let n = ((hi - lo) / step).round().clamp(1.0, 20.0) as usize;
            return (0..=n).map(|k| lo + step * k as f64).collect();
        }
        let (a, b) = (lo.log10(), hi.log10());
        let mults: &[f64] = match b - a {
            s if s <= 0.6 => &[1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            s if s <= 1.6 => &[1.0, 2.0, 3.0, 5.0],
            s if s <= 3.5 => &[1.0, 2.0, 5.0],
            _ => &[1.0],
        };
        let decade = |e| mults.iter().map(move |m| m * 10f64.powi(e));
        let all = (a.floor() as i32..=b.ceil() as i32).flat_map(decade);
        all.filter(|t| *t >= lo && *t <= hi).collect()
    }
}

/// How a series (and its legend swatch) is drawn: colour, dash pattern, stroke width,
/// and whether the outline is filled (histograms).
#[derive(Debug, Clone, Copy)]
struct Style(&'static str, &'static str, f64, bool);

impl Style {
    fn line(colour: &'static str, dash: &'static str) -> Style {
        Style(colour, dash, 2.5, false)
    }

    fn area(colour: &'static str) -> Style {
        Style(colour, SOLID, 2.5, true)
    }

    /// Group `i` of several drawn over each other: earlier groups get wider strokes,
    /// so that where series coincide, each still shows at the edges.
    fn layer(self, i: usize) -> Style {
        Style(self.0, self.1, (4.0 - 1.2 * i as f64).max(1.5), self.3)
    }
}

/// A chart in data space; [`Chart::svg`] draws it.
#[derive(Default)]
struct Chart {
    id: &'static str,
    title: String,
    /// Axis titles, x then y, with units.
    labels: (&'static str, &'static str),
    series: Vec<(Style, Vec<Pt>)>,
    legend: Vec<(String, Style)>,
    /// Vertical markers at an x value.
    marks: Vec<(f64, &'static str, Style)>,
    /// Appended to "no data".
    note: &'static str,
    /// More x values the x axis must span (the end of the last window).
    x_extent: Vec<f64>,
    axes: (Axis, Axis),
}

impl Chart {
    fn new(id: &'static str, title: &str, labels: (&'static str, &'static str)) -> Chart {
        let title = title.to_string();
        Chart {
            id,
            title,
            labels,
            ..Chart::default()
        }
    }

    fn plot(&mut self, label: &str, style: Style, points: Vec<Pt>) {
        self.series.push((style, points));
        self.legend.push((label.to_string(), style));
    }

    fn fit(mut self, x_log: Option<bool>, y_log: Option<bool>) -> Chart {
        let pts = || self.series.iter().flat_map(|s| s.1.iter());
        let extra = self.marks.iter().map(|m| m.0);
        let extra = extra.chain(self.x_extent.iter().copied());
        let xs: Vec<f64> = pts().map(|p| p.0).chain(extra).collect();
        let mut ys: Vec<f64> = pts().map(|p| p.1).filter(|y| y.is_finite()).collect();
        // Headroom, so that a line at the maximum does not run along the frame.
        ys.push(ys.iter().copied().fold(0.0, f64::max) * 1.04);
        self.axes = (Axis::fit(&xs, x_log), Axis::fit(&ys, y_log));
        if self.axes.1.log {
            self.title.push_str(" (log scale)");
        }
        self
    }

    fn svg(&self) -> String {
        let (xa, ya) = self.axes;
        let px = |v: f64| xa.frac(v).map(|f| LEFT + f * (RIGHT - LEFT));
        let py = |v: f64| ya.frac(v).map(|f| BOTTOM - f * PLOT_H);
        // The legend wraps in rows under the x-axis title.
        let (mut lx, mut ly, mut legend) = (LEFT, BOTTOM + 60.0, vec![]);
        for (label, style) in &self.legend {
            let w = 44.0 + 6.6 * label.chars().count() as f64;
            if lx + w > RIGHT && lx > LEFT {
                (lx, ly) = (LEFT, ly + 18.0);
            }
            legend.push(((lx, ly), label, style));
            lx += w;
        }
        let height = xy(legend.last().map_or(BOTTOM + 50.0, |l| l.0.1 + 10.0));
        let (id, t, pw) = (self.id, esc(&self.title), RIGHT - LEFT);
        let mut s = Svg(format!(
            r#"<figure><svg data-chart="{id}" viewBox="0 0 {W} {height}" role="img"
aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><clipPath id="clip-{id}"><rect x="{LEFT}"
y="{TOP}" width="{pw}" height="{PLOT_H}"/></clipPath><rect class="plot-area" x="{LEFT}"
y="{TOP}" width="{pw}" height="{PLOT_H}"/><text class="title" x="{LEFT}" y="22">{t}</text>"#
        ));
        for (t, y) in ya.ticks().into_iter().filter_map(|t| Some((t, py(t)?))) {
            s.line((LEFT, y), (RIGHT, y), r#"class="grid""#);
            s.text((LEFT - 6.0, y + 4.0), r#"text-anchor="end""#, &tick(t));
        }
        for (t, x) in xa.ticks().into_iter().filter_map(|t| Some((t, px(t)?))) {
            s.line((x, TOP), (x, BOTTOM), r#"class="grid""#);
            s.text((x, BOTTOM + 16.0), r#"text-anchor="middle""#, &tick(t));
        }
        s.line((LEFT, BOTTOM), (RIGHT, BOTTOM), r#"class="axis-line""#);
        let (middle, y_mid) = (r#"class="axis" text-anchor="middle""#, TOP + PLOT_H / 2.0);
        s.text((LEFT + pw / 2.0, BOTTOM + 38.0), middle, self.labels.0);
        let rotate = format!("{middle} transform=\"rotate(-90 16 {y_mid})\"");
        s.text((16.0, y_mid), &rotate, self.labels.1);
        if self.series.iter().all(|(_, points)| points.is_empty()) {
            let empty = r#"class="empty" text-anchor="middle""#;
            let no_data = format!("no data{}", self.note);
            s.text((LEFT + pw / 2.0, y_mid), empty, &no_data);
        }
        let _ = write!(s.0, r#"<g clip-path="url(#clip-{id})">"#);
        for (i, (x, label, Style(colour, dash, ..))) in self.marks.iter().enumerate() {
            let Some(x) = px(*x) else { continue };
            let stroke =
                format!(r#"stroke="{colour}" stroke-width="1.5" stroke-dasharray="{dash}""#);
            s.line((x, TOP), (x, BOTTOM), &stroke);
            let right = x > LEFT + pw * 0.7;
            let (anchor, dx) = if right { ("end", -5.0) } else { ("start", 5.0) };
            let attrs = format!(r#"fill="{colour}" text-anchor="{anchor}""#);
            s.text((x + dx, TOP + 14.0 + 14.0 * i as f64), &attrs, label);
        }
        for (style, points) in &self.series {
            let placed = points.iter().filter_map(|&(x, y)| Some((px(x)?, py(y)?)));
            s.series(*style, placed.collect());
        }
        s.0.push_str("</g>");
        for ((x, y), label, &Style(colour, dash, _, fill)) in legend {
            if fill {
                let (x, y) = (xy(x), xy(y - 10.0));
                let _ = write!(
                    s.0,
                    r#"<rect x="{x}" y="{y}" width="22" height="10" fill="{colour}"
fill-opacity="0.25" stroke="{colour}" stroke-width="2"/>"#
                );
            } else {
                let stroke =
                    format!(r#"stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}""#);
                s.line((x, y - 4.0), (x + 22.0, y - 4.0), &stroke);
            }
            s.text((x + 28.0, y), "", &esc(label));
        }
        s.0 + "</svg></figure>"
    }
}

/// SVG being written. Coordinates go through [`xy`], so they are never `NaN` or `inf`.
struct Svg(String);

impl Svg {
    fn line(&mut self, (x1, y1): Pt, (x2, y2): Pt, attrs: &str) {
        let (x1, y1, x2, y2) = (xy(x1), xy(y1), xy(x2), xy(y2));
        let _ = write!(
            self.0,
            r#"<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" {attrs}/>"#
        );
    }

    /// `body` must already be escaped.
    fn text(&mut self, (x, y): Pt, attrs: &str, body: &str) {
        let (x, y) = (xy(x), xy(y));
        let _ = write!(self.0, r#"<text x="{x}" y="{y}" {attrs}>{body}</text>"#);
    }

    /// One series, from points already in SVG space.
    fn series(&mut self, style: Style, points: Vec<Pt>) {
        let Style(colour, dash, width, fill) = style;
        let d: Vec<String> = points
            .iter()
            .map(|p| format!("{},{}", xy(p.0), xy(p.1)))
            .collect();
        if d.is_empty() {
            return;
        }
        let d = format!("M{}", d.join("L"));
        if fill {
            let _ = write!(
                self.0,
                r#"<path d="{d}Z" fill="{colour}" fill-opacity="0.12"/>"#
            );
        }
        let _ = write!(
            self.0,
            r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="{width}"
stroke-linejoin="round" stroke-dasharray="{dash}"/>"#
        );
        // Dots on short solid lines, and on a lone point (which has no line).
        let dots = !fill && (dash == SOLID && points.len() <= 40 || points.len() == 1);
        for &(x, y) in points.iter().filter(|_| dots) {
            let (x, y, r) = (xy(x), xy(y), 1.8 + width / 2.0);
            let _ = write!(
                self.0,
                r#"<circle cx="{x}" cy="{y}" r="{r}" fill="{colour}"/>"#
            );
        }
    }
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
    fn empty_report_renders() {
        let html = render_html(&Report::default());
        assert_eq!(html.matches("<svg").count(), 4);
        assert!(html.contains("no data"));
        assert_clean(&html);
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

    #[test]
    fn axes_pick_scales_and_ticks() {
        let empty = Axis::fit(&[], None);
        assert!(!empty.log && empty.lo == 0.0 && empty.hi > 0.0);
        let wide = Axis::fit(&[1.0, 5000.0], None);
        assert!(wide.log && wide.ticks().contains(&1000.0));
        let flat = Axis::fit(&[7.0, 7.0], Some(true));
        assert!(flat.hi > flat.lo && !flat.ticks().is_empty());
        assert_eq!(
            [tick(1500.0), tick(0.25), tick(20.0)],
            ["1.5k", "0.25", "20"]
        );
    }
}
