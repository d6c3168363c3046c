#!/usr/bin/env bash
# overlay.sh — runs inside the test VM (tests/vm/run-vm.sh): an HTTP image
# (nginx on the guest's loopback) made writable by the overlay layer, over
# the cache layer, written by the USB host.
#
#   tests/vm/run-vm.sh tests/vm/overlay.sh
#
# LUN 0: media http://127.0.0.1:PORT/disk.img (read-only to netstickd),
# layers [cache:size-mib=16, overlay:size-mib=128].
#
# Checks (one behaviour each):
#   ovl_lun_writable          the host sees a writable disk
#   ovl_mkfs_files_remount    mkfs.ext4, files written, unmounted, caches
#                             dropped, mounted again: every file's bytes
#                             are back
#   ovl_http_object_unchanged nginx's file is byte for byte what it was
#   ovl_stats_in_api          the LUN's JSON shows the overlay's and the
#                             cache's figures (overlay_bytes > 0, hits)
#   ovl_eject_discards        host eject, then load: the disk is the HTTP
#                             image again (the overlay was discarded)
#   ovl_clean_exit            netstickd exits 0 on SIGTERM
#
# Closing line: "overlay: N passed, N failed".
set -euo pipefail
. tests/vm/lib.sh
. tests/backends/functions.sh
trap 'netstickd_stop >/dev/null 2>&1 || true; _cleanup' EXIT

CHECK_SIDE=ovl
API_TOKEN=vm-overlay-token-0123456789
MIB=64
MNT=$NSVM_TMP/ovl-mnt

ip link set lo up 2>/dev/null || true
modprobe dummy_hcd 2>/dev/null || true
modprobe sg 2>/dev/null || true

NETSTICKD_EXTRA_CONFIG=$(vm_api_config)

setup() {
	requires nginx mkfs.ext4 sg_start curl
	mkdir -p "$tmp/www" "$MNT"
	make_image "$tmp/www/disk.img" "${MIB}M"
	ORIG=$(sha <"$tmp/www/disk.img")
	start_nginx
	NETSTICKD_LOG_LEVEL=info
	NETSTICK_VM_LAYERS="overlay:size-mib=128" gadget_start netstickd \
		"media=http://127.0.0.1:$HTTP_PORT/disk.img,ro=0,layer=cache:size-mib=16"
	SD=$(disk_wait 0 60) || { echo "LUN 0 did not appear"; return 1; }
	disk_wait_size "$SD" 30 || { echo "no medium"; return 1; }
	SG=$(sg_of "$SD")
	for _ in $(seq 100); do API_PORT=$(api_port); [[ -n $API_PORT ]] && break; sleep 0.1; done
	[[ -n $API_PORT ]] || { echo "API did not start"; return 1; }
	printf '%s\n%s\n%s\n%s\n' "$SD" "$SG" "$API_PORT" "$ORIG" >"$NSVM_TMP/ovl.env"
}

load_env() { { read -r SD; read -r SG; read -r API_PORT; read -r ORIG; } <"$NSVM_TMP/ovl.env"; }

check_lun_writable() {
	load_env
	[[ $(blockdev --getro "/dev/$SD") == 0 ]] || fail "/dev/$SD is read-only"
	grep -q "read-only" "$NETSTICKD_LOG" && fail "netstickd says read-only" || true
}

check_mkfs_files_remount() {
	local f
	load_env
	mkfs.ext4 -q -F "/dev/$SD" || fail "mkfs.ext4"
	mount "/dev/$SD" "$MNT" || fail "mount"
	mkdir -p "$MNT/dir"
	for f in a b c; do
		dd if=/dev/urandom of="$MNT/dir/$f" bs=64K count=$((RANDOM % 32 + 8)) status=none
	done
	(cd "$MNT/dir" && sha256sum a b c) >"$NSVM_TMP/ovl.sums"
	umount "$MNT" || fail "umount"
	echo 3 >/proc/sys/vm/drop_caches
	blockdev --flushbufs "/dev/$SD"
	mount "/dev/$SD" "$MNT" || fail "mount again"
	(cd "$MNT/dir" && sha256sum -c --quiet "$NSVM_TMP/ovl.sums") || fail "files differ after remount"
	umount "$MNT" || fail "umount again"
	fsck.ext4 -n -f "/dev/$SD" >/dev/null || fail "fsck finds errors"
	cat "$NSVM_TMP/ovl.sums"
}

check_http_object_unchanged() {
	load_env
	[[ $(sha <"$tmp/www/disk.img") == "$ORIG" ]] || fail "the HTTP object changed"
}

check_stats_in_api() {
	local js
	load_env
	js=$(curl -sS --max-time 10 -H "Authorization: Bearer $API_TOKEN" \
		"http://127.0.0.1:$API_PORT/api/v1/luns/0") || fail "GET the LUN"
	echo "$js"
	python3 - "$js" <<-'EOF' || fail "stats missing"
	import json, sys
	lun = json.loads(sys.argv[1])
	ov, ca = lun["layers"]["overlay"], lun["cache"]
	assert lun["media"]["readonly"] is False, lun["media"]
	assert ov["overlay_bytes"] > 0 and ov["writes"] > 0, ov
	assert ca["hits"] > 0 and ca["backend_bytes"] > 0, ca
	EOF
}

check_eject_discards() {
	local i
	load_env
	sg_start --eject "$SG" || fail "host eject"
	sg_start --load "$SG" || fail "host load"
	for i in $(seq 50); do
		sg_turs "$SG" >/dev/null 2>&1 && break
		sleep 0.2
	done
	blockdev --flushbufs "/dev/$SD"
	echo 3 >/proc/sys/vm/drop_caches
	[[ $(sha_range "/dev/$SD" 0 $((MIB << 20))) == "$ORIG" ]] ||
		fail "after eject and load the disk is not the HTTP image"
	grep "overlay: closing" "$NETSTICKD_LOG" || fail "no closing line for the overlay"
}

suite_run ovl overlay \
	ovl_lun_writable check_lun_writable \
	ovl_mkfs_files_remount check_mkfs_files_remount \
	ovl_http_object_unchanged check_http_object_unchanged \
	ovl_stats_in_api check_stats_in_api \
	ovl_eject_discards check_eject_discards
