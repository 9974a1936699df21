//! Usage records: one per request, written when the request ends however it ends —
//! completed, failed upstream, cut off, or abandoned by the client (then estimated).
//!
//! On the request path recording is metrics counters, a debug log line and one
//! non-blocking hand-off to the usage log ([`switchyard_ledger::UsageLog`]), whose own
//! thread writes SQLite in batches. Cost is exact, in integer nano-dollars.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::telemetry::{GENAI_DURATION, GENAI_TOKENS, ModelMetrics, TOKEN_KINDS};
use switchyard_catalog::{Billed, Model, NANOS_PER_USD, Price};
use switchyard_ledger::{UsageEvent, UsageLog};
use switchyard_wire::TokenUsage;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The response was delivered whole.
    Completed,
    /// The client went away first; usage is estimated from what was produced.
    ClientDisconnected,
    /// The upstream stream broke off or stalled.
    Interrupted,
    /// An extra attempt (a hedge that lost the race) cancelled once another answered;
    /// its prompt is counted as spent. Recorded apart from the request's own record.
    HedgeCancelled,
    /// A cheap tier's whole answer that failed its check and was retried on a stronger
    /// tier; spent, and recorded apart from the request's own record.
    Escalated,
    /// The request got an error before any answer; nothing was spent. Written to the usage
    /// log (with its status) but not to the token and cost metrics.
    Failed,
}

impl Outcome {
    /// Label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::ClientDisconnected => "client_disconnected",
            Outcome::Interrupted => "interrupted",
            Outcome::HedgeCancelled => "hedge_cancelled",
            Outcome::Failed => "failed",
            Outcome::Escalated => "escalated",
        }
    }
}

/// The API a request came in by, as the usage log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/messages` (the Anthropic Messages API).
    Messages,
    /// `POST /v1/responses`.
    Responses,
    /// `POST /v1/embeddings`.
    Embeddings,
}

impl Endpoint {
    /// Its name in the usage log.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat.completions",
            Endpoint::Messages => "messages",
            Endpoint::Responses => "responses",
            Endpoint::Embeddings => "embeddings",
        }
    }
}

/// What one request consumed.
#[derive(Debug, Clone)]
pub(crate) struct UsageRecord<'a> {
    /// Gateway request id.
    pub request_id: &'a str,
    /// Canonical model id.
    pub model: &'a str,
    /// Provider id.
    pub provider: &'a str,
    /// Region that served it.
    pub region: &'a str,
    /// Deployment that served it.
    pub deployment: &'a str,
    /// Upstream attempts made.
    pub attempts: u32,
    /// Time to first token, for streams that produced one.
    pub ttft: Option<Duration>,
    /// HTTP status the client got.
    pub status: u16,
    /// The caller's key id.
    pub key_id: Option<&'a str>,
    /// The key's team.
    pub team: Option<&'a str>,
    /// How a virtual model routed the request.
    pub route: Option<&'a str>,
    /// The API it came in by.
    pub endpoint: Endpoint,
    /// Tokens.
    pub usage: TokenUsage,
    /// Whether `usage` is our estimate rather than the vendor's figure.
    pub estimated: bool,
    /// How it ended.
    pub outcome: Outcome,
    /// List price of the model.
    pub price: &'a Price,
    /// Time from arrival to the end.
    pub latency: Duration,
}

