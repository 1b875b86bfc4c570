#!/bin/bash
# Fuzzes every libFuzzer target found in DIR (a build of the fuzz preset) for SECONDS each.
#
#   scripts/fuzz.sh DIR SECONDS        e.g. scripts/fuzz.sh build-fuzz 60
#
# Each target fuzz_<name> starts from a temporary copy of fuzz/corpus/<name>/ (the repository is
# never written), with fuzz/<name>.dict when it exists. Prints one line per target with the
# executions, coverage (cov: edges, ft: features) and corpus size it reached, and exits 1 if any
# target crashed, leaked, timed out or ran out of memory; the input that did it is kept under
# FUZZ_ARTIFACTS (default fuzz/artifacts/, ignored by git) and its path printed. Turn a kept
# input into a regression test by copying it into fuzz/corpus/<name>/.
#
# Environment: FUZZ_JOBS (targets run at once, default 1), FUZZ_TIMEOUT (seconds one input may
# take, default 30), FUZZ_ARTIFACTS, FUZZ_LOGS (keep each target's libFuzzer log there),
# FUZZ_ONLY (space-separated target names, e.g. "sse json").
set -u
cd "$(dirname "$0")/.."

if [ $# -ne 2 ] || ! [ "$2" -gt 0 ] 2>/dev/null; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
dir=$1
secs=$2
jobs=${FUZZ_JOBS:-1}
per_input=${FUZZ_TIMEOUT:-30}
artifacts=${FUZZ_ARTIFACTS:-fuzz/artifacts}
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
# The fuzz preset builds UBSan checks recoverable; make the first report a crash libFuzzer keeps.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

targets=()
for bin in $(find "$dir" -type f -name 'fuzz_*' -perm -u+x | sort); do
    name=${bin##*/fuzz_}
    if [ -n "${FUZZ_ONLY:-}" ] && ! [[ " $FUZZ_ONLY " == *" $name "* ]]; then
        continue
    fi
    # A replay build (no SL_FUZZ) has the same names; only libFuzzer binaries take -help=1.
    if ! "$bin" -help=1 2>&1 | grep -q 'Usage:'; then
        echo "fuzz: $bin is not a libFuzzer binary (configure with: cmake --preset fuzz)" >&2
        exit 2
    fi
    targets+=("$bin")
done
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz: no fuzz_* binaries under $dir (build them with: make fuzz)" >&2
    exit 2
fi

# Runs one target; writes its summary line to $work/<name>.result.
run_one() {
    local bin=$1 name=${1##*/fuzz_}
    local corpus=$work/corpus-$name log=$work/$name.log dict=()
    mkdir -p "$corpus"
    if [ -d "fuzz/corpus/$name" ]; then
        cp -R "fuzz/corpus/$name/." "$corpus/"
    fi
    if [ -f "fuzz/$name.dict" ]; then
        dict=("-dict=fuzz/$name.dict")
    fi
    "$bin" "${dict[@]}" -max_total_time="$secs" -timeout="$per_input" -print_final_stats=1 \
        -artifact_prefix="$artifacts/$name-" "$corpus" >"$log" 2>&1
    local rc=$?
    local execs cov ft corp speed status artifact
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    # The last status line ("#N DONE cov: X ft: Y corp: Z/...") holds the final coverage.
    local last
    last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|INITED|NEW|REDUCE)' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    status=ok
    if [ $rc -ne 0 ] || [ -n "$artifact" ] || grep -q 'runtime error:' "$log"; then
        status="FAILED (exit $rc)"
    fi
    printf '%-22s executions=%-10s exec/s=%-7s cov=%-6s ft=%-6s corpus=%-6s %s\n' \
        "fuzz_$name" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
        "$status" >"$work/$name.result"
    if [ "$status" != ok ]; then
        {
            echo "  --- fuzz_$name: last lines of its log ---"
            grep -E 'ERROR|SUMMARY|check failed|runtime error|Test unit written|Base64' "$log" |
                head -20 | sed 's/^/  /'
            tail -5 "$log" | sed 's/^/  /'
            if [ -n "$artifact" ]; then
                echo "  crashing input saved as: $artifact"
                echo "  reproduce: $bin $artifact"
            fi
        } >>"$work/$name.result"
    fi
    if [ -n "${FUZZ_LOGS:-}" ]; then
        mkdir -p "$FUZZ_LOGS"
        cp "$log" "$FUZZ_LOGS/$name.log"
    fi
}

echo "fuzz: ${#targets[@]} target(s), ${secs}s each, $jobs at a time"
start=$(date +%s)
running=0
for bin in "${targets[@]}"; do
    run_one "$bin" &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
total=0
for bin in "${targets[@]}"; do
    name=${bin##*/fuzz_}
    cat "$work/$name.result"
    grep -q ' ok$' "$work/$name.result" || failed=$((failed + 1))
    n=$(head -1 "$work/$name.result" | sed -n 's/.*executions=\([0-9]*\).*/\1/p')
    total=$((total + ${n:-0}))
done
echo "fuzz: $total executions in $(($(date +%s) - start))s; $failed target(s) failed"
[ $failed -eq 0 ]
