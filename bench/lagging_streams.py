#!/usr/bin/env python3
"""bench/lagging_streams.py — what an open stream costs the gateway, side by side for
several binaries; loopback only, bounded, stops by itself.

- Lagging (default): N raw connections each ask for a long stream from a simulator at
  time scale 0, read its first bytes, then read nothing more: what a client that stops
  reading makes the gateway buffer.
- `--idle`: N connections each ask for a stream from a slow simulator (time scale 50:
  the first token is due after about 40 s) and wait: what an open stream that is
  waiting on its vendor costs.

The gateway's RSS before and after, divided by N, is the cost per connection (the
kernel's socket buffers are not in RSS).

    bench/lagging_streams.py NEW/switchyard OLD/switchyard [--clients 500] [--tokens 4000]
    bench/lagging_streams.py NEW/switchyard OLD/switchyard --idle --clients 8000
    bench/lagging_streams.py target/release/switchyard --idle --floor target/release/proxy_floor

`--floor` adds a row for `proxy_floor` (the gateway's HTTP stack with no LLM logic, see
crates/bench/src/bin/proxy_floor.rs) in front of the same simulator: what hyper's own
buffers and tasks hold per stream, below anything the gateway can do.
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answered, if not with 200
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer")
            time.sleep(0.1)


def measure(binary: Path, clients: int, tokens: int, work: Path, idle: bool,
            floor: Path | None = None) -> tuple[float, float, int]:
    """RSS of the gateway `binary` (or, with `floor`, of proxy_floor) before and after
    `clients` streams, and the bytes per stream."""
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "gw.toml"
    sim_port = free_port()
    # The simulator in a process of its own, so that its buffers are not counted.
    scale = "50" if idle else "0"
    sim = subprocess.Popen([str(binary), "sim", "--listen", f"127.0.0.1:{sim_port}", "--time-scale", scale],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    upstream = f"http://127.0.0.1:{sim_port}/deepseek/global"
    cfg.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\nmax_concurrency = {clients * 2}\n'
                   '[usage]\nstore = "none"\n'
                   '[providers.deepseek]\napi_key = "bench"\n'
                   f'regions = [{{ name = "global", base_url = "{upstream}" }}]\n')
    if floor is None:
        gw = subprocess.Popen([str(binary), "serve", "--config", str(cfg)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready = f"http://127.0.0.1:{port}/healthz"
    else:
        gw = subprocess.Popen([str(floor), "--listen", f"127.0.0.1:{port}", "--upstream", upstream],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready = f"http://127.0.0.1:{port}/v1/models"
    socks = []
    try:
        wait_http(ready)
        body = json.dumps({"model": "deepseek-v4-flash", "stream": True, "max_tokens": tokens,
                           "messages": [{"role": "user", "content": "write at length"}]}).encode()
        request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        time.sleep(1)
        before = rss_kib(gw.pid)
        for _ in range(clients):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            s.sendall(request)
            if not idle:
                s.settimeout(10)
                s.recv(1024)  # the headers and the first events; then nothing more
            socks.append(s)
        time.sleep(5)  # let every stream fill what it may (or reach its vendor)
        after = rss_kib(gw.pid)
        if floor is None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/health", timeout=10) as r:
                print(f"in flight after 5 s: {json.load(r)['in_flight']} of {clients}", file=sys.stderr)
        return before / 1024, after / 1024, (after - before) * 1024 // clients
    finally:
        for s in socks:
            s.close()
        for p in (gw, sim):
            p.terminate()
            p.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+", type=Path)
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--tokens", type=int, default=4000, help="max_tokens of each stream (the simulator writes them all)")
    ap.add_argument("--idle", action="store_true", help="streams waiting on a slow vendor instead of lagging clients")
    ap.add_argument("--floor", type=Path, help="proxy_floor binary: add its row (the HTTP stack alone)")
    args = ap.parse_args()
    # Each stream is a socket here and two in the gateway.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 3 * args.clients + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    what = "idle streams" if args.idle else "lagging clients"
    print(f"| binary | {what} | RSS before MiB | after MiB | bytes per connection |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, b in enumerate(args.binaries):
            before, after, per = measure(b, args.clients, args.tokens, Path(tmp) / str(i), args.idle)
            print(f"| `{b}` | {args.clients} | {before:.1f} | {after:.1f} | {per:,} |")
            sys.stdout.flush()
        if args.floor:
            before, after, per = measure(args.binaries[0], args.clients, args.tokens, Path(tmp) / "floor",
                                         args.idle, floor=args.floor)
            print(f"| `{args.floor}` | {args.clients} | {before:.1f} | {after:.1f} | {per:,} |")


if __name__ == "__main__":
    main()
