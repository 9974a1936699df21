#!/usr/bin/env bash
# bench/route_latency.sh — time the tiered router's classifier on every prompt of the
# labelled routing data, several passes, one thread; prints a Markdown row.
#
#   bench/route_latency.sh                       # ../shared/data/routing/dev.jsonl, 5 passes
#   bench/route_latency.sh --data FILE --passes 10
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"
cargo build --release --locked -p switchyard-bench --bin route_latency >&2
target=${CARGO_TARGET_DIR:-$root/target}
args=("$@")
if [[ ! " ${args[*]} " == *" --data "* ]]; then
  args+=(--data "$root/../shared/data/routing/dev.jsonl")
fi
exec "$target/release/route_latency" "${args[@]}"
