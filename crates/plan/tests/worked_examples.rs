//! Worked examples with the built-in catalog: the plan's arithmetic against a hand
//! calculation — exact cost from the catalog's prices, a mix with a cached share,
//! Little's law at the peak hour.

#![expect(
    clippy::unwrap_used,
    reason = "test crate: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;

use switchyard_bench::workload::Dist;
use switchyard_catalog::Catalog;
use switchyard_plan::availability::Assumptions;
use switchyard_plan::capacity::{CapacityInputs, GatewaySizing, Latency};
use switchyard_plan::policy::{Landscape, Policy};
use switchyard_plan::workload::{Share, Tokens, Workload, parse_shares, profile_with_peak};
use switchyard_plan::{Plan, plan};

fn land() -> Landscape {
    Landscape {
        catalog: Catalog::builtin().unwrap(),
        deployments: BTreeMap::new(),
        fallbacks: BTreeMap::new(),
        tiers: BTreeMap::new(),
    }
}

fn workload(rpd: f64, input: u32, output: u32, cached: f64) -> Workload {
    Workload {
        requests_per_day: rpd,
        profile: profile_with_peak(3.0, 14).unwrap(),
        regions: vec![Share {
            name: "all".into(),
            share: 1.0,
        }],
        input: Tokens::Dist(Dist::Fixed(input)),
        output: Tokens::Dist(Dist::Fixed(output)),
        cached_share: cached,
        stream_share: 0.0,
        per_model: Vec::new(),
        source: "test".into(),
    }
}

fn inputs(measured: BTreeMap<String, Latency>) -> CapacityInputs {
    CapacityInputs {
        measured,
        quotas: BTreeMap::new(),
        gateway: GatewaySizing {
            rps_per_core: 2_000.0,
            cores_per_replica: 2.0,
            headroom: 0.3,
            min_replicas: 2,
        },
    }
}

fn assumptions() -> Assumptions {
    Assumptions {
        deployment_default: 0.995,
        deployments: BTreeMap::new(),
        vendor: 0.999,
        target: 0.999,
    }
}

fn run(land: &Landscape, w: &Workload, p: Policy, measured: BTreeMap<String, Latency>) -> Plan {
    plan(land, w, vec![p], &inputs(measured), &assumptions()).unwrap()
}

#[test]
fn two_million_requests_a_day_on_deepseek_v4_flash_cost_exactly_the_catalog_arithmetic() {
    let land = land();
    let w = workload(2_000_000.0, 500, 300, 0.0);
    let p = run(
        &land,
        &w,
        Policy::single(&land, "--model", "deepseek-v4-flash").unwrap(),
        BTreeMap::new(),
    );
    let price = &land.catalog.get("deepseek-v4-flash").unwrap().price;
    let per_request = price.week_average_nanos(500, 0, 300);
    let c = &p.policies[0].cost;
    assert_eq!(
        c.models[0].per_month_nanos,
        (2_000_000 * 30 * per_request) as f64
    );
    // By hand: 500 × $0.14/M + 300 × $0.28/M = $0.000154 a request at peak prices,
    // half off-peak; peak hours are 7 of 24 on 5 days of 7 (2,100 of 10,080 minutes), so
    // an even week pays 2,100/10,080 × 154,000 + 7,980/10,080 × 77,000 = 93,042 n$.
    assert_eq!(price.cost_nanos(500, 0, 300), 154_000);
    assert_eq!(per_request, 93_042);
    assert!(
        (c.per_month_usd - 5_582.52).abs() < 1e-6,
        "{}",
        c.per_month_usd
    );
    assert!((c.per_day_usd - 186.084).abs() < 1e-6);
    assert_eq!(
        c.per_month_band_usd,
        (c.per_month_usd, c.per_month_usd),
        "fixed tokens: no spread"
    );
    assert_eq!(c.models[0].price_as_of, price.as_of);
}

#[test]
fn a_model_routed_to_a_reseller_first_is_priced_at_the_resellers_price_or_contract() {
    use switchyard_plan::policy::Deployment;
    let at = |provider: &str, price: Option<switchyard_catalog::Price>| {
        let mut land = land();
        land.deployments.insert(
            "deepseek-v3.2".into(),
            vec![Deployment {
                provider: provider.into(),
                name: "global".into(),
                rpm: None,
                tpm: None,
                price,
            }],
        );
        land
    };
    let w = workload(1_000_000.0, 1_000, 500, 0.0);
    let month = |land: &Landscape| {
        let p = run(
            land,
            &w,
            Policy::single(land, "--model", "deepseek-v3.2").unwrap(),
            BTreeMap::new(),
        );
        let m = &p.policies[0].cost.models[0];
        (m.provider.clone(), m.per_month_nanos)
    };
    // By hand, per request: DeepSeek 1,000 × $0.28/M + 500 × $0.42/M = 490,000 n$;
    // SiliconFlow 1,000 × $0.27/M + 500 × $0.42/M = 480,000 n$; a million a day, 30 days.
    assert_eq!(month(&land()), ("deepseek".into(), 490_000.0 * 30e6));
    assert_eq!(
        month(&at("siliconflow", None)),
        ("siliconflow".into(), 480_000.0 * 30e6)
    );
    let contract = switchyard_catalog::Price {
        input: 0.2,
        cached_input: 0.02,
        output: 0.3,
        as_of: String::new(),
        source: "contract".into(),
        thinking_output: None,
        tiers: Vec::new(),
        off_peak: None,
    };
    // 1,000 × $0.20/M + 500 × $0.30/M = 350,000 n$.
    assert_eq!(
        month(&at("openrouter", Some(contract))),
        ("openrouter".into(), 350_000.0 * 30e6)
    );
}

