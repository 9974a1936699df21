//! The latency model: per-request random streams and the delays drawn from them.
//!
//! Every request gets its own RNG, derived from the configured seed and a request counter,
//! so a run is reproducible request by request. From it we draw:
//! - time to first token: log-normal with median `typical_ttft_ms` and sigma
//!   [`TTFT_SIGMA`];
//! - decode rate: `typical_tokens_per_sec` times a uniform factor in ±[`RATE_JITTER`].
//!
//! Without jitter (`SimConfig::jitter` false) every request gets exactly
//! `typical_ttft_ms` and `typical_tokens_per_sec`, so a response with `n` completion
//! tokens (per choice) takes `ttft + n / rate` seconds, scaled.
//!
//! Delays are multiplied by the time scale; a scale of 0 gives zero delays. The draws
//! always happen, so the text of a response depends neither on the time scale nor on
//! jitter.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Sigma of the log-normal time to first token.
pub(crate) const TTFT_SIGMA: f64 = 0.3;
/// Relative spread of the decode rate around the model's typical rate.
pub(crate) const RATE_JITTER: f64 = 0.15;
/// Interval of DeepSeek's keep-alives while a request waits (before scaling).
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(500);
/// Latency profile of models the catalog does not know (the generic provider).
pub(crate) const DEFAULT_PROFILE: Profile = Profile {
    ttft_ms: 800,
    tokens_per_sec: 50,
};
/// Longest single delay the model will produce, whatever the time scale.
const MAX_DELAY_SECS: f64 = 3600.0;

/// A model's typical latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Profile {
    /// Median time to first token, in milliseconds.
    pub ttft_ms: u32,
    /// Typical decode speed, tokens per second.
    pub tokens_per_sec: u32,
}

/// The delays of one request, already multiplied by the time scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Timing {
    /// Wait before the first token.
    pub ttft: Duration,
    /// Wait between two tokens.
    pub per_token: Duration,
}

/// A time scale we can use: finite and positive, else 0 (no delays).
pub(crate) fn sanitize_scale(scale: f64) -> f64 {
    if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        0.0
    }
}

/// `secs * scale` as a duration, clamped to `[0, MAX_DELAY_SECS]`.
pub(crate) fn scaled(secs: f64, scale: f64) -> Duration {
    let s = secs * scale;
    if s.is_nan() || s <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(s.min(MAX_DELAY_SECS)).unwrap_or(Duration::ZERO)
}

/// SplitMix64 finaliser: spreads nearby inputs (seed, counter) over the whole range.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of request number `n` under `seed`.
pub(crate) fn request_rng(seed: u64, n: u64) -> SmallRng {
    SmallRng::seed_from_u64(mix(seed ^ mix(n)))
}

/// A standard normal deviate (Box–Muller).
fn standard_normal(rng: &mut SmallRng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Draw the delays of one request; without `jitter`, the profile's typical values.
pub(crate) fn draw(profile: Profile, scale: f64, jitter: bool, rng: &mut SmallRng) -> Timing {
    let z = standard_normal(rng).clamp(-4.0, 4.0);
    let factor = rng.random_range(1.0 - RATE_JITTER..=1.0 + RATE_JITTER);
    let (z, factor) = if jitter { (z, factor) } else { (0.0, 1.0) };
    let ttft_secs = f64::from(profile.ttft_ms) / 1000.0 * (TTFT_SIGMA * z).exp();
    let rate = f64::from(profile.tokens_per_sec.max(1)) * factor;
    Timing {
        ttft: scaled(ttft_secs, scale),
        per_token: scaled(1.0 / rate, scale),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Profile = Profile {
        ttft_ms: 1000,
        tokens_per_sec: 50,
    };

    #[test]
    fn same_seed_and_counter_give_the_same_draws() {
        let a: Vec<Timing> = (0..20)
            .map(|n| draw(P, 1.0, true, &mut request_rng(7, n)))
            .collect();
        let b: Vec<Timing> = (0..20)
            .map(|n| draw(P, 1.0, true, &mut request_rng(7, n)))
            .collect();
        assert_eq!(a, b);
        let other: Vec<Timing> = (0..20)
            .map(|n| draw(P, 1.0, true, &mut request_rng(8, n)))
            .collect();
        assert_ne!(a, other);
    }

    #[test]
    fn ttft_median_is_near_the_profile_and_rate_within_jitter() {
        let mut ttfts: Vec<f64> = Vec::new();
        for n in 0..2001 {
            let t = draw(P, 1.0, true, &mut request_rng(1, n));
            ttfts.push(t.ttft.as_secs_f64());
            let rate = 1.0 / t.per_token.as_secs_f64();
            assert!((42.0..=58.0).contains(&rate), "rate {rate}");
        }
        ttfts.sort_by(f64::total_cmp);
        let median = ttfts[ttfts.len() / 2];
        assert!((0.9..=1.1).contains(&median), "median {median}");
        // sigma 0.3: the 84th percentile sits near e^0.3 ≈ 1.35 times the median.
        let p84 = ttfts[ttfts.len() * 84 / 100] / median;
        assert!((1.25..=1.45).contains(&p84), "p84/median {p84}");
    }

    #[test]
    fn time_scale_multiplies_delays_and_zero_removes_them() {
        let full = draw(P, 1.0, true, &mut request_rng(3, 3));
        let fast = draw(P, 0.01, true, &mut request_rng(3, 3));
        let none = draw(P, 0.0, true, &mut request_rng(3, 3));
        let ratio = fast.ttft.as_secs_f64() / full.ttft.as_secs_f64();
        assert!((ratio - 0.01).abs() < 1e-6, "{ratio}");
        assert_eq!(none.ttft, Duration::ZERO);
        assert_eq!(none.per_token, Duration::ZERO);
    }

    #[test]
    fn without_jitter_every_request_gets_the_typical_values() {
        let timings: Vec<Timing> = (0..50)
            .map(|n| draw(P, 0.5, false, &mut request_rng(9, n)))
            .collect();
        assert!(timings.iter().all(|t| *t == timings[0]));
        assert_eq!(timings[0].ttft, Duration::from_millis(500));
        assert_eq!(timings[0].per_token, Duration::from_millis(10));
        // The stream of draws is the same, so the rest of the response is too.
        let mut a = request_rng(9, 1);
        let mut b = request_rng(9, 1);
        draw(P, 0.5, false, &mut a);
        draw(P, 0.5, true, &mut b);
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }

    #[test]
    fn bad_time_scales_mean_no_delay() {
        assert_eq!(sanitize_scale(f64::NAN), 0.0);
        assert_eq!(sanitize_scale(-1.0), 0.0);
        assert_eq!(sanitize_scale(f64::INFINITY), 0.0);
        assert_eq!(sanitize_scale(0.5), 0.5);
        assert_eq!(scaled(1e12, 1.0), Duration::from_secs(3600));
    }
}
