//! The fault table: failures injected per provider and region through the admin API.
//!
//! A rule pairs a *scope* (provider and region; region `*` covers every region of the
//! provider) with a [`FaultSpec`]: what happens ([`FaultKind`]), how often (`probability`,
//! drawn from the request's seeded RNG) and how many times (`count`, absent = until
//! cleared). Looking a request up costs one atomic load while the table is empty.
//!
//! A whole region down is a rule on that region (`server_error`, or `drop_after` with
//! `tokens: 0`); a heavy tail is a `latency_spike` with a `probability`. New effects are
//! new [`FaultKind`] variants mapped in [`FaultTable::pick`]; several rules per scope can
//! replace the single rule kept now.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

use crate::failure::Failure;
use crate::hostile::Hostile;

/// Region label that makes a rule apply to every region of its provider.
pub const ANY_REGION: &str = "*";

/// What a fault does to the requests it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The vendor's rate-limit error (HTTP 429).
    RateLimit,
    /// The vendor's out-of-capacity error (503 or 429, per vendor).
    Overloaded,
    /// The vendor's balance-exhausted error (402, 403 or 429, per vendor).
    InsufficientBalance,
    /// The vendor's internal error (HTTP 500).
    ServerError,
    /// The vendor's invalid-key error (HTTP 401).
    Auth,
    /// Stream `tokens` output tokens, then close the connection without `[DONE]`.
    DropAfter,
    /// Stream `tokens` output tokens, then send nothing more until the client leaves.
    StallAfter,
    /// Answer normally, but only after an extra `delay_ms` (not scaled by `time_scale`):
    /// a latency spike, the heavy tail that hedged requests are for.
    LatencySpike,
    /// Answer with content made only of spaces, as DeepSeek's JSON mode does when its
    /// output is not JSON (tool calls are left alone).
    BlankAnswer,
    /// Hostile: a tool call, then a choice, at index 4,000,000,000.
    HugeIndex,
    /// Hostile: an SSE line (or JSON body) that never ends.
    EndlessLine,
    /// Hostile: a well-formed answer of `bytes` bytes (default 4 GiB).
    HugeBody,
    /// Hostile: usage numbers of `u64::MAX`, negative and not numbers at all.
    AbsurdUsage,
    /// Hostile: content bytes that are not UTF-8.
    InvalidUtf8,
    /// Hostile: the normal answer, one byte every `delay_ms` (default 1000).
    Drip,
}

/// Default size of a `huge_body` answer.
pub(crate) const DEFAULT_HUGE_BODY: u64 = 4 * 1024 * 1024 * 1024;

/// A fault as set with `PUT /_sim/faults/{provider}/{region}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// What happens.
    pub kind: FaultKind,
    /// Output tokens sent before a `drop_after` / `stall_after` (default 0).
    #[serde(default)]
    pub tokens: u32,
    /// Requests left to hit; absent = until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Chance that a request in scope is hit, in `[0, 1]` (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// For error faults: a `Retry-After` header, in seconds, on the error response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u32>,
    /// For `latency_spike`: the extra wait before the answer starts, in milliseconds;
    /// for `drip`: the wait between bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// For `huge_body`: the size of the answer, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

impl FaultSpec {
    /// Why the spec cannot be used, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.count == Some(0) {
            return Err(
                "`count` must be at least 1 (omit it for a fault that stays until cleared)".into(),
            );
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("`probability` must be between 0 and 1, got {p}"));
        }
        if self.bytes.is_some() && self.kind != FaultKind::HugeBody {
            return Err("`bytes` applies only to `huge_body`".into());
        }
        match (self.kind, self.delay_ms) {
            (FaultKind::LatencySpike, None) => {
                Err("`latency_spike` needs `delay_ms` (e.g. 2000)".into())
            }
            (FaultKind::LatencySpike | FaultKind::Drip, Some(d)) if d > 600_000 => Err(format!(
                "`delay_ms` must be at most 600000 (10 minutes), got {d}"
            )),
            (FaultKind::LatencySpike | FaultKind::Drip, Some(_)) | (_, None) => Ok(()),
            (_, Some(_)) => Err("`delay_ms` applies only to `latency_spike` and `drip`".into()),
        }
    }
}

/// A fault applied to one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Injected {
    /// Answer with this error instead (with a `Retry-After`, in seconds, if set).
    Error(Failure, Option<u32>),
    /// Cut the connection after this many output tokens.
    DropAfter(u32),
    /// Go silent after this many output tokens.
    StallAfter(u32),
    Delay(std::time::Duration),
    /// Blank out the answer's content.
    Blank,
    /// Answer with something no vendor should send.
    Hostile(Hostile),
    /// Send the answer one byte at a time, this far apart.
    Drip(std::time::Duration),
}