#[test]
fn a_mix_with_a_cached_share_costs_each_models_share_at_its_cached_price() {
    let land = land();
    let w = workload(1_000_000.0, 1_000, 200, 0.25);
    let mix = parse_shares("--mix", "deepseek-v4-flash:0.7,qwen3-32b:0.2,kimi-k2.5:0.1").unwrap();
    let p = run(&land, &w, Policy::mix(&land, mix).unwrap(), BTreeMap::new());
    let c = &p.policies[0].cost;
    let mut total = 0u128;
    for (id, share) in [
        ("deepseek-v4-flash", 0.7),
        ("qwen3-32b", 0.2),
        ("kimi-k2.5", 0.1),
    ] {
        let price = &land.catalog.get(id).unwrap().price;
        let per = price.week_average_nanos(1_000, 250, 200);
        let requests = (1_000_000.0f64 * share).round() as u128 * 30;
        let m = c.models.iter().find(|m| m.model == id).unwrap();
        assert!(
            (m.per_month_nanos - (requests * u128::from(per)) as f64).abs() < 1.0,
            "{id}"
        );
        total += requests * u128::from(per);
    }
    assert!((c.per_month_usd - total as f64 / 1e9).abs() < 1e-6);
    assert_eq!(c.providers.len(), 3);
}

#[test]
fn peak_concurrency_is_littles_law_at_the_peak_hour() {
    let land = land();
    let mut w = workload(2_000_000.0, 500, 300, 0.0);
    w.regions = parse_shares("--regions", "us-east:0.4,eu:0.35,ap:0.25").unwrap();
    let measured = BTreeMap::from([(
        "deepseek-v4-flash".to_string(),
        Latency {
            mean_s: 2.0,
            source: "test".into(),
        },
    )]);
    let p = run(
        &land,
        &w,
        Policy::single(&land, "--model", "deepseek-v4-flash").unwrap(),
        measured,
    );
    let c = &p.policies[0].capacity;
    // By hand: 2,000,000 / 86,400 = 23.148 req/s; ×3 at the peak = 69.444; in us-east
    // 40% of it = 27.778 req/s; × 2 s = 55.56 in flight.
    assert!((c.peak_rps - 69.444_444).abs() < 1e-3, "{}", c.peak_rps);
    let us = c.models.iter().find(|m| m.region == "us-east").unwrap();
    assert!((us.peak_rps - 27.777_778).abs() < 1e-3);
    assert!(
        (us.concurrency_mean - 55.555_556).abs() < 1e-3,
        "{}",
        us.concurrency_mean
    );
    // In flight is Poisson(55.6): its 99th percentile is 74.
    assert_eq!(us.concurrency_p99, 74);
    // RPM: the busiest minute's 99th percentile of Poisson(1,666.7).
    assert!(
        (1_750..=1_770).contains(&us.rpm_needed),
        "{}",
        us.rpm_needed
    );
    assert_eq!(us.tpm_needed, us.rpm_needed * 800);
    assert_eq!(c.regions.iter().map(|r| r.replicas).sum::<u32>(), 6);
}

#[test]
fn availability_follows_the_failover_order_and_a_fallback_to_another_vendor() {
    let mut land = land();
    let w = workload(1_000.0, 100, 100, 0.0);
    let policy = Policy::single(&land, "--model", "deepseek-v4-flash").unwrap();
    let alone = run(&land, &w, policy.clone(), BTreeMap::new());
    land.fallbacks
        .insert("deepseek-v4-flash".into(), vec!["qwen3-32b".into()]);
    let with_fallback = run(&land, &w, policy, BTreeMap::new());
    let (a, b) = (
        &alone.policies[0].availability,
        &with_fallback.policies[0].availability,
    );
    // One region of one vendor: 0.999 × 0.995.
    let deepseek_regions = land
        .deployments_of(land.catalog.get("deepseek-v4-flash").unwrap())
        .len() as i32;
    let by_hand = 1.0 - (0.001 + 0.999 * 0.005f64.powi(deepseek_regions));
    assert!(
        (a.availability - by_hand).abs() < 1e-12,
        "{} vs {by_hand}",
        a.availability
    );
    assert!(b.availability > a.availability && b.meets_target);
    assert!((a.allowed_minutes_per_month - 43.2).abs() < 1e-9);
    assert!((a.downtime_minutes_per_month - (1.0 - a.availability) * 43_200.0).abs() < 1e-9);
    // deepseek-v4-flash has no other vendor; deepseek-v3.2 does.
    assert_eq!(a.models[0].with_second_vendor, None);
}

#[test]
fn a_second_vendor_of_the_same_model_lifts_the_vendor_cap() {
    let land = land();
    let w = workload(1_000.0, 100, 100, 0.0);
    let policy = Policy::single(&land, "--model", "deepseek-v3.2").unwrap();
    let p = run(&land, &w, policy, BTreeMap::new());
    let m = &p.policies[0].availability.models[0];
    let (vendor, with) = m.with_second_vendor.clone().unwrap();
    // The cheapest other seller by input + output: OpenRouter (0.2288 + 0.3432).
    assert_eq!(vendor, "openrouter");
    // DeepSeek's one region, then one region at OpenRouter, each vendor 0.999 and each
    // region 0.995: 1 − (0.001 + 0.999 × 0.005)².
    let down_one = 0.001 + 0.999 * 0.005;
    assert!(
        (m.availability - (1.0 - down_one)).abs() < 1e-12,
        "{}",
        m.availability
    );
    assert!((with - (1.0 - down_one * down_one)).abs() < 1e-12, "{with}");
    assert!(with > 0.9999, "past the single vendor's 0.999 cap");
}
