#!/bin/bash
# CDB bytes come from $(be32 ...) and friends, split into words on purpose.
# shellcheck disable=SC2046
# conformance.sh — the USB mass-storage conformance battery.
#
# On the host:   tests/vm/conformance.sh [--speed high|super|both] [--kvm]
#   boots the VM once per speed (run-vm.sh) and runs itself inside.
# In the guest:  runs every check against the kernel's f_mass_storage (the
#   reference peer) and then against build/netstickd, on the same tmpfs
#   images, and prints a side-by-side table:
#       test-read-last-lba                       netstickd=PASS  kernel=PASS
#   The closing line counts only the netstickd column.
#
# NETSTICK_CHECKS=REGEX runs only the checks whose names match (the
# enumeration and stop checks of each group always run).
# Logs of every check: $RESULTS/logs/SIDE/NAME.log (host: --results DIR,
# default build/vm-results/conformance).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# NETSTICK_VM_SIDES="netstickd" runs one column only (e.g. the NBD pass).
read -ra SIDES <<<"${NETSTICK_VM_SIDES:-kernel netstickd}"
IMG_MIB=64
IMG2_MIB=16

# ================================================================ host side

host_main() {
	local speeds=(high super) kvm=() results rc=0 s t0 dir
	results=$(cd "$HERE/../.." && pwd)/build/vm-results/conformance
	while (($#)); do
		case $1 in
		--speed)
			case ${2:?} in
			both) speeds=(high super) ;;
			high | super) speeds=("$2") ;;
			*) echo "--speed high|super|both" >&2; exit 2 ;;
			esac
			shift ;;
		--kvm) kvm=(--kvm) ;;
		--results) results=${2:?}; shift ;;
		*) echo "usage: $0 [--speed high|super|both] [--kvm] [--results DIR]" >&2; exit 2 ;;
		esac
		shift
	done
	for s in "${speeds[@]}"; do
		dir=$results/$s
		rm -rf "$dir"
		mkdir -p "$dir"
		echo "=== conformance at $s speed (VM boot; results in $dir)"
		t0=$SECONDS
		local speed_opt=()
		[[ $s == super ]] && speed_opt=(--super-speed)
		"$HERE/run-vm.sh" "${kvm[@]}" "${speed_opt[@]}" --timeout 900 \
			--results "$dir" "$HERE/conformance.sh" || rc=$?
		echo "=== $s speed: $((SECONDS - t0)) s, VM exit status $rc"
		if ((rc != 0 && rc != 1)); then
			echo "VM run failed at $s speed" >&2
			echo "0 passed, 1 failed"
			exit 1
		fi
		rc=0
	done
	host_summary "$results" "${speeds[@]}"
}

