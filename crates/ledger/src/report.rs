//! `switchyard usage`: the log grouped by key, team, model, day or endpoint, as a table, JSON or CSV.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use serde::Serialize;

use crate::event::UsageEvent;

/// What rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// Gateway key id (`-` without a key).
    Key,
    /// Team of the key (`-` without one).
    Team,
    /// Canonical model id.
    Model,
    /// UTC day, `YYYY-MM-DD`.
    Day,
    /// The API requests came in by (`chat.completions`, `messages`, …).
    Endpoint,
}

impl FromStr for GroupBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "key" => Ok(GroupBy::Key),
            "team" => Ok(GroupBy::Team),
            "model" => Ok(GroupBy::Model),
            "day" => Ok(GroupBy::Day),
            "endpoint" => Ok(GroupBy::Endpoint),
            other => Err(format!(
                "cannot group by '{other}': use key, team, model, day or endpoint"
            )),
        }
    }
}

/// One group's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The group's value.
    pub group: String,
    /// Requests (extra attempts such as cancelled hedges not counted).
    pub requests: u64,
    /// Requests that did not complete (failed, interrupted, client gone).
    pub not_completed: u64,
    /// Prompt tokens, cached included.
    pub prompt_tokens: u64,
    /// Cached prompt tokens.
    pub cached_tokens: u64,
    /// Completion tokens, reasoning included.
    pub completion_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Spend in nano-dollars, extra attempts included.
    pub cost_nanos: u64,
    /// Spend in dollars (the same figure, for people).
    pub cost_usd: f64,
    /// Median latency, ms.
    pub latency_p50_ms: u64,
    /// 99th percentile latency, ms.
    pub latency_p99_ms: u64,
    /// Median time to first token of streams, ms.
    pub ttft_p50_ms: Option<u64>,
}

/// What one key, team and model spent on one UTC day ([`crate::SqliteStore::spend_between`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendRow {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Gateway key id, when keys were on.
    pub key_id: Option<String>,
    /// The key's team.
    pub team: Option<String>,
    /// Canonical model id.
    pub model: String,
    /// Cost in nano-dollars.
    pub cost_nanos: u64,
}

/// Group `events` into rows, sorted by group.
pub fn summarize(events: &[UsageEvent], by: GroupBy) -> Vec<Row> {
    #[derive(Default)]
    struct Acc {
        requests: u64,
        not_completed: u64,
        tokens: [u64; 4],
        cost: u64,
        latencies: Vec<u64>,
        ttfts: Vec<u64>,
    }
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    for e in events {
        let key = match by {
            GroupBy::Key => e.key_id.clone().unwrap_or_else(|| "-".into()),
            GroupBy::Team => e.team.clone().unwrap_or_else(|| "-".into()),
            GroupBy::Model => e.model.clone(),
            GroupBy::Day => day(e.ts_ms),
            GroupBy::Endpoint => e.endpoint.clone(),
        };
        let a = groups.entry(key).or_default();
        a.cost = a.cost.saturating_add(e.cost_nanos);
        for (t, n) in a.tokens.iter_mut().zip([
            e.prompt_tokens,
            e.cached_tokens,
            e.completion_tokens,
            e.reasoning_tokens,
        ]) {
            *t = t.saturating_add(n);
        }
        if e.outcome == "hedge_cancelled" {
            continue;
        }
        a.requests += 1;
        if e.outcome != "completed" {
            a.not_completed += 1;
        }
        a.latencies.push(e.latency_ms);
        if let Some(t) = e.ttft_ms {
            a.ttfts.push(t);
        }
    }
    groups
        .into_iter()
        .map(|(group, mut a)| Row {
            group,
            requests: a.requests,
            not_completed: a.not_completed,
            prompt_tokens: a.tokens[0],
            cached_tokens: a.tokens[1],
            completion_tokens: a.tokens[2],
            reasoning_tokens: a.tokens[3],
            cost_nanos: a.cost,
            cost_usd: a.cost as f64 / 1e9,
            latency_p50_ms: percentile(&mut a.latencies, 50.0).unwrap_or(0),
            latency_p99_ms: percentile(&mut a.latencies, 99.0).unwrap_or(0),
            ttft_p50_ms: percentile(&mut a.ttfts, 50.0),
        })
        .collect()
}

