//! The stores behind the gateway going away and coming back: PostgreSQL (keys, usage) and
//! Redis (shared limits), against the real servers on this machine (PostgreSQL at
//! 127.0.0.1:5432 database `test`, Redis at 127.0.0.1:6379). Connections are killed with
//! `pg_terminate_backend`, or cut / stalled by a TCP relay the test puts in between —
//! never by restarting the servers, which other tests share.

use std::time::{Duration, Instant};

use crate::common;
use crate::common::{TestGateway, admin, ask, new_key, start_with};
use serde_json::{Value, json};
use switchyard_ledger::keys::{BudgetPeriod, KeyStore, NewKey};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::common::PG;
const PG_ADDR: &str = "127.0.0.1:5432";
const REDIS_ADDR: &str = "127.0.0.1:6379";

/// What the relay does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forward both ways.
    Pass,
    /// Close every connection and refuse new ones (the server is down).
    Refuse,
    /// Accept and hold connections, forwarding nothing (the server hangs).
    Stall,
}

/// A TCP relay to `upstream` whose [`Mode`] the test sets.
struct Relay {
    addr: String,
    mode: watch::Sender<Mode>,
}

impl Relay {
    async fn start(upstream: &'static str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (mode, mode_rx) = watch::channel(Mode::Pass);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut rx = mode_rx.clone();
                tokio::spawn(async move {
                    let at_start = *rx.borrow_and_update();
                    match at_start {
                        Mode::Refuse => return,
                        Mode::Stall => {
                            // Hold it, answering nothing, until the server "comes back".
                            let _ = rx.wait_for(|m| *m != Mode::Stall).await;
                            return;
                        }
                        Mode::Pass => {}
                    }
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let changed = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                        r = rx.wait_for(|m| *m != Mode::Pass) => r.is_ok(),
                    };
                    let now = *rx.borrow();
                    if changed && now == Mode::Stall {
                        // Hold both ends, forwarding nothing, until it "comes back".
                        let _ = rx.wait_for(|m| *m != Mode::Stall).await;
                    }
                });
            }
        });
        Relay { addr, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// `postgres://…` through the relay, tagged with `app` (to find its connections).
    fn pg_url(&self, app: &str) -> String {
        format!(
            "postgres://postgres@{}/test?application_name={app}",
            self.addr
        )
    }
}

/// Run `sql` on a connection of its own (blocking, off the runtime's workers).
async fn pg(sql: String) -> Vec<postgres::Row> {
    tokio::task::spawn_blocking(move || {
        postgres::Client::connect(PG, postgres::NoTls)
            .unwrap()
            .query(&sql, &[])
            .unwrap()
    })
    .await
    .unwrap()
}

/// Kill every connection tagged `app`, as a server restart would; how many.
async fn kill_connections(app: &str) -> usize {
    pg(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}'"
    ))
    .await
    .len()
}

async fn drop_tables(table: &str) {
    let sql = format!(
        "DROP TABLE IF EXISTS {table}_keys; DROP TABLE IF EXISTS {table}_keys_version;
         DROP FUNCTION IF EXISTS {table}_keys_bump(); DROP TABLE IF EXISTS {table}"
    );
    common::pg_batch(sql).await;
}

/// A gateway with keys (refreshed every 0.1 s) and usage in PostgreSQL at `url`.
async fn pg_gateway(url: String, table: &str) -> TestGateway {
    let table = table.to_string();
    start_with(0.0, move |c| {
        c.usage.postgres = Some((url, table));
        c.keys.enabled = true;
        c.keys.refresh = Duration::from_millis(100);
        c.usage.postgres_options.connect_timeout = Duration::from_secs(1);
        c.usage.postgres_options.query_timeout = Duration::from_secs(2);
    })
    .await
}

/// Revoke `id` from another process (as `switchyard keys revoke` would).
async fn revoke_elsewhere(table: &str, id: &str) {
    let (table, id) = (table.to_string(), id.to_string());
    tokio::task::spawn_blocking(move || {
        assert!(
            KeyStore::open_postgres(PG, &table)
                .unwrap()
                .revoke(&id)
                .unwrap()
        );
    })
    .await
    .unwrap();
}

/// Poll `check` every 50 ms until it holds; panic with `what` after `limit`.
/// The status of one small chat request made with `key`.
async fn status_of(gw: &TestGateway, key: &str) -> u16 {
    gw.chat_as(key, ask("deepseek-v4-flash", "hi")).await.status
}

