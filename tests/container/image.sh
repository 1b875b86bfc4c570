#!/bin/sh
# Builds deploy/Dockerfile with Debian's buildah (no daemon, no registry: vfs storage, chroot
# isolation, bases from base.sh) and checks the image it produces:
#   - the config: User 10001, the tini + sluice-entrypoint ENTRYPOINT, EXPOSE 3000 9090;
#   - the layers (read from the pushed layer tars): /usr/local/bin/sluice is in exactly one layer,
#     and that layer's tar entry carries the file capability (extracted with its xattrs and read
#     back with getcap); no layer ever held setcap (libcap2-bin came and went in one RUN);
#   - the binary's layer holds the binary and its debug file and nothing else (no whiteout, no
#     dpkg or apt logs);
#   - the root filesystem (a working container of the image, as the runtime would unpack it):
#     getcap shows cap_net_bind_service=ep, libcap2-bin is not installed, the sluice user and
#     the directories it owns; the binary is stripped, its debug file is under
#     /usr/lib/debug/.build-id with the same build id; every library the binary links is there,
#     and libjansson4 is not installed unless the binary links it;
#   - then contract.sh against that root filesystem, chrooted: scenarios (a)-(e) and the image's
#     run-time checks (default config, exit 64, --version).
# Prints PASS/FAIL per check and ends with "N passed, N failed" over everything (the contract's
# scenarios included); exits 1 if anything failed. Run as root from anywhere.
#
# Every instruction runs on every call (--layers for Docker's one-layer-per-instruction images,
# --no-cache so nothing is reused from an earlier run); the builder's apt downloads come from the
# RUN --mount=type=cache directory under $SLUICE_CI_CACHE. The image and its intermediate layers
# are removed at the end unless SLUICE_CI_KEEP_IMAGE=1.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/container/lib.sh
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root"
command -v buildah >/dev/null 2>&1 || die "buildah not found (scripts/deps.sh container)"

image=localhost/sluice:ci-$$
work=$(mktemp -d /tmp/sluice-image.XXXXXX)
ctr=""
# shellcheck source=tests/container/tally.sh
. "$here/tally.sh"
t0=$(date +%s)
phase() { note "$1 ($(($(date +%s) - t0)) s)"; }

