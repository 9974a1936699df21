"""Graceful drain on SIGTERM, as an orchestrator stops a replica: `/readyz` fails at once,
new connections are taken for `drain_accept_secs` and refused after, streams in flight
run until `drain_timeout_secs` and then end with an explicit error event, and every
usage row and every Redis budget settlement is written before the process exits."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time

import httpx
import pytest

from support import Gateway, child_env, create_key, gateway_bin

STREAMS = 100
ACCEPT_S = 2
DRAIN_S = 4


def _redis(*args: str) -> list[str]:
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", *args], capture_output=True,
                         text=True, timeout=10, check=True)
    return out.stdout.split()


class _Stream(threading.Thread):
    """One long stream; keeps every SSE data line and says when the first arrived."""

    def __init__(self, base: str, key: str) -> None:
        super().__init__(daemon=True)
        self.base, self.key = base, key
        self.first = threading.Event()
        self.data: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.stream("POST", f"{self.base}/chat/completions", timeout=60,
                              headers={"authorization": f"Bearer {self.key}"},
                              json={"model": "deepseek-v4-flash", "max_tokens": 8000, "stream": True,
                                    "ignore_eos": True,  # as long as the cap: the simulator would stop sooner
                                    "messages": [{"role": "user", "content": "a long story"}]}) as r:
                assert r.status_code == 200, r.read()
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.data.append(line[6:])
                        self.first.set()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e
            self.first.set()


@pytest.fixture
def drained_gateway(tmp_path):
    env = child_env()
    env["SWITCHYARD_DATA_DIR"] = str(tmp_path)
    prefix = f"sye2e-drain-{os.getpid()}-{int(time.time() * 1000)}"
    db = tmp_path / "usage.db"
    cfg = tmp_path / "drain.toml"
    cfg.write_text(
        f'[server]\nlisten = "127.0.0.1:0"\ndrain_accept_secs = {ACCEPT_S}\n'
        f'drain_timeout_secs = {DRAIN_S}\nmax_concurrency = 1000\n\n'
        f'[usage]\npath = "{db}"\n\n[keys]\nenabled = true\n\n'
        f'[limits]\nbackend = "redis"\nredis_url = "redis://127.0.0.1:6379"\nredis_prefix = "{prefix}"\n\n'
        '[simulator]\ntime_scale = 1.0\n\n'
        '[providers.deepseek]\nsimulated = true\nregions = [{ name = "global" }]\n')
    key = create_key(cfg, "drain", "--budget", "100", "--period", "day", env=env)
    gw = Gateway([str(gateway_bin()), "serve", "--config", str(cfg)], env=env).wait_listening()
    try:
        yield gw, key, db, prefix
    finally:
        gw.stop()
        for k in _redis("--scan", "--pattern", f"{prefix}:*"):
            _redis("del", k)


def test_sigterm_with_100_streams_in_flight_loses_no_usage_row_and_no_settlement(drained_gateway):
    gw, key, db, prefix = drained_gateway
    base = gw.base_url
    streams = [_Stream(base, key["key"]) for _ in range(STREAMS)]
    for s in streams:
        s.start()
    for s in streams:
        assert s.first.wait(30), "every stream has its first event before the signal"
    assert all(s.error is None for s in streams), [s.error for s in streams if s.error]
    assert httpx.get(f"{gw.root_url}/readyz", timeout=5).status_code == 200

    signalled = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    # Out of rotation at once…
    ready = httpx.get(f"{gw.root_url}/readyz", timeout=5)
    assert ready.status_code == 503 and ready.json()["status"] == "draining"
    # …while a new connection is still served during the window…
    late = httpx.post(f"{base}/chat/completions", timeout=10,
                      headers={"authorization": f"Bearer {key['key']}"},
                      json={"model": "deepseek-v4-flash", "max_tokens": 2,
                            "messages": [{"role": "user", "content": "hi"}]})
    assert late.status_code == 200, late.text
    assert time.monotonic() - signalled < ACCEPT_S, "the check ran inside the window"
    # …and refused once it has passed, while the streams still run.
    time.sleep(max(0.0, ACCEPT_S + 0.5 - (time.monotonic() - signalled)))
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{gw.root_url}/healthz", timeout=5)
    assert all(s.is_alive() for s in streams), "streams run on after the listener closes"

    assert gw.proc.wait(timeout=DRAIN_S + 20) == 0
    for s in streams:
        s.join(timeout=10)
        assert not s.is_alive()
        assert s.error is None, s.error
        last = json.loads(s.data[-1])
        assert last["error"]["code"] == "shutting_down", s.data[-3:]
        assert last["error"]["type"] == "server_error"
        assert len(s.data) > 2, "tokens flowed before the drain ended the stream"

    rows = sqlite3.connect(db).execute(
        "SELECT outcome, estimated, completion_tokens, cost_nanos FROM usage WHERE key_id = ?",
        (key["record"]["id"],)).fetchall()
    assert len(rows) == STREAMS + 1, f"one row per request: {len(rows)}"
    interrupted = [r for r in rows if r[0] == "interrupted"]
    assert len(interrupted) == STREAMS and all(r[2] > 0 for r in interrupted)
    logged = sum(r[3] for r in rows)
    held = _redis("--scan", "--pattern", f"{prefix}:*:held:*")
    assert held and all(int(_redis("get", h)[0]) == 0 for h in held), \
        ("every reservation released", [_redis("get", h) for h in held], logged, _redis("get", _redis("--scan", "--pattern", f"{prefix}:*:spent:*")[0]), gw.tail())
    spent = _redis("--scan", "--pattern", f"{prefix}:*:spent:*")
    assert len(spent) == 1
    assert int(_redis("get", spent[0])[0]) == logged, "Redis holds exactly the logged spend"


def test_ctrl_c_takes_no_new_connections_and_exits_at_once_when_idle(tmp_path):
    gw = Gateway([str(gateway_bin()), "serve", "--listen", "127.0.0.1:0", "--sim-time-scale", "0"],
                 env=child_env()).wait_listening()
    try:
        started = time.monotonic()
        gw.proc.send_signal(signal.SIGINT)
        assert gw.proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 3, "no window for new connections after Ctrl-C"
    finally:
        gw.stop()


def test_a_whole_request_still_waiting_when_the_drain_ends_gets_a_503_and_is_recorded(tmp_path):
    db = tmp_path / "usage.db"
    cfg = tmp_path / "slow.toml"
    cfg.write_text(
        '[server]\nlisten = "127.0.0.1:0"\ndrain_accept_secs = 0\ndrain_timeout_secs = 1\n\n'
        f'[usage]\npath = "{db}"\n\n[simulator]\ntime_scale = 1.0\n\n'
        '[providers.deepseek]\nsimulated = true\nregions = [{ name = "global" }]\n')
    gw = Gateway([str(gateway_bin()), "serve", "--config", str(cfg)], env=child_env()).wait_listening()
    answers: list[httpx.Response] = []

    def ask() -> None:
        # A long answer, not streamed: nothing reaches the client until it is whole.
        answers.append(httpx.post(f"{gw.base_url}/chat/completions", timeout=30,
                                  json={"model": "deepseek-v4-flash", "max_tokens": 4000,
                                        "ignore_eos": True,
                                        "messages": [{"role": "user", "content": "a long story"}]}))

    try:
        t = threading.Thread(target=ask)
        t.start()
        time.sleep(0.5)
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(timeout=20) == 0
        t.join(timeout=10)
    finally:
        gw.stop()
    assert len(answers) == 1
    r = answers[0]
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    assert r.json()["error"]["code"] == "shutting_down", r.text
    rows = sqlite3.connect(db).execute("SELECT model, status FROM usage").fetchall()
    assert len(rows) == 1 and rows[0][0] == "deepseek-v4-flash", rows
