//! List prices and the cost of one request.

use serde::{Deserialize, Serialize};

/// A model's list price, in US dollars per 1 million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per 1M prompt tokens that miss the provider's prompt cache.
    pub input: f64,
    /// USD per 1M prompt tokens served from the provider's prompt cache.
    pub cached_input: f64,
    /// USD per 1M completion tokens (reasoning tokens are billed as completion tokens).
    pub output: f64,
    /// The date the figure applies from or was observed, `YYYY-MM-DD` (empty if unknown).
    #[serde(default)]
    pub as_of: String,
    /// Where the figure comes from: a URL, a document, or a note such as "estimate; …".
    #[serde(default)]
    pub source: String,
}

/// Nano-dollars (1e-9 USD) per US dollar.
pub const NANOS_PER_USD: u64 = 1_000_000_000;

/// USD per million tokens → micro-dollars per million tokens, the integer the exact cost
/// is computed from (list prices have at most six decimals).
fn micros_per_million(usd_per_million: f64) -> u128 {
    if usd_per_million.is_finite() && usd_per_million > 0.0 {
        (usd_per_million * 1e6).round() as u128
    } else {
        0
    }
}

impl Price {
    /// Exact cost of one request in nano-dollars (1e-9 USD), computed in integers:
    /// uncached prompt × input + cached prompt × cached input + completion (reasoning
    /// included) × output, with prices taken as whole micro-dollars per million tokens.
    /// The one rounding is to the nearest nano-dollar, at the end, so sums of many
    /// requests drift by less than half a nano-dollar each.
    pub fn cost_nanos(&self, prompt: u64, cached_prompt: u64, completion: u64) -> u64 {
        let cached = cached_prompt.min(prompt);
        let uncached = prompt - cached;
        // tokens × µUSD per 1M tokens = pico-dollars (1e-12 USD).
        let picos = u128::from(uncached) * micros_per_million(self.input)
            + u128::from(cached) * micros_per_million(self.cached_input)
            + u128::from(completion) * micros_per_million(self.output);
        u64::try_from((picos + 500) / 1000).unwrap_or(u64::MAX)
    }

    /// Cost in USD of one request.
    ///
    /// `prompt` is the total prompt tokens; `cached_prompt` is the part of `prompt` served from
    /// the cache (clamped to `prompt`), so `prompt - cached_prompt` tokens bill at
    /// [`input`](Self::input) and `cached_prompt` at [`cached_input`](Self::cached_input).
    /// `completion` includes any reasoning tokens, all billed at [`output`](Self::output).
    pub fn cost_usd(&self, prompt: u64, cached_prompt: u64, completion: u64) -> f64 {
        let cached = cached_prompt.min(prompt);
        let uncached = prompt - cached;
        (uncached as f64 * self.input
            + cached as f64 * self.cached_input
            + completion as f64 * self.output)
            / 1_000_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price() -> Price {
        Price {
            input: 0.28,
            cached_input: 0.028,
            output: 0.42,
            as_of: "2025-09-29".into(),
            source: "test".into(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn price_cost_counts_cached_and_reasoning_tokens_correctly() {
        let p = price();
        // 1M prompt tokens of which 400k cached; 200k completion of which (say) 150k reasoning:
        // reasoning is part of completion, so it is not added again.
        let cost = p.cost_usd(1_000_000, 400_000, 200_000);
        let expected = 0.6 * 0.28 + 0.4 * 0.028 + 0.2 * 0.42;
        assert!(close(cost, expected), "{cost} != {expected}");
    }

    #[test]
    fn exact_cost_in_nanos_matches_worked_examples() {
        let p = price();
        // 1,234 uncached prompt tokens at $0.28/M = 345,520 n$; 766 cached at $0.028/M =
        // 21,448 n$; 321 completion at $0.42/M = 134,820 n$.
        assert_eq!(p.cost_nanos(2_000, 766, 321), 345_520 + 21_448 + 134_820);
        // One cached token at $0.028/M is 28 n$: not lost to rounding.
        assert_eq!(p.cost_nanos(1, 1, 0), 28);
        // A price with six decimals stays exact: 3 tokens at $0.000001/M = 0.003 n$ → 0.
        let tiny = Price {
            input: 0.000_001,
            ..price()
        };
        assert_eq!(tiny.cost_nanos(3, 0, 0), 0);
        assert_eq!(tiny.cost_nanos(600, 0, 0), 1, "0.6 n$ rounds to 1");
        // A million requests of one cached token sum exactly, with no float drift.
        let total: u64 = (0..1_000_000).map(|_| p.cost_nanos(1, 1, 0)).sum();
        assert_eq!(total, 28_000_000);
    }

    #[test]
    fn exact_cost_agrees_with_the_float_cost() {
        let p = price();
        for (a, b, c) in [(1_000_000, 400_000, 200_000), (17, 3, 999), (0, 0, 0)] {
            let nanos = p.cost_nanos(a, b, c) as f64 / NANOS_PER_USD as f64;
            assert!((nanos - p.cost_usd(a, b, c)).abs() < 1e-9, "{a} {b} {c}");
        }
    }

    #[test]
    fn price_cost_with_no_cache_bills_everything_at_input_rate() {
        let p = price();
        assert!(close(p.cost_usd(2_000_000, 0, 0), 0.56));
        assert!(close(p.cost_usd(0, 0, 1_000_000), 0.42));
        assert!(close(p.cost_usd(0, 0, 0), 0.0));
    }

    #[test]
    fn price_cost_clamps_cached_tokens_to_prompt_tokens() {
        let p = price();
        // A vendor reporting more cached than prompt tokens must not yield a negative count.
        assert!(close(p.cost_usd(100, 500, 0), p.cost_usd(100, 100, 0)));
        assert!(close(p.cost_usd(1_000_000, 2_000_000, 0), 0.028));
    }

    #[test]
    fn price_date_and_source_default_to_empty_when_omitted() {
        let p: Price = toml::from_str("input = 1.0\ncached_input = 0.5\noutput = 2.0").unwrap();
        assert_eq!(p.as_of, "");
        assert_eq!(p.source, "");
        assert!(
            toml::from_str::<Price>("input = 1.0\ncached_input = 0.5\noutput = 2.0\nbogus = 1")
                .is_err()
        );
    }
}
