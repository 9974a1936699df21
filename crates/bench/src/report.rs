//! The result of a run, as data: what the terminal table, `--json`, `--csv` and the
//! `--html` report are all rendered from. Times are in milliseconds, rates per second.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// How the run was set up.
    pub meta: RunMeta,
    /// One group per model (or per target), side by side.
    pub groups: Vec<GroupReport>,
    /// Present for `--sweep` runs: one step per offered load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepReport>,
    /// Things the reader must know (generator fell behind, estimated tokens, …).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// `--fail-on` thresholds that were broken (empty when all held).
    #[serde(default)]
    pub failed_thresholds: Vec<String>,
}

/// Run set-up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunMeta {
    /// Tool version.
    pub version: String,
    /// Target base URL.
    pub target: String,
    /// The command line, for reproduction.
    pub command: String,
    /// Wall-clock start, RFC 3339 (UTC).
    pub started_at: String,
    /// Load model in words (`open loop, poisson 100 req/s`, `closed loop, 32 streams`).
    pub load: String,
    /// Workload in words (`synthetic in=512±64 out=128`, `file prompts.jsonl`, `mix chat`).
    pub workload: String,
    /// Seconds of offered load (excluding drain).
    pub duration_s: f64,
    /// Whether requests streamed (TTFT and ITL only exist then).
    pub stream: bool,
    /// The `--header`s every request carried, `name: value`, with the values of
    /// secret-looking names (`authorization`, `x-api-key`, `*-token`, …; see
    /// `headers::is_secret`) replaced by `<redacted>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
}

/// Figures of one model or target.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GroupReport {
    /// Model (or target) name.
    pub name: String,
    /// Requests sent.
    pub requests: u64,
    /// Requests that succeeded.
    pub ok: u64,
    /// Requests that failed (any reason, time-outs included).
    pub errors: u64,
    /// Of the failures, how many timed out.
    pub timeouts: u64,
    /// Failures by kind: `http_429`, `http_503`, `connect`, `timeout`, `stream_error`,
    /// `bad_response`, …
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Offered request rate (open loop), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rps: Option<f64>,
    /// Completed requests per second (successful or not).
    pub throughput_rps: f64,
    /// Successful requests per second that met the SLO (only with `--slo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_rps: Option<f64>,
    /// Prompt tokens over all successful requests.
    pub input_tokens: u64,
    /// Completion tokens over all successful requests.
    pub output_tokens: u64,
    /// Whether some token counts came from our estimator instead of `usage`.
    pub tokens_estimated: bool,
    /// Aggregate output tokens per second over the run.
    pub output_tokens_per_s: f64,
    /// Time to first token (first non-empty content, reasoning or tool-call delta), from send.
    pub ttft: Option<Stat>,
    /// Time to first response byte, from send.
    pub first_byte: Option<Stat>,
    /// Gap between consecutive content-bearing chunks.
    pub itl_chunk: Option<Stat>,
    /// Per-token inter-token latency: each chunk gap divided by the tokens it carried.
    pub itl_token: Option<Stat>,
    /// Time per output token after the first: (E2E − TTFT) / (output tokens − 1), per request.
    pub tpot: Option<Stat>,
    /// End-to-end latency from the *scheduled* start (includes client-side queueing).
    pub e2e: Option<Stat>,
    /// End-to-end latency from the actual send.
    pub service: Option<Stat>,
    /// How late requests left against their schedule.
    pub dispatch_delay: Option<Stat>,
    /// Output tokens per second of each request (after its first token).
    pub request_tokens_per_s: Option<Stat>,
    /// Per-second windows over the run, for the plots.
    pub timeline: Vec<WindowPoint>,
    /// TTFT distribution, log-spaced buckets.
    pub ttft_histogram: Vec<Bucket>,
    /// Per-chunk ITL distribution, log-spaced buckets.
    pub itl_histogram: Vec<Bucket>,
    /// What the requests cost, as the target said (Switchyard's `x-switchyard-cost-usd`);
    /// `null` when no response carried a readable cost (any other target).
    #[serde(default)]
    pub cost: Option<CostReport>,
}

/// The cost of one model's requests, from the costs the target reported.
///
/// Every request that reported a cost counts, failed ones included (a gateway charges
/// for the attempts it made, e.g. an escalation that then failed); requests without one
/// are left out of the mean rather than counted as free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// Requests whose response carried a readable cost.
    pub requests_with_cost: u64,
    /// Responses whose cost could not be read (malformed, or over $1,000): left out.
    #[serde(default)]
    pub cost_unreadable: u64,
    /// Sum of the reported costs, in nano-dollars (exact).
    pub total_nanos: u64,
    /// Sum of the reported costs, in USD.
    pub total_usd: f64,
    /// Mean cost of a request that reported one, × 1,000, in USD.
    pub per_1k_requests_usd: f64,
    /// Mean cost per request × `rate_rps` × a 30-day month, in USD.
    pub per_month_usd: f64,
    /// The rate the month is priced at, requests per second.
    pub rate_rps: f64,
    /// Where `rate_rps` comes from.
    pub rate_basis: RateBasis,
}

/// Which rate a `$/month` figure assumes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateBasis {
    /// The rate offered to this model (open loop, ramps at their mean rate).
    #[default]
    Offered,
    /// The throughput the run achieved (closed loop, sweeps).
    Achieved,
}

impl RateBasis {
    /// The word used in labels and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RateBasis::Offered => "offered",
            RateBasis::Achieved => "achieved",
        }
    }
}

/// Percentiles of one figure (milliseconds, or tokens/s for throughput figures).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Minimum.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

/// One window of the run (requests are placed by their completion time).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct WindowPoint {
    /// Seconds since the run started (window start).
    pub t_s: f64,
    /// Requests completed in the window.
    pub completed: u64,
    /// Of which failed.
    pub errors: u64,
    /// Median E2E (from schedule) in the window.
    pub p50_e2e_ms: f64,
    /// p99 E2E (from schedule) in the window.
    pub p99_e2e_ms: f64,
    /// p99 TTFT in the window (streams).
    pub p99_ttft_ms: f64,
    /// Requests in flight at the end of the window.
    pub in_flight: u64,
}

/// One histogram bucket: samples with value <= `le` (and above the previous bucket).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Bucket {
    /// Upper bound, milliseconds.
    pub le: f64,
    /// Samples in the bucket.
    pub count: u64,
}

/// A `--sweep`: offered load stepped up until the SLO broke.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SweepReport {
    /// The SLO in the user's words (`p99_ttft<=800ms,error_rate<=1%`).
    pub slo: String,
    /// Steps in the order run.
    pub steps: Vec<SweepStep>,
    /// Highest offered rate whose step held the SLO (the goodput capacity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate_within_slo: Option<f64>,
    /// Offered rate where latency starts to bend (knee of p50 E2E vs load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knee_rate: Option<f64>,
}

/// One step of a sweep.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SweepStep {
    /// Offered requests per second.
    pub offered_rps: f64,
    /// Completed requests per second.
    pub achieved_rps: f64,
    /// Median E2E from schedule.
    pub p50_e2e_ms: f64,
    /// p99 E2E from schedule.
    pub p99_e2e_ms: f64,
    /// p99 TTFT (0 when not streaming).
    pub p99_ttft_ms: f64,
    /// Failed share of requests, 0..1.
    pub error_rate: f64,
    /// Whether every SLO clause held.
    pub within_slo: bool,
}
