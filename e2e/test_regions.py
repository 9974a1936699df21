"""Three regions on one machine: a network namespace each (made by the test, removed
after), joined through a fourth that carries the links, with real delay on them — a
userspace proxy per link (delayproxy.py), as this kernel has no netem. Round trips:
a–b 70 ms, a–c 150 ms, b–c 100 ms. Each region has a simulator and a gateway whose home
region it is; Redis lives in region a.

Shown here (figures in docs/BENCHMARKS.md, from the same test's printout):
- each gateway serves from its home region, at local latency;
- with region a's vendor down, gateway a fails over to the nearest region (b), and each
  request costs that region's round trip more;
- a key's limits admitted through a Redis in another region cost that round trip on every
  request (gateway c, 150 ms away, against gateway a, next to it).

Needs root and `ip netns` (skipped with the reason where the machine forbids them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import child_env, create_key, gateway_bin

HERE = Path(__file__).resolve().parent
REGIONS = ("a", "b", "c")
RTT_MS = {("a", "b"): 70, ("a", "c"): 150, ("b", "c"): 100}
SIM_PORT, GW_PORT, LEASE_PORT, REDIS_PORT = 9900, 8080, 8081, 6390
MODEL = "deepseek-v4-flash"


def rtt(x: str, y: str) -> int:
    return 0 if x == y else RTT_MS[tuple(sorted((x, y)))]


def by_distance(home: str) -> list[str]:
    return sorted(REGIONS, key=lambda r: (rtt(home, r), r))


def sh(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout)


@dataclass
class Net:
    """The namespaces: one per region and `wan`, which holds the delayed links."""

    prefix: str

    def ns(self, region: str) -> str:
        return f"{self.prefix}{region}"

    @property
    def wan(self) -> str:
        return f"{self.prefix}w"

    @staticmethod
    def host(region: str) -> str:
        """The region's own address (its end of the link to `wan`)."""
        return f"10.231.{REGIONS.index(region) + 1}.2"

    @staticmethod
    def wan_side(region: str) -> str:
        """`wan`'s address on that link: where the region reaches the others."""
        return f"10.231.{REGIONS.index(region) + 1}.1"

    def run(self, region: str, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(region), *args]


