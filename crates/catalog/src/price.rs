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
    /// USD per 1M completion tokens of an answer that thought, where the vendor bills
    /// thinking output apart (DashScope's Qwen); `None`: `output` either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_output: Option<f64>,
    /// Prices for longer prompts (DashScope's context tiers), by rising threshold: a
    /// request whose prompt is over a tier's `above_prompt_tokens` is billed at it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<PriceTier>,
    /// Prices outside the vendor's peak hours (DeepSeek's off-peak, half price): the
    /// prices above apply inside them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_peak: Option<OffPeak>,
}

/// The prices of prompts longer than `above_prompt_tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTier {
    /// The tier starts past this many prompt tokens.
    pub above_prompt_tokens: u64,
    /// USD per 1M uncached prompt tokens.
    pub input: f64,
    /// USD per 1M cached prompt tokens.
    pub cached_input: f64,
    /// USD per 1M completion tokens.
    pub output: f64,
    /// USD per 1M completion tokens of an answer that thought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_output: Option<f64>,
}

/// Cheaper prices outside the vendor's peak hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffPeak {
    /// Peak windows, UTC, `"HH:MM-HH:MM"` (a window may run past midnight).
    pub peak_hours_utc: Vec<String>,
    /// Whether peak hours are on weekdays only (weekends are off-peak all day).
    #[serde(default)]
    pub weekdays_only: bool,
    /// USD per 1M uncached prompt tokens off-peak.
    pub input: f64,
    /// USD per 1M cached prompt tokens off-peak.
    pub cached_input: f64,
    /// USD per 1M completion tokens off-peak.
    pub output: f64,
}

/// What a request used, and when, for its bill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Billed {
    /// Prompt tokens, cached ones included.
    pub prompt: u64,
    /// Of which read from the vendor's cache.
    pub cached_prompt: u64,
    /// Completion tokens, reasoning included.
    pub completion: u64,
    /// Of which reasoning (non-zero: the answer thought).
    pub reasoning: u64,
    /// When it was served, seconds since the Unix epoch (UTC).
    pub at_unix_secs: u64,
}

/// Three rates, USD per 1M tokens.
#[derive(Debug, Clone, Copy)]
struct Rates {
    input: f64,
    cached_input: f64,
    output: f64,
}

/// `YYYY-MM-DD` with a plausible month and day.
pub(crate) fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    matches!(
        (digits(0..4), digits(5..7), digits(8..10)),
        (Some(_), Some(1..=12), Some(1..=31))
    )
}

/// Minutes since midnight of `"HH:MM"`, if it is one.
fn minute_of(hh_mm: &str) -> Option<u32> {
    let (h, m) = hh_mm.trim().split_once(':')?;
    let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
}

/// `"HH:MM-HH:MM"` as (from, to) minutes, if it is one.
pub(crate) fn window_of(s: &str) -> Option<(u32, u32)> {
    let (from, to) = s.split_once('-')?;
    Some((minute_of(from)?, minute_of(to)?))
}

impl OffPeak {
    /// The share of a week's minutes that are peak hours (windows per day, on 5 days or
    /// 7): what a traffic spread evenly over the week pays peak prices for.
    pub fn peak_share_of_week(&self) -> f64 {
        let per_day: u32 = self
            .peak_hours_utc
            .iter()
            .filter_map(|w| window_of(w))
            .map(|(from, to)| {
                if from <= to {
                    to - from
                } else {
                    1440 - from + to
                }
            })
            .sum::<u32>()
            .min(1440);
        let days = if self.weekdays_only { 5.0 } else { 7.0 };
        f64::from(per_day) * days / (7.0 * 1440.0)
    }

