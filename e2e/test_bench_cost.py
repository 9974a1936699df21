"""`switchyard bench` reads what each answer cost when the target is Switchyard.

A gateway on the embedded default, with its own usage log, takes two bench runs of two
models, one streamed (the cost arrives as an SSE comment) and one not (the header). The
cost bench reports per model must be exactly, in nano-dollars, what the gateway wrote in
its usage log; $/month is the mean cost × the offered rate × a 30-day month. Against
the simulator directly (no gateway, no cost) the cost is null, and neither the table nor
the HTML report shows it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support import SIM_TIME_SCALE, Gateway, child_env, gateway_bin

MODELS = ("deepseek-v4-flash", "qwen3-32b")
RATE = 20.0  # offered, shared by the two models
REQUESTS = 16  # per run, 8 per model
SECONDS_PER_MONTH = 86_400 * 30


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(gateway_bin()), "bench", "--quiet", *args], capture_output=True,
                          text=True, env=child_env(), timeout=120)


def run_json(target: str, out: Path, *extra: str, models=MODELS) -> tuple[dict, str]:
    r = bench("--target", target, "--model", ",".join(models), "--rate", str(RATE),
              "--requests", str(REQUESTS), "--output-tokens", "8", "--json", str(out), *extra)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(out.read_text()), r.stdout


def row(table: str, label: str) -> list[str]:
    line = next((l for l in table.splitlines() if l.startswith(label)), None)
    assert line is not None, f"no {label!r} row in the table:\n{table}"
    return line[len(label):].split()


@pytest.fixture
def own_gateway(tmp_path):
    """A gateway whose usage log holds only this test's requests."""
    env = child_env()
    env["SWITCHYARD_DATA_DIR"] = str(tmp_path / "data")
    gw = Gateway([str(gateway_bin()), "serve", "--listen", "127.0.0.1:0",
                  "--sim-time-scale", SIM_TIME_SCALE], env=env).wait_listening()
    try:
        yield gw, env
    finally:
        gw.stop()


def test_bench_reports_exactly_the_cost_the_gateway_logged(own_gateway, tmp_path):
    gw, env = own_gateway
    streamed, table = run_json(gw.base_url, tmp_path / "s.json",
                               "--html", str(tmp_path / "s.html"))
    whole, _ = run_json(gw.base_url, tmp_path / "w.json", "--no-stream")
    assert gw.stop() == 0, "the usage log is flushed when the gateway stops"
    usage = subprocess.run([str(gateway_bin()), "usage", "--json"], capture_output=True,
                           text=True, env=env, timeout=30)
    assert usage.returncode == 0, usage.stderr
    logged = {r["group"]: r for r in json.loads(usage.stdout)}
    assert set(logged) == set(MODELS), logged

    for report in (streamed, whole):
        for g in report["groups"]:
            c = g["cost"]
            assert c is not None, f"{g['name']}: no cost read ({report['meta']['stream']=})"
            assert c["requests_with_cost"] == g["requests"] == REQUESTS // len(MODELS)
            assert c["cost_unreadable"] == 0 and c["total_nanos"] > 0
            mean_usd = c["total_nanos"] / c["requests_with_cost"] / 1e9
            assert c["total_usd"] == pytest.approx(c["total_nanos"] / 1e9, rel=1e-12)
            assert c["per_1k_requests_usd"] == pytest.approx(mean_usd * 1000, rel=1e-12)
            assert c["rate_basis"] == "offered" and c["rate_rps"] == RATE / len(MODELS)
            assert c["per_month_usd"] == pytest.approx(
                mean_usd * c["rate_rps"] * SECONDS_PER_MONTH, rel=1e-9)

    for i, name in enumerate(MODELS):
        runs = [r["groups"][i] for r in (streamed, whole)]
        assert all(g["name"] == name for g in runs)
        assert sum(g["requests"] for g in runs) == logged[name]["requests"]
        # Exact, in nano-dollars: every answer's cost reached bench once, streamed or not.
        assert sum(g["cost"]["total_nanos"] for g in runs) == logged[name]["cost_nanos"], name

    per_1k, per_month = row(table, "$/1k req"), row(table, "$/month (offered rate)")
    assert len(per_1k) == len(per_month) == len(MODELS) and "-" not in per_1k + per_month
    for value, g in zip(per_1k, streamed["groups"]):
        assert float(value) == pytest.approx(g["cost"]["per_1k_requests_usd"], rel=1e-3)

    html = (tmp_path / "s.html").read_text(encoding="utf-8")
    assert "<h2>Cost</h2>" in html and 'data-chart="cost-per-month"' in html
    assert html.count('<rect class="bar"') == len(MODELS)


def test_a_target_without_costs_reports_none(tmp_path):
    sim = Gateway([str(gateway_bin()), "sim", "--listen", "127.0.0.1:0", "--time-scale", "0.01"],
                  env=child_env())
    try:
        target = f"{sim.wait_listening().root_url}/deepseek/global"
        report, table = run_json(target, tmp_path / "r.json", "--html", str(tmp_path / "r.html"),
                                 models=("deepseek-v4-flash", "deepseek-v3.2"))
    finally:
        sim.stop()
    for g in report["groups"]:
        assert g["ok"] > 0 and g["cost"] is None, g["name"]
    assert "$/1k req" not in table and "$/month" not in table, table
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<h2>Comparison</h2>" in html and "<h2>Cost</h2>" not in html
    assert "cost-per-month" not in html
