#!/bin/bash
# run-redfish.sh — `make check-redfish`: the Redfish service against a
# running netstickd --no-usb, driven by python3-sushy and redfishtool
# (Debian's; tests/install-deps.sh installs them) with images on nginx.
#
#   tests/api/run-redfish.sh [NAME_REGEX]
#
# Needs build/netstickd (NETSTICKD overrides it).  Closing line:
# "redfish: N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export NETSTICKD=${NETSTICKD:-$here/../../build/netstickd}
[ -x "$NETSTICKD" ] || { echo "run-redfish: $NETSTICKD is not built"; echo "redfish: 0 passed, 1 failed"; exit 1; }
# Debian's interpreter: sushy is in its dist-packages, not in a pyenv's.
exec timeout -k 10 600 /usr/bin/python3 "$here/test_redfish.py" "$@"
