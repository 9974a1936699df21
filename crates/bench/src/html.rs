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
const DASH: &str = "\u{2014}";
// Chart geometry in SVG user units (the SVG scales to the width of its box).
const W: f64 = 640.0;
const PLOT_H: f64 = 250.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const ROW: f64 = 18.0;

/// Render the report as one HTML document.
pub fn render_html(r: &Report) -> String {
    let mut h = String::with_capacity(96 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Switchyard bench: {}</title><style>{CSS}</style></head><body><main>\n",
        esc(&r.meta.target)
    );
    header(&mut h, r);
    comparison_table(&mut h, r);
    let ttft = histogram(r, "ttft-histogram", "Time to first token", |g| {
        (&g.ttft_histogram, g.ttft)
    });
    let itl = histogram(r, "itl-histogram", "Inter-token latency, per chunk", |g| {
        (&g.itl_histogram, g.itl_chunk)
    });
    h.push_str("<section><h2>Latency percentiles over time</h2><div class=\"charts\">");
    h.push_str(&latency_over_time(r).svg());
    h.push_str(&throughput_over_time(r).svg());
    h.push_str("</div></section>\n<div class=\"pair\">");
    for (title, chart) in [("TTFT distribution", ttft), ("ITL distribution", itl)] {
        let _ = write!(h, "<section><h2>{title}</h2>{}</section>", chart.svg());
    }
    h.push_str("</div>\n");
    if let Some(sw) = &r.sweep {
        sweep(&mut h, sw, r.meta.stream);
    }
    h.push_str(DEFINITIONS);
    h.push_str("</main></body></html>\n");
    h
}

fn header(h: &mut String, r: &Report) {
    let m = &r.meta;
    let stream = if m.stream {
        "yes"
    } else {
        "no (so no TTFT or ITL)"
    };
    let _ = write!(
        h,
        "<header><h1>Switchyard bench <span class=\"target\">{}</span></h1><dl class=\"meta\">\
         <dt>command</dt><dd><code>{}</code></dd><dt>started</dt><dd>{}</dd><dt>load</dt><dd>{}</dd>\
         <dt>workload</dt><dd>{}</dd><dt>duration</dt><dd>{} s</dd><dt>stream</dt><dd>{stream}</dd>\
         <dt>version</dt><dd>{}</dd></dl>",
        esc(&m.target),
        esc(&m.command),
        esc(&m.started_at),
        esc(&m.load),
        esc(&m.workload),
        num(m.duration_s),
        esc(&m.version)
    );
    let lists = [
        ("Failed thresholds", &r.failed_thresholds),
        ("Warnings", &r.warnings),
    ];
    if lists.iter().any(|(_, items)| !items.is_empty()) {
        h.push_str("<div class=\"alert\" role=\"alert\">");
        for (what, items) in lists.iter().filter(|(_, items)| !items.is_empty()) {
            let _ = write!(h, "<strong>{what}</strong><ul>");
            items
                .iter()
                .for_each(|i| h.push_str(&format!("<li>{}</li>", esc(i))));
            h.push_str("</ul>");
        }
        h.push_str("</div>");
    }
    h.push_str("</header>\n");
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
    h.push_str("<div class=\"scroll\"><table class=\"cmp\"><thead><tr><th>metric</th>");
    for (i, g) in gs.iter().enumerate() {
        let dot = format!(
            "<span class=\"dot\" style=\"background:{}\"></span>",
            colour(i)
        );
        let _ = write!(h, "<th>{dot}{}</th>", esc(&g.name));
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
        let by_kind = |g: &GroupReport| Some(g.errors_by_kind.get(k).copied().unwrap_or(0) as f64);
        add(&format!("\u{2003}{k}"), Low, &by_kind);
    }
    add("throughput (req/s)", High, &|g| Some(g.throughput_rps));
    if gs.iter().any(|g| g.goodput_rps.is_some()) {
        add("goodput (req/s within SLO)", High, &|g| g.goodput_rps);
    }
    let estimated = gs.iter().any(|g| g.tokens_estimated);
    let tok = if estimated {
        "output tok/s (partly estimated)"
    } else {
        "output tok/s"
    };
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
    for (name, get) in stats
        .iter()
        .filter(|(_, get)| gs.iter().any(|g| get(g).is_some()))
    {
        for (p, pick) in pcts {
            add(&format!("{name} {p} (ms)"), Low, &|g| {
                get(g).map(|s| pick(&s))
            });
        }
    }
    h.push_str("</tbody></table></div></section>\n");
}

