//! The gateway's background tasks — active health probes, key refreshes and the series'
//! in-flight samples and SLO saves of every state in force — spawned here and nowhere else. Each ends by itself once its state is
//! gone (after a reload, when the state's last request has finished); all of them are
//! aborted when their [`Background`] is dropped with the [`super::Live`] that owns it.
//!
//! The other tasks the gateway starts belong to one request or one connection and end
//! with it: connections are `http::conn`'s (drained, then aborted, at shutdown); a Redis
//! settle is counted by its `RedisLimits` until answered, and `Live::settle_limits`
//! waits for those at exit.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::gauge;
use switchyard_catalog::NANOS_PER_USD;
use tokio::task::JoinSet;

use super::slo_file;
use crate::keys::Keyring;
use crate::state::AppState;
use crate::upstream::send::probe;
use crate::usage::{LogReader, read_log};

/// The background tasks of a server's states.
#[derive(Default)]
pub(crate) struct Background {
    tasks: Mutex<JoinSet<()>>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running = self.tasks.lock().map_or(0, |t| t.len());
        f.debug_struct("Background")
            .field("running", &running)
            .finish()
    }
}

impl Background {
    /// Start `state`'s tasks (those its config asks for), and forget the ones that ended.
    pub(crate) fn start_for(&self, state: &Arc<AppState>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        while tasks.try_join_next().is_some() {}
        probes(&mut tasks, state);
        key_refresh(&mut tasks, state);
        stats_tick(&mut tasks, state);
    }
}

impl Background {
    /// Add this month's spend from the usage log (what was logged before this process
    /// began counting) to `state`'s board, once, off the runtime's workers.
    pub(crate) fn seed_spend(&self, state: &Arc<AppState>) {
        let st = Arc::clone(state);
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.spawn(async move {
            let until = st.spend.since_ms;
            let month = switchyard_ledger::keys::BudgetPeriod::Month.start(until);
            let usage = st.config.usage.clone();
            let read = tokio::task::spawn_blocking(move || {
                read_log(&usage, |log| match log {
                    LogReader::Postgres(mut s) => s.spend_between(month, until),
                    LogReader::Sqlite(s) => s.spend_between(month, until),
                })
            })
            .await;
            match read {
                Ok(Ok(Some(rows))) => st.spend.seed(&rows, crate::usage::now_ms()),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot read this month's spend from the usage log; the dashboard shows what this process recorded");
                }
                Err(e) => tracing::warn!(error = %e, "the spend lookup did not finish"),
            }
        });
    }
}

/// Each second, note the requests in flight in the series; every
/// [`slo_file::SAVE_EVERY`], write the SLO window if it changed (off the runtime's
/// workers).
fn stats_tick(tasks: &mut JoinSet<()>, state: &Arc<AppState>) {
    let weak = Arc::downgrade(state);
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut since_save = Duration::ZERO;
        loop {
            tick.tick().await;
            let Some(st) = weak.upgrade() else { return };
            st.stats
                .sample_in_flight(st.admitted.load(std::sync::atomic::Ordering::Relaxed));
            since_save += Duration::from_secs(1);
            if since_save >= slo_file::SAVE_EVERY {
                since_save = Duration::ZERO;
                let saved = tokio::task::spawn_blocking(move || slo_file::save(&st)).await;
                if let Ok(Err(e)) = saved {
                    tracing::warn!(error = %e, "cannot write the SLO window; will retry");
                }
            }
        }
    });
}

/// With `[health] probe_interval_secs` > 0, check every deployment whose breaker is not
/// closed with `GET <base>/models` (not billed by vendors) each interval: a 2xx closes the
/// breaker, anything else keeps it out for another cooldown. The task ends once the state
/// is dropped (after a reload, when its last request has finished).
fn probes(tasks: &mut JoinSet<()>, state: &Arc<AppState>) {
    let Some(interval) = state.config.health.probe_interval else {
        return;
    };
    let weak = Arc::downgrade(state);
    tasks.spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(st) = weak.upgrade() else { return };
            for (provider, name) in st.health.not_closed() {
                let Some(url) = probe_url(&st, &provider, &name) else {
                    continue;
                };
                let auth = st.providers.get(&provider).and_then(|p| p.auth.clone());
                let wait = interval.min(Duration::from_secs(5));
                let ok = probe(&st.client, &url, auth, wait).await;
                metrics::counter!("switchyard_probes_total", "provider" => provider.clone(), "deployment" => name.clone(),
                    "result" => if ok { "up" } else { "down" })
                .increment(1);
                if ok {
                    tracing::info!(%provider, deployment = %name, "probe answered; deployment back in rotation");
                    st.health.probe_ok(&provider, &name);
                } else {
                    st.health.probe_failed(&provider, &name);
                }
            }
        }
    });
}

/// `…/models` next to the chat URL of the region a deployment named `name` uses.
fn probe_url(st: &AppState, provider: &str, name: &str) -> Option<String> {
    let dep = st
        .routes
        .values()
        .flat_map(|r| r.deployments.iter())
        .find(|d| d.provider == provider && d.name == name)?;
    let region = st.providers.get(provider)?.regions.get(dep.region)?;
    let base = region.chat_url.strip_suffix("/chat/completions")?;
    Some(format!("{base}/models"))
}

/// Each key's budget and its spend in the current period as this process knows it
/// (`switchyard_key_budget_usd`, `switchyard_key_spend_usd`, labelled by key id and
/// team), for the "budget at 80%" alert: set off the request path, at each refresh.
fn export_budgets(st: &AppState) {
    let Some(ring) = &st.keys else { return };
    ring.for_each(|k| {
        let Some(budget) = k.record.budget_nanos else {
            return;
        };
        let usd = |nanos: u64| nanos as f64 / NANOS_PER_USD as f64;
        let (key, team) = (
            k.record.id.clone(),
            k.record.team.clone().unwrap_or_default(),
        );
        gauge!("switchyard_key_budget_usd", "key" => key.clone(), "team" => team.clone())
            .set(usd(budget));
        gauge!("switchyard_key_spend_usd", "key" => key, "team" => team).set(usd(k.spent_now()));
    });
}

/// With keys on, pick up keys created, revoked or rotated by another process (`switchyard
/// keys …`) every `[keys] refresh_secs`, off the request path.
fn key_refresh(tasks: &mut JoinSet<()>, state: &Arc<AppState>) {
    if state.keys.is_none() {
        return;
    }
    let every = state.config.keys.refresh;
    let weak = Arc::downgrade(state);
    tasks.spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(st) = weak.upgrade() else { return };
            let refreshed =
                tokio::task::spawn_blocking(move || st.keys.as_ref().map(Keyring::refresh)).await;
            if let Ok(Some(Err(e))) = refreshed {
                tracing::error!(error = %e, "cannot refresh the keys; keeping the ones loaded");
            }
            if let Some(st) = weak.upgrade() {
                export_budgets(&st);
            }
        }
    });
}
