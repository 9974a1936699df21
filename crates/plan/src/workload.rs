//! What traffic the plan is for: requests per day, how they spread over the day and
//! over regions, and how many tokens each asks and answers.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use switchyard_bench::workload::Dist;

use crate::error::PlanError;

/// Hours in the profile.
pub const HOURS: usize = 24;

/// A token count per request: one of `bench`'s forms, or observed counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Tokens {
    /// `256`, `128..1024` (uniform) or `512:64` (normal, clamped at 1).
    Dist(Dist),
    /// Counts seen in the usage log, drawn from uniformly.
    Observed(Vec<u32>),
}

impl Tokens {
    /// One draw.
    pub fn sample(&self, rng: &mut SmallRng) -> u32 {
        match self {
            Tokens::Dist(d) => d.sample(rng),
            Tokens::Observed(v) if v.is_empty() => 0,
            Tokens::Observed(v) => v.get(rng.random_range(0..v.len())).copied().unwrap_or(0),
        }
    }

    /// Whether every draw is the same number (the cost is then exact).
    pub fn fixed(&self) -> Option<u32> {
        match self {
            Tokens::Dist(Dist::Fixed(n)) => Some(*n),
            _ => None,
        }
    }

    /// The mean of the draws (sampled with a fixed seed when there is no closed form).
    pub fn mean(&self) -> f64 {
        match self {
            Tokens::Dist(Dist::Fixed(n)) => f64::from(*n),
            Tokens::Dist(Dist::Uniform(lo, hi)) => (f64::from(*lo) + f64::from(*hi.max(lo))) / 2.0,
            Tokens::Observed(v) if v.is_empty() => 0.0,
            Tokens::Observed(v) => v.iter().map(|&n| f64::from(n)).sum::<f64>() / v.len() as f64,
            Tokens::Dist(d @ Dist::Normal(..)) => {
                // Clamped at 1 and rounded: the mean of many draws, not the parameter.
                let mut rng = SmallRng::seed_from_u64(7);
                let n = 200_000;
                (0..n).map(|_| f64::from(d.sample(&mut rng))).sum::<f64>() / f64::from(n)
            }
        }
    }

    /// In words.
    pub fn describe(&self) -> String {
        match self {
            Tokens::Dist(Dist::Fixed(n)) => n.to_string(),
            Tokens::Dist(Dist::Uniform(lo, hi)) => format!("{lo}..{hi}"),
            Tokens::Dist(Dist::Normal(m, sd)) => format!("{m}:{sd}"),
            Tokens::Observed(v) => format!("{} observed (mean {:.0})", v.len(), self.mean()),
        }
    }
}

/// A named share of the traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    /// Region (or model) name.
    pub name: String,
    /// Its share, 0–1; the shares of a list sum to 1.
    pub share: f64,
}

/// The traffic to plan for.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Requests per day.
    pub requests_per_day: f64,
    /// Traffic per hour of the day (UTC), relative to the day's mean (mean 1).
    pub profile: [f64; HOURS],
    /// Where the traffic comes from.
    pub regions: Vec<Share>,
    /// Prompt tokens per request.
    pub input: Tokens,
    /// Completion tokens per request (reasoning included: billed alike).
    pub output: Tokens,
    /// Share of prompt tokens served from the vendor's prompt cache.
    pub cached_share: f64,
    /// Share of requests that stream.
    pub stream_share: f64,
    /// Per-model token counts that override `input`/`output` (observed in the usage log).
    pub per_model: Vec<(String, Tokens, Tokens)>,
    /// Where the figures come from, in words.
    pub source: String,
}

impl Workload {
    /// The hour of peak traffic and its rate against the day's mean.
    pub fn peak(&self) -> (usize, f64) {
        self.profile
            .iter()
            .copied()
            .enumerate()
            .fold(
                (0, 0.0),
                |best, (h, w)| if w > best.1 { (h, w) } else { best },
            )
    }

    /// Mean requests per second over the day.
    pub fn mean_rps(&self) -> f64 {
        self.requests_per_day / 86_400.0
    }

    /// The token counts of `model`: its own, when observed, else the workload's.
    pub fn tokens_of(&self, model: &str) -> (&Tokens, &Tokens) {
        self.per_model
            .iter()
            .find(|(m, _, _)| m == model)
            .map_or((&self.input, &self.output), |(_, i, o)| (i, o))
    }
}

/// A diurnal profile with `peak` × the mean at `peak_hour` (UTC), falling smoothly to
/// its lowest twelve hours away: `w(h) ∝ exp(k·cos(2π(h − peak_hour)/24))`, with `k`
/// found so that the highest hour is `peak` × the mean.
pub fn profile_with_peak(peak: f64, peak_hour: usize) -> Result<[f64; HOURS], PlanError> {
    if !(peak.is_finite() && (1.0..=12.0).contains(&peak)) {
        return Err(PlanError::arg(
            "--peak-factor",
            format!(
                "{peak} must be from 1 (flat) to 12: the busiest hour's traffic over the day's mean"
            ),
        ));
    }
    let shape = |k: f64| -> [f64; HOURS] {
        let mut w = [0.0; HOURS];
        for (h, x) in w.iter_mut().enumerate() {
            let phase = (h as f64 - peak_hour as f64) / HOURS as f64 * std::f64::consts::TAU;
            *x = (k * phase.cos()).exp();
        }
        let mean = w.iter().sum::<f64>() / HOURS as f64;
        w.map(|x| x / mean)
    };
    let top = |k: f64| shape(k).iter().copied().fold(0.0, f64::max);
    let (mut lo, mut hi) = (0.0, 50.0);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if top(mid) < peak {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(shape((lo + hi) / 2.0))
}

/// A profile of 24 comma-separated relative values (any scale), normalised to mean 1.
pub fn parse_profile(text: &str) -> Result<[f64; HOURS], PlanError> {
    let bad = |why: String| PlanError::arg("--profile", why);
    let values: Vec<f64> = text
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .map_err(|_| bad(format!("'{v}' is not a number")))
        })
        .collect::<Result<_, _>>()?;
    if values.len() != HOURS {
        return Err(bad(format!(
            "give 24 values, one per hour from 00 UTC (got {})",
            values.len()
        )));
    }
    if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(bad("every hour's traffic must be a number >= 0".into()));
    }
    let mean = values.iter().sum::<f64>() / HOURS as f64;
    if mean <= 0.0 {
        return Err(bad("some hour must have traffic".into()));
    }
    let mut out = [0.0; HOURS];
    for (o, v) in out.iter_mut().zip(values) {
        *o = v / mean;
    }
    Ok(out)
}

