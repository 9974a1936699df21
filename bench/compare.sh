#!/usr/bin/env bash
# bench/compare.sh — `switchyard bench` against guidellm and wrk, side by side in one run,
# all against `switchyard sim` on loopback (issue 3). Bounded; stops by itself.
#
#   bench/compare.sh                     # 15 s per tool, 20 s TTFT-accuracy run
#   bench/compare.sh --duration 10 --ttft-duration 10 --no-wire
#   bench/compare.sh --bin PATH          # use this switchyard binary, skip the build
#
# Steps:
#   1. builds release `switchyard`;
#   2. installs, if missing, guidellm (pinned, into bench/.venv-guidellm), and wrk,
#      hyperfine and tcpdump from Debian (hyperfine and tcpdump are optional);
#   3. starts `switchyard sim --time-scale 0` and runs each tool against it for the same
#      duration, under bench/compare/measure.py (wall time, user+sys CPU of the tool's
#      process tree, CPU inside the load window, requests the simulator served):
#        a. switchyard bench, streaming, closed loop, 64 concurrent, 32 in / 16 out tokens
#        b. guidellm, streaming, throughput profile capped at 64 concurrent, same sizes
#           from a generated JSONL file (offline: no tokenizer, no hub)
#        c. wrk, non-streaming POST, 64 connections, 2 threads (not token-aware)
#        d. switchyard bench --no-stream, as (a)
#        a again, for the run-to-run spread
#   4. start-up: wall time of a one-request `switchyard bench`, 10 times (hyperfine);
#   5. TTFT accuracy: `switchyard sim --no-jitter --time-scale 0.25` (deepseek-v4-flash:
#      TTFT exactly 200 ms), `switchyard bench --concurrency 1000`; controls at 1 stream
#      and open loop at the same mean in-flight count; and (with tcpdump, as root or
#      passwordless sudo) loopback captures of the 1-stream run and of a second 1,000-
#      stream run that split the error into simulator-side and client-side parts;
#   6. prints Markdown tables (also saved as OUT/results.md).
#
# Results go to bench/out/compare-<UTC time>/ (or --out DIR).
set -euo pipefail

root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"

duration=15
ttft_duration=20
concurrency=64
wire=auto
out=""
bin=""
GUIDELLM_VERSION=0.8.1

usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --ttft-duration) ttft_duration=$2; shift 2 ;;
    --no-wire) wire=no; shift ;;
    --out) out=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
