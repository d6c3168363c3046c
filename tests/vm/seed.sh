#!/usr/bin/env bash
# seed.sh — runs inside the test VM (tests/vm/run-vm.sh): seed volumes
# (docs/seed.md) built by netstickd and seen by the guest's Linux USB host.
#
#   tests/vm/run-vm.sh tests/vm/seed.sh
#   NETSTICK_CHECKS=seed_nocloud tests/vm/run-vm.sh tests/vm/seed.sh
#
# Checks (one behaviour each):
#   seed_nocloud_blkid_mount  `netstick seed 0 --kind nocloud ...` (text with
#                             {{serial}}/{{lun}}/{{site}}, a binary file in a
#                             nested directory, an empty file): blkid on the
#                             host shows TYPE=iso9660 LABEL=cidata, it
#                             mounts, every file is byte for byte the
#                             expected one (templates expanded), and the
#                             device's bytes hash to the seed's identity
#   seed_cdrom_nocloud        the same seed on LUN 2, a CD drive (type:
#                             cdrom): /dev/srX, TYPE=iso9660 LABEL=cidata,
#                             mounts, the same files, the same identity
#   seed_kickstart_swap       the catalog seed "ks" (kickstart) replaces it:
#                             the host's own sd driver notices the media
#                             change on open, blkid shows LABEL=OEMDRV, the
#                             mount holds the new ks.cfg, not the old files
#   seed_swap_unit_attention  on LUN 1 through sg: seed A, then seed B: the
#                             host gets UNIT ATTENTION 06/28/00, then the
#                             medium reads as B's identity
#   seed_bad_input_refused    a traversal name and a bad label are refused
#                             (CLI exit 7, HTTP 400) and the LUN keeps its
#                             seed
#   seed_daemon_survived      netstickd is alive and its API answers
#   seed_clean_exit           netstickd exits 0 on SIGTERM
#
# Closing line: "vm-seed: N passed, N failed".
set -euo pipefail
. tests/vm/lib.sh

CHECK_SIDE=seed
NETSTICK=${NETSTICK:-$REPO/build/netstick}
API_TOKEN=vm-seed-token-0123456789abcdef
FILES=$NSVM_TMP/seed-files
MNT=$NSVM_TMP/seed-mnt
SERIAL=NSTEST0001      # lib.sh's gadget serial: {{serial}}

ip link set lo up 2>/dev/null || true
modprobe dummy_hcd 2>/dev/null || true
modprobe sg 2>/dev/null || true
modprobe isofs 2>/dev/null || true
modprobe sr_mod 2>/dev/null || true

NETSTICKD_EXTRA_CONFIG="$(vm_api_config)
  allowed_schemes: [file]
  max_body: 1048576
seed:
  variables: {site: rack-7}
images:
  - name: ks
    description: kickstart for the rack
    seed:
      kind: kickstart
      files:
        ks.cfg: |
          # {{site}} lun {{lun}} serial {{serial}}
          text
          reboot"

ns() { NETSTICK_URL="http://127.0.0.1:$API_PORT" NETSTICK_TOKEN=$API_TOKEN "$NETSTICK" "$@"; }

# The LUN's media source ("seed:sha256-HEX").
source_of() { ns --json luns "$1" | sed -n 's/.*"source": *"\([^"]*\)".*/\1/p' | head -n 1; }

