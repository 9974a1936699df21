//! What a Switchyard target says each answer cost, read exactly.
//!
//! Switchyard puts the cost of every non-streamed answer in the header
//! `x-switchyard-cost-usd: 0.000012345` (dollars with nine decimals, i.e. exact
//! nano-dollars) and, on a stream, in an SSE comment before `data: [DONE]`:
//! `: x-switchyard-cost-usd 0.000012345`. Other targets send neither, and then no cost
//! is reported.
//!
//! The text comes from a partly trusted server, so it is parsed without floats into
//! integer nano-dollars, with checked arithmetic and a length bound; anything else — a
//! sign, an exponent, more than nine decimals, more than [`MAX_COST_NANOS`] — is
//! [`CostRead::Unreadable`]: counted, never trusted.

/// The response header (non-streamed answers, and held streams) carrying the cost.
pub const COST_HEADER: &str = "x-switchyard-cost-usd";

/// Nano-dollars in one dollar.
pub const NANOS_PER_USD: u64 = 1_000_000_000;

/// The most one request may plausibly cost: $1,000. Beyond it the value is refused.
pub const MAX_COST_NANOS: u64 = 1_000 * NANOS_PER_USD;

/// Seconds in the month that `$/month` figures assume: 30 days of 86,400 s. A month at
/// the offered (or achieved) rate is `rate × SECONDS_PER_MONTH` requests.
pub const SECONDS_PER_MONTH: f64 = 86_400.0 * 30.0;

/// Longest cost text looked at (`1000.000000000` is 14 bytes; leading zeros allowed).
const MAX_COST_TEXT: usize = 32;

/// Decimals of a nano-dollar amount.
const MAX_DECIMALS: usize = 9;

/// What one response said about its cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CostRead {
    /// It said nothing (not Switchyard, or a failure before any answer).
    #[default]
    Absent,
    /// It carried a cost that could not be read (malformed or absurd).
    Unreadable,
    /// Its cost, in nano-dollars.
    Nanos(u64),
}

impl CostRead {
    /// Read a cost text (`0.000012345`).
    pub fn parse(text: &str) -> CostRead {
        parse_usd_nanos(text).map_or(CostRead::Unreadable, CostRead::Nanos)
    }

    /// Read the header value, if the response had one.
    pub fn from_header(value: Option<&http::HeaderValue>) -> CostRead {
        match value.map(http::HeaderValue::to_str) {
            None => CostRead::Absent,
            Some(Ok(text)) => CostRead::parse(text),
            Some(Err(_)) => CostRead::Unreadable,
        }
    }

    /// Read an SSE comment (its text after the colon, leading blanks removed):
    /// `Absent` unless it is the cost comment.
    pub fn from_comment(comment: &str) -> CostRead {
        match comment.strip_prefix(COST_HEADER) {
            Some(rest) if rest.starts_with([' ', '\t']) => CostRead::parse(rest),
            _ => CostRead::Absent,
        }
    }

    /// This reading if it holds a cost, else `other`'s; unreadable if either was, and
    /// neither holds a cost. Used so a stream's comment wins over its header (one cost
    /// per request, never a sum).
    pub fn or(self, other: CostRead) -> CostRead {
        match (self, other) {
            (CostRead::Nanos(n), _) | (_, CostRead::Nanos(n)) => CostRead::Nanos(n),
            (CostRead::Unreadable, _) | (_, CostRead::Unreadable) => CostRead::Unreadable,
            _ => CostRead::Absent,
        }
    }

    /// The cost, when one was read.
    pub fn nanos(self) -> Option<u64> {
        match self {
            CostRead::Nanos(n) => Some(n),
            _ => None,
        }
    }
}

/// Dollars written as digits with an optional point and at most nine decimals
/// (`0.000012345`, `3`, `0.5`), as nano-dollars; `None` for anything else or above
/// [`MAX_COST_NANOS`]. Surrounding blanks are allowed.
pub fn parse_usd_nanos(text: &str) -> Option<u64> {
    let t = text.trim_matches([' ', '\t']);
    if t.is_empty() || t.len() > MAX_COST_TEXT {
        return None;
    }
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t, "0"),
    };
    if frac.is_empty() || frac.len() > MAX_DECIMALS {
        return None;
    }
    let dollars = digits(whole)?;
    let scale = 10u64.checked_pow(u32::try_from(MAX_DECIMALS - frac.len()).ok()?)?;
    let frac_nanos = digits(frac)?.checked_mul(scale)?;
    let nanos = dollars
        .checked_mul(NANOS_PER_USD)?
        .checked_add(frac_nanos)?;
    (nanos <= MAX_COST_NANOS).then_some(nanos)
}

