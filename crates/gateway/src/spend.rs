//! What each key, team and model spent today and this month (UTC), for the dashboard:
//! added to as usage is recorded, and seeded at start from the usage log (everything
//! logged before this process began, summed by the database) so a restart does not
//! reset the month.
//!
//! Bounded: at most [`MAX_ROWS`] keys, teams and models each; later ones are summed
//! under [`OTHER`].

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use switchyard_ledger::keys::BudgetPeriod;
use switchyard_ledger::report::SpendRow;

/// Rows kept per kind.
pub(crate) const MAX_ROWS: usize = 10_000;
/// The row spend past [`MAX_ROWS`] goes to.
pub(crate) const OTHER: &str = "(other)";
const DAY_MS: i64 = 86_400_000;

/// Spend of one key, team or model, in nano-dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Sums {
    /// Today (UTC).
    pub(crate) today_nanos: u64,
    /// This calendar month (UTC).
    pub(crate) month_nanos: u64,
}

#[derive(Debug, Default)]
struct Board {
    /// Start of the day and month the sums are for (Unix ms).
    day: i64,
    month: i64,
    keys: HashMap<String, Sums>,
    teams: HashMap<String, Sums>,
    models: HashMap<String, Sums>,
}

/// Spend per key, team and model.
#[derive(Debug)]
pub(crate) struct Spend {
    board: Mutex<Board>,
    /// When this board began counting (Unix ms): the log is read up to here.
    pub(crate) since_ms: i64,
}

impl Default for Spend {
    fn default() -> Self {
        Spend {
            board: Mutex::default(),
            since_ms: crate::usage::now_ms(),
        }
    }
}

fn add_to(map: &mut HashMap<String, Sums>, name: &str, today: u64, month: u64) {
    let sums = match map.get_mut(name) {
        Some(s) => s,
        None => {
            let name = if map.len() < MAX_ROWS { name } else { OTHER };
            map.entry(name.to_string()).or_default()
        }
    };
    sums.today_nanos = sums.today_nanos.saturating_add(today);
    sums.month_nanos = sums.month_nanos.saturating_add(month);
}

impl Board {
    /// Move to the day and month of `now_ms`, dropping what belongs to earlier ones.
    fn roll(&mut self, now_ms: i64) {
        let day = BudgetPeriod::Day.start(now_ms);
        if day == self.day {
            return;
        }
        let month = BudgetPeriod::Month.start(now_ms);
        let maps = [&mut self.keys, &mut self.teams, &mut self.models];
        if month != self.month {
            maps.into_iter().for_each(HashMap::clear);
        } else {
            for map in maps {
                map.values_mut().for_each(|s| s.today_nanos = 0);
            }
        }
        (self.day, self.month) = (day, month);
    }

    fn add(&mut self, key: Option<&str>, team: Option<&str>, model: &str, today: u64, month: u64) {
        if let Some(k) = key {
            add_to(&mut self.keys, k, today, month);
        }
        if let Some(t) = team {
            add_to(&mut self.teams, t, today, month);
        }
        add_to(&mut self.models, model, today, month);
    }
}

/// One row of [`Spend::snapshot`].
pub(crate) type Rows = Vec<(String, Sums)>;

impl Spend {
    /// Add `nanos` spent now by `key` (of `team`) on `model`.
    pub(crate) fn add(&self, key: Option<&str>, team: Option<&str>, model: &str, nanos: u64) {
        if nanos == 0 {
            return;
        }
        self.add_at(crate::usage::now_ms(), key, team, model, nanos);
    }

    fn add_at(&self, now_ms: i64, key: Option<&str>, team: Option<&str>, model: &str, nanos: u64) {
        let mut b = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        b.roll(now_ms);
        b.add(key, team, model, nanos, nanos);
    }

    /// Add what the usage log holds of this month (rows per day, from
    /// [`switchyard_ledger::SqliteStore::spend_between`]), as of `now_ms`.
    pub(crate) fn seed(&self, rows: &[SpendRow], now_ms: i64) {
        let mut b = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        b.roll(now_ms);
        let (today, month) = (b.day / DAY_MS, b.month);
        for r in rows
            .iter()
            .filter(|r| r.day.saturating_mul(DAY_MS) >= month)
        {
            let on_day = if r.day == today { r.cost_nanos } else { 0 };
            b.add(
                r.key_id.as_deref(),
                r.team.as_deref(),
                &r.model,
                on_day,
                r.cost_nanos,
            );
        }
    }

    /// Keys, teams and models with their spend as of `now_ms`, most spent this month
    /// first.
    pub(crate) fn snapshot(&self, now_ms: i64) -> (Rows, Rows, Rows) {
        let mut b = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        b.roll(now_ms);
        let rows = |m: &HashMap<String, Sums>| {
            let mut rows: Rows = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
            rows.sort_by(|a, b| b.1.month_nanos.cmp(&a.1.month_nanos).then(a.0.cmp(&b.0)));
            rows
        };
        (rows(&b.keys), rows(&b.teams), rows(&b.models))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2023-11-14T22:13:20Z; the month began 2023-11-01.
    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn spend_adds_up_per_key_team_and_model_and_days_and_months_roll_over() {
        let s = Spend::default();
        s.add_at(NOW, Some("k1"), Some("search"), "m", 5);
        s.add_at(NOW, Some("k2"), Some("search"), "m", 7);
        s.add_at(NOW, None, None, "other-model", 1);
        let (keys, teams, models) = s.snapshot(NOW);
        assert_eq!(
            keys[0],
            (
                "k2".to_string(),
                Sums {
                    today_nanos: 7,
                    month_nanos: 7
                }
            )
        );
        assert_eq!(
            teams,
            [(
                "search".to_string(),
                Sums {
                    today_nanos: 12,
                    month_nanos: 12
                }
            )]
        );
        assert_eq!(models.len(), 2);
        // Next day: today starts again, the month goes on.
        let (keys, _, _) = s.snapshot(NOW + DAY_MS);
        assert_eq!(
            keys[0].1,
            Sums {
                today_nanos: 0,
                month_nanos: 7
            }
        );
        // Next month: everything starts again.
        let (keys, _, _) = s.snapshot(NOW + 20 * DAY_MS);
        assert!(keys.is_empty());
    }

    #[test]
    fn the_log_seeds_this_month_and_today_and_leaves_last_month_out() {
        let s = Spend::default();
        let row = |day: i64, cost: u64| SpendRow {
            day,
            key_id: Some("k1".into()),
            team: None,
            model: "m".into(),
            cost_nanos: cost,
        };
        let today = NOW / DAY_MS;
        s.seed(
            &[row(today, 3), row(today - 3, 10), row(today - 40, 1000)],
            NOW,
        );
        let (keys, teams, models) = s.snapshot(NOW);
        assert_eq!(
            keys[0].1,
            Sums {
                today_nanos: 3,
                month_nanos: 13
            }
        );
        assert!(teams.is_empty());
        assert_eq!(models[0].1.month_nanos, 13);
    }

    #[test]
    fn rows_past_the_bound_are_summed_as_other() {
        let s = Spend::default();
        for n in 0..MAX_ROWS + 3 {
            s.add_at(NOW, Some(&format!("k{n}")), None, "m", 1);
        }
        let (keys, _, _) = s.snapshot(NOW);
        assert_eq!(keys.len(), MAX_ROWS + 1);
        assert_eq!(
            keys[0],
            (
                OTHER.to_string(),
                Sums {
                    today_nanos: 3,
                    month_nanos: 3
                }
            )
        );
    }
}