/// Usage no answer of `model` can have — a prompt over twice its context window, or a
/// completion over twice its output limit (the margin absorbs catalog figures a little
/// behind the vendor's) — is not believed: an upstream is only partly trusted, and a
/// figure like `u64::MAX` would bill a key for ever. Returns the usage to record instead
/// (the prompt estimate, the completion capped at the output limit), or `None` when the
/// figures are believable. An embedding model's window bounds one input of a batch, so
/// its prompt is bounded by twice the larger of the window and the batch's estimate.
pub(crate) fn implausible(
    u: TokenUsage,
    model: &Model,
    prompt_estimate: u64,
) -> Option<TokenUsage> {
    let window = u64::from(model.context_window);
    let prompt_cap = if model.is_embedding() {
        window.max(prompt_estimate).saturating_mul(2)
    } else {
        window.saturating_mul(2)
    };
    let completion_cap = u64::from(model.max_output).saturating_mul(2);
    if u.prompt <= prompt_cap && u.completion <= completion_cap {
        return None;
    }
    let prompt = if u.prompt <= prompt_cap {
        u.prompt
    } else if model.is_embedding() {
        prompt_estimate
    } else {
        prompt_estimate.min(window)
    };
    let completion = if u.completion <= completion_cap {
        u.completion
    } else {
        u64::from(model.max_output)
    };
    Some(TokenUsage {
        prompt,
        cached_prompt: u.cached_prompt.min(prompt),
        completion,
        reasoning: u.reasoning.min(completion),
    })
}

/// Unix milliseconds now (0 before 1970, saturated far after).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Record one request's usage: metrics (not for failed requests), a `switchyard::usage`
/// debug line, and an event for the usage log when there is one. Returns the exact cost
/// in nano-dollars. `hot` holds the model's pre-registered series, when it has them.
pub(crate) fn record(
    r: &UsageRecord<'_>,
    hot: Option<&ModelMetrics>,
    log: Option<&UsageLog>,
) -> u64 {
    let u = r.usage;
    // Billed as the vendor bills: the prompt's tier, the hour, thinking or not.
    let nanos = r.price.bill_nanos(&Billed {
        prompt: u.prompt,
        cached_prompt: u.cached_prompt,
        completion: u.completion,
        reasoning: u.reasoning,
        at_unix_secs: u64::try_from(now_ms() / 1000).unwrap_or(0),
    });
    if let Some(log) = log {
        log.record(UsageEvent {
            ts_ms: now_ms(),
            request_id: r.request_id.to_string(),
            key_id: r.key_id.map(str::to_string),
            team: r.team.map(str::to_string),
            model: r.model.to_string(),
            provider: r.provider.to_string(),
            deployment: r.deployment.to_string(),
            region: r.region.to_string(),
            prompt_tokens: u.prompt,
            cached_tokens: u.cached_prompt.min(u.prompt),
            completion_tokens: u.completion,
            reasoning_tokens: u.reasoning,
            cost_nanos: nanos,
            latency_ms: r.latency.as_millis() as u64,
            ttft_ms: r.ttft.map(|t| t.as_millis() as u64),
            status: r.status,
            outcome: r.outcome.as_str().to_string(),
            attempts: r.attempts,
            estimated: r.estimated,
            route: r.route.map(str::to_string),
            endpoint: r.endpoint.as_str().to_string(),
        });
    }
    if r.outcome == Outcome::Failed {
        return nanos;
    }
    let cost = nanos as f64 / NANOS_PER_USD as f64;
    let counts = [u.prompt, u.cached_prompt, u.completion, u.reasoning];
    let exact_completion = r.outcome == Outcome::Completed && !r.estimated;
    match hot {
        Some(m) => {
            for (c, n) in m.tokens.iter().zip(counts) {
                c.increment(n);
            }
            m.cost.increment(cost);
            m.duration.record(r.latency.as_secs_f64());
            m.genai_tokens[0].record(u.prompt as f64);
            m.genai_tokens[1].record(u.completion as f64);
            m.genai_duration.record(r.latency.as_secs_f64());
        }
        None => {
            let labels = [
                ("model", r.model.to_string()),
                ("provider", r.provider.to_string()),
            ];
            for (kind, n) in TOKEN_KINDS.into_iter().zip(counts) {
                counter!("switchyard_tokens_total", "model" => r.model.to_string(), "provider" => r.provider.to_string(), "kind" => kind)
                    .increment(n);
            }
            gauge!("switchyard_cost_usd_total", &labels).increment(cost);
            histogram!("switchyard_request_duration_seconds", &labels)
                .record(r.latency.as_secs_f64());
            histogram!(GENAI_DURATION, "gen_ai_operation_name" => "chat", "gen_ai_system" => r.provider.to_string(),
                "gen_ai_request_model" => r.model.to_string())
            .record(r.latency.as_secs_f64());
            for (kind, n) in [("input", u.prompt), ("output", u.completion)] {
                histogram!(GENAI_TOKENS, "gen_ai_operation_name" => "chat", "gen_ai_system" => r.provider.to_string(),
                    "gen_ai_request_model" => r.model.to_string(), "gen_ai_token_type" => kind)
                .record(n as f64);
            }
        }
    }
    match hot {
        Some(m) if exact_completion => m.completed_exact.increment(1),
        _ => counter!("switchyard_usage_records_total", "model" => r.model.to_string(), "provider" => r.provider.to_string(),
            "outcome" => r.outcome.as_str(), "estimated" => if r.estimated { "true" } else { "false" })
        .increment(1),
    }
    tracing::debug!(
        target: "switchyard::usage",
        request_id = r.request_id,
        model = r.model,
        provider = r.provider,
        region = r.region,
        prompt = u.prompt,
        cached_prompt = u.cached_prompt,
        completion = u.completion,
        reasoning = u.reasoning,
        estimated = r.estimated,
        outcome = r.outcome.as_str(),
        cost_usd = cost,
        latency_ms = r.latency.as_millis() as u64,
    );
    nanos
}

