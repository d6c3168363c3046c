#!/bin/bash
# install-deps.sh — installs the Debian packages netstick needs to build, test,
# run the demo and the benchmark.  Idempotent and quick when everything is
# already there.  Needs root (or sudo) only when something is missing.
#
#   tests/install-deps.sh            everything (build + VM tests + fuzzing)
#   tests/install-deps.sh --build    just what building netstickd needs
#   tests/install-deps.sh --deb      building the .deb for this machine
#   tests/install-deps.sh --cross    --deb, plus cross-building it for arm64
#                                    and armhf and testing under qemu-user
#                                    (adds the dpkg architectures)
set -euo pipefail
mode=${1:-}

BUILD_PKGS=(build-essential pkg-config libyaml-dev libaio-dev libsystemd-dev
	libnbd-dev libcurl4-openssl-dev libxml2-dev  # backends (uri.c: libxml2)
	libmicrohttpd-dev libjson-c-dev libssl-dev    # admin API, CLI
	libisofs-dev                                  # seed volumes (ISO 9660)
	libcrypt-dev                                  # Redfish password hashes
	libxxhash-dev)                                # pcache checksums
TEST_PKGS=(
	clang libclang-rt-14-dev valgrind            # sanitizers, fuzzers
	qemu-system-x86 busybox-static kmod cpio     # the VM harness
	sg3-utils fio dosfstools e2fsprogs mtools    # host-side tools in the VM
	util-linux eject usbutils xorriso             # (xorriso: ISO 9660 images, tests/vm/cdrom.sh)
	genisoimage                                   # isoinfo: reads seed volumes back
	nbdkit qemu-utils nginx-light openssl python3 # backend tests (real servers)
	nbd-client gnuplot-nox curl iproute2 jq      # make bench-net (kernel nbd peer, plot); jq: tests/vm/cdrom.sh
	grub-pc-bin grub-efi-amd64-bin               # make check-vm-fwboot: the boot image (and xorriso),
	ovmf seabios usbredirect                     # the firmwares, the USB export
	chromium                                      # web UI tests (playwright-core)
	python3-sushy redfishtool                     # Redfish tests (the real clients)
)
# Node.js for the web UI tests: Debian's nodejs + npm unless a node is there.
if [ -z "$mode" ] && ! command -v npm >/dev/null; then
	TEST_PKGS+=(nodejs npm)
fi

# Packaging: dpkg-buildpackage, debhelper, lintian; systemd-analyze for
# the installed unit.
DEB_PKGS=(dpkg-dev debhelper lintian fakeroot git systemd)
# Cross: Debian's cross toolchains, qemu-user, and the build's -dev
# packages for each ARCH (Multi-Arch: same).  libnbd-dev is not (Debian
# 12): tests/cross-libnbd.sh unpacks it, its libnbd0's dependencies are
# here.
CROSS_ARCHES=(arm64 armhf)
CROSS_DEV=(libyaml-dev libaio-dev libsystemd-dev libcurl4-openssl-dev
	libmicrohttpd-dev libjson-c-dev libssl-dev libcrypt-dev libxxhash-dev pkgconf libgnutls30
	libxml2 libxml2-dev libisofs-dev)

want=("${BUILD_PKGS[@]}")
case $mode in
--build) ;;
--deb) want+=("${DEB_PKGS[@]}") ;;
--cross)
	want+=("${DEB_PKGS[@]}" qemu-user-static)
	for a in "${CROSS_ARCHES[@]}"; do
		want+=("crossbuild-essential-$a")
		for p in "${CROSS_DEV[@]}"; do want+=("$p:$a"); done
	done ;;
*) want+=("${TEST_PKGS[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ "$mode" = --cross ]; then
	for a in "${CROSS_ARCHES[@]}"; do
		dpkg --print-foreign-architectures | grep -qx "$a" ||
			$SUDO dpkg --add-architecture "$a"
	done
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
