#!/bin/bash
# check.sh — the VM end-to-end suite run by `make check-vm` and CI:
# the conformance battery at high speed and at SuperSpeed, netstickd and
# the kernel gadget side by side (tests/vm/conformance.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$HERE/conformance.sh" --speed both "$@"
