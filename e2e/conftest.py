"""Fixtures for the Switchyard end-to-end suite.

The binary under test is $SWITCHYARD_BIN (scripts/test sets it), falling back to
target/debug/switchyard. Every gateway runs on 127.0.0.1 with an OS-picked port,
with simulated time sped up (--sim-time-scale 0.02), and with no vendor API keys
in its environment, so the embedded default configuration serves every model
from the in-process simulator.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

import support
from support import Gateway, GatewayStartError

# Loopback must never go through a proxy, for the SDK (httpx2) and httpx alike.
support.no_proxy_env(os.environ)  # type: ignore[arg-type]

# Every gateway started in this session that is still running; on a test
# failure the tail of each one's output is attached to the report.
_LIVE: list[Gateway] = []


def _start(config_path: Path | None = None) -> Gateway:
    try:
        gw = support.start_gateway(config_path=config_path)
    except (GatewayStartError, FileNotFoundError) as exc:
        failure = str(exc)
    else:
        _LIVE.append(gw)
        return gw
    pytest.fail(failure, pytrace=False)


def _stop(gw: Gateway) -> None:
    gw.stop()
    if gw in _LIVE:
        _LIVE.remove(gw)


@pytest.fixture(scope="session")
def gateway() -> Iterator[Gateway]:
    """The shared gateway on the embedded default (all providers simulated).

    `.base_url` is http://127.0.0.1:PORT/v1, `.client` an openai.OpenAI bound to
    it (max_retries=0, timeout=30), `.http` an httpx.Client rooted at
    http://127.0.0.1:PORT for requests the SDK cannot make."""
    gw = _start()
    yield gw
    _stop(gw)


@pytest.fixture
def start_gateway_with_config(tmp_path: Path) -> Iterator[Callable[[str], Gateway]]:
    """Factory: start a gateway on the given TOML config text (written to
    tmp_path); each is stopped when the test ends."""
    started: list[Gateway] = []

    def start(config_text: str) -> Gateway:
        path = tmp_path / f"switchyard-{len(started)}.toml"
        path.write_text(config_text, encoding="utf-8")
        gw = _start(config_path=path)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        _stop(gw)


@pytest.fixture(autouse=True)
def _gateway_still_alive(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail loudly (with its output) if a test leaves the shared gateway dead."""
    yield
    if "gateway" in request.fixturenames:
        gw: Gateway = request.getfixturevalue("gateway")
        if not gw.alive():
            pytest.fail(
                f"switchyard exited (code {gw.proc.returncode}) during this test\n"
                f"--- output tail ---\n{gw.tail(80)}",
                pytrace=False,
            )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _LIVE:
        for i, gw in enumerate(_LIVE):
            report.sections.append((f"switchyard #{i} output (tail)", gw.tail(60)))
