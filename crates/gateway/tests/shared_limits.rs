//! Limits and budgets shared by two gateways through the real Redis on this machine
//! (127.0.0.1:6379), and what happens when Redis goes away: fail open with local limits,
//! or fail closed, as configured.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate

mod common;

use std::path::Path;

use common::{TestGateway, ask, start_with};
use futures_util::future::join_all;
use serde_json::json;
use switchyard_ledger::keys::{BudgetPeriod, KeyStore, NewKey};
use tokio::net::{TcpListener, TcpStream};

const REDIS: &str = "127.0.0.1:6379";

/// A fresh key prefix, so runs and parallel tests never share counters.
fn prefix() -> String {
    common::unique("sytest")
}

fn issue(db: &Path, new: NewKey) -> String {
    KeyStore::open(db).unwrap().create(&new).unwrap().1
}

async fn gateway(db: &Path, redis: &str, prefix: &str, deny: bool) -> TestGateway {
    let (db, redis, prefix) = (db.to_path_buf(), redis.to_string(), prefix.to_string());
    start_with(0.0, move |c| {
        c.keys.enabled = true;
        c.usage.path = Some(db);
        c.limits.redis_url = Some(format!("redis://{redis}"));
        c.limits.redis_prefix = prefix;
        c.limits.deny_on_redis_error = deny;
    })
    .await
}

#[tokio::test]
async fn two_gateways_share_one_keys_requests_per_minute() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let key = issue(
        &db,
        NewKey {
            name: "shared".into(),
            rpm: Some(10),
            ..NewKey::default()
        },
    );
    let p = prefix();
    let (a, b) = (
        gateway(&db, REDIS, &p, false).await,
        gateway(&db, REDIS, &p, false).await,
    );
    let mut ok = 0;
    let mut limited = 0;
    for i in 0..30 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let r = gw.chat_as(&key, ask("deepseek-v4-flash", "hi")).await;
        match r.status {
            200 => ok += 1,
            429 => {
                limited += 1;
                assert!(r.header("retry-after").is_some());
                assert_eq!(r.header("x-ratelimit-limit-requests"), Some("10"));
            }
            s => panic!("unexpected {s}"),
        }
    }
    // 10 per minute between them (the bucket refills 1 every 6 s: at most one more).
    assert!((10..=11).contains(&ok), "{ok} admitted of 30");
    assert_eq!(ok + limited, 30);
    let served = a.served("deepseek", "global").await + b.served("deepseek", "global").await;
    assert_eq!(served, ok as u64, "refused requests never reached a vendor");
}

#[tokio::test]
async fn a_budget_shared_by_two_gateways_is_not_overshot_beyond_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let budget_nanos = 1_000_000; // $0.001
    let key = issue(
        &db,
        NewKey {
            name: "budget".into(),
            budget_nanos: Some(budget_nanos),
            budget_period: BudgetPeriod::Day,
            ..NewKey::default()
        },
    );
    let p = prefix();
    let (a, b) = (
        gateway(&db, REDIS, &p, false).await,
        gateway(&db, REDIS, &p, false).await,
    );
    let mut body = ask("deepseek-v4-flash", "hi");
    body["max_tokens"] = json!(1000);
    let sends = (0..16).map(|i| {
        let gw = if i % 2 == 0 { &a } else { &b };
        gw.chat_as(&key, body.clone())
    });
    let replies = join_all(sends).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert!(ok >= 1);
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 402, "{}", String::from_utf8_lossy(&r.body));
    }
    let spent: u64 = a
        .usage_events()
        .iter()
        .chain(b.usage_events().iter())
        .map(|e| e.cost_nanos)
        .sum();
    let one_request_max = 1_000 * 280 + 100 * 140;
    assert!(spent <= budget_nanos + one_request_max, "spent {spent} n$");
    assert!(
        ok <= 4,
        "{ok} requests fit a budget of about 3.5 at their maximum"
    );
}

/// A TCP forwarder to Redis that can be cut, to take Redis away from a gateway.
async fn cuttable_redis() -> (String, tokio::sync::watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (cut_tx, cut_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let mut cut = cut_rx.clone();
            if *cut.borrow() {
                continue; // dropped: refused
            }
            tokio::spawn(async move {
                let Ok(mut upstream) = TcpStream::connect(REDIS).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                    _ = cut.wait_for(|c| *c) => {}
                }
            });
        }
    });
    (addr, cut_tx)
}

#[tokio::test]
async fn without_redis_the_configured_policy_applies() {
    for deny in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("shared.db");
        let key = issue(
            &db,
            NewKey {
                name: "k".into(),
                rpm: Some(100),
                ..NewKey::default()
            },
        );
        let (addr, cut) = cuttable_redis().await;
        let gw = gateway(&db, &addr, &prefix(), deny).await;
        assert_eq!(
            gw.chat_as(&key, ask("deepseek-v4-flash", "hi"))
                .await
                .status,
            200
        );
        cut.send(true).unwrap();
        let r = gw.chat_as(&key, ask("deepseek-v4-flash", "hi")).await;
        if deny {
            assert_eq!(r.status, 503, "fail closed");
            assert_eq!(r.json()["error"]["code"], "limiter_unavailable");
            assert_eq!(r.header("retry-after"), Some("1"));
        } else {
            assert_eq!(r.status, 200, "fail open, with this process's own limits");
            assert_eq!(r.header("x-ratelimit-limit-requests"), Some("100"));
        }
        assert!(gw.metric("switchyard_redis_errors_total", &[]).await >= 1.0);
    }
}

#[tokio::test]
async fn an_unreachable_redis_at_start_is_a_clear_error() {
    let mut config = switchyard_gateway::Config::embedded_default().unwrap();
    let dir = tempfile::tempdir().unwrap();
    config.simulator.time_scale = 0.0;
    config.usage.path = Some(dir.path().join("u.db"));
    config.keys.enabled = true;
    config.limits.redis_url = Some("redis://127.0.0.1:9".into());
    let err = switchyard_gateway::AppState::build(config, &|_| None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cannot reach redis") && err.contains("fix:"),
        "{err}"
    );
}
