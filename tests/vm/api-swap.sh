#!/usr/bin/env bash
# api-swap.sh — runs inside the test VM (tests/vm/run-vm.sh): media changes
# through the admin API (driven by the `netstick` CLI) while the guest's
# Linux USB host uses the gadget.
#
#   tests/vm/run-vm.sh tests/vm/api-swap.sh
#   NETSTICK_CHECKS=api_host_lock tests/vm/run-vm.sh tests/vm/api-swap.sh
#
# Checks (one behaviour each):
#   api_swap_under_reads     the host reads the disk nonstop (through sg, so
#                            no PREVENT); the API ejects, then inserts another
#                            image: the reader sees MEDIUM NOT PRESENT, then
#                            a UNIT ATTENTION; afterwards every block read
#                            (sg and the sd block device) is the new image's
#   api_loading_not_ready    an insert whose open takes 3 s (nbdkit delay
#                            filter): TEST UNIT READY answers NOT READY,
#                            BECOMING READY (02/04/01) during it, then
#                            UNIT ATTENTION 06/28/00, then ready
#   api_host_lock            while the host holds PREVENT MEDIUM REMOVAL
#                            (sg_prevent), eject and swap are refused (409,
#                            CLI exit 6) and the media stays; --force ejects
#   api_daemon_survived      netstickd is alive and its API answers
#   api_clean_exit           netstickd exits 0 on SIGTERM
#
# Closing line: "api-swap: N passed, N failed".
set -euo pipefail
. tests/vm/lib.sh

CHECK_SIDE=api
NETSTICK=${NETSTICK:-$REPO/build/netstick}
API_TOKEN=vm-api-swap-token-0123456789
IMG=$NSVM_TMP/api-images
A_MIB=16
B_MIB=24

ip link set lo up 2>/dev/null || true
modprobe dummy_hcd 2>/dev/null || true
modprobe sg 2>/dev/null || true

# netstickd's config from lib.sh, plus the api: and images: sections.
NETSTICKD_EXTRA_CONFIG="$(vm_api_config)
  allowed_dir: $IMG
  allowed_schemes: [file, nbd]
images:
  - {name: a, source: $IMG/a.img}
  - {name: b, source: $IMG/b.img}"

ns() { NETSTICK_URL="http://127.0.0.1:$API_PORT" NETSTICK_TOKEN=$API_TOKEN "$NETSTICK" "$@"; }

# Exit status of sg_turs: 0 ready, 2 NOT READY, 6 UNIT ATTENTION.
turs() { local rc=0; sg_turs -v "$SG" >"$NSVM_TMP/turs.out" 2>&1 || rc=$?; echo "$rc"; }

blocks_of() { sg_readcap "$SG" 2>/dev/null | sed -n 's/.*Last LBA=\([0-9]*\).*/\1/p'; }

# The whole medium through sg, hashed.
sg_sha() {
	local last
	last=$(blocks_of)
	[[ -n $last ]] || return 1
	sg_dd if="$SG" of=/dev/stdout bs=512 bpt=128 count=$((last + 1)) 2>/dev/null | sha
}

setup() {
	mkdir -p "$IMG"
	make_image "$IMG/a.img" $A_MIB
	make_image "$IMG/b.img" $B_MIB
	gadget_start netstickd "media=$IMG/a.img"
	SD=$(disk_wait 0 30) || { echo "disk did not appear"; return 1; }
	disk_wait_size "$SD" || { echo "no medium"; return 1; }
	SG=$(sg_of "$SD")
	for _ in $(seq 50); do API_PORT=$(api_port); [[ -n $API_PORT ]] && break; sleep 0.1; done
	[[ -n $API_PORT ]] || { echo "API did not start"; return 1; }
	ns status
	# Let the host's own probing settle (and eat the power-on attention).
	for _ in 1 2 3; do sg_turs "$SG" >/dev/null 2>&1 || true; done
}

# ---------------------------------------------------------------- checks

# Until $1 exists: TEST UNIT READY, then a random 64 KiB READ(10), both
# through sg, like a host polling and reading.  Neither tool retries: a
# unit attention is reported by whichever command the daemon gives it to
# (sg_dd would retry a READ's unit attention silently, so a swap landing
# between the TUR and the read would hide it).  One line per failure with
# the exit status and the decoded sense.
reader() {
	local stop=$1 errs=$2 blocks=$((A_MIB * 2048)) rc lba
	while [[ ! -e $stop ]]; do
		rc=0
		sg_turs -v "$SG" >"$errs.tmp" 2>&1 || rc=$?
		((rc == 0)) || echo "tur rc=$rc $(tr '\n' ' ' <"$errs.tmp")" >>"$errs"
		rc=0
		lba=$((RANDOM % (blocks / 128) * 128))
		sg_raw -r 65536 -o /dev/null "$SG" 28 00 \
			$(printf '%02x %02x %02x %02x' $((lba >> 24 & 255)) \
				$((lba >> 16 & 255)) $((lba >> 8 & 255)) $((lba & 255))) \
			00 00 80 00 >"$errs.tmp" 2>&1 || rc=$?
		if ((rc)); then
			echo "read rc=$rc $(tr '\n' ' ' <"$errs.tmp")" >>"$errs"
		else
			echo ok >>"$errs.ok"
		fi
	done
}

