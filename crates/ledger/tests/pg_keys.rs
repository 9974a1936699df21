//! Keys in the real PostgreSQL on this machine (127.0.0.1:5432, database `test`): two
//! stores, as two replicas on different machines would hold, see the same keys, changes
//! and spend.

#![expect(
    clippy::unwrap_used,
    reason = "a test crate: a failed unwrap is a failed test"
)]

use switchyard_ledger::keys::{BudgetPeriod, KeyStore, NewKey, hash_key};
use switchyard_ledger::{PgStore, UsageEvent, UsageStore};

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";

fn spend(key: &str, ts_ms: i64, cost_nanos: u64) -> UsageEvent {
    UsageEvent {
        ts_ms,
        request_id: format!("r-{ts_ms}"),
        key_id: Some(key.into()),
        team: None,
        model: "m".into(),
        provider: "p".into(),
        deployment: "d".into(),
        region: "r".into(),
        prompt_tokens: 1,
        cached_tokens: 0,
        completion_tokens: 1,
        reasoning_tokens: 0,
        cost_nanos,
        latency_ms: 1,
        ttft_ms: None,
        status: 200,
        outcome: "completed".into(),
        attempts: 1,
        estimated: false,
        route: None,
        endpoint: "chat.completions".into(),
    }
}

#[test]
fn two_replicas_share_keys_changes_and_spend_through_postgres() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let table = format!("sytest_keys_{}_{nanos}", std::process::id());
    let a = KeyStore::open_postgres(PG, &table).unwrap();
    let b = KeyStore::open_postgres(PG, &table).unwrap();
    assert!(
        a.location().contains(&format!("{table}_keys")),
        "{}",
        a.location()
    );

    let (rec, key) = a
        .create(&NewKey {
            name: "ci".into(),
            team: Some("search".into()),
            models: vec!["qwen-flash".into()],
            rpm: Some(60),
            budget_nanos: Some(5_000_000_000),
            budget_period: BudgetPeriod::Day,
            ..NewKey::default()
        })
        .unwrap();
    // The other replica sees the key, stored only hashed, with every field.
    let seen = b.all_with_hashes().unwrap();
    assert_eq!(seen, vec![(hash_key(&key), rec.clone())]);
    assert_eq!(b.get(&rec.id).unwrap(), Some(rec.clone()));
    assert!(b.version().unwrap() >= 1);

    // Spend comes from the shared usage table, from the period's start.
    let mut usage = PgStore::connect(PG, &table).unwrap();
    usage
        .insert(&[
            spend(&rec.id, 1_000, 7),
            spend(&rec.id, 5_000, 11),
            spend("other", 6_000, 99),
        ])
        .unwrap();
    assert_eq!(b.spent_since(&rec.id, 0).unwrap(), 18);
    assert_eq!(b.spent_since(&rec.id, 2_000).unwrap(), 11);

    // A rotation on one replica changes the hash the other loads; a revoked key cannot
    // be rotated, and revoking twice keeps the first time.
    let before = b.version().unwrap();
    let new_key = a.rotate(&rec.id).unwrap().unwrap();
    assert_eq!(b.all_with_hashes().unwrap()[0].0, hash_key(&new_key));
    assert!(b.revoke(&rec.id).unwrap());
    let revoked = a.get(&rec.id).unwrap().unwrap().revoked_ms;
    assert!(revoked.is_some());
    assert!(a.rotate(&rec.id).unwrap().is_none());
    assert!(!a.revoke("nope").unwrap());
    assert_ne!(a.version().unwrap(), before);

    drop_tables(&table);
}

fn drop_tables(table: &str) {
    let mut c = postgres::Client::connect(PG, postgres::NoTls).unwrap();
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}_keys; DROP TABLE IF EXISTS {table}_keys_version;
         DROP FUNCTION IF EXISTS {table}_keys_bump(); DROP TABLE IF EXISTS {table}"
    ))
    .unwrap();
}

fn unique_table(stem: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{stem}_{}_{nanos}", std::process::id())
}

#[test]
fn a_revoke_stamped_before_the_newest_change_is_still_seen_by_other_replicas() {
    let table = unique_table("sytest_keys_version");
    let a = KeyStore::open_postgres(PG, &table).unwrap();
    let b = KeyStore::open_postgres(PG, &table).unwrap();
    let (first, _) = a.create(&NewKey::default()).unwrap();
    a.create(&NewKey::default()).unwrap();
    let seen = b.version().unwrap();
    // A replica whose clock is behind revokes the first key: its stamp is older than the
    // newest row's, and the number of keys does not change.
    let mut c = postgres::Client::connect(PG, postgres::NoTls).unwrap();
    c.execute(
        &format!("UPDATE {table}_keys SET revoked_ms = $2, updated_ms = $2 WHERE id = $1"),
        &[&first.id, &(first.created_ms - 1)],
    )
    .unwrap();
    let after = b.version().unwrap();
    assert!(after > seen, "{seen} -> {after}");
    assert!(a.revoke(&first.id).unwrap());
    assert!(b.version().unwrap() > after, "a repeated revoke counts too");
    drop_tables(&table);
}

#[test]
fn a_key_table_from_before_the_version_counter_is_migrated() {
    let table = unique_table("sytest_keys_migrate");
    let mut c = postgres::Client::connect(PG, postgres::NoTls).unwrap();
    // The key table as an older release created it, with a key in it.
    c.batch_execute(&format!(
        "CREATE TABLE {table}_keys (
            id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, team TEXT,
            models TEXT NOT NULL, rpm BIGINT, tpm BIGINT, budget_nanos BIGINT,
            budget_period TEXT NOT NULL, expires_ms BIGINT, revoked_ms BIGINT,
            created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL);
         INSERT INTO {table}_keys VALUES ('0123456789ab', 'h', 'old', NULL, '[]', NULL, NULL,
            NULL, 'month', NULL, NULL, 5, 5);"
    ))
    .unwrap();
    let store = KeyStore::open_postgres(PG, &table).unwrap();
    let v = store.version().unwrap();
    assert!(store.revoke("0123456789ab").unwrap());
    assert!(store.version().unwrap() > v);
    assert_eq!(store.list().unwrap().len(), 1);
    drop_tables(&table);
}