fn percentile(v: &mut [u64], p: f64) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// `YYYY-MM-DD` (UTC) of a Unix time in milliseconds.
pub fn day(ts_ms: i64) -> String {
    let days = ts_ms.div_euclid(86_400_000);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A plain-text table.
pub fn table(rows: &[Row], by: GroupBy) -> String {
    let head = match by {
        GroupBy::Key => "key",
        GroupBy::Team => "team",
        GroupBy::Model => "model",
        GroupBy::Day => "day",
        GroupBy::Endpoint => "endpoint",
    };
    let width = rows
        .iter()
        .map(|r| r.group.len())
        .chain([head.len()])
        .max()
        .unwrap_or(4);
    let mut out = format!(
        "{head:<width$}  {:>9}  {:>7}  {:>11}  {:>10}  {:>11}  {:>12}  {:>8}  {:>8}  {:>8}\n",
        "requests",
        "failed",
        "prompt",
        "cached",
        "completion",
        "cost USD",
        "p50 ms",
        "p99 ms",
        "ttft p50"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<width$}  {:>9}  {:>7}  {:>11}  {:>10}  {:>11}  {:>12.6}  {:>8}  {:>8}  {:>8}",
            r.group,
            r.requests,
            r.not_completed,
            r.prompt_tokens,
            r.cached_tokens,
            r.completion_tokens,
            r.cost_usd,
            r.latency_p50_ms,
            r.latency_p99_ms,
            r.ttft_p50_ms
                .map_or_else(|| "-".to_string(), |t| t.to_string()),
        );
    }
    let total: u64 = rows.iter().map(|r| r.cost_nanos).sum();
    let requests: u64 = rows.iter().map(|r| r.requests).sum();
    let _ = writeln!(
        out,
        "{} requests, ${:.6} in all",
        requests,
        total as f64 / 1e9
    );
    out
}

/// CSV with a header row.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "group,requests,not_completed,prompt_tokens,cached_tokens,completion_tokens,reasoning_tokens,cost_nanos,cost_usd,latency_p50_ms,latency_p99_ms,ttft_p50_ms\n",
    );
    for r in rows {
        let group = if r.group.contains([',', '"', '\n']) {
            format!("\"{}\"", r.group.replace('"', "\"\""))
        } else {
            r.group.clone()
        };
        let _ = writeln!(
            out,
            "{group},{},{},{},{},{},{},{},{:.9},{},{},{}",
            r.requests,
            r.not_completed,
            r.prompt_tokens,
            r.cached_tokens,
            r.completion_tokens,
            r.reasoning_tokens,
            r.cost_nanos,
            r.cost_usd,
            r.latency_p50_ms,
            r.latency_p99_ms,
            r.ttft_p50_ms.map_or_else(String::new, |t| t.to_string()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(
        model: &str,
        key: Option<&str>,
        ts_ms: i64,
        cost: u64,
        latency: u64,
        outcome: &str,
    ) -> UsageEvent {
        UsageEvent {
            ts_ms,
            request_id: "r".into(),
            key_id: key.map(Into::into),
            team: None,
            model: model.into(),
            provider: "p".into(),
            deployment: "d".into(),
            region: "r".into(),
            prompt_tokens: 10,
            cached_tokens: 2,
            completion_tokens: 5,
            reasoning_tokens: 1,
            cost_nanos: cost,
            latency_ms: latency,
            ttft_ms: None,
            status: 200,
            outcome: outcome.into(),
            attempts: 1,
            estimated: false,
            route: None,
            endpoint: "chat.completions".into(),
        }
    }

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(951_782_400_000), "2000-02-29");
        assert_eq!(day(1_795_996_799_999), "2026-11-29");
        assert_eq!(day(1_795_996_800_000), "2026-11-30");
    }

    #[test]
    fn groups_sum_cost_exactly_and_hedge_losers_add_cost_not_requests() {
        let events = [
            ev("a", Some("k1"), 0, 1_000, 10, "completed"),
            ev("a", Some("k1"), 1, 2_000, 30, "completed"),
            ev("a", Some("k1"), 2, 500, 0, "hedge_cancelled"),
            ev("b", None, 3, 7, 20, "failed"),
        ];
        let rows = summarize(&events, GroupBy::Model);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].group.as_str(), rows[0].requests, rows[0].cost_nanos),
            ("a", 2, 3_500)
        );
        assert_eq!((rows[0].latency_p50_ms, rows[0].latency_p99_ms), (10, 30));
        assert_eq!((rows[1].requests, rows[1].not_completed), (1, 1));
        let by_key = summarize(&events, GroupBy::Key);
        assert_eq!(by_key[0].group, "-");
        assert!(table(&rows, GroupBy::Model).contains("3 requests, $0.000004 in all"));
        assert!(
            csv(&rows)
                .lines()
                .nth(1)
                .unwrap()
                .starts_with("a,2,0,30,6,15,3,3500,")
        );
    }
}