check_swap_under_reads() {
	local stop=$NSVM_TMP/reader.stop errs=$NSVM_TMP/reader.errs rpid n
	rm -f "$stop" "$errs" "$errs.ok"
	[[ $(sg_sha) == $(sha <"$IMG/a.img") ]] || fail "before: data is not image a"
	reader "$stop" "$errs" &
	rpid=$!
	sleep 2
	ns eject 0 || fail "eject refused (exit $?)"
	sleep 2
	ns insert 0 b || fail "insert b failed (exit $?)"
	sleep 2
	touch "$stop"
	wait "$rpid"
	n=$(wc -l <"$errs.ok" 2>/dev/null || echo 0)
	echo "reader: $n good reads; failures:"
	sort "$errs" 2>/dev/null | uniq -c | head -20 || true
	((n > 5)) || fail "the reader hardly read"
	grep -qi "not present" "$errs" ||
		fail "the reader never saw MEDIUM NOT PRESENT while empty"
	grep -qi "may have changed" "$errs" ||
		fail "the reader never saw UNIT ATTENTION 06/28/00 after the insert"
	# Every block now is the new image's (sg path)...
	[[ $(( $(blocks_of) + 1 )) -eq $((B_MIB * 2048)) ]] || fail "capacity is not image b's"
	[[ $(sg_sha) == $(sha <"$IMG/b.img") ]] || fail "sg read after the swap is not image b"
	# ...and through the sd block device once it has revalidated.
	echo 1 >"/sys/block/$SD/device/rescan"
	disk_wait_size "$SD"
	[[ $(($(cat "/sys/block/$SD/size") * 512)) -eq $((B_MIB << 20)) ]] ||
		fail "/dev/$SD size is not image b's"
	[[ $(sha_range "/dev/$SD" 0 $((B_MIB << 20))) == $(sha <"$IMG/b.img") ]] ||
		fail "/dev/$SD read after the swap is not image b"
}

check_loading_not_ready() {
	local port npid ins rc saw_loading=0 i
	requires nbdkit
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	nbdkit -f --exit-with-parent -i 127.0.0.1 -p "$port" --filter=delay \
		file "$IMG/a.img" delay-open=3 &
	npid=$!
	for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
	ns insert 0 "nbd://127.0.0.1:$port/" --force &
	ins=$!
	for i in $(seq 25); do
		sleep 0.1
		rc=$(turs)
		if ((rc == 2)) && grep -qi "becoming ready\|in process" "$NSVM_TMP/turs.out"; then
			saw_loading=1
			break
		fi
	done
	cat "$NSVM_TMP/turs.out"
	wait "$ins" || fail "the slow insert failed"
	((saw_loading)) || fail "TEST UNIT READY never answered 02/04/01 during the open"
	rc=$(turs)
	cat "$NSVM_TMP/turs.out"
	((rc == 6)) || fail "first TUR after the insert: $rc, want UNIT ATTENTION (6)"
	grep -qi "may have changed\|medium.*changed" "$NSVM_TMP/turs.out" ||
		fail "the unit attention is not MEDIUM MAY HAVE CHANGED"
	rc=$(turs)
	((rc == 0)) || fail "TUR after the unit attention: $rc, want ready"
	[[ $(sg_sha) == $(sha <"$IMG/a.img") ]] || fail "NBD media data is not image a"
	ns insert 0 b --force >/dev/null || fail "back to b"
	turs >/dev/null
	kill "$npid" 2>/dev/null || true
}

check_host_lock() {
	local rc=0 before
	turs >/dev/null
	sg_prevent --prevent=1 "$SG" || fail "sg_prevent"
	ns --json luns 0 | grep -Eq '"host_lock": ?true' || fail "host_lock not shown"
	before=$(sg_sha)
	ns eject 0 2>"$NSVM_TMP/ns.err" || rc=$?
	cat "$NSVM_TMP/ns.err"
	((rc == 6)) || fail "eject under the host lock: exit $rc, want 6"
	grep -q medium_locked "$NSVM_TMP/ns.err" || fail "no medium_locked code"
	rc=0
	ns insert 0 a 2>"$NSVM_TMP/ns.err" || rc=$?
	((rc == 6)) || fail "swap under the host lock: exit $rc, want 6"
	[[ $(turs) == 0 ]] || fail "the host lost its media after a refused eject"
	[[ $(sg_sha) == "$before" ]] || fail "the media changed after refused requests"
	ns eject 0 --force || fail "forced eject failed"
	rc=$(turs)
	((rc == 2)) && grep -qi "not present" "$NSVM_TMP/turs.out" ||
		fail "after the forced eject TUR is $rc, want MEDIUM NOT PRESENT"
	sg_prevent --allow "$SG" || true
	ns insert 0 b || fail "insert after the lock was released"
}

check_daemon_survived() {
	netstickd_alive || fail "netstickd died: $(tail -n 20 "$NETSTICKD_LOG")"
	ns status >/dev/null || fail "API not answering"
}

# ---------------------------------------------------------------- main

export SD SG API_PORT
suite_run api api-swap --cli \
	api_swap_under_reads check_swap_under_reads \
	api_loading_not_ready check_loading_not_ready \
	api_host_lock check_host_lock \
	api_daemon_survived check_daemon_survived