/// One table row; the best value is highlighted when the groups differ.
fn row(h: &mut String, label: &str, better: Better, vals: &[Option<f64>]) {
    let finite: Vec<f64> = vals
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let best = match better {
        _ if finite.len() < 2 || finite.iter().all(|v| *v == finite[0]) => None,
        Low => finite.iter().copied().reduce(f64::min),
        High => finite.iter().copied().reduce(f64::max),
        Neither => None,
    };
    let sep = label.contains(" p50 ") || label.starts_with("throughput");
    let _ = write!(
        h,
        "<tr{}><th>{}</th>",
        if sep { " class=\"sep\"" } else { "" },
        esc(label)
    );
    for v in vals {
        let cls = if best.is_some() && *v == best {
            " class=\"best\""
        } else {
            ""
        };
        let _ = write!(h, "<td{cls}>{}</td>", v.map_or(DASH.to_string(), num));
    }
    h.push_str("</tr>");
}

fn window_width(tl: &[WindowPoint]) -> f64 {
    let gaps = tl.windows(2).map(|p| p[1].t_s - p[0].t_s);
    let w = gaps
        .filter(|d| d.is_finite() && *d > 0.0)
        .fold(f64::MAX, f64::min);
    if w < f64::MAX { w } else { 1.0 }
}

fn group_legend(r: &Report) -> Vec<(String, Style)> {
    let it = r.groups.iter().enumerate();
    it.map(|(i, g)| (g.name.clone(), Style::line(colour(i), SOLID)))
        .collect()
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
        let half = window_width(&g.timeline) / 2.0;
        c.x_extent
            .extend(g.timeline.last().map(|p| p.t_s + 2.0 * half));
        for (_, dash, f) in &metrics {
            let done = g.timeline.iter().filter(|p| p.completed > 0);
            c.series.push((
                Style::line(colour(i), dash),
                done.map(|p| (p.t_s + half, f(p))).collect(),
            ));
        }
    }
    c.legend = group_legend(r);
    c.legend.extend(
        metrics
            .iter()
            .map(|(name, dash, _)| (name.to_string(), Style::line(INK, dash))),
    );
    c.fit(Some(false), None)
}

fn throughput_over_time(r: &Report) -> Chart {
    let labels = ("time since start (s)", "requests per second");
    let mut c = Chart::new(
        "throughput-over-time",
        "Achieved completions and errors",
        labels,
    );
    for (i, g) in r.groups.iter().enumerate() {
        let w = window_width(&g.timeline);
        c.x_extent.extend(g.timeline.last().map(|p| p.t_s + w));
        let rate = |f: fn(&WindowPoint) -> u64| {
            g.timeline
                .iter()
                .map(|p| (p.t_s + w / 2.0, f(p) as f64 / w))
                .collect()
        };
        c.series
            .push((Style::line(colour(i), SOLID), rate(|p| p.completed)));
        c.series
            .push((Style::line(colour(i), DASHED), rate(|p| p.errors)));
    }
    c.legend = group_legend(r);
    c.legend
        .push(("completed/s".into(), Style::line(INK, SOLID)));
    c.legend.push(("errors/s".into(), Style::line(INK, DASHED)));
    c.fit(Some(false), Some(false))
}