/// Wait, at most `limit`, until `key` is refused (401): `what` names the change awaited.
async fn until_refused(gw: &TestGateway, key: &str, limit: Duration, what: &str) {
    eventually(limit, what, || async { status_of(gw, key).await == 401 }).await;
}

async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn readyz_keys(gw: &TestGateway) -> Value {
    let r = gw.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["keys"].clone()
}

#[tokio::test]
async fn keys_in_postgres_are_refreshed_again_after_the_connections_are_killed() {
    let table = common::unique("sytest_keys_reconnect");
    let app = common::unique("sy_reconnect");
    let gw = pg_gateway(format!("{PG}?application_name={app}"), &table).await;
    let (key, id) = new_key(&gw, json!({"name": "doomed"})).await;
    assert_eq!(status_of(&gw, &key).await, 200);

    assert!(
        kill_connections(&app).await >= 1,
        "the gateway's connections were found"
    );
    // The admin API works again at once (a broken connection is replaced)...
    let r = admin(&gw, "GET", "/admin/keys", None, common::ADMIN_TOKEN).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // ...and a revocation made by another process reaches this replica.
    revoke_elsewhere(&table, &id).await;
    until_refused(
        &gw,
        &key,
        Duration::from_secs(20),
        "the revoked key refused",
    )
    .await;
    let keys = readyz_keys(&gw).await;
    assert_eq!(keys["stale"], false, "{keys}");
    drop_tables(&table).await;
}

#[tokio::test]
async fn readyz_says_how_stale_the_keys_are_while_postgres_is_away() {
    let table = common::unique("sytest_keys_stale");
    let relay = Relay::start(PG_ADDR).await;
    let gw = pg_gateway(relay.pg_url("sy_stale"), &table).await;
    let (key, id) = new_key(&gw, json!({"name": "stale"})).await;
    let keys = readyz_keys(&gw).await;
    assert_eq!(keys["stale"], false, "{keys}");
    // The kind of store only: /readyz is public, the database's address is not.
    assert_eq!(keys["store"], "postgres", "{keys}");
    assert!(!keys.to_string().contains(&relay.addr), "{keys}");

    relay.set(Mode::Refuse);
    eventually(
        Duration::from_secs(20),
        "/readyz reporting stale keys",
        || async { readyz_keys(&gw).await["stale"] == true },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys = readyz_keys(&gw).await;
    assert!(keys["secs_since_refresh"].as_f64().unwrap() > 0.0, "{keys}");
    // Keys already loaded keep working meanwhile.
    assert_eq!(status_of(&gw, &key).await, 200);
    // The admin API says the store is away (a wait), not that the gateway failed.
    let r = common::admin(&gw, "GET", "/admin/keys", None, common::ADMIN_TOKEN).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "key_store_unavailable");
    assert!(r.headers.contains_key("retry-after"));

    revoke_elsewhere(&table, &id).await;
    relay.set(Mode::Pass);
    // Back-off between attempts is at most a few seconds after so short an outage.
    until_refused(
        &gw,
        &key,
        Duration::from_secs(30),
        "the revocation seen after the outage",
    )
    .await;
    let keys = readyz_keys(&gw).await;
    assert_eq!(keys["stale"], false, "{keys}");
    drop_tables(&table).await;
}

#[tokio::test]
async fn a_revoke_stamped_before_the_newest_key_change_reaches_every_replica() {
    let table = common::unique("sytest_keys_skew");
    let gw = pg_gateway(PG.to_string(), &table).await;
    let (key, id) = new_key(&gw, json!({"name": "first"})).await;
    new_key(&gw, json!({"name": "second"})).await;
    assert_eq!(status_of(&gw, &key).await, 200);
    // Another replica, whose clock is behind, revokes the first key: its stamp is older
    // than the second key's and the number of keys stays the same.
    let sql = format!(
        "UPDATE {table}_keys SET revoked_ms = created_ms, updated_ms = created_ms WHERE id = '{id}'"
    );
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(PG, postgres::NoTls).unwrap();
        assert_eq!(c.execute(&sql, &[]).unwrap(), 1);
    })
    .await
    .unwrap();
    until_refused(
        &gw,
        &key,
        Duration::from_secs(20),
        "the skewed revocation seen",
    )
    .await;
    drop_tables(&table).await;
}

/// Rows in the usage table `table`.
async fn usage_rows(table: &str) -> i64 {
    pg(format!("SELECT COUNT(*) FROM {table}")).await[0].get(0)
}

