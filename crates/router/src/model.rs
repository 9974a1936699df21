//! The classifier: logistic regression over [`crate::features`], trained with seeded SGD.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::features::{BIAS, BUCKETS, DIM, HAND_NAMES, dot, features};

/// The shipped weights (`switchyard route train` writes them).
const SHIPPED: &str = include_str!("../data/classifier.json");

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Not the JSON this version writes.
    #[error("classifier file: {0}")]
    Format(String),
    /// The labelled rows cannot be used as asked.
    #[error("labelled rows: {0}")]
    Data(String),
}

/// One labelled prompt (a line of `dev.jsonl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// Row id.
    #[serde(default)]
    pub id: String,
    /// Where it comes from (`mmlu/<subject>`, `gsm8k`).
    #[serde(default)]
    pub source: String,
    /// The prompt.
    pub prompt: String,
    /// 1 if the weak model answered correctly.
    pub weak_correct: u8,
    /// 1 if the strong model answered correctly.
    pub strong_correct: u8,
}

impl Row {
    /// What the classifier predicts: the weak model fails where the strong one does not.
    pub fn label(&self) -> f32 {
        f32::from(u8::from(self.weak_correct == 0 && self.strong_correct == 1))
    }
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: u32,
    /// First learning rate (multiplied by `decay` after each pass).
    pub learning_rate: f32,
    /// Learning-rate decay per pass.
    pub decay: f32,
    /// L2 penalty, applied at each step to the weights the prompt touches (not the
    /// intercept).
    pub l2: f32,
    /// Seed of the shuffles.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 12,
            learning_rate: 0.5,
            decay: 0.7,
            l2: 3e-3,
            seed: 7,
        }
    }
}

/// A trained classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    weights: Vec<f32>,
    /// Scores of the training prompts at 0%, 1%, …, 100%: how a score ranks among them.
    quantiles: Vec<f32>,
    /// How it was trained.
    pub config: TrainConfig,
    /// Rows it was trained on.
    pub trained_rows: usize,
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    buckets: usize,
    hand_features: Vec<String>,
    config: TrainConfig,
    trained_rows: usize,
    /// Training scores at 0%, 1%, …, 100%.
    #[serde(default)]
    score_quantiles: Vec<f32>,
    /// Non-zero weights as (index, weight).
    weights: Vec<(u32, f32)>,
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z.clamp(-30.0, 30.0)).exp())
}

impl Model {
    /// Fit on `rows`.
    pub fn train(rows: &[Row], config: TrainConfig) -> Model {
        let data: Vec<(Vec<(u32, f32)>, f32)> = rows
            .iter()
            .map(|r| (features(&r.prompt), r.label()))
            .collect();
        let mut w = vec![0f32; DIM];
        let mut rng = rand::rngs::SmallRng::seed_from_u64(config.seed);
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut lr = config.learning_rate;
        for _ in 0..config.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let (x, y) = &data[i];
                let z: f32 = x.iter().map(|&(k, v)| w[k as usize] * v).sum();
                let g = sigmoid(z) - y;
                for &(k, v) in x {
                    // The intercept is not penalised: shrinking it would bias every score.
                    let l2 = if k as usize == BIAS { 0.0 } else { config.l2 };
                    let wk = &mut w[k as usize];
                    *wk -= lr * (g * v + l2 * *wk);
                }
            }
            lr *= config.decay;
        }
        let mut model = Model {
            weights: w,
            quantiles: Vec::new(),
            config,
            trained_rows: rows.len(),
        };
        let mut scores: Vec<f32> = rows.iter().map(|r| model.score(&r.prompt)).collect();
        scores.sort_by(f32::total_cmp);
        if !scores.is_empty() {
            model.quantiles = (0..=100)
                .map(|p| scores[(p * (scores.len() - 1)) / 100])
                .collect();
        }
        model
    }

    /// Share of the training prompts that scored below `score` (0 to 1).
    pub fn rank(&self, score: f32) -> f64 {
        if self.quantiles.len() != 101 {
            return f64::from(score.clamp(0.0, 1.0));
        }
        self.quantiles
            .iter()
            .filter(|q| **q < score)
            .count()
            .saturating_sub(1) as f64
            / 100.0
    }

    /// The score above which `share` of the training prompts lie (`share` 0.2: the
    /// hardest-looking 20%): how a tier's share of traffic becomes a threshold.
    pub fn threshold_for_share(&self, share: f64) -> f32 {
        if self.quantiles.len() != 101 {
            return 1.0 - share.clamp(0.0, 1.0) as f32;
        }
        let p = ((1.0 - share.clamp(0.0, 1.0)) * 100.0).round() as usize;
        self.quantiles[p.min(100)]
    }

    /// The classifier that ships with the gateway.
    pub fn shipped() -> Result<Model, ModelError> {
        Model::from_json(SHIPPED)
    }

    /// Read a classifier file.
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        let f: File = serde_json::from_str(text).map_err(|e| ModelError::Format(e.to_string()))?;
        if f.version != 1 || f.buckets != BUCKETS || f.hand_features != HAND_NAMES {
            return Err(ModelError::Format(
                "written by another version of the features; retrain with `switchyard route train`"
                    .into(),
            ));
        }
        let mut weights = vec![0f32; DIM];
        for (k, v) in f.weights {
            let slot = weights
                .get_mut(k as usize)
                .ok_or_else(|| ModelError::Format(format!("weight index {k} out of range")))?;
            *slot = v;
        }
        Ok(Model {
            weights,
            quantiles: f.score_quantiles,
            config: f.config,
            trained_rows: f.trained_rows,
        })
    }

    /// The classifier file (non-zero weights, rounded to 6 significant digits).
    pub fn to_json(&self) -> String {
        let weights = self
            .weights
            .iter()
            .enumerate()
            .filter(|(_, w)| w.abs() > 1e-6)
            .map(|(k, w)| (k as u32, (w * 1e6).round() / 1e6))
            .collect();
        let f = File {
            version: 1,
            buckets: BUCKETS,
            hand_features: HAND_NAMES.iter().map(|s| (*s).to_string()).collect(),
            config: self.config,
            trained_rows: self.trained_rows,
            score_quantiles: self
                .quantiles
                .iter()
                .map(|q| (q * 1e6).round() / 1e6)
                .collect(),
            weights,
        };
        serde_json::to_string(&f).unwrap_or_default()
    }

    /// Probability that the cheap model fails `prompt` where the strong one would not.
    pub fn score(&self, prompt: &str) -> f32 {
        sigmoid(dot(prompt, &self.weights))
    }

    /// [`Model::score`] the slow way, through the feature list [`features`] builds for
    /// training: the reference the fast path is checked (and benchmarked) against.
    pub fn score_reference(&self, prompt: &str) -> f32 {
        let z: f32 = features(prompt)
            .iter()
            .map(|&(k, v)| self.weights.get(k as usize).copied().unwrap_or(0.0) * v)
            .sum();
        sigmoid(z)
    }
}

