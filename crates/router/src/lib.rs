//! The tiered router's classifier: how likely the cheap tier is to fail a prompt where the
//! strong one would not, from the prompt alone, in process and offline.
//!
//! - [`features`]: hashed word unigrams and bigrams (L2-normalised) plus a few hand-built
//!   features (length, digit share, multiple-choice layout, maths symbols, code).
//! - [`Model`]: logistic regression over them; [`Model::train`] fits it with seeded SGD,
//!   and the shipped weights (`data/classifier.json`) come from `switchyard route train` on
//!   the labelled `dev.jsonl`.
//! - [`cv`]: k-fold cross-validation of the training settings on the training rows only.
//! - [`eval`]: the RouteLLM measures — APGR, CPT(x%), strong calls saved at 95% of the
//!   strong model's quality — for any scores, with random and oracle baselines.
//!
//! Pure: no I/O, no network. Scoring one prompt is a tokenise-and-hash pass plus a sparse
//! dot product.

pub mod cv;
pub mod eval;
pub mod features;
mod model;

pub use model::{Model, ModelError, Row, TrainConfig, held_out};
