#!/usr/bin/env bash
# deploy/container/build.sh — build the gateway's container image from a release binary.
#
#   deploy/container/build.sh [--binary target/release/switchyard] [--base IMAGE]
#                             [--tag switchyard:VERSION] [--engine podman|buildah|docker]
#
# The build context is a temporary directory holding only the binary, an empty data/
# directory and the Containerfile (never the repository or target/). --base is passed as
# the BASE build argument (see Containerfile for what it must provide). Prints the tag.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(cd "$here/../.." && pwd)

binary="$root/target/release/switchyard"
base=""
tag=""
engine=""
while (($#)); do
    case $1 in
        --binary) binary=$2; shift 2 ;;
        --base) base=$2; shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        --engine) engine=$2; shift 2 ;;
        *) echo "build.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
if [[ ! -x $binary ]]; then
    echo "build.sh: $binary is not an executable; run: cargo build --release --locked -p switchyard" >&2
    exit 1
fi
if [[ -z $engine ]]; then
    for e in podman buildah docker; do
        if command -v "$e" >/dev/null 2>&1; then engine=$e; break; fi
    done
fi
[[ -n $engine ]] || { echo "build.sh: no podman, buildah or docker found" >&2; exit 1; }
if [[ -z $tag ]]; then
    version=$("$binary" --version | awk '{print $2}')
    tag="switchyard:${version}"
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$binary" "$context/switchyard"
# Debug info stays out of the image (release builds keep it for profiling).
if command -v strip >/dev/null 2>&1; then
    strip --strip-debug "$context/switchyard"
fi
mkdir "$context/data"
cp "$here/Containerfile" "$context/Containerfile"
args=(-f "$context/Containerfile" -t "$tag")
[[ -z $base ]] || args+=(--build-arg "BASE=$base")
# Docker's image format: the OCI format has no HEALTHCHECK.
case $engine in
    buildah) buildah bud --format docker "${args[@]}" "$context" >&2 ;;
    podman) podman build --format docker "${args[@]}" "$context" >&2 ;;
    *) "$engine" build "${args[@]}" "$context" >&2 ;;
esac
echo "$tag"
