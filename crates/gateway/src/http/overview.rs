//! The parts of `GET /admin/overview` that are not series: the breakers as a list, and
//! spend per key, team and model against the keys' budgets.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use switchyard_catalog::NANOS_PER_USD;
use switchyard_ledger::keys::BudgetPeriod;

use crate::spend::{Rows, Sums};
use crate::state::AppState;

fn usd(nanos: u64) -> f64 {
    nanos as f64 / NANOS_PER_USD as f64
}

/// Every deployment's breaker — `closed`, `half_open` or `open`, why it last opened
/// and when — sorted by provider and deployment.
pub(super) fn breakers(st: &AppState) -> Vec<Value> {
    let snapshot = st.health.snapshot();
    let mut list: Vec<Value> = snapshot["providers"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(provider, deployments)| {
            deployments
                .as_object()
                .into_iter()
                .flatten()
                .map(move |(name, b)| {
                    let mut b = b.clone();
                    b["provider"] = provider.as_str().into();
                    b["deployment"] = name.as_str().into();
                    b
                })
        })
        .collect();
    list.sort_by(|a, b| {
        (a["provider"].as_str(), a["deployment"].as_str())
            .cmp(&(b["provider"].as_str(), b["deployment"].as_str()))
    });
    list
}

/// Budgets by team: what its keys may spend per day and per month.
#[derive(Default)]
struct TeamBudget {
    day: u64,
    month: u64,
}

/// A key's name, team and budget, with what it spent of it this period.
fn key_budget(k: &crate::keys::KeyState) -> Value {
    let r = &k.record;
    let mut v = json!({ "name": r.name, "team": r.team });
    if let Some(b) = r.budget_nanos {
        let spent = k.spent_now();
        v["budget_usd"] = usd(b).into();
        v["budget_period"] = r.budget_period.as_str().into();
        v["period_spent_usd"] = usd(spent).into();
        v["budget_used"] = (spent as f64 / b.max(1) as f64).into();
    }
    v
}

/// Rows of each kind in the overview: the biggest spenders this month.
const SPEND_ROWS: usize = 100;

/// Spend today and this month per key (with its budget), team (with the sum of its keys'
/// budgets) and model: the [`SPEND_ROWS`] that spent most this month of each, with how
/// many there are in all.
pub(super) fn spend(st: &AppState) -> Value {
    let (mut keys, mut teams, mut models) = st.spend.snapshot(crate::usage::now_ms());
    let counts = json!({ "keys": keys.len(), "teams": teams.len(), "models": models.len() });
    for rows in [&mut keys, &mut teams, &mut models] {
        rows.truncate(SPEND_ROWS);
    }
    let mut budgets: BTreeMap<String, Value> = BTreeMap::new();
    let mut team_budgets: BTreeMap<String, TeamBudget> = BTreeMap::new();
    let shown: std::collections::HashSet<&str> = keys.iter().map(|(id, _)| id.as_str()).collect();
    if let Some(ring) = &st.keys {
        ring.for_each(|k| {
            let r = &k.record;
            if let Some(b) = r.budget_nanos {
                let team = team_budgets
                    .entry(r.team.clone().unwrap_or_default())
                    .or_default();
                match r.budget_period {
                    BudgetPeriod::Day => team.day = team.day.saturating_add(b),
                    BudgetPeriod::Month => team.month = team.month.saturating_add(b),
                    BudgetPeriod::Total => {}
                }
            }
            if shown.contains(r.id.as_str()) {
                budgets.insert(r.id.clone(), key_budget(k));
            }
        });
    }
    let row = |name: &str, what: &str, s: &Sums| json!({ what: name, "today_usd": usd(s.today_nanos), "month_usd": usd(s.month_nanos) });
    let rows = |rows: &Rows, what: &str, f: &dyn Fn(&str, &mut Value)| -> Vec<Value> {
        rows.iter()
            .map(|(name, s)| {
                let mut v = row(name, what, s);
                f(name, &mut v);
                v
            })
            .collect()
    };
    json!({
        "keys": rows(&keys, "key", &|name, v| {
            if let Some(Value::Object(extra)) = budgets.get(name) {
                for (k, x) in extra {
                    v[k.as_str()] = x.clone();
                }
            }
        }),
        "teams": rows(&teams, "team", &|name, v| {
            if let Some(b) = team_budgets.get(name) {
                v["day_budget_usd"] = (b.day > 0).then(|| usd(b.day)).into();
                v["month_budget_usd"] = (b.month > 0).then(|| usd(b.month)).into();
            }
        }),
        "models": rows(&models, "model", &|_, _| {}),
        "counts": counts,
    })
}
