//! What the peak hour needs: requests per second and requests in flight per region and
//! model (Little's law with each model's latency; in flight is Poisson, as in any
//! M/G/∞ system, so its 99th percentile is a Poisson quantile), the vendor quotas that
//! implies and the accounts they take, and gateway replicas.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::PlanError;
use crate::policy::{Landscape, Policy};
use crate::workload::{HOURS, Workload};

/// Where a model's latency comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    /// Mean seconds from sending a request to its last byte.
    pub mean_s: f64,
    /// `catalog` (typical TTFT + output / typical tokens/s), `bench FILE` or `usage log`.
    pub source: String,
}

/// A vendor account's quota.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quota {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute (prompt and completion).
    pub tpm: Option<u64>,
}

/// How a gateway replica is sized.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GatewaySizing {
    /// Requests per second one core serves at full load.
    pub rps_per_core: f64,
    /// Cores per replica.
    pub cores_per_replica: f64,
    /// Share of capacity kept free at the peak (0.3 = run at 70%).
    pub headroom: f64,
    /// Replicas per region at least (for availability).
    pub min_replicas: u32,
}

/// One model in one region at the peak hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelLoad {
    /// Traffic region.
    pub region: String,
    /// Canonical model id.
    pub model: String,
    /// Its provider.
    pub provider: String,
    /// Requests per second at the peak hour.
    pub peak_rps: f64,
    /// The latency assumed.
    pub latency: Latency,
    /// Mean requests in flight at the peak (λ·W).
    pub concurrency_mean: f64,
    /// 99th percentile of requests in flight at the peak.
    pub concurrency_p99: u64,
    /// Requests in the busiest minute of the peak hour (its 99th percentile).
    pub rpm_needed: u64,
    /// Tokens in that minute (prompt and completion).
    pub tpm_needed: u64,
    /// One account's quota, when known.
    pub quota: Quota,
    /// Accounts (keys) the quota forces, when known.
    pub accounts: Option<u64>,
}

/// One traffic region at the peak hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionLoad {
    /// Traffic region.
    pub region: String,
    /// Requests per second at the peak hour.
    pub peak_rps: f64,
    /// Mean requests in flight at the peak.
    pub concurrency_mean: f64,
    /// 99th percentile of requests in flight at the peak.
    pub concurrency_p99: u64,
    /// Gateway replicas.
    pub replicas: u32,
    /// Mean requests in flight, hour by hour (UTC).
    pub concurrency_by_hour: Vec<f64>,
}

/// Capacity of one policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capacity {
    /// The policy.
    pub policy: String,
    /// The busiest hour (UTC) and its traffic over the day's mean.
    pub peak_hour: usize,
    /// Its factor.
    pub peak_factor: f64,
    /// Requests per second at the peak, all regions.
    pub peak_rps: f64,
    /// Per region and model.
    pub models: Vec<ModelLoad>,
    /// Per region.
    pub regions: Vec<RegionLoad>,
    /// How replicas were sized.
    pub gateway: GatewaySizing,
    /// Replicas in all.
    pub replicas: u32,
}

/// The `p` quantile of a Poisson count with mean `mu`: exact by summing its terms up to
/// a mean of 500, the Cornish–Fisher normal approximation above.
pub fn poisson_quantile(mu: f64, p: f64) -> u64 {
    if !(mu.is_finite() && mu > 0.0) {
        return 0;
    }
    if mu > 500.0 {
        let z = normal_quantile(p);
        return (mu + z * mu.sqrt() + (z * z - 1.0) / 6.0).ceil().max(0.0) as u64;
    }
    let mut term = (-mu).exp();
    let mut sum = term;
    let mut k = 0u64;
    while sum < p && k < 10_000 {
        k += 1;
        term *= mu / k as f64;
        sum += term;
    }
    k
}

/// The standard normal's `p` quantile (Acklam's rational approximation, |error| < 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The inputs capacity needs beyond the workload and policy.
#[derive(Debug, Clone)]
pub struct CapacityInputs {
    /// Measured latency per model (from a bench file or the usage log).
    pub measured: BTreeMap<String, Latency>,
    /// Quotas per provider that replace the config's (`--quota`).
    pub quotas: BTreeMap<String, Quota>,
    /// Replica sizing.
    pub gateway: GatewaySizing,
}

/// The latency of `model`: measured, else the catalog's typical TTFT plus the mean
/// output at its typical decode speed.
fn latency_of(
    land: &Landscape,
    w: &Workload,
    inputs: &CapacityInputs,
    model: &str,
) -> Result<Latency, PlanError> {
    if let Some(l) = inputs.measured.get(model) {
        return Ok(l.clone());
    }
    let m = land.model("--mix", model)?;
    let out = w.tokens_of(model).1.mean();
    Ok(Latency {
        mean_s: f64::from(m.typical_ttft_ms) / 1e3
            + out / f64::from(m.typical_tokens_per_sec.max(1)),
        source: "catalog".into(),
    })
}