# Counts of the netstickd column over every speed; exit 1 on any failure.
host_summary() {
	local results=$1 p f s
	shift
	read -r p f s < <(for s in "$@"; do cat "$results/$s/results.tsv"; done |
		awk -F'\t' '$1 == "netstickd" { n[$3]++ }
			END { printf "%d %d %d\n", n["PASS"], n["FAIL"], n["SKIP"] }')
	echo "netstickd over speeds ${*}:"
	if ((s)); then
		echo "$p passed, $f failed, $s skipped"
	else
		echo "$p passed, $f failed"
	fi
	((f == 0))
}

if [[ -z ${NETSTICK_VM:-} ]]; then
	host_main "$@"
	exit
fi

# ================================================================ guest side

# shellcheck source=lib.sh
source "$HERE/lib.sh"
SPEED=${NETSTICK_VM_SPEED:-high}
export CHECK_TIMEOUT=90
GROUP_BROKEN=	# why every check of the current group fails
NEED_MEDIUM=1	# start_group waits for a medium (size > 0)
SKIP_ALL=	# why every check of the current side is skipped

# check, but aware of a side being skipped or a group without a device.
t() {
	local name=$1
	selected "$name" || return 0
	if [[ -n $SKIP_ALL ]]; then
		record "$name" SKIP "$SKIP_ALL" >/dev/null
	elif [[ -n $GROUP_BROKEN ]]; then
		record "$name" FAIL "$GROUP_BROKEN"
	else
		check "$@"
	fi
}

fail() { echo "FAIL: $*"; exit 1; }

# ---------------------------------------------------------------- helpers

be32() { printf '%02x %02x %02x %02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
be64() { echo "$(be32 $(($1 >> 32))) $(be32 $(($1 & 0xffffffff)))"; }

# expect_sense KEY ASC CMD...: CMD must fail with that sense (sg3_utils text).
expect_sense() {
	local key=$1 asc=$2 out rc=0
	shift 2
	out=$("$@" 2>&1) || rc=$?
	echo "$ $*"
	echo "$out"
	((rc != 0)) || fail "command succeeded; expected $key / $asc"
	grep -qi "Sense key: $key" <<<"$out" || fail "expected sense key '$key'"
	grep -qi "Additional sense: $asc" <<<"$out" || fail "expected additional sense '$asc'"
}

# TEST UNIT READY through sg_raw, retried past unit attentions: prints the
# final output; status 0 when ready.
tur() {
	local i out
	for ((i = 0; i < 5; i++)); do
		out=$(sg_raw "$SG" 00 00 00 00 00 00 2>&1) && return 0
		grep -q "Unit Attention" <<<"$out" || break
	done
	echo "$out"
	return 1
}

read_block_sg() {	# read_block_sg LBA OUT (READ(10), one block)
	sg_raw -r 512 -o "$2" "$SG" 28 00 $(be32 "$1") 00 00 01 00
}

write_block_sg() {	# write_block_sg LBA IN (WRITE(10), one block)
	sg_raw -s 512 -i "$2" "$SG" 2a 00 $(be32 "$1") 00 00 01 00
}

same_block() {	# same_block FILE LBA: FILE equals block LBA of the backing image
	local a b
	a=$(sha <"$1")
	b=$(sha_range "$IMG" $(($2 * 512)) 512)
	echo "device $a image $b"
	[[ $a == "$b" ]] || fail "block $2 differs from the backing file"
}

# ---------------------------------------------------------------- groups

# start_group NAME LUNSPEC...: start the gadget, record NAME (enumeration)
# and set DEV, SG, IMG; on failure set GROUP_BROKEN.
start_group() {
	local name=$1
	shift
	GROUP_BROKEN=
	[[ -n $SKIP_ALL ]] && { record "$name" SKIP "$SKIP_ALL" >/dev/null; return 0; }
	if start_gadget "$@"; then
		record "$name" PASS
		return 0
	fi
	GROUP_BROKEN="no device: $START_WHY"
	record "$name" FAIL "$START_WHY"
	dmesg | tail -n 20 | sed 's/^/    | /'
	if [[ $CHECK_SIDE == netstickd && -n $NETSTICKD_LOG ]]; then
		tail -n 20 "$NETSTICKD_LOG" | sed 's/^/    netstickd| /'
	fi
	return 0
}

# Start the gadget and wait for LUN 0's disk with its medium; on failure
# START_WHY says why.  Not in a subshell: it sets NETSTICKD_PID and DEV.
start_gadget() {
	local sd
	START_WHY=
	if ! gadget_start "$CHECK_SIDE" "$@" >>"$LOG_DIR/gadget-$CHECK_SIDE.log" 2>&1; then
		START_WHY="gadget_start failed (see logs/gadget-$CHECK_SIDE.log)"
		return 1
	fi
	if ! sd=$(disk_wait 0 30); then
		if [[ $CHECK_SIDE == netstickd ]] && ! netstickd_alive; then
			START_WHY="netstickd exited"
		else
			START_WHY="no sd device with vendor $GADGET_VENDOR after 30 s"
		fi
		return 1
	fi
	if ((NEED_MEDIUM)) && ! disk_wait_size "$sd" 20; then
		START_WHY="$sd has no medium (size 0)"
		return 1
	fi
	set_disk "$sd"
}

# Fresh gadget in the middle of a group (after a check that may leave the
# medium out), without recording anything unless it fails.
restart_group() {
	[[ -n $SKIP_ALL || -n $GROUP_BROKEN ]] && return 0
	gadget_stop "$CHECK_SIDE" >/dev/null 2>&1 || true
	gadget_force_cleanup
	disk_wait_gone 10 || true
	start_gadget "$@" || GROUP_BROKEN="restart failed: $START_WHY"
}

set_disk() {
	DISK=$1
	DEV=/dev/$1
	SG=$(sg_of "$1")
}

# Re-find LUN 0 after a check that re-enumerated the device.
refresh_disk() {
	local sd
	[[ -n $SKIP_ALL || -n $GROUP_BROKEN ]] && return 0
	if sd=$(disk_wait 0 30); then
		set_disk "$sd"
	else
		GROUP_BROKEN="device did not come back"
	fi
}

# stop_group NAME [io]: stop the gadget (with "io": while the host reads).
stop_group() {
	local name=$1 io=${2:-} reader='' t0=$EPOCHREALTIME
	[[ -n $SKIP_ALL ]] && { record "$name" SKIP "$SKIP_ALL" >/dev/null; return 0; }
	if [[ $io == io && -z $GROUP_BROKEN ]]; then
		dd if="$DEV" of=/dev/null bs=1M iflag=direct status=none 2>/dev/null &
		reader=$!
		sleep 0.5
	fi
	if check_stop; then
		record "$name" PASS "" "$(elapsed "$t0")"
	else
		record "$name" FAIL "$STOP_WHY" "$(elapsed "$t0")"
		[[ $CHECK_SIDE == netstickd && -n $NETSTICKD_LOG ]] && tail -n 10 "$NETSTICKD_LOG" | sed 's/^/    netstickd| /'
		gadget_force_cleanup
	fi
	if [[ -n $reader ]]; then
		kill_tree "$reader"
		wait "$reader" 2>/dev/null || true
	fi
	disk_wait_gone 10 || true
	GROUP_BROKEN=
}

# Stop the gadget: the host's disk must go away and nothing may be left
# behind (netstickd: exit status 0, no configfs gadget, no ffs mount).
check_stop() {
	local rc=0
	STOP_WHY=
	gadget_stop "$CHECK_SIDE" || rc=$?
	if ((rc)); then
		STOP_WHY="exit status $rc"
	elif ! disk_wait_gone 10; then
		STOP_WHY="host disk still present 10 s after stop"
	elif gadget_leftovers; then
		STOP_WHY="configfs gadget or functionfs mount left behind"
	fi
	[[ -z $STOP_WHY ]]
}

# ---------------------------------------------------------------- checks: identity

t_usb_speed() {
	local u want=480
	[[ $SPEED == super ]] && want=5000
	u=$(usbdev_of "$DISK")
	echo "$u speed=$(cat "$u/speed")"
	[[ $(cat "$u/speed") == "$want" ]] || fail "expected $want"
}

t_sysfs_vendor_model() {
	local v m
	v=$(trim <"/sys/block/$DISK/device/vendor")
	m=$(trim <"/sys/block/$DISK/device/model")
	echo "vendor='$v' model='$m'"
	[[ $v == "$GADGET_VENDOR" && $m == "$GADGET_PRODUCT" ]] || fail "vendor/model"
}

t_inquiry_standard() {
	local out
	out=$(sg_inq "$SG")
	echo "$out"
	grep -q "PDT=0 " <<<"$out" || fail "not a direct-access device"
	grep -q "RMB=1" <<<"$out" || fail "not removable"
	grep -q "Vendor identification: $GADGET_VENDOR" <<<"$out" || fail "vendor"
}

t_inquiry_vpd_supported() {
	local out
	out=$(sg_inq -p 0x00 "$SG")
	echo "$out"
	grep -qi "0x80" <<<"$out" || fail "page 0x80 not listed"
	grep -qi "0x83" <<<"$out" || fail "page 0x83 not listed"
}

t_inquiry_vpd_serial() {
	local out
	out=$(sg_inq -p 0x80 "$SG")
	echo "$out"
	grep -qi "Unit serial number: ..*" <<<"$out" || fail "no serial number"
}

t_inquiry_vpd_devid() {
	local out
	out=$(sg_inq -p 0x83 "$SG")
	echo "$out"
	grep -qi "designator" <<<"$out" || fail "no designator"
}

t_inquiry_bad_field() {	# EVPD=0 with a page code: 05/24/00
	expect_sense "Illegal Request" "Invalid field in cdb" \
		sg_raw -r 36 "$SG" 12 00 80 00 24 00
}

t_bad_opcode() {
	expect_sense "Illegal Request" "Invalid command operation code" \
		sg_raw "$SG" ff 00 00 00 00 00
}

t_read_capacity10() {
	local out
	out=$(sg_readcap "$SG")
	echo "$out"
	grep -q "Last LBA=$((BLOCKS - 1)) " <<<"$out" || fail "last LBA"
	grep -q "Logical block length=512 bytes" <<<"$out" || fail "block length"
}

t_read_capacity16() {
	local out
	out=$(sg_readcap --16 "$SG")
	echo "$out"
	grep -q "Last LBA=$((BLOCKS - 1)) " <<<"$out" || fail "last LBA"
	grep -q "Logical block length=512 bytes" <<<"$out" || fail "block length"
}

t_read_format_capacities() {
	sg_raw -r 252 "$SG" 23 00 00 00 00 00 00 00 fc 00
}

t_test_unit_ready() { sg_turs -v "$SG"; }

t_request_sense() {
	local out
	out=$(sg_requests "$SG" 2>&1)
	echo "$out"
	grep -q "Sense key: No Sense" <<<"$out" || fail "expected NO SENSE"
}

# DESC=1: descriptor-format sense (response code 0x72).
t_request_sense_desc() {
	local out
	out=$(sg_requests --desc -v "$SG" 2>&1)
	echo "$out"
	grep -qi "descriptor format" <<<"$out" || fail "expected descriptor format"
	grep -q "Sense key: No Sense" <<<"$out" || fail "expected NO SENSE"
}

t_mode_sense6() {
	local out
	out=$(sg_modes -6 -p 0x3f "$SG")
	echo "$out"
	grep -q "WP=0" <<<"$out" || fail "WP bit set on a writable LUN"
}

t_mode_sense10() {
	local out
	out=$(sg_modes -p 0x3f "$SG")
	echo "$out"
	grep -q "WP=0" <<<"$out" || fail "WP bit set on a writable LUN"
}

t_mode_sense_caching() { sg_modes -p 0x08 "$SG"; }

t_mode_sense_bad_page() {	# page 0x05 (flexible disk) is not a disk's
	expect_sense "Illegal Request" "Invalid field in cdb" \
		sg_raw -r 252 "$SG" 1a 00 05 00 fc 00
}

# Windows sends REQUEST SENSE with a 12-byte CDB, SeaBIOS everything with 12.
t_cdb_longer_than_needed() {
	sg_raw -r 18 "$SG" 03 00 00 00 12 00 00 00 00 00 00 00
	sg_raw "$SG" 00 00 00 00 00 00 00 00 00 00 00 00
	sg_raw -r 36 "$SG" 12 00 00 00 24 00 00 00 00 00 00 00
}

t_inquiry_alloc() {	# t_inquiry_alloc LEN: any allocation length works
	sg_raw -r "$1" "$SG" 12 00 00 $(printf '%02x %02x' $(($1 >> 8)) $(($1 & 255))) 00
	tur
}

# ---------------------------------------------------------------- checks: BOT cases
# The thirteen cases of the Bulk-Only spec where host and device disagree on
# the data phase.  The command may fail, but the device must answer, keep
# its data, and work afterwards.

# After a phase disagreement: ready again, and block 0 still right.
still_works() {
	local f=$NSVM_TMP/blk.$$
	tur || fail "not ready after the phase error"
	read_block_sg 0 "$f"
	same_block "$f" 0
}

t_bot_hi_gt_di() {	# Hi > Di: 1024 expected, 512 sent, residue 512
	local out
	out=$(sg_raw -v -r 1024 "$SG" 28 00 00 00 00 00 00 00 01 00 2>&1) || { echo "$out"; fail "READ failed"; }
	echo "$out"
	still_works
}

t_bot_hi_lt_di() {	# Hi < Di: 512 expected, device has 1024
	sg_raw -r 512 "$SG" 28 00 00 00 00 00 00 00 02 00 || echo "command failed (allowed)"
	still_works
}

t_bot_hn_lt_di() {	# Hn < Di: no data expected, device has 512
	sg_raw "$SG" 28 00 00 00 00 00 00 00 01 00 || echo "command failed (allowed)"
	still_works
}

t_bot_ho_gt_do() {	# Ho > Do: host sends 1024 bytes for a 1-block WRITE
	local in=$NSVM_TMP/in.$$ next
	head -c 1024 /dev/urandom >"$in"
	next=$(sha_range "$IMG" $((101 * 512)) 512)
	sg_raw -s 1024 -i "$in" "$SG" 2a 00 $(be32 100) 00 00 01 00 || echo "command failed (allowed)"
	sg_sync "$SG" || true
	[[ $(sha_range "$IMG" $((101 * 512)) 512) == "$next" ]] || fail "the excess data overwrote block 101"
	still_works
}

t_bot_ho_lt_do() {	# Ho < Do: 512 bytes sent for a 2-block WRITE
	local in=$NSVM_TMP/in.$$
	head -c 512 /dev/urandom >"$in"
	sg_raw -s 512 -i "$in" "$SG" 2a 00 $(be32 300) 00 00 02 00 || echo "command failed (allowed)"
	still_works
}

t_read_zero_length() { sg_raw "$SG" 28 00 00 00 00 00 00 00 00 00; }

# ---------------------------------------------------------------- checks: data

t_read_lba() {	# t_read_lba LBA
	local f=$NSVM_TMP/blk.$$
	read_block_sg "$1" "$f"
	same_block "$f" "$1"
}

t_read_past_end() {
	expect_sense "Illegal Request" "Logical block address out of range" \
		sg_raw -r 512 "$SG" 28 00 $(be32 "$BLOCKS") 00 00 01 00
}

t_read_cdb() {	# t_read_cdb 6|12|16: READ(n) of the last block (READ(6): block 1000)
	local f=$NSVM_TMP/blk.$$ lba=$((BLOCKS - 1))
	case $1 in
	6) lba=1000; sg_raw -r 512 -o "$f" "$SG" 08 00 $(printf '%02x %02x' $((lba >> 8)) $((lba & 255))) 01 00 ;;
	12) sg_raw -r 512 -o "$f" "$SG" a8 00 $(be32 $lba) 00 00 00 01 00 00 ;;
	16) sg_raw -r 512 -o "$f" "$SG" 88 00 $(be64 $lba) 00 00 00 01 00 00 ;;
	esac
	same_block "$f" "$lba"
}