cleanup() {
    if [ -n "$ctr" ]; then
        bh umount "$ctr" >/dev/null 2>&1
        bh rm "$ctr" >/dev/null 2>&1
    fi
    # Working containers a killed build left behind (the store is ours and we hold its lock).
    bh rm --all >/dev/null 2>&1
    if [ "${SLUICE_CI_KEEP_IMAGE:-}" != 1 ]; then
        bh rmi -f "$image" >/dev/null 2>&1
        # Intermediate layers of this build (untagged); the tagged bases stay.
        bh rmi --prune >/dev/null 2>&1
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

check() { # check NAME GOT WANT
    if [ "$2" = "$3" ]; then pass "$1 [$2]"; else fail "$1: got '$2', want '$3'"; fi
}

lock_cache
phase "bases"
"$here/base.sh" || die "could not make the base images"

phase "building $image from deploy/Dockerfile"
if ! (cd "$repo" && bh bud --pull=never --isolation chroot --layers --no-cache \
    -f deploy/Dockerfile -t "$image" .) >"$work/build.log" 2>&1; then
    tail -40 "$work/build.log" >&2
    fail "image build (log above)"
    echo "$passed passed, $failed failed"
    exit 1
fi
pass "image build: buildah bud --layers --no-cache, bases debian:bookworm and debian:bookworm-slim"

phase "image config"
fmt='{{range .OCIv1.Config.Entrypoint}}{{.}} {{end}}'
entrypoint=$(bh inspect --type image --format "$fmt" "$image")
check "config: User" "$(bh inspect --type image --format '{{.OCIv1.Config.User}}' "$image")" 10001
check "config: Entrypoint" "$entrypoint" "/usr/bin/tini -- /usr/local/bin/sluice-entrypoint "
# shellcheck disable=SC2016 # a Go template
fmt='{{range $p, $v := .OCIv1.Config.ExposedPorts}}{{$p}} {{end}}'
check "config: ExposedPorts" "$(bh inspect --type image --format "$fmt" "$image")" \
    "3000/tcp 9090/tcp "

phase "layers"
# Uncompressed, so each blob's name is the layer's DiffID.
bh push --quiet --disable-compression "$image" "dir:$work/layers" >/dev/null ||
    die "buildah push to dir: failed"
fmt='{{range .OCIv1.RootFS.DiffIDs}}{{println .}}{{end}}'
n=0
with_bin=""
with_setcap=""
for id in $(bh inspect --type image --format "$fmt" "$image"); do
    n=$((n + 1))
    tar -tf "$work/layers/${id#sha256:}" >"$work/layer$n.list" || die "cannot read layer $n"
    if grep -qE '^(\./)?usr/local/bin/(sluice|\.wh\.sluice)$' "$work/layer$n.list"; then
        with_bin="$with_bin $n"
        bin_layer=$work/layers/${id#sha256:}
    fi
    if grep -qE '^(\./)?(usr/)?s?bin/(setcap|getcap|\.wh\.setcap)$' "$work/layer$n.list"; then
        with_setcap="$with_setcap $n"
    fi
done
# shellcheck disable=SC2086 # count the words
if [ "$(echo $with_bin | wc -w)" = 1 ]; then
    pass "layers: /usr/local/bin/sluice is in exactly one of $n layers (layer$with_bin)"
    # That layer holds the binary and its debug file only: no whiteout of a mount point the RUN
    # used, no dpkg or apt logs, no package database (no package is installed in that RUN).
    # shellcheck disable=SC2086
    check "layers: the binary's layer holds only the binary and its debug file" \
        "$(sed 's|^\./||; s|/$||' "$work/layer$(echo $with_bin).list" | grep -vxE \
            'usr|usr/local|usr/local/bin|usr/local/bin/sluice|usr/lib|usr/lib/debug|usr/lib/debug/\.build-id|usr/lib/debug/\.build-id/[0-9a-f]{2}|usr/lib/debug/\.build-id/[0-9a-f]{2}/[0-9a-f]{38}\.debug' |
            tr '\n' ' ')" ""
    mkdir "$work/x"
    tar --xattrs --xattrs-include='security.capability' -xpf "$bin_layer" -C "$work/x" \
        usr/local/bin/sluice
    check "layers: the capability travels in that layer's tar (getcap on the extracted file)" \
        "$(getcap "$work/x/usr/local/bin/sluice" | awk '{ print $2 }')" cap_net_bind_service=ep
else
    fail "layers: /usr/local/bin/sluice must be in exactly one layer, found in:${with_bin:- none}"
fi
check "layers: setcap/getcap (libcap2-bin) in no layer" "${with_setcap:- none}" " none"

phase "root filesystem"
ctr=$(bh from --pull=never --name "sluice-ci-$$" "$image") || die "buildah from failed"
mnt=$(bh mount "$ctr") || die "buildah mount failed"
check "rootfs: getcap /usr/local/bin/sluice" \
    "$(getcap "$mnt/usr/local/bin/sluice" | awk '{ print $2 }')" cap_net_bind_service=ep
check "rootfs: libcap2-bin not installed" \
    "$(dpkg-query --admindir="$mnt/var/lib/dpkg" -W -f '${Status}' libcap2-bin 2>/dev/null |
        grep -c 'install ok installed')" 0
check "rootfs: no setcap binary" "$(ls "$mnt/usr/sbin/setcap" "$mnt/sbin/setcap" 2>/dev/null)" ""
check "rootfs: user sluice" "$(grep '^sluice:' "$mnt/etc/passwd")" \
    "sluice:x:10001:10001::/nonexistent:/usr/sbin/nologin"
