#!/usr/bin/env bash
# bench/peers.sh — gateways side by side in front of one simulator: direct (the simulator
# itself), nginx, the floor of our HTTP stack (proxy_floor), Switchyard, the LiteLLM proxy
# and Portkey's gateway, at the same rates,
# interleaved; CPU per request, added p50/p99 vs direct, RSS. Markdown on stdout.
#
#   bench/peers.sh                                   # 100,2000,5000 req/s whole + 100,1000 streamed, 10 s each
#                                                    # (LiteLLM up to 100 req/s, Portkey up to 200: they saturate above)
#   bench/peers.sh --rates 1000 --stream-rates '' --duration 5 --targets direct,nginx,switchyard
#
# Builds the release binary, installs Debian's nginx when it is missing (root or sudo),
# then runs bench/peers.py, which installs LiteLLM (pip, in a venv) and Portkey's gateway
# (npm) under $CARGO_TARGET_DIR/peers/ on first use, pinned, and skips a target whose
# install or start fails with a line saying why. Loopback only; everything it starts is
# killed when it exits.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"

# Like scripts/test's debian_tool: install a Debian package when its binary is missing.
debian_tool() {
    local binary=$1 package=$2
    if [[ -x $binary ]]; then
        return 0
    fi
    local as_root=()
    if ((EUID != 0)); then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "bench/peers.sh: $binary is missing, and installing it needs root or sudo" >&2
            return 1
        fi
        as_root=(sudo)
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "bench/peers.sh: $binary is missing and there is no apt-get to install it" >&2
        return 1
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$package" >&2
}

if [[ " $* " != *" --targets "* || " $* " == *nginx* ]]; then
    # Without nginx the script goes on and peers.py skips the target, saying why.
    debian_tool /usr/sbin/nginx nginx || echo "bench/peers.sh: nginx could not be installed; it will be skipped" >&2
fi
cargo build --release --locked -p switchyard -p switchyard-bench --bin switchyard --bin proxy_floor >&2
target=${CARGO_TARGET_DIR:-$root/target}
exec python3 "$root/bench/peers.py" --bin "$target/release/switchyard" "$@"