t_read_full_checksum() {
	local a b
	a=$(sha_range "$DEV" 0 $((BLOCKS * 512)))
	b=$(sha <"$IMG")
	echo "device $a image $b"
	[[ $a == "$b" ]] || fail "device content differs from the backing file"
}

t_write_lba() {	# t_write_lba LBA: WRITE(10) through sg, then read back
	local in=$NSVM_TMP/in.$$ out=$NSVM_TMP/out.$$
	head -c 512 /dev/urandom >"$in"
	write_block_sg "$1" "$in"
	sg_sync "$SG"
	same_block "$in" "$1"
	read_block_sg "$1" "$out"
	cmp "$in" "$out" || fail "read back differs"
}

t_write_past_end() {
	local in=$NSVM_TMP/in.$$
	head -c 512 /dev/urandom >"$in"
	expect_sense "Illegal Request" "Logical block address out of range" \
		sg_raw -s 512 -i "$in" "$SG" 2a 00 $(be32 "$BLOCKS") 00 00 01 00
}

t_write16() {
	local in=$NSVM_TMP/in.$$ lba=$((BLOCKS - 2))
	head -c 512 /dev/urandom >"$in"
	sg_raw -s 512 -i "$in" "$SG" 8a 00 $(be64 $lba) 00 00 00 01 00 00
	sg_sync "$SG"
	same_block "$in" "$lba"
}

