# bench/lib.sh — what the bench scripts share. Source it after setting `root`:
#   . "$root/bench/lib.sh"

# start_gateways BIN TMP MODE...: run `BIN serve --config TMP/MODE.toml` for each MODE in
# the background (logs in TMP/MODE.log, pids appended to the caller's array `pids`), wait
# until each one listens, and set the caller's `url[MODE]` to its http://host:port. The
# caller declares `pids=()` and `declare -A url` and kills `pids` on exit. Fails, with the
# log, if one does not listen within 10 s.
start_gateways() {
  local bin=$1 tmp=$2 mode
  shift 2
  for mode in "$@"; do
    "$bin" serve --config "$tmp/$mode.toml" >"$tmp/$mode.log" 2>&1 &
    pids+=($!)
  done
  for mode in "$@"; do
    for _ in $(seq 100); do
      grep -q "listening on" "$tmp/$mode.log" && break
      sleep 0.1
    done
    url[$mode]=$(grep -o 'listening on http://[0-9.:]*' "$tmp/$mode.log" | sed 's/listening on //')
    [ -n "${url[$mode]}" ] || { cat "$tmp/$mode.log" >&2; return 1; }
  done
}

# bench_setup: the release `switchyard` in `bin` (built, unless BIN names one), a scratch
# directory in `tmp`, and `pids=()`; on exit every pid in `pids` is killed and `tmp`
# removed. Needs `root` (the checkout).
bench_setup() {
  if [ -n "${BIN:-}" ]; then
    bin=$BIN
  else
    cargo build --release --locked -p switchyard >&2
    bin=${CARGO_TARGET_DIR:-$root/target}/release/switchyard
  fi
  tmp=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