/// Dollars for reading, to about four significant digits (`0.01235`, `12.35`, `1235`);
/// `-` when not a number.
pub fn usd(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 1.0 || a == 0.0 {
        format!("{v:.2}")
    } else {
        // Four significant digits, never more than nine decimals (a nano-dollar).
        let decimals = (3 - a.log10().floor() as i32).clamp(2, 9) as usize;
        format!("{v:.decimals$}")
    }
}

/// A non-empty run of ASCII digits as a number, `None` on anything else or overflow.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_texts_become_exact_nano_dollars() {
        assert_eq!(parse_usd_nanos("0.000012345"), Some(12_345));
        assert_eq!(parse_usd_nanos("3.000000001"), Some(3_000_000_001));
        assert_eq!(parse_usd_nanos("1"), Some(1_000_000_000));
        assert_eq!(parse_usd_nanos("0.5"), Some(500_000_000));
        assert_eq!(parse_usd_nanos("0.000000000"), Some(0));
        assert_eq!(parse_usd_nanos(" 1000.000000000 "), Some(MAX_COST_NANOS));
        assert_eq!(parse_usd_nanos("0007.25"), Some(7_250_000_000));
    }

    #[test]
    fn malformed_or_absurd_costs_are_refused() {
        for bad in [
            "-1",
            "+1",
            "1e3",
            "0.0000000001",
            "abc",
            "",
            " ",
            "1000.000000001",
            "18446744073709551616",
            "99999999999999999999.5",
            "1.",
            ".5",
            "1.2.3",
            "1,5",
            "NaN",
            "inf",
            "0x10",
            "١",
            "0.00000000000000000000000000000001",
        ] {
            assert_eq!(parse_usd_nanos(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn header_values_are_read_or_flagged() {
        let v = |s: &str| http::HeaderValue::from_str(s).unwrap();
        assert_eq!(
            CostRead::from_header(Some(&v("0.000000042"))),
            CostRead::Nanos(42)
        );
        assert_eq!(CostRead::from_header(Some(&v("-3"))), CostRead::Unreadable);
        let opaque = http::HeaderValue::from_bytes(b"0.5\xff").unwrap();
        assert_eq!(CostRead::from_header(Some(&opaque)), CostRead::Unreadable);
        assert_eq!(CostRead::from_header(None), CostRead::Absent);
    }

    #[test]
    fn only_the_cost_comment_carries_a_cost() {
        assert_eq!(
            CostRead::from_comment("x-switchyard-cost-usd 0.000012345"),
            CostRead::Nanos(12_345)
        );
        assert_eq!(
            CostRead::from_comment("x-switchyard-cost-usd lots"),
            CostRead::Unreadable
        );
        for other in [
            "keep-alive",
            "",
            "x-switchyard-cost-usdx 1",
            "x-switchyard-cost-usd",
        ] {
            assert_eq!(CostRead::from_comment(other), CostRead::Absent, "{other:?}");
        }
    }

    #[test]
    fn dollars_keep_four_significant_digits() {
        assert_eq!(usd(0.000012345), "0.00001234");
        assert_eq!(usd(0.5), "0.5000");
        assert_eq!(usd(12.345), "12.35");
        assert_eq!(usd(0.0), "0.00");
        assert_eq!(usd(25_920.0), "25920");
        assert_eq!(usd(1e-12), "0.000000000");
        assert_eq!(usd(f64::NAN), "-");
    }

    #[test]
    fn a_readable_cost_wins_and_two_are_never_added() {
        let (a, b) = (CostRead::Nanos(5), CostRead::Nanos(7));
        assert_eq!(a.or(b), a, "the first (the stream's comment) wins");
        assert_eq!(CostRead::Unreadable.or(b), b);
        assert_eq!(CostRead::Absent.or(b), b);
        assert_eq!(
            CostRead::Absent.or(CostRead::Unreadable),
            CostRead::Unreadable
        );
        assert_eq!(CostRead::Absent.or(CostRead::Absent), CostRead::Absent);
        assert_eq!(b.nanos(), Some(7));
        assert_eq!(CostRead::Unreadable.nanos(), None);
    }
}
