#!/usr/bin/env python3
"""Markdown tables from one bench/compare.sh run directory.

    report.py OUT_DIR [--ttft-expected-ms 200]
"""

import argparse
import json
import os
import re
import statistics


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def fmt(x, nd=1):
    if x is None:
        return "–"
    if isinstance(x, int) or abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}"


def parse_wrk(out):
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(rps.group(1)) if rps else None,
        "requests": int(n.group(1)) if n else None,
        "errors": int(bad.group(1)) if bad else 0,
        "socket_errors": sock.group(1).strip() if sock else None,
    }


def tool_figures(d, name):
    """(req/s, requests completed, errors) as the tool itself reports them."""
    if name.startswith("sy_"):
        j = load(os.path.join(d, name + ".json"))
        if not j:
            return None, None, None
        g = j["groups"][0]
        return g["throughput_rps"], g["ok"], g["errors"]
    if name == "guidellm":
        j = load(os.path.join(d, "guidellm.json"))
        if not j:
            return None, None, None
        m = j["benchmarks"][0]["metrics"]
        t = m["request_totals"]
        return m["requests_per_second"]["successful"]["mean"], t["successful"], t["errored"]
    if name == "wrk":
        w = parse_wrk(text(os.path.join(d, "wrk.stdout")))
        return w["rps"], w["requests"], w["errors"]
    return None, None, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--ttft-expected-ms", type=float, default=200.0)
    a = ap.parse_args()
    d = a.dir
    meta = dict(
        line.split("=", 1) for line in text(os.path.join(d, "meta.env")).splitlines() if "=" in line
    )

    runs = [
        ("sy_stream", "switchyard bench", f"streaming (SSE), closed loop {meta.get('concurrency')}"),
        ("guidellm", f"guidellm {meta.get('guidellm', '')}",
         f"streaming (SSE), `throughput` profile, max_concurrency {meta.get('concurrency')}"),
        ("wrk", f"wrk {meta.get('wrk', '')}",
         f"non-streaming, {meta.get('concurrency')} connections, 2 threads (not token-aware)"),
        ("sy_nostream", "switchyard bench", f"non-streaming, closed loop {meta.get('concurrency')}"),
        ("sy_stream2", "switchyard bench (again)", f"streaming (SSE), closed loop {meta.get('concurrency')}"),
    ]
    rows = []
    for name, tool, mode in runs:
        m = load(os.path.join(d, name + ".measure.json")) or {}
        rps, done, errors = tool_figures(d, name)
        sim = m.get("sim", {})
        served = sim.get("requests")
        cpu = m.get("cpu_s")
        win = m.get("window") or {}
        rows.append({
            "name": name, "tool": tool, "mode": mode, "rps": rps, "done": done,
            "errors": errors, "served": served, "wall": m.get("wall_s"), "cpu": cpu,
            "us": cpu / served * 1e6 if cpu is not None and served else None,
            "win_us": win["cpu_s"] / win["requests"] * 1e6 if win.get("requests") else None,
            "win_s": win.get("seconds"),
            "sim_us": sim["cpu_s"] / served * 1e6 if sim.get("cpu_s") is not None and served else None,
            "procs": m.get("max_tree_processes"),
            "rss": m["max_rss_kib"] / 1024 if m.get("max_rss_kib") else None,
            "rc": m.get("rc"),
        })
    gl = next(r for r in rows if r["name"] == "guidellm")

    def ratio(x, y):
        return None if not x or not y else x / y

    p = print
    p(f"Run of {meta.get('date_utc', '?')} · {meta.get('host_cores', '?')} cores "
      f"({meta.get('cpu_model', '?')}), shared; load average {meta.get('loadavg_start', '?')} "
      f"at the start, {meta.get('loadavg_end', '?')} at the end · switchyard "
      f"{meta.get('switchyard_rev', '?')} · {meta.get('duration_s')} s per tool · "
      f"torch {meta.get('torch', '?')} in guidellm's venv")
    p()
    p("| tool | mode | req/s (tool's own figure) | completed (tool) | errors | served (sim) "
      "| wall s | client CPU s | client CPU µs/req | client CPU µs/req in load window "
      "| req/s ÷ guidellm | guidellm CPU/req ÷ this | sim CPU µs/req | max RSS MiB |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p(f"| {r['tool']} | {r['mode']} | {fmt(r['rps'])} | {fmt(r['done'])} | {fmt(r['errors'])} "
          f"| {fmt(r['served'])} | {fmt(r['wall'])} | {fmt(r['cpu'], 2)} | {fmt(r['us'])} "
          f"| {fmt(r['win_us'])} | {fmt(ratio(r['rps'], gl['rps']))}× "
          f"| {fmt(ratio(gl['us'], r['us']))}× | {fmt(r['sim_us'])} | {fmt(r['rss'], 0)} |")
    p()
    p("- *req/s*: the tool's own figure: switchyard `throughput_rps`, guidellm "
      "`requests_per_second.successful.mean` (over its measured window), wrk `Requests/sec`.")
    p("- *client CPU s*: user+sys of the tool's whole process tree over the whole run, "
      "start-up included (wait4 rusage, as `/usr/bin/time`); *µs/req* divides it by the "
      "requests the simulator served during the run.")
    p("- *in load window*: CPU of the process tree sampled from /proc every 0.2 s, counted "
      "only while the simulator's request counter moved (no start-up or shut-down).")
    p("- *sim CPU µs/req*: the simulator's own CPU per request (it shares the 2 cores).")
    p("- *max RSS*: the largest single process of the tree (wait4 `ru_maxrss`).")
    p(f"- guidellm's process tree peaked at {gl['procs']} processes.")
    p()
    p("Commands (simulator address and output paths of this run):")
    p()
    for name, tool, _ in runs:
        p(f"- {tool}: `{text(os.path.join(d, name + '.cmd')).strip()}`")
    p()

    # ---- start-up
    st = load(os.path.join(d, "startup.json"))
    if st:
        r = st["results"][0]
        p("**Start-up** (one-request `switchyard bench` to the running simulator, 10 runs"
          + (", hyperfine -N, 1 warm-up" if "tool" not in r else ", shell loop") + "): "
          f"mean {r['mean'] * 1000:.1f} ms, max {r['max'] * 1000:.1f} ms, min {r['min'] * 1000:.1f} ms.")
        p(f"Command: `{text(os.path.join(d, 'startup.cmd')).strip()}`")
        p()

    # ---- TTFT accuracy
    exp = a.ttft_expected_ms
    ttft_runs = [
        ("ttft_c1000", "closed loop, 1,000 concurrent streams"),
        ("ttft_c1", "control: closed loop, 1 stream"
         + (" (packet capture running)" if os.path.exists(os.path.join(d, "wire_c1.json")) else "")),
        ("ttft_open4000", "control: open loop 4,000 req/s (≈990 in flight, evenly spaced)"),
        ("ttft_c1000_wire", "closed loop, 1,000 streams again, under packet capture"),
    ]
    wires = {"ttft_c1": "wire_c1.json", "ttft_c1000_wire": "wire_c1000.json"}
    p(f"**TTFT accuracy** (`switchyard sim --no-jitter --time-scale 0.25`, "
      f"deepseek-v4-flash, true TTFT {exp:.0f} ms; error = measured − {exp:.0f} ms):")
    p()
    p("| run | requests | req/s | sim in_flight max / median | TTFT error p50 ms | p90 | p99 "
      "| mean | max | min | client CPU µs/req | sim CPU µs/req |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, label in ttft_runs:
        j = load(os.path.join(d, name + ".json"))
        if not j:
            continue
        m = load(os.path.join(d, name + ".measure.json")) or {}
        g = j["groups"][0]
        t = g["ttft"]
        sim = m.get("sim", {})
        fl = sim.get("in_flight_samples") or []
        served = sim.get("requests")
        p(f"| {label} | {fmt(g['ok'])} | {fmt(g['throughput_rps'])} "
          f"| {fmt(sim.get('in_flight_max'))} / {fmt(statistics.median(fl) if fl else None)} "
          f"| {t['p50'] - exp:+.3f} | {t['p90'] - exp:+.3f} | {t['p99'] - exp:+.3f} "
          f"| {t['mean'] - exp:+.3f} | {t['max'] - exp:+.3f} | {t['min'] - exp:+.3f} "
          f"| {fmt(m['cpu_s'] / served * 1e6 if served else None)} "
          f"| {fmt(sim['cpu_s'] / served * 1e6 if served and 'cpu_s' in sim else None)} |")
        if name in wires:
            w = load(os.path.join(d, wires[name]))
            if w and w.get("count"):
                p(f"| ↳ same run on the wire, request packet → first `data:` packet "
                  f"(simulator side) | {fmt(w['count'])} | | "
                  f"| {w['p50'] - exp:+.3f} | {w['p90'] - exp:+.3f} | {w['p99'] - exp:+.3f} "
                  f"| {w['mean'] - exp:+.3f} | {w['max'] - exp:+.3f} | {w['min'] - exp:+.3f} | | |")
                p(f"| ↳ client figure minus wire figure (client side) | | | "
                  f"| {t['p50'] - w['p50']:+.3f} | {t['p90'] - w['p90']:+.3f} "
                  f"| {t['p99'] - w['p99']:+.3f} | {t['mean'] - w['mean']:+.3f} | | | | |")
    p()
    for name, _ in ttft_runs:
        c = text(os.path.join(d, name + ".cmd")).strip()
        if c:
            p(f"- `{c}`")


if __name__ == "__main__":
    main()