t_write_fua() {	# WRITE(10) with FUA: in the backing file with no SYNCHRONIZE
	local in=$NSVM_TMP/in.$$
	head -c 512 /dev/urandom >"$in"
	sg_raw -s 512 -i "$in" "$SG" 2a 08 $(be32 200) 00 00 01 00
	same_block "$in" 200
}

t_sync_cache16() { sg_raw "$SG" 91 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00; }

t_verify() { sg_verify -v --lba=0 --count=16 "$SG"; }
t_sync_cache() { sg_sync -v "$SG"; }

# 8 MiB of random data at 1 MiB, O_DIRECT both ways, checked three times:
# read back through USB, and in the gadget's backing file.
t_dd_direct_roundtrip() {
	local data=$NSVM_TMP/rt.$$ a b c
	head -c 8M /dev/urandom >"$data"
	a=$(sha <"$data")
	dd if="$data" of="$DEV" bs=1M seek=1 oflag=direct conv=fsync status=none
	b=$(sha_range "$DEV" $((1 << 20)) $((8 << 20)))
	sg_sync "$SG"
	c=$(sha_range "$IMG" $((1 << 20)) $((8 << 20)))
	echo "written $a read $b backing $c"
	[[ $a == "$b" ]] || fail "read back differs"
	[[ $a == "$c" ]] || fail "backing file differs"
}

t_vfat() {
	local mnt=$NSVM_TMP/mnt.$$ sum
	mkdir -p "$mnt"
	mkfs.vfat -I "$DEV"
	mount -t vfat "$DEV" "$mnt"
	head -c 3M /dev/urandom >"$mnt/data.bin"
	echo "hello netstick" >"$mnt/hello.txt"
	mkdir "$mnt/dir" && cp "$mnt/hello.txt" "$mnt/dir/copy.txt"
	sum=$(sha <"$mnt/data.bin")
	umount "$mnt"
	blockdev --flushbufs "$DEV"
	fsck.vfat -n "$DEV"
	mount -t vfat -o ro "$DEV" "$mnt"
	[[ $(sha <"$mnt/data.bin") == "$sum" ]] || { umount "$mnt"; fail "file differs after remount"; }
	umount "$mnt"
}

t_ext4() {
	local mnt=$NSVM_TMP/mnt.$$ sum
	mkdir -p "$mnt"
	mkfs.ext4 -F -q "$DEV"
	mount -t ext4 "$DEV" "$mnt"
	head -c 4M /dev/urandom >"$mnt/data.bin"
	sum=$(sha <"$mnt/data.bin")
	sync
	umount "$mnt"
	blockdev --flushbufs "$DEV"
	fsck.ext4 -fn "$DEV"
	mount -t ext4 -o ro "$DEV" "$mnt"
	[[ $(sha <"$mnt/data.bin") == "$sum" ]] || { umount "$mnt"; fail "file differs after remount"; }
	umount "$mnt"
}

# ---------------------------------------------------------------- checks: medium

t_prevent_allow() {
	sg_prevent -v --prevent=1 "$SG"
	sg_prevent -v --allow "$SG"
}

