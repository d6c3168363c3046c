#!/usr/bin/env bash
# cdrom.sh — runs inside the test VM (tests/vm/run-vm.sh): netstickd with
# four LUNs of type cdrom, seen by the guest's Linux host (usb-storage, sr):
#
#   LUN 0  an ISO 9660 image made here with xorriso (a few files)
#   LUN 1  an empty drive
#   LUN 2  a sparse 5 GiB image (a DVD), its last block random
#   LUN 3  the LUN 0 ISO over HTTP (nginx on the guest's loopback)
#
#   tests/vm/run-vm.sh tests/vm/cdrom.sh
#
# Checks (one behaviour each):
#   cd_sr_node          Linux's sr driver makes /dev/srN for every LUN,
#                       device type 5, 2048-byte blocks
#   cd_blkid_iso9660    blkid sees iso9660 with the volume label
#   cd_mount_files      it mounts and every file matches the source
#   cd_mmc_commands     sg_raw: READ TOC 0/1/2 (LBA, MSF), GET
#                       CONFIGURATION (CD-ROM current), GET EVENT STATUS
#                       NOTIFICATION, READ DISC INFORMATION, READ TRACK
#                       INFORMATION, READ DISC STRUCTURE (refused on a CD:
#                       05/30/02), MODE SENSE(10) page 0x2A, SET CD SPEED,
#                       MECHANISM STATUS, GET PERFORMANCE, READ CD, READ(12),
#                       READ CAPACITY; a WRITE is DATA PROTECT
#   cd_empty_drive      no current profile, TEST UNIT READY 02/3A/xx
#   cd_dvd_big          the 5 GiB image is a DVD-ROM of the right capacity,
#                       READ DISC STRUCTURE works, its last block reads back
#   cd_big_not_locked   the RAM the daemon locks (mlockall) stays far
#                       below the 5 GiB image it maps
#   cd_http_whole       the ISO over HTTP reads whole with the right checksum
#   cd_api_types        the API shows type cdrom and the DVD's profile
#   cd_host_eject       `eject` on the host ejects LUN 0, the event stream
#                       carries "eject_request" and the API counts it
#   cd_clean_exit       netstickd exits 0 on SIGTERM
#
# Closing line: "cdrom: N passed, N failed".
set -euo pipefail
. tests/vm/lib.sh
. tests/backends/functions.sh

CHECK_SIDE=cdrom
API_TOKEN=vm-cdrom-token-0123456789abcdef
ISO_SRC=$NSVM_TMP/iso-src
ISO=$NSVM_TMP/test.iso
BIG=$NSVM_TMP/big.img
BIG_BLOCKS=$((5 * 1024 * 1024 / 2))      # 5 GiB of 2048-byte blocks
trap 'netstickd_stop >/dev/null 2>&1 || true; _cleanup' EXIT

ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
modprobe dummy_hcd 2>/dev/null || true
modprobe sg 2>/dev/null || true
modprobe sr_mod 2>/dev/null || true
modprobe isofs 2>/dev/null || true
requires xorriso nginx sg_raw blkid eject curl jq

# --- media -------------------------------------------------------------------

mkdir -p "$ISO_SRC/sub"
head -c $((3 << 20)) /dev/urandom >"$ISO_SRC/big.bin"
head -c 12345 /dev/urandom >"$ISO_SRC/sub/odd.bin"
echo "netstick cdrom test" >"$ISO_SRC/readme.txt"
xorriso -as mkisofs -quiet -R -J -V NSTESTCD -o "$ISO" "$ISO_SRC"
mkdir -p "$tmp/www" && cp "$ISO" "$tmp/www/test.iso"
start_nginx
truncate -s $((BIG_BLOCKS * 2048)) "$BIG"
head -c 2048 /dev/urandom >"$NSVM_TMP/last.blk"
dd if="$NSVM_TMP/last.blk" of="$BIG" bs=2048 seek=$((BIG_BLOCKS - 1)) \
	conv=notrunc status=none

# --- the daemon --------------------------------------------------------------

# netstickd's config from lib.sh (LUN specs), plus the api: section.
NETSTICKD_EXTRA_CONFIG="$(vm_api_config)
  allowed_dir: $NSVM_TMP"

