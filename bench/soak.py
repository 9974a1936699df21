#!/usr/bin/env python3
"""bench/soak.py — a long run of mixed load through the gateway: does its memory stay flat?

    bench/soak.py --bin target/release/switchyard [--minutes 30] [--rate 150]
                  [--stream-rate 150] [--disconnect-rate 10] [--csv rss.csv]

One `switchyard sim` (time scale 0.02: a 64-token stream takes ~40 ms) and one
`switchyard serve` in front of it with the usage log on (SQLite). For `--minutes`:

- `switchyard bench --rate R --no-stream` (whole answers) and
  `switchyard bench --rate S` (streams), open loop, side by side;
- clients that go away: `--disconnect-rate` times a second, a raw connection asks for a
  2,000-token stream, reads its first bytes and closes.

Every `--sample-secs` the gateway's RSS, CPU and requests in flight are sampled. At the
end: RSS when warm-up ended and at the end, its range after warm-up and its slope (least
squares, MiB per hour), requests still in flight (should be 0), and usage rows logged
against requests sent (nothing lost, nothing counted twice). Markdown on stdout; the
samples to `--csv`. Loopback only; every process it starts is stopped on exit.
"""
from __future__ import annotations

import argparse
import atexit
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import MODEL, cpu_secs, log, on_signal, rss_mib, start, stop_all, wait_for_line  # noqa: E402


def start_pair(bin_: Path, work: Path) -> tuple[subprocess.Popen, str]:
    """The simulator and the gateway; the gateway's process and base URL."""
    sim = start([str(bin_), "sim", "--listen", "127.0.0.1:0", "--time-scale", "0.02"],
                work / "sim.log", {"RUST_LOG": "error"})
    upstream = wait_for_line(work / "sim.log", r"switchyard sim listening on (\S+)", sim, 30)
    config = work / "switchyard.toml"
    config.write_text(
        f'[usage]\npath = "{work}/usage.db"\n\n'
        '[providers.deepseek]\napi_key = "soak"\n'
        f'regions = [{{ name = "global", base_url = "{upstream.rstrip("/")}/deepseek/global" }}]\n'
    )
    gw = start([str(bin_), "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
               work / "switchyard.log", {"RUST_LOG": "error"})
    url = wait_for_line(work / "switchyard.log", r"switchyard listening on (\S+)", gw, 30)
    return gw, url.rstrip("/")


def bench_cmd(bin_: Path, url: str, rate: float, secs: int, stream: bool, out: Path) -> list[str]:
    cmd = [str(bin_), "bench", "--target", f"{url}/v1", "--model", MODEL, "--rate", str(rate),
           "--duration", f"{secs}s", "--input-tokens", "64", "--output-tokens", "8..128",
           "--timeout", "30s", "--quiet", "--json", str(out)]
    return cmd if stream else [*cmd, "--no-stream"]


def disconnects(url: str, rate: float, until: float, count: list[int]) -> None:
    """Open a stream, read a little, hang up; `rate` times a second until `until`."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"model": MODEL, "stream": True, "max_tokens": 2000,
                       "messages": [{"role": "user", "content": "go on"}]}).encode()
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    period = 1.0 / rate
    next_at = time.monotonic()
    while next_at < until:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += period
        try:
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(request)
                count[0] += 1
                s.recv(512)
        except OSError:
            pass


def in_flight(url: str) -> int:
    with urllib.request.urlopen(f"{url}/admin/health", timeout=10) as r:
        return int(json.load(r)["in_flight"])


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return 0.0 if var == 0 else sum((t - mx) * (v - my) for t, v in points) / var * 3600


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--warmup-minutes", type=float, default=5)
    ap.add_argument("--rate", type=float, default=150, help="whole answers per second")
    ap.add_argument("--stream-rate", type=float, default=150, help="streams per second")
    ap.add_argument("--disconnect-rate", type=float, default=10, help="clients that hang up, per second")
    ap.add_argument("--sample-secs", type=float, default=10)
    ap.add_argument("--csv", type=Path)
    a = ap.parse_args()
    atexit.register(stop_all)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    work = Path(tempfile.mkdtemp(prefix="switchyard-soak-"))
    gw, url = start_pair(a.bin, work)
    secs = int(a.minutes * 60)
    t0 = time.monotonic()
    benches = [subprocess.Popen(bench_cmd(a.bin, url, rate, secs, stream, work / f"{kind}.json"),
                                stdout=subprocess.DEVNULL, stderr=open(work / f"{kind}.err", "wb"))
               for rate, stream, kind in ((a.rate, False, "whole"), (a.stream_rate, True, "stream"))]
    hung_up = [0]
    threading.Thread(target=disconnects, args=(url, a.disconnect_rate, t0 + secs, hung_up), daemon=True).start()
    samples: list[tuple[float, float, float, int]] = []
    while any(b.poll() is None for b in benches):
        time.sleep(a.sample_secs)
        t = time.monotonic() - t0
        samples.append((t, rss_mib([gw.pid]), cpu_secs([gw.pid]), in_flight(url)))
        log(f"{t / 60:5.1f} min  RSS {samples[-1][1]:7.1f} MiB  in flight {samples[-1][3]}")
    time.sleep(3)  # the last hang-ups are noticed, the usage log flushes
    left = in_flight(url)
    sent = hung_up[0]
    for kind in ("whole", "stream"):
        sent += int(json.loads((work / f"{kind}.json").read_text())["groups"][0]["requests"])
    with sqlite3.connect(work / "usage.db") as db:
        rows = db.execute("SELECT COUNT(*) FROM usage").fetchone()[0]
    if a.csv:
        a.csv.write_text("secs,rss_mib,cpu_secs,in_flight\n"
                         + "".join(f"{t:.0f},{r:.1f},{c:.1f},{f}\n" for t, r, c, f in samples))
    warm = [(t, r) for t, r, _, _ in samples if t >= a.warmup_minutes * 60]
    print(f"soak: {a.minutes:g} min, {a.rate:g} whole + {a.stream_rate:g} streamed req/s, "
          f"{a.disconnect_rate:g} hang-ups/s\n")
    print("| RSS at warm-up end MiB | at end MiB | min–max after warm-up MiB | slope MiB/h "
          "| in flight at end | requests sent | usage rows |")
    print("|---|---|---|---|---|---|---|")
    if warm:
        lo, hi = min(r for _, r in warm), max(r for _, r in warm)
        print(f"| {warm[0][1]:.1f} | {warm[-1][1]:.1f} | {lo:.1f}–{hi:.1f} | "
              f"{slope_per_hour(warm):+.1f} | {left} | {sent} | {rows} |")


if __name__ == "__main__":
    main()
