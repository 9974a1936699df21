#!/usr/bin/env python3
"""Time to first token as seen on the wire, from a loopback packet capture.

    wire_ttft.py CAPTURE.pcap SIM_PORT [--out RESULT.json]

For each request: from the kernel timestamp of the client's packet that starts with
`POST ` to that of the simulator's first packet on the same connection holding an SSE
`data: ` event (the simulator writes the role chunk and the first token together, so
that packet carries the first content). Loopback timestamps are taken when the sender
hands a packet to the kernel, so this is the simulator's own time to first token,
request parsing and timer lateness included, and free of the client's scheduling. The
client's figure minus this one is what the client adds.

Capture with e.g. `tcpdump -i lo -s 200 --time-stamp-precision=nano -w F.pcap
'tcp port P and (tcp[tcpflags] & tcp-push != 0)'`. Classic pcap only, standard library.
"""

import argparse
import json
import struct


def ttfts(path, port):
    out, pending = [], {}
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        if magic not in (0xA1B2C3D4, 0xA1B23C4D):
            raise SystemExit(f"{path}: not a little-endian classic pcap file")
        scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
        link = struct.unpack("<I", head[20:24])[0]
        l2 = {1: 14, 113: 16, 0: 4}.get(link)
        if l2 is None:
            raise SystemExit(f"{path}: link type {link} not handled")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            sec, frac, incl, _orig = struct.unpack("<IIII", rec)
            pkt = f.read(incl)
            ip = pkt[l2:]
            if not ip or ip[0] >> 4 != 4:
                continue
            tcp = ip[(ip[0] & 15) * 4 :]
            src, dst = struct.unpack(">HH", tcp[:4])
            payload = tcp[(tcp[12] >> 4) * 4 :]
            if not payload:
                continue
            t = sec + frac * scale
            if dst == port and payload.startswith(b"POST "):
                pending[src] = t
            elif src == port and dst in pending and b"data: " in payload:
                out.append((t - pending.pop(dst)) * 1000.0)
    return out


def summary(ms):
    ms = sorted(ms)
    n = len(ms)
    if not n:
        return {"count": 0}

    def q(p):
        return ms[min(n - 1, int(p * n))]

    return {
        "count": n,
        "min": ms[0],
        "p50": q(0.50),
        "p90": q(0.90),
        "p99": q(0.99),
        "p999": q(0.999),
        "max": ms[-1],
        "mean": sum(ms) / n,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("port", type=int)
    ap.add_argument("--out")
    a = ap.parse_args()
    s = summary(ttfts(a.pcap, a.port))
    text = json.dumps(s, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
