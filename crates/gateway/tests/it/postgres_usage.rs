//! The usage log in the real PostgreSQL on this machine (127.0.0.1:5432, database `test`):
//! two gateways write one table, and its rows match the requests sent — streams cut by the
//! client included.

use std::time::Duration;

use crate::common;
use crate::common::{TestGateway, ask, start_with};
use serde_json::json;
use switchyard_ledger::PgStore;

use crate::common::PG;

fn table() -> String {
    common::unique("sytest_usage")
}

async fn gateway(table: &str) -> TestGateway {
    let table = table.to_string();
    start_with(0.1, move |c| c.usage.postgres = Some((PG.into(), table))).await
}

async fn rows(table: &str) -> Vec<switchyard_ledger::UsageEvent> {
    let table = table.to_string();
    tokio::task::spawn_blocking(move || {
        PgStore::connect(PG, &table)
            .unwrap()
            .events_since(0)
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn rows_in_postgres_match_the_requests_of_two_gateways_cut_streams_included() {
    let t = table();
    let (a, b) = (gateway(&t).await, gateway(&t).await);
    let mut sent = Vec::new();
    for i in 0..10 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
        assert_eq!(r.status, 200);
        sent.push(r.header("x-request-id").unwrap().to_string());
    }
    // A long stream the client walks away from after its first chunks.
    let mut body = ask("qwen3-32b", "tell me a story");
    body["max_tokens"] = json!(2000);
    body["ignore_eos"] = json!(true); // as long as the cap: the simulator would stop sooner
    body["stream"] = json!(true);
    let mut resp = a
        .http
        .post(format!("{}/v1/chat/completions", a.base))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let cut_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    for _ in 0..3 {
        resp.chunk().await.unwrap();
    }
    drop(resp);
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.flush_usage();
    b.flush_usage();
    let rows = rows(&t).await;
    assert_eq!(rows.len(), 11, "{rows:?}");
    let mut ids: Vec<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
    ids.sort_unstable();
    let mut expected: Vec<&str> = sent
        .iter()
        .map(String::as_str)
        .chain([cut_id.as_str()])
        .collect();
    expected.sort_unstable();
    assert_eq!(ids, expected, "one row per request, no more, no less");
    let cut = rows.iter().find(|r| r.request_id == cut_id).unwrap();
    assert_eq!(
        (cut.outcome.as_str(), cut.status),
        ("client_disconnected", 499)
    );
    assert!(cut.estimated && cut.completion_tokens > 0);
    assert!(
        rows.iter()
            .filter(|r| r.outcome == "completed")
            .all(|r| r.cost_nanos > 0)
    );
    drop_table(&t).await;
}

/// Leave the shared `test` database as it was.
async fn drop_table(table: &str) {
    let sql = format!("DROP TABLE IF EXISTS {table}; DROP FUNCTION IF EXISTS {table}_bump()");
    common::pg_batch(sql).await;
}

#[tokio::test]
async fn a_bad_postgres_url_fails_start_up_with_the_fix() {
    let mut config = switchyard_gateway::Config::embedded_default().unwrap();
    let dir = tempfile::tempdir().unwrap();
    config.simulator.time_scale = 0.0;
    config.usage.path = Some(dir.path().join("u.db"));
    config.usage.postgres = Some((
        "postgres://postgres:secret@127.0.0.1:9/test".into(),
        "t".into(),
    ));
    let err = common::start_error(config).await;
    assert!(
        err.contains("cannot connect") && err.contains("fix:"),
        "{err}"
    );
    assert!(!err.contains("secret"), "no password in messages: {err}");
}

#[tokio::test]
async fn keys_in_postgres_are_shared_by_replicas_and_their_spend_survives_a_restart() {
    let t = table();
    let start = |t: String| {
        start_with(0.0, move |c| {
            c.usage.postgres = Some((PG.into(), t));
            c.keys.enabled = true;
            c.keys.refresh = Duration::from_millis(100);
        })
    };
    let (a, b) = (start(t.clone()).await, start(t.clone()).await);
    // Issued on A; B, another replica, takes it within its refresh interval.
    let (key, _id) = common::new_key(
        &a,
        json!({"name": "shared", "budget_usd": 0.0005, "budget_period": "day"}),
    )
    .await;
    let mut body = ask("deepseek-v4-flash", "hi");
    body["max_tokens"] = json!(1000);
    let mut accepted = false;
    for _ in 0..50 {
        if b.chat_as(&key, body.clone()).await.status == 200 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "replica B never accepted the key issued on A");
    // Spend on A until the budget refuses.
    common::spend_until_refused(&a, &key, body.clone(), 10).await;
    a.flush_usage();
    b.flush_usage();
    // A gateway started afresh reads the key and this period's spend from PostgreSQL.
    let c = start(t.clone()).await;
    let r = c.chat_as(&key, body).await;
    assert_eq!(r.status, 402, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "budget_exceeded");
    drop_table(&format!("{t}_keys")).await;
    drop_table(&format!("{t}_keys_version")).await;
    drop_table(&t).await;
}
