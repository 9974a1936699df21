//! Load generation against OpenAI-compatible endpoints.
//!
//! This crate owns the timing core of Switchyard's load testing: an open-loop schedule
//! (requests are sent when the schedule says, whether or not earlier ones have finished),
//! one [`Sample`] per request with its scheduled, sent, first-token and done instants, and
//! HDR-histogram [`Summary`] percentiles. Latency is reported both from the actual send
//! (service time) and from the scheduled start (so a slow target cannot hide its queue:
//! no coordinated omission).

pub mod report;
pub mod run;
pub mod summary;

pub use run::{OpenLoop, Sample, run_open_loop};
pub use summary::Summary;
