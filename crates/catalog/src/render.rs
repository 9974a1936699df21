//! Plain-text tables for `switchyard models`: the models, and (`--vendors`) who sells
//! each one at what price.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::catalog::Catalog;
use crate::price::Price;

/// Aliases column budget in characters; longer lists are cut and end in `(+N more)`.
const ALIASES_WIDTH: usize = 40;

const HEADERS: [&str; 9] = [
    "ID",
    "PROVIDER",
    "CONTEXT",
    "MAX OUT",
    "$IN/M",
    "$CACHED/M",
    "$OUT/M",
    "CAPABILITIES",
    "ALIASES",
];

/// Columns holding numbers are right-aligned.
const RIGHT_ALIGNED: [bool; 9] = [false, false, true, true, true, true, true, false, false];

const VENDOR_HEADERS: [&str; 8] = [
    "MODEL",
    "VENDOR",
    "UPSTREAM ID",
    "$IN/M",
    "$CACHED/M",
    "$OUT/M",
    "BILLED AS",
    "AS OF",
];

const VENDOR_RIGHT_ALIGNED: [bool; 8] = [false, false, false, true, true, true, false, false];

/// How a price bills beyond its three base rates: `-`, or e.g. `off-peak 0.07/0.0014/0.14
/// outside 01:00-04:00 06:00-10:00 (weekdays); >128K 0.333/0.083/2.778; thinking out 1.11`.
fn billed_as(p: &Price) -> String {
    let mut parts = Vec::new();
    if let Some(o) = &p.off_peak {
        let days = if o.weekdays_only { " (weekdays)" } else { "" };
        parts.push(format!(
            "off-peak {}/{}/{} outside {}{days}",
            format_usd(o.input),
            format_usd(o.cached_input),
            format_usd(o.output),
            o.peak_hours_utc.join(" ")
        ));
    }
    for t in &p.tiers {
        parts.push(format!(
            ">{} {}/{}/{}",
            threshold(t.above_prompt_tokens),
            format_usd(t.input),
            format_usd(t.cached_input),
            format_usd(t.output)
        ));
    }
    if let Some(t) = p.thinking_output {
        parts.push(format!("thinking out {}", format_usd(t)));
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join("; ")
    }
}

impl Catalog {
    /// Renders every model as an aligned text table (columns ID, PROVIDER, CONTEXT, MAX OUT,
    /// $IN/M, $CACHED/M, $OUT/M, CAPABILITIES, ALIASES), followed by a footer line giving the
    /// dates of the prices. Long alias lists are truncated. Ends with a newline.
    pub fn render_table(&self) -> String {
        let rows: Vec<[String; 9]> = self
            .models()
            .iter()
            .map(|m| {
                [
                    m.id.clone(),
                    m.provider.clone(),
                    format_tokens(m.context_window),
                    format_tokens(m.max_output),
                    format_usd(m.price.input),
                    format_usd(m.price.cached_input),
                    format_usd(m.price.output),
                    m.capabilities.to_string(),
                    format_aliases(&m.aliases, ALIASES_WIDTH),
                ]
            })
            .collect();

        let mut widths = HEADERS.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }

