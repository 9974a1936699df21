#!/usr/bin/env bash
# bench/overhead.sh — gateway overhead: the simulator straight vs through the gateway,
# at fixed request rates, side by side in one run (loopback only; stops by itself).
#
#   bench/overhead.sh                          # rates 500,1000,2000 req/s, 10 s each
#   bench/overhead.sh --rates 2000 --duration 30
#   bench/overhead.sh --stream                 # streaming requests (adds TTFT columns)
#   bench/overhead.sh --ledger --rates 2000    # keys + limits + usage log: none vs SQLite vs Redis+PostgreSQL
#   bench/overhead.sh --baseline OLD/switchyard   # also through a gateway built from another revision
#
# Builds release binaries, then runs crates/bench/src/bin/overhead.rs, which starts
# `switchyard sim --time-scale 0` and `switchyard serve` pointed at it, offers open-loop
# load to each in turn, and prints Markdown tables for docs/BENCHMARKS.md.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"
cargo build --release --locked -p switchyard -p switchyard-bench >&2
target=${CARGO_TARGET_DIR:-$root/target}
exec "$target/release/overhead" --bin "$target/release/switchyard" "$@"
