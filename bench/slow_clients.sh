#!/usr/bin/env bash
# bench/slow_clients.sh — slow-loris: normal traffic's p99 alone and beside thousands of
# clients trickling their headers or body, phases interleaved in one run (loopback only;
# stops by itself).
#
#   bench/slow_clients.sh                              # 2000 slow clients, 500 req/s, 10 s phases
#   bench/slow_clients.sh --slow 4000 --rate 1000 --duration 20
#   bench/slow_clients.sh --pin                        # gateway alone on CPU 0, the rest on CPU 1
#
# Builds release binaries, then runs crates/bench/src/bin/slow_clients.rs, which starts
# `switchyard serve` on the embedded default (simulator at time scale 0, default
# header_timeout_secs 10 and body_timeout_secs 30) and prints a Markdown table for
# docs/BENCHMARKS.md. Each slow client holds two file descriptors in this process and
# one in the gateway: the open-file limit must allow it (ulimit -n).
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"
cargo build --release --locked -p switchyard -p switchyard-bench >&2
target=${CARGO_TARGET_DIR:-$root/target}
if [[ ${1:-} == --pin ]]; then
    shift
    exec taskset -c 1 "$target/release/slow_clients" --bin "$target/release/switchyard" --gateway-cpu 0 "$@"
fi
exec "$target/release/slow_clients" --bin "$target/release/switchyard" "$@"
