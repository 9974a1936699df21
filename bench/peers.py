#!/usr/bin/env python3
"""Gateways side by side in front of one simulator: what each adds per request.

    bench/peers.sh [--rates 500,2000] [--duration 10] [--stream-rates 500]
                   [--targets direct,nginx,floor,switchyard,litellm,portkey]

(`bench/peers.sh` builds the release binary, installs Debian's nginx when it is
missing, and runs this file; python3 stdlib only.)

One `switchyard sim --time-scale 0` on loopback answers at once; in front of it:

- direct: the simulator itself (the baseline every "added" figure is against);
- nginx: a reverse proxy with upstream keep-alive and buffering off (the floor of a
  proxy that does nothing with the request);
- floor: `proxy_floor` (crates/bench/src/bin/proxy_floor.rs), the gateway's own HTTP
  stack (hyper server, hyper-util pooled client, a runtime per core, mimalloc) forwarding
  bytes with no LLM logic: what the gateway costs before it does any work;
- switchyard: `switchyard serve` with the simulator as DeepSeek's one region;
- litellm: the LiteLLM proxy (`litellm[proxy]`, pinned, in a venv under target/peers/);
- portkey: Portkey's gateway (npm, pinned, under target/peers/), routed by the
  `x-portkey-provider` and `x-portkey-custom-host` headers.

A target whose install or start fails is skipped with a line saying why. Every rate
is offered to each target in turn, the order rotated per pass, with
`switchyard bench --rate R --json` (open loop; `--no-stream`, then streamed passes at
--stream-rates). Per target and pass: CPU per request of the target's own processes
(utime + stime from /proc/<pid>/stat of the process and its descendants, before and
after, divided by the requests sent), p50/p99 E2E (from the schedule, so a target that
queues shows it) and TTFT, what it adds to direct's, and its RSS at the end. Prints
Markdown tables. Loopback only; every process it starts is killed on exit.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "deepseek-v4-flash"
LITELLM = "litellm[proxy]==1.77.7"
PORTKEY = ["@portkey-ai/gateway@1.15.2", "@hono/node-server@1.13.5", "hono@4.9.7"]
CLK_TCK = os.sysconf("SC_CLK_TCK")

STARTED: list[subprocess.Popen] = []

# Offered load above which a target only queues (one LiteLLM worker needs ~6 ms of CPU
# per request, Portkey's gateway ~1.8 ms): it is not run at higher rates, so that its
# row measures overhead, not a queue that grows for the whole pass. --max-rate overrides.
CEILING = {"litellm": 100.0, "portkey": 200.0}


def stop_all() -> None:
    """Stop every process group this script started (each target runs in its own):
    SIGTERM, so masters reap their workers, then SIGKILL whatever is left after 3 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in STARTED:
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 3
        for p in STARTED:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    STARTED.clear()