t_prevent_blocks_eject() {
	sg_prevent --prevent=1 "$SG"
	expect_sense "Illegal Request" "Medium removal prevented" \
		sg_raw "$SG" 1b 00 00 00 02 00 || { sg_prevent --allow "$SG"; exit 1; }
	sg_prevent --allow "$SG"
	tur || fail "medium gone after a refused eject"
}

t_eject_start_stop() {
	sg_prevent --allow "$SG"
	sg_start -v --eject "$SG"
	expect_sense "Not Ready" "Medium not present" sg_raw "$SG" 00 00 00 00 00 00
}

t_load_start_stop() {
	sg_start -v --load "$SG" || true
	tur || fail "not ready after LOAD"
	t_read_lba 0
}

t_load_unit_attention() {	# eject, load: the first TUR reports 06/28/00
	local out i
	sg_prevent --allow "$SG"
	sg_start --eject "$SG"
	sg_start --load "$SG" || true
	out=$(sg_raw "$SG" 00 00 00 00 00 00 2>&1) && fail "no unit attention after LOAD"
	echo "$out"
	grep -q "Sense key: Unit Attention" <<<"$out" || fail "expected UNIT ATTENTION"
	grep -qi "medium may have changed" <<<"$out" || fail "expected 28/00"
	tur || fail "not ready after the unit attention"
}

t_host_eject() {
	requires eject
	eject -v "$DEV"
	expect_sense "Not Ready" "Medium not present" sg_raw "$SG" 00 00 00 00 00 00
}

# ---------------------------------------------------------------- checks: LUNs

t_two_luns_present() {
	disk_list
	[[ -n $SD1 ]] || fail "LUN 1 did not appear"
	[[ $(disk_list | wc -l) == 2 ]] || fail "expected 2 disks"
}

t_lun1_full_checksum() {
	local a b
	a=$(sha_range "/dev/$SD1" 0 $((IMG2_MIB << 20)))
	b=$(sha <"$IMG2")
	echo "lun1 $a image $b"
	[[ $a == "$b" ]] || fail "LUN 1 content differs from its backing file"
}

t_two_luns_parallel() {
	local a b pa pb
	a=$NSVM_TMP/a.$$ b=$NSVM_TMP/b.$$
	sha_range "$DEV" 0 $((16 << 20)) >"$a" &
	pa=$!
	sha_range "/dev/$SD1" 0 $((IMG2_MIB << 20)) >"$b" &
	pb=$!
	wait "$pa" && wait "$pb"
	[[ $(cat "$a") == "$(sha_range "$IMG" 0 $((16 << 20)))" ]] || fail "LUN 0 data"
	[[ $(cat "$b") == "$(sha <"$IMG2")" ]] || fail "LUN 1 data"
}

t_lun0_is_lun0() {
	[[ $(sha_range "$DEV" 0 1048576) == "$(sha_range "$IMG" 0 1048576)" ]] || fail "LUN 0 data"
}

t_ro_sysfs() {
	echo "ro=$(cat "/sys/block/$SD1/ro")"
	[[ $(cat "/sys/block/$SD1/ro") == 1 ]] || fail "host did not see the LUN as read-only"
}

t_ro_mode_sense_wp() {
	local out
	out=$(sg_modes -p 0x3f "$(sg_of "$SD1")")
	echo "$out"
	grep -q "WP=1" <<<"$out" || fail "WP bit not set"
}

t_ro_write_refused() {
	local in=$NSVM_TMP/in.$$ before
	head -c 512 /dev/urandom >"$in"
	before=$(sha <"$IMG2")
	expect_sense "Data Protect" "Write protected" \
		sg_raw -s 512 -i "$in" "$(sg_of "$SD1")" 2a 00 00 00 00 10 00 00 01 00
	[[ $(sha <"$IMG2") == "$before" ]] || fail "backing file of the read-only LUN changed"
}

# ---------------------------------------------------------------- checks: resets

# Full read in the background; reset the link in the middle of it with
# RESET_CMD; when the disk is back, the whole device must match the file.
reset_during_io() {
	local reset_cmd=$1 pid sd i
	# A command lost in the reset is retried after the SCSI timeout (30 s by
	# default, the same for both gadgets): keep that short.
	echo 10 >"/sys/block/$DISK/device/timeout"
	dd if="$DEV" of=/dev/null bs=1M iflag=direct status=none &
	pid=$!
	sleep 0.5
	"$reset_cmd"
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && { kill_tree "$pid"; fail "reader hung 30 s after the reset"; }
	wait "$pid" || echo "reader failed during the reset (expected)"
	sd=$(disk_wait 0 30) || fail "disk did not come back"
	disk_wait_size "$sd" 20 || fail "disk has no medium after the reset"
	set_disk "$sd"
	tur || true
	t_read_full_checksum
}

reauthorize() {
	local u
	u=$(usbdev_of "$DISK")
	echo 0 >"$u/authorized"
	disk_wait_gone 20 || fail "disk still there after deauthorize"
	echo 1 >"$u/authorized"
}

sg_reset_device() { sg_reset -v --device "$SG" || true; }

t_reauthorize_during_io() { reset_during_io reauthorize; }
t_sg_reset_during_io() { reset_during_io sg_reset_device; }

t_write_after_reset() {
	t_write_lba 4242
}

# ---------------------------------------------------------------- checks: empty drive

t_empty_size() {
	echo "size=$(cat "/sys/block/$DISK/size")"
	[[ $(cat "/sys/block/$DISK/size") == 0 ]] || fail "the host sees a medium"
}

t_empty_tur() {
	tur || true
	expect_sense "Not Ready" "Medium not present" sg_raw "$SG" 00 00 00 00 00 00
}

t_empty_read_capacity() {
	expect_sense "Not Ready" "Medium not present" \
		sg_raw -r 8 "$SG" 25 00 00 00 00 00 00 00 00 00
}

t_empty_read() {
	expect_sense "Not Ready" "Medium not present" \
		sg_raw -r 512 "$SG" 28 00 00 00 00 00 00 00 01 00
}

