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

/// Spend today and this month per key (with its budget), team (with the sum of its keys'
/// budgets) and model.
pub(super) fn spend(st: &AppState) -> Value {
    let (keys, teams, models) = st.spend.snapshot(crate::usage::now_ms());
    let mut budgets: BTreeMap<String, Value> = BTreeMap::new();
    let mut team_budgets: BTreeMap<String, TeamBudget> = BTreeMap::new();
    if let Some(ring) = &st.keys {
        ring.for_each(|k| {
            let r = &k.record;
            let mut v = json!({ "name": r.name, "team": r.team });
            if let Some(b) = r.budget_nanos {
                v["budget_usd"] = usd(b).into();
                v["budget_period"] = r.budget_period.as_str().into();
                v["period_spent_usd"] = usd(k.spent_now()).into();
                v["budget_used"] = (k.spent_now() as f64 / b.max(1) as f64).into();
                let team = team_budgets
                    .entry(r.team.clone().unwrap_or_default())
                    .or_default();
                match r.budget_period {
                    BudgetPeriod::Day => team.day = team.day.saturating_add(b),
                    BudgetPeriod::Month => team.month = team.month.saturating_add(b),
                    BudgetPeriod::Total => {}
                }
            }
            budgets.insert(r.id.clone(), v);
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
    })
}
