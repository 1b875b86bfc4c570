#!/bin/sh
# Installs the end-to-end tests' npm packages, pinned by tests/e2e/package-lock.json. A no-op
# when node_modules is already up to date with the lock file.
set -eu
dir=$(dirname "$0")/../tests/e2e
stamp=$dir/node_modules/.package-lock.json
if [ -f "$stamp" ] && [ "$stamp" -nt "$dir/package-lock.json" ]; then
    exit 0
fi
npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
