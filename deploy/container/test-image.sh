#!/usr/bin/env bash
# deploy/container/test-image.sh — build the container image here and check what it
# holds, by running its entrypoint from the image's own filesystem.
#
#   deploy/container/test-image.sh [--binary target/release/switchyard]
#
# Where images cannot be pulled and containers cannot be run (this machine kind: crun
# cannot set rlimits), it:
#   1. builds a local base image from Debian's packages: libc6, libgcc-s1 and
#      ca-certificates unpacked with dpkg-deb (the CA bundle concatenated as
#      update-ca-certificates would), /etc/passwd and /etc/group with the user 10001,
#      imported with `podman import`;
#   2. builds deploy/container/Containerfile on it (deploy/container/build.sh);
#   3. checks the image's metadata: user 10001, the /data volume, the HEALTHCHECK, the
#      entrypoint;
#   4. mounts the image's filesystem (`buildah from` + `buildah mount`) and runs its
#      entrypoint there with `chroot --userspec=10001:10001`: `--version`, then `serve`
#      on a free loopback port, whose /healthz and one chat completion (the embedded
#      default's simulator) must answer, as must the image's own `healthcheck`;
#   5. checks that the gateway wrote nothing outside /data (a read-only root works).
# Needs root (chroot, image storage). Installs podman and buildah from Debian's packages
# when missing. Loopback only; removes what it made. Exit 0 = every check passed.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(cd "$here/../.." && pwd)
binary="$root/target/release/switchyard"
while (($#)); do
    case $1 in
        --binary) binary=$2; shift 2 ;;
        *) echo "test-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

say() { echo "test-image: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
((EUID == 0)) || fail "needs root (chroot and image storage)"
[[ -x $binary ]] || fail "$binary missing; run: cargo build --release --locked -p switchyard"
for tool in podman buildah; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        say "installing $tool (Debian)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$tool" >&2
    fi
done

run=$$
base_tag="localhost/switchyard-base:test-$run"
image_tag="localhost/switchyard:test-$run"
work=$(mktemp -d)
ctr=""
gw_pid=""
cleanup() {
    [[ -z $gw_pid ]] || kill -9 "$gw_pid" 2>/dev/null || true
    if [[ -n $ctr ]]; then
        buildah umount "$ctr" >/dev/null 2>&1 || true
        buildah rm "$ctr" >/dev/null 2>&1 || true
    fi
    podman rmi -f "$image_tag" "$base_tag" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# 1. The base, from Debian's packages.
say "building a base image from Debian's packages"
rootfs="$work/rootfs"
mkdir -p "$rootfs" "$work/debs"
(cd "$work/debs" && apt-get download libc6 libgcc-s1 ca-certificates >&2) \
    || fail "apt-get download failed (is the Debian mirror reachable? try apt-get update)"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
find "$rootfs/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z \
    | xargs -0 cat > "$rootfs/etc/ssl/certs/ca-certificates.crt"
[[ -s $rootfs/etc/ssl/certs/ca-certificates.crt ]] || fail "no CA certificates in the base"
printf 'root:x:0:0:root:/root:/sbin/nologin\nswitchyard:x:10001:10001::/data:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nswitchyard:x:10001:\n' > "$rootfs/etc/group"
tar -C "$rootfs" -c . | podman import - "$base_tag" >/dev/null

# 2. The image.
say "building the image on it"
"$here/build.sh" --binary "$binary" --base "$base_tag" --tag "$image_tag" --engine podman >/dev/null

# 3. Its metadata.
inspect() { podman image inspect "$image_tag" --format "$1"; }
[[ $(inspect '{{.Config.User}}') == "10001:10001" ]] || fail "user is '$(inspect '{{.Config.User}}')', not 10001:10001"
[[ $(inspect '{{json .Config.Volumes}}') == *'"/data"'* ]] || fail "no /data volume"
[[ $(inspect '{{json .Config.Entrypoint}}') == '["/usr/local/bin/switchyard"]' ]] || fail "entrypoint"
health=$(inspect '{{json .HealthCheck}}')
[[ $health == *'"healthcheck"'* ]] || fail "no HEALTHCHECK running the binary's healthcheck: $health"
say "metadata: user 10001, /data volume, HEALTHCHECK, entrypoint: ok"

# 4. The entrypoint, from the image's filesystem.
ctr=$(buildah from "$image_tag")
mnt=$(buildah mount "$ctr")
chroot_bin=$(command -v chroot)
inside() { env -i SWITCHYARD_DATA_DIR=/data "$chroot_bin" --userspec=10001:10001 "$mnt" /usr/local/bin/switchyard "$@"; }
version=$(inside --version)
[[ $version == switchyard\ * ]] || fail "--version printed '$version'"
say "--version: $version"
touch "$work/marker"
sleep 1
# A simple command, not the function, so that $! is the gateway itself (env and chroot exec).
env -i SWITCHYARD_DATA_DIR=/data "$chroot_bin" --userspec=10001:10001 "$mnt" \
    /usr/local/bin/switchyard serve --listen 127.0.0.1:0 > "$work/serve.log" 2>&1 &
gw_pid=$!
url=""
for _ in $(seq 1 150); do
    url=$(sed -n 's/^switchyard listening on \(http[^ ]*\).*/\1/p' "$work/serve.log" | head -1)
    [[ -n $url ]] && break
    kill -0 "$gw_pid" 2>/dev/null || { cat "$work/serve.log" >&2; fail "serve exited"; }
    sleep 0.1
done
[[ -n $url ]] || { cat "$work/serve.log" >&2; fail "serve did not say where it listens"; }
curl -fsS "$url/healthz" | grep -q '"ok"' || fail "/healthz from the image's gateway"
inside healthcheck --url "$url/healthz" || fail "the image's own healthcheck"
answer=$(curl -fsS "$url/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"deepseek-v4-flash","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}')
[[ $answer == *'"chat.completion"'* ]] || fail "a chat completion: $answer"
say "serve: /healthz, healthcheck and a chat completion answered at $url"
kill -INT "$gw_pid"
wait "$gw_pid" || fail "serve did not exit cleanly"
gw_pid=""

# 5. Nothing written outside /data.
written=$(cd "$mnt" && find . -xdev -newer "$work/marker" ! -path './data' ! -path './data/*' -print)
[[ -z $written ]] || fail "files written outside /data: $written"
[[ -n $(find "$mnt/data" -mindepth 1 -print -quit) ]] || fail "nothing written to /data (usage log?)"
say "wrote only under /data: ok"
say "all checks passed"
