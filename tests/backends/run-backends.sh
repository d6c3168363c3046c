#!/usr/bin/env bash
# Runs every tests/backends/test-*.sh (or those named) against real servers
# on loopback, each bounded to 90 s, and prints the closing line
# "backends: N passed, N failed, N skipped".  Exit 77 from a test = skipped.
#   tests/backends/run-backends.sh BETOOL [TEST...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
export BETOOL=$(realpath "$1"); shift
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=("$here"/test-*.sh)
pass=0 fail=0 skip=0
for t in "${tests[@]}"; do
	n=$(basename "$t" .sh)
	out=$(timeout -k 5 90 bash "$t" 2>&1); rc=$?
	case $rc in
	0) echo "PASS $n"; pass=$((pass + 1)) ;;
	77) echo "SKIP $n: $(tail -n 1 <<<"$out")"; skip=$((skip + 1)) ;;
	*) echo "FAIL $n (exit $rc)"; sed 's/^/    /' <<<"$out"; fail=$((fail + 1)) ;;
	esac
done
echo "${BACKENDS_NAME:-backends}: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