setup() {
	mkdir -p "$FILES/want/sub/dir" "$MNT"
	printf '#cloud-config\nhostname: node-{{serial}}-{{lun}}\nsite: {{site}}\n' >"$FILES/user-data"
	for l in 0 2; do   # {{lun}}: the seed goes on LUN 0 and LUN 2
		printf '#cloud-config\nhostname: node-%s-%s\nsite: rack-7\n' "$SERIAL" "$l" \
			>"$FILES/want/user-data-$l"
	done
	printf 'instance-id: iid-{{serial}}\nlocal-hostname: node\n' >"$FILES/meta-data"
	printf 'instance-id: iid-%s\nlocal-hostname: node\n' "$SERIAL" >"$FILES/want/meta-data"
	head -c 5000 /dev/urandom >"$FILES/blob.bin"
	printf '\0\0{{serial}}\377' >>"$FILES/blob.bin"   # binary: never templated
	cp "$FILES/blob.bin" "$FILES/want/sub/dir/blob.bin"
	: >"$FILES/empty"
	printf '# rack-7 lun 0 serial %s\ntext\nreboot\n' "$SERIAL" >"$FILES/want-ks.cfg"
	gadget_start netstickd "media=" "media=" "media=,type=cdrom"
	SD=$(disk_wait 0 30) || { echo "LUN 0 did not appear"; return 1; }
	SD1=$(disk_wait 1 30) || { echo "LUN 1 did not appear"; return 1; }
	SR=$(cd_wait 30) || { echo "LUN 2 (the CD drive) did not appear"; return 1; }
	SG1=$(sg_of "$SD1")
	for _ in $(seq 50); do API_PORT=$(api_port); [[ -n $API_PORT ]] && break; sleep 0.1; done
	[[ -n $API_PORT ]] || { echo "API did not start"; return 1; }
	ns status
}

