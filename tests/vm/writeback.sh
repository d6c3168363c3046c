#!/usr/bin/env bash
# writeback.sh — runs inside the test VM (tests/vm/run-vm.sh): a writable
# NBD export (nbdkit, file plugin, on the guest's loopback) behind the
# cache layer in write=back mode, written by the USB host.
#
#   tests/vm/run-vm.sh tests/vm/writeback.sh
#
# LUN 0: media nbd://127.0.0.1:PORT/, layers
# [cache:size-mib=16,write=back,dirty-mib=32,flush-seconds=0] (no timer:
# only SYNCHRONIZE CACHE, FUA, a full dirty set and eject write down).
#
# Checks (one behaviour each):
#   wb_write_held_until_sync   8 MiB written with O_DIRECT: the server's
#                              file is unchanged, the LUN's JSON shows
#                              dirty bytes; fsync (SYNCHRONIZE CACHE from
#                              the host's sd driver) puts them there
#   wb_mkfs_files_remount      mkfs.ext4, files, umount, drop caches,
#                              mount: every file is back, fsck is clean,
#                              and the disk read through USB equals the
#                              server's file byte for byte
#   wb_full_dirty_set          48 MiB of writes through a 32 MiB dirty set
#                              with no sync: writing down makes room, and
#                              the data reads back right
#   wb_eject_writes_down       writes with no sync, then an API eject: the
#                              server's file has them
#   wb_clean_exit              netstickd exits 0 on SIGTERM
#
# Closing line: "writeback: N passed, N failed".
set -euo pipefail
. tests/vm/lib.sh
. tests/backends/functions.sh
trap 'netstickd_stop >/dev/null 2>&1 || true; _cleanup' EXIT

CHECK_SIDE=wb
API_TOKEN=vm-writeback-token-0123456789
MIB=64
MNT=$NSVM_TMP/wb-mnt

ip link set lo up 2>/dev/null || true
modprobe dummy_hcd 2>/dev/null || true
modprobe sg 2>/dev/null || true

NETSTICKD_EXTRA_CONFIG=$(vm_api_config)

api() {
	curl -sS --max-time 30 -H "Authorization: Bearer $API_TOKEN" "$@"
}

setup() {
	requires nbdkit mkfs.ext4 curl python3
	mkdir -p "$MNT"
	make_image "$NSVM_TMP/wb-nbd.img" "${MIB}M"
	start_nbdkit file "$NSVM_TMP/wb-nbd.img"
	NETSTICKD_LOG_LEVEL=info
	gadget_start netstickd \
		"media=nbd://127.0.0.1:$NBD_PORT/,ro=0,layer=cache:size-mib=16+write=back+dirty-mib=32+flush-seconds=0"
	SD=$(disk_wait 0 60) || { echo "LUN 0 did not appear"; return 1; }
	disk_wait_size "$SD" 30 || { echo "no medium"; return 1; }
	for _ in $(seq 100); do API_PORT=$(api_port); [[ -n $API_PORT ]] && break; sleep 0.1; done
	[[ -n $API_PORT ]] || { echo "API did not start"; return 1; }
	printf '%s\n%s\n%s\n' "$SD" "$API_PORT" "$NBD_PORT" >"$NSVM_TMP/wb.env"
}

load_env() { { read -r SD; read -r API_PORT; read -r NBD_PORT; } <"$NSVM_TMP/wb.env"; }

# The cache layer's figure KEY from the LUN's JSON.
cache_stat() {
	api "http://127.0.0.1:$API_PORT/api/v1/luns/0" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["cache"][sys.argv[1]])' "$1"
}

check_write_held_until_sync() {
	local before dirty
	load_env
	dd if=/dev/urandom of="$NSVM_TMP/wb-8m" bs=1M count=8 status=none
	before=$(sha_range "$NSVM_TMP/wb-nbd.img" $((8 << 20)) $((8 << 20)))
	dd if="$NSVM_TMP/wb-8m" of="/dev/$SD" bs=1M seek=8 oflag=direct status=none ||
		fail "write"
	dirty=$(cache_stat dirty_bytes)
	echo "dirty_bytes after the write: $dirty"
	[[ $dirty -ge $((8 << 20)) ]] || fail "the writes are not held as dirty ($dirty)"
	[[ $(sha_range "$NSVM_TMP/wb-nbd.img" $((8 << 20)) $((8 << 20))) == "$before" ]] ||
		fail "the server's file changed before any sync"
	python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); os.fsync(fd)' "/dev/$SD" ||
		fail "fsync"
	[[ $(sha_range "$NSVM_TMP/wb-nbd.img" $((8 << 20)) $((8 << 20))) == "$(sha <"$NSVM_TMP/wb-8m")" ]] ||
		fail "after fsync the server's file does not have the writes"
	[[ $(cache_stat dirty_bytes) == 0 ]] || fail "dirty bytes left after fsync"
	[[ $(cache_stat wb_flushes) -ge 1 ]] || fail "no flush counted"
}

