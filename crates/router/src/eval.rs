//! Router quality, as the RouteLLM paper measures it (arXiv 2406.18665).
//!
//! Prompts are sent to the strong model in order of decreasing score; sweeping that share
//! from 0% to 100% traces quality `q`. PGR = (q − q_weak) / (q_strong − q_weak);
//! APGR = mean PGR over the sweep (101 evenly spaced shares); CPT(x%) = the smallest share
//! of strong calls whose PGR reaches x%; "saved at 95%" = 1 − the smallest share of strong
//! calls reaching 95% of the strong model's own quality.

use serde::Serialize;

use crate::model::Row;

/// A router's figures on one data set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// Mean performance gap recovered.
    pub apgr: f64,
    /// Share of strong calls needed for PGR 50%.
    pub cpt50: f64,
    /// Share of strong calls needed for PGR 80%.
    pub cpt80: f64,
    /// Share of strong calls saved (vs always strong) at 95% of strong quality.
    pub saved_at_95: f64,
    /// Quality of always-weak.
    pub q_weak: f64,
    /// Quality of always-strong.
    pub q_strong: f64,
}

/// Figures of `scores` (higher = send to the strong model first) on `rows`.
pub fn metrics(rows: &[Row], scores: &[f64]) -> Metrics {
    let n = rows.len().min(scores.len());
    if n == 0 {
        return Metrics {
            apgr: 0.0,
            cpt50: 0.0,
            cpt80: 0.0,
            saved_at_95: 0.0,
            q_weak: 0.0,
            q_strong: 0.0,
        };
    }
    let nf = n as f64;
    let weak: f64 = rows[..n].iter().map(|r| f64::from(r.weak_correct)).sum();
    let strong: f64 = rows[..n].iter().map(|r| f64::from(r.strong_correct)).sum();
    let (q_weak, q_strong) = (weak / nf, strong / nf);
    let gap = (q_strong - q_weak).max(f64::MIN_POSITIVE);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    // quality[k]: the first k (by score) go to the strong model.
    let mut quality = Vec::with_capacity(n + 1);
    let mut correct = weak;
    quality.push(correct / nf);
    for &i in &order {
        correct += f64::from(rows[i].strong_correct) - f64::from(rows[i].weak_correct);
        quality.push(correct / nf);
    }
    let pgr = |k: usize| (quality[k] - q_weak) / gap;
    let apgr = (0..=100)
        .map(|p| pgr(((p as f64 / 100.0) * nf).round() as usize))
        .sum::<f64>()
        / 101.0;
    let first =
        |ok: &dyn Fn(usize) -> bool| (0..=n).find(|&k| ok(k)).map_or(1.0, |k| k as f64 / nf);
    Metrics {
        apgr,
        cpt50: first(&|k| pgr(k) >= 0.5),
        cpt80: first(&|k| pgr(k) >= 0.8),
        saved_at_95: 1.0 - first(&|k| quality[k] >= 0.95 * q_strong),
        q_weak,
        q_strong,
    }
}

/// Scores of a router that knows the answers: the prompts only the strong model gets
/// right first.
pub fn oracle_scores(rows: &[Row]) -> Vec<f64> {
    rows.iter()
        .map(|r| f64::from(u8::from(r.weak_correct == 0 && r.strong_correct == 1)))
        .collect()
}

/// Random scores (seeded).
pub fn random_scores(n: usize, seed: u64) -> Vec<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f64>()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(weak: u8, strong: u8) -> Row {
        Row {
            id: String::new(),
            source: String::new(),
            prompt: String::new(),
            weak_correct: weak,
            strong_correct: strong,
        }
    }

    #[test]
    fn a_perfect_router_recovers_the_gap_with_the_fewest_strong_calls() {
        // 4 prompts: weak right on 2; strong right on 3 (one of them weak missed).
        let rows = [row(1, 1), row(1, 1), row(0, 1), row(0, 0)];
        let m = metrics(&rows, &oracle_scores(&rows));
        assert_eq!((m.q_weak, m.q_strong), (0.5, 0.75));
        assert_eq!(m.cpt50, 0.25, "one strong call closes the whole gap");
        assert_eq!(m.cpt80, 0.25);
        assert!(
            m.apgr > 0.85,
            "the gap is closed from a quarter of the calls on: {}",
            m.apgr
        );
        let worst = metrics(&rows, &[0.0, 0.0, 0.0, 1.0]);
        assert!(worst.apgr < m.apgr);
    }

    #[test]
    fn random_scores_land_near_half() {
        let rows: Vec<Row> = (0..4000)
            .map(|i| row(u8::from(i % 3 != 0), u8::from(i % 5 != 0)))
            .collect();
        let m = metrics(&rows, &random_scores(rows.len(), 3));
        assert!((m.apgr - 0.5).abs() < 0.1, "{}", m.apgr);
    }
}