/// Send `n` chat requests at once from a thread and runtime of their own, and wait for
/// them without the gateway's runtime: a gateway whose workers are blocked cannot
/// answer, and then the test fails at `limit` instead of hanging.
fn answered_without_blocking(base: &str, n: usize, limit: Duration) -> Vec<u16> {
    let (tx, rx) = std::sync::mpsc::channel();
    let url = format!("{base}/v1/chat/completions");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let statuses = rt.block_on(async {
            let http = reqwest::Client::new();
            let sends = (0..n).map(|_| {
                http.post(&url)
                    .header("content-type", "application/json")
                    .body(ask("deepseek-v4-flash", "hi").to_string())
                    .send()
            });
            futures_util::future::join_all(sends)
                .await
                .into_iter()
                .map(|r| r.map_or(0, |r| r.status().as_u16()))
                .collect::<Vec<_>>()
        });
        let _ = tx.send(statuses);
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| {
        panic!("{n} requests not answered within {limit:?}: the gateway is stalled")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_usage_database_never_stalls_requests_and_loses_no_event() {
    let table = common::unique("sytest_usage_stall");
    let relay = Relay::start(PG_ADDR).await;
    let (url, t) = (relay.pg_url("sy_stall"), table.clone());
    let gw = start_with(0.0, move |c| {
        c.usage.postgres = Some((url, t));
        c.usage.postgres_options.connect_timeout = Duration::from_secs(1);
        c.usage.postgres_options.query_timeout = Duration::from_secs(1);
        // A one-event buffer: every burst overflows to the spool.
        c.usage.buffer_events = 1;
    })
    .await;
    let mut sent: i64 = 0;
    assert_eq!(gw.chat(ask("deepseek-v4-flash", "hi")).await.status, 200);
    sent += 1;
    // The database goes down: events wait in the spool.
    relay.set(Mode::Refuse);
    for _ in 0..3 {
        assert_eq!(gw.chat(ask("deepseek-v4-flash", "hi")).await.status, 200);
        sent += 1;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Then it hangs: it accepts connections and answers nothing, while the writer tries
    // to drain the spool into it.
    relay.set(Mode::Stall);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = gw.base.clone();
    let statuses = tokio::task::spawn_blocking(move || {
        answered_without_blocking(&base, 20, Duration::from_secs(60))
    })
    .await
    .unwrap();
    assert_eq!(statuses, vec![200; 20]);
    sent += 20;
    // It comes back: every event reaches it, none twice.
    relay.set(Mode::Pass);
    let want = sent;
    eventually(
        Duration::from_secs(60),
        "every event in PostgreSQL",
        || async {
            let log = gw.state.usage.as_ref().unwrap();
            let _ = tokio::task::block_in_place(|| log.flush(Duration::from_secs(2)));
            usage_rows(&table).await >= want
        },
    )
    .await;
    assert_eq!(usage_rows(&table).await, want, "no event written twice");
    assert_eq!(gw.state.usage.as_ref().unwrap().stats().dropped, 0);
    drop_tables(&table).await;
}

/// A gateway with keys in `db` and limits in Redis at `redis` (host:port), failing
/// closed (a Redis error is a 503, never a local admission), after `tweak`.
async fn redis_gateway(
    time_scale: f64,
    db: &std::path::Path,
    redis: &str,
    prefix: &str,
    tweak: impl FnOnce(&mut switchyard_gateway::Config) + Send + 'static,
) -> TestGateway {
    let (db, redis, prefix) = (db.to_path_buf(), redis.to_string(), prefix.to_string());
    start_with(time_scale, move |c| {
        c.keys.enabled = true;
        c.keys.refresh = Duration::from_millis(100);
        c.usage.path = Some(db);
        c.limits.redis_url = Some(format!("redis://{redis}"));
        c.limits.redis_prefix = prefix;
        c.limits.deny_on_redis_error = true;
        tweak(c);
    })
    .await
}

fn budget_key(db: &std::path::Path, nanos: u64, period: BudgetPeriod) -> String {
    KeyStore::open(db)
        .unwrap()
        .create(&NewKey {
            name: "budget".into(),
            budget_nanos: Some(nanos),
            budget_period: period,
            ..NewKey::default()
        })
        .unwrap()
        .1
}

/// A connection of the test's own to the real Redis.
async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://{REDIS_ADDR}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Members of the Redis sorted set whose name matches `pattern` (0 if there is none: an
/// emptied set is removed).
async fn zcard(pattern: &str) -> i64 {
    let mut c = redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(keys.len() <= 1, "{pattern}: {keys:?}");
    let Some(key) = keys.first() else { return 0 };
    redis::cmd("ZCARD")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_reservation_whose_settle_never_ran_lapses_and_the_budget_is_usable_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    // Room for one request at its largest possible cost (about 294,000 n$), not two.
    let key = budget_key(&db, 400_000, BudgetPeriod::Total);
    let relay = Relay::start(REDIS_ADDR).await;
    let prefix = common::unique("sytest_hold");
    let gw = redis_gateway(0.02, &db, &relay.addr, &prefix, |c| {
        // Long enough that the check below sees it before it lapses, even on a busy machine.
        c.limits.reservation_ttl = Duration::from_secs(12);
    })
    .await;
    let mut body = ask("deepseek-v4-flash", "hi");
    body["max_tokens"] = json!(1000);
    let mut stream = body.clone();
    stream["stream"] = json!(true);
    stream["ignore_eos"] = json!(true); // as long as the cap: the simulator would stop sooner
    let resp = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(stream.to_string())
        .send()
        .await
        .unwrap();
    // Admitted (headers are sent after admission): Redis holds its reservation. Redis
    // goes away before the stream ends, so its settle never runs.
    assert_eq!(resp.status(), 200);
    relay.set(Mode::Refuse);
    let _ = resp.bytes().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.set(Mode::Pass);
    assert_eq!(
        zcard(&format!("{prefix}:*:holds:*")).await,
        1,
        "the lost settle left its reservation"
    );
    // It lapses after its own expiry, although the key keeps being used (each admit
    // used to extend it for good, so the key stayed at 402).
    eventually(
        Duration::from_secs(60),
        "a request admitted again",
        || async {
            let r = gw.chat_as(&key, body.clone()).await;
            // 503: the first calls after the outage, while the connection is re-made.
            assert!([200, 402, 503].contains(&r.status), "{}", r.status);
            tokio::time::sleep(Duration::from_millis(200)).await;
            r.status == 200
        },
    )
    .await;
    // That request's own reservation was settled (released) as usual.
    eventually(
        Duration::from_secs(10),
        "the new reservation settled",
        || async { zcard(&format!("{prefix}:*:holds:*")).await == 0 },
    )
    .await;
}

#[tokio::test]
async fn spend_that_redis_lost_is_seeded_again_from_the_usage_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    // About five requests of 8 tokens.
    let key = budget_key(&db, 20_000, BudgetPeriod::Total);
    let prefix = common::unique("sytest_reseed");
    let a = redis_gateway(0.0, &db, REDIS_ADDR, &prefix, |_| {}).await;
    let b = redis_gateway(0.0, &db, REDIS_ADDR, &prefix, |_| {}).await;
    // The budget is spent through A.
    common::spend_until_refused(&a, &key, ask("deepseek-v4-flash", "hi"), 30).await;
    a.flush_usage();
    // Redis loses the key's spend (a restart without persistence, an eviction).
    let mut c = redis().await;
    let spent: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*:spent:*"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(spent.len(), 1, "{spent:?}");
    let _: () = redis::cmd("DEL")
        .arg(&spent[0])
        .query_async(&mut c)
        .await
        .unwrap();
    // B, which spent nothing itself since it started, still refuses: the spend comes
    // back from the usage log, not from what B loaded at start.
    let r = b.chat_as(&key, ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 402, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "budget_exceeded");
    assert!(b.metric("switchyard_redis_spend_reseeds_total", &[]).await >= 1.0);
}

#[tokio::test]
async fn no_form_of_password_reaches_a_start_error_or_the_config_debug() {
    let base = || {
        let mut c = switchyard_gateway::Config::embedded_default().unwrap();
        c.simulator.time_scale = 0.0;
        c.usage.postgres_options.connect_timeout = Duration::from_secs(1);
        c
    };
    // Nothing listens on port 9: every start fails, and says where without the secret.
    for url in [
        "host=127.0.0.1 port=9 user=postgres password=hunter2 dbname=test",
        "host=127.0.0.1 port=9 user=postgres password='hunter2' dbname=test",
        "postgres://postgres@127.0.0.1:9/test?password=hunter2",
        "postgres://postgres:hunter2@127.0.0.1:9/test",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = base();
        c.usage.path = Some(dir.path().join("u.db"));
        c.usage.postgres = Some((url.into(), "t".into()));
        assert!(!format!("{c:?}").contains("hunter2"), "{url}");
        let err = common::start_error(c).await;
        assert!(err.contains("127.0.0.1") && err.contains("fix:"), "{err}");
        assert!(!err.contains("hunter2"), "{url}: {err}");
    }
    for url in [
        "redis://:hunter2@127.0.0.1:9",
        "redis://user:hunter2@127.0.0.1:9/0",
        "rediss://user:hunter2@127.0.0.1:9",
        "redis://127.0.0.1:9/?password=hunter2",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = base();
        c.usage.path = Some(dir.path().join("u.db"));
        c.keys.enabled = true;
        c.limits.redis_url = Some(url.into());
        assert!(!format!("{c:?}").contains("hunter2"), "{url}");
        let err = common::start_error(c).await;
        assert!(err.contains("cannot reach redis"), "{err}");
        assert!(!err.contains("hunter2"), "{url}: {err}");
    }
}

#[tokio::test]
async fn sslmode_require_against_a_server_without_tls_is_a_clear_error_not_plain_text() {
    // The PostgreSQL on this machine has no TLS: asking for it must fail, saying so,
    // rather than fall back to plain text.
    let dir = tempfile::tempdir().unwrap();
    let mut c = switchyard_gateway::Config::embedded_default().unwrap();
    c.simulator.time_scale = 0.0;
    c.usage.path = Some(dir.path().join("u.db"));
    c.usage.postgres = Some((
        format!("{PG}?sslmode=require"),
        common::unique("sytest_tls"),
    ));
    let err = common::start_error(c).await;
    assert!(err.contains("TLS") && err.contains("fix:"), "{err}");
    // A CA file that is not there is named.
    let dir = tempfile::tempdir().unwrap();
    let mut c = switchyard_gateway::Config::embedded_default().unwrap();
    c.simulator.time_scale = 0.0;
    c.usage.path = Some(dir.path().join("u.db"));
    c.usage.postgres = Some((
        "host=127.0.0.1 user=postgres dbname=test sslmode=verify-full".into(),
        "t".into(),
    ));
    c.usage.postgres_options.ca_file = Some(dir.path().join("missing-ca.pem"));
    let err = common::start_error(c).await;
    assert!(err.contains("missing-ca.pem"), "{err}");
}

#[tokio::test]
async fn a_rediss_url_opens_a_tls_handshake() {
    // A listener that records what the gateway sends first, and answers nothing.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 3];
        let _ = tokio::io::AsyncReadExt::read_exact(&mut s, &mut buf).await;
        let _ = first_tx.send(buf);
    });
    let dir = tempfile::tempdir().unwrap();
    let mut c = switchyard_gateway::Config::embedded_default().unwrap();
    c.simulator.time_scale = 0.0;
    c.usage.path = Some(dir.path().join("u.db"));
    c.keys.enabled = true;
    c.limits.redis_url = Some(format!("rediss://:secret@{addr}"));
    let err = common::start_error(c).await;
    assert!(err.contains("cannot reach redis"), "{err}");
    assert!(!err.contains("secret"), "{err}");
    let first = tokio::time::timeout(Duration::from_secs(10), first_rx)
        .await
        .unwrap()
        .unwrap();
    // A TLS record of type handshake (22), version 3.x: a ClientHello, not `AUTH`.
    assert_eq!((first[0], first[1]), (0x16, 0x03), "{first:?}");
}

