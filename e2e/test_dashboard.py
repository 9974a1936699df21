"""GET /dashboard in a real browser (Debian's headless Chromium, driven over the
DevTools protocol by cdp.py): behind the admin token, the login form opens it; with
traffic flowing and a region taken down by a simulator fault, the page's own scripts
draw every chart with data, the breaker panel shows that deployment open with the
reason, the status line names the outage, and spend shows the key against its budget.
A screenshot is kept in target/e2e-artifacts/ (or $SWITCHYARD_ARTIFACTS)."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import httpx

from cdp import Browser, chromium_or_skip
from support import REPO_ROOT, Gateway, child_env, gateway_bin

ADMIN = "dash-admin-token"
CHARTS = ("traffic", "latency", "ttft", "tokens", "breakdown", "failing", "resilience", "inflight")


def _config(tmp: Path) -> str:
    return (
        '[server]\nlisten = "127.0.0.1:0"\n\n'
        "[keys]\nenabled = true\nrefresh_secs = 0.5\n\n"
        f'[usage]\npath = "{tmp / "usage.db"}"\n\n'
        f'[slo]\npath = "{tmp / "slo.json"}"\n\n'
        "[simulator]\ntime_scale = 0.05\n\n"
        '[providers.deepseek]\nsimulated = true\nregions = [{ name = "global" }, { name = "cn" }]\n\n'
        '[providers.dashscope]\nsimulated = true\nregions = [{ name = "singapore" }, { name = "beijing" }]\n'
    )


class Traffic(threading.Thread):
    """Chat requests, some streamed, on two models, until stopped."""

    def __init__(self, base: str, key: str) -> None:
        super().__init__(daemon=True)
        self.base, self.key = base, key
        self.stop = threading.Event()
        self.statuses: list[int] = []

    def run(self) -> None:
        auth = {"Authorization": f"Bearer {self.key}"}
        asks = [
            {"model": "deepseek-v4-flash", "max_tokens": 12},
            {"model": "deepseek-v4-flash", "max_tokens": 12, "stream": True},
            {"model": "qwen3-32b", "max_tokens": 12},
        ]
        with httpx.Client(base_url=self.base, headers=auth, timeout=30) as http:
            n = 0
            while not self.stop.is_set():
                body = dict(asks[n % len(asks)], messages=[{"role": "user", "content": f"hello {n}"}])
                if body.get("stream"):
                    with http.stream("POST", "/v1/chat/completions", json=body) as r:
                        r.read()
                        self.statuses.append(r.status_code)
                else:
                    self.statuses.append(http.post("/v1/chat/completions", json=body).status_code)
                n += 1
                self.stop.wait(0.05)


def _artifacts() -> Path:
    return Path(os.environ.get("SWITCHYARD_ARTIFACTS", REPO_ROOT / "target" / "e2e-artifacts"))


# Everything the test reads off the page, in one evaluation.
FACTS = """(() => {
  const charts = {};
  for (const f of document.querySelectorAll('figure.chart')) {
    charts[f.dataset.chart] = { points: Number(f.dataset.points || 0), lines: Number(f.dataset.lines || 0),
      names: [...f.querySelectorAll('path.line')].map((p) => p.dataset.name) };
  }
  const b = document.querySelector('[data-deployment="deepseek/global"]');
  return {
    charts,
    breaker: b && { state: b.dataset.state, text: b.textContent },
    breakers: [...document.querySelectorAll('.breaker')].map((e) => e.dataset.deployment + '=' + e.dataset.state),
    status: { cls: document.querySelector('#status').className, text: document.querySelector('#status').textContent },
    keys: [...document.querySelectorAll('#spend-keys tbody tr')].map((r) => r.textContent),
    models: [...document.querySelectorAll('#spend-models tbody tr')].map((r) => r.textContent),
    availability: document.querySelector('[data-tile="availability"] .value').textContent,
    loaded: Number(document.body.dataset.loaded || 0),
  };
})()"""


def test_the_dashboard_shows_traffic_and_a_region_outage_in_a_browser(tmp_path):
    chromium = chromium_or_skip()
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(_config(tmp_path))
    env = child_env()
    env["SWITCHYARD_ADMIN_TOKEN"] = ADMIN
    gw = Gateway([str(gateway_bin()), "serve", "--config", str(cfg)], env=env).wait_listening()
    traffic = browser = None
    try:
        root = gw.root_url
        admin = {"Authorization": f"Bearer {ADMIN}"}
        # Without the token: the login form, not the page; no data either.
        page = httpx.get(f"{root}/dashboard")
        assert page.status_code == 401 and 'name="token"' in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert httpx.get(f"{root}/admin/overview").status_code == 401
        assert httpx.get(f"{root}/admin/overview", headers=admin).status_code == 200
        wrong = httpx.post(f"{root}/dashboard/login", data={"token": "not-it"})
        assert wrong.status_code == 401 and "wrong admin token" in wrong.text

        made = httpx.post(f"{root}/admin/keys", headers=admin, timeout=30,
                          json={"name": "dash", "team": "web", "budget_usd": 5, "budget_period": "month"})
        assert made.status_code == 201, made.text
        traffic = Traffic(root, made.json()["key"])
        traffic.start()

        browser = Browser(chromium, tmp_path / "profile")
        browser.navigate(f"{root}/dashboard")
        assert browser.evaluate("!!document.querySelector('input[name=token]')"), "the login form first"
        browser.evaluate(f"document.querySelector('#token').value = {ADMIN!r}; document.querySelector('form').submit(); true")
        browser.wait_for("location.pathname === '/dashboard' && !!document.querySelector('#breakers')"
                         " && Number(document.body.dataset.loaded || 0) >= 1", "the dashboard after login")
        browser.wait_for("Number(document.querySelector('[data-chart=\"ttft\"]').dataset.points || 0) > 2",
                         "streams to show a time to first token")

        sim = re.search(r"simulator: (http://\S+)", gw.output("stdout")).group(1)
        fault = httpx.put(f"{sim}/_sim/faults/deepseek/global", json={"kind": "server_error"})
        assert fault.status_code == 200, fault.text
        browser.wait_for("document.querySelector('[data-deployment=\"deepseek/global\"]')?.dataset.state === 'open'",
                         "the breaker panel to show deepseek/global open")
        browser.wait_for("!!document.querySelector('[data-chart=\"resilience\"] path[data-name=\"failovers\"]')",
                         "failovers on the resilience chart")
        facts = browser.evaluate(FACTS)
        shot = browser.screenshot(_artifacts() / "dashboard.png")
        print(f"dashboard screenshot: {shot}")

        for name in CHARTS:
            assert facts["charts"][name]["points"] > 0, (name, facts["charts"])
        assert "deepseek/global" in facts["charts"]["failing"]["names"], facts["charts"]["failing"]
        assert "open" == facts["breaker"]["state"]
        assert "in a row" in facts["breaker"]["text"] or "error rate" in facts["breaker"]["text"], facts["breaker"]
        assert "outage" in facts["status"]["cls"] and "deepseek/global" in facts["status"]["text"], facts["status"]
        assert any(b.startswith("deepseek/cn=closed") for b in facts["breakers"]), facts["breakers"]
        assert any("dash" in row and "web" in row and "of $5" in row for row in facts["keys"]), facts["keys"]
        assert any(row.startswith("deepseek-v4-flash") for row in facts["models"]), facts["models"]
        assert facts["availability"].endswith("%"), facts["availability"]
        assert shot.stat().st_size > 10_000
        # The failover kept the requests up while the region was down.
        assert traffic.statuses and all(s == 200 for s in traffic.statuses), sorted(set(traffic.statuses))
    finally:
        if traffic is not None:
            traffic.stop.set()
            traffic.join(timeout=30)
        if browser is not None:
            browser.close()
        gw.stop()
