"""`switchyard route`: the shipped classifier, evaluated on the labelled prompts it was not
trained on (the hash-chosen 30% that `route train` holds out), beats random routing and
meets the quality targets; `route explain` scores one prompt."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support import REPO_ROOT, child_env, gateway_bin

CANDIDATES = [REPO_ROOT.parent / "shared/data/routing/dev.jsonl",
              Path("/work/shared/data/routing/dev.jsonl")]


def _data() -> Path:
    for p in CANDIDATES:
        if p.is_file():
            return p
    pytest.skip(f"labelled routing data not found at {[str(c) for c in CANDIDATES]}")


def test_the_shipped_classifier_meets_its_targets_on_held_out_prompts():
    out = subprocess.run([str(gateway_bin()), "route", "eval", "--data", str(_data()),
                          "--held-out", "--json", "--cheap", "qwen-flash",
                          "--premium", "deepseek-v4-pro"], capture_output=True, text=True,
                         env=child_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["held_out_only"] and report["rows"] > 2500
    ours, rnd, oracle = (report["routers"][k] for k in ("classifier", "random", "oracle"))
    assert ours["apgr"] >= 0.58, ours
    assert ours["saved_at_95"] >= 0.40, ours
    assert rnd["apgr"] < ours["apgr"] < oracle["apgr"]
    assert ours["cpt50"] < rnd["cpt50"]
    costs = {c["name"]: c for c in report["costs"]}
    cheap, premium = costs["always qwen-flash"], costs["always deepseek-v4-pro"]
    auto = costs["auto (20% premium target)"]
    assert 0.15 <= auto["premium_share"] <= 0.25
    assert cheap["cost_per_1k_usd"] < auto["cost_per_1k_usd"] < premium["cost_per_1k_usd"] / 2
    assert cheap["quality"] < auto["quality"] < premium["quality"]


def test_bad_data_and_explain(tmp_path):
    junk = tmp_path / "junk.jsonl"
    junk.write_text("this is not a labelled row\n")
    bad = subprocess.run([str(gateway_bin()), "route", "eval", "--data", str(junk)],
                         capture_output=True, text=True, env=child_env(), timeout=60)
    assert bad.returncode != 0 and "line 1" in bad.stderr
    cfg = tmp_path / "auto.toml"
    cfg.write_text('[virtual_models.auto]\npolicy = "tiered"\n'
                   'models = ["qwen-flash", "qwen3-32b"]\nshares = [0.8, 0.2]\n')
    out = subprocess.run([str(gateway_bin()), "route", "explain", "What is 2+2?",
                          "--config", str(cfg)],
                         capture_output=True, text=True, env=child_env(), timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("score 0."), out.stderr
    assert "auto: tier 0 of 2 -> qwen-flash" in out.stdout, out.stdout