/// Whether row `id` belongs to the held-out part (`share` of the rows, chosen by a hash of
/// the id so that the split is the same on every machine and run).
pub fn held_out(id: &str, share: f64) -> bool {
    f64::from(crc32fast::hash(id.as_bytes()) % 10_000) < share * 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_score_is_bit_for_bit_the_feature_list_score() {
        let model = Model::shipped().unwrap();
        let long = "Statement 1 | Every group of order 4 is cyclic. ".repeat(200);
        let prompts = [
            "",
            "What is 2+2?",
            "Ann's CAT sat; DEF main(): return 1\n```code```",
            "Which is right?\nA. 0.50%\nB. 2%\nC) 6%\n(D) 12%",
            "多语言 prompt: 東京はどこ? Ça va — naïve café",
            long.as_str(),
        ];
        for p in prompts {
            assert_eq!(
                model.score(p).to_bits(),
                model.score_reference(p).to_bits(),
                "{p:.40}"
            );
        }
    }

    fn row(prompt: &str, hard: bool) -> Row {
        Row {
            id: prompt.into(),
            source: String::new(),
            prompt: prompt.into(),
            weak_correct: u8::from(!hard),
            strong_correct: 1,
        }
    }

    #[test]
    fn training_learns_a_separable_signal_and_survives_a_round_trip() {
        let mut rows = Vec::new();
        for i in 0..200 {
            rows.push(row(
                &format!("integral of x^{i} dx, prove convergence"),
                true,
            ));
            rows.push(row(&format!("what colour is the sky on day {i}"), false));
        }
        let m = Model::train(&rows, TrainConfig::default());
        assert!(m.score("prove convergence of the integral") > m.score("what colour is grass"));
        let back = Model::from_json(&m.to_json()).unwrap();
        let a = m.score("prove the integral converges");
        assert!((back.score("prove the integral converges") - a).abs() < 1e-4);
        assert_eq!(
            Model::train(&rows, TrainConfig::default()),
            m,
            "training is reproducible"
        );
    }

    #[test]
    fn a_strong_l2_penalty_leaves_the_base_rate_to_the_unpenalised_intercept() {
        // Nothing to learn but the base rate: 90% of the (empty) prompts are hard.
        let rows: Vec<Row> = (0..500u32)
            .map(|i| Row {
                id: format!("r{i}"),
                ..row("", !i.is_multiple_of(10))
            })
            .collect();
        let config = TrainConfig {
            l2: 1.5,
            ..TrainConfig::default()
        };
        let s = Model::train(&rows, config).score("");
        assert!((0.85..0.95).contains(&s), "{s}");
    }

    #[test]
    fn the_held_out_split_is_stable_and_about_the_asked_share() {
        let n = (0..10_000)
            .filter(|i| held_out(&format!("row-{i}"), 0.3))
            .count();
        assert!((2_800..=3_200).contains(&n), "{n}");
        assert_eq!(held_out("abc", 0.3), held_out("abc", 0.3));
    }

    #[test]
    fn a_file_from_other_features_is_refused() {
        assert!(Model::from_json("{}").is_err());
        let bad = r#"{"version":1,"buckets":8,"hand_features":[],"config":{"epochs":1,"learning_rate":0.1,"decay":1.0,"l2":0.0,"seed":1},"trained_rows":0,"weights":[]}"#;
        assert!(
            Model::from_json(bad)
                .unwrap_err()
                .to_string()
                .contains("retrain")
        );
    }
}

#[cfg(test)]
mod shipped_tests {
    use super::*;

    #[test]
    fn the_shipped_classifier_loads_and_was_trained_on_the_labelled_set() {
        let m = Model::shipped().unwrap();
        assert!(m.trained_rows > 7_000, "{}", m.trained_rows);
        let s = m.score("What is the capital of France?");
        assert!((0.0..=1.0).contains(&s));
        let (t50, t20) = (m.threshold_for_share(0.5), m.threshold_for_share(0.2));
        assert!(
            t50 < t20,
            "sending fewer prompts up needs a higher score: {t50} {t20}"
        );
    }
}
