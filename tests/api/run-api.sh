#!/bin/bash
# run-api.sh — `make check-api`: the admin API and the `netstick` CLI
# against a running netstickd --no-usb (no USB, no VM, no root needed).
#
#   tests/api/run-api.sh [NAME_REGEX]
#
# Needs build/netstickd and build/netstick (NETSTICKD, NETSTICK_CLI
# override them), python3 and, for the NBD cases, nbdkit.  Closing lines:
# "api: N passed, N failed", "api-hardening: N passed, N failed" and
# "api-seed: N passed, N failed" (test_seed.py, seed volumes).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export NETSTICKD=${NETSTICKD:-$here/../../build/netstickd}
export NETSTICK_CLI=${NETSTICK_CLI:-$here/../../build/netstick}
for f in "$NETSTICKD" "$NETSTICK_CLI"; do
	[ -x "$f" ] || { echo "run-api: $f is not built"; echo "api: 0 passed, 1 failed"; exit 1; }
done
# Then issue 15's hostile-client and source-policy cases
# (test_hardening.py, closing line "api-hardening: N passed, N failed").
rc=0
timeout -k 10 600 python3 "$here/test_api.py" "$@" || rc=1
timeout -k 10 600 python3 "$here/test_hardening.py" "$@" || rc=1
timeout -k 10 300 python3 "$here/test_seed.py" "$@" || rc=1
exit $rc
