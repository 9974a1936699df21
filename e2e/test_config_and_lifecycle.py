"""Configuration as a user writes it, live-vendor mode with keys from the environment, and
a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess

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
