# Shared by the container scripts (sourced, POSIX sh). Everything they keep between runs lives
# under one cache directory on the CI machine, away from the system's own container storage:
#   $cache/debian-bookworm-minbase.tar  the debootstrapped base (see base.sh)
#   $cache/storage                      buildah's image store (vfs driver)
#   $cache/tmp                          buildah's temporary files and RUN --mount=type=cache dirs
# Override the location with SLUICE_CI_CACHE.

cache=${SLUICE_CI_CACHE:-/var/cache/sluice-ci}
# shellcheck disable=SC2034 # used by base.sh
mirror=${SLUICE_CI_MIRROR:-http://deb.debian.org/debian}
# shellcheck disable=SC2034
security_mirror=${SLUICE_CI_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

mkdir -p "$cache/tmp" "$cache/storage"
# buildah 1.28 keeps RUN --mount=type=cache directories under $TMPDIR/buildah-cache-<uid>, so
# pointing TMPDIR into the cache keeps the builder's apt downloads between runs (/var/tmp may be
# cleaned, /tmp is often a tmpfs).
export TMPDIR="$cache/tmp"

# buildah on the vfs driver with a private store; no daemon, no registry.
bh() {
    buildah --root "$cache/storage" --runroot /run/sluice-ci/storage --storage-driver vfs "$@"
}

# Serialise runs that share the cache (two CI jobs on one machine). A script started by one
# that holds the lock does not take it again.
lock_cache() {
    [ -z "${SLUICE_CI_LOCKED:-}" ] || return 0
    exec 9>"$cache/lock"
    flock 9
    export SLUICE_CI_LOCKED=1
}

note() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
    note "$*"
    exit 1
}
