#!/bin/sh
# Makes the two base images deploy/Dockerfile names, debian:bookworm (builder) and
# debian:bookworm-slim (runtime), without a registry: debootstrap a minbase Debian 12, configure
# it the way the official images are (deb822 sources with updates and security, the docker-*
# apt and dpkg settings, policy-rc.d, no apt lists or caches), and import it into buildah's store
# under the names `FROM` resolves to. The slim variant gets the official slimming (no docs, man
# pages or locales, and dpkg told not to install them).
#
# Cache: the debootstrapped tree is kept as a tar (with xattrs) and rebuilt when it is older than
# SLUICE_CI_BASE_MAX_AGE_DAYS (default 7) days, so security updates arrive within a week. The
# images are re-imported only when the tar changed. Cold: about 90 s. Warm: under a second.
# Run as root. Usage: tests/container/base.sh
set -eu
# shellcheck source=tests/container/lib.sh
. "$(dirname "$0")/lib.sh"

tarball=$cache/debian-bookworm-minbase.tar
stamp=$cache/debian-bookworm.imported
max_age=${SLUICE_CI_BASE_MAX_AGE_DAYS:-7}

# The settings the official debian images carry (debuerreotype's minimizing config), so the
# Dockerfile meets the same apt behaviour here as under docker build (docker-clean in particular,
# which deletes downloaded .debs after every install).
configure_like_official() {
    r=$1
    rm -f "$r/etc/apt/sources.list"
    cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
    printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' \
        >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' \
        >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
    echo 'force-unsafe-io' >"$r/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
    chmod 0755 "$r/usr/sbin/policy-rc.d"
    # The runtime supplies these; debootstrap copied the host's.
    : >"$r/etc/resolv.conf"
    : >"$r/etc/hostname"
    rm -rf "$r/var/lib/apt/lists/"* "$r/var/cache/apt/"*.bin "$r/var/cache/apt/archives/"*.deb \
        "$r/var/log/"*.log "$r/var/log/apt/"* "$r/var/cache/debconf/"*-old
}

slimify() {
    r=$1
    cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
    find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$r/usr/share/groff/"* "$r/usr/share/info/"* "$r/usr/share/linda/"* \
        "$r/usr/share/lintian/overrides/"* "$r/usr/share/locale/"* "$r/usr/share/man/"*
}

make_tarball() {
    tree=$(mktemp -d "$cache/tmp/debootstrap.XXXXXX")
    note "debootstrap --variant=minbase bookworm from $mirror"
    if ! debootstrap --variant=minbase bookworm "$tree" "$mirror" >"$tree.log" 2>&1; then
        tail -20 "$tree.log" >&2
        rm -rf "$tree" "$tree.log"
        die "debootstrap failed"
    fi
    configure_like_official "$tree"
    tar --xattrs --xattrs-include='*' --numeric-owner -C "$tree" -cf "$tarball.new" .
    mv "$tarball.new" "$tarball"
    rm -rf "$tree" "$tree.log"
}

import_base() {
    name=$1 slim=$2
    ctr=$(bh from --pull=never --name "sluice-ci-base-$$" scratch)
    mnt=$(bh mount "$ctr")
    tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$tarball" -C "$mnt"
    [ -z "$slim" ] || slimify "$mnt"
    bh umount "$ctr" >/dev/null
    bh config --cmd bash \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
    bh commit --quiet --rm "$ctr" "docker.io/library/debian:$name" >/dev/null
    note "imported docker.io/library/debian:$name"
}

lock_cache
if [ ! -f "$tarball" ] || [ -n "$(find "$tarball" -mtime +"$max_age")" ]; then
    make_tarball
fi
want=$(stat -c %Y "$tarball")
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] &&
    bh inspect --type image docker.io/library/debian:bookworm >/dev/null 2>&1 &&
    bh inspect --type image docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
    note "bases are up to date (debootstrapped $(date -u -d "@$want" +%FT%TZ))"
    exit 0
fi
bh rmi -f docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim \
    >/dev/null 2>&1 || true
import_base bookworm ""
import_base bookworm-slim slim
echo "$want" >"$stamp"