api() { curl -sf -H "Authorization: Bearer $API_TOKEN" "http://127.0.0.1:$API_PORT$1"; }

# srN of LUN $1, once it exists (90 s: a loaded machine enumerates slowly).
cd_wait() {
	local lun=$1 i d addr
	for ((i = 0; i < 900; i++)); do
		for d in /sys/block/sr*; do
			[[ -e $d/device ]] || continue
			addr=$(basename "$(readlink -f "$d/device")")
			if [[ ${addr##*:} == "$lun" && -b /dev/${d##*/} ]]; then
				echo "${d##*/}"
				return 0
			fi
		done
		sleep 0.1
	done
	return 1
}

# The bytes of a response as hex pairs, one per line.
hexbytes() { od -An -v -tx1 "$1" | tr -s ' ' '\n' | sed '/^$/d'; }
# byte FILE OFFSET: one byte, two hex digits.
byte() { hexbytes "$1" | sed -n "$(($2 + 1))p"; }
# raw N FILE CDB...: sg_raw on LUN 0's sg node reading N bytes into FILE.
raw() {
	local n=$1 out=$2
	shift 2
	if ((n == 0)); then
		sg_raw "$SG" "$@" 2>"$out.err"
	else
		sg_raw -r "$n" -o "$out" "$SG" "$@" 2>"$out.err"
	fi
}
# sense_of FILE CDB...: sg_raw -v's output (the decoded sense) into FILE.
sense_of() {
	local out=$1
	shift
	sg_raw -v "$@" >"$out" 2>&1 || true
}
want() { [[ $(byte "$1" "$2") == "$3" ]] || fail "$1: byte $2 is $(byte "$1" "$2"), want $3"; }

netstickd_start "type=cdrom,product=Test CD,media=$ISO" "type=cdrom,product=Test CD" \
	"type=cdrom,product=Test CD,media=$BIG" \
	"type=cdrom,product=Test CD,media=http://127.0.0.1:$HTTP_PORT/test.iso"
for ((i = 0; i < 100; i++)); do
	API_PORT=$(api_port)
	[[ -n $API_PORT ]] && break
	sleep 0.1
done
SR0=$(cd_wait 0) || { echo "FAIL: no /dev/sr for LUN 0"; tail -n 30 "$NETSTICKD_LOG"
	dmesg | tail -n 30; echo "cdrom: 0 passed, 1 failed"; exit 1; }
SR1=$(cd_wait 1) && SR2=$(cd_wait 2) && SR3=$(cd_wait 3) ||
	{ echo "FAIL: not every LUN got a /dev/sr"; exit 1; }
SG=$(sg_of "$SR0")
O=$NSVM_TMP/out
mkdir -p "$O"

# --- checks ------------------------------------------------------------------

check_sr_node() {
	local sr
	for sr in "$SR0" "$SR1" "$SR2" "$SR3"; do
		[[ $(cat "/sys/block/$sr/device/type") == 5 ]] || fail "$sr: type"
	done
	[[ $(cat "/sys/block/$SR0/queue/logical_block_size") == 2048 ]] ||
		fail "logical block size $(cat "/sys/block/$SR0/queue/logical_block_size")"
}

check_blkid() {
	[[ $(blkid -o value -s TYPE "/dev/$SR0") == iso9660 ]] || fail "blkid: $(blkid "/dev/$SR0")"
	[[ $(blkid -o value -s LABEL "/dev/$SR0") == NSTESTCD ]] || fail "label"
}

check_mount_files() {
	local m=$NSVM_TMP/mnt f
	mkdir -p "$m"
	mount -t iso9660 -o ro "/dev/$SR0" "$m"
	for f in big.bin sub/odd.bin readme.txt; do
		cmp "$ISO_SRC/$f" "$m/$f" || { umount "$m"; fail "$f differs"; }
	done
	umount "$m"
}

check_mmc_commands() {
	local nb
	nb=$(($(stat -c %s "$ISO") / 2048))
	# READ TOC format 0, LBA: track 1 at 0, lead-out at the end.
	raw 20 "$O/toc0" 43 00 00 00 00 00 00 00 14 00
	want "$O/toc0" 3 01; want "$O/toc0" 6 01; want "$O/toc0" 14 aa
	[[ $(od -An -tu4 --endian=big -j 16 -N 4 "$O/toc0" | tr -d ' ') == "$nb" ]] ||
		fail "TOC lead-out"
	# format 0, MSF: track 1 at 00:02:00.
	raw 20 "$O/toc0m" 43 02 00 00 00 00 00 00 14 00
	want "$O/toc0m" 10 02
	raw 12 "$O/toc1" 43 00 01 00 00 00 00 00 0c 00
	want "$O/toc1" 1 0a; want "$O/toc1" 6 01
	raw 48 "$O/toc2" 43 02 02 00 00 00 01 00 30 00
	want "$O/toc2" 7 a0; want "$O/toc2" 29 a2
	# GET CONFIGURATION: CD-ROM is the current profile.
	raw 80 "$O/conf" 46 00 00 00 00 00 00 00 50 00
	want "$O/conf" 7 08
	raw 16 "$O/conf2" 46 02 00 1e 00 00 00 00 10 00
	want "$O/conf2" 9 1e; want "$O/conf2" 10 09
	# GET EVENT STATUS NOTIFICATION, media class: media present.
	raw 8 "$O/gesn" 4a 01 00 00 10 00 00 00 08 00
	want "$O/gesn" 2 04; want "$O/gesn" 5 02
	raw 34 "$O/di" 51 00 00 00 00 00 00 00 22 00
	want "$O/di" 2 0e
	raw 48 "$O/ti" 52 01 00 00 00 01 00 00 30 00
	want "$O/ti" 2 01
	[[ $(od -An -tu4 --endian=big -j 24 -N 4 "$O/ti" | tr -d ' ') == "$nb" ]] ||
		fail "track size"
	# READ DISC STRUCTURE fails on a CD the way Windows expects.
	if raw 2052 "$O/ds" ad 00 00 00 00 00 00 00 08 04 00 00; then
		fail "READ DISC STRUCTURE succeeded on a CD"
	fi
	sense_of "$O/ds.sense" -r 2052 "$SG" ad 00 00 00 00 00 00 00 08 04 00 00
	grep -qi "incompatible format" "$O/ds.sense" || fail "READ DISC STRUCTURE sense"
	raw 64 "$O/ms" 5a 00 2a 00 00 00 00 00 40 00
	want "$O/ms" 8 2a; want "$O/ms" 6 00
	raw 0 "$O/speed" bb 00 ff ff ff ff 00 00 00 00 00 00
	raw 8 "$O/mech" bd 00 00 00 00 00 00 00 00 08 00 00
	want "$O/mech" 1 00
	raw 24 "$O/perf" ac 10 00 00 00 00 00 00 00 01 00 00
	want "$O/perf" 3 14
	# READ CD and READ(12) of block 16 (the primary volume descriptor).
	raw 2048 "$O/rcd" be 00 00 00 00 10 00 00 01 10 00 00
	raw 2048 "$O/r12" a8 00 00 00 00 10 00 00 00 01 00 00
	dd if="$ISO" of="$O/pvd" bs=2048 skip=16 count=1 status=none
	cmp "$O/rcd" "$O/pvd" || fail "READ CD data"
	cmp "$O/r12" "$O/pvd" || fail "READ(12) data"
	sg_readcap "$SG" | grep -q "Logical block length=2048 bytes" || fail "READ CAPACITY"
	# Read-only media: a WRITE(10) is DATA PROTECT.
	head -c 2048 /dev/zero >"$O/zero"
	sense_of "$O/w.sense" -s 2048 -i "$O/zero" "$SG" 2a 00 00 00 00 20 00 00 01 00
	grep -qi "write protected" "$O/w.sense" || fail "WRITE not refused as write protected"
}

check_empty_drive() {
	local sg1 rc=0
	sg1=$(sg_of "$SR1")
	sg_raw -r 8 -o "$O/conf-empty" "$sg1" 46 01 00 00 00 00 00 00 08 00
	want "$O/conf-empty" 6 00; want "$O/conf-empty" 7 00
	sg_turs -v "$sg1" >"$O/turs" 2>&1 || rc=$?
	((rc == 2)) || fail "TEST UNIT READY exit $rc"
	grep -qi "medium not present" "$O/turs" || fail "$(cat "$O/turs")"
}

check_dvd_big() {
	local sg2
	sg2=$(sg_of "$SR2")
	sg_readcap "$sg2" >"$O/cap2"
	grep -q "Last LBA=$((BIG_BLOCKS - 1)) " "$O/cap2" || fail "$(cat "$O/cap2")"
	sg_raw -r 8 -o "$O/conf-dvd" "$sg2" 46 01 00 00 00 00 00 00 08 00
	want "$O/conf-dvd" 7 10
	sg_raw -r 2052 -o "$O/ds-dvd" "$sg2" ad 00 00 00 00 00 00 00 08 04 00 00
	want "$O/ds-dvd" 4 01
	[[ $(($(cat "/sys/block/$SR2/size") * 512)) == $((BIG_BLOCKS * 2048)) ]] ||
		fail "size $(cat "/sys/block/$SR2/size") sectors"
	dd if="/dev/$SR2" of="$O/last" bs=2048 skip=$((BIG_BLOCKS - 1)) count=1 \
		iflag=direct status=none
	cmp "$O/last" "$NSVM_TMP/last.blk" || fail "last block differs"
}

# Locked: in smaps_rollup is the RAM pinned (pages present in locked
# mappings); VmLck counts address space, and mlockall(MCL_ONFAULT) marks
# every mapping there at start, untouched ones too (the malloc arenas of
# the threads an HTTP LUN's default cache starts: 64 MiB each, mostly
# never touched).
check_big_not_locked() {
	local kb
	kb=$(awk '/^Locked:/ { print $2 }' "/proc/$NETSTICKD_PID/smaps_rollup")
	[[ -n $kb ]] || fail "no Locked: in smaps_rollup"
	((kb < 256 * 1024)) || fail "Locked ${kb} kB"
	echo "locked: ${kb} kB, address space locked (VmLck): $(awk '/^VmLck:/ { print $2 }' "/proc/$NETSTICKD_PID/status") kB"
}

check_http_whole() {
	local size
	size=$(stat -c %s "$ISO")
	[[ $(sha_range "/dev/$SR3" 0 "$size") == "$(sha <"$ISO")" ]] || fail "HTTP ISO differs"
}

check_api_types() {
	api /api/v1/luns >"$O/luns.json"
	[[ $(jq -r '[.[].type] | join(",")' "$O/luns.json") == cdrom,cdrom,cdrom,cdrom ]] ||
		fail "types: $(cat "$O/luns.json")"
	[[ $(jq -r '.[2].media.profile' "$O/luns.json") == dvd-rom ]] || fail "DVD profile"
	[[ $(jq -r '.[0].media.profile' "$O/luns.json") == cd-rom ]] || fail "CD profile"
	[[ $(jq -r '.[1].media' "$O/luns.json") == null ]] || fail "empty LUN has media"
}

check_host_eject() {
	local pid st
	curl -sN -H "Authorization: Bearer $API_TOKEN" \
		"http://127.0.0.1:$API_PORT/api/v1/events" >"$O/events" &
	pid=$!
	sleep 0.5
	eject "/dev/$SR0"
	for ((i = 0; i < 50; i++)); do
		grep -q '"change":"eject_request"' "$O/events" && break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	grep -q '"change":"eject_request"' "$O/events" || fail "no eject_request event"
	st=$(api /api/v1/luns/0)
	[[ $(jq -r .host_eject.requests <<<"$st") -ge 1 ]] || fail "not counted: $st"
	[[ $(jq -r .state <<<"$st") == empty ]] || fail "not ejected: $st"
	[[ $(jq -r .host_eject.ejected <<<"$st") == true ]] || fail "not marked: $st"
}

# Each body traced (set -x) into its log.
traced() { set -x; "$@"; }
check cd_sr_node traced check_sr_node
check cd_blkid_iso9660 traced check_blkid
check cd_mount_files traced check_mount_files
check cd_mmc_commands traced check_mmc_commands
check cd_empty_drive traced check_empty_drive
check cd_dvd_big traced check_dvd_big
check cd_big_not_locked traced check_big_not_locked
check cd_http_whole traced check_http_whole
check cd_api_types traced check_api_types
check cd_host_eject traced check_host_eject
clean_exit_check cd_clean_exit
echo "cdrom: $(summary)"
read -r _ f _ < <(count_side cdrom)
exit $((f > 0))
