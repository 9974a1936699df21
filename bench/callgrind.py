#!/usr/bin/env python3
"""bench/callgrind.py — instructions per request through the gateway, counted by
valgrind's callgrind, for one or more gateway binaries side by side.

On a shared, noisy machine wall-clock CPU per request swings by ±10% from run to run;
an instruction count does not. For each binary this starts `switchyard sim` natively
(time scale 0, so the upstream answers at once), then the gateway under
`valgrind --tool=callgrind` pointed at it (usage log on, as in production), sends N1
and then, in a second run, N2 requests with `switchyard bench` (one at a time), stops
the gateway, and reads callgrind's instruction total (every thread). The cost of one
request is (I(N2) - I(N1)) / (N2 - N1): start-up and shutdown cancel out. Counts still
vary by a few percent from run to run (the runtime's threads spin and park as timing
falls), so each binary runs --repeat times, interleaved, and the median is reported.

    bench/callgrind.py NEW/switchyard OLD/switchyard [--requests 200,1000] [--stream]
    bench/callgrind.py NEW/switchyard NEW/switchyard --otlp-for 1   # the first with traces exported

Everything runs on loopback and stops by itself; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within {timeout:.0f} s")
            time.sleep(0.2)


class Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that takes every export and keeps nothing."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


SERVE = "chat/mod.rs:switchyard_gateway::chat::serve::{{closure}}"


def request_path(out: Path) -> int:
    """Instructions inside the chat pipeline (`chat::serve`, inclusive): the request's
    own code, without the runtime's idle spinning that makes totals vary."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(out)],
                          capture_output=True, text=True).stdout
    for line in text.splitlines():
        if SERVE in line:
            return int(line.split()[0].replace(",", ""))
    return 0


def instructions(binary: Path, sim_url: str, requests: int, stream: bool, work: Path, extra: str = "",
                 keep: Path | None = None) -> tuple[int, int]:
    """Callgrind's instruction counts of a gateway that served `requests`: in all, and
    inside the chat pipeline."""
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "gateway.toml"
    cfg.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\n\n'
        f'[usage]\npath = "{work / "usage.db"}"\n\n[slo]\npath = "{work / "slo.json"}"\n\n'
        '[providers.deepseek]\napi_key = "bench"\n'
        f'regions = [{{ name = "global", base_url = "{sim_url}/deepseek/global" }}]\n' + extra)
    out = work / "callgrind.out"
    env = dict(os.environ, SWITCHYARD_DATA_DIR=str(work))
    # An older binary does not know [slo]: drop the section for it.
    if subprocess.run([str(binary), "serve", "--help"], capture_output=True, text=True).returncode == 0:
        probe = subprocess.run([str(binary), "models", "--config", str(cfg)], capture_output=True, text=True, env=env)
        if probe.returncode != 0 and "slo" in probe.stderr:
            cfg.write_text(re.sub(r"\[slo\]\npath = .*\n\n", "", cfg.read_text()))
    gw = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(binary), "serve", "--config", str(cfg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 120)
        bench = [str(binary), "bench", "--target", f"http://127.0.0.1:{port}/v1", "--model", "deepseek-v4-flash",
                 "--requests", str(requests), "--concurrency", "1", "--output-tokens", "16", "--quiet",
                 "--api-key", "none", "--timeout", "60s", "--fail-on", "error_rate>0"]
        if not stream:
            bench.append("--no-stream")
        r = subprocess.run(bench, capture_output=True, text=True, timeout=900)
        if r.returncode != 0:  # 3: some request failed (--fail-on)
            raise SystemExit(f"bench failed ({r.returncode}): {(r.stdout + r.stderr)[-2000:]}")
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            _, err = gw.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            gw.kill()
            _, err = gw.communicate()
    total = serve = 0
    for f in work.glob("callgrind.out*"):
        for line in f.read_text(errors="replace").splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                total = max(total, int(line.split()[1]))
                break
        serve = max(serve, request_path(f))
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            f.rename(keep / f"{binary.name}-{requests}{'-otlp' if extra else ''}.callgrind")
        else:
            f.unlink()
    if total == 0:
        raise SystemExit(f"no callgrind total for {binary}:\n{err[-2000:]}")
    return total, serve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+", type=Path)
    ap.add_argument("--requests", default="200,1000", help="N1,N2 (default 200,1000)")
    ap.add_argument("--stream", action="store_true", help="streamed requests")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per binary, interleaved; the median per-request count is reported (default 3)")
    ap.add_argument("--keep", type=Path, help="keep callgrind's output files here (for callgrind_annotate)")
    ap.add_argument("--otlp-for", type=int, action="append", default=[],
                    help="export traces (to a sink on loopback) from the Nth binary (1-based; repeatable)")
    args = ap.parse_args()
    n1, n2 = (int(x) for x in args.requests.split(","))
    assert 0 < n1 < n2, "--requests N1,N2 with N1 < N2"
    sim_port = free_port()
    sim = subprocess.Popen([str(args.binaries[0]), "sim", "--listen", f"127.0.0.1:{sim_port}", "--time-scale", "0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    otlp = f'\n[telemetry]\notlp_endpoint = "http://127.0.0.1:{sink.server_address[1]}"\n'
    rows = []
    try:
        sim_url = f"http://127.0.0.1:{sim_port}"
        wait_http(f"{sim_url}/_sim/stats", 30)
        with tempfile.TemporaryDirectory(prefix="switchyard-callgrind-") as tmp:
            runs: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(args.binaries))}
            for r in range(args.repeat):
                for i, binary in enumerate(args.binaries):
                    extra = otlp if i + 1 in args.otlp_for else ""
                    (t1, s1), (t2, s2) = (
                        instructions(binary, sim_url, n, args.stream, Path(tmp) / f"{r}-{i}-{n}", extra,
                                     args.keep if r == 0 else None)
                        for n in (n1, n2))
                    total, serve = (t2 - t1) / (n2 - n1), (s2 - s1) / (n2 - n1)
                    runs[i].append((total, serve))
                    print(f"run {r + 1}: {binary}{' (traces)' if extra else ''}: {total:,.0f} per request, "
                          f"{serve:,.0f} in chat::serve", file=sys.stderr)
            for i, binary in enumerate(args.binaries):
                rows.append((binary, runs[i], i + 1 in args.otlp_for))
    finally:
        sim.terminate()
        sim.wait(timeout=20)
        sink.shutdown()
    def median(xs: list[float]) -> float:
        return sorted(xs)[len(xs) // 2]

    base_total = median([t for t, _ in rows[-1][1]])
    base_serve = median([s for _, s in rows[-1][1]])
    kind = "streamed" if args.stream else "whole"
    print("| binary | kind | in all, per request (each run) | median | vs last | chat::serve, per request | vs last |")
    print("|---|---|---|---|---|---|---|")
    for binary, runs_of, traced in rows:
        what = kind + (", traces exported" if traced else "")
        totals = [t for t, _ in runs_of]
        serve = median([s for _, s in runs_of])
        each = ", ".join(f"{t:,.0f}" for t in totals)
        print(f"| `{binary}` | {what} | {each} | {median(totals):,.0f} | {median(totals) / base_total:.3f} "
              f"| {serve:,.0f} | {serve / base_serve:.3f} |")


if __name__ == "__main__":
    main()
