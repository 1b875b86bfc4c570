#!/bin/sh
# `make run`: starts the project's mock LLM upstream on 127.0.0.1:3001 (what the example
# resources point at) and Sluice on the given config (default examples/config.yaml) in the
# foreground. Ctrl-C drains Sluice and stops both.
set -eu
config=${1:-examples/config.yaml}
bin=build/sluice
mock=build/tests/mock/sluice-mock
for f in "$bin" "$mock"; do
    [ -x "$f" ] || { echo "run: $f is missing; run 'make' first" >&2; exit 1; }
done
"$mock" --listen 127.0.0.1:3001 --quiet >/dev/null &
mock_pid=$!
trap 'kill "$mock_pid" 2>/dev/null || true' EXIT INT TERM
cat <<MSG
run: mock upstream on http://127.0.0.1:3001 (pid $mock_pid); starting sluice on $config
run: try:
  curl -s http://127.0.0.1:3000/v1/chat/completions -H 'Authorization: Bearer sk-sluice-example' \\
    -H 'Content-Type: application/json' \\
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'
MSG
"$bin" --config "$config"
