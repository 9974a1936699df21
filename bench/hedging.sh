#!/usr/bin/env bash
# bench/hedging.sh — hedged requests against a heavy-tailed simulator: TTFT percentiles
# with hedging off and on, measured side by side in one run, and what hedging cost in
# extra upstream requests. Loopback only; stops by itself.
#
#   bench/hedging.sh                         # 20 req/s for 60 s per gateway
#   RATE=30 DURATION=120s bench/hedging.sh
#   SPIKE_MS=2000 SPIKE_P=0.02 bench/hedging.sh
#   BIN=target/release/switchyard bench/hedging.sh   # skip the build
#   HEDGE='hedge = { percentile = 90, budget_ratio = 0.2 }' bench/hedging.sh
#
# Two gateways run at once, each with its own in-process simulator. Both simulators use the
# same seed and the same heavy tail: in either deepseek region, a request waits SPIKE_MS
# extra with probability SPIKE_P ([[simulator.faults]] latency_spike). Both gateways spread
# deepseek-v4-flash over the two regions in one tier. Only the second one hedges
# (hedge = { percentile = 90 }). `switchyard bench` offers the same open-loop streaming
# load to both at the same time.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"
. "$root/bench/lib.sh"
rate=${RATE:-20}
duration=${DURATION:-60s}
spike_ms=${SPIKE_MS:-1500}
spike_p=${SPIKE_P:-0.05}
scale=${TIME_SCALE:-0.2}
hedge=${HEDGE:-hedge = { percentile = 90 \}}  # the defaults: budget_ratio 0.2

bench_setup

config() { # $1 = extra line for the route
  cat <<EOF
[server]
listen = "127.0.0.1:0"

[simulator]
time_scale = $scale
seed = 7

[[simulator.faults]]
provider = "deepseek"
region = "*"
kind = "latency_spike"
delay_ms = $spike_ms
probability = $spike_p

[providers.deepseek]
simulated = true
regions = [{ name = "global" }, { name = "global-b" }]

[routes."deepseek-v4-flash"]
$1
deployments = [{ region = "global", priority = 0 }, { region = "global-b", priority = 0 }]
EOF
}

config "" >"$tmp/off.toml"
config "$hedge" >"$tmp/on.toml"

declare -A url
start_gateways "$bin" "$tmp" off on

echo "offering $rate req/s for $duration to both gateways at once (heavy tail: +${spike_ms} ms with p=$spike_p per request, time scale $scale; on: $hedge)" >&2
for mode in off on; do
  "$bin" bench --target "${url[$mode]}/v1" --model deepseek-v4-flash --rate "$rate" \
    --duration "$duration" --input-tokens 64 --output-tokens 16 --quiet \
    --json "$tmp/$mode.json" >"$tmp/$mode.bench.txt" 2>&1 &
  pids+=($!)
done
wait "${pids[2]}" "${pids[3]}"

for mode in off on; do
  curl -s "${url[$mode]}/metrics" >"$tmp/$mode.metrics"
done

python3 - "$tmp" "$rate" "$duration" "$spike_ms" "$spike_p" <<'EOF'
import json, sys
tmp, rate, duration, spike_ms, spike_p = sys.argv[1:]

def metric(mode, name, *labels):
    total = 0.0
    for line in open(f"{tmp}/{mode}.metrics"):
        if line.startswith(name) and all(l in line for l in labels):
            total += float(line.rsplit(" ", 1)[1])
    return total

rows = []
for mode in ("off", "on"):
    g = json.load(open(f"{tmp}/{mode}.json"))["groups"][0]
    t = g["ttft"]
    hedges = metric(mode, "switchyard_hedges_total")
    failovers = metric(mode, "switchyard_failovers_total")
    rows.append((mode, g["requests"], g["ok"], t["p50"], t["p90"], t["p99"], t["max"],
                 g["requests"] + hedges + failovers, hedges,
                 metric(mode, "switchyard_hedge_wins_total"),
                 metric(mode, "switchyard_usage_records_total", 'outcome="hedge_cancelled"')))

print(f"\nheavy tail: +{spike_ms} ms with p={spike_p}; {rate} req/s for {duration}, streaming, 16 output tokens\n")
print("| hedging | requests | ok | TTFT p50 ms | p90 | p99 | max | upstream attempts | extra | hedges | hedge won | losers billed |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for (mode, req, ok, p50, p90, p99, mx, up, hedges, wins, losers) in rows:
    extra = (up - req) / req * 100 if req else 0
    print(f"| {mode} | {req} | {ok} | {p50:.0f} | {p90:.0f} | {p99:.0f} | {mx:.0f} | {up:.0f} | {extra:+.1f}% | {hedges:.0f} | {wins:.0f} | {losers:.0f} |")
off, on = rows
if on[5] > 0:
    print(f"\np99 TTFT off/on: {off[5] / on[5]:.2f}x")
EOF