apt_updated=no
apt_install() { # apt_install PACKAGE: install one Debian package, 'apt-get update' once
  if [ "$apt_updated" = no ]; then
    as_root apt-get update -qq >/dev/null || true
    apt_updated=yes
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

out=${out:-bench/out/compare-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
py=python3
helpers=$root/bench/compare

# ---------------------------------------------------------------- 1. build
binary_from="--bin $bin"
if [ -z "$bin" ]; then
  binary_from="cargo build --release --locked -p switchyard"
  log "building release switchyard"
  cargo build --release --locked -p switchyard >&2
  bin=${CARGO_TARGET_DIR:-$root/target}/release/switchyard
fi
# Run a private copy (deleted at exit), so that a rebuild during the run cannot swap the
# binary under it.
cp "$bin" "$out/switchyard"
bin=$out/switchyard

# ---------------------------------------------------------------- 2. installs
venv=$root/bench/.venv-guidellm
have_guidellm() {
  [ -x "$venv/bin/guidellm" ] &&
    [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("guidellm"))' 2>/dev/null)" = "$GUIDELLM_VERSION" ]
}
if ! have_guidellm; then
  log "installing guidellm $GUIDELLM_VERSION into $venv (pulls torch: ~6 GB, a few minutes)"
  $py -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  if ! "$venv/bin/pip" install -q -c "$helpers/guidellm-constraints.txt" "guidellm[perf]==$GUIDELLM_VERSION" >&2; then
    log "the tested versions did not install on this Python; trying the guidellm pin alone"
    "$venv/bin/pip" install -q "guidellm[perf]==$GUIDELLM_VERSION" >&2
  fi
fi
command -v wrk >/dev/null || { log "installing wrk"; apt_install wrk; }
command -v hyperfine >/dev/null || { log "installing hyperfine"; apt_install hyperfine || log "no hyperfine: start-up falls back to a shell loop"; }
if [ "$wire" = auto ]; then
  if [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then
    command -v tcpdump >/dev/null || { log "installing tcpdump"; apt_install tcpdump || true; }
  fi
  if command -v tcpdump >/dev/null && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then wire=yes; else wire=no; fi
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- helpers
sims=()
tcpdump_pid=""
wire_dir=""
cleanup() {
  for p in "${sims[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$tcpdump_pid" ] && { as_root kill -TERM "$tcpdump_pid" 2>/dev/null || true; }
  [ -n "$wire_dir" ] && rm -rf "$wire_dir"
  wait 2>/dev/null || true
  rm -f "$out/switchyard" # the private copy of the binary (77 MB with debug info)
}
trap cleanup EXIT INT TERM

start_sim() { # start_sim LOG ARGS...: sets sim_pid and sim_url
  local logf=$1
  shift
  "$bin" sim --listen 127.0.0.1:0 "$@" >"$logf" 2>&1 &
  sim_pid=$!
  sims+=("$sim_pid")
  sim_url=""
  for _ in $(seq 200); do
    sim_url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$logf")
    [ -n "$sim_url" ] && return 0
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.05
  done
  log "the simulator did not start:"
  cat "$logf" >&2
  exit 1
}
# Loopback packet capture of the simulator's port, for bench/compare/wire_ttft.py: the
# simulator's own time to first token, free of the client's scheduling.
start_capture() { # start_capture NAME
  [ -n "$wire_dir" ] || { wire_dir=$(mktemp -d); chmod 0777 "$wire_dir"; }
  local pre=()
  [ "$(id -u)" = 0 ] || pre=(sudo -n)
  "${pre[@]}" tcpdump -i lo -s 200 -B 65536 --time-stamp-precision=nano -Z "$(id -un)" \
    -w "$wire_dir/$1.pcap" "tcp port ${sim_url##*:} and (tcp[tcpflags] & tcp-push != 0)" \
    2>"$out/tcpdump-$1.log" &
  tcpdump_pid=$!
  for _ in $(seq 50); do grep -q listening "$out/tcpdump-$1.log" && break; sleep 0.1; done
}
stop_capture() { # stop_capture NAME: stop tcpdump, analyse, delete the capture
  sleep 0.3
  as_root kill -TERM "$tcpdump_pid" 2>/dev/null || true
  wait "$tcpdump_pid" 2>/dev/null || true
  tcpdump_pid=""
  $py "$helpers/wire_ttft.py" "$wire_dir/$1.pcap" "${sim_url##*:}" --out "$out/wire_$1.json" >/dev/null ||
    log "no wire figures for $1"
  rm -f "$wire_dir/$1.pcap"
}
stop_sim() { kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; }

measure() { # measure NAME CMD...: run CMD under measure.py, output in $out/NAME.*
  local name=$1
  shift
  printf '%q ' "$@" >"$out/$name.cmd"
  local rc=0
  $py "$helpers/measure.py" --out "$out/$name.measure.json" --sim "$sim_url" \
    --sim-pid "$sim_pid" --timeout "$((duration * 4 + 120))" \
    --stdout "$out/$name.stdout" --stderr "$out/$name.stderr" -- "$@" || rc=$?
  [ "$rc" = 0 ] || { log "$name exited with status $rc; its stderr:"; tail -20 "$out/$name.stderr" >&2; }
}

{
  echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host_cores=$(nproc)"
  echo "cpu_model=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "switchyard_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null)$(git -C "$root" diff --quiet 2>/dev/null || echo '+dirty')"
  echo "binary_from=$binary_from"
  echo "guidellm=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("guidellm"))')"
  echo "torch=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))')"
  echo "wrk=$(wrk --version 2>&1 | head -1 | awk '{print $2}')"
  echo "hyperfine=$(hyperfine --version 2>/dev/null | awk '{print $2}')"
  echo "duration_s=$duration"
  echo "ttft_duration_s=$ttft_duration"
  echo "concurrency=$concurrency"
} >"$out/meta.env"

# ---------------------------------------------------------------- 3. throughput and client CPU
start_sim "$out/sim.log" --time-scale 0
log "simulator (time scale 0) at $sim_url; results in $out"
target=$sim_url/openai/any/v1
model=bench-model
key=bench

# Prompts: enough rows that guidellm does not run out (it stops when the file ends).
$py "$helpers/gen_prompts.py" "$out/prompts.jsonl" --rows 30000 --input-tokens 32 --output-tokens 16

log "a. switchyard bench, streaming, ${duration}s"
measure sy_stream "$bin" bench --target "$target" --model "$model" --api-key "$key" \
  --concurrency "$concurrency" --output-tokens 16 --input-tokens 32 --duration "${duration}s" \
  --quiet --json "$out/sy_stream.json"

log "b. guidellm, streaming, throughput profile at $concurrency, ${duration}s (+ its start-up)"
# Offline: rows carry `prompt` and `output_tokens_count`, so no tokenizer is built; token
# counts come from the usage the simulator returns. The HF_* variables make any attempt
# to reach the hub fail at once instead of hanging; HF_HOME keeps the datasets cache here.
measure guidellm env HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  HF_HOME="$out/hf-home" \
  "$venv/bin/guidellm" run \
  --backend "kind=openai_http,target=$sim_url/openai/any,model=$model,api_key=$key,validate_backend=false,max_tokens=16" \
  --profile "kind=throughput,max_concurrency=$concurrency" \
  --constraint "kind=max_duration,seconds=$duration" \
  --data "kind=json_file,path=$out/prompts.jsonl" \
  --output "kind=json,path=$out/guidellm.json" \
  --disable-progress

log "c. wrk, non-streaming, ${duration}s"
body=$($py -c '
import json, sys
row = json.loads(open(sys.argv[1]).readline())
print(json.dumps({"model": sys.argv[2], "messages": [{"role": "user", "content": row["prompt"]}],
                  "max_tokens": 16, "stream": False}))' "$out/prompts.jsonl" "$model")
measure wrk env WRK_BODY="$body" WRK_API_KEY="$key" \
  wrk -t2 -c"$concurrency" -d"${duration}s" --latency -s "$helpers/wrk_post.lua" \
  "$target/chat/completions"

log "d. switchyard bench --no-stream, ${duration}s"
measure sy_nostream "$bin" bench --target "$target" --model "$model" --api-key "$key" \
  --concurrency "$concurrency" --output-tokens 16 --input-tokens 32 --duration "${duration}s" \
  --no-stream --quiet --json "$out/sy_nostream.json"

log "a again (run-to-run spread): switchyard bench, streaming, ${duration}s"
measure sy_stream2 "$bin" bench --target "$target" --model "$model" --api-key "$key" \
  --concurrency "$concurrency" --output-tokens 16 --input-tokens 32 --duration "${duration}s" \
  --quiet --json "$out/sy_stream2.json"

# ---------------------------------------------------------------- 4. start-up
log "start-up: one-request switchyard bench, 10 runs"
one=("$bin" bench --target "$target" --model "$model" --api-key "$key" --requests 1
  --concurrency 1 --output-tokens 16 --input-tokens 32 --quiet)
printf '%q ' "${one[@]}" >"$out/startup.cmd"
if command -v hyperfine >/dev/null; then
  timeout 120 hyperfine -N --warmup 1 --runs 10 --export-json "$out/startup.json" \
    "${one[*]}" >"$out/startup.stdout" 2>&1
else
  times=()
  for _ in $(seq 10); do
    t0=$(date +%s%N)
    timeout 30 "${one[@]}" >/dev/null
    t1=$(date +%s%N)
    times+=("$(((t1 - t0) / 1000))")
  done
  $py -c '
import json, sys
t = [int(x) / 1e6 for x in sys.argv[2:]]
json.dump({"results": [{"mean": sum(t) / len(t), "max": max(t), "min": min(t), "times": t,
                        "tool": "date +%s%N loop"}]}, open(sys.argv[1], "w"))' \
    "$out/startup.json" "${times[@]}"
fi
stop_sim

# ---------------------------------------------------------------- 5. TTFT accuracy
start_sim "$out/sim-ttft.log" --time-scale 0.25 --no-jitter
log "TTFT accuracy: simulator (no jitter, time scale 0.25) at $sim_url"
ttarget=$sim_url/deepseek/global
tmodel=deepseek-v4-flash
tt() { # tt NAME ARGS...: one switchyard bench run against the TTFT simulator
  local name=$1
  shift
  measure "$name" "$bin" bench --target "$ttarget" --model "$tmodel" --api-key "$key" \
    --output-tokens 16 --quiet --json "$out/$name.json" "$@"
}
log "TTFT at 1,000 concurrent streams, ${ttft_duration}s"
tt ttft_c1000 --concurrency 1000 --duration "${ttft_duration}s"
log "TTFT control: 1 stream, 8s"
if [ "$wire" = yes ]; then start_capture c1; fi
tt ttft_c1 --concurrency 1 --duration 8s
if [ "$wire" = yes ]; then stop_capture c1; fi
# A request lasts 0.25 * (0.8 s + 15 tokens / 80 tok/s) = 0.246875 s, so 4,000 req/s
# keeps about 990 requests in flight (Little's law), evenly spaced instead of in step.
log "TTFT control: open loop, 4,000 req/s, 10s"
tt ttft_open4000 --rate 4000 --duration 10s
if [ "$wire" = yes ]; then
  log "TTFT split: 1,000 streams for 8s under a loopback packet capture"
  start_capture c1000
  tt ttft_c1000_wire --concurrency 1000 --duration 8s
  stop_capture c1000
fi
stop_sim
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.env"

# ---------------------------------------------------------------- 6. report
$py "$helpers/report.py" "$out" --ttft-expected-ms 200 | tee "$out/results.md"
log "done: $out/results.md"