# ---------------------------------------------------------------- checks: 4 KiB blocks

t_4k_read_capacity() {
	local out
	out=$(sg_readcap "$SG")
	echo "$out"
	grep -q "Last LBA=$((IMG_MIB * 256 - 1)) " <<<"$out" || fail "last LBA"
	grep -q "Logical block length=4096 bytes" <<<"$out" || fail "block length"
}

t_4k_host_block_size() {
	echo "logical_block_size=$(cat "/sys/block/$DISK/queue/logical_block_size")"
	[[ $(cat "/sys/block/$DISK/queue/logical_block_size") == 4096 ]] || fail "host did not take 4096"
}

t_4k_read_last_block() {
	local f=$NSVM_TMP/blk4.$$ lba=$((IMG_MIB * 256 - 1))
	sg_raw -r 4096 -o "$f" "$SG" 28 00 $(be32 $lba) 00 00 01 00
	[[ $(sha <"$f") == "$(sha_range "$IMG" $((lba * 4096)) 4096)" ]] || fail "last block differs"
}

t_4k_full_checksum() {
	[[ $(sha_range "$DEV" 0 $((IMG_MIB << 20))) == "$(sha <"$IMG")" ]] || fail "device content differs"
}

# ---------------------------------------------------------------- checks: raw BOT

# bot_raw.py CHECK through usbfs (usb-storage is detached for good).
t_bot_raw() {
	requires python3
	python3 "$HERE/bot_raw.py" "$USBDEV" "$@"
}

# ---------------------------------------------------------------- battery

group_single() {
	IMG=$NSVM_TMP/$CHECK_SIDE-a.img
	cp "$PRISTINE" "$IMG"
	BLOCKS=$((IMG_MIB * 2048))
	start_group test-enumerate "media=$IMG"
	t test-usb-speed t_usb_speed
	t test-sysfs-vendor-model t_sysfs_vendor_model
	t test-inquiry-standard t_inquiry_standard
	t test-inquiry-vpd-supported-pages t_inquiry_vpd_supported
	t test-inquiry-vpd-unit-serial t_inquiry_vpd_serial
	t test-inquiry-vpd-device-id t_inquiry_vpd_devid
	t test-inquiry-invalid-field t_inquiry_bad_field
	t test-invalid-opcode t_bad_opcode
	t test-read-capacity-10 t_read_capacity10
	t test-read-capacity-16 t_read_capacity16
	t test-read-format-capacities t_read_format_capacities
	t test-test-unit-ready t_test_unit_ready
	t test-request-sense-no-sense t_request_sense
	t test-request-sense-descriptor t_request_sense_desc
	t test-mode-sense-6-all-pages t_mode_sense6
	t test-mode-sense-10-all-pages t_mode_sense10
	t test-mode-sense-caching-page t_mode_sense_caching
	t test-mode-sense-unsupported-page t_mode_sense_bad_page
	t test-cdb-longer-than-needed t_cdb_longer_than_needed
	t test-inquiry-alloc-5 t_inquiry_alloc 5
	t test-inquiry-alloc-255 t_inquiry_alloc 255
	t test-read-full-checksum t_read_full_checksum
	t test-read-lba-0 t_read_lba 0
	t test-read-last-lba t_read_lba $((BLOCKS - 1))
	t test-read-past-end t_read_past_end
	t test-read-6 t_read_cdb 6
	t test-read-12 t_read_cdb 12
	t test-read-16 t_read_cdb 16
	t test-write-lba-0 t_write_lba 0
	t test-write-last-lba t_write_lba $((BLOCKS - 1))
	t test-write-past-end t_write_past_end
	t test-write-16 t_write16
	t test-write-fua-reaches-media t_write_fua
	t test-read-zero-length t_read_zero_length
	t test-bot-hi-gt-di-residue t_bot_hi_gt_di
	t test-bot-hi-lt-di-recovers t_bot_hi_lt_di
	t test-bot-hn-lt-di-recovers t_bot_hn_lt_di
	t test-bot-ho-gt-do-no-overwrite t_bot_ho_gt_do
	t test-bot-ho-lt-do-recovers t_bot_ho_lt_do
	t test-verify t_verify
	t test-sync-cache-16 t_sync_cache16
	t test-sync-cache t_sync_cache
	t test-dd-direct-roundtrip t_dd_direct_roundtrip
	t test-vfat-mkfs-mount-fsck t_vfat
	t test-ext4-mkfs-mount-fsck t_ext4
	t test-prevent-allow t_prevent_allow
	t test-prevent-blocks-eject t_prevent_blocks_eject
	t test-eject-start-stop t_eject_start_stop
	t test-load-start-stop t_load_start_stop
	restart_group "media=$IMG"
	t test-load-reports-unit-attention t_load_unit_attention
	restart_group "media=$IMG"
	t test-host-eject t_host_eject
	t test-load-after-host-eject t_load_start_stop
	stop_group test-stop-clean
}

group_luns() {
	IMG=$NSVM_TMP/$CHECK_SIDE-a.img
	IMG2=$NSVM_TMP/$CHECK_SIDE-b.img
	cp "$PRISTINE" "$IMG"
	cp "$PRISTINE2" "$IMG2"
	BLOCKS=$((IMG_MIB * 2048))
	SD1=
	start_group test-enumerate-two-luns "media=$IMG" "media=$IMG2,ro=1"
	[[ -z $GROUP_BROKEN && -z $SKIP_ALL ]] && SD1=$(disk_wait 1 10 || true)
	t test-two-luns-present t_two_luns_present
	[[ -z $SD1 && -z $SKIP_ALL && -z $GROUP_BROKEN ]] && GROUP_BROKEN="LUN 1 missing"
	t test-lun0-data t_lun0_is_lun0
	t test-lun1-data t_lun1_full_checksum
	t test-two-luns-parallel-reads t_two_luns_parallel
	t test-readonly-lun-sysfs-ro t_ro_sysfs
	t test-readonly-lun-mode-sense-wp t_ro_mode_sense_wp
	t test-readonly-lun-write-refused t_ro_write_refused
	t test-writable-lun-beside-readonly t_write_lba 77
	[[ -n $GROUP_BROKEN || -n $SKIP_ALL ]] || USBDEV=$(usbdev_of "$DISK")
	t test-bot-get-max-lun-two-luns t_bot_raw get-max-lun 1
	stop_group test-stop-clean-two-luns
}