check "rootfs: group sluice" "$(grep '^sluice:' "$mnt/etc/group" | cut -d: -f1,3)" sluice:10001
check "rootfs: /etc/sluice and /var/lib/sluice owned by 10001" \
    "$(cd "$mnt" && stat -c '%n %u:%g' etc/sluice var/lib/sluice | tr '\n' ' ')" \
    "etc/sluice 10001:10001 var/lib/sluice 10001:10001 "
check "rootfs: tini and ca-certificates" \
    "$(find "$mnt/usr/bin/tini" "$mnt/etc/ssl/certs/ca-certificates.crt" 2>/dev/null | wc -l)" 2
check "rootfs: no apt lists left" "$(find "$mnt/var/lib/apt/lists" -mindepth 1 -maxdepth 1 \
    ! -name lock ! -name partial | wc -l)" 0

# The binary ships stripped; its debug info is a separate file where gdb looks for it by build
# id, and the binary's .gnu_debuglink names it.
bin=$mnt/usr/local/bin/sluice
build_id=$(readelf -n "$bin" | sed -n 's/^ *Build ID: \([0-9a-f]*\)$/\1/p')
check "rootfs: the binary is stripped (no .symtab, no .debug_* sections)" \
    "$(readelf -S -W "$bin" | grep -cE ' \.(symtab|debug_[a-z_]+) ')" 0
check "rootfs: the binary has a .gnu_debuglink" \
    "$(readelf -S -W "$bin" | grep -c ' \.gnu_debuglink ')" 1
debug=$mnt/usr/lib/debug/.build-id/$(echo "$build_id" | cut -c1-2)/$(echo "$build_id" | cut -c3-).debug
if [ -n "$build_id" ] && [ -f "$debug" ]; then
    check "rootfs: the debug file has the binary's build id" \
        "$(readelf -n "$debug" | sed -n 's/^ *Build ID: \([0-9a-f]*\)$/\1/p')" "$build_id"
    check "rootfs: the debug file holds the debug info (.debug_info)" \
        "$(readelf -S -W "$debug" | grep -c ' \.debug_info ')" 1
else
    fail "rootfs: no debug file for build id '$build_id' at ${debug#"$mnt"}"
fi
# With its debug info the binary is about five times larger (3 MB against 620 KB stripped,
# five provider families and their translations on board): a size past 1.5 MB means the
# shipped file kept it, whatever its section table says.
size=$(stat -c %s "$bin")
if [ "$size" -lt 1500000 ]; then
    pass "rootfs: the binary is $size bytes"
else
    fail "rootfs: the binary is $size bytes (stripped it is about 620 KB)"
fi

# The runtime packages follow the binary: every library it links is in the image, and
# libjansson4, which it does not link, is not installed.
missing=""
for lib in $(objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }'); do
    found=$(find "$mnt/usr/lib" "$mnt/lib" -maxdepth 2 -name "$lib" 2>/dev/null | head -n 1)
    [ -n "$found" ] || missing="$missing $lib"
done
check "rootfs: every NEEDED library of the binary is in the image" "${missing:- none}" " none"
if objdump -p "$bin" | grep -q 'NEEDED *libjansson'; then
    pass "rootfs: the binary links libjansson (so libjansson4 may be installed)"
else
    check "rootfs: libjansson4 not installed (the binary does not link it)" \
        "$(dpkg-query --admindir="$mnt/var/lib/dpkg" -W -f '${Status}' libjansson4 2>/dev/null |
            grep -c 'install ok installed')" 0
fi

phase "contract against the image's root filesystem"
version=$(sed -n 's/^project(sluice VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
# shellcheck disable=SC2086
SLUICE_EXPECT_VERSION="sluice $version" "$here/contract.sh" rootfs "$mnt" -- $entrypoint \
    >"$work/contract.out" 2>&1
cat "$work/contract.out"
summary=$(tail -1 "$work/contract.out")
case $summary in
*" passed, "*" failed")
    passed=$((passed + ${summary%% passed*}))
    rest=${summary#* passed, }
    failed=$((failed + ${rest%% failed}))
    ;;
*) fail "contract.sh did not finish" ;;
esac

phase "done"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
