#!/bin/bash
# check.sh — the VM end-to-end suite run by `make check-vm` and CI:
# the conformance battery at high speed and at SuperSpeed, netstickd and
# the kernel gadget side by side (tests/vm/conformance.sh), then the same
# battery with every image served to netstickd by a real NBD server
# (nbdkit on the guest's loopback), netstickd only, and once more with every
# image behind the inject layer at 20 ms per read (media that is slow to
# answer: every read goes through the media I/O workers), netstickd only.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RESULTS=$(cd "$HERE/../.." && pwd)/build/vm-results
rc=0
"$HERE/conformance.sh" --speed both "$@" || rc=1
echo "=== the same battery with the images behind NBD (nbdkit file plugin)"
NETSTICK_VM_MEDIA_VIA=nbd NETSTICK_VM_SIDES=netstickd \
	"$HERE/conformance.sh" --speed high --results "$RESULTS/conformance-nbd" "$@" || rc=1
echo "=== the same battery with every image behind the inject layer (20 ms per read)"
NETSTICK_VM_LAYERS="inject:delay-ms=20" NETSTICK_VM_SIDES=netstickd \
	"$HERE/conformance.sh" --speed high --results "$RESULTS/conformance-inject" "$@" || rc=1
exit $rc
