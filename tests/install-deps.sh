#!/bin/bash
# install-deps.sh — installs the Debian packages netstick needs to build, test,
# run the demo and the benchmark.  Idempotent and quick when everything is
# already there.  Needs root (or sudo) only when something is missing.
#
#   tests/install-deps.sh            everything (build + VM tests + fuzzing)
#   tests/install-deps.sh --build    just what building netstickd needs
set -euo pipefail

BUILD_PKGS=(build-essential pkg-config libyaml-dev libaio-dev libsystemd-dev
	libnbd-dev libcurl4-openssl-dev
	libmicrohttpd-dev libjson-c-dev libssl-dev)   # admin API, CLI
TEST_PKGS=(
	clang libclang-rt-14-dev valgrind            # sanitizers, fuzzers
	qemu-system-x86 busybox-static kmod cpio     # the VM harness
	sg3-utils fio dosfstools e2fsprogs mtools    # host-side tools in the VM
	util-linux eject usbutils
	nbdkit qemu-utils nginx-light openssl python3 # backend tests (real servers)
	nbd-client gnuplot-nox curl iproute2         # make bench-net (kernel nbd peer, plot)
	chromium                                      # web UI tests (playwright-core)
)
# Node.js for the web UI tests: Debian's nodejs + npm unless a node is there.
if [ "${1:-}" != "--build" ] && ! command -v npm >/dev/null; then
	TEST_PKGS+=(nodejs npm)
fi

want=("${BUILD_PKGS[@]}")
[ "${1:-}" = "--build" ] || want+=("${TEST_PKGS[@]}")

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
