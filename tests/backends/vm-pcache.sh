#!/usr/bin/env bash
# vm-pcache.sh — runs inside the test VM (tests/vm/run-vm.sh): the
# persistent cache (layers/pcache) end to end through a real Linux USB
# host.  LUN 0 is an HTTP image (nginx) behind pcache; LUN 1 an image on a
# server that ignores Range (badhttp, trickling at 2.6 MB/s) with
# no-range=download, behind the same cache directory.  The host reads both
# whole; the daemon restarts; the host reads both again, and this time
# nothing but the open's probes reaches either server.
#
#   /work/bin/vmslot tests/vm/run-vm.sh --timeout 600 tests/backends/vm-pcache.sh
set -euo pipefail
. tests/vm/lib.sh
. tests/backends/functions.sh
trap 'netstickd_stop >/dev/null 2>&1 || true; _cleanup' EXIT

ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
modprobe dummy_hcd 2>/dev/null || true
requires nginx python3
fail() { echo "FAIL: $*"; [ -n "${NETSTICKD_LOG:-}" ] && tail -n 30 "$NETSTICKD_LOG"; exit 1; }
passed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }

mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 16M
make_image "$tmp/slow.img" 8M
start_nginx
NGINX_PORT=$HTTP_PORT
start_badhttp trickle "$tmp/slow.img"
cache="layer=pcache:dir=$tmp/cache+size-mib=64"
luns=("media=http://127.0.0.1:$NGINX_PORT/disk.img,ro=1,$cache"
      "media=http://127.0.0.1:$HTTP_PORT/slow.img#no-range=download,ro=1,$cache")

# Range requests nginx answered beyond the open's bytes=0-0 probe.
big_ranges() { grep -c '" 206 ' "$tmp/nginx/access.log" | awk '{print $1}'; }
full_gets() { grep -c '"GET ' "$tmp/badhttp.log" || true; }

read_both() {
	local sd0 sd1
	sd0=$(disk_wait 0 30) || fail "LUN 0 did not appear"
	sd1=$(disk_wait 1 30) || fail "LUN 1 did not appear"
	disk_wait_size "$sd0" && disk_wait_size "$sd1" 60 || fail "no medium"
	[ "$(sha_range "/dev/$sd0" 0 $((16 << 20)))" = "$(sha < "$tmp/www/disk.img")" ] ||
		fail "LUN 0 (HTTP + pcache) data differs ($1)"
	[ "$(sha_range "/dev/$sd1" 0 $((8 << 20)))" = "$(sha < "$tmp/slow.img")" ] ||
		fail "LUN 1 (no Range, download) data differs ($1)"
}

NETSTICKD_LOG_LEVEL=debug
gadget_start netstickd "${luns[@]}"
read_both cold
pass "cold: 16 MiB over HTTP and 8 MiB from a server without Range support read through the USB host equal the images"
ls "$tmp/cache"/*.map >/dev/null || fail "nothing in the cache"
netstickd_stop || fail "netstickd exited non-zero"
ranges=$(big_ranges); gets=$(full_gets)

gadget_start netstickd "${luns[@]}"
read_both warm
# After the restart: one bytes=0-0 probe on LUN 0, one probe GET on LUN 1.
[ "$(big_ranges)" -le $((ranges + 1)) ] || fail "LUN 0 fetched from nginx again ($ranges -> $(big_ranges) 206s)"
[ "$(full_gets)" -le $((gets + 1)) ] || fail "LUN 1 downloaded again ($gets -> $(full_gets) GETs)"
pass "warm after a daemon restart: both read from the persistent cache, the servers saw only the open's probes"
netstickd_stop || fail "netstickd exited non-zero"
pass "netstickd exited 0"
echo "vm-pcache: $passed passed, 0 failed"