check_mkfs_files_remount() {
	local f
	load_env
	mkfs.ext4 -q -F "/dev/$SD" || fail "mkfs.ext4"
	mount "/dev/$SD" "$MNT" || fail "mount"
	mkdir -p "$MNT/dir"
	for f in a b c d; do
		dd if=/dev/urandom of="$MNT/dir/$f" bs=64K count=$((RANDOM % 32 + 8)) status=none
	done
	(cd "$MNT/dir" && sha256sum a b c d) >"$NSVM_TMP/wb.sums"
	umount "$MNT" || fail "umount"
	echo 3 >/proc/sys/vm/drop_caches
	blockdev --flushbufs "/dev/$SD"
	mount "/dev/$SD" "$MNT" || fail "mount again"
	(cd "$MNT/dir" && sha256sum -c --quiet "$NSVM_TMP/wb.sums") || fail "files differ after remount"
	umount "$MNT" || fail "umount again"
	fsck.ext4 -n -f "/dev/$SD" >/dev/null || fail "fsck finds errors"
	python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); os.fsync(fd)' "/dev/$SD"
	echo 3 >/proc/sys/vm/drop_caches
	[[ $(sha_range "/dev/$SD" 0 $((MIB << 20))) == "$(sha <"$NSVM_TMP/wb-nbd.img")" ]] ||
		fail "the disk and the server's file differ after a sync"
	cat "$NSVM_TMP/wb.sums"
}

check_full_dirty_set() {
	local waits
	load_env
	dd if=/dev/urandom of="$NSVM_TMP/wb-48m" bs=1M count=48 status=none
	dd if="$NSVM_TMP/wb-48m" of="/dev/$SD" bs=1M seek=8 oflag=direct status=none ||
		fail "48 MiB write"
	waits=$(cache_stat wb_full_waits)
	echo "wb_full_waits: $waits, dirty_bytes: $(cache_stat dirty_bytes)"
	[[ $waits -gt 0 ]] || fail "the dirty set never filled"
	[[ $(cache_stat dirty_bytes) -le $((32 << 20)) ]] || fail "dirty set over its bound"
	echo 3 >/proc/sys/vm/drop_caches
	[[ $(sha_range "/dev/$SD" $((8 << 20)) $((48 << 20))) == "$(sha <"$NSVM_TMP/wb-48m")" ]] ||
		fail "48 MiB read back differ"
}

check_eject_writes_down() {
	load_env
	dd if=/dev/urandom of="$NSVM_TMP/wb-4m" bs=1M count=4 status=none
	dd if="$NSVM_TMP/wb-4m" of="/dev/$SD" bs=1M seek=2 oflag=direct status=none ||
		fail "write"
	[[ $(cache_stat dirty_bytes) -gt 0 ]] || fail "nothing dirty before the eject"
	api -X DELETE -o /dev/null -w '%{http_code}\n' \
		"http://127.0.0.1:$API_PORT/api/v1/luns/0/media?force=true" | grep -q '^20' ||
		fail "API eject"
	for _ in $(seq 100); do
		grep -q "cache: closing" "$NETSTICKD_LOG" && break
		sleep 0.1
	done
	grep "cache: closing" "$NETSTICKD_LOG" || true
	[[ $(sha_range "$NSVM_TMP/wb-nbd.img" $((2 << 20)) $((4 << 20))) == "$(sha <"$NSVM_TMP/wb-4m")" ]] ||
		fail "after the eject the server's file does not have the writes"
}

suite_run wb writeback \
	wb_write_held_until_sync check_write_held_until_sync \
	wb_mkfs_files_remount check_mkfs_files_remount \
	wb_full_dirty_set check_full_dirty_set \
	wb_eject_writes_down check_eject_writes_down
