#!/usr/bin/env bash
# bench/plan_check.sh — how well `switchyard plan --from-usage` predicts what a run spent
# and held in flight: a gateway on loopback (simulated providers, its own usage log),
# `switchyard bench` offering a known load to it, then the plan of that usage log beside
# what the log measured. Bounded; stops by itself.
#
#   bench/plan_check.sh                          # 20 req/s for 30 s, two models, streamed
#   bench/plan_check.sh --rate 50 --duration 60s --models deepseek-v4-flash,qwen3-32b,kimi-k2.5
#
# Prints one Markdown row per run: requests, spent, predicted, error; in flight measured
# (busiest minute) and predicted (λ·W), error.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
rate=20 duration=30s models=deepseek-v4-flash,qwen3-32b stream= time_scale=0.2
while (($#)); do
    case $1 in
        --rate) rate=$2; shift ;;
        --duration) duration=$2; shift ;;
        --models) models=$2; shift ;;
        --no-stream) stream=--no-stream ;;
        --time-scale) time_scale=$2; shift ;;
        *) echo "bench/plan_check.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
bin=${SWITCHYARD_BIN:-$root/target/release/switchyard}
[[ -x $bin ]] || { cargo build --release --locked -p switchyard >&2; bin=$root/target/release/switchyard; }
work=$(mktemp -d)
trap 'kill "$gw" 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/gw.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[usage]
path = "$work/usage.db"
[slo]
persist = false
[simulator]
time_scale = $time_scale
[providers.deepseek]
simulated = true
regions = [{ name = "global" }, { name = "cn" }]
[providers.dashscope]
simulated = true
regions = [{ name = "singapore" }]
[providers.moonshot]
simulated = true
regions = [{ name = "global" }]
[providers.zhipu]
simulated = true
regions = [{ name = "global" }]
TOML
"$bin" serve --config "$work/gw.toml" >"$work/gw.out" 2>&1 &
gw=$!
for _ in $(seq 100); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$work/gw.out" | head -n1 | cut -d' ' -f3) && [[ -n $url ]] && break
    sleep 0.1
done
[[ -n ${url:-} ]] || { cat "$work/gw.out" >&2; exit 1; }
# shellcheck disable=SC2086
"$bin" bench --target "$url/v1" --model "$models" --rate "$rate" --duration "$duration" $stream \
    --input-tokens 600:300 --output-tokens 120:60 --quiet --api-key none --json "$work/bench.json" >/dev/null
kill -TERM "$gw"; wait "$gw" || true
"$bin" plan --from-usage --db "$work/usage.db" --days 1 --json "$work/plan.json" >/dev/null
python3 - "$work/plan.json" "$rate" "$duration" "$models" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); m = p["measured"]; pol = p["policies"][0]
predicted = pol["cost"]["per_day_usd"] * m["span_s"] / 86400
flight = pol["capacity"]["regions"][0]["concurrency_mean"]
print(f"| {sys.argv[2]} req/s for {sys.argv[3]}, {sys.argv[4]} | {m['requests']} | ${m['cost_usd']:.6f} | "
      f"${predicted:.6f} | {100 * (predicted / m['cost_usd'] - 1):+.2f}% | {m['concurrency_busiest_minute']:.2f} | "
      f"{flight:.2f} | {100 * (flight / m['concurrency_busiest_minute'] - 1):+.1f}% |")
PY
