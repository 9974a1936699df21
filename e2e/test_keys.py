"""Gateway keys as an operator and a client use them: `switchyard keys create` issues a
key, the stock openai client uses it as its api_key, a wrong key is an AuthenticationError,
a revoked key stops working without a restart, and `switchyard usage --by team` shows the
spend."""

from __future__ import annotations

import json
import subprocess
import time

import openai
import pytest

from support import Gateway, child_env, gateway_bin


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(gateway_bin()), *args], capture_output=True, text=True, env=env,
                          timeout=30)


def test_keys_from_the_cli_are_enforced_by_a_running_gateway(tmp_path):
    env = child_env()
    env["SWITCHYARD_DATA_DIR"] = str(tmp_path)
    cfg = tmp_path / "keys.toml"
    cfg.write_text(
        '[server]\nlisten = "127.0.0.1:0"\n\n[keys]\nenabled = true\nrefresh_secs = 0.2\n\n'
        '[simulator]\ntime_scale = 0\n\n'
        '[providers.deepseek]\nsimulated = true\nregions = [{ name = "global" }]\n')
    made = _cli(env, "keys", "create", "--name", "app", "--team", "search",
                "--models", "deepseek-v4-flash", "--rpm", "100", "--budget", "5", "--json")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    key, key_id = created["key"], created["record"]["id"]

    gw = Gateway([str(gateway_bin()), "serve", "--config", str(cfg)], env=env).wait_listening()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
        resp = client.chat.completions.create(
            model="deepseek-v4-flash", max_tokens=4, messages=[{"role": "user", "content": "hi"}])
        assert resp.usage.completion_tokens == 4

        wrong = openai.OpenAI(base_url=gw.base_url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as err:
            wrong.chat.completions.create(model="deepseek-v4-flash", max_tokens=4,
                                          messages=[{"role": "user", "content": "hi"}])
        assert err.value.body["code"] == "invalid_api_key"

        with pytest.raises(openai.PermissionDeniedError) as err:
            client.chat.completions.create(model="qwen3-32b", max_tokens=4,
                                           messages=[{"role": "user", "content": "hi"}])
        assert err.value.body["code"] == "model_not_allowed"

        listed = _cli(env, "keys", "list", "--json")
        assert [k["id"] for k in json.loads(listed.stdout)] == [key_id]
        assert key not in listed.stdout

        revoked = _cli(env, "keys", "revoke", key_id)
        assert revoked.returncode == 0, revoked.stderr
        deadline = time.monotonic() + 5
        while True:
            try:
                client.chat.completions.create(model="deepseek-v4-flash", max_tokens=4,
                                               messages=[{"role": "user", "content": "hi"}])
            except openai.AuthenticationError as e:
                assert "revoked" in e.body["message"]
                break
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.1)
    finally:
        assert gw.stop() == 0

    report = _cli(env, "usage", "--by", "team", "--json")
    rows = json.loads(report.stdout)
    team = next(r for r in rows if r["group"] == "search")
    assert team["requests"] >= 1 and team["cost_nanos"] > 0