/// The rules, by provider then region.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    /// Number of rules, read without the lock on every request.
    active: AtomicUsize,
    rules: Mutex<BTreeMap<String, BTreeMap<String, FaultSpec>>>,
}

/// One rule, for listings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FaultEntry {
    /// Provider id.
    pub provider: String,
    /// Region label, or `*`.
    pub region: String,
    /// The fault (with `count` showing the uses left).
    #[serde(flatten)]
    pub spec: FaultSpec,
}

impl FaultTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BTreeMap<String, FaultSpec>>> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn recount(&self, rules: &BTreeMap<String, BTreeMap<String, FaultSpec>>) {
        let n = rules.values().map(BTreeMap::len).sum();
        self.active.store(n, Ordering::Release);
    }

    /// Set (or replace) the rule for a scope.
    pub(crate) fn set(&self, provider: &str, region: &str, spec: FaultSpec) {
        let mut rules = self.lock();
        rules
            .entry(provider.to_string())
            .or_default()
            .insert(region.to_string(), spec);
        self.recount(&rules);
    }

    /// Remove the rule of a scope; whether there was one.
    pub(crate) fn clear(&self, provider: &str, region: &str) -> bool {
        let mut rules = self.lock();
        let removed = match rules.get_mut(provider) {
            Some(regions) => {
                let removed = regions.remove(region).is_some();
                if regions.is_empty() {
                    rules.remove(provider);
                }
                removed
            }
            None => false,
        };
        self.recount(&rules);
        removed
    }

    /// Remove every rule; how many there were.
    pub(crate) fn clear_all(&self) -> usize {
        let mut rules = self.lock();
        let n = rules.values().map(BTreeMap::len).sum();
        rules.clear();
        self.recount(&rules);
        n
    }

    /// Every rule.
    pub(crate) fn list(&self) -> Vec<FaultEntry> {
        let rules = self.lock();
        rules
            .iter()
            .flat_map(|(p, regions)| {
                regions.iter().map(move |(r, spec)| FaultEntry {
                    provider: p.clone(),
                    region: r.clone(),
                    spec: *spec,
                })
            })
            .collect()
    }

    /// The fault that hits a request to `provider`/`region`, if any; uses up one `count`.
    pub(crate) fn pick(
        &self,
        provider: &str,
        region: &str,
        rng: &mut SmallRng,
    ) -> Option<Injected> {
        if self.active.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut rules = self.lock();
        let regions = rules.get_mut(provider)?;
        let key = if regions.contains_key(region) {
            region
        } else if regions.contains_key(ANY_REGION) {
            ANY_REGION
        } else {
            return None;
        };
        let spec = regions.get_mut(key)?;
        if let Some(p) = spec.probability
            && !rng.random_bool(p.clamp(0.0, 1.0))
        {
            return None;
        }
        let hit = *spec;
        if let Some(left) = &mut spec.count {
            *left = left.saturating_sub(1);
            if *left == 0 {
                regions.remove(key);
                if regions.is_empty() {
                    rules.remove(provider);
                }
                self.recount(&rules);
            }
        }
        Some(match hit.kind {
            FaultKind::RateLimit => Injected::Error(Failure::RateLimited, hit.retry_after_secs),
            FaultKind::Overloaded => Injected::Error(Failure::Overloaded, hit.retry_after_secs),
            FaultKind::InsufficientBalance => {
                Injected::Error(Failure::InsufficientBalance, hit.retry_after_secs)
            }
            FaultKind::ServerError => Injected::Error(Failure::ServerError, hit.retry_after_secs),
            FaultKind::Auth => Injected::Error(Failure::InvalidKey, hit.retry_after_secs),
            FaultKind::DropAfter => Injected::DropAfter(hit.tokens),
            FaultKind::StallAfter => Injected::StallAfter(hit.tokens),
            FaultKind::LatencySpike => {
                Injected::Delay(std::time::Duration::from_millis(hit.delay_ms.unwrap_or(0)))
            }
            FaultKind::BlankAnswer => Injected::Blank,
            FaultKind::HugeIndex => Injected::Hostile(Hostile::HugeIndex),
            FaultKind::EndlessLine => Injected::Hostile(Hostile::EndlessLine),
            FaultKind::HugeBody => {
                Injected::Hostile(Hostile::HugeBody(hit.bytes.unwrap_or(DEFAULT_HUGE_BODY)))
            }
            FaultKind::AbsurdUsage => Injected::Hostile(Hostile::AbsurdUsage),
            FaultKind::InvalidUtf8 => Injected::Hostile(Hostile::InvalidUtf8),
            FaultKind::Drip => Injected::Drip(std::time::Duration::from_millis(
                hit.delay_ms.unwrap_or(1000),
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::request_rng;

    fn spec(kind: FaultKind) -> FaultSpec {
        FaultSpec {
            kind,
            tokens: 0,
            count: None,
            probability: None,
            retry_after_secs: None,
            delay_ms: None,
            bytes: None,
        }
    }

    #[test]
    fn spec_parses_from_admin_json_and_rejects_typos() {
        let s: FaultSpec =
            serde_json::from_str(r#"{"kind":"drop_after","tokens":5,"count":2}"#).unwrap();
        assert_eq!(s.kind, FaultKind::DropAfter);
        assert_eq!((s.tokens, s.count), (5, Some(2)));
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind":"rate_limit","tokns":5}"#).is_err());
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind":"meteor"}"#).is_err());
        let zero: FaultSpec = serde_json::from_str(r#"{"kind":"auth","count":0}"#).unwrap();
        assert!(zero.validate().is_err());
        let spike: FaultSpec =
            serde_json::from_str(r#"{"kind":"latency_spike","delay_ms":1500}"#).unwrap();
        assert!(spike.validate().is_ok());
        let no_delay: FaultSpec = serde_json::from_str(r#"{"kind":"latency_spike"}"#).unwrap();
        assert!(no_delay.validate().unwrap_err().contains("delay_ms"));
        let stray: FaultSpec =
            serde_json::from_str(r#"{"kind":"rate_limit","delay_ms":5}"#).unwrap();
        assert!(stray.validate().is_err());
    }

    #[test]
    fn empty_table_hits_nothing() {
        let t = FaultTable::default();
        assert_eq!(t.pick("deepseek", "global", &mut request_rng(0, 0)), None);
    }

    #[test]
    fn count_limits_uses_then_the_rule_disappears() {
        let t = FaultTable::default();
        t.set(
            "zhipu",
            "cn",
            FaultSpec {
                count: Some(2),
                ..spec(FaultKind::Overloaded)
            },
        );
        let mut rng = request_rng(0, 0);
        assert_eq!(
            t.pick("zhipu", "global", &mut rng),
            None,
            "other region untouched"
        );
        assert_eq!(
            t.pick("zhipu", "cn", &mut rng),
            Some(Injected::Error(Failure::Overloaded, None))
        );
        assert_eq!(t.list()[0].spec.count, Some(1));
        assert_eq!(
            t.pick("zhipu", "cn", &mut rng),
            Some(Injected::Error(Failure::Overloaded, None))
        );
        assert_eq!(t.pick("zhipu", "cn", &mut rng), None);
        assert!(t.list().is_empty());
    }

    #[test]
    fn wildcard_region_covers_the_provider_and_exact_rules_win() {
        let t = FaultTable::default();
        t.set("moonshot", ANY_REGION, spec(FaultKind::RateLimit));
        t.set(
            "moonshot",
            "cn",
            FaultSpec {
                tokens: 3,
                ..spec(FaultKind::DropAfter)
            },
        );
        let mut rng = request_rng(0, 0);
        assert_eq!(
            t.pick("moonshot", "global", &mut rng),
            Some(Injected::Error(Failure::RateLimited, None))
        );
        assert_eq!(
            t.pick("moonshot", "cn", &mut rng),
            Some(Injected::DropAfter(3))
        );
        assert!(t.clear("moonshot", "cn"));
        assert!(!t.clear("moonshot", "cn"));
        assert_eq!(t.clear_all(), 1);
        assert_eq!(t.pick("moonshot", "global", &mut rng), None);
    }

    #[test]
    fn probability_hits_about_that_share_reproducibly() {
        let t = FaultTable::default();
        t.set(
            "p",
            "r",
            FaultSpec {
                probability: Some(0.25),
                ..spec(FaultKind::ServerError)
            },
        );
        let hits = |seed| {
            (0..4000)
                .filter(|&n| t.pick("p", "r", &mut request_rng(seed, n)).is_some())
                .count()
        };
        let a = hits(5);
        assert!((850..=1150).contains(&a), "{a}");
        assert_eq!(a, hits(5));
    }
}
