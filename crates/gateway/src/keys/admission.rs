//! A key's live state — its rate-limit buckets and its spend in the current budget
//! period — and the [`Admission`] a request holds from it until its usage is recorded.
//!
//! [`Admission::local`] checks a request before any upstream call: requests per minute
//! and tokens per minute are token buckets, the tokens reserved up front (the prompt
//! estimate plus the most output the request may produce) and trued up with the real usage when it
//! ends; the budget reserves the request's largest possible cost and settles the real
//! one, so concurrent requests overshoot it by at most one request's maximum. With the
//! limits in Redis, [`super::redis`] admits instead and settles through [`SharedSettle`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use switchyard_ledger::keys::{BudgetPeriod, KeyRecord};

use crate::error::GatewayError;
use crate::routing::bucket::Bucket;
use crate::usage::now_ms;

/// Settles a request whose limits and budget live outside this process (Redis).
pub(crate) trait SharedSettle: std::fmt::Debug + Send + Sync {
    /// Give back `tokens_back` (may be negative), release `reserved` nano-dollars and
    /// add `spent`, in the background (never on the response's path).
    fn settle(&self, tokens_back: i64, reserved: u64, spent: u64);
}

#[derive(Debug)]
struct Spend {
    period_start: i64,
    spent: u64,
    reserved: u64,
}

/// One key with its live limit and spend state.
#[derive(Debug)]
pub struct KeyState {
    /// The key's settings.
    pub record: KeyRecord,
    rpm: Option<Mutex<Bucket>>,
    tpm: Option<Mutex<Bucket>>,
    spend: Mutex<Spend>,
}

impl KeyState {
    /// Spend so far in the current period, as this process knows it.
    pub fn spent_now(&self) -> u64 {
        self.spend
            .lock()
            .map_or(0, |s| s.spent.saturating_add(s.reserved))
    }

    fn add_local_spend(&self, nanos: u64) {
        let mut s = self
            .spend
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.spent = s.spent.saturating_add(nanos);
    }

    pub(crate) fn new(record: KeyRecord, spent: u64, now_ms: i64) -> Self {
        KeyState {
            rpm: record.rpm.map(|l| Mutex::new(Bucket::new(l))),
            tpm: record.tpm.map(|l| Mutex::new(Bucket::new(l))),
            spend: Mutex::new(Spend {
                period_start: record.budget_period.start(now_ms),
                spent,
                reserved: 0,
            }),
            record,
        }
    }
}

/// What a request holds from admission until its usage is recorded.
#[derive(Debug)]
pub(crate) struct Admission {
    /// The key.
    pub key: Arc<KeyState>,
    tokens_reserved: u64,
    nanos_reserved: u64,
    settled: Mutex<bool>,
    /// `x-ratelimit-*` headers for the response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Where to settle, when the limits live in Redis.
    shared: Option<Box<dyn SharedSettle>>,
}

impl Admission {
    /// An admission whose limits and budget live in Redis.
    pub(crate) fn shared(
        key: Arc<KeyState>,
        tokens_reserved: u64,
        nanos_reserved: u64,
        headers: Vec<(HeaderName, HeaderValue)>,
        settler: Box<dyn SharedSettle>,
    ) -> Self {
        Admission {
            key,
            tokens_reserved,
            nanos_reserved,
            settled: Mutex::new(false),
            headers,
            shared: Some(settler),
        }
    }

    /// The request ended having used `tokens` and cost `nanos`: true up the token bucket
    /// and the budget. Later calls (and the drop) do nothing.
    pub(crate) fn settle(&self, tokens: u64, nanos: u64) {
        let mut done = self
            .settled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *done {
            return;
        }
        *done = true;
        if let Some(settler) = &self.shared {
            let back = i64::try_from(self.tokens_reserved).unwrap_or(i64::MAX)
                - i64::try_from(tokens).unwrap_or(i64::MAX);
            settler.settle(back, self.nanos_reserved, nanos);
            // Also counted here: what this process knows, if Redis is away later.
            self.key.add_local_spend(nanos);
            return;
        }
        if let Some(b) = &self.key.tpm {
            let mut b = b.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            b.adjust(self.tokens_reserved as f64 - tokens as f64);
        }
        let mut s = self
            .key
            .spend
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.reserved = s.reserved.saturating_sub(self.nanos_reserved);
        s.spent = s.spent.saturating_add(nanos);
    }