group_resets() {
	IMG=$NSVM_TMP/$CHECK_SIDE-a.img
	cp "$PRISTINE" "$IMG"
	BLOCKS=$((IMG_MIB * 2048))
	start_group test-enumerate-for-resets "media=$IMG"
	t test-usb-reauthorize-during-io t_reauthorize_during_io
	refresh_disk
	t test-write-after-reauthorize t_write_after_reset
	t test-sg-reset-device-during-io t_sg_reset_during_io
	refresh_disk
	t test-write-after-sg-reset t_write_after_reset
	stop_group test-stop-during-io io
}

# netstickd killed with SIGKILL while the host writes, then started again:
# the host re-enumerates, the daemon reclaims the gadget its predecessor left,
# and everything the host had synced before the kill is intact (journal
# replay, then a clean fsck).  The kernel gadget cannot be killed.
# Every step that could hang on the dead device is bounded (see bounded in
# lib.sh) and logged with the uptime, so a hang names its step and shows the
# stuck tasks' kernel stacks.
CRASH_MNT=$NSVM_TMP/mnt-crash

crash_synced_file() {
	head -c 4M /dev/urandom >"$CRASH_MNT/synced.bin"
	sha <"$CRASH_MNT/synced.bin" >"$NSVM_TMP/crash-sum"
	sync
}

t_sigkill_during_writes() {
	local writer i size=0
	mkdir -p "$CRASH_MNT"
	bounded 30 "mkfs.ext4 $DEV" mkfs.ext4 -F -q "$DEV" || fail "mkfs.ext4"
	bounded 20 "mount $DEV" mount -t ext4 "$DEV" "$CRASH_MNT" || fail "mount"
	bounded 30 "4 MiB file, sync" crash_synced_file || fail "writing the synced file"
	# O_DIRECT: the writes are on the wire when the daemon dies, not in
	# the host's page cache.
	step "writer starts"
	dd if=/dev/urandom of="$CRASH_MNT/unsynced.bin" bs=64k count=2000 \
		oflag=direct status=none 2>/dev/null &
	writer=$!
	for ((i = 0; i < 100 && size < 1 << 20; i++)); do
		sleep 0.1
		size=$(stat -c %s "$CRASH_MNT/unsynced.bin" 2>/dev/null || echo 0)
	done
	pid_state "$writer"
	step "writer (state $PID_STATE) has written $size bytes; SIGKILL netstickd ($NETSTICKD_PID)"
	kill -KILL "$NETSTICKD_PID"
	pid_exited "$NETSTICKD_PID" 20 || { dump_stuck; fail "netstickd still there 20 s after SIGKILL"; }
	step "netstickd is dead"
	disk_wait_gone 30 || { dump_stuck; fail "the host still sees the disk 30 s after SIGKILL"; }
	step "the host's disk is gone"
	kill -KILL "$writer" 2>/dev/null || true
	pid_exited "$writer" 30 || { dump_stuck; fail "the writer is stuck 30 s after the disk went"; }
	wait "$writer" 2>/dev/null || true
	step "the writer is gone"
	bounded 20 "umount -l" umount -l "$CRASH_MNT" || fail "lazy umount of the dead file system"
	step "done"
}

t_restart_reclaimed() {
	grep -q "reclaiming" "$NETSTICKD_LOG" ||
		fail "the restarted daemon did not reclaim the old gadget"
}

crash_same_sum() { [[ $(sha <"$CRASH_MNT/synced.bin") == "$(cat "$NSVM_TMP/crash-sum")" ]]; }

t_synced_data_intact() {
	local rc=0
	bounded 30 "mount $DEV (journal replay)" mount -t ext4 "$DEV" "$CRASH_MNT" ||
		fail "mount after the restart"
	bounded 30 "checksum of the synced file" crash_same_sum || rc=$?
	((rc != 124)) || fail "reading the synced file"
	bounded 20 "umount" umount "$CRASH_MNT" || fail "umount"
	((rc == 0)) || fail "synced file differs"
	bounded 60 "fsck" fsck.ext4 -fn "$DEV" || fail "fsck after journal replay is not clean"
	step "done"
}

# Restart without cleaning up after the kill: the new daemon must cope
# with the gadget and FunctionFS mount its predecessor left.  The old
# daemon was killed inside the check (a subshell): reap it here, bounded.
restart_after_kill() {
	local sd
	[[ -n $SKIP_ALL || -n $GROUP_BROKEN ]] && return 0
	if ! pid_exited "$NETSTICKD_PID" 30; then
		dump_stuck >>"$LOG_DIR/gadget-$CHECK_SIDE.log"
		pid_state "$NETSTICKD_PID"
		GROUP_BROKEN="netstickd ($NETSTICKD_PID) still there 30 s after SIGKILL (state $PID_STATE)"
		return 0
	fi
	wait "$NETSTICKD_PID" 2>/dev/null || true
	NETSTICKD_PID=
	# Else disk_wait below would find the dead disk.
	if ! disk_wait_gone 30; then
		dump_stuck >>"$LOG_DIR/gadget-$CHECK_SIDE.log"
		GROUP_BROKEN="the host still sees the disk of the killed netstickd"
		return 0
	fi
	if ! netstickd_start "media=$IMG" >>"$LOG_DIR/gadget-$CHECK_SIDE.log" 2>&1 ||
	   ! sd=$(disk_wait 0 30) || ! disk_wait_size "$sd" 20; then
		GROUP_BROKEN="netstickd did not come back after SIGKILL"
		return 0
	fi
	set_disk "$sd"
}

