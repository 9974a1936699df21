#!/usr/bin/env bash
# bench/fuzz.sh — a bounded cargo-fuzz (libFuzzer) campaign over every fuzz target, one
# after another, then the new inputs merged into the committed corpus, minimised.
#
#   bench/fuzz.sh                                  # every target, 10,000,000 runs each
#   bench/fuzz.sh --runs 1000000 --targets sse_stream,parse_error
#   bench/fuzz.sh --max-time 900 --rss-mb 1024     # stop a target after 15 min, 1 GB RSS
#   bench/fuzz.sh --sanitizer address              # AddressSanitizer build (slower)
#   bench/fuzz.sh --no-merge                       # leave fuzz/corpus/ as it is
#   bench/fuzz.sh --merge-only                     # no fuzzing: just minimise fuzz/corpus/
#
# Targets (fuzz/fuzz_targets/, the harnesses are in crates/fuzz/src/lib.rs):
# request_prepare, sse_stream, parse_error, config_parse, other_apis.
#
# Needs the nightly toolchain (rustup installs it when missing) and cargo-fuzz
# (`cargo install cargo-fuzz --locked` when missing). Each target runs with
# -runs=N and -max_total_time as a safety bound, -rss_limit_mb set, under `nice`; new
# inputs go to a scratch directory under the target dir, not to fuzz/corpus/. A crash
# stops that target (libFuzzer writes the input to fuzz/artifacts/<target>/) and the
# script goes on with the next, then exits 1. With no crash, the new inputs are merged
# into fuzz/corpus/<target>/ by `cargo fuzz cmin`, which keeps the fewest inputs that
# cover every edge (-use_counters=0: telling hit counts apart would keep several times
# more files for little more coverage). Crashes, once fixed, belong in
# fuzz/regressions/<target>/: the corpus test (crates/fuzz/tests/corpus.rs, run by
# scripts/test) replays both directories on stable.
#
# Prints one Markdown table for docs/BENCHMARKS.md: executions, exec/s, seconds, corpus
# files and size after the merge, crashes. ASan is off by default: the workspace forbids
# unsafe code, so what a campaign here hunts is panics, overflows (debug assertions and
# overflow checks are on in cargo-fuzz builds) and unbounded allocation, which need no
# sanitizer; --sanitizer address is there for the dependencies' unsafe code.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

all_targets=(request_prepare sse_stream parse_error config_parse other_apis)
runs=10000000
max_time=3600
rss_mb=2048
sanitizer=none
merge=1
fuzzing=1
targets=("${all_targets[@]}")
while (($#)); do
    case $1 in
        --runs) runs=$2; shift ;;
        --max-time) max_time=$2; shift ;;
        --rss-mb) rss_mb=$2; shift ;;
        --sanitizer) sanitizer=$2; shift ;;
        --targets) IFS=, read -r -a targets <<<"$2"; shift ;;
        --no-merge) merge=0 ;;
        --merge-only) fuzzing=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench/fuzz.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for t in "${targets[@]}"; do
    if [[ ! " ${all_targets[*]} " == *" $t "* ]]; then
        echo "bench/fuzz.sh: unknown target '$t' (targets: ${all_targets[*]})" >&2
        exit 2
    fi
done

root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"

# A non-login shell may not have rustup's bin dir on PATH.
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "==> installing the nightly toolchain (cargo-fuzz needs it)" >&2
    rustup toolchain install nightly --profile minimal >&2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked >&2
fi

target_dir=${CARGO_TARGET_DIR:-$root/target}
fuzz_target_dir=$target_dir/fuzz
work=$target_dir/fuzz-work
mkdir -p "$work"
fuzz=(nice -n 10 cargo +nightly fuzz)
common=(-s "$sanitizer" --target-dir "$fuzz_target_dir")

echo "==> building the fuzz targets (sanitizer: $sanitizer)" >&2
"${fuzz[@]}" build "${common[@]}" >&2

# One libFuzzer statistic (`stat::<name>: <value>`) from a log.
stat() {
    sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

rows=()
crashed=()
for t in "${targets[@]}"; do
    scratch=$work/$t
    artifacts=$root/fuzz/artifacts/$t
    log=$work/$t.log
    rm -rf "$scratch"
    mkdir -p "$scratch" "$artifacts" "$root/fuzz/corpus/$t"
    seeds=("$root/fuzz/corpus/$t")
    [[ -d $root/fuzz/regressions/$t ]] && seeds+=("$root/fuzz/regressions/$t")
    before=$(find "$artifacts" -type f | wc -l)
    started=$SECONDS
    status=0
    if ((fuzzing)); then
        echo "==> $t: up to $runs runs, $max_time s, ${rss_mb} MB (log: $log)" >&2
        "${fuzz[@]}" run "${common[@]}" "$t" "$scratch" "${seeds[@]}" -- \
            -runs="$runs" -max_total_time="$max_time" -rss_limit_mb="$rss_mb" -timeout=30 \
            -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    else
        printf 'stat::number_of_executed_units: -\nstat::average_exec_per_sec: -\n' >"$log"
    fi
    secs=$((SECONDS - started))
    execs=$(stat number_of_executed_units "$log")
    rate=$(stat average_exec_per_sec "$log")
    crashes=$(($(find "$artifacts" -type f | wc -l) - before))
    if ((status != 0)) && ((crashes == 0)); then
        crashes=1 # libFuzzer failed without an artifact (a deadly signal it could not save)
    fi
    if ((crashes > 0)); then
        crashed+=("$t")
        echo "    $t: CRASH (exit $status); inputs in $artifacts, see $log" >&2
        grep -m 5 -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" >&2 || true
    elif ((merge)); then
        new=$(find "$scratch" -type f | wc -l)
        echo "    $t: merging $new new input(s) into fuzz/corpus/$t (cargo fuzz cmin)" >&2
        cp -n "$scratch"/* "$root/fuzz/corpus/$t/" 2>/dev/null || true
        "${fuzz[@]}" cmin "${common[@]}" "$t" "$root/fuzz/corpus/$t" -- \
            -use_counters=0 -rss_limit_mb="$rss_mb" -timeout=30 >"$work/$t.cmin.log" 2>&1
    fi
    files=$(find "$root/fuzz/corpus/$t" -type f | wc -l)
    size=$(du -sk --apparent-size "$root/fuzz/corpus/$t" | cut -f1)
    rows+=("| \`$t\` | ${execs:-?} | ${rate:-?} | $secs | $files | ${size} KB | $crashes |")
    echo "    $t: ${execs:-?} executions, ${rate:-?} exec/s, $secs s, crashes: $crashes" >&2
done

echo
echo "| target | executions | exec/s | seconds | corpus files | corpus size | crashes |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
if ((${#crashed[@]})); then
    echo >&2
    echo "bench/fuzz.sh: crashes in: ${crashed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