    /// Spend of an extra attempt (a cancelled hedge), on top of the request's own.
    pub(crate) fn add_spend(&self, nanos: u64) {
        if let Some(settler) = &self.shared {
            settler.settle(0, 0, nanos);
            self.key.add_local_spend(nanos);
            return;
        }
        let mut s = self
            .key
            .spend
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.spent = s.spent.saturating_add(nanos);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        // Never recorded (the request failed before any usage): nothing was used.
        self.settle(0, 0);
    }
}

impl KeyState {
    /// 403 unless the key may use `model`.
    pub fn check_model(&self, model: &str) -> Result<(), GatewayError> {
        if self.record.may_use(model) {
            return Ok(());
        }
        Err(GatewayError::Denied {
            status: StatusCode::FORBIDDEN,
            kind: "permission_error",
            code: "model_not_allowed",
            message: format!(
                "key '{}' may not use model '{model}'; it may use: {}",
                self.record.id,
                self.record.models.join(", ")
            ),
            retry_after_secs: None,
            headers: Vec::new(),
        })
    }
}

impl Admission {
    /// Check a request of an identified key: the model, rate limits and budget. `tokens`
    /// is the prompt estimate plus the most output the request may produce; `max_nanos`
    /// the most it may cost.
    pub(crate) fn local(
        state: Arc<KeyState>,
        model: &str,
        tokens: u64,
        max_nanos: u64,
    ) -> Result<Admission, GatewayError> {
        let now = now_ms();
        state.check_model(model)?;
        let mut rl_headers = Vec::new();
        if let Some(b) = &state.rpm {
            let mut b = b.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let taken = b.take(1.0);
            push_headers(&mut rl_headers, "requests", &b);
            if let Err(wait) = taken {
                return Err(limited(&state, "requests", wait, rl_headers));
            }
        }
        if let Some(b) = &state.tpm {
            let mut b = b.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let taken = b.take(tokens as f64);
            push_headers(&mut rl_headers, "tokens", &b);
            if let Err(wait) = taken {
                // Give back the request slot taken above: this request is not made.
                if let Some(r) = &state.rpm {
                    r.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .adjust(1.0);
                }
                return Err(limited(&state, "tokens", wait, rl_headers));
            }
        }
        let mut nanos_reserved = 0;
        if let Some(budget) = state.record.budget_nanos {
            let mut s = state
                .spend
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let start = state.record.budget_period.start(now);
            if start != s.period_start {
                s.period_start = start;
                s.spent = 0;
            }
            if s.spent.saturating_add(s.reserved).saturating_add(max_nanos) > budget {
                drop(s);
                let refund = |b: &Option<Mutex<Bucket>>, n: f64| {
                    if let Some(b) = b {
                        b.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .adjust(n);
                    }
                };
                refund(&state.rpm, 1.0);
                refund(&state.tpm, tokens as f64);
                return Err(over_budget(&state));
            }
            s.reserved += max_nanos;
            nanos_reserved = max_nanos;
        }
        let tokens_reserved = if state.tpm.is_some() { tokens } else { 0 };
        Ok(Admission {
            key: state,
            tokens_reserved,
            nanos_reserved,
            settled: Mutex::new(false),
            headers: rl_headers,
            shared: None,
        })
    }
}

fn push_headers(out: &mut Vec<(HeaderName, HeaderValue)>, what: &str, b: &Bucket) {
    let mut add = |name: String, value: String| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            out.push((n, v));
        }
    };
    add(
        format!("x-ratelimit-limit-{what}"),
        format!("{}", b.limit as u64),
    );
    add(
        format!("x-ratelimit-remaining-{what}"),
        b.remaining().to_string(),
    );
    add(
        format!("x-ratelimit-reset-{what}"),
        format!("{:.3}s", b.reset_secs()),
    );
}

pub(crate) fn limited(
    state: &KeyState,
    what: &str,
    wait: Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
) -> GatewayError {
    GatewayError::Denied {
        status: StatusCode::TOO_MANY_REQUESTS,
        kind: "rate_limit_error",
        code: "rate_limit_exceeded",
        message: format!(
            "key '{}' is over its {what}-per-minute limit; retry in {:.1}s",
            state.record.id,
            wait.as_secs_f64()
        ),
        retry_after_secs: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
        headers,
    }
}

