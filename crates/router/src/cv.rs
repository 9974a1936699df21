//! k-fold cross-validation: how well [`Model::train`] with some settings does on prompts it
//! has not seen, measured without touching the held-out rows (pass only the training rows).
//!
//! Each row goes to fold `crc32("fold:" + id) mod k`, so the folds are the same on every
//! machine and run; fold `i` is scored by a model trained on the other `k − 1` folds.

use serde::Serialize;

use crate::eval::{self, Metrics};
use crate::model::{Model, ModelError, Row, TrainConfig};

/// Mean and sample standard deviation of one figure over the folds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanStd {
    /// Mean over the folds.
    pub mean: f64,
    /// Sample standard deviation over the folds (0 for a single value).
    pub std: f64,
}

impl MeanStd {
    fn of(values: &[f64]) -> MeanStd {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n.max(1.0);
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        MeanStd {
            mean,
            std: var.sqrt(),
        }
    }
}

/// The result of [`cross_validate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CvReport {
    /// The settings tried.
    pub config: TrainConfig,
    /// Figures of each fold, in fold order.
    pub folds: Vec<Metrics>,
    /// APGR over the folds.
    pub apgr: MeanStd,
    /// Strong calls saved at 95% of strong quality, over the folds.
    pub saved_at_95: MeanStd,
}

/// The fold (0 to `folds − 1`) of row `id`.
pub fn fold_of(id: &str, folds: usize) -> usize {
    let mut h = crc32fast::Hasher::new();
    h.update(b"fold:");
    h.update(id.as_bytes());
    h.finalize() as usize % folds.max(1)
}

/// Train on `folds − 1` folds of `rows` and score the remaining one, for each fold.
pub fn cross_validate(
    rows: &[Row],
    folds: usize,
    config: TrainConfig,
) -> Result<CvReport, ModelError> {
    if folds < 2 {
        return Err(ModelError::Data(format!(
            "cross-validation needs at least 2 folds, not {folds}"
        )));
    }
    let mut per_fold = Vec::with_capacity(folds);
    for fold in 0..folds {
        let (test, train): (Vec<Row>, Vec<Row>) = rows
            .iter()
            .cloned()
            .partition(|r| fold_of(&r.id, folds) == fold);
        if test.is_empty() || train.is_empty() {
            return Err(ModelError::Data(format!(
                "{} rows are too few for {folds} folds",
                rows.len()
            )));
        }
        let model = Model::train(&train, config);
        let scores: Vec<f64> = test
            .iter()
            .map(|r| f64::from(model.score(&r.prompt)))
            .collect();
        per_fold.push(eval::metrics(&test, &scores));
    }
    let pick = |f: fn(&Metrics) -> f64| MeanStd::of(&per_fold.iter().map(f).collect::<Vec<_>>());
    Ok(CvReport {
        config,
        apgr: pick(|m| m.apgr),
        saved_at_95: pick(|m| m.saved_at_95),
        folds: per_fold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize) -> Row {
        // Prompts mentioning "proof" are the ones only the strong model gets right.
        let hard = i.is_multiple_of(4);
        Row {
            id: format!("row-{i}"),
            source: String::new(),
            prompt: if hard {
                format!("give a proof of lemma {i}")
            } else {
                format!("say hello to friend {i}")
            },
            weak_correct: u8::from(!hard),
            strong_correct: 1,
        }
    }

    #[test]
    fn folds_are_stable_and_cover_every_index() {
        let folds: Vec<usize> = (0..1000).map(|i| fold_of(&format!("id-{i}"), 5)).collect();
        assert!(folds.iter().all(|f| *f < 5));
        for f in 0..5 {
            let n = folds.iter().filter(|x| **x == f).count();
            assert!((150..=250).contains(&n), "fold {f}: {n}");
        }
        assert_eq!(fold_of("abc", 5), fold_of("abc", 5));
    }

    #[test]
    fn cross_validation_scores_each_fold_on_unseen_rows_and_is_reproducible() {
        let rows: Vec<Row> = (0..400).map(row).collect();
        let report = cross_validate(&rows, 4, TrainConfig::default()).unwrap();
        assert_eq!(report.folds.len(), 4);
        assert!(
            report.apgr.mean > 0.8,
            "a learnable signal is learnt: {:?}",
            report.apgr
        );
        assert!(report.apgr.std >= 0.0 && report.saved_at_95.mean > 0.5);
        assert_eq!(
            cross_validate(&rows, 4, TrainConfig::default()).unwrap(),
            report
        );
    }

    #[test]
    fn too_few_folds_or_rows_are_refused() {
        let rows: Vec<Row> = (0..3).map(row).collect();
        assert!(cross_validate(&rows, 1, TrainConfig::default()).is_err());
        assert!(cross_validate(&rows, 10, TrainConfig::default()).is_err());
    }

    #[test]
    fn mean_and_sample_std() {
        let m = MeanStd::of(&[1.0, 2.0, 3.0]);
        assert!((m.mean - 2.0).abs() < 1e-12 && (m.std - 1.0).abs() < 1e-12);
    }
}
