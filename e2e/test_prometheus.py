"""The shipped operations files against a real Prometheus (Debian's package, started
here on loopback) scraping a real gateway: `promtool check rules` passes on
deploy/prometheus/switchyard-rules.yml, and every alert's expression is evaluated on the
scraped data — those whose condition the test brings about (errors burning the budget, a
breaker open, a key past 80% of its budget) with a result; every query of the Grafana
dashboard (deploy/grafana/switchyard-dashboard.json) runs, and its main panels have data."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import httpx
import pytest

from support import Gateway, child_env, gateway_bin

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "switchyard-rules.yml"
DASHBOARD = DEPLOY / "grafana" / "switchyard-dashboard.json"
ADMIN = "prom-admin-token"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("SWITCHYARD_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"{tool} is not installed; scripts/test installs Debian's prometheus package")
        pytest.skip(f"{tool} is not installed (apt-get install prometheus)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _query(prom: str, expr: str) -> list:
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


def _until(what: str, check, timeout: float = 40.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_promtool_accepts_the_shipped_rules():
    promtool = _need("promtool")
    r = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def _traffic(gw: Gateway, budgeted: str, plain: str) -> None:
    """Spend `budgeted` past 80% of its budget; with `plain`, open a breaker, then fail
    requests."""
    auth = {"Authorization": f"Bearer {budgeted}"}
    ask = {"model": "deepseek-v4-flash", "max_tokens": 16,
           "messages": [{"role": "user", "content": "hello there"}]}
    with httpx.Client(base_url=gw.root_url, timeout=30, trust_env=False) as http:
        for _ in range(200):
            if http.post("/v1/chat/completions", json=ask, headers=auth).status_code == 402:
                break
        else:
            raise AssertionError("the key's budget was never reached")
        sim = re.search(r"simulator: (http://\S+)", gw.output("stdout")).group(1)
        http.put(f"{sim}/_sim/faults/deepseek/global", json={"kind": "server_error"})
        auth = {"Authorization": f"Bearer {plain}"}
        for _ in range(10):
            http.post("/v1/chat/completions", json=ask, headers=auth)
        http.put(f"{sim}/_sim/faults/deepseek/cn", json={"kind": "server_error"})
        # Spread over seconds of scrapes: a counter's rise before Prometheus first saw
        # the series counts for nothing in rate().
        failed = []
        for _ in range(24):
            failed.append(http.post("/v1/chat/completions", json=ask, headers=auth).status_code)
            time.sleep(0.25)
        assert any(s >= 500 for s in failed), failed


def test_every_alert_is_evaluated_on_data_scraped_from_a_gateway(tmp_path):
    prometheus = _need("prometheus")
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(
        '[server]\nlisten = "127.0.0.1:0"\n\n[keys]\nenabled = true\nrefresh_secs = 0.5\n\n'
        f'[usage]\npath = "{tmp_path / "usage.db"}"\n\n[simulator]\ntime_scale = 0\n\n'
        '[providers.deepseek]\nsimulated = true\nregions = [{ name = "global" }, { name = "cn" }]\n')
    env = child_env()
    env["SWITCHYARD_ADMIN_TOKEN"] = ADMIN
    gw = Gateway([str(gateway_bin()), "serve", "--config", str(cfg)], env=env).wait_listening()
    prom_proc = None
    try:
        port = _free_port()
        host = gw.root_url.removeprefix("http://")
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {RULES}\n"
            "scrape_configs:\n  - job_name: switchyard\n"
            f"    authorization:\n      credentials: {ADMIN}\n"
            f"    static_configs:\n      - targets: ['{host}']\n")
        prom_proc = subprocess.Popen(
            [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        prom = f"http://127.0.0.1:{port}"
        _until("a scrape of the gateway",
               lambda: _safe(lambda: _query(prom, 'up{job="switchyard"} == 1')))
        keys = []
        # A budget five times a request's reservation: the key is refused (402) only past
        # 80% of it, whether its requests cost the reservation (peak hours) or half
        # (DeepSeek's off-peak).
        for body in ({"name": "prom", "team": "ops", "budget_usd": 0.00004, "budget_period": "day"},
                     {"name": "plain"}):
            r = httpx.post(f"{gw.root_url}/admin/keys", json=body, timeout=30,
                           headers={"Authorization": f"Bearer {ADMIN}"})
            assert r.status_code == 201, r.text
            keys.append(r.json()["key"])
        _traffic(gw, *keys)
        rules = _until("the rules to load", lambda: _safe(lambda: _alerting_rules(prom)))
        assert {r["name"] for r in rules} >= {
            "SwitchyardErrorBudgetBurnFast", "SwitchyardErrorBudgetBurnSlow",
            "SwitchyardBreakerOpen", "SwitchyardKeyBudget80", "SwitchyardUsageLogBehind"}
        for rule in rules:
            _query(prom, rule["query"])  # every expression evaluates on the scraped data
        brought_about = {
            "SwitchyardErrorBudgetBurnFast": "the errors to burn the budget",
            "SwitchyardBreakerOpen": "deepseek/global's breaker to show open",
            "SwitchyardKeyBudget80": "the key to pass 80% of its budget",
        }
        queries = {r["name"]: r["query"] for r in rules}
        for name, what in brought_about.items():
            result = _until(what, lambda q=queries[name]: _query(prom, q))
            if name == "SwitchyardBreakerOpen":
                opened = {(m["metric"]["provider"], m["metric"]["region"]) for m in result}
                assert ("deepseek", "global") in opened, result
            if name == "SwitchyardKeyBudget80":
                assert result[0]["metric"]["team"] == "ops"
        _check_dashboard(prom)
    finally:
        if prom_proc is not None:
            prom_proc.terminate()
            prom_proc.wait(timeout=20)
        gw.stop()


def _alerting_rules(prom: str) -> list:
    with urllib.request.urlopen(f"{prom}/api/v1/rules?type=alert", timeout=10) as r:
        body = json.load(r)
    return [rule for group in body["data"]["groups"] for rule in group["rules"]]


def _safe(f):
    try:
        return f()
    except (OSError, AssertionError):
        return None


def _check_dashboard(prom: str) -> None:
    """Every query of the Grafana dashboard runs; the panels this traffic feeds have data."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "switchyard-gateway"
    with_data = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            if _query(prom, target["expr"]):
                with_data.add(panel["title"])
    assert with_data >= {
        "Requests by status",
        "Availability SLO: error budget burn",
        "End-to-end latency by model (p50 / p95 / p99)",
        "Output tokens per second by model",
        "In flight, failovers, retries, hedges, fallbacks, escalations",
        "Deployments in rotation (1) or with an open breaker (0)",
        "Spend by model (USD since start)",
        "Keys: share of budget used",
        "GenAI semantic conventions: tokens per second",
    }, with_data
