# PASS/FAIL lines and their count, shared by contract.sh and image.sh (sourced, POSIX sh). Both
# end with the line "N passed, N failed" that .ci/run and image.sh read.
passed=0
failed=0

pass() {
    passed=$((passed + 1))
    echo "PASS $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL $*"
}
