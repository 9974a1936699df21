"""The official `openai` Node SDK against the embedded default: its tool runner
(`chat.completions.runTools`) calls the tool, sends the result back and ends with a text
answer — which needs the simulator to stop where a model would, since the runner fails
with `LengthFinishReasonError` on an answer cut at `max_tokens` (600 here, as a real
client sets). `scripts/test` installs the pinned SDK into `e2e/node/` with `npm ci`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import support

NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None or not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.fail("node and e2e/node/node_modules (npm ci in e2e/node) are needed; "
                    "scripts/test installs them", pytrace=False)
    return exe


@pytest.fixture(scope="module")
def fresh():
    """A gateway of its own (the simulator's draws then depend on this module alone)."""
    gw = support.start_gateway()
    yield gw
    gw.stop()


@pytest.mark.parametrize("model,mode", [("deepseek-v3.2", "whole"), ("kimi-k2-turbo", "stream")])
def test_run_tools_calls_the_tool_and_ends_in_a_text_answer(node, fresh, model, mode):
    ran = subprocess.run([node, "run_tools.mjs", fresh.base_url, model, mode], cwd=NODE_DIR,
                         capture_output=True, text=True, timeout=90)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    assert out["calls"] and "city" in out["calls"][0], out
    assert out["finish"] == "stop", out
    assert out["content"].strip()
    # The question, the assistant's call, the tool's result, the answer.
    assert out["messages"] == 4, out
