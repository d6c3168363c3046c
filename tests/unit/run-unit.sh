#!/usr/bin/env bash
# Runs each unit-test binary, sums their "N passed, N failed" lines and prints
# the total as the closing line.  $VALGRIND, if set, prefixes each run.
set -u
pass=0 fail=0 bad=0
for t in "$@"; do
	out=$(${VALGRIND:-} "$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [ -z "$line" ]; then
		echo "FAIL: $t printed no summary (exit $rc)"; bad=$((bad + 1)); continue
	fi
	p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
	pass=$((pass + p)); fail=$((fail + f))
	[ "$rc" -eq 0 ] || { [ "$f" -gt 0 ] || { echo "FAIL: $t exited $rc"; bad=$((bad + 1)); }; }
done
fail=$((fail + bad))
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
