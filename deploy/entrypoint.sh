#!/bin/sh
# Container entrypoint (installed as /usr/local/bin/sluice-entrypoint, started by tini): serves
# the config file named by SLUICE_CONFIG_PATH, or /etc/sluice/config.yaml. Extra arguments are
# passed on to sluice.
#
# SLUICE_CONFIG_PATH is removed from the environment before sluice starts: sluice treats every
# SLUICE_* variable as a config override and refuses to start on one that names no key.
set -eu

config=${SLUICE_CONFIG_PATH:-/etc/sluice/config.yaml}
unset SLUICE_CONFIG_PATH

if [ ! -f "$config" ]; then
    echo "sluice-entrypoint: config file $config not found; mount one there" \
        "(e.g. docker run -v \"\$PWD/config.yaml:/etc/sluice/config.yaml:ro\" ...)" \
        "or set SLUICE_CONFIG_PATH to its path" >&2
    exit 64
fi

exec /usr/local/bin/sluice --config "$config" "$@"
