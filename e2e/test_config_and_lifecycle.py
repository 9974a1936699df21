"""Configuration as a user writes it, live-vendor mode with keys from the environment, a
clean stop on SIGTERM, and a reload on SIGHUP that drops nothing in flight."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import openai
import pytest

from support import Gateway, child_env, gateway_bin


def test_semantic_config_error_names_the_entry_line_and_fix(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        '[server]\nlisten = "127.0.0.1:0"\n\n'
        '[[models]]\nid = "orphan"\nprovider = "nowhere"\ncontext_window = 1000\nmax_output = 100\n'
        'capabilities = ["text"]\nprice = { input = 1.0, cached_input = 0.1, output = 2.0 }\n'
    )
    out = subprocess.run([str(gateway_bin()), "serve", "--config", str(cfg)], capture_output=True,
                         text=True, env=child_env(), timeout=30)
    assert out.returncode != 0
    assert "line 4" in out.stderr and "nowhere" in out.stderr and "fix:" in out.stderr, out.stderr


@pytest.fixture
def keyed_sim():
    """A standalone simulator that only accepts the key 'sekret'."""
    proc = Gateway([str(gateway_bin()), "sim", "--listen", "127.0.0.1:0", "--time-scale", "0",
                    "--api-key", "sekret"], env=child_env())
    try:
        yield proc.wait_listening().root_url
    finally:
        proc.stop()


def _serve_against(sim_url: str, tmp_path, key: str) -> Gateway:
    cfg = tmp_path / "live.toml"
    cfg.write_text(f'[providers.deepseek]\nregions = [{{ name = "lab", base_url = "{sim_url}/deepseek/lab" }}]\n')
    env = child_env()
    env["DEEPSEEK_API_KEY"] = key
    return Gateway([str(gateway_bin()), "serve", "--listen", "127.0.0.1:0", "--config", str(cfg)],
                   env=env).wait_listening()


def test_key_from_environment_reaches_the_vendor(keyed_sim, tmp_path):
    gw = _serve_against(keyed_sim, tmp_path, "sekret")
    try:
        assert "live" in gw.output("stdout")
        resp = gw.client.chat.completions.create(
            model="deepseek-v4-flash", max_tokens=4, messages=[{"role": "user", "content": "hi"}])
        assert resp.usage.completion_tokens == 4
        # Providers without a key are listed as unavailable and answer 503.
        with pytest.raises(openai.APIStatusError) as err:
            gw.client.chat.completions.create(model="qwen3-32b", max_tokens=4,
                                              messages=[{"role": "user", "content": "hi"}])
        assert err.value.status_code == 503
        assert "DASHSCOPE_API_KEY" in err.value.body["message"]
    finally:
        gw.stop()


def test_wrong_key_is_the_vendors_401_passed_on_as_authentication_error(keyed_sim, tmp_path):
    gw = _serve_against(keyed_sim, tmp_path, "wrong")
    try:
        with pytest.raises(openai.AuthenticationError) as err:
            gw.client.chat.completions.create(model="deepseek-v4-flash", max_tokens=4,
                                              messages=[{"role": "user", "content": "hi"}])
        body = err.value.body
        assert body["type"] == "authentication_error" and body["retryable"] is False
        assert body["provider"] == "deepseek"
    finally:
        gw.stop()


def test_sigterm_stops_the_gateway_cleanly():
    gw = Gateway([str(gateway_bin()), "serve", "--listen", "127.0.0.1:0", "--sim-time-scale", "0"],
                 env=child_env()).wait_listening()
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=10) == 0
    gw.stop()


def _wait_for_output(gw: Gateway, needle: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in gw.output():
        assert time.monotonic() < deadline, f"no {needle!r} in the output:\n{gw.tail()}"
        time.sleep(0.05)


def test_sighup_reloads_the_config_without_dropping_a_stream_in_flight(tmp_path):
    base = (
        '[server]\nlisten = "127.0.0.1:0"\n\n[simulator]\ntime_scale = 0.3\n\n'
        '[providers.deepseek]\nsimulated = true\nregions = [{ name = "global" }]\n'
    )
    cfg = tmp_path / "reload.toml"
    cfg.write_text(base)
    gw = Gateway([str(gateway_bin()), "serve", "--config", str(cfg)], env=child_env()).wait_listening()
    try:
        def deployment_header() -> str:
            raw = gw.client.chat.completions.with_raw_response.create(
                model="deepseek-v4-flash", max_tokens=2, messages=[{"role": "user", "content": "hi"}])
            return raw.headers["x-switchyard-deployment"]

        assert deployment_header() == "global"
        # A long stream starts on the old config...
        result: dict = {}

        def consume() -> None:
            stream = gw.client.chat.completions.create(
                model="deepseek-v4-flash", max_tokens=300, stream=True,
                stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
                messages=[{"role": "user", "content": "tell me a story"}])
            chunks = list(stream)
            result["usage"] = chunks[-1].usage
            result["text"] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

        t = threading.Thread(target=consume)
        t.start()
        time.sleep(0.3)
        # ...the config changes under it...
        cfg.write_text(base + '\n[routes."deepseek-v4-flash"]\n'
                       'deployments = [{ region = "global", name = "renamed" }]\n')
        gw.proc.send_signal(signal.SIGHUP)
        _wait_for_output(gw, "config reloaded")
        assert t.is_alive(), "the stream was still in flight during the reload"
        # ...new requests get the new routes at once...
        assert deployment_header() == "renamed"
        # ...and the stream in flight finishes whole.
        t.join(timeout=30)
        assert not t.is_alive()
        assert result["usage"].completion_tokens == 300
        assert result["text"]

        # A broken file is reported and the running config kept.
        cfg.write_text(base + '\n[routes."deepseek-v4-flash"]\nbalance = "fastest"\n')
        gw.proc.send_signal(signal.SIGHUP)
        _wait_for_output(gw, "config reload failed")
        assert "fastest" in gw.output("stderr")
        assert deployment_header() == "renamed"
        assert gw.alive()
    finally:
        gw.stop()


def test_streams_ended_by_the_drain_are_recorded_even_across_a_reload(tmp_path):
    """Two streams outlive the drain (`drain_timeout_secs`), one started before a SIGHUP (on the replaced
    config) and one after: both end when the drain does, and both are in the usage log
    when the process has exited."""
    import sqlite3

    db = tmp_path / "usage.db"
    base = (
        f'[server]\nlisten = "127.0.0.1:0"\ndrain_timeout_secs = 1\n\n'
        f'[usage]\npath = "{db}"\n\n[simulator]\ntime_scale = 1.0\n\n'
        '[providers.deepseek]\nsimulated = true\nregions = [{ name = "global" }]\n'
    )
    cfg = tmp_path / "grace.toml"
    cfg.write_text(base)
    gw = Gateway([str(gateway_bin()), "serve", "--config", str(cfg)], env=child_env()).wait_listening()
    errors: list[BaseException] = []

    def long_stream() -> None:
        try:
            stream = gw.client.chat.completions.create(
                model="deepseek-v4-flash", max_tokens=8000, stream=True,
                extra_body={"ignore_eos": True},
                messages=[{"role": "user", "content": "a very long story"}])
            for _ in stream:
                pass
        except BaseException as e:  # the cut is expected; it must not hang
            errors.append(e)

    try:
        first = threading.Thread(target=long_stream)
        first.start()
        time.sleep(0.5)
        cfg.write_text(base + "\n# reloaded\n")
        gw.proc.send_signal(signal.SIGHUP)
        _wait_for_output(gw, "config reloaded")
        second = threading.Thread(target=long_stream)
        second.start()
        time.sleep(0.5)
        assert first.is_alive() and second.is_alive()
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(timeout=20) == 0
        first.join(timeout=10)
        second.join(timeout=10)
        assert not first.is_alive() and not second.is_alive()
    finally:
        gw.stop()
    rows = sqlite3.connect(db).execute(
        "SELECT model, outcome, estimated, prompt_tokens FROM usage").fetchall()
    assert len(rows) == 2, rows
    for model, outcome, estimated, prompt in rows:
        assert model == "deepseek-v4-flash"
        assert estimated == 1 and prompt > 0, rows


def test_a_reload_keeps_the_request_trails_and_the_stats(tmp_path):
    """Trails and the per-second series outlive a config reload: a request made before
    the SIGHUP is still found, and still counted, after it."""
    base = (
        '[server]\nlisten = "127.0.0.1:0"\n\n[simulator]\ntime_scale = 0\n\n'
        f'[usage]\npath = "{tmp_path / "usage.db"}"\n\n'
        '[providers.deepseek]\nsimulated = true\nregions = [{ name = "global" }]\n'
    )
    cfg = tmp_path / "reload.toml"
    cfg.write_text(base)
    gw = Gateway([str(gateway_bin()), "serve", "--config", str(cfg)], env=child_env()).wait_listening()
    try:
        before = gw.client.chat.completions.with_raw_response.create(
            model="deepseek-v4-flash", max_tokens=4, messages=[{"role": "user", "content": "hi"}])
        request_id = before.headers["x-request-id"]
        cfg.write_text(base + "\n# reloaded\n")
        gw.proc.send_signal(signal.SIGHUP)
        _wait_for_output(gw, "config reloaded")
        trail = gw.http.get(f"/admin/requests/{request_id}")
        assert trail.status_code == 200, trail.text
        assert trail.json()["source"] == "memory"
        stats = gw.http.get("/admin/stats", params={"series": "deepseek-v4-flash", "range": "10m"})
        assert stats.status_code == 200, stats.text
        assert sum(p["rps"] for p in stats.json()["points"]) > 0
    finally:
        gw.stop()