/// `name:share,name:share,…` with shares that sum to 1 (within 0.001).
pub fn parse_shares(arg: &'static str, text: &str) -> Result<Vec<Share>, PlanError> {
    let mut shares = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, share)) = part.rsplit_once(':') else {
            return Err(PlanError::arg(
                arg,
                format!("'{part}' is not name:share (e.g. us-east:0.4,eu:0.35,ap:0.25)"),
            ));
        };
        let share: f64 = share.trim().parse().map_err(|_| {
            PlanError::arg(
                arg,
                format!("the share of '{name}' ('{share}') is not a number"),
            )
        })?;
        if !share.is_finite() || !(0.0..=1.0).contains(&share) {
            return Err(PlanError::arg(
                arg,
                format!("the share of '{name}' must be from 0 to 1"),
            ));
        }
        if shares.iter().any(|s: &Share| s.name == name.trim()) {
            return Err(PlanError::arg(arg, format!("'{name}' is listed twice")));
        }
        shares.push(Share {
            name: name.trim().to_string(),
            share,
        });
    }
    let sum: f64 = shares.iter().map(|s| s.share).sum();
    if shares.is_empty() || (sum - 1.0).abs() > 0.001 {
        return Err(PlanError::arg(
            arg,
            format!("the shares sum to {sum:.3}; they must sum to 1 (e.g. a:0.7,b:0.3)"),
        ));
    }
    Ok(shares)
}

/// A share in 0–1 for `arg`.
pub fn parse_fraction(arg: &'static str, value: f64) -> Result<f64, PlanError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(PlanError::arg(
            arg,
            format!("{value} must be a share from 0 to 1"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peak_factor_profile_has_mean_one_and_that_peak_at_its_hour() {
        let p = profile_with_peak(3.0, 14).unwrap();
        let mean = p.iter().sum::<f64>() / 24.0;
        assert!((mean - 1.0).abs() < 1e-9);
        let (hour, top) = p
            .iter()
            .copied()
            .enumerate()
            .fold((0, 0.0), |b, (h, w)| if w > b.1 { (h, w) } else { b });
        assert_eq!(hour, 14);
        assert!((top - 3.0).abs() < 1e-6, "{top}");
        assert!(p.iter().all(|&w| w > 0.0));
        let flat = profile_with_peak(1.0, 0).unwrap();
        assert!(flat.iter().all(|&w| (w - 1.0).abs() < 1e-6));
        assert!(profile_with_peak(0.5, 0).is_err());
        assert!(profile_with_peak(f64::NAN, 0).is_err());
    }

    #[test]
    fn shares_must_parse_and_sum_to_one_and_say_which_argument_is_wrong() {
        let s = parse_shares("--regions", "us-east:0.4, eu:0.35,ap:0.25").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[1],
            Share {
                name: "eu".into(),
                share: 0.35
            }
        );
        let e = parse_shares("--regions", "us-east:0.5,eu:0.4")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--regions:") && e.contains("sum to 0.900"),
            "{e}"
        );
        assert!(
            parse_shares("--mix", "a:x")
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        assert!(
            parse_shares("--mix", "a")
                .unwrap_err()
                .to_string()
                .contains("name:share")
        );
        assert!(
            parse_shares("--mix", "a:0.5,a:0.5")
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert!(parse_shares("--mix", "a:1.5,b:-0.5").is_err());
    }

    #[test]
    fn profiles_need_24_hours_with_some_traffic() {
        let p = parse_profile(&["1"; 24].join(",")).unwrap();
        assert!(p.iter().all(|&w| (w - 1.0).abs() < 1e-12));
        assert!(
            parse_profile("1,2,3")
                .unwrap_err()
                .to_string()
                .contains("24 values")
        );
        assert!(parse_profile(&["0"; 24].join(",")).is_err());
    }

    #[test]
    fn token_means_are_exact_for_fixed_and_uniform_and_sampled_for_clamped_normals() {
        assert_eq!(Tokens::Dist(Dist::Fixed(500)).mean(), 500.0);
        assert_eq!(Tokens::Dist(Dist::Uniform(100, 300)).mean(), 200.0);
        // 300:200 clamps the left tail at 1, so the mean is above 300.
        let m = Tokens::Dist(Dist::Normal(300, 200)).mean();
        assert!((305.0..320.0).contains(&m), "{m}");
        assert_eq!(Tokens::Observed(vec![1, 2, 3, 6]).mean(), 3.0);
    }
}