def _can_make_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    probe = f"sy{os.getpid() % 100000}p"
    made = sh("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"this machine forbids network namespaces: {made.stderr.strip()}"
    sh("ip", "netns", "del", probe, check=False)
    return None


@pytest.fixture(scope="module")
def net():
    why = _can_make_namespaces()
    if why:
        pytest.skip(why)
    n = Net(prefix=f"sy{os.getpid() % 100000}")
    names = [n.ns(r) for r in REGIONS] + [n.wan]
    try:
        for name in names:
            sh("ip", "netns", "add", name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        for r in REGIONS:
            outer, inner = f"{n.prefix}{r}0", f"{n.prefix}{r}1"
            sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            sh("ip", "link", "set", outer, "netns", n.wan)
            sh("ip", "link", "set", inner, "netns", n.ns(r))
            sh("ip", "-n", n.wan, "addr", "add", f"{n.wan_side(r)}/24", "dev", outer)
            sh("ip", "-n", n.ns(r), "addr", "add", f"{n.host(r)}/24", "dev", inner)
            sh("ip", "-n", n.wan, "link", "set", outer, "up")
            sh("ip", "-n", n.ns(r), "link", "set", inner, "up")
        yield n
    finally:
        for name in names:
            sh("ip", "netns", "del", name, check=False)


def _port(src: str, dst: str, service: int) -> int:
    """The `wan` port that carries `src`'s traffic to `service` in `dst`."""
    return 20000 + service % 1000 * 10 + REGIONS.index(src) * 3 + REGIONS.index(dst)


def _remote(net: Net, src: str, dst: str, service: int) -> str:
    """How a process in `src` reaches `service` in `dst`: directly at home, else through
    the delayed link."""
    if src == dst:
        return f"{net.host(dst)}:{service}"
    return f"{net.wan_side(src)}:{_port(src, dst, service)}"


class Fleet:
    """Processes started in the namespaces, stopped at the end."""

    def __init__(self, net: Net, tmp: Path) -> None:
        self.net, self.tmp, self.procs = net, tmp, {}

    def start(self, name: str, argv: list[str], ready: str, env=None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env or child_env(),
                             stdin=subprocess.DEVNULL)
        self.procs[name] = p
        deadline = time.monotonic() + 30
        while ready not in (self.tmp / f"{name}.log").read_text():
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{(self.tmp / f'{name}.log').read_text()[-2000:]}")
            time.sleep(0.05)
        return p

    def stop(self, name: str) -> None:
        p = self.procs.pop(name)
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def _gateway_config(net: Net, home: str, tmp: Path, lease_secs: float = 0, port: int = GW_PORT) -> Path:
    regions = ",\n  ".join(
        f'{{ name = "{r}", base_url = "http://{_remote(net, home, r, SIM_PORT)}/deepseek/global", near = "{r}" }}'
        for r in REGIONS)
    deployments = ", ".join(f'{{ region = "{r}", priority = {i} }}' for i, r in enumerate(by_distance(home)))
    cfg = tmp / f"gw-{home}-{port}.toml"
    cfg.write_text(
        f'[server]\nlisten = "{net.host(home)}:{port}"\nregion = "{home}"\nworkers = 1\n\n'
        f'[keys]\nenabled = true\n\n'
        f'[limits]\nbackend = "redis"\nredis_url = "redis://{_remote(net, home, "a", REDIS_PORT)}"\n'
        f'redis_prefix = "region-test"\nlease_secs = {lease_secs}\n\n'
        f'[usage]\npath = "{tmp / "usage.db"}"\n\n'
        f'[health]\nconsecutive_failures = 1\n\n'
        f'[providers.deepseek]\napi_key = "test"\nregions = [\n  {regions},\n]\n\n'
        f'[routes."{MODEL}"]\ndeployments = [{deployments}]\n')
    return cfg


@pytest.fixture(scope="module")
def fleet(net, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("regions")
    f = Fleet(net, tmp)
    try:
        links = [f"{net.wan_side(src)}:{_port(src, dst, svc)}={net.host(dst)}:{svc}={rtt(src, dst) / 2}"
                 for src in REGIONS for dst in REGIONS if src != dst for svc in (SIM_PORT, REDIS_PORT)]
        f.start("links", ["ip", "netns", "exec", net.wan, sys.executable, str(HERE / "delayproxy.py"), *links],
                "ready")
        f.start("redis", net.run("a", "redis-server", "--bind", net.host("a"), "--port", str(REDIS_PORT),
                                 "--save", "", "--appendonly", "no", "--protected-mode", "no"),
                "Ready to accept")
        for r in REGIONS:
            f.start(f"sim-{r}", net.run(r, str(gateway_bin()), "sim", "--listen", f"{net.host(r)}:{SIM_PORT}",
                                        "--time-scale", "0"), "listening on")
        configs = {r: _gateway_config(net, r, tmp) for r in REGIONS}
        key = create_key(configs["a"], "regions", "--rpm", "100000")["key"]
        for r in REGIONS:
            f.start(f"gw-{r}", net.run(r, str(gateway_bin()), "serve", "--config", str(configs[r])),
                    "switchyard listening on")
        # A second gateway in c, 150 ms from Redis, admitting from local leases.
        leased = _gateway_config(net, "c", tmp, lease_secs=5, port=LEASE_PORT)
        f.start("gw-c-lease", net.run("c", str(gateway_bin()), "serve", "--config", str(leased)),
                "switchyard listening on")
        yield f, key
    finally:
        f.stop_all()


def _requests(fleet: Fleet, region: str, key: str, n: int,
              port: int = GW_PORT) -> tuple[list[float], list[str]]:
    """`n` requests to region's gateway from inside the region, one at a time: each one's
    time in ms and the region that served it."""
    script = (
        "import sys, time, json, urllib.request\n"
        "url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
        "body = json.dumps({'model': '%s', 'max_tokens': 4, 'messages': [{'role': 'user', 'content': 'hi'}]}).encode()\n"
        "out = []\n"
        "for _ in range(n):\n"
        "    req = urllib.request.Request(url, body, {'content-type': 'application/json', 'authorization': 'Bearer ' + key})\n"
        "    t = time.monotonic()\n"
        "    with urllib.request.urlopen(req, timeout=20) as r:\n"
        "        r.read()\n"
        "        out.append([(time.monotonic() - t) * 1000, r.headers['x-switchyard-region']])\n"
        "print(json.dumps(out))\n" % MODEL)
    url = f"http://{fleet.net.host(region)}:{port}/v1/chat/completions"
    done = sh(*fleet.net.run(region, sys.executable, "-c", script, url, key, str(n)), timeout=120)
    rows = json.loads(done.stdout)
    return [r[0] for r in rows], [r[1] for r in rows]


def _p(ms: list[float], q: float) -> float:
    return statistics.quantiles(ms, n=100, method="inclusive")[int(q) - 1] if len(ms) > 1 else ms[0]


def test_each_gateway_serves_from_its_home_region_and_a_down_region_fails_over_to_the_nearest(fleet):
    f, key = fleet
    figures = {}
    for r in REGIONS:
        _requests(f, r, key, 3)  # warm: connections to the vendor and to Redis
        ms, served = _requests(f, r, key, 20)
        assert set(served) == {r}, (r, served)
        figures[r] = (statistics.median(ms), _p(ms, 99))
    # Gateway a is next to Redis; b and c pay one round trip to it on admission, and no
    # more (without TCP_NODELAY an admission behind a settle waited for a delayed ACK).
    assert figures["a"][0] < 40, figures
    for r in ("b", "c"):
        assert figures[r][0] < rtt(r, "a") + 30, figures
    print("\nREGIONS home (p50 / p99 ms): " + ", ".join(
        f"{r} {p50:.1f} / {p99:.1f}" for r, (p50, p99) in figures.items()))

    f.stop("sim-a")  # region a's vendor is gone
    ms, served = _requests(f, "a", key, 20)
    assert set(served[2:]) == {"b"}, served  # the nearest region (70 ms), not c (150 ms)
    away = statistics.median(ms[2:])
    added = away - figures["a"][0]
    print(f"REGIONS failover a->b: p50 {away:.1f} ms (+{added:.1f} over home), p99 {_p(ms[2:], 99):.1f}")
    assert 60 <= added <= 200, (added, ms)


def test_a_key_admitted_through_a_far_redis_pays_its_round_trip_on_every_request(fleet):
    f, key = fleet
    near, _ = _requests(f, "b", key, 20)
    far, _ = _requests(f, "c", key, 20)
    cost_b = statistics.median(near)
    cost_c = statistics.median(far)
    print(f"\nREGIONS redis: p50 b (70 ms to Redis) {cost_b:.1f} ms, c (150 ms) {cost_c:.1f} ms; "
          f"p99 b {_p(near, 99):.1f}, c {_p(far, 99):.1f}")
    # Each admission is one round trip to Redis (the settle runs after the answer).
    assert 60 <= cost_b <= 160, near
    assert 140 <= cost_c <= 260, far
    assert cost_c - cost_b >= 50


def test_with_leases_a_far_redis_is_off_the_request_path(fleet):
    """`[limits] lease_secs = 5` on a gateway 150 ms from Redis: it takes a lease of the
    key's limits now and then (the first request waits for one) and admits the others
    from memory, so they cost what they would next to Redis."""
    f, key = fleet
    ms, served = _requests(f, "c", key, 30, port=LEASE_PORT)
    assert set(served) == {"c"}
    first, rest = ms[0], ms[1:]
    print(f"\nREGIONS lease: first request {first:.1f} ms (takes the lease), then p50 "
          f"{statistics.median(rest):.1f} / p99 {_p(rest, 99):.1f} ms, 150 ms from Redis")
    assert statistics.median(rest) < 20, ms
    assert _p(rest, 90) < 40, ms
