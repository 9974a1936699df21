//! `switchyard bench`: a load tester for OpenAI-compatible endpoints.
//!
//! It owns the timing core and everything reported from it:
//! - [`engine`]: load models (open loop at a constant or Poisson rate, ramps, closed loop
//!   with N streams), the schedule, and one timeline per request — latencies are measured
//!   from the *scheduled* start, so a slow target cannot hide its queue (no coordinated
//!   omission);
//! - [`client`]: one request timed exactly (first byte, first token, every chunk);
//! - [`headers`]: the headers every request carries (`--api-key`, `--header`), checked
//!   and built once;
//! - [`cost`]: what a Switchyard target says each answer cost, read as exact
//!   nano-dollars (header or SSE comment);
//! - [`net`]: connections stamped with the kernel's receive time, so a burst of streams
//!   does not make late readers look like slow servers;
//! - [`workload`]: synthetic prompts of controlled length, JSONL files, built-in mixes;
//! - [`analyze`]: percentiles (HDR histograms), rates, goodput, windows, warnings;
//! - [`sweep`]: stepping load up until an SLO breaks; the knee;
//! - [`slo`]: threshold expressions for `--slo` and `--fail-on`;
//! - [`report`] (the data), [`table`] (terminal, CSV) and `html` (the report page).

pub mod analyze;
pub mod client;
pub mod cost;
pub mod engine;
pub mod error;
pub mod headers;
pub mod html;
pub mod net;
pub mod report;
pub mod slo;
pub mod summary;
pub mod sweep;
pub mod table;
pub mod workload;

pub use engine::{Load, Plan};
pub use error::BenchError;
pub use headers::ExtraHeaders;
pub use report::Report;