/// Run `openssl` with `args` in `dir`.
async fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = tokio::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority and a server certificate for 127.0.0.1 signed by it, in `dir`
/// (`ca.pem`, `server.pem`, `server.key`).
async fn test_certificates(dir: &std::path::Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=switchyard test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    )
    .await;
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    )
    .await;
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    )
    .await;
}

#[tokio::test]
async fn limits_are_shared_through_redis_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    test_certificates(dir.path()).await;
    // A Redis of this test's own that only speaks TLS.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.path();
    let _server = tokio::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--tls-port",
            &port.to_string(),
        ])
        .arg("--tls-cert-file")
        .arg(d.join("server.pem"))
        .arg("--tls-key-file")
        .arg(d.join("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(d.join("ca.pem"))
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "redis-server listening",
        || async { TcpStream::connect(("127.0.0.1", port)).await.is_ok() },
    )
    .await;
    let db = d.join("keys.db");
    let key = KeyStore::open(&db)
        .unwrap()
        .create(&NewKey {
            name: "tls".into(),
            rpm: Some(2),
            ..NewKey::default()
        })
        .unwrap()
        .1;
    let ca = d.join("ca.pem");
    let gw = redis_gateway(
        0.0,
        &db,
        "unused",
        &common::unique("sytest_tls"),
        move |c| {
            c.limits.redis_url = Some(format!("rediss://127.0.0.1:{port}"));
            c.limits.redis_ca_file = Some(ca);
        },
    )
    .await;
    // Failing closed: each answer below came from the TLS Redis.
    for want in [200, 200, 429] {
        let r = gw.chat_as(&key, ask("deepseek-v4-flash", "hi")).await;
        assert_eq!(r.status, want, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("x-ratelimit-limit-requests"), Some("2"));
    }
    assert_eq!(gw.metric("switchyard_redis_errors_total", &[]).await, 0.0);
}

