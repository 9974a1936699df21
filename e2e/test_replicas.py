"""Two `switchyard serve` processes behind no load balancer but the test itself: one key's
requests-per-minute limit, kept in the real Redis (127.0.0.1:6379), holds across both, and
both write one usage log in the real PostgreSQL (127.0.0.1:5432, database `test`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import httpx

from support import Gateway, child_env, create_key, gateway_bin

PG = "postgres://postgres@127.0.0.1:5432/test"


def test_two_processes_share_a_keys_rpm_through_redis_and_log_to_postgres(tmp_path):
    """Two `serve` processes with separate data directories: the key issued by the CLI
    is in PostgreSQL, its RPM is shared through Redis, and both log to one table."""
    env = child_env()
    env["SWITCHYARD_DATA_DIR"] = str(tmp_path)
    run = f"{os.getpid()}_{int(time.time() * 1000)}"
    table = f"sye2e_usage_{run}"
    cfg = tmp_path / "replica.toml"
    cfg.write_text(
        '[server]\nlisten = "127.0.0.1:0"\n\n[keys]\nenabled = true\n\n'
        f'[limits]\nbackend = "redis"\nredis_url = "redis://127.0.0.1:6379"\nredis_prefix = "sye2e-{run}"\n\n'
        f'[usage]\nstore = "postgres"\nurl = "{PG}"\ntable = "{table}"\n\n'
        '[simulator]\ntime_scale = 0\n\n'
        '[providers.deepseek]\nsimulated = true\nregions = [{ name = "global" }]\n')
    key = create_key(cfg, "shared", "--rpm", "6", env=env)["key"]
    # Each replica has its own data directory, as on its own machine: the key reaches
    # them through PostgreSQL.
    gws = []
    for i in range(2):
        own = {**env, "SWITCHYARD_DATA_DIR": str(tmp_path / f"machine-{i}")}
        gws.append(Gateway([str(gateway_bin()), "serve", "--config", str(cfg)],
                           env=own).wait_listening())
    try:
        statuses = []
        for i in range(20):
            r = httpx.post(f"{gws[i % 2].base_url}/chat/completions", timeout=10,
                           headers={"authorization": f"Bearer {key}"},
                           json={"model": "deepseek-v4-flash", "max_tokens": 2,
                                 "messages": [{"role": "user", "content": "hi"}]})
            statuses.append(r.status_code)
        ok = statuses.count(200)
        assert statuses.count(429) == 20 - ok
        assert 6 <= ok <= 7, statuses  # 6 per minute across both (+1 refilled at most)
    finally:
        for gw in gws:
            assert gw.stop() == 0

    report = subprocess.run([str(gateway_bin()), "usage", "--config", str(cfg), "--json"],
                            capture_output=True, text=True, env=env, timeout=30)
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)
    assert sum(r["requests"] for r in rows) == ok, "every admitted request, from both, in one log"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc",
                    f"DROP TABLE IF EXISTS {table}, {table}_keys"], check=False, timeout=30)


def test_a_stream_ended_by_the_drain_settles_its_budget_in_redis(tmp_path):
    """A budgeted key's long stream outlives `drain_timeout_secs`: when the gateway
    ends it, the request's spend reaches Redis and its reservation is released before
    the process exits (not left to lapse, not lost)."""
    import threading

    env = child_env()
    env["SWITCHYARD_DATA_DIR"] = str(tmp_path)
    run = f"{os.getpid()}_{int(time.time() * 1000)}"
    prefix = f"sye2e-grace-{run}"
    cfg = tmp_path / "grace.toml"
    cfg.write_text(
        '[server]\nlisten = "127.0.0.1:0"\ndrain_timeout_secs = 1\n\n[keys]\nenabled = true\n\n'
        f'[limits]\nbackend = "redis"\nredis_url = "redis://127.0.0.1:6379"\nredis_prefix = "{prefix}"\n\n'
        '[simulator]\ntime_scale = 1.0\n\n'
        '[providers.deepseek]\nsimulated = true\nregions = [{ name = "global" }]\n')
    key = create_key(cfg, "grace", "--budget", "100", "--period", "day", env=env)["key"]
    gw = Gateway([str(gateway_bin()), "serve", "--config", str(cfg)], env=env).wait_listening()

    def redis(*args: str) -> list[str]:
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", *args], capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.split()

    def stream() -> None:
        try:
            with httpx.stream("POST", f"{gw.base_url}/chat/completions", timeout=30,
                              headers={"authorization": f"Bearer {key}"},
                              json={"model": "deepseek-v4-flash", "max_tokens": 8000, "stream": True,
                                    "ignore_eos": True,
                                    "messages": [{"role": "user", "content": "a long story"}]}) as r:
                for _ in r.iter_bytes():
                    pass
        except httpx.HTTPError:
            pass  # the cut is expected

    try:
        t = threading.Thread(target=stream)
        t.start()
        time.sleep(1.0)
        held = [k for k in redis("--scan", "--pattern", f"{prefix}:*:held:*")]
        assert held and int(redis("get", held[0])[0]) > 0, "the stream holds a reservation"
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(timeout=20) == 0
        t.join(timeout=10)
        assert int(redis("get", held[0])[0]) == 0, "released at exit, not left to lapse"
        spent = redis("--scan", "--pattern", f"{prefix}:*:spent:*")
        assert spent and int(redis("get", spent[0])[0]) > 0, "the cut stream's spend is counted"
    finally:
        gw.stop()
        for k in redis("--scan", "--pattern", f"{prefix}:*"):
            redis("del", k)
