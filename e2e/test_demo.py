"""`switchyard demo`: a region outage rehearsed under load, as a user runs it."""

from __future__ import annotations

import json
import re
import subprocess
import time

import httpx

from support import child_env, gateway_bin


def test_demo_survives_a_region_outage_and_reports_each_phase(tmp_path):
    out = tmp_path / "demo.json"
    r = subprocess.run([str(gateway_bin()), "demo", "--duration", "6s", "--rate", "30", "--json", str(out)],
                       capture_output=True, text=True, env=child_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert "goes DOWN" in r.stdout and "is back" in r.stdout and "during outage" in r.stdout
    report = json.loads(out.read_text())
    assert report["outage_injected"] is True
    assert report["requests"] > 100
    assert report["succeeded"] == report["requests"], "no request lost while another region is healthy"
    assert report["success_rate"] == 1.0
    assert report["failovers"] >= 1
    assert [p["phase"] for p in report["phases"]] == ["before", "during outage", "after"]
    for phase in report["phases"]:
        assert phase["requests"] > 0 and phase["p99_ms"] > 0


def test_the_dashboard_of_a_running_demo_shows_its_outage(tmp_path):
    """What the README suggests: watch `switchyard demo` on its own dashboard."""
    proc = subprocess.Popen([str(gateway_bin()), "demo", "--duration", "9s", "--rate", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        watch = None
        for _ in range(5):
            line = proc.stdout.readline()
            m = re.search(r"watch it live: (http://\S+)/dashboard", line)
            if m:
                watch = m.group(1)
                break
        assert watch, "the demo prints where to watch it"
        assert httpx.get(f"{watch}/dashboard", timeout=10).status_code == 200
        deadline = time.monotonic() + 20
        seen_open = False
        while time.monotonic() < deadline and not seen_open:
            o = httpx.get(f"{watch}/admin/overview?range=1m", timeout=10).json()
            seen_open = any(b["provider"] == "deepseek" and b["deployment"] == "global"
                            and b["state"] != "closed" for b in o["breakers"])
            time.sleep(0.2)
        assert seen_open, "the outage shows on the dashboard's breaker panel"
        assert sum(o["series"]["all"]["events_per_s"]["failovers"]) > 0
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
