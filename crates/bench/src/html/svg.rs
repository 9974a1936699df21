//! The report's charts as SVG: axes with nice ticks (linear or log), series styles, a
//! [`Chart`] (series, legend, markers) and the writer under it, which checks every
//! coordinate for finiteness and escapes all text. The page around them is in the parent.

use std::fmt::Write as _;

use super::SERIES_COLOURS;

pub(super) const SOLID: &str = "";
pub(super) const DASHED: &str = "7 4";
pub(super) const DOTTED: &str = "2 3";
pub(super) const INK: &str = "#334155";
pub(super) const GREY: &str = "#94a3b8";
pub(super) const NONE: &str = "\u{2014}";
// Chart geometry in SVG user units (the SVG scales to the width of its box).
pub(super) const W: f64 = 640.0;
pub(super) const PLOT_H: f64 = 250.0;
pub(super) const LEFT: f64 = 64.0;
pub(super) const RIGHT: f64 = W - 20.0;
pub(super) const TOP: f64 = 40.0;
pub(super) const BOTTOM: f64 = TOP + PLOT_H;

pub(super) type Pt = (f64, f64);

pub(super) fn colour(i: usize) -> &'static str {
    SERIES_COLOURS[i % SERIES_COLOURS.len()]
}

/// A value for reading: about three significant digits; `—` when not a number.
pub(super) fn num(v: f64) -> String {
    match v.abs() {
        _ if !v.is_finite() => NONE.to_string(),
        a if a >= 100.0 || v.fract() == 0.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// A tick label: short, no trailing zeros (`0.5`, `20`, `1.5k`).
pub(super) fn tick(v: f64) -> String {
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
pub(super) fn xy(v: f64) -> String {
    format!("{:.1}", if v.is_finite() { v } else { 0.0 })
}

pub(super) fn esc(s: &str) -> String {
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
pub(super) fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let m = [1.0, 2.0, 5.0].into_iter().find(|m| raw / mag <= *m);
    mag * m.unwrap_or(10.0)
}

/// One axis: its domain, and whether it is logarithmic.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    /// Fit `values`: `log` forces the scale, or `None` picks log when all values are
    /// positive and span more than a factor of 30. Linear axes include zero.
    pub(super) fn fit(values: &[f64], log: Option<bool>) -> Axis {
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
    pub(super) fn frac(&self, v: f64) -> Option<f64> {
        let f = match self.log {
            true if v <= 0.0 => return None,
            true => (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10()),
            false => (v - self.lo) / (self.hi - self.lo),
        };
        f.is_finite().then_some(f)
    }

    pub(super) fn ticks(&self) -> Vec<f64> {
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
pub(super) struct Style(
    pub(super) &'static str,
    pub(super) &'static str,
    pub(super) f64,
    pub(super) bool,
);

impl Style {
    pub(super) fn line(colour: &'static str, dash: &'static str) -> Style {
        Style(colour, dash, 2.5, false)
    }

    pub(super) fn area(colour: &'static str) -> Style {
        Style(colour, SOLID, 2.5, true)
    }

    /// Group `i` of several drawn over each other: earlier groups get wider strokes,
    /// so that where series coincide, each still shows at the edges.
    pub(super) fn layer(self, i: usize) -> Style {
        Style(self.0, self.1, (4.0 - 1.2 * i as f64).max(1.5), self.3)
    }
}

/// A chart in data space; [`Chart::svg`] draws it.
#[derive(Default)]
pub(super) struct Chart {
    pub(super) id: &'static str,
    pub(super) title: String,
    /// Axis titles, x then y, with units.
    pub(super) labels: (&'static str, &'static str),
    pub(super) series: Vec<(Style, Vec<Pt>)>,
    pub(super) legend: Vec<(String, Style)>,
    /// Vertical markers at an x value.
    pub(super) marks: Vec<(f64, &'static str, Style)>,
    /// Appended to "no data".
    pub(super) note: &'static str,
    /// More x values the x axis must span (the end of the last window).
    pub(super) x_extent: Vec<f64>,
    pub(super) axes: (Axis, Axis),
}

impl Chart {
    pub(super) fn new(
        id: &'static str,
        title: &str,
        labels: (&'static str, &'static str),
    ) -> Chart {
        let title = title.to_string();
        Chart {
            id,
            title,
            labels,
            ..Chart::default()
        }
    }

    pub(super) fn plot(&mut self, label: &str, style: Style, points: Vec<Pt>) {
        self.series.push((style, points));
        self.legend.push((label.to_string(), style));
    }

    pub(super) fn fit(mut self, x_log: Option<bool>, y_log: Option<bool>) -> Chart {
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

    pub(super) fn svg(&self) -> String {
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
pub(super) struct Svg(pub(super) String);

impl Svg {
    pub(super) fn line(&mut self, (x1, y1): Pt, (x2, y2): Pt, attrs: &str) {
        let (x1, y1, x2, y2) = (xy(x1), xy(y1), xy(x2), xy(y2));
        let _ = write!(
            self.0,
            r#"<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" {attrs}/>"#
        );
    }

    /// `body` must already be escaped.
    pub(super) fn text(&mut self, (x, y): Pt, attrs: &str, body: &str) {
        let (x, y) = (xy(x), xy(y));
        let _ = write!(self.0, r#"<text x="{x}" y="{y}" {attrs}>{body}</text>"#);
    }

    /// One series, from points already in SVG space.
    pub(super) fn series(&mut self, style: Style, points: Vec<Pt>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