/// The usage log opened for reading, for [`read_log`].
pub(crate) enum LogReader {
    /// The SQLite file.
    Sqlite(switchyard_ledger::SqliteStore),
    /// The PostgreSQL table.
    Postgres(Box<switchyard_ledger::PgStore>),
}

/// Open the usage log `usage` names and hand it to `read` — blocking, so off the
/// runtime's workers; `Ok(None)` when the log is off or its file does not exist yet
/// (opening would create it).
pub(crate) fn read_log<T>(
    usage: &crate::config::UsageConfig,
    read: impl FnOnce(LogReader) -> Result<T, switchyard_ledger::LedgerError>,
) -> Result<Option<T>, switchyard_ledger::LedgerError> {
    if !usage.enabled {
        return Ok(None);
    }
    if let Some((url, table)) = &usage.postgres {
        let store = switchyard_ledger::PgStore::connect_with(url, table, &usage.postgres_options)?;
        return read(LogReader::Postgres(Box::new(store))).map(Some);
    }
    let path = usage
        .path
        .clone()
        .unwrap_or_else(|| crate::config::default_usage_path(&|k| std::env::var(k).ok()));
    if !path.exists() {
        return Ok(None);
    }
    let store = switchyard_ledger::SqliteStore::open(&path)?;
    read(LogReader::Sqlite(store)).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_catalog::Catalog;

    #[test]
    fn usage_past_what_the_model_can_produce_is_replaced_by_bounded_figures() {
        let catalog = Catalog::builtin().unwrap();
        let m = catalog.get("deepseek-v4-flash").unwrap();
        let fine = TokenUsage {
            prompt: 10,
            cached_prompt: 5,
            completion: u64::from(m.max_output),
            reasoning: 3,
        };
        assert_eq!(implausible(fine, m, 12), None);
        let absurd = TokenUsage {
            prompt: u64::MAX,
            cached_prompt: u64::MAX,
            completion: u64::MAX,
            reasoning: u64::MAX,
        };
        let b = implausible(absurd, m, 12).unwrap();
        assert_eq!(b.prompt, 12, "the prompt estimate");
        assert_eq!(b.cached_prompt, 12);
        assert_eq!(b.completion, u64::from(m.max_output));
        assert_eq!(b.reasoning, b.completion);
    }
}
