"""`switchyard plan` as a user runs it: a known workload sent through a real gateway with
`switchyard bench`, then `plan --from-usage` on the usage log it wrote predicts what was
spent (within 2%) and how many requests were in flight (within 15%); bad arguments get a
message naming the argument; the HTML report renders in headless Chromium."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cdp import Browser, chromium_or_skip
from support import REPO_ROOT, child_env, gateway_bin

CONFIG = """[server]
listen = "127.0.0.1:0"

[usage]
path = "{db}"

[slo]
persist = false

[providers.deepseek]
simulated = true
regions = [{{ name = "global" }}, {{ name = "cn" }}]

[providers.dashscope]
simulated = true
regions = [{{ name = "singapore" }}]
"""


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(gateway_bin()), *args], capture_output=True, text=True,
                          env=child_env(), timeout=timeout)


def test_plan_from_the_usage_log_predicts_the_measured_cost_and_concurrency(start_gateway_with_config, tmp_path):
    db = tmp_path / "usage.db"
    gw = start_gateway_with_config(CONFIG.format(db=db))
    # Models without time-of-day prices: the plan prices a day at list (peak) prices, and
    # this run's cost would depend on the hour it ran at (DeepSeek bills off-peak half).
    bench = run("bench", "--target", gw.base_url, "--model", "qwen-plus,qwen3-32b",
                "--rate", "16", "--duration", "8s", "--input-tokens", "400:150", "--output-tokens", "80:30",
                "--quiet", "--api-key", "none", "--fail-on", "error_rate>0")
    assert bench.returncode == 0, bench.stdout + bench.stderr
    gw.stop()  # the usage log is written in full at exit

    out = tmp_path / "plan.json"
    html = tmp_path / "plan.html"
    plan = run("plan", "--from-usage", "--db", str(db), "--days", "1", "--json", str(out), "--html", str(html))
    assert plan.returncode == 0, plan.stderr
    assert "as observed" in plan.stdout and "Measured in the usage log" in plan.stdout
    p = json.loads(out.read_text())
    measured = p["measured"]
    assert measured["requests"] >= 120, measured
    policy = p["policies"][0]
    predicted = policy["cost"]["per_day_usd"] * measured["span_s"] / 86_400
    assert abs(predicted - measured["cost_usd"]) <= 0.02 * measured["cost_usd"], (predicted, measured)
    in_flight = policy["capacity"]["regions"][0]["concurrency_mean"]
    busiest = measured["concurrency_busiest_minute"]
    assert abs(in_flight - busiest) <= 0.15 * busiest, (in_flight, busiest)
    assert {m["model"] for m in policy["cost"]["models"]} == {"qwen-plus", "qwen3-32b"}
    assert all(m["latency"]["source"] == "usage log" for m in policy["capacity"]["models"])

    chromium = chromium_or_skip()
    browser = Browser(chromium, tmp_path / "profile", width=1200, height=1600)
    try:
        browser.navigate(html.as_uri())
        facts = browser.evaluate("""(() => ({
            charts: document.querySelectorAll('svg').length,
            bars: document.querySelectorAll('#cost .bars [data-policy]').length,
            sections: [...document.querySelectorAll('section')].map((s) => s.id),
            lines: document.querySelectorAll('svg polyline, svg path').length,
        }))()""")
        shot = browser.screenshot(REPO_ROOT / "target" / "e2e-artifacts" / "plan.png")
    finally:
        browser.close()
    assert facts["charts"] >= 3 and facts["bars"] == 1, facts
    assert facts["sections"] == ["cost", "capacity", "availability"], facts
    assert facts["lines"] >= 3, facts
    assert shot.stat().st_size > 10_000


def test_plan_compares_policies_for_a_given_workload_as_json():
    r = run("plan", "--requests-per-day", "2000000", "--input-tokens", "500", "--output-tokens", "300",
            "--model", "deepseek-v4-flash", "--compare", "--regions", "us-east:0.4,eu:0.35,ap:0.25",
            "--quota", "deepseek=rpm:1000,tpm:1000000", "--json", "-")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)
    names = [x["policy"]["name"] for x in p["policies"]]
    assert any(n.startswith("always-premium") for n in names) and any(n.startswith("cheapest-that-fits") for n in names)
    first = p["policies"][0]
    # 500 × $0.14/M + 300 × $0.28/M = 154,000 n$ a request at peak prices, half that
    # off-peak; an even week is 2,100/10,080 peak: 93,042 n$, × 2M × 30 days.
    assert abs(first["cost"]["per_month_usd"] - 5582.52) < 1e-6
    deepseek = [m for m in first["capacity"]["models"] if m["provider"] == "deepseek"]
    assert {m["region"] for m in deepseek} == {"us-east", "eu", "ap"}
    for m in deepseek:
        by_hand = max(-(-m["rpm_needed"] // 1000), -(-m["tpm_needed"] // 1_000_000))
        assert m["accounts"] == by_hand and m["accounts"] >= 2, m
    assert abs(first["availability"]["allowed_minutes_per_month"] - 43.2) < 1e-9


def test_bad_plan_arguments_name_the_argument_and_the_fix():
    cases = [
        (["--requests-per-day", "1000", "--model", "no-such-model"], "--model: no model 'no-such-model'"),
        (["--requests-per-day", "1000", "--mix", "deepseek-v4-flash:0.5,qwen3-32b:0.4"], "--mix: the shares sum to 0.900"),
        (["--requests-per-day", "1000", "--model", "qwen3-32b", "--regions", "eu:0.7,us:0.7"], "--regions: the shares sum to 1.400"),
        (["--requests-per-day", "1000", "--model", "qwen3-32b", "--quota", "dashscope=rpm:0"], "--quota: dashscope: rpm '0' is impossible"),
        (["--model", "qwen3-32b"], "--requests-per-day: say how many requests a day"),
        (["--requests-per-day", "1000", "--model", "qwen3-32b", "--peak-factor", "40"], "--peak-factor: 40 must be from 1"),
        (["--requests-per-day", "1000", "--model", "qwen3-32b", "--sla", "1.5"], "--sla: 1.5 must be an availability"),
        (["--requests-per-day", "1000", "--virtual-model", "no-such-router"],
         "--virtual-model: no tiered virtual model 'no-such-router'"),
    ]
    for args, message in cases:
        r = run("plan", *args)
        assert r.returncode != 0, args
        assert message in r.stderr, (args, r.stderr)
        assert "panicked" not in r.stderr


def test_plan_knows_providers_and_models_the_config_adds(tmp_path):
    cfg = tmp_path / "own.toml"
    cfg.write_text(
        '[providers.local-vllm]\ndialect = "openai"\napi_key = "none"\n'
        'regions = [{ name = "rack1", base_url = "http://127.0.0.1:9/v1" }, { name = "rack2", base_url = "http://127.0.0.1:9/v1" }]\n\n'
        '[[models]]\nid = "llama-3.3-70b"\nprovider = "local-vllm"\nupstream_id = "meta-llama/Llama-3.3-70B-Instruct"\n'
        'context_window = 131072\nmax_output = 8192\ncapabilities = ["text", "tools"]\n'
        'price = { input = 0.1, cached_input = 0.1, output = 0.2, as_of = "2026-11-01", source = "self-hosted" }\n')
    r = run("plan", "--config", str(cfg), "--requests-per-day", "1000000", "--input-tokens", "1000",
            "--output-tokens", "500", "--model", "llama-3.3-70b", "--json", "-")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)["policies"][0]
    # 1,000 × $0.1/M + 500 × $0.2/M = $0.0002 a request; a million a day for 30 days.
    assert abs(p["cost"]["per_month_usd"] - 6000.0) < 1e-6, p["cost"]
    assert p["availability"]["models"][0]["deployments"] == ["local-vllm/rack1", "local-vllm/rack2"]