/// Overlaid step outlines, one per group, as a share of that group's samples.
fn histogram<F>(r: &Report, id: &'static str, title: &str, get: F) -> Chart
where
    F: Fn(&GroupReport) -> (&Vec<Bucket>, Option<Stat>),
{
    let labels = ("latency (ms, log scale)", "share of samples (%)");
    let mut c = Chart::new(id, title, labels);
    for (i, g) in r.groups.iter().enumerate() {
        let (buckets, stat) = get(g);
        let mut b: Vec<(f64, f64)> = buckets.iter().map(|b| (b.le, b.count as f64)).collect();
        b.retain(|(le, _)| le.is_finite() && *le > 0.0);
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        let total: f64 = b.iter().map(|x| x.1).sum();
        let first = b.iter().position(|x| x.1 > 0.0);
        let (Some(first), Some(last)) = (first, b.iter().rposition(|x| x.1 > 0.0)) else {
            continue;
        };
        let ratio = b.get(1).map_or(2.0, |next| (next.0 / b[0].0).max(1.01));
        let mut pts = vec![];
        for k in first..=last {
            let lo = if k == 0 { b[0].0 / ratio } else { b[k - 1].0 };
            let y = 100.0 * b[k].1 / total;
            if k == first {
                pts.push((lo, 0.0));
            }
            pts.extend([(lo, y), (b[k].0, y)]);
        }
        pts.push((b[last].0, 0.0));
        c.series.push((Style::area(colour(i)), pts));
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
    let _ = write!(
        h,
        "<section><h2>Latency vs offered load</h2><p>SLO: <code>{}</code>",
        esc(&sw.slo)
    );
    let mut marks = vec![];
    if let Some(v) = sw.max_rate_within_slo {
        let _ = write!(
            h,
            " \u{b7} highest rate within SLO: <strong>{} req/s</strong>",
            num(v)
        );
        marks.push((v, "max within SLO", Style::line("#15803d", DASHED)));
    }
    if let Some(v) = sw.knee_rate {
        let _ = write!(h, " \u{b7} knee: <strong>{} req/s</strong>", num(v));
        marks.push((v, "knee", Style::line(INK, DOTTED)));
    }
    h.push_str("</p><div class=\"charts\">");
    let pts = |f: fn(&SweepStep) -> f64| sw.steps.iter().map(|s| (s.offered_rps, f(s))).collect();
    let labels = ("offered load (req/s)", "latency (ms)");
    let mut lat = Chart::new("sweep-latency", "Latency vs offered load", labels);
    let mut metrics: Vec<(&str, Vec<(f64, f64)>)> = vec![
        ("p50 E2E", pts(|s| s.p50_e2e_ms)),
        ("p99 E2E", pts(|s| s.p99_e2e_ms)),
    ];
    if stream {
        metrics.push(("p99 TTFT", pts(|s| s.p99_ttft_ms)));
    }
    for (i, (name, points)) in metrics.into_iter().enumerate() {
        lat.series.push((Style::line(colour(i), SOLID), points));
        lat.legend
            .push((name.into(), Style::line(colour(i), SOLID)));
    }
    let labels = ("offered load (req/s)", "achieved (req/s)");
    let mut thr = Chart::new("sweep-throughput", "Achieved vs offered load", labels);
    let top = sw
        .steps
        .iter()
        .map(|s| s.offered_rps)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    if top > 0.0 {
        thr.series
            .push((Style::line(GREY, DASHED), vec![(0.0, 0.0), (top, top)]));
    }
    thr.series
        .push((Style::line(colour(0), SOLID), pts(|s| s.achieved_rps)));
    thr.legend
        .push(("achieved".into(), Style::line(colour(0), SOLID)));
    thr.legend
        .push(("offered (ideal)".into(), Style::line(GREY, DASHED)));
    for c in [&mut lat, &mut thr] {
        c.marks = marks.clone();
        c.legend.extend(
            marks
                .iter()
                .map(|(_, label, style)| (label.to_string(), *style)),
        );
    }
    h.push_str(&lat.fit(Some(false), None).svg());
    h.push_str(&thr.fit(Some(false), Some(false)).svg());
    h.push_str(
        "</div><div class=\"scroll\"><table><thead><tr><th>offered (req/s)</th>\
         <th>achieved (req/s)</th><th>p50 E2E (ms)</th><th>p99 E2E (ms)</th>\
         <th>p99 TTFT (ms)</th><th>errors</th><th>within SLO</th></tr></thead><tbody>",
    );
    for s in &sw.steps {
        let (class, ok) = if s.within_slo {
            ("", "yes")
        } else {
            (" class=\"miss\"", "no")
        };
        let ttft = if stream {
            num(s.p99_ttft_ms)
        } else {
            DASH.into()
        };
        let cells = [s.offered_rps, s.achieved_rps, s.p50_e2e_ms, s.p99_e2e_ms]
            .map(num)
            .join("</td><td>");
        let errors = num(s.error_rate * 100.0);
        let _ = write!(
            h,
            "<tr{class}><td>{cells}</td><td>{ttft}</td><td>{errors}%</td><td>{ok}</td></tr>"
        );
    }
    h.push_str("</tbody></table></div></section>\n");
}

fn colour(i: usize) -> &'static str {
    SERIES_COLOURS[i % SERIES_COLOURS.len()]
}

/// A value for reading: about three significant digits; `—` when not a number.
fn num(v: f64) -> String {
    let a = v.abs();
    match () {
        _ if !v.is_finite() => DASH.to_string(),
        _ if a >= 100.0 || v.fract() == 0.0 => format!("{v:.0}"),
        _ if a >= 10.0 => format!("{v:.1}"),
        _ if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// A tick label: short, no trailing zeros (`0.5`, `20`, `1.5k`).
fn tick(v: f64) -> String {
    let (v, suffix) = if v.abs() >= 1000.0 {
        (v / 1000.0, "k")
    } else {
        (v, "")
    };
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{}{suffix}", if s == "-0" { "0" } else { s })
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
#[derive(Debug, Clone, Copy)]
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
            return Axis {
                lo: 1.0,
                hi: 10.0,
                log,
            };
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
        if !self.log {
            let step = nice_step((self.hi - self.lo) / 5.0);
            let n = ((self.hi - self.lo) / step).round().clamp(1.0, 20.0) as usize;
            return (0..=n).map(|k| self.lo + step * k as f64).collect();
        }
        let (a, b) = (self.lo.log10(), self.hi.log10());
        let mults: &[f64] = match b - a {
            s if s <= 0.6 => &[1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            s if s <= 1.6 => &[1.0, 2.0, 3.0, 5.0],
            s if s <= 3.5 => &[1.0, 2.0, 5.0],
            _ => &[1.0],
        };
        let all = (a.floor() as i32..=b.ceil() as i32)
            .flat_map(|e| mults.iter().map(move |m| m * 10f64.powi(e)));
        all.filter(|t| *t >= self.lo && *t <= self.hi).collect()
    }
}

/// How a series (and its legend swatch) is drawn.
#[derive(Debug, Clone, Copy)]
struct Style {
    colour: &'static str,
    dash: &'static str,
    fill: bool,
}

impl Style {
    fn line(colour: &'static str, dash: &'static str) -> Style {
        Style {
            colour,
            dash,
            fill: false,
        }
    }

    fn area(colour: &'static str) -> Style {
        Style {
            colour,
            dash: SOLID,
            fill: true,
        }
    }
}

/// A chart in data space; [`Chart::svg`] draws it.
struct Chart {
    id: &'static str,
    title: String,
    /// Axis titles, x then y, with units.
    labels: (&'static str, &'static str),
    series: Vec<(Style, Vec<(f64, f64)>)>,
    legend: Vec<(String, Style)>,
    /// Vertical markers at an x value.
    marks: Vec<(f64, &'static str, Style)>,
    /// Appended to "no data".
    note: &'static str,
    /// More x values the x axis must span (the end of the last window, markers).
    x_extent: Vec<f64>,
    axes: (Axis, Axis),
}

impl Chart {
    fn new(id: &'static str, title: &str, labels: (&'static str, &'static str)) -> Chart {
        let unit = Axis {
            lo: 0.0,
            hi: 1.0,
            log: false,
        };
        let (series, legend, marks, x_extent) = (vec![], vec![], vec![], vec![]);
        let title = title.to_string();
        Chart {
            id,
            title,
            labels,
            series,
            legend,
            marks,
            note: "",
            x_extent,
            axes: (unit, unit),
        }
    }

    fn fit(mut self, x_log: Option<bool>, y_log: Option<bool>) -> Chart {
        let pts = || self.series.iter().flat_map(|s| s.1.iter());
        let marks = self.marks.iter().map(|m| m.0);
        let xs = pts()
            .map(|p| p.0)
            .chain(marks)
            .chain(self.x_extent.iter().copied());
        let xs: Vec<f64> = xs.collect();
        let mut ys: Vec<f64> = pts().map(|p| p.1).collect();
        // Headroom, so that a line at the maximum does not run along the frame.
        ys.push(
            ys.iter()
                .copied()
                .filter(|y| y.is_finite())
                .fold(0.0, f64::max)
                * 1.04,
        );
        self.axes = (Axis::fit(&xs, x_log), Axis::fit(&ys, y_log));
        if self.axes.1.log {
            self.title.push_str(" (log scale)");
        }
        self
    }

    fn svg(&self) -> String {
        let (xa, ya) = self.axes;
        let (pw, bottom) = (W - LEFT - RIGHT, TOP + PLOT_H);
        let px = |v: f64| xa.frac(v).map(|f| LEFT + f * pw);
        let py = |v: f64| ya.frac(v).map(|f| bottom - f * PLOT_H);
        // The legend wraps in rows under the x-axis title.
        let (mut lx, mut ly, mut placed) = (LEFT, bottom + BOTTOM + 10.0, vec![]);
        for (label, style) in &self.legend {
            let w = 44.0 + 6.6 * label.chars().count() as f64;
            if lx + w > W - RIGHT && lx > LEFT {
                (lx, ly) = (LEFT, ly + ROW);
            }
            placed.push((lx, ly, label, style));
            lx += w;
        }
        let height = if placed.is_empty() {
            bottom + BOTTOM
        } else {
            ly + 10.0
        };
        let (id, t) = (self.id, esc(&self.title));
        let mut s = format!(
            "<figure><svg data-chart=\"{id}\" viewBox=\"0 0 {W} {}\" role=\"img\" aria-label=\"{t}\" \
             xmlns=\"http://www.w3.org/2000/svg\"><clipPath id=\"clip-{id}\"><rect x=\"{LEFT}\" \
             y=\"{TOP}\" width=\"{pw}\" height=\"{PLOT_H}\"/></clipPath><text class=\"title\" \
             x=\"{LEFT}\" y=\"22\">{t}</text><rect class=\"plot-area\" x=\"{LEFT}\" y=\"{TOP}\" \
             width=\"{pw}\" height=\"{PLOT_H}\"/>",
            xy(height)
        );
        for y in ya.ticks().into_iter().filter_map(|t| Some((t, py(t)?))) {
            seg(&mut s, (LEFT, y.1), (W - RIGHT, y.1), "class=\"grid\"");
            text(
                &mut s,
                (LEFT - 6.0, y.1 + 4.0),
                "text-anchor=\"end\"",
                &tick(y.0),
            );
        }
        for x in xa.ticks().into_iter().filter_map(|t| Some((t, px(t)?))) {
            seg(&mut s, (x.1, TOP), (x.1, bottom), "class=\"grid\"");
            text(
                &mut s,
                (x.1, bottom + 16.0),
                "text-anchor=\"middle\"",
                &tick(x.0),
            );
        }
        seg(
            &mut s,
            (LEFT, bottom),
            (W - RIGHT, bottom),
            "class=\"axis-line\"",
        );
        let middle = "class=\"axis\" text-anchor=\"middle\"";
        text(
            &mut s,
            (LEFT + pw / 2.0, bottom + 38.0),
            middle,
            self.labels.0,
        );
        let _ = write!(
            s,
            "<text {middle} transform=\"translate(16 {}) rotate(-90)\">{}</text>",
            xy(TOP + PLOT_H / 2.0),
            self.labels.1
        );
        if self.series.iter().all(|(_, points)| points.is_empty()) {
            let at = (LEFT + pw / 2.0, TOP + PLOT_H / 2.0);
            text(
                &mut s,
                at,
                "class=\"empty\" text-anchor=\"middle\"",
                &format!("no data{}", self.note),
            );
        }
        let _ = write!(s, "<g clip-path=\"url(#clip-{id})\">");
        for (i, (x, label, st)) in self.marks.iter().enumerate() {
            let Some(x) = px(*x) else { continue };
            let stroke = format!(
                "stroke=\"{}\" stroke-width=\"1.5\" stroke-dasharray=\"{}\"",
                st.colour, st.dash
            );
            seg(&mut s, (x, TOP), (x, bottom), &stroke);
            let anchor = if x > LEFT + pw * 0.7 { "end" } else { "start" };
            let dx = if anchor == "end" { -5.0 } else { 5.0 };
            let attrs = format!("fill=\"{}\" text-anchor=\"{anchor}\"", st.colour);
            text(
                &mut s,
                (x + dx, TOP + 14.0 + 14.0 * i as f64),
                &attrs,
                label,
            );
        }
        for (st, points) in &self.series {
            let (mut d, mut dots, mut pen) = (String::new(), vec![], false);
            for (x, y) in points.iter().map(|&(x, y)| (px(x), py(y))) {
                if let (Some(x), Some(y)) = (x, y) {
                    let _ = write!(d, "{}{},{}", if pen { "L" } else { "M" }, xy(x), xy(y));
                    dots.push((x, y));
                }
                pen = x.is_some() && y.is_some();
            }
            if st.fill && !d.is_empty() {
                let _ = write!(
                    s,
                    "<path d=\"{d}Z\" fill=\"{}\" fill-opacity=\"0.12\"/>",
                    st.colour
                );
            }
            let _ = write!(
                s,
                "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2.5\" \
                 stroke-linejoin=\"round\" stroke-dasharray=\"{}\"/>",
                st.colour, st.dash
            );
            let marked = !st.fill && (st.dash == SOLID && dots.len() <= 40 || dots.len() == 1);
            for (x, y) in dots.iter().filter(|_| marked) {
                let _ = write!(
                    s,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"/>",
                    xy(*x),
                    xy(*y),
                    st.colour
                );
            }
        }
        s.push_str("</g>");
        for (x, y, label, st) in placed {
            let c = st.colour;
            if st.fill {
                let (x, y) = (xy(x), xy(y - 10.0));
                let _ = write!(
                    s,
                    "<rect x=\"{x}\" y=\"{y}\" width=\"22\" height=\"10\" fill=\"{c}\" \
                    fill-opacity=\"0.25\" stroke=\"{c}\" stroke-width=\"2\"/>"
                );
            } else {
                let stroke = format!(
                    "stroke=\"{c}\" stroke-width=\"2.5\" stroke-dasharray=\"{}\"",
                    st.dash
                );
                seg(&mut s, (x, y - 4.0), (x + 22.0, y - 4.0), &stroke);
            }
            text(&mut s, (x + 28.0, y), "", &esc(label));
        }
        s.push_str("</svg></figure>");
        s
    }
}

fn seg(s: &mut String, a: (f64, f64), b: (f64, f64), attrs: &str) {
    let (x1, y1, x2, y2) = (xy(a.0), xy(a.1), xy(b.0), xy(b.1));
    let _ = write!(
        s,
        "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" {attrs}/>"
    );
}

/// `body` must already be escaped.
fn text(s: &mut String, at: (f64, f64), attrs: &str, body: &str) {
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" {attrs}>{body}</text>",
        xy(at.0),
        xy(at.1)
    );
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
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:3px 18px;margin:0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
code{font:12.5px/1.4 ui-monospace,'SFMono-Regular',Menlo,Consolas,monospace;background:#f1f5f9;padding:1px 5px;border-radius:3px;word-break:break-all}
.alert{margin-top:14px;border:2px solid #dc2626;background:#fef2f2;color:#7f1d1d;border-radius:6px;padding:10px 14px}
.alert ul{margin:4px 0 6px;padding-left:20px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:4px 14px;text-align:right;border-bottom:1px solid var(--line);white-space:nowrap}
table.cmp tbody th,table.cmp thead th:first-child{text-align:left;font-weight:500;color:#475569}
thead th{border-bottom:2px solid #cbd5e1}
tr.sep>*{border-top:2px solid #cbd5e1}
td.best{background:#dcfce7;color:#14532d;font-weight:700}
tr.miss td{background:#fef2f2;color:#991b1b}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px}
.charts,.pair{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:20px}
@media (max-width:1000px){.charts,.pair{grid-template-columns:1fr}}
.pair{gap:16px;margin-top:16px}.pair>section{margin-top:0}
figure{margin:0}
svg{width:100%;height:auto;display:block;font:12px system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;fill:#475569}
svg .title{font-size:14px;font-weight:600;fill:var(--ink)}
svg .axis{font-size:12px;fill:#334155}
svg .plot-area{fill:#fff;stroke:#cbd5e1}
svg .grid{stroke:#e5eaf0;stroke-width:1}
svg .axis-line{stroke:#94a3b8;stroke-width:1}
svg .empty{font-size:15px;fill:#94a3b8}
p.empty{color:var(--muted)}
dl.defs{display:grid;grid-template-columns:max-content 1fr;gap:6px 18px;margin:0}
dl.defs dt{font-weight:600}dl.defs dd{margin:0;color:#334155}
";

const DEFINITIONS: &str = "<section><h2>Definitions</h2><dl class=\"defs\">\
<dt>TTFT</dt><dd>Time to first token: from sending the request to the first non-empty content, reasoning or tool-call token of the stream.</dd>\
<dt>ITL per chunk</dt><dd>Inter-token latency: the gap between consecutive content-bearing stream chunks.</dd>\
<dt>ITL per token</dt><dd>Each chunk gap divided by the number of tokens that chunk carried.</dd>\
<dt>TPOT</dt><dd>Time per output token: (E2E \u{2212} TTFT) / (output tokens \u{2212} 1) for each request, the decode pace after the first token.</dd>\
<dt>E2E</dt><dd>End-to-end latency from the request's <em>scheduled</em> start to its last byte, so time queued on the client counts: no coordinated omission.</dd>\
<dt>Dispatch delay</dt><dd>How late a request actually left against its schedule; large values mean the load generator fell behind.</dd>\
<dt>Throughput</dt><dd>Completed requests per second, successful or not.</dd>\
<dt>Goodput</dt><dd>Successful requests per second that also met the SLO.</dd>\
<dt>Output tok/s</dt><dd>Completion tokens of successful requests per second of the run.</dd>\
<dt>p50 \u{2026} p99.9</dt><dd>Percentiles from HDR histograms (3 significant digits); the charts over time use per-window percentiles, each request placed by its completion time.</dd>\
</dl></section>\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RunMeta;

    fn stat(p50: f64) -> Stat {
        let (p90, p99, p999, max) = (p50 * 1.8, p50 * 3.5, p50 * 6.0, p50 * 8.0);
        Stat {
            count: 500,
            mean: p50 * 1.2,
            min: p50 / 2.0,
            p50,
            p90,
            p95: p90,
            p99,
            p999,
            max,
        }
    }

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
            let (completed, errors) = (
                40 - u64::from(t.is_multiple_of(7)),
                u64::from(t.is_multiple_of(13)),
            );
            let (p50_e2e_ms, p99_ttft_ms) = (900.0 * slow * wobble, 300.0 * slow * wobble);
            let p99_e2e_ms = 2400.0 * slow * wobble * wobble;
            let t_s = t as f64;
            WindowPoint {
                t_s,
                completed,
                errors,
                p50_e2e_ms,
                p99_e2e_ms,
                p99_ttft_ms,
                in_flight: 30,
            }
        };
        let mut g = GroupReport {
            name: name.into(),
            requests: 2400,
            ok: 2390,
            errors: 10,
            ..Default::default()
        };
        g.errors_by_kind = [("http_429".to_string(), 8), ("timeout".to_string(), 2)].into();
        (g.throughput_rps, g.goodput_rps, g.output_tokens_per_s) =
            (39.8 / slow, Some(38.0 / slow), 5e3 / slow);
        (g.ttft, g.itl_chunk, g.itl_token) = (
            Some(stat(120.0 * slow)),
            Some(stat(18.0 * slow)),
            Some(stat(9.0)),
        );
        (g.tpot, g.e2e, g.dispatch_delay) = (
            Some(stat(10.0 * slow)),
            Some(stat(900.0 * slow)),
            Some(stat(0.4)),
        );
        g.timeline = (0..60).map(window).collect();
        (g.ttft_histogram, g.itl_histogram) =
            (buckets(120.0 * slow, 0.5), buckets(18.0 * slow, 0.8));
        g
    }

    fn sample() -> Report {
        let step = |k: u32| {
            let offered_rps = 20.0 * f64::from(k);
            let load = 1.0 / (1.0 - (offered_rps / 130.0).min(0.97));
            let (p50_e2e_ms, p99_e2e_ms, p99_ttft_ms) =
                (800.0 * load, 2e3 * load * load, 250.0 * load * load);
            let (error_rate, within_slo) = if k > 4 { (0.03, false) } else { (0.0, true) };
            let achieved_rps = offered_rps.min(100.0);
            SweepStep {
                offered_rps,
                achieved_rps,
                p50_e2e_ms,
                p99_e2e_ms,
                p99_ttft_ms,
                error_rate,
                within_slo,
            }
        };
        let slo = "p99_ttft<=800ms,error_rate<=1%".into();
        let steps = (1..=6).map(step).collect();
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
            sweep: Some(SweepReport {
                slo,
                steps,
                max_rate_within_slo: Some(80.0),
                knee_rate: Some(60.0),
            }),
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
            "ITL distribution",
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
        // For looking at: render it with a browser.
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
        assert!(!html.contains("<script") && !html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    }

    #[test]
    fn degenerate_series_never_produce_non_finite_coordinates() {
        let mut r = sample();
        let one = WindowPoint {
            completed: 1,
            p50_e2e_ms: 5.0,
            p99_e2e_ms: 5.0,
            ..Default::default()
        };
        r.groups[0].timeline = vec![one];
        r.groups[0].ttft_histogram = vec![Bucket { le: 10.0, count: 3 }];
        r.groups[1].timeline = vec![WindowPoint::default(); 5];
        r.groups[1].itl_histogram = vec![
            Bucket { le: 0.0, count: 0 },
            Bucket {
                le: f64::NAN,
                count: 1,
            },
        ];
        r.groups[1].throughput_rps = f64::NAN;
        r.groups
            .extend((0..6).map(|k| group(&format!("model-{k}"), 0.5 + f64::from(k) * 0.4)));
        let sweep = r.sweep.as_mut().unwrap();
        sweep.steps.truncate(1);
        sweep.steps[0] = SweepStep::default();
        sweep.knee_rate = Some(f64::INFINITY);
        let html = render_html(&r);
        assert_eq!(html.matches("<svg").count(), 6);
        assert_clean(&html);
        std::fs::write(
            std::env::temp_dir().join("switchyard-bench-report-edge.html"),
            &html,
        )
        .unwrap();
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
            (tick(1500.0), tick(0.25), tick(20.0)),
            ("1.5k".into(), "0.25".into(), "20".into())
        );
    }
}