        let mut out = String::new();
        push_row(
            &mut out,
            &HEADERS.map(str::to_owned),
            &widths,
            &RIGHT_ALIGNED,
        );
        for row in &rows {
            push_row(&mut out, row, &widths, &RIGHT_ALIGNED);
        }
        out.push_str(&self.price_footer());
        out.push('\n');
        out
    }

    /// Renders who sells each model (its maker first, then the resellers in catalog order)
    /// as an aligned text table: MODEL, VENDOR, UPSTREAM ID (the vendor's id for it), the
    /// three base prices, how the vendor bills beyond them (off-peak hours, prompt-length
    /// tiers, a thinking output price) and the date of the price. Ends with a newline.
    pub fn render_vendors_table(&self) -> String {
        let mut rows: Vec<[String; 8]> = Vec::new();
        for m in self.models() {
            for (i, s) in m.vendors().enumerate() {
                rows.push([
                    if i == 0 { m.id.clone() } else { String::new() },
                    s.provider.to_owned(),
                    s.upstream_id.to_owned(),
                    format_usd(s.price.input),
                    format_usd(s.price.cached_input),
                    format_usd(s.price.output),
                    billed_as(s.price),
                    if s.price.as_of.is_empty() {
                        "-".to_owned()
                    } else {
                        s.price.as_of.clone()
                    },
                ]);
            }
        }
        let mut widths = VENDOR_HEADERS.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let headers = VENDOR_HEADERS.map(str::to_owned);
        push_row(&mut out, &headers, &widths, &VENDOR_RIGHT_ALIGNED);
        for row in &rows {
            push_row(&mut out, row, &widths, &VENDOR_RIGHT_ALIGNED);
        }
        out.push_str(
            "Prices: USD per 1M tokens (list prices; a route's deployment may set a contract \
             price). Sources per price in `switchyard models --vendors --json`.\n",
        );
        out
    }

    /// Who sells each model, as JSON: `[{model, vendors: [{provider, upstream_id, price}]}]`
    /// (each price whole, with its date, source, tiers and off-peak hours).
    pub fn vendors_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.models()
                .iter()
                .map(|m| {
                    let vendors: Vec<serde_json::Value> = m
                        .vendors()
                        .map(|s| {
                            serde_json::json!({"provider": s.provider, "upstream_id": s.upstream_id,
                                "price": s.price})
                        })
                        .collect();
                    serde_json::json!({"model": m.id, "vendors": vendors})
                })
                .collect(),
        )
    }

    /// `Prices: USD per 1M tokens, as of 2025-09-29 (3 models), 2026-04-24 (1 model), …`
    fn price_footer(&self) -> String {
        let mut dates: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.models() {
            let d = if m.price.as_of.is_empty() {
                "undated"
            } else {
                m.price.as_of.as_str()
            };
            *dates.entry(d).or_default() += 1;
        }
        let mut line = String::from("Prices: USD per 1M tokens (list prices), as of ");
        if dates.is_empty() {
            line.push('-');
        }
        for (i, (date, n)) in dates.iter().enumerate() {
            if i > 0 {
                line.push_str(", ");
            }
            let plural = if *n == 1 { "" } else { "s" };
            let _ = write!(line, "{date} ({n} model{plural})");
        }
        line.push_str("; sources and estimates are noted per model in the JSON output.");
        line
    }
}

