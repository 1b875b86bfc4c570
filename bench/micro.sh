#!/bin/sh
# Instructions per request of the hot path under callgrind (see bench/micro.mjs).
# Options: --n1 N --n2 N --scenario NAME|all (bench/micro.mjs lists them) --top K --json FILE
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# wrk, h2load, nginx, valgrind, perf: a no-op when they are installed.
"$here/../scripts/deps.sh" bench
mkdir -p "$here/results"
exec node "$here/micro.mjs" --json "$here/results/micro-latest.json" "$@"