def on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """Start a process in its own process group, output to `log_path`."""
    out = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    p = subprocess.Popen(
        args,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    STARTED.append(p)
    return p


def wait_for_line(path: Path, pattern: str, proc: subprocess.Popen, secs: float) -> str:
    """The first match of `pattern` (group 1) in the process's log, within `secs`."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        m = re.search(pattern, path.read_text(errors="replace"))
        if m:
            return m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = path.read_text(errors="replace")[-800:]
    raise RuntimeError(f"{proc.args[0]} did not start (log {path}):\n{tail}")


def wait_http(url: str, proc: subprocess.Popen, secs: float, headers: dict | None = None) -> None:
    """Wait until `url` answers anything at all (any status)."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            req = urllib.request.Request(url, headers=headers or {})
            urllib.request.urlopen(req, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {secs:.0f} s")


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_secs(pids: list[int]) -> float:
    """utime + stime of these processes, seconds."""
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_mib(pids: list[int]) -> float:
    kib = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kib += int(line.split()[1])
        except OSError:
            continue
    return kib / 1024


@dataclass
class Target:
    name: str
    url: str
    root_pid: int
    headers: list[str] = field(default_factory=list)
    note: str = ""


def start_sim(bin_: Path, work: Path) -> tuple[subprocess.Popen, str]:
    log_path = work / "sim.log"
    p = start([str(bin_), "sim", "--listen", "127.0.0.1:0", "--time-scale", "0"], log_path,
              {"RUST_LOG": "error"})
    url = wait_for_line(log_path, r"switchyard sim listening on (\S+)", p, 30)
    return p, url.rstrip("/")


def start_switchyard(bin_: Path, work: Path, upstream: str) -> Target:
    config = work / "switchyard.toml"
    config.write_text(
        f'[usage]\npath = "{work}/usage.db"\n\n'
        f'[providers.deepseek]\napi_key = "bench"\n'
        f'regions = [{{ name = "global", base_url = "{upstream}" }}]\n'
    )
    log_path = work / "switchyard.log"
    p = start([str(bin_), "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
              log_path, {"RUST_LOG": "error"})
    url = wait_for_line(log_path, r"switchyard listening on (\S+)", p, 30)
    return Target("switchyard", f"{url.rstrip('/')}/v1", p.pid, note="usage log in SQLite on")


def start_floor(floor_bin: Path, work: Path, upstream: str) -> Target:
    if not floor_bin.is_file():
        raise RuntimeError(f"{floor_bin} is missing (bench/peers.sh builds it)")
    log_path = work / "floor.log"
    p = start([str(floor_bin), "--upstream", upstream, "--listen", "127.0.0.1:0"], log_path)
    url = wait_for_line(log_path, r"proxy_floor listening on (\S+)", p, 30)
    return Target("floor", f"{url.rstrip('/')}/v1", p.pid,
                  note="proxy_floor: hyper server + pooled client, a runtime per core, no LLM logic")


def start_nginx(work: Path, upstream: str) -> Target:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        raise RuntimeError("nginx is not installed (bench/peers.sh installs Debian's nginx)")
    port = free_port()
    host_port = upstream.split("://", 1)[1].split("/", 1)[0]
    path = "/" + upstream.split("://", 1)[1].split("/", 1)[1] if "/" in upstream.split("://", 1)[1] else ""
    prefix = work / "nginx"
    prefix.mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log {prefix}/access.log combined buffer=64k flush=1s;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream sim {{ server {host_port}; keepalive 1024; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location /v1/ {{
            proxy_pass http://sim{path}/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
""")
    p = start([nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
              work / "nginx.log")
    wait_http(f"http://127.0.0.1:{port}/v1/models", p, 15)
    return Target("nginx", f"http://127.0.0.1:{port}/v1", p.pid,
                  note="proxy_pass, upstream keep-alive, buffering off, access log on")


def run_install(what: str, cmd: list[str], log_path: Path, timeout: float) -> None:
    """Run an install step; an error says what failed and where its log is."""
    log(f"installing {what}: {' '.join(cmd)}")
    with open(log_path, "ab") as out:
        try:
            r = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"installing {what} took over {timeout:.0f} s (log {log_path})") from e
        except OSError as e:
            raise RuntimeError(f"cannot run {cmd[0]}: {e}") from e
    if r.returncode != 0:
        tail = log_path.read_text(errors="replace")[-600:]
        raise RuntimeError(f"installing {what} failed (log {log_path}):\n{tail}")


def start_litellm(cache: Path, work: Path, upstream: str, install_timeout: float) -> Target:
    venv = cache / "litellm-venv"
    stamp = venv / f".installed-{LITELLM}"
    if not stamp.exists():
        run_install("a venv", [sys.executable, "-m", "venv", str(venv)], cache / "litellm-install.log", 120)
        run_install(LITELLM, [str(venv / "bin/pip"), "install", "-q", LITELLM],
                    cache / "litellm-install.log", install_timeout)
        stamp.touch()
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {upstream}\n"
        "      api_key: bench\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    port = free_port()
    p = start([str(venv / "bin/litellm"), "--config", str(config), "--host", "127.0.0.1",
               "--port", str(port), "--num_workers", "1"], work / "litellm.log",
              {"LITELLM_LOG": "ERROR", "LITELLM_MODE": "PRODUCTION", "DISABLE_SCHEMA_UPDATE": "true"})
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", p, 120)
    return Target("litellm", f"http://127.0.0.1:{port}/v1", p.pid,
                  note=f"{LITELLM}, one worker, no database")


def start_portkey(cache: Path, work: Path, upstream: str, install_timeout: float) -> Target:
    home = cache / "portkey"
    home.mkdir(parents=True, exist_ok=True)
    stamp = home / (".installed-" + "-".join(PORTKEY).replace("/", "_") + "-overrides")
    if not stamp.exists():
        if not shutil.which("npm"):
            raise RuntimeError("npm is not installed")
        # The gateway's own dependency range lets npm nest a newer @hono/node-server,
        # whose streamed responses fail ("immutable" headers): pin it everywhere.
        (home / "package.json").write_text(
            '{"name": "peers-portkey", "private": true, '
            '"overrides": {"@hono/node-server": "1.13.5", "hono": "4.9.7"}}\n')
        run_install("Portkey's gateway",
                    ["npm", "install", "--prefix", str(home), "--no-audit", "--no-fund",
                     "--save-exact", *PORTKEY], cache / "portkey-install.log", install_timeout)
        stamp.touch()
    pkg = home / "node_modules/@portkey-ai/gateway"
    meta = json.loads((pkg / "package.json").read_text())
    bin_field = meta.get("bin")
    entry = bin_field if isinstance(bin_field, str) else next(iter((bin_field or {}).values()), None)
    if not entry:
        raise RuntimeError(f"no start script in {pkg}/package.json")
    port = free_port()
    p = start(["node", str(pkg / entry), f"--port={port}"], work / "portkey.log")
    wait_http(f"http://127.0.0.1:{port}/", p, 30)
    headers = ["x-portkey-provider: openai", f"x-portkey-custom-host: {upstream}"]
    return Target("portkey", f"http://127.0.0.1:{port}/v1", p.pid, headers,
                  note="@portkey-ai/gateway 1.15.2 (Node.js)")


@dataclass
class Row:
    stream: bool
    rate: float
    target: str
    requests: int = 0
    ok: int = 0
    errors: dict = field(default_factory=dict)
    cpu_us: float = 0.0
    e2e: dict = field(default_factory=dict)
    ttft: dict = field(default_factory=dict)
    rss_mib: float = 0.0


def bench(bin_: Path, t: Target, rate: float, secs: float, stream: bool, out: Path) -> dict:
    """One `switchyard bench` run against `t`; its report's first group."""
    cmd = [str(bin_), "bench", "--target", t.url, "--model", MODEL, "--rate", str(rate),
           "--duration", f"{secs}s", "--input-tokens", "8", "--output-tokens", "16",
           "--timeout", "30s", "--quiet", "--json", str(out)]
    if not stream:
        cmd.append("--no-stream")
    for h in t.headers:
        cmd += ["--header", h]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       stdin=subprocess.DEVNULL, timeout=secs + 120)
    if r.returncode != 0:
        raise RuntimeError(f"bench against {t.name} exited {r.returncode}: {r.stderr.strip()[-400:]}")
    groups = json.loads(out.read_text())["groups"]
    return groups[0] if groups else {}


def measure(bin_: Path, t: Target, rate: float, secs: float, stream: bool, work: Path) -> Row:
    kind = "stream" if stream else "whole"
    log(f"  {t.name:10} {kind} at {rate:g} req/s for {secs:g} s")
    pids = tree(t.root_pid)
    cpu0 = cpu_secs(pids)
    g = bench(bin_, t, rate, secs, stream, work / f"{t.name}-{kind}-{rate:g}.json")
    pids = tree(t.root_pid)  # workers may have come and gone; those present now count
    cpu = cpu_secs(pids) - cpu0
    requests = int(g.get("requests", 0))
    return Row(stream, rate, t.name, requests, int(g.get("ok", 0)), g.get("errors_by_kind", {}),
               cpu * 1e6 / max(requests, 1), g.get("e2e") or {}, g.get("ttft") or {},
               rss_mib(pids))


def fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def print_tables(rows: list[Row], targets: list[Target], skipped: list[tuple[str, str]],
                 ceilings: dict[str, float]) -> None:
    print("| pass | rate (req/s) | target | ok / sent | errors | CPU µs/req | p50 ms | p99 ms "
          "| added p50 ms | added p99 ms | TTFT p50 ms | TTFT p99 ms | RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = next((b for b in rows if b.target == "direct" and b.stream == r.stream
                     and b.rate == r.rate), None)
        p50, p99 = r.e2e.get("p50"), r.e2e.get("p99")
        add50 = add99 = None
        if base and r.target != "direct" and p50 is not None and base.e2e:
            add50, add99 = p50 - base.e2e["p50"], p99 - base.e2e["p99"]
        errors = ", ".join(f"{k} {v}" for k, v in sorted(r.errors.items())) or "0"
        ttft = r.ttft if r.stream else {}
        print(f"| {'stream' if r.stream else 'whole'} | {r.rate:g} | {r.target} | {r.ok} / {r.requests} "
              f"| {errors} | {r.cpu_us:.0f} | {fmt(p50)} | {fmt(p99)} | {fmt(add50)} | {fmt(add99)} "
              f"| {fmt(ttft.get('p50'))} | {fmt(ttft.get('p99'))} | {r.rss_mib:.0f} |")
    print()
    print("- CPU µs/req: utime + stime of the target's own processes (and their children) "
          "over the pass / requests sent; a gateway's excludes the simulator behind it, "
          "which is direct's row. p50/p99: E2E from the schedule (bench --json `e2e`). "
          "added: minus direct's at the same pass and rate.")
    for t in targets:
        if t.note:
            print(f"- {t.name}: {t.note}")
    for name, why in skipped:
        print(f"- {name}: skipped, {why}")
    for name, ceiling in sorted(ceilings.items()):
        if any(t.name == name for t in targets):
            print(f"- {name}: run only at rates up to {ceiling:g} req/s (it saturates above)")


def start_targets(a, work: Path, cache: Path, sim: subprocess.Popen, upstream: str):
    """Start each wanted target; (started, [(name, why skipped)])."""
    targets: list[Target] = []
    skipped: list[tuple[str, str]] = []
    starters = {
        "direct": lambda: Target("direct", upstream, sim.pid, note="switchyard sim --time-scale 0"),
        "nginx": lambda: start_nginx(work, upstream),
        "floor": lambda: start_floor(a.bin.parent / "proxy_floor", work, upstream),
        "switchyard": lambda: start_switchyard(a.bin, work, upstream),
        "litellm": lambda: start_litellm(cache, work, upstream, a.install_timeout),
        "portkey": lambda: start_portkey(cache, work, upstream, a.install_timeout),
    }
    for name in a.targets:
        if name not in starters:
            raise SystemExit(f"unknown target '{name}' (known: {', '.join(starters)})")
        try:
            targets.append(starters[name]())
            log(f"started {name}: {targets[-1].url}")
        except Exception as e:  # noqa: BLE001 - any failure skips the target, with why
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            log(f"SKIPPED {name}: {e}")
            skipped.append((name, why))
    return targets, skipped


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", type=Path, required=True, help="the switchyard release binary")
    p.add_argument("--rates", default="100,2000,5000", help="non-streamed rates, req/s")
    p.add_argument("--stream-rates", default="100,1000", help="streamed rates, req/s ('' for none)")
    p.add_argument("--max-rate", action="append", default=[], metavar="TARGET=RATE",
                   help=f"highest rate a target is run at (default {CEILING})")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per target and rate")
    p.add_argument("--targets", default="direct,nginx,floor,switchyard,litellm,portkey")
    p.add_argument("--install-timeout", type=float, default=600.0,
                   help="seconds an install (pip, npm) may take before its target is skipped")
    a = p.parse_args()
    nums = lambda s: [float(x) for x in s.split(",") if x.strip()]  # noqa: E731
    a.rates, a.stream_rates = nums(a.rates), nums(a.stream_rates)
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    a.ceilings = dict(CEILING)
    for item in a.max_rate:
        name, _, rate = item.partition("=")
        try:
            a.ceilings[name.strip()] = float(rate)
        except ValueError:
            p.error(f"--max-rate wants TARGET=RATE, got {item!r}")
    if a.duration <= 0 or any(r <= 0 for r in a.rates + a.stream_rates):
        p.error("--duration and every rate must be positive")
    return a


def main() -> None:
    a = parse_args()
    atexit.register(stop_all)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cache = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "peers"
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="switchyard-peers-"))
    try:
        sim, upstream = start_sim(a.bin, work)
        upstream = f"{upstream}/deepseek/global"
        targets, skipped = start_targets(a, work, cache, sim, upstream)
        for t in targets:  # warm-up: connections, JITs, caches
            try:
                bench(a.bin, t, 200, 2, False, work / f"{t.name}-warmup.json")
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                log(f"warm-up of {t.name} failed: {e}")
        rows: list[Row] = []
        passes = [(False, r) for r in a.rates] + [(True, r) for r in a.stream_rates]
        for i, (stream, rate) in enumerate(passes):
            n = len(targets)
            order = [targets[(i + k) % n] for k in range(n)]  # rotated: none always runs first
            got = {}
            for t in order:
                if rate > a.ceilings.get(t.name, float("inf")):
                    continue
                try:
                    got[t.name] = measure(a.bin, t, rate, a.duration, stream, work)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    log(f"  {t.name} failed: {e}")
                    got[t.name] = Row(stream, rate, t.name, errors={"bench failed": 1})
            rows += [got[t.name] for t in targets if t.name in got]
        print_tables(rows, targets, skipped, a.ceilings)
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
