//! Plain-text table for `switchyard models`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::catalog::Catalog;

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
        push_row(&mut out, &HEADERS.map(str::to_owned), &widths);
        for row in &rows {
            push_row(&mut out, row, &widths);
        }
        out.push_str(&self.price_footer());
        out.push('\n');
        out
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

fn push_row(out: &mut String, cells: &[String; 9], widths: &[usize; 9]) {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let w = widths.get(i).copied().unwrap_or(0);
        let right = RIGHT_ALIGNED.get(i).copied().unwrap_or(false);
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
