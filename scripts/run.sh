#!/bin/sh
# `make run`: starts Sluice on the given config (default examples/config.yaml) in the foreground.
# Ctrl-C drains and stops it.
set -eu
config=${1:-examples/config.yaml}
bin=build/sluice
[ -x "$bin" ] || { echo "run: $bin is missing; run 'make' first" >&2; exit 1; }
echo "run: starting sluice on $config (Ctrl-C stops it)"
exec "$bin" --config "$config"
