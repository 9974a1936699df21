//! The availability SLO's window: good and bad requests per hour over the last
//! [`MAX_WINDOW_DAYS`] days at most, saved to a small JSON file so a restart does not
//! forget the month (`[slo] path`).
//!
//! A request counts when the gateway could have served it: 4xx answers (the caller's
//! doing) are left out; 5xx answers (shed, upstream failure, our fault) are bad.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest window kept.
pub(crate) const MAX_WINDOW_DAYS: u32 = 90;
const HOURS: usize = MAX_WINDOW_DAYS as usize * 24;

/// One hour's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Hour {
    /// Hours since the Unix epoch (0: never written).
    at: u64,
    valid: u64,
    bad: u64,
}

/// Requests per hour, for the SLO.
#[derive(Debug)]
pub(crate) struct SloWindow {
    hours: Vec<Hour>,
    /// Changed since last saved.
    dirty: bool,
}

impl Default for SloWindow {
    fn default() -> Self {
        SloWindow {
            hours: vec![Hour::default(); HOURS],
            dirty: false,
        }
    }
}

/// The window's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Requests the SLO counts.
    pub(crate) valid: u64,
    /// Those that failed.
    pub(crate) bad: u64,
    /// The oldest hour with data in the window (Unix seconds).
    pub(crate) since: Option<u64>,
}

/// The file the window is saved to.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SloFile {
    version: u32,
    /// `[hour since the epoch, requests counted, failed]`, non-empty hours only.
    hours: Vec<[u64; 3]>,
}

impl SloWindow {
    fn slot(&mut self, hour: u64) -> &mut Hour {
        let i = usize::try_from(hour % HOURS as u64).unwrap_or(0);
        let h = &mut self.hours[i];
        if h.at != hour {
            *h = Hour {
                at: hour,
                ..Hour::default()
            };
        }
        h
    }

    /// Count a request that ended at `now` (Unix seconds): `valid` when the SLO counts
    /// it, `bad` when it failed.
    pub(crate) fn add(&mut self, now: u64, valid: bool, bad: bool) {
        if !valid {
            return;
        }
        let h = self.slot(now / 3600);
        h.valid = h.valid.saturating_add(1);
        if bad {
            h.bad = h.bad.saturating_add(1);
        }
        self.dirty = true;
    }

    /// The totals of the `window` up to `now`.
    pub(crate) fn totals(&self, now: u64, window: Duration) -> Totals {
        let newest = now / 3600;
        let hours = window.as_secs().div_ceil(3600).clamp(1, HOURS as u64);
        let oldest = newest.saturating_sub(hours - 1);
        let mut t = Totals {
            valid: 0,
            bad: 0,
            since: None,
        };
        for h in self
            .hours
            .iter()
            .filter(|h| h.at >= oldest && h.at <= newest)
        {
            if h.valid == 0 {
                continue;
            }
            t.valid = t.valid.saturating_add(h.valid);
            t.bad = t.bad.saturating_add(h.bad);
            let start = h.at * 3600;
            t.since = Some(t.since.map_or(start, |s| s.min(start)));
        }
        t
    }

    /// What to save, if anything changed since last time.
    pub(crate) fn take_changes(&mut self) -> Option<SloFile> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let mut hours: Vec<[u64; 3]> = self
            .hours
            .iter()
            .filter(|h| h.valid > 0)
            .map(|h| [h.at, h.valid, h.bad])
            .collect();
        hours.sort_unstable();
        Some(SloFile { version: 1, hours })
    }

    /// Add what a saved file holds (hours outside the window at `now`, in the future or
    /// with more failures than requests are skipped); how many hours were taken.
    pub(crate) fn restore(&mut self, file: &SloFile, now: u64) -> usize {
        let newest = now / 3600;
        let oldest = newest.saturating_sub(HOURS as u64 - 1);
        let mut taken = 0;
        for &[at, valid, bad] in &file.hours {
            if file.version != 1 || at < oldest || at > newest || bad > valid {
                continue;
            }
            let h = self.slot(at);
            h.valid = h.valid.saturating_add(valid);
            h.bad = h.bad.saturating_add(bad);
            taken += 1;
        }
        taken
    }
}

/// Error ratio over budget: 1 spends the error budget exactly over the window; `None`
/// without requests.
pub(crate) fn burn_rate(valid: u64, bad: u64, target: f64) -> Option<f64> {
    let allowed = 1.0 - target;
    (valid > 0 && allowed > 0.0).then(|| bad as f64 / valid as f64 / allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn client_errors_do_not_count_and_old_hours_fall_out_of_the_window() {
        let mut w = SloWindow::default();
        let t0 = 1_700_000_000;
        w.add(t0, true, false);
        w.add(t0, true, true);
        w.add(t0, false, false);
        let t = w.totals(t0, 30 * DAY);
        assert_eq!((t.valid, t.bad), (2, 1));
        assert_eq!(t.since, Some(t0 / 3600 * 3600));
        // 31 days on, a 30-day window no longer holds that hour; a 90-day one does.
        let later = t0 + 31 * 86_400;
        assert_eq!(w.totals(later, 30 * DAY).valid, 0);
        assert_eq!(w.totals(later, 90 * DAY).valid, 2);
        // 91 days on its slot is reused.
        w.add(t0 + 90 * 86_400, true, false);
        assert_eq!(w.totals(t0 + 90 * 86_400, 90 * DAY).valid, 1);
    }

    #[test]
    fn a_saved_window_is_restored_and_hostile_entries_are_skipped() {
        let mut w = SloWindow::default();
        let t0 = 1_700_000_000;
        for _ in 0..10 {
            w.add(t0, true, false);
        }
        w.add(t0 + 3600, true, true);
        let file = w.take_changes().unwrap();
        assert!(w.take_changes().is_none(), "nothing changed since");
        let text = serde_json::to_string(&file).unwrap();
        let back: SloFile = serde_json::from_str(&text).unwrap();
        let mut fresh = SloWindow::default();
        assert_eq!(fresh.restore(&back, t0 + 7200), 2);
        let t = fresh.totals(t0 + 7200, 30 * DAY);
        assert_eq!((t.valid, t.bad), (11, 1));

        let hostile = SloFile {
            version: 1,
            hours: vec![
                [(t0 + 10 * 86_400) / 3600, 5, 0], // in the future
                [t0 / 3600, 1, 9],                 // more failures than requests
                [0, 5, 0],                         // long gone
            ],
        };
        assert_eq!(SloWindow::default().restore(&hostile, t0), 0);
    }

    #[test]
    fn burn_rate_is_the_error_ratio_over_the_allowed_one() {
        assert_eq!(burn_rate(0, 0, 0.999), None);
        let b = burn_rate(1000, 1, 0.999).unwrap();
        assert!((b - 1.0).abs() < 1e-9, "{b}");
        let b = burn_rate(1000, 144, 0.999).unwrap();
        assert!((b - 144.0).abs() < 1e-6);
        assert_eq!(burn_rate(10, 1, 1.0), None);
    }
}
