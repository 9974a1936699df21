"""`switchyard demo`: a region outage rehearsed under load, as a user runs it."""

from __future__ import annotations

import json
import subprocess

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
