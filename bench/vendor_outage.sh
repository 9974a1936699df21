#!/usr/bin/env bash
# bench/vendor_outage.sh — a whole vendor down: what a model sold by two vendors keeps
# serving, against one sold by a single vendor, measured side by side in one run, and what
# it costs. Loopback only; stops by itself.
#
#   bench/vendor_outage.sh                     # 10 req/s per model for 30 s
#   RATE=20 DURATION=60s bench/vendor_outage.sh
#   BIN=target/release/switchyard bench/vendor_outage.sh   # skip the build
#
# Two gateways run at once on the embedded default (every provider simulated, DeepSeek
# V3.2 deployed at DeepSeek in two regions and at SiliconFlow), each with its own
# in-process simulator and the same seed. In the second, DeepSeek's whole platform fails
# (a server_error fault on every DeepSeek region, from the start). `switchyard bench`
# offers both gateways the same open-loop streaming load, split between deepseek-v3.2
# (two vendors) and deepseek-v4-flash (DeepSeek only), at the same time. The table gives,
# per gateway and model: requests, success rate, TTFT p50/p99, who served the answers
# (from the gateway's switchyard_usage_records_total), and $ per 1,000 requests (from the
# costs the gateway reported: each at the price of the vendor that served).
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"
. "$root/bench/lib.sh"
rate=${RATE:-10}
duration=${DURATION:-30s}
scale=${TIME_SCALE:-0.2}

bench_setup

config() { # $1 = extra simulator faults
  sed -e 's/^listen = .*/listen = "127.0.0.1:0"/' -e "s/^time_scale = .*/time_scale = $scale/" \
    crates/gateway/src/default.toml
  printf '%s\n' "$1"
}
config "" >"$tmp/up.toml"
config '
[[simulator.faults]]
provider = "deepseek"
region = "*"
kind = "server_error"' >"$tmp/down.toml"

declare -A url
start_gateways "$bin" "$tmp" up down

total_rate=$((rate * 2))
echo "offering $total_rate req/s (half to each model) for $duration to both gateways at once (time scale $scale; down: every DeepSeek region answers 500)" >&2
for mode in up down; do
  "$bin" bench --target "${url[$mode]}/v1" --model deepseek-v3.2,deepseek-v4-flash \
    --rate "$total_rate" --duration "$duration" --input-tokens 64 --output-tokens 32 --quiet \
    --json "$tmp/$mode.json" >"$tmp/$mode.bench.txt" 2>&1 &
  pids+=($!)
done
wait "${pids[2]}" "${pids[3]}" || true

for mode in up down; do
  curl -s "${url[$mode]}/metrics" >"$tmp/$mode.metrics"
done

python3 - "$tmp" "$rate" "$duration" <<'EOF'
import json, re, sys
tmp, rate, duration = sys.argv[1:]

def served(mode, model):
    """Completed usage records by provider, for `model`."""
    by = {}
    for line in open(f"{tmp}/{mode}.metrics"):
        if not line.startswith("switchyard_usage_records_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if labels.get("model") == model and labels.get("outcome") == "completed":
            by[labels["provider"]] = by.get(labels["provider"], 0) + float(line.rsplit(" ", 1)[1])
    return ", ".join(f"{p} {n:.0f}" for p, n in sorted(by.items(), key=lambda kv: -kv[1])) or "-"

print(f"\n{rate} req/s per model for {duration}, streaming, 64 in / 32 out (exact, ignore_eos)\n")
print("| DeepSeek | model | vendors | requests | ok | errors | TTFT p50 ms | TTFT p99 ms | served by | $ / 1k requests |")
print("|---|---|---|---|---|---|---|---|---|---|")
for mode in ("up", "down"):
    for g in json.load(open(f"{tmp}/{mode}.json"))["groups"]:
        model = g["name"]
        vendors = "DeepSeek + SiliconFlow" if model == "deepseek-v3.2" else "DeepSeek only"
        t = g.get("ttft") or {}
        ok = 100.0 * g["ok"] / g["requests"] if g["requests"] else 0.0
        cost = g.get("cost") or {}
        per_1k = f"{cost['per_1k_requests_usd']:.4f}" if cost.get("requests_with_cost") else "-"
        p50 = f"{t['p50']:.0f}" if t else "-"
        p99 = f"{t['p99']:.0f}" if t else "-"
        errors = ", ".join(f"{k} {n}" for k, n in sorted(g.get("errors_by_kind", {}).items())) or "-"
        print(f"| {mode} | {model} | {vendors} | {g['requests']} | {ok:.1f}% | {errors} | {p50} | {p99} | {served(mode, model)} | {per_1k} |")
EOF