# The CD drive: srX whose INQUIRY vendor is ours.
cd_wait() {
	local limit=${1:-30} i d
	for ((i = 0; i < limit * 10; i++)); do
		for d in /sys/block/sr*; do
			[[ -e $d/device/vendor ]] || continue
			[[ $(trim <"$d/device/vendor") == "$GADGET_VENDOR" && -b /dev/${d##*/} ]] &&
				{ echo "${d##*/}"; return 0; }
		done
		sleep 0.1
	done
	return 1
}

# blkid's view, probed from the device (no cache).
probe() { blkid -p -o export "/dev/$1" 2>&1 || true; }

# The medium's bytes hash to its identity.
identity_check() {
	local sd=$1 src id size
	src=$(source_of "$2")
	id=${src#seed:sha256-}
	[[ ${#id} -eq 64 ]] || fail "source is not a seed identity: $src"
	size=$(($(cat "/sys/block/$sd/size") * 512))
	[[ $(sha_range "/dev/$sd" 0 "$size") == "$id" ]] ||
		fail "/dev/$sd bytes do not hash to $id"
}

# ---------------------------------------------------------------- checks

# The nocloud seed's files on the mounted volume, byte for byte ($1: the
# LUN, in user-data).
nocloud_files_check() {
	ls -lR "$MNT"
	cmp "$MNT/user-data" "$FILES/want/user-data-$1" || fail "user-data differs"
	cmp "$MNT/meta-data" "$FILES/want/meta-data" || fail "meta-data differs"
	cmp "$MNT/sub/dir/blob.bin" "$FILES/want/sub/dir/blob.bin" || fail "blob.bin differs"
	[[ -f $MNT/empty && ! -s $MNT/empty ]] || fail "empty is missing or not empty"
}

# LUN $1 gets the nocloud seed; $2 is its block device (sdX, srX).
nocloud_on() {
	local out
	ns seed "$1" --kind nocloud user-data="$FILES/user-data" \
		meta-data="$FILES/meta-data" sub/dir/blob.bin="$FILES/blob.bin" \
		empty="$FILES/empty" || fail "netstick seed failed (exit $?)"
	out=$(probe "$2")      # the open: the host notices the new medium
	echo "$out"
	grep -qx 'TYPE=iso9660' <<<"$out" || fail "blkid: not TYPE=iso9660"
	grep -qx 'LABEL=cidata' <<<"$out" || fail "blkid: not LABEL=cidata"
	mount -t iso9660 -o ro "/dev/$2" "$MNT" || fail "mount failed"
	nocloud_files_check "$1"
	umount "$MNT"
	identity_check "$2" "$1"
}

check_nocloud() { nocloud_on 0 "$SD"; }
check_cdrom_nocloud() {
	[[ $(cat "/sys/block/$SR/device/type") == 5 ]] || fail "$SR is not a CD drive"
	nocloud_on 2 "$SR"
}

check_kickstart_swap() {
	local out
	ns insert 0 ks || fail "insert of catalog seed ks failed (exit $?)"
	out=$(probe "$SD")      # the open: sd's check_events sees the change
	echo "$out"
	grep -qx 'TYPE=iso9660' <<<"$out" || fail "blkid: not TYPE=iso9660"
	grep -qx 'LABEL=OEMDRV' <<<"$out" || fail "blkid: not LABEL=OEMDRV"
	mount -t iso9660 -o ro "/dev/$SD" "$MNT" || fail "mount failed"
	ls -lR "$MNT"
	cmp "$MNT/ks.cfg" "$FILES/want-ks.cfg" || fail "ks.cfg differs"
	[[ ! -e $MNT/user-data ]] || fail "the old seed's files are still seen"
	umount "$MNT"
	identity_check "$SD" 0
}

check_swap_unit_attention() {
	local rc id
	printf 'A\n' >"$FILES/a.txt"
	printf 'B\n' >"$FILES/b.txt"
	ns seed 1 --kind custom --label SEED_A a.txt="$FILES/a.txt" >/dev/null ||
		fail "seed A"
	for _ in 1 2 3; do sg_turs "$SG1" >/dev/null 2>&1 || true; done
	ns seed 1 --kind custom --label SEED_B b.txt="$FILES/b.txt" >/dev/null ||
		fail "seed B"
	rc=0
	sg_turs -v "$SG1" >"$NSVM_TMP/turs.out" 2>&1 || rc=$?
	cat "$NSVM_TMP/turs.out"
	((rc == 6)) || fail "first TUR after the swap: $rc, want UNIT ATTENTION (6)"
	grep -qi "may have changed" "$NSVM_TMP/turs.out" ||
		fail "the unit attention is not MEDIUM MAY HAVE CHANGED"
	sg_turs "$SG1" || fail "not ready after the unit attention"
	id=$(source_of 1)
	id=${id#seed:sha256-}
	last=$(sg_readcap "$SG1" | sed -n 's/.*Last LBA=\([0-9]*\).*/\1/p')
	[[ $(sg_dd if="$SG1" of=/dev/stdout bs=512 bpt=64 count=$((last + 1)) \
		2>/dev/null | sha) == "$id" ]] || fail "LUN 1 does not read as seed B"
	out=$(probe "$SD1")
	grep -qx 'LABEL=SEED_B' <<<"$out" || fail "blkid: not LABEL=SEED_B: $out"
}

check_bad_input_refused() {
	local rc before
	before=$(source_of 0)
	rc=0
	ns seed 0 --kind nocloud ../x="$FILES/user-data" \
		meta-data="$FILES/meta-data" 2>"$NSVM_TMP/ns.err" || rc=$?
	cat "$NSVM_TMP/ns.err"
	((rc == 7)) && grep -q bad_file_name "$NSVM_TMP/ns.err" ||
		fail "traversal name: exit $rc, want 7 bad_file_name"
	rc=0
	ns seed 0 --kind custom --label 'bad label!' a="$FILES/user-data" \
		2>"$NSVM_TMP/ns.err" || rc=$?
	((rc == 7)) && grep -q bad_label "$NSVM_TMP/ns.err" ||
		fail "bad label: exit $rc, want 7 bad_label"
	[[ $(source_of 0) == "$before" ]] || fail "the LUN's media changed"
}

check_daemon_survived() {
	netstickd_alive || fail "netstickd died: $(tail -n 20 "$NETSTICKD_LOG")"
	ns status >/dev/null || fail "API not answering"
}

# ---------------------------------------------------------------- main

export SD SD1 SG1 SR API_PORT
suite_run seed vm-seed --cli \
	seed_nocloud_blkid_mount check_nocloud \
	seed_cdrom_nocloud check_cdrom_nocloud \
	seed_kickstart_swap check_kickstart_swap \
	seed_swap_unit_attention check_swap_unit_attention \
	seed_bad_input_refused check_bad_input_refused \
	seed_daemon_survived check_daemon_survived