fn push_row<const N: usize>(
    out: &mut String,
    cells: &[String; N],
    widths: &[usize; N],
    right_aligned: &[bool; N],
) {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let w = widths.get(i).copied().unwrap_or(0);
        let right = right_aligned.get(i).copied().unwrap_or(false);
        if i > 0 {
            line.push_str("  ");
        }
        let _ = if right {
            write!(line, "{cell:>w$}")
        } else {
            write!(line, "{cell:<w$}")
        };
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// `1048576` → `1M`, `262144` → `256K`, `1000000` → `1M`, `204800` → `200K`, else the number.
fn format_tokens(n: u32) -> String {
    const KI: u32 = 1024;
    const MI: u32 = 1024 * 1024;
    match n {
        0 => "0".to_owned(),
        n if n % MI == 0 => format!("{}M", n / MI),
        n if n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n % KI == 0 => format!("{}K", n / KI),
        n if n % 1000 == 0 => format!("{}K", n / 1000),
        n => n.to_string(),
    }
}

/// At least two decimals, up to six, trailing zeros trimmed: `0.28`, `1.20`, `0.0028`.
fn format_usd(v: f64) -> String {
    let mut s = format!("{v:.6}");
    while s.ends_with('0') && s.len() > s.find('.').map_or(0, |p| p + 3) {
        s.pop();
    }
    s
}

/// A tier's prompt threshold as the vendor writes it: `128000` → `128K`, `32768` → `32K`.
fn threshold(n: u64) -> String {
    match n {
        0 => "0".to_owned(),
        n if n % 1000 == 0 => format!("{}K", n / 1000),
        n if n % 1024 == 0 => format!("{}K", n / 1024),
        n => n.to_string(),
    }
}

/// Comma-separated aliases fitting in `width` chars; the rest summarised as `(+N more)`.
fn format_aliases(aliases: &[String], width: usize) -> String {
    if aliases.is_empty() {
        return "-".to_owned();
    }
    let mut out = String::new();
    for (i, a) in aliases.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let left = aliases.len() - i - 1;
        let reserve = if left > 0 { " (+99 more)".len() } else { 0 };
        if i > 0 && out.chars().count() + sep.len() + a.chars().count() + reserve > width {
            let _ = write!(out, " (+{} more)", aliases.len() - i);
            return out;
        }
        out.push_str(sep);
        out.push_str(a);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_table_lists_every_model() {
        let cat = Catalog::builtin().unwrap();
        let table = cat.render_table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("ID"));
        for h in HEADERS {
            assert!(lines[0].contains(h), "header {h}");
        }
        // Header + one line per model + footer.
        assert_eq!(lines.len(), cat.models().len() + 2);
        for (m, line) in cat.models().iter().zip(&lines[1..]) {
            assert!(line.starts_with(&format!("{} ", m.id)), "{line}");
            assert!(line.contains(&m.provider), "{line}");
        }
        // Columns are aligned: PROVIDER starts at the same offset on every row.
        let col = lines[0].find("PROVIDER").unwrap();
        for (m, line) in cat.models().iter().zip(&lines[1..]) {
            assert_eq!(
                line.get(col..col + m.provider.len()),
                Some(m.provider.as_str())
            );
        }
        let footer = lines.last().unwrap();
        assert!(footer.starts_with("Prices: USD per 1M tokens"), "{footer}");
        assert!(footer.contains("2025-09-29"), "{footer}");
    }

    #[test]
    fn the_vendors_table_lists_each_seller_with_its_id_price_and_billing() {
        let cat = Catalog::builtin().unwrap();
        let table = cat.render_vendors_table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("MODEL") && lines[0].contains("UPSTREAM ID"));
        let sellers: usize = cat.models().iter().map(|m| m.vendors().count()).sum();
        assert_eq!(
            lines.len(),
            sellers + 2,
            "header, one row per seller, footer"
        );
        let at = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap();
        let own = at("deepseek-v3.2 ");
        assert!(lines[own].contains("deepseek-chat") && lines[own].contains("0.28"));
        let sf = lines[own + 1];
        assert!(sf.trim_start().starts_with("siliconflow"), "{sf}");
        assert!(
            sf.contains("deepseek-ai/DeepSeek-V3.2") && sf.contains("0.135"),
            "{sf}"
        );
        let flash = lines[at("deepseek-v4-flash ")];
        assert!(
            flash.contains("off-peak 0.07/0.0014/0.14 outside 01:00-04:00 06:00-10:00 (weekdays)"),
            "{flash}"
        );
        let plus = lines[at("qwen-plus ")];
        assert!(
            plus.contains(">128K 0.333/0.083/2.778") && plus.contains("thinking out 1.111"),
            "{plus}"
        );
        let json = cat.vendors_json();
        let v32 = json
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == "deepseek-v3.2")
            .unwrap();
        assert_eq!(v32["vendors"][2]["provider"], "openrouter");
        assert!(
            v32["vendors"][2]["price"]["source"]
                .as_str()
                .unwrap()
                .contains("models.dev")
        );
    }

    #[test]
    fn numbers_are_compact() {
        assert_eq!(format_tokens(1_048_576), "1M");
        assert_eq!(format_tokens(1_000_000), "1M");
        assert_eq!(format_tokens(262_144), "256K");
        assert_eq!(format_tokens(204_800), "200K");
        assert_eq!(format_tokens(393_216), "384K");
        assert_eq!(format_tokens(12_345), "12345");
        assert_eq!(format_usd(0.28), "0.28");
        assert_eq!(format_usd(1.2), "1.20");
        assert_eq!(format_usd(0.0028), "0.0028");
        assert_eq!(format_usd(0.003625), "0.003625");
        assert_eq!(format_usd(0.0), "0.00");
        assert_eq!(format_usd(15.0), "15.00");
    }

    #[test]
    fn long_alias_lists_are_truncated() {
        let aliases: Vec<String> = (0..10).map(|i| format!("alias-number-{i}")).collect();
        let s = format_aliases(&aliases, 40);
        assert!(s.chars().count() <= 40, "{s}");
        assert!(s.ends_with("more)"), "{s}");
        assert!(s.starts_with("alias-number-0"), "{s}");
        let s = format_aliases(&aliases[..3], 60);
        assert_eq!(s, "alias-number-0, alias-number-1, alias-number-2");
        assert_eq!(format_aliases(&["a".into(), "b".into()], 40), "a, b");
        assert_eq!(format_aliases(&[], 40), "-");
    }
}
