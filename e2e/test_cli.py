"""The `switchyard models` and `switchyard sim` subcommands, run as a user would."""

from __future__ import annotations

import json
import subprocess

import httpx

from support import CATALOG, Gateway, child_env, gateway_bin


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(gateway_bin()), *args], capture_output=True, text=True,
                          env=child_env(), timeout=30)


def test_models_prints_a_table_with_every_model_and_its_price():
    out = run_cli("models")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    header = lines[0]
    for column in ("ID", "PROVIDER", "CONTEXT", "CAPABILITIES"):
        assert column in header, header
    for model_id in CATALOG:
        assert any(line.split()[:1] == [model_id] for line in lines), f"{model_id} missing from table"


def test_models_json_matches_the_catalog_and_includes_config_models(tmp_path):
    cfg = tmp_path / "extra.toml"
    cfg.write_text(
        '[providers.local]\ndialect = "openai"\napi_key = "x"\n'
        'regions = [{ name = "lab", base_url = "http://127.0.0.1:9/v1" }]\n\n'
        '[[models]]\nid = "lab-model"\nprovider = "local"\ncontext_window = 4096\nmax_output = 512\n'
        'capabilities = ["text"]\nprice = { input = 0.5, cached_input = 0.05, output = 1.5 }\n'
    )
    out = run_cli("models", "--json", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    ids = {m["id"] for m in data["models"]}
    assert set(CATALOG) <= ids
    lab = next(m for m in data["models"] if m["id"] == "lab-model")
    assert lab["price"]["output"] == 1.5 and lab["provider"] == "local"
    assert any(p["id"] == "local" for p in data["providers"])


def test_sim_serves_vendor_dialects_standalone():
    proc = Gateway([str(gateway_bin()), "sim", "--listen", "127.0.0.1:0", "--time-scale", "0"],
                   env=child_env())
    try:
        base = proc.wait_listening().root_url
        resp = httpx.post(f"{base}/zhipu/cn/api/paas/v4/chat/completions",
                          headers={"authorization": "Bearer k"},
                          json={"model": "glm-4.5-flash", "max_tokens": 3,
                                "messages": [{"role": "user", "content": "hi"}]}, timeout=10)
        assert resp.status_code == 200, resp.text
        assert resp.json()["usage"]["completion_tokens"] == 3
        unauth = httpx.post(f"{base}/zhipu/cn/api/paas/v4/chat/completions",
                            json={"model": "glm-4.5-flash", "messages": []}, timeout=10)
        assert unauth.status_code == 401
    finally:
        proc.stop()


def test_a_reader_that_has_gone_away_ends_the_command_quietly():
    """`switchyard models | head -0`: stdout is closed before the first write, which then
    fails with a broken pipe; that ends the command with status 0, not a panic."""
    for argv in (["models"], ["models", "--json"], ["route", "explain", "What is 2+2?"]):
        proc = subprocess.Popen([str(gateway_bin()), *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=child_env())
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0, err
        assert "panicked" not in err, err
