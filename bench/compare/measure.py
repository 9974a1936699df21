#!/usr/bin/env python3
"""Run one load-test command and measure what it costs the client.

    measure.py --out RESULT.json [--sim URL] [--sim-pid PID] [--timeout S] -- CMD ARGS...

Records, for the command's whole process tree:
- wall time, and user+sys CPU from wait4() (the command plus every descendant it reaped),
  the same figure `/usr/bin/time` prints;
- a sampled CPU curve (every --interval seconds, summing utime+stime+cutime+cstime of the
  live processes of the tree from /proc), and beside it the simulator's request counter
  from `GET /_sim/stats`. The *load window* is the part of the run in which that counter
  moved; the CPU spent in it divided by the requests served in it is the marginal client
  cost per request, without the tool's start-up and shut-down;
- the simulator process's own CPU over the run (--sim-pid), and the largest `in_flight`
  the simulator reported.

The command runs in its own session and is killed (its process group only) after
--timeout seconds. Standard library only.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def read_stat(pid):
    """(ppid, cpu ticks incl. reaped children) of one process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # Fields after the command name, which may itself hold spaces and parentheses.
    rest = raw[raw.rfind(b")") + 2 :].split()
    ppid = int(rest[1])
    utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
    return ppid, utime + stime + cutime + cstime


def tree_cpu(root):
    """CPU seconds of `root` and its live descendants (reaped ones are in cutime)."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = read_stat(int(name))
            if s is not None:
                stats[int(name)] = s
    children = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, members = 0, [root], 0
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
            members += 1
        todo.extend(children.get(pid, []))
    return total / TICK, members


def proc_cpu(pid):
    s = read_stat(pid) if pid else None
    return None if s is None else s[1] / TICK


def sim_stats(url):
    if not url:
        return None
    try:
        with urllib.request.urlopen(url + "/_sim/stats", timeout=1) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--sim", help="simulator base URL, for /_sim/stats")
    ap.add_argument("--sim-pid", type=int)
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--stdout", help="file for the command's standard output")
    ap.add_argument("--stderr", help="file for the command's standard error")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")

    before = sim_stats(a.sim)
    sim_cpu0 = proc_cpu(a.sim_pid)
    out = open(a.stdout, "wb") if a.stdout else subprocess.DEVNULL
    err = open(a.stderr, "wb") if a.stderr else subprocess.DEVNULL
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True)
    samples = []  # (t, tree cpu s, sim requests, sim in_flight, tree size)
    rusage, status, killed = None, 0, False
    while True:
        pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            rusage, status = ru, st
            break
        now = time.monotonic() - t0
        cpu, members = tree_cpu(proc.pid)
        s = sim_stats(a.sim)
        samples.append(
            (
                now,
                cpu,
                None if s is None else s.get("requests"),
                None if s is None else s.get("in_flight"),
                members,
            )
        )
        if now > a.timeout and not killed:
            os.killpg(proc.pid, signal.SIGTERM)
            killed = True
        time.sleep(a.interval)
    wall = time.monotonic() - t0
    after = sim_stats(a.sim)
    sim_cpu1 = proc_cpu(a.sim_pid)
    rc = os.waitstatus_to_exitcode(status)

    res = {
        "cmd": cmd,
        "rc": rc,
        "killed_by_timeout": killed,
        "wall_s": wall,
        "cpu_user_s": rusage.ru_utime,
        "cpu_sys_s": rusage.ru_stime,
        "cpu_s": rusage.ru_utime + rusage.ru_stime,
        "max_rss_kib": rusage.ru_maxrss,
        "max_tree_processes": max((m for *_, m in samples), default=0),
        "sample_interval_s": a.interval,
    }
    if before is not None and after is not None:
        res["sim"] = {
            k: after.get(k, 0) - before.get(k, 0)
            for k in ("requests", "ok", "errors", "completion_tokens", "prompt_tokens")
        }
        flights = [f for *_, f, _m in samples if f is not None]
        res["sim"]["in_flight_max"] = max(flights, default=None)
        res["sim"]["in_flight_samples"] = flights
    if sim_cpu0 is not None and sim_cpu1 is not None:
        res.setdefault("sim", {})["cpu_s"] = sim_cpu1 - sim_cpu0
    # Load window: from the last sample before the request counter first moved to the
    # first sample at which it had stopped moving.
    reqs = [(t, c, r) for t, c, r, _f, _m in samples if r is not None]
    if before is not None and len(reqs) >= 2:
        base, final = before["requests"], reqs[-1][2]
        i0 = max([i for i, (_, _, r) in enumerate(reqs) if r == base] or [0])
        i1 = min(i for i, (_, _, r) in enumerate(reqs) if r == final)
        if i1 > i0:
            res["window"] = {
                "start_s": reqs[i0][0],
                "seconds": reqs[i1][0] - reqs[i0][0],
                "requests": reqs[i1][2] - reqs[i0][2],
                "cpu_s": reqs[i1][1] - reqs[i0][1],
            }
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
