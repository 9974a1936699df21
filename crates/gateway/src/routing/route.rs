//! How one model is served: its deployments in tiers (the home region's first, then the
//! rest as spill-over), a [`Balance`] policy within a tier, per-model time limits and
//! optional hedging. [`Route::order`] ranks the deployments for one request (healthy
//! tiers in order, deployments with an open breaker last).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{Value, json};

use super::deadlines::RouteTimeouts;
use super::deployment::Deployment;
use super::health::Standing;
use super::hedger::Hedger;
use crate::config::Balance;

/// A latency outlier is also at least this much slower than its fastest peer, so that
/// fast deployments a few milliseconds apart never count as outliers.
pub(crate) const OUTLIER_FLOOR: Duration = Duration::from_millis(250);

/// How one model is served.
#[derive(Debug)]
pub struct Route {
    /// Every deployment, in configured order.
    pub deployments: Vec<Arc<Deployment>>,
    /// Policy within a tier.
    pub balance: Balance,
    /// Time limits.
    pub timeouts: RouteTimeouts,
    /// Hedging, when on.
    pub hedge: Option<Hedger>,
}

impl Route {
    /// The most a request may cost on any of the deployments (each at its own vendor's
    /// price): `prompt` tokens, at most `completion` out, thinking or not; `None` for a
    /// route without deployments.
    pub fn max_cost_nanos(&self, prompt: u64, completion: u64, may_think: bool) -> Option<u64> {
        self.deployments
            .iter()
            .map(|d| d.price.max_cost_nanos(prompt, completion, may_think))
            .max()
    }

    /// The deployments in the order this request should try them: tier by tier, the
    /// preferred ones ranked by the balancing policy; a deployment still warming up after
    /// coming back is, for the share of requests it should not take yet, moved behind the
    /// other preferred ones; those not preferred come last, in tier order, as a last resort.
    pub fn order(&self, standing: impl Fn(&Deployment) -> Standing) -> Vec<Arc<Deployment>> {
        let mut rng = rand::rng();
        let mut out = Vec::with_capacity(self.deployments.len());
        let mut warming = Vec::new();
        let mut sick = Vec::new();
        let mut tiers: Vec<u32> = self.deployments.iter().map(|d| d.tier).collect();
        tiers.sort_unstable();
        tiers.dedup();
        for tier in tiers {
            let start = out.len();
            for d in self.deployments.iter().filter(|d| d.tier == tier) {
                let s = standing(d);
                if !s.preferred {
                    sick.push(Arc::clone(d));
                } else if s.warmth < 1.0 && !rng.random_bool(s.warmth.clamp(0.0, 1.0)) {
                    warming.push(Arc::clone(d));
                } else {
                    out.push(Arc::clone(d));
                }
            }
            rank(&mut out[start..], self.balance, &mut rng);
        }
        out.append(&mut warming);
        out.append(&mut sick);
        out
    }

    /// Whether `d` answers so much slower than the fastest of its peers — its TTFT
    /// average over `factor` times theirs and at least [`OUTLIER_FLOOR`] more — that its
    /// latest answer should count against its health. `factor` 0 = never.
    pub fn is_latency_outlier(&self, d: &Deployment, factor: f64) -> bool {
        let Some(mine) = d.ewma_ttft() else {
            return false;
        };
        let best = self
            .deployments
            .iter()
            .filter(|o| !std::ptr::eq(o.as_ref(), d))
            .filter_map(|o| o.ewma_ttft())
            .min();
        match best {
            Some(best) if factor > 0.0 => {
                mine.as_secs_f64() > factor * best.as_secs_f64() && mine >= best + OUTLIER_FLOOR
            }
            _ => false,
        }
    }

    /// `/admin/health` entry.
    pub fn snapshot(&self) -> Value {
        json!({
            "balance": self.balance.as_str(),
            "hedge": self.hedge.as_ref().map(Hedger::snapshot),
            "deployments": self.deployments.iter().map(|d| d.snapshot()).collect::<Vec<_>>(),
        })
    }
}

