#!/usr/bin/env bash
# vm-network-luns.sh — runs inside the test VM (tests/vm/run-vm.sh): netstickd
# with LUN 0 on NBD (nbdkit, file plugin) and LUN 1 on HTTPS (nginx, HTTP/2,
# test CA), both servers on the guest's loopback; the guest's USB host reads
# both disks whole, and their checksums must equal the images'.
#
#   tests/vm/run-vm.sh tests/backends/vm-network-luns.sh
#
# A reference for wiring network LUNs into the conformance battery.
set -euo pipefail
. tests/vm/lib.sh
. tests/backends/functions.sh
trap 'netstickd_stop >/dev/null 2>&1 || true; _cleanup' EXIT

ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
modprobe dummy_hcd 2>/dev/null || true
requires nbdkit nginx openssl
fail() { echo "FAIL: $*"; [ -n "${NETSTICKD_LOG:-}" ] && tail -n 30 "$NETSTICKD_LOG"; exit 1; }

make_image "$tmp/nbd.img" 32M
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 16M
start_nbdkit file "$tmp/nbd.img"
gen_certs 127.0.0.1
start_nginx ssl http2

NETSTICKD_LOG_LEVEL=debug
gadget_start netstickd "media=nbd://127.0.0.1:$NBD_PORT/" \
	"media=https://127.0.0.1:$HTTP_PORT/disk.img#ca-file=$tmp/tls/ca.pem,ro=1"
sd0=$(disk_wait 0 30) || fail "LUN 0 (NBD) did not appear"
sd1=$(disk_wait 1 30) || fail "LUN 1 (HTTPS) did not appear"
disk_wait_size "$sd0" && disk_wait_size "$sd1" || fail "no medium"
[ "$(sha_range "/dev/$sd0" 0 $((32 << 20)))" = "$(sha < "$tmp/nbd.img")" ] ||
	fail "NBD LUN data differs"
echo "PASS nbd LUN: 32 MiB read through the USB host equals the image"
[ "$(sha_range "/dev/$sd1" 0 $((16 << 20)))" = "$(sha < "$tmp/www/disk.img")" ] ||
	fail "HTTPS LUN data differs"
echo "PASS https LUN: 16 MiB read through the USB host equals the image"
dd if=/dev/urandom of="$tmp/w" bs=1M count=1 status=none
dd if="$tmp/w" of="/dev/$sd0" bs=1M seek=3 oflag=direct status=none conv=fsync ||
	fail "write to the NBD LUN"
[ "$(sha_range "$tmp/nbd.img" $((3 << 20)) $((1 << 20)))" = "$(sha < "$tmp/w")" ] ||
	fail "NBD write did not reach the server's file"
echo "PASS nbd LUN: 1 MiB written through the USB host is in the server's file"
netstickd_stop || fail "netstickd exited non-zero"
echo "vm-network-luns: 3 passed, 0 failed"
