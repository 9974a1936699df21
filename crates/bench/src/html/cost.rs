//! The report's "Cost" section: what each model's requests cost as a Switchyard target
//! reported it, and a bar per model of its cost per month. Left out entirely when no
//! model reported a cost (any other target).

use std::fmt::Write as _;

use crate::cost::usd;
use crate::report::{CostReport, GroupReport, Report};

use super::svg::{GREY, INK, NONE, Svg, W, colour, esc, num, xy};

/// Bar chart geometry, in SVG user units.
const NAME_W: f64 = 190.0;
const BAR_LEFT: f64 = NAME_W + 10.0;
const BAR_RIGHT: f64 = W - 110.0;
const BAR_H: f64 = 22.0;
const BAR_GAP: f64 = 12.0;
const BARS_TOP: f64 = 40.0;
/// Longest model name drawn beside a bar (the table has it whole).
const NAME_CHARS: usize = 26;

/// Write the section, if some model reported a cost.
pub(super) fn cost_section(h: &mut String, r: &Report) {
    let Some(first) = r.groups.iter().find_map(|g| g.cost) else {
        return;
    };
    let basis = first.rate_basis.as_str();
    let _ = write!(
        h,
        r#"<section id="cost"><h2>Cost</h2><p>As the target reported each answer's cost
(<code>x-switchyard-cost-usd</code>), failed requests included when they reported one. Per
month: the mean cost of a request × the {basis} rate × 30 days.</p>
<div class="scroll"><table class="cmp"><thead><tr><th>model</th>"#
    );
    for (i, g) in r.groups.iter().enumerate() {
        let (c, name) = (colour(i), esc(&g.name));
        let _ = write!(
            h,
            r#"<th><span class="dot" style="background:{c}"></span>{name}</th>"#
        );
    }
    h.push_str("</tr></thead><tbody>");
    type Cell = fn(&CostReport) -> String;
    let rows: [(String, Cell); 5] = [
        ("requests with a cost".into(), |c| {
            c.requests_with_cost.to_string()
        }),
        ("total (USD)".into(), |c| usd(c.total_usd)),
        ("per 1,000 requests (USD)".into(), |c| {
            usd(c.per_1k_requests_usd)
        }),
        (format!("{basis} rate (req/s)"), |c| num(c.rate_rps)),
        (format!("per month at the {basis} rate (USD)"), |c| {
            usd(c.per_month_usd)
        }),
    ];
    for (label, cell) in &rows {
        let _ = write!(h, "<tr><th>{}</th>", esc(label));
        for g in &r.groups {
            let v = g.cost.as_ref().map_or(NONE.to_string(), cell);
            let _ = write!(h, "<td>{}</td>", esc(&v));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div><div class=\"charts\" style=\"margin-top:14px\">");
    h.push_str(&month_bars(&r.groups, basis));
    h.push_str("</div></section>\n");
}

/// One horizontal bar per model, its length the cost per month (a model without a
/// cost gets no bar).
fn month_bars(groups: &[GroupReport], basis: &str) -> String {
    let month = |g: &GroupReport| g.cost.map(|c| c.per_month_usd).filter(|v| v.is_finite());
    let top = groups.iter().filter_map(month).fold(0.0, f64::max);
    let rows = groups.len() as f64;
    let plot_h = rows * (BAR_H + BAR_GAP) + BAR_GAP;
    let height = xy(BARS_TOP + plot_h + 10.0);
    let title = esc(&format!("Cost per month at the {basis} rate (USD)"));
    let (pw, ph) = (xy(BAR_RIGHT - BAR_LEFT), xy(plot_h));
    let mut s = Svg(format!(
        r#"<figure><svg data-chart="cost-per-month" viewBox="0 0 {W} {height}" role="img"
aria-label="{title}" xmlns="http://www.w3.org/2000/svg"><rect class="plot-area" x="{BAR_LEFT}"
y="{BARS_TOP}" width="{pw}" height="{ph}"/><text class="title" x="{BAR_LEFT}" y="22">{title}</text>"#
    ));
    for (i, g) in groups.iter().enumerate() {
        let y = BARS_TOP + BAR_GAP + i as f64 * (BAR_H + BAR_GAP);
        let name: String = g.name.chars().take(NAME_CHARS).collect();
        let ellipsis = if g.name.chars().count() > NAME_CHARS {
            "…"
        } else {
            ""
        };
        let label = format!("{}{ellipsis}", esc(&name));
        s.text((NAME_W, y + BAR_H * 0.7), r#"text-anchor="end""#, &label);
        let Some(v) = month(g) else {
            s.text((BAR_LEFT + 6.0, y + BAR_H * 0.7), "", NONE);
            continue;
        };
        let frac = if top > 0.0 {
            (v / top).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let w = (frac * (BAR_RIGHT - BAR_LEFT)).max(1.0);
        let (x, yy, bw, bh) = (xy(BAR_LEFT), xy(y), xy(w), xy(BAR_H));
        let _ = write!(
            s.0,
            r#"<rect class="bar" x="{x}" y="{yy}" width="{bw}" height="{bh}" fill="{}"/>"#,
            colour(i)
        );
        let value = format!("${}", usd(v));
        let attrs = format!(r#"fill="{INK}""#);
        s.text((BAR_LEFT + w + 6.0, y + BAR_H * 0.7), &attrs, &esc(&value));
    }
    s.line(
        (BAR_LEFT, BARS_TOP),
        (BAR_LEFT, BARS_TOP + plot_h),
        &format!(r#"stroke="{GREY}""#),
    );
    s.0 + "</svg></figure>"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RateBasis;

    fn group(name: &str, per_month: Option<f64>) -> GroupReport {
        GroupReport {
            name: name.into(),
            cost: per_month.map(|m| CostReport {
                requests_with_cost: 20,
                total_nanos: 246_900,
                total_usd: 0.0002469,
                per_1k_requests_usd: 0.012345,
                per_month_usd: m,
                rate_rps: 1.5,
                rate_basis: RateBasis::Offered,
                ..CostReport::default()
            }),
            ..GroupReport::default()
        }
    }

    fn bar_widths(html: &str) -> Vec<f64> {
        html.split(r#"<rect class="bar""#)
            .skip(1)
            .filter_map(|r| r.split("width=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect()
    }

    #[test]
    fn models_with_a_cost_get_a_row_and_a_bar_in_proportion() {
        let r = Report {
            groups: vec![
                group("cheap", Some(10.0)),
                group("<dear>", Some(40.0)),
                group("other", None),
            ],
            ..Report::default()
        };
        let mut h = String::new();
        cost_section(&mut h, &r);
        assert!(h.contains("<h2>Cost</h2>") && h.contains("per 1,000 requests (USD)"));
        assert!(h.contains("<td>0.01235</td>") && h.contains("offered rate"));
        assert!(h.contains("&lt;dear&gt;") && !h.contains("<dear>"));
        let w = bar_widths(&h);
        assert_eq!(w.len(), 2, "no bar for the model without a cost");
        assert!((w[1] - 4.0 * w[0]).abs() < 0.5, "{w:?}");
        assert!(h.contains("$40.00") && h.contains(NONE));
    }

    #[test]
    fn no_section_when_no_model_reported_a_cost() {
        let r = Report {
            groups: vec![group("a", None), group("b", None)],
            ..Report::default()
        };
        let mut h = String::new();
        cost_section(&mut h, &r);
        assert_eq!(h, "");
    }

    #[test]
    fn absurd_month_values_draw_no_non_finite_coordinates() {
        let r = Report {
            groups: vec![group("a", Some(f64::NAN)), group("b", Some(0.0))],
            ..Report::default()
        };
        let mut h = String::new();
        cost_section(&mut h, &r);
        assert!(!h.contains("NaN") && !h.contains("inf"), "{h}");
    }
}