/// A PostgreSQL server of the test's own, with TLS on (certificates from
/// [`test_certificates`] in its directory), run as the `postgres` user; stopped when
/// dropped.
struct TlsPostgres {
    port: u16,
    bin: std::path::PathBuf,
    data: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl TlsPostgres {
    async fn start() -> TlsPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())
            .expect("a PostgreSQL server installation under /usr/lib/postgresql");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        test_certificates(&d).await;
        let chown = |p: &std::path::Path| {
            let ok = std::process::Command::new("chown")
                .arg("postgres")
                .arg(p)
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown {}", p.display());
        };
        chown(&d);
        chown(&d.join("server.key"));
        chown(&d.join("server.pem"));
        std::fs::set_permissions(
            d.join("server.key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let data = d.join("data");
        let as_postgres = |program: &str| {
            let mut c = tokio::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin.join(program));
            c
        };
        let out = as_postgres("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres"])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = TlsPostgres {
            port,
            bin: bin.clone(),
            data: data.clone(),
            dir,
        };
        let out = as_postgres("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(d.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={dir}/server.pem -c ssl_key_file={dir}/server.key",
                dir = d.display()
            ))
            .args(["-w", "-t", "30", "start"])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server
    }

    fn dsn(&self, extra: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres {extra}",
            self.port
        )
    }

    fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Run `sql` on a plain connection of the test's own.
    async fn query(&self, sql: String) -> Vec<postgres::Row> {
        let dsn = self.dsn("");
        tokio::task::spawn_blocking(move || {
            postgres::Client::connect(&dsn, postgres::NoTls)
                .unwrap()
                .query(&sql, &[])
                .unwrap()
        })
        .await
        .unwrap()
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test]
async fn usage_and_keys_reach_postgres_over_verified_tls() {
    let pg = TlsPostgres::start().await;
    // Without the test CA the server's certificate is not trusted: a clear error.
    let dir = tempfile::tempdir().unwrap();
    let mut c = switchyard_gateway::Config::embedded_default().unwrap();
    c.simulator.time_scale = 0.0;
    c.usage.path = Some(dir.path().join("u.db"));
    c.usage.postgres = Some((pg.dsn("sslmode=require"), "sytest_tls".into()));
    let err = common::start_error(c).await;
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // With it, the usage log and the keys use TLS.
    let (dsn, ca) = (pg.dsn("sslmode=require application_name=sy_tls"), pg.ca());
    let gw = start_with(0.0, move |c| {
        c.usage.postgres = Some((dsn, "sytest_tls".into()));
        c.usage.postgres_options.ca_file = Some(ca);
        c.keys.enabled = true;
    })
    .await;
    let (key, _) = new_key(&gw, json!({"name": "tls"})).await;
    assert_eq!(status_of(&gw, &key).await, 200);
    gw.flush_usage();
    let rows: i64 = pg.query("SELECT COUNT(*) FROM sytest_tls".into()).await[0].get(0);
    assert_eq!(rows, 1);
    let tls: i64 = pg
        .query(
            "SELECT COUNT(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.application_name = 'sy_tls' AND s.ssl"
                .into(),
        )
        .await[0]
        .get(0);
    let plain: i64 = pg
        .query(
            "SELECT COUNT(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.application_name = 'sy_tls' AND NOT s.ssl"
                .into(),
        )
        .await[0]
        .get(0);
    assert!(
        tls >= 2 && plain == 0,
        "{tls} TLS and {plain} plain connections"
    );
}