    /// Whether `at_unix_secs` falls in a peak window.
    fn is_peak(&self, at_unix_secs: u64) -> bool {
        let days = at_unix_secs / 86_400;
        // 1970-01-01 was a Thursday: day 0 is Thursday, so Saturday is 2 and Sunday 3.
        let weekend = matches!(days % 7, 2 | 3);
        if self.weekdays_only && weekend {
            return false;
        }
        let minute = u32::try_from((at_unix_secs % 86_400) / 60).unwrap_or(0);
        self.peak_hours_utc
            .iter()
            .filter_map(|w| window_of(w))
            .any(|(from, to)| {
                if from <= to {
                    (from..to).contains(&minute)
                } else {
                    minute >= from || minute < to
                }
            })
    }
}

/// Nano-dollars (1e-9 USD) per US dollar.
pub const NANOS_PER_USD: u64 = 1_000_000_000;

/// Exact cost in nano-dollars at `r` (see [`Price::cost_nanos`]).
fn exact_nanos(r: Rates, prompt: u64, cached_prompt: u64, completion: u64) -> u64 {
    let cached = cached_prompt.min(prompt);
    let uncached = prompt - cached;
    // tokens × µUSD per 1M tokens = pico-dollars (1e-12 USD).
    let picos = u128::from(uncached) * micros_per_million(r.input)
        + u128::from(cached) * micros_per_million(r.cached_input)
        + u128::from(completion) * micros_per_million(r.output);
    u64::try_from((picos + 500) / 1000).unwrap_or(u64::MAX)
}

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
    /// What is wrong with the price, if anything: a rate that is negative or not a
    /// finite number, cached input dearer than input, a bad `as_of` date, tiers not in
    /// rising order, a peak window that is not `"HH:MM-HH:MM"`.
    pub fn problem(&self) -> Option<String> {
        let mut rates = vec![
            ("input", self.input),
            ("cached_input", self.cached_input),
            ("output", self.output),
        ];
        rates.extend(self.thinking_output.map(|v| ("thinking_output", v)));
        for t in &self.tiers {
            rates.extend([
                ("tiers.input", t.input),
                ("tiers.cached_input", t.cached_input),
                ("tiers.output", t.output),
            ]);
            rates.extend(t.thinking_output.map(|v| ("tiers.thinking_output", v)));
        }
        if let Some(o) = &self.off_peak {
            rates.extend([
                ("off_peak.input", o.input),
                ("off_peak.cached_input", o.cached_input),
                ("off_peak.output", o.output),
            ]);
        }
        if let Some((field, v)) = rates.iter().find(|(_, v)| !v.is_finite() || *v < 0.0) {
            return Some(format!("price.{field} ({v}) must be a finite number >= 0"));
        }
        if self.cached_input > self.input {
            return Some(format!(
                "price.cached_input ({}) exceeds price.input ({})",
                self.cached_input, self.input
            ));
        }
        if !self.as_of.is_empty() && !is_iso_date(&self.as_of) {
            return Some(format!(
                "price.as_of '{}' is not a YYYY-MM-DD date",
                self.as_of
            ));
        }
        if self
            .tiers
            .windows(2)
            .any(|w| w[0].above_prompt_tokens >= w[1].above_prompt_tokens)
        {
            return Some("price.tiers must be in rising order of above_prompt_tokens".into());
        }
        let bad_window = self
            .off_peak
            .iter()
            .flat_map(|o| &o.peak_hours_utc)
            .find(|w| window_of(w).is_none());
        bad_window
            .map(|w| format!("price.off_peak.peak_hours_utc '{w}' is not \"HH:MM-HH:MM\" (UTC)"))
    }

    /// The rates `b` is billed at: its prompt's tier, off-peak prices outside peak hours,
    /// the thinking output price when it thought.
    fn rates(&self, b: &Billed) -> Rates {
        let tier = self
            .tiers
            .iter()
            .rfind(|t| b.prompt > t.above_prompt_tokens);
        let thought = b.reasoning > 0;
        let mut rates = match tier {
            Some(t) => Rates {
                input: t.input,
                cached_input: t.cached_input,
                output: t.thinking_output.filter(|_| thought).unwrap_or(t.output),
            },
            None => Rates {
                input: self.input,
                cached_input: self.cached_input,
                output: self
                    .thinking_output
                    .filter(|_| thought)
                    .unwrap_or(self.output),
            },
        };
        if let Some(off) = &self.off_peak
            && !off.is_peak(b.at_unix_secs)
        {
            rates = Rates {
                input: off.input,
                cached_input: off.cached_input,
                output: off.output,
            };
        }
        rates
    }

    /// Exact cost of `b` in nano-dollars at the prices of its tier, time and thinking
    /// (see [`Price::cost_nanos`] for the arithmetic).
    pub fn bill_nanos(&self, b: &Billed) -> u64 {
        exact_nanos(self.rates(b), b.prompt, b.cached_prompt, b.completion)
    }

    /// The cost of a request of `prompt` tokens (`cached_prompt` of them cached) and
    /// `completion` output, averaged over a week of evenly spread traffic: its prompt's
    /// tier, at peak prices for the peak share of the week and off-peak prices for the
    /// rest (no thinking price: a plan does not know which answers think). What
    /// `switchyard plan` prices a workload at.
    pub fn week_average_nanos(&self, prompt: u64, cached_prompt: u64, completion: u64) -> u64 {
        let at = |at_unix_secs| {
            self.bill_nanos(&Billed {
                prompt,
                cached_prompt,
                completion,
                reasoning: 0,
                at_unix_secs,
            })
        };
        let Some(off) = &self.off_peak else {
            return at(0);
        };
        let peak = exact_nanos(self.tier_rates(prompt), prompt, cached_prompt, completion);
        let off_peak = exact_nanos(
            Rates {
                input: off.input,
                cached_input: off.cached_input,
                output: off.output,
            },
            prompt,
            cached_prompt,
            completion,
        );
        let share = off.peak_share_of_week();
        (peak as f64 * share + off_peak as f64 * (1.0 - share)).round() as u64
    }

    /// The rates of the tier a prompt of `prompt` tokens falls in (no thinking price).
    fn tier_rates(&self, prompt: u64) -> Rates {
        match self.tiers.iter().rfind(|t| prompt > t.above_prompt_tokens) {
            Some(t) => Rates {
                input: t.input,
                cached_input: t.cached_input,
                output: t.output,
            },
            None => Rates {
                input: self.input,
                cached_input: self.cached_input,
                output: self.output,
            },
        }
    }

    /// The most a request of `prompt` tokens and up to `completion` output tokens may
    /// cost, whenever it is served: its prompt's tier, peak prices, and the thinking
    /// output price when the model may think. What a budget reserves.
    pub fn max_cost_nanos(&self, prompt: u64, completion: u64, may_think: bool) -> u64 {
        let peak = Billed {
            prompt,
            completion,
            reasoning: u64::from(may_think),
            ..Billed::default()
        };
        let tier = self.tiers.iter().rfind(|t| prompt > t.above_prompt_tokens);
        let (input, output) = match tier {
            Some(t) => (
                t.input,
                t.thinking_output.filter(|_| may_think).unwrap_or(t.output),
            ),
            None => (
                self.input,
                self.thinking_output
                    .filter(|_| may_think)
                    .unwrap_or(self.output),
            ),
        };
        // Peak hours cost the listed prices; off-peak ones are cheaper, never dearer.
        let rates = Rates {
            input,
            cached_input: input,
            output,
        };
        exact_nanos(rates, peak.prompt, 0, peak.completion)
    }

    /// Exact cost of one request in nano-dollars (1e-9 USD), computed in integers:
    /// uncached prompt × input + cached prompt × cached input + completion (reasoning
    /// included) × output, with prices taken as whole micro-dollars per million tokens.
    /// The one rounding is to the nearest nano-dollar, at the end, so sums of many
    /// requests drift by less than half a nano-dollar each.
    pub fn cost_nanos(&self, prompt: u64, cached_prompt: u64, completion: u64) -> u64 {
        let base = Rates {
            input: self.input,
            cached_input: self.cached_input,
            output: self.output,
        };
        exact_nanos(base, prompt, cached_prompt, completion)
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
            thinking_output: None,
            tiers: Vec::new(),
            off_peak: None,
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

    /// 2026-12-07 is a Monday; 2026-12-05 a Saturday. Times as seconds since the epoch.
    const MONDAY_0230_UTC: u64 = 1_796_610_600;
    const MONDAY_0500_UTC: u64 = 1_796_619_600;
    const SATURDAY_0230_UTC: u64 = 1_796_437_800;

    fn deepseek() -> Price {
        Price {
            input: 0.14,
            cached_input: 0.0028,
            output: 0.28,
            off_peak: Some(OffPeak {
                peak_hours_utc: vec!["01:00-04:00".into(), "06:00-10:00".into()],
                weekdays_only: true,
                input: 0.07,
                cached_input: 0.0014,
                output: 0.14,
            }),
            ..price()
        }
    }

    /// CNY per 1M tokens as the catalog writes USD: at 7.2 CNY/USD, six decimals.
    fn usd(cny: f64) -> f64 {
        (cny / 7.2 * 1e6).round() / 1e6
    }

    fn qwen_plus() -> Price {
        // USD per 1M at 7.2 CNY/USD: <=128K 0.8/2 (8 thinking), 128K-256K 2.4/20 (24),
        // 256K-1M 4.8/48 (64).
        let usd = usd;
        Price {
            input: usd(0.8),
            cached_input: usd(0.2),
            output: usd(2.0),
            thinking_output: Some(usd(8.0)),
            tiers: vec![
                PriceTier {
                    above_prompt_tokens: 128_000,
                    input: usd(2.4),
                    cached_input: usd(0.6),
                    output: usd(20.0),
                    thinking_output: Some(usd(24.0)),
                },
                PriceTier {
                    above_prompt_tokens: 256_000,
                    input: usd(4.8),
                    cached_input: usd(1.2),
                    output: usd(48.0),
                    thinking_output: Some(usd(64.0)),
                },
            ],
            ..price()
        }
    }

    #[test]
    fn off_peak_hours_bill_half_and_weekends_are_off_peak_all_day() {
        let p = deepseek();
        let b = |at| Billed {
            prompt: 10_000,
            cached_prompt: 4_000,
            completion: 2_000,
            reasoning: 0,
            at_unix_secs: at,
        };
        // Peak, Monday 02:30: 6,000 × 0.14 + 4,000 × 0.0028 + 2,000 × 0.28 = 840,000 +
        // 11,200 + 560,000 n$.
        assert_eq!(p.bill_nanos(&b(MONDAY_0230_UTC)), 1_411_200);
        // Off-peak, Monday 05:00 (between the two windows), and Saturday 02:30: half.
        assert_eq!(p.bill_nanos(&b(MONDAY_0500_UTC)), 705_600);
        assert_eq!(p.bill_nanos(&b(SATURDAY_0230_UTC)), 705_600);
        // A budget reserves the peak price.
        assert_eq!(p.max_cost_nanos(10_000, 2_000, false), 1_400_000 + 560_000);
    }

    #[test]
    fn context_tiers_and_thinking_output_bill_the_tier_the_prompt_falls_in() {
        let p = qwen_plus();
        let b = |prompt, reasoning| Billed {
            prompt,
            cached_prompt: 0,
            completion: 1_000,
            reasoning,
            at_unix_secs: MONDAY_0230_UTC,
        };
        // tokens × USD per 1M × 1e3 = nano-dollars: 100,000 prompt tokens (<=128K) at
        // ¥0.8/M and 1,000 output at ¥2/M is 100,000 × 0.111111 + 1,000 × 0.277778
        // = 11,111,100 + 277,778 n$.
        let nanos = |input_cny: f64, output_cny: f64, prompt: f64| {
            ((prompt * usd(input_cny) + 1_000.0 * usd(output_cny)) * 1e3).round() as u64
        };
        assert_eq!(nanos(0.8, 2.0, 100_000.0), 11_388_878);
        assert_eq!(p.bill_nanos(&b(100_000, 0)), nanos(0.8, 2.0, 100_000.0));
        // Thinking: the same prompt, output at ¥8/M.
        assert_eq!(p.bill_nanos(&b(100_000, 300)), nanos(0.8, 8.0, 100_000.0));
        // 200,000 tokens: the 128K-256K tier, ¥2.4 in, ¥20 out (¥24 thinking).
        assert_eq!(p.bill_nanos(&b(200_000, 0)), nanos(2.4, 20.0, 200_000.0));
        assert_eq!(p.bill_nanos(&b(200_000, 1)), nanos(2.4, 24.0, 200_000.0));
        // 300,000 tokens: the last tier.
        assert_eq!(p.bill_nanos(&b(300_000, 0)), nanos(4.8, 48.0, 300_000.0));
        // Exactly at a threshold is still the lower tier.
        assert_eq!(p.bill_nanos(&b(128_000, 0)), nanos(0.8, 2.0, 128_000.0));
        // A budget reserves the tier's thinking price when the model may think.
        assert_eq!(
            p.max_cost_nanos(200_000, 1_000, true),
            nanos(2.4, 24.0, 200_000.0)
        );
        // Without tiers, off-peak or thinking prices, the bill is the base cost.
        let plain = price();
        let b = b(1_234, 7);
        assert_eq!(plain.bill_nanos(&b), plain.cost_nanos(1_234, 0, 1_000));
    }

    #[test]
    fn peak_windows_parse_and_may_run_past_midnight() {
        assert_eq!(window_of("01:00-04:00"), Some((60, 240)));
        assert_eq!(window_of("22:30-02:00"), Some((1350, 120)));
        assert_eq!(window_of("25:00-26:00"), None);
        assert_eq!(window_of("1-2"), None);
        let night = OffPeak {
            peak_hours_utc: vec!["22:30-02:00".into()],
            weekdays_only: false,
            input: 0.0,
            cached_input: 0.0,
            output: 0.0,
        };
        assert!(night.is_peak(MONDAY_0230_UTC - 3_600)); // 01:30
        assert!(!night.is_peak(MONDAY_0230_UTC)); // 02:30
    }

    #[test]
    fn a_price_names_what_is_wrong_with_it() {
        assert_eq!(deepseek().problem(), None);
        assert_eq!(qwen_plus().problem(), None);
        let mut p = qwen_plus();
        p.tiers.reverse();
        assert!(p.problem().unwrap().contains("rising order"));
        let mut p = deepseek();
        if let Some(o) = p.off_peak.as_mut() {
            o.peak_hours_utc = vec!["1am-4am".into()];
        }
        assert!(p.problem().unwrap().contains("1am-4am"));
        let p = Price {
            thinking_output: Some(-1.0),
            ..price()
        };
        assert!(p.problem().unwrap().contains("thinking_output"));
    }

    #[test]
    fn a_week_of_even_traffic_pays_peak_prices_for_the_peak_share_only() {
        let p = deepseek();
        // 7 peak hours on 5 days of 7: 2,100 of 10,080 minutes, 20.8%.
        let share = p.off_peak.as_ref().unwrap().peak_share_of_week();
        assert!((share - 2_100.0 / 10_080.0).abs() < 1e-12, "{share}");
        // 10,000 uncached prompt + 2,000 out: peak 1,960,000 n$, off-peak 980,000 n$:
        // 0.2083 × 1,960,000 + 0.7917 × 980,000 = 1,184,167 n$.
        assert_eq!(p.week_average_nanos(10_000, 0, 2_000), 1_184_167);
        // No off-peak: the tier's price.
        let q = qwen_plus();
        assert_eq!(
            q.week_average_nanos(200_000, 0, 1_000),
            q.bill_nanos(&Billed {
                prompt: 200_000,
                completion: 1_000,
                ..Billed::default()
            })
        );
    }
}