/// The capacity `policy` needs for `w`.
pub fn capacity(
    land: &Landscape,
    w: &Workload,
    policy: &Policy,
    inputs: &CapacityInputs,
) -> Result<Capacity, PlanError> {
    let (peak_hour, peak_factor) = w.peak();
    let peak_rps = w.mean_rps() * peak_factor;
    let mut models = Vec::new();
    let mut regions = Vec::new();
    for region in &w.regions {
        let mut by_hour = vec![0.0; HOURS];
        let (mut rps, mut mean_c) = (0.0, 0.0);
        for share in policy.load() {
            let m = land.model("--mix", &share.name)?;
            let latency = latency_of(land, w, inputs, &m.id)?;
            let lambda = peak_rps * region.share * share.share;
            let (i, o) = w.tokens_of(&m.id);
            let rpm_needed = poisson_quantile(lambda * 60.0, 0.99);
            let tpm_needed = (rpm_needed as f64 * (i.mean() + o.mean())).ceil() as u64;
            let quota = quota_of(land, inputs, m)?;
            let accounts = accounts(quota, rpm_needed, tpm_needed);
            for (h, c) in by_hour.iter_mut().enumerate() {
                *c += w.mean_rps() * w.profile[h] * region.share * share.share * latency.mean_s;
            }
            rps += lambda;
            mean_c += lambda * latency.mean_s;
            models.push(ModelLoad {
                region: region.name.clone(),
                model: m.id.clone(),
                provider: m.provider.clone(),
                peak_rps: lambda,
                concurrency_mean: lambda * latency.mean_s,
                concurrency_p99: poisson_quantile(lambda * latency.mean_s, 0.99),
                latency,
                rpm_needed,
                tpm_needed,
                quota,
                accounts,
            });
        }
        regions.push(RegionLoad {
            region: region.name.clone(),
            peak_rps: rps,
            concurrency_mean: mean_c,
            concurrency_p99: poisson_quantile(mean_c, 0.99),
            replicas: replicas(rps, &inputs.gateway),
            concurrency_by_hour: by_hour,
        });
    }
    Ok(Capacity {
        policy: policy.name.clone(),
        peak_hour,
        peak_factor,
        peak_rps,
        replicas: regions.iter().map(|r| r.replicas).sum(),
        models,
        regions,
        gateway: inputs.gateway,
    })
}

/// One account's quota for `model`: `--quota` for its provider, else the tightest
/// `rpm`/`tpm` among its configured deployments.
fn quota_of(
    land: &Landscape,
    inputs: &CapacityInputs,
    m: &switchyard_catalog::Model,
) -> Result<Quota, PlanError> {
    if let Some(q) = inputs.quotas.get(&m.provider) {
        return Ok(*q);
    }
    let deps = land.deployments_of(m);
    Ok(Quota {
        rpm: deps.iter().filter_map(|d| d.rpm).min(),
        tpm: deps.iter().filter_map(|d| d.tpm).min(),
    })
}

/// Accounts a quota forces for a minute's requests and tokens (`None` without a quota).
fn accounts(q: Quota, rpm: u64, tpm: u64) -> Option<u64> {
    let by_rpm = q.rpm.filter(|&r| r > 0).map(|r| rpm.div_ceil(r));
    let by_tpm = q.tpm.filter(|&t| t > 0).map(|t| tpm.div_ceil(t));
    match (by_rpm, by_tpm) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).max(b.unwrap_or(0)).max(1)),
    }
}

/// Replicas for `rps` at the peak: the load over what one replica serves with its
/// headroom kept free, rounded up, and at least `min_replicas`.
pub fn replicas(rps: f64, g: &GatewaySizing) -> u32 {
    let per_replica = g.rps_per_core * g.cores_per_replica * (1.0 - g.headroom);
    let needed = if per_replica > 0.0 {
        (rps / per_replica).ceil()
    } else {
        0.0
    };
    (needed.min(f64::from(u32::MAX)) as u32).max(g.min_replicas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_quantiles_match_hand_computed_values() {
        // Poisson(2): P(X<=4) = 0.947, P(X<=5) = 0.983, P(X<=6) = 0.9955.
        assert_eq!(poisson_quantile(2.0, 0.99), 6);
        assert_eq!(poisson_quantile(2.0, 0.95), 5);
        // Large means: about mu + 2.326 sqrt(mu).
        let q = poisson_quantile(10_000.0, 0.99);
        assert!((10_230..=10_240).contains(&q), "{q}");
        // The exact sum and the approximation agree where they meet.
        let exact = poisson_quantile(499.0, 0.99) as f64;
        let approx = 499.0 + 2.326 * 499f64.sqrt();
        assert!((exact - approx).abs() <= 2.0, "{exact} vs {approx}");
        assert_eq!(poisson_quantile(0.0, 0.99), 0);
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
    }

    #[test]
    fn quotas_force_accounts_by_the_tighter_of_rpm_and_tpm() {
        let q = Quota {
            rpm: Some(1_000),
            tpm: Some(1_000_000),
        };
        assert_eq!(accounts(q, 2_500, 900_000), Some(3));
        assert_eq!(accounts(q, 500, 2_100_000), Some(3));
        assert_eq!(
            accounts(
                Quota {
                    rpm: None,
                    tpm: None
                },
                5,
                5
            ),
            None
        );
        let g = GatewaySizing {
            rps_per_core: 2_000.0,
            cores_per_replica: 2.0,
            headroom: 0.5,
            min_replicas: 2,
        };
        assert_eq!(replicas(100.0, &g), 2);
        assert_eq!(replicas(10_000.0, &g), 5);
    }
}
