//! Limits and budgets shared by two gateways through the real Redis on this machine
//! (127.0.0.1:6379), and what happens when Redis goes away: fail open with local limits,
//! or fail closed, as configured.

use std::path::Path;

use crate::common;
use crate::common::{TestGateway, ask, start_with};
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

/// A key limited to `rpm` requests per minute.
fn rpm_key(db: &Path, rpm: u64) -> String {
    issue(
        db,
        NewKey {
            name: format!("rpm-{rpm}"),
            rpm: Some(rpm),
            ..NewKey::default()
        },
    )
}

async fn gateway(db: &Path, redis: &str, prefix: &str, deny: bool) -> TestGateway {
    gateway_on(db, redis, &[], prefix, deny).await
}

async fn gateway_on(
    db: &Path,
    redis: &str,
    cluster: &[String],
    prefix: &str,
    deny: bool,
) -> TestGateway {
    let (db, redis, prefix) = (db.to_path_buf(), redis.to_string(), prefix.to_string());
    let cluster = cluster.to_vec();
    start_with(0.0, move |c| {
        c.keys.enabled = true;
        c.usage.path = Some(db);
        c.limits.redis_url = Some(format!("redis://{redis}"));
        c.limits.redis_cluster = cluster;
        c.limits.redis_prefix = prefix;
        c.limits.deny_on_redis_error = deny;
    })
    .await
}

/// Send 30 requests alternately through `a` and `b` with a key limited to 10 per minute.
async fn assert_rpm_shared(a: &TestGateway, b: &TestGateway, key: &str) {
    let mut ok = 0;
    let mut limited = 0;
    for i in 0..30 {
        let gw = if i % 2 == 0 { a } else { b };
        let r = gw.chat_as(key, ask("deepseek-v4-flash", "hi")).await;
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
async fn two_gateways_share_one_keys_requests_per_minute() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let key = rpm_key(&db, 10);
    let p = prefix();
    let (a, b) = (
        gateway(&db, REDIS, &p, false).await,
        gateway(&db, REDIS, &p, false).await,
    );
    assert_rpm_shared(&a, &b, &key).await;
}

/// A three-node Redis Cluster on free loopback ports, from the machine's `redis-server`;
/// stopped when dropped.
struct Cluster {
    nodes: Vec<String>,
    _servers: Vec<tokio::process::Child>,
    _dir: tempfile::TempDir,
}

async fn redis_cli(args: &[&str]) -> String {
    let out = tokio::process::Command::new("redis-cli")
        .args(args)
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn start_cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    // Each node also listens on its port + 10000 (the cluster bus): pick ports whose pair
    // is free, both below the ephemeral range (32768+) that port-0 servers get.
    let mut ports: Vec<u16> = Vec::new();
    let mut candidate = 10_000 + (std::process::id() % 9_000) as u16;
    while ports.len() < 3 {
        candidate = 10_000 + (candidate - 10_000 + 7) % 9_000;
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if !ports.contains(&candidate) && free(candidate) && free(candidate + 10_000) {
            ports.push(candidate);
        }
    }
    let mut servers = Vec::new();
    for p in &ports {
        let conf = dir.path().join(format!("nodes-{p}.conf"));
        let child = tokio::process::Command::new("redis-server")
            .args([
                "--port",
                &p.to_string(),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
            ])
            .args(["--cluster-config-file", conf.to_str().unwrap()])
            .args([
                "--dir",
                dir.path().to_str().unwrap(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        servers.push(child);
    }
    for p in &ports {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", *p)).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server on {p} did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    redis_cli(&args).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    for p in &ports {
        while !redis_cli(&["-p", &p.to_string(), "cluster", "info"])
            .await
            .contains("cluster_state:ok")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the cluster did not form"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    Cluster {
        nodes: addrs.iter().map(|a| format!("redis://{a}")).collect(),
        _servers: servers,
        _dir: dir,
    }
}

#[tokio::test]
async fn two_gateways_share_limits_through_a_redis_cluster() {
    let cluster = start_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let key = rpm_key(&db, 10);
    let p = prefix();
    let seed = cluster.nodes[0].trim_start_matches("redis://").to_string();
    let a = gateway_on(&db, &seed, &cluster.nodes, &p, true).await;
    let b = gateway_on(&db, &seed, &cluster.nodes[1..], &p, true).await;
    assert_rpm_shared(&a, &b, &key).await;
    // The key's counters sit on one node, the one owning its hash tag's slot.
    let owners = {
        let mut n = 0;
        for node in &cluster.nodes {
            let port = node.rsplit(':').next().unwrap();
            if !redis_cli(&["-p", port, "--scan", "--pattern", &format!("{p}:*")])
                .await
                .trim()
                .is_empty()
            {
                n += 1;
            }
        }
        n
    };
    assert_eq!(owners, 1);
    assert_eq!(a.metric("switchyard_redis_errors_total", &[]).await, 0.0);
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
    // Every answer as long as its cap: a request then costs at least 1,000 output tokens
    // at the off-peak price (140 n$ each), so the sixteen cannot all fit.
    body["ignore_eos"] = json!(true);
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
    // The budget binds: at 140,000 n$ or more each, at most 1,000,000 / 140,000 = 7 fit
    // (3.5 at peak prices, the reservation's), and one more may overshoot.
    assert!(
        ok <= 8,
        "{ok} requests fit a budget of at most about 7 of them"
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
        let key = rpm_key(&db, 100);
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
    let err = common::start_error(config).await;
    assert!(
        err.contains("cannot reach redis") && err.contains("fix:"),
        "{err}"
    );
}
