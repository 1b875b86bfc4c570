#!/bin/sh
# Installs the Debian 12 packages Sluice needs to build, test and run. A no-op (no apt-get call,
# no network) when everything is already present.
# Usage: scripts/deps.sh [build|test|all|container|bench]
# `container` is the optional group for the image build and capability contract tests
# (tests/container, run as root by .ci/run); `bench` adds the load generators, nginx and
# profilers of bench/run and bench/micro.sh. `all` leaves both out so `make test` never pulls
# them.
set -eu

build_pkgs="gcc make cmake pkg-config libh2o-evloop-dev libyaml-dev libjansson-dev libssl-dev
    zlib1g-dev ca-certificates"
test_pkgs="libcmocka-dev curl nghttp2-client clang libclang-rt-14-dev nodejs npm valgrind
    clang-format"
container_pkgs="buildah debootstrap debian-archive-keyring libcap2-bin iproute2 curl openssl binutils"
bench_pkgs="wrk nghttp2-client nginx-light linux-perf valgrind util-linux curl"

case "${1:-all}" in
build) pkgs="$build_pkgs" ;;
test | all) pkgs="$build_pkgs $test_pkgs" ;;
container) pkgs="$container_pkgs" ;;
bench) pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
*)
    echo "usage: $0 [build|test|all|container|bench]" >&2
    exit 2
    ;;
esac

missing=""
for p in $pkgs; do
    # node and npm may come from NodeSource or nvm instead of Debian; accept any working copy.
    case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "deps: need root (or sudo) to install:$missing" >&2
        exit 1
    }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Refresh package lists only if they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mtime -1 2>/dev/null | head -1)" ]; then
    $sudo apt-get update -q
fi
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
