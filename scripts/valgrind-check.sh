#!/bin/sh
# Reads the memcheck logs `make valgrind` left in DIR (one per sluice process) and fails if any
# reports an error or a definite leak. A log without a summary is a process that was killed
# (SIGKILL by a test, or a crash): listed, and a failure only if it holds an error report.
set -u
dir=${1:?usage: $0 LOG_DIR}
total=0 clean=0 unfinished=0 bad=""
for f in "$dir"/*.log; do
    [ -e "$f" ] || continue
    total=$((total + 1))
    if grep -qE 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write|free)|uninitialised|Mismatched free' "$f"; then
        bad="$bad $f"
    elif grep -q 'ERROR SUMMARY: 0 errors' "$f"; then
        clean=$((clean + 1))
    else
        unfinished=$((unfinished + 1))
    fi
done
echo "valgrind: $total sluice process(es): $clean clean, $unfinished killed before exit (no leak check), $(echo $bad | wc -w) with errors"
if [ "$total" -eq 0 ]; then
    echo "valgrind: no logs in $dir: did the tests run sluice under SL_TEST_WRAPPER?" >&2
    exit 1
fi
if [ -n "$bad" ]; then
    for f in $bad; do
        echo "--- $f"
        grep -E '^==[0-9]+== (Command|ERROR SUMMARY|   definitely lost)' "$f"
        sed -n '/^==[0-9]*== [A-Z][a-z]*.*\(Invalid\|uninitialised\|definitely lost in\|Mismatched\)/,/^==[0-9]*== $/p' "$f" | head -60
    done
    exit 1
fi