pub(crate) fn over_budget(state: &KeyState) -> GatewayError {
    let budget = state.record.budget_nanos.unwrap_or(0);
    let period = match state.record.budget_period {
        BudgetPeriod::Day => "today's",
        BudgetPeriod::Month => "this month's",
        BudgetPeriod::Total => "its whole",
    };
    GatewayError::Denied {
        status: StatusCode::PAYMENT_REQUIRED,
        kind: "insufficient_quota",
        code: "budget_exceeded",
        message: format!(
            "key '{}' has used {period} budget of ${:.6} (this request could cost more than is left)",
            state.record.id,
            budget as f64 / 1e9
        ),
        retry_after_secs: None,
        headers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(
        models: &[&str],
        rpm: Option<u64>,
        tpm: Option<u64>,
        budget: Option<u64>,
    ) -> Arc<KeyState> {
        let record = KeyRecord {
            id: "k1".into(),
            name: "test".into(),
            team: None,
            models: models.iter().map(|m| (*m).to_string()).collect(),
            rpm,
            tpm,
            budget_nanos: budget,
            budget_period: BudgetPeriod::Day,
            expires_ms: None,
            revoked_ms: None,
            created_ms: 0,
        };
        Arc::new(KeyState::new(record, 0, now_ms()))
    }

    fn refusal(r: Result<Admission, GatewayError>) -> (StatusCode, &'static str) {
        match r {
            Err(GatewayError::Denied { status, code, .. }) => (status, code),
            Err(e) => panic!("unexpected error {e:?}"),
            Ok(_) => panic!("admitted"),
        }
    }

    #[test]
    fn a_key_limited_to_some_models_is_refused_the_others_with_403() {
        let k = key(&["deepseek-chat"], None, None, None);
        assert!(Admission::local(Arc::clone(&k), "deepseek-chat", 10, 0).is_ok());
        let (status, code) = refusal(Admission::local(k, "glm-4.6", 10, 0));
        assert_eq!((status, code), (StatusCode::FORBIDDEN, "model_not_allowed"));
    }

    #[test]
    fn past_its_requests_per_minute_a_key_gets_429_with_rate_limit_headers() {
        let k = key(&[], Some(1), None, None);
        let first = Admission::local(Arc::clone(&k), "m", 10, 0).unwrap();
        let names: Vec<&str> = first.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            names.contains(&"x-ratelimit-remaining-requests"),
            "{names:?}"
        );
        let err = Admission::local(k, "m", 10, 0).err().unwrap();
        let GatewayError::Denied {
            status,
            code,
            retry_after_secs,
            headers,
            ..
        } = err
        else {
            panic!("not a refusal");
        };
        assert_eq!(
            (status, code),
            (StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded")
        );
        assert!(retry_after_secs.is_some_and(|s| s >= 1));
        assert!(
            !headers.is_empty(),
            "the refusal says where the limit stands"
        );
    }

    #[test]
    fn tokens_reserved_and_unused_go_back_when_the_request_settles() {
        let k = key(&[], None, Some(1_000), None);
        let a = Admission::local(Arc::clone(&k), "m", 900, 0).unwrap();
        let (status, _) = refusal(Admission::local(Arc::clone(&k), "m", 900, 0));
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "900 of 1000 reserved"
        );
        a.settle(100, 0);
        assert!(
            Admission::local(k, "m", 800, 0).is_ok(),
            "800 unused came back"
        );
    }

    #[test]
    fn a_request_that_could_cost_more_than_the_budget_left_gets_402_and_holds_nothing() {
        let k = key(&[], Some(10), None, Some(1_000));
        let a = Admission::local(Arc::clone(&k), "m", 1, 600).unwrap();
        assert_eq!(k.spent_now(), 600, "the most it may cost is reserved");
        let (status, code) = refusal(Admission::local(Arc::clone(&k), "m", 1, 600));
        assert_eq!(
            (status, code),
            (StatusCode::PAYMENT_REQUIRED, "budget_exceeded")
        );
        a.settle(1, 250);
        assert_eq!(k.spent_now(), 250, "the reservation became the real cost");
        assert!(Admission::local(k, "m", 1, 600).is_ok());
    }

    #[test]
    fn an_admission_dropped_unsettled_gives_everything_back() {
        let k = key(&[], None, Some(100), Some(1_000));
        drop(Admission::local(Arc::clone(&k), "m", 100, 1_000).unwrap());
        assert_eq!(k.spent_now(), 0);
        assert!(Admission::local(k, "m", 100, 1_000).is_ok());
    }
}
