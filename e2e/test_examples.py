"""Every config in `examples/` loads: `switchyard serve --check` validates it (with the
variables it names set, as a deployment would), the tiered-routing example serves a
request to its virtual model when its providers are simulated, and the cross-vendor
example keeps serving DeepSeek V3.2 with DeepSeek down — so the examples never rot as the
config grows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import support
from support import child_env, gateway_bin

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.toml"))

# What the examples read from the environment, as a deployment would set it.
ENV = {
    "SWITCHYARD_REDIS_URL": "redis://127.0.0.1:6379",
    "SWITCHYARD_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    "SWITCHYARD_ADMIN_TOKEN": "example-admin-token",
}


def test_there_are_examples():
    names = {p.stem for p in EXAMPLES}
    assert {"three-regions", "tiered-routing", "keys-redis-postgres",
            "cross-vendor-failover"} <= names, names


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_each_example_config_checks_clean(example: Path):
    env = child_env()
    env.update(ENV)
    checked = subprocess.run([str(gateway_bin()), "serve", "--check", "--config", str(example)],
                             capture_output=True, text=True, env=env, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Every example says what it is for before its first table.
    head = example.read_text().split("[", 1)[0]
    assert head.count("\n#") >= 2 or head.startswith("#"), f"{example.name} has no opening comment"


def test_the_tiered_example_routes_a_request_with_its_providers_simulated(tmp_path: Path):
    text = (Path(__file__).parent.parent / "examples" / "tiered-routing.toml").read_text()
    text = text.replace('listen = "0.0.0.0:8080"', 'listen = "127.0.0.1:0"')
    text += ("\n[simulator]\ntime_scale = 0\n\n[providers.dashscope]\nsimulated = true\n\n"
             "[providers.deepseek]\nsimulated = true\n")
    cfg = tmp_path / "tiered.toml"
    cfg.write_text(text)
    gw = support.start_gateway(config_path=cfg)
    try:
        raw = gw.client.chat.completions.with_raw_response.create(
            model="auto", max_tokens=512, messages=[{"role": "user", "content": "Hi there!"}])
        assert raw.headers["x-switchyard-route"].startswith("auto; policy=tiered")
        assert raw.parse().choices[0].message.content.strip()
    finally:
        gw.stop()


def test_the_cross_vendor_example_serves_a_model_from_another_vendor_when_its_maker_is_down(tmp_path: Path):
    import re

    import httpx

    text = (Path(__file__).parent.parent / "examples" / "cross-vendor-failover.toml").read_text()
    text = text.replace('listen = "0.0.0.0:8080"', 'listen = "127.0.0.1:0"')
    text += "\n[simulator]\ntime_scale = 0\n"
    for vendor in ("deepseek", "siliconflow", "openrouter", "zhipu", "dashscope"):
        text += f"\n[providers.{vendor}]\nsimulated = true\n"
    cfg = tmp_path / "cross-vendor.toml"
    cfg.write_text(text)
    gw = support.start_gateway(config_path=cfg)
    try:
        sim = re.search(r"simulator: (http://\S+)", gw.output("stdout")).group(1)
        assert httpx.put(f"{sim}/_sim/faults/deepseek/*", json={"kind": "overloaded"}).status_code == 200
        raw = gw.client.chat.completions.with_raw_response.create(
            model="deepseek-v3.2", max_tokens=32, messages=[{"role": "user", "content": "Hi there!"}])
        assert raw.headers["x-switchyard-provider"] == "siliconflow"
        assert raw.parse().choices[0].message.content.strip()
    finally:
        gw.stop()