/// Rank one tier's healthy deployments in place.
fn rank(tier: &mut [Arc<Deployment>], balance: Balance, rng: &mut impl Rng) {
    if tier.len() < 2 || balance == Balance::Ordered {
        return;
    }
    // A weighted random order (each key is an exponential draw with rate = weight, so
    // the smallest key wins with probability weight / total).
    let mut keyed: Vec<(f64, Arc<Deployment>)> = tier
        .iter()
        .map(|d| {
            let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
            (-u.ln() / f64::from(d.weight), Arc::clone(d))
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (slot, (_, d)) in tier.iter_mut().zip(keyed) {
        *slot = d;
    }
    // Power of two choices: of the first two drawn, the less loaded goes first.
    let score = match balance {
        Balance::LeastOutstanding => Deployment::load_score,
        Balance::Latency => Deployment::latency_score,
        Balance::Weighted | Balance::Ordered => return,
    };
    if score(&tier[1]) < score(&tier[0]) {
        tier.swap(0, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::deployment::Permit;
    use crate::routing::deployment::tests::dep;

    fn route(balance: Balance, deps: Vec<Arc<Deployment>>) -> Route {
        Route {
            deployments: deps,
            balance,
            timeouts: RouteTimeouts {
                request: Duration::from_secs(1),
                ttft: Duration::from_secs(1),
                idle: Duration::from_secs(1),
            },
            hedge: None,
        }
    }

    const WARM: Standing = Standing {
        preferred: true,
        warmth: 1.0,
    };

    fn firsts(r: &Route, n: usize) -> std::collections::HashMap<String, usize> {
        let mut m = std::collections::HashMap::new();
        for _ in 0..n {
            *m.entry(r.order(|_| WARM)[0].name.clone()).or_default() += 1;
        }
        m
    }

    #[test]
    fn lower_tiers_come_first_and_unhealthy_deployments_last() {
        let r = route(
            Balance::Weighted,
            vec![
                dep("far", 1, 1, None),
                dep("home", 1, 0, None),
                dep("sick", 1, 0, None),
            ],
        );
        let names: Vec<String> = r
            .order(|d| Standing {
                preferred: d.name != "sick",
                warmth: 1.0,
            })
            .iter()
            .map(|d| d.name.clone())
            .collect();
        assert_eq!(names, ["home", "far", "sick"]);
    }

    #[test]
    fn a_warming_deployment_takes_only_its_share_first() {
        let r = route(
            Balance::Ordered,
            vec![dep("back", 1, 0, None), dep("other", 1, 1, None)],
        );
        let n = 4000;
        let first = (0..n)
            .filter(|_| {
                r.order(|d| Standing {
                    preferred: true,
                    warmth: if d.name == "back" { 0.25 } else { 1.0 },
                })[0]
                    .name
                    == "back"
            })
            .count();
        assert!(
            (800..=1200).contains(&first),
            "{first} of {n}, expected ~1000"
        );
    }

    #[test]
    fn weighted_shares_follow_the_weights() {
        let r = route(
            Balance::Weighted,
            vec![dep("a", 3, 0, None), dep("b", 1, 0, None)],
        );
        let a = firsts(&r, 4000)["a"];
        assert!((2800..=3200).contains(&a), "{a} of 4000, expected ~3000");
    }

    #[test]
    fn least_outstanding_prefers_the_idle_deployment() {
        let busy = dep("busy", 1, 0, None);
        let idle = dep("idle", 1, 0, None);
        let _held: Vec<Permit> = (0..5).filter_map(|_| busy.try_acquire(0).ok()).collect();
        let r = route(Balance::LeastOutstanding, vec![busy, idle]);
        assert_eq!(firsts(&r, 200).get("idle"), Some(&200));
    }

    #[test]
    fn latency_balance_prefers_the_faster_deployment() {
        let slow = dep("slow", 1, 0, None);
        let fast = dep("fast", 1, 0, None);
        slow.observe_ttft(Duration::from_millis(900));
        fast.observe_ttft(Duration::from_millis(100));
        let r = route(Balance::Latency, vec![slow, fast]);
        assert_eq!(firsts(&r, 200).get("fast"), Some(&200));
    }

    #[test]
    fn a_deployment_far_slower_than_its_peers_is_a_latency_outlier() {
        let slow = dep("slow", 1, 0, None);
        let fast = dep("fast", 1, 0, None);
        let r = route(Balance::Latency, vec![Arc::clone(&slow), Arc::clone(&fast)]);
        assert!(!r.is_latency_outlier(&slow, 5.0), "nothing measured");
        slow.observe_ttft(Duration::from_millis(2000));
        fast.observe_ttft(Duration::from_millis(300));
        assert!(r.is_latency_outlier(&slow, 5.0));
        assert!(!r.is_latency_outlier(&slow, 0.0), "off");
        assert!(!r.is_latency_outlier(&fast, 5.0));
        let (a, b) = (dep("a", 1, 0, None), dep("b", 1, 0, None));
        let r = route(Balance::Latency, vec![Arc::clone(&a), Arc::clone(&b)]);
        a.observe_ttft(Duration::from_millis(60));
        b.observe_ttft(Duration::from_millis(2));
        assert!(!r.is_latency_outlier(&a, 5.0), "30x, but only 58 ms apart");
    }

    #[test]
    fn ordered_keeps_the_configured_order() {
        let r = route(
            Balance::Ordered,
            vec![dep("a", 1, 0, None), dep("b", 9, 0, None)],
        );
        assert_eq!(firsts(&r, 50).get("a"), Some(&50));
    }
}