group_crash() {
	local saved=$SKIP_ALL CHECK_TIMEOUT=180
	# The kill is what the other two checks look at: it runs whenever
	# any of the three is selected.
	selected test-sigkill-during-writes || selected test-restart-reclaims-gadget ||
		selected test-synced-data-intact-after-sigkill || return 0
	[[ $CHECK_SIDE == kernel ]] && SKIP_ALL="the kernel gadget cannot be killed"
	IMG=$NSVM_TMP/$CHECK_SIDE-a.img
	cp "$PRISTINE" "$IMG"
	start_group test-enumerate-for-crash "media=$IMG"
	NETSTICK_CHECKS='' t test-sigkill-during-writes t_sigkill_during_writes
	restart_after_kill
	t test-restart-reclaims-gadget t_restart_reclaimed
	t test-synced-data-intact-after-sigkill t_synced_data_intact
	stop_group test-stop-after-restart
	SKIP_ALL=$saved
}

# A removable drive with no medium.
group_empty() {
	NEED_MEDIUM=0
	start_group test-enumerate-empty-drive "media="
	NEED_MEDIUM=1
	t test-empty-drive-size-zero t_empty_size
	t test-empty-drive-tur-not-present t_empty_tur
	t test-empty-drive-read-capacity-not-present t_empty_read_capacity
	t test-empty-drive-read-not-present t_empty_read
	stop_group test-stop-clean-empty-drive
}

# 4096-byte logical blocks (netstickd only: f_mass_storage has no setting).
group_4k() {
	local saved=$SKIP_ALL
	[[ $CHECK_SIDE == kernel ]] && SKIP_ALL="f_mass_storage has no block size setting"
	IMG=$NSVM_TMP/$CHECK_SIDE-a.img
	cp "$PRISTINE" "$IMG"
	start_group test-enumerate-4k-blocks "media=$IMG,block_size=4096"
	t test-4k-read-capacity t_4k_read_capacity
	t test-4k-host-block-size t_4k_host_block_size
	t test-4k-read-last-block t_4k_read_last_block
	t test-4k-read-full-checksum t_4k_full_checksum
	t test-4k-ext4-mkfs-mount-fsck t_ext4
	stop_group test-stop-clean-4k-blocks
	SKIP_ALL=$saved
}

# Below SCSI: CBW/CSW by hand (usb-storage detached).
group_bot() {
	IMG=$NSVM_TMP/$CHECK_SIDE-a.img
	cp "$PRISTINE" "$IMG"
	BLOCKS=$((IMG_MIB * 2048))
	start_group test-enumerate-for-bot "media=$IMG"
	[[ -n $GROUP_BROKEN || -n $SKIP_ALL ]] || USBDEV=$(usbdev_of "$DISK")
	t test-bot-get-max-lun t_bot_raw get-max-lun 0
	t test-bot-inquiry-csw t_bot_raw inquiry
	t test-bot-hi-gt-di-residue-raw t_bot_raw hi-gt-di
	t test-bot-invalid-cbw-signature-stalls t_bot_raw invalid-cbw
	t test-bot-short-cbw-stalls t_bot_raw short-cbw
	t test-bot-stalled-until-reset t_bot_raw wedged-until-reset
	t test-bot-reset-mid-data t_bot_raw reset-mid-data
	stop_group test-stop-clean-after-bot
}

run_side() {
	CHECK_SIDE=$1
	SKIP_ALL=
	if [[ $CHECK_SIDE == netstickd ]] && ! netstickd_available; then
		SKIP_ALL="$NETSTICKD missing: run make first"
		echo "# netstickd column skipped: $SKIP_ALL"
	fi
	log "side $CHECK_SIDE at $SPEED speed"
	group_single
	group_luns
	group_resets
	group_crash
	group_empty
	group_4k
	group_bot
}

print_table() {
	echo
	echo "== conformance at $SPEED speed (netstickd vs the kernel's f_mass_storage)"
	awk -F'\t' '
		!($2 in seen) { seen[$2] = 1; order[++n] = $2 }
		{ st[$1, $2] = $3 }
		END {
			for (i = 1; i <= n; i++) {
				c = order[i]
				ns = (("netstickd", c) in st) ? st["netstickd", c] : "-"
				k = (("kernel", c) in st) ? st["kernel", c] : "-"
				printf "%-44s netstickd=%-4s  kernel=%s\n", c, ns, k
			}
		}' "$RESULTS_TSV"
	echo "kernel (reference, not counted): $(summary kernel)"
}

guest_main() {
	: >"$RESULTS_TSV"
	echo 0 >/sys/module/usb_storage/parameters/delay_use
	PRISTINE=$NSVM_TMP/pristine-a.img
	PRISTINE2=$NSVM_TMP/pristine-b.img
	make_image "$PRISTINE" "$IMG_MIB"
	make_image "$PRISTINE2" "$IMG2_MIB"
	local side t0 dmesg_pid
	# The kernel log as it comes, so that it is there even when the VM
	# times out; tasks blocked for 30 s get their stacks in it.
	[[ ! -w /proc/sys/kernel/hung_task_timeout_secs ]] ||
		echo 30 >/proc/sys/kernel/hung_task_timeout_secs
	dmesg -w >"$LOG_DIR/dmesg.txt" 2>&1 &
	dmesg_pid=$!
	for side in "${SIDES[@]}"; do
		t0=$SECONDS
		run_side "$side"
		log "side $side took $((SECONDS - t0)) s"
	done
	kill "$dmesg_pid" 2>/dev/null || true
	print_table
	echo "netstickd: $(summary netstickd)"
	[[ $(count_side netstickd | cut -d' ' -f2) == 0 ]]
}

guest_main
