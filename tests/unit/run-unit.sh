#!/usr/bin/env bash
# Runs each unit-test binary, sums their "N passed, N failed" lines and prints
# the total as the closing line, "unit: N passed, N failed" ($UNIT_NAME
# names it: unit-arm64 under qemu-user).  $RUNNER, if set, prefixes each
# run (valgrind, qemu-aarch64-static).  A binary that exits 77 without a
# summary is skipped (its last line says why) and counted as such.
set -u
pass=0 fail=0 bad=0 skip=0
for t in "$@"; do
	out=$(${RUNNER:-} "$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [ -z "$line" ] && [ "$rc" -eq 77 ]; then
		echo "SKIP: $t: $(printf '%s\n' "$out" | tail -n 1)"; skip=$((skip + 1)); continue
	fi
	if [ -z "$line" ]; then
		echo "FAIL: $t printed no summary (exit $rc)"; bad=$((bad + 1)); continue
	fi
	p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
	pass=$((pass + p)); fail=$((fail + f))
	[ "$rc" -eq 0 ] || { [ "$f" -gt 0 ] || { echo "FAIL: $t exited $rc"; bad=$((bad + 1)); }; }
done
fail=$((fail + bad))
sk=
[ "$skip" -eq 0 ] || sk=", $skip skipped"
echo "${UNIT_NAME:-unit}: $pass passed, $fail failed$sk"
[ "$fail" -eq 0 ]
