#!/usr/bin/env bash
# bench/held_streams.sh — what `escalate_streams` costs a stream that passes its check:
# two virtual models over the same tiers, one relaying live, one holding the cheap tier's
# answer until it is checked, measured side by side in one run (the load is shared
# round-robin). Loopback only; stops by itself.
#
#   bench/held_streams.sh                    # 160 requests, 4 in flight, time scale 0.5
#   REQUESTS=400 CONCURRENCY=8 bench/held_streams.sh
#
# The prompts send no max_tokens ("max_tokens": null in the dataset), so the simulated answers end naturally (20-200 tokens)
# and pass the check: the held stream is replayed, never escalated. The figures therefore
# isolate the cost of holding: a held stream's first token comes when the whole cheap
# answer is in.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"
requests=${REQUESTS:-160}
concurrency=${CONCURRENCY:-4}
scale=${TIME_SCALE:-0.5}

cargo build --release --locked -p switchyard >&2
bin=${CARGO_TARGET_DIR:-$root/target}/release/switchyard
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/gw.toml" <<EOF
[server]
listen = "127.0.0.1:0"

[simulator]
time_scale = $scale
seed = 7

[usage]
store = "none"

[providers.dashscope]
simulated = true

[virtual_models.live]
policy = "tiered"
models = ["qwen-flash", "qwen-plus"]
shares = [0.8, 0.2]

[virtual_models.held]
policy = "tiered"
models = ["qwen-flash", "qwen-plus"]
shares = [0.8, 0.2]
escalate = true
escalate_streams = true
EOF
for q in "What is the capital of France?" "Name three primary colours." \
  "Translate 'good morning' into Spanish." "What is 12 times 12?" \
  "Give me a synonym for happy." "Which planet is closest to the sun?"; do
  printf '{"messages": [{"role": "user", "content": "%s"}], "max_tokens": null}\n' "$q"
done >"$tmp/prompts.jsonl"

"$bin" serve --config "$tmp/gw.toml" >"$tmp/gw.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$tmp/gw.log" && break
  sleep 0.1
done
url=$(grep -o 'listening on http://[0-9.:]*' "$tmp/gw.log" | sed 's/listening on //')
[ -n "$url" ] || { cat "$tmp/gw.log" >&2; exit 1; }

echo "$requests streamed requests, $concurrency in flight, shared by live and held (time scale $scale)" >&2
"$bin" bench --target "$url/v1" --model live,held --concurrency "$concurrency" \
  --requests "$requests" --dataset "$tmp/prompts.jsonl" --quiet --json "$tmp/bench.json" \
  >"$tmp/bench.txt" 2>&1 || { cat "$tmp/bench.txt" >&2; exit 1; }
curl -s "$url/metrics" >"$tmp/metrics"

python3 - "$tmp" <<'EOF'
import json, sys
tmp = sys.argv[1]
escalations = sum(float(l.rsplit(" ", 1)[1]) for l in open(f"{tmp}/metrics")
                  if l.startswith("switchyard_escalations_total"))
groups = {g["name"]: g for g in json.load(open(f"{tmp}/bench.json"))["groups"]}
print("| virtual model | requests | ok | TTFT p50 ms | TTFT p99 | E2E p50 ms | E2E p99 |")
print("|---|---|---|---|---|---|---|")
for name in ("live", "held"):
    g = groups[name]
    t, e = g["ttft"], g["e2e"]
    print(f"| {name} | {g['requests']} | {g['ok']} | {t['p50']:.0f} | {t['p99']:.0f} | {e['p50']:.0f} | {e['p99']:.0f} |")
live, held = groups["live"], groups["held"]
print(f"\nescalations: {escalations:.0f}")
print(f"TTFT p50 held/live: {held['ttft']['p50'] / live['ttft']['p50']:.2f}x; "
      f"E2E p50 held/live: {held['e2e']['p50'] / live['e2e']['p50']:.2f}x")
EOF
