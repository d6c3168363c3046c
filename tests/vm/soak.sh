#!/usr/bin/env bash
# soak.sh — runs inside the test VM (tests/vm/run-vm.sh): the soak test of
# issue 15, bounded by NETSTICK_SOAK_SECONDS (default 180; `make soak`,
# `make soak SOAK_SECONDS=3600` for longer).
#
#   LUN 0  a local file image          LUN 1  nbd:// (nbdkit file plugin)
#
# Rounds of 5-9 s: the guest's USB host writes, reads and flushes random
# 4 KiB blocks on both disks with O_DIRECT (soak_host.py, which records
# every acknowledged and every flushed write), while one fault picked at
# in turn hits at a random moment:
#
#   nbd_kill      the NBD server is killed and restarted 1-3 s later
#   api_swap      the admin API swaps LUN 0 for the same image (force)
#   start_stop    the host ejects LUN 1 (START STOP UNIT, LoEj) and loads it
#   bot_reset     the host resets the device (SG_SCSI_RESET: Bulk-Only
#                 reset recovery)
#
# After every fourth round (from the second): netstickd is SIGKILLed and
# restarted (no
# I/O in flight: sigkill-loop.sh is the stress of SIGKILL under writes,
# which hits a Linux 6.1 FunctionFS deadlock about one kill in twenty).
#
# At the end both images are read directly: every write acknowledged
# before a successful flush is there, and no read during the run returned
# a block other than one the media could hold at that point (stale 0).
# The daemon's descriptor count and RSS are sampled after every round; the
# longest-lived daemon's must be flat.
#
# Checks: soak_no_stale, soak_no_lost, soak_fds_flat, soak_rss_flat,
# soak_daemon_alive.  Closing line: "soak: N passed, N failed".
set -euo pipefail
. tests/vm/lib.sh

CHECK_SIDE=soak
SECONDS_TOTAL=${NETSTICK_SOAK_SECONDS:-180}
API_TOKEN=vm-soak-token-0123456789abcdef
IMG=$NSVM_TMP/soak
NBD_PORT=10950
STATE=$NSVM_TMP/soak-state
HOST=tests/vm/soak_host.py
OPS_LOG=$LOG_DIR/soak-ops.log
export GADGET_PRODUCT="Soak Disk"

ip link set lo up 2>/dev/null || true
modprobe dummy_hcd 2>/dev/null || true
modprobe sg 2>/dev/null || true
echo 0 >/sys/module/usb_storage/parameters/delay_use
mkdir -p "$IMG" "$STATE" "$LOG_DIR"
rm -f "$STATE"/*.json
: >"$OPS_LOG"
truncate -s 64M "$IMG/lun0.img" "$IMG/lun1.img"

NETSTICKD_EXTRA_CONFIG="$(vm_api_config)
  allowed_dir: $IMG
  allowed_schemes: [file, nbd]"

NBD_PID=
nbd_start() {
	nbdkit -i 127.0.0.1 -p "$NBD_PORT" -P "$NSVM_TMP/soak-nbd.pid" file \
		"$IMG/lun1.img" >>"$LOG_DIR/soak-nbdkit.log" 2>&1
	NBD_PID=$(cat "$NSVM_TMP/soak-nbd.pid")
}
nbd_stop() { [[ -z $NBD_PID ]] || kill -TERM "$NBD_PID" 2>/dev/null || true; NBD_PID=; }

API_PORT=
daemon_up() {
	netstickd_start "media=$IMG/lun0.img" \
		"media=nbd://127.0.0.1:$NBD_PORT/" || return 1
	SD0=$(disk_wait 0 30) && SD1=$(disk_wait 1 30) || return 1
	disk_wait_size "$SD0" 20 && disk_wait_size "$SD1" 20 || return 1
	for _ in $(seq 50); do API_PORT=$(api_port); [[ -n $API_PORT ]] && break; sleep 0.1; done
	DAEMON_SAMPLES=()
}

# "fds rss_kib" of the running daemon.
sample() {
	echo "$(ls /proc/"$NETSTICKD_PID"/fd | wc -l) $(awk '/^VmRSS/ { print $2 }' /proc/"$NETSTICKD_PID"/status)"
}

# verdict NAME OK WHY: PASS when OK is 1, else FAIL with WHY.
verdict() { if (($2)); then record "$1" PASS; else record "$1" FAIL "$3"; fi; }

op() { echo "$(date +%T) $*" >>"$OPS_LOG"; OPS=$((OPS + 1)); }

# The faults take turns (from a random first one), each at a random
# moment of its round, so a short run still has every kind.
FAULT_NEXT=$((RANDOM % 4))
fault() {
	FAULT_NEXT=$(((FAULT_NEXT + 1) % 4))
	case $FAULT_NEXT in
	0) op nbd_kill; nbd_stop; sleep "$((RANDOM % 3 + 1))"; nbd_start ;;
	1) op api_swap
	   curl -s -o /dev/null -w '%{http_code}\n' -X PUT \
		-H "Authorization: Bearer $API_TOKEN" \
		-d "{\"source\":\"$IMG/lun0.img\"}" \
		"http://127.0.0.1:$API_PORT/api/v1/luns/0/media?force=true" >>"$OPS_LOG" || true ;;
	2) op start_stop
	   # Linux's sd holds PREVENT while the disk is open: allow, then eject.
	   sg_prevent --allow "$(sg_of "$SD1")" >>"$OPS_LOG" 2>&1 || true
	   sg_start --eject "$(sg_of "$SD1")" >>"$OPS_LOG" 2>&1 || true
	   sleep 1; sg_start --load "$(sg_of "$SD1")" >>"$OPS_LOG" 2>&1 || true ;;
	3) op bot_reset; sg_reset --device "$(sg_of "$SD0")" >>"$OPS_LOG" 2>&1 || true ;;
	esac
}

round() {
	local t=$((RANDOM % 5 + 5)) p0 p1 rc=0
	python3 "$HOST" run "$STATE/lun0.json" "/dev/$SD0" "$t" "$RANDOM" >>"$OPS_LOG" 2>&1 &
	p0=$!
	python3 "$HOST" run "$STATE/lun1.json" "/dev/$SD1" "$t" "$RANDOM" >>"$OPS_LOG" 2>&1 &
	p1=$!
	sleep "$((RANDOM % (t - 2) + 1))"
	fault
	wait "$p0" || rc=1
	wait "$p1" || rc=1
	return $rc
}

OPS=0 STALE_RC=0 KILLS=0 ROUNDS=0
BEST=()   # samples of the longest-lived daemon
nbd_start
daemon_up || { echo "soak: netstickd did not come up"; echo "soak: 0 passed, 1 failed"; exit 1; }
start=$SECONDS
while ((SECONDS - start < SECONDS_TOTAL)); do
	ROUNDS=$((ROUNDS + 1))
	round || STALE_RC=1
	netstickd_alive || break
	DAEMON_SAMPLES+=("$(sample)")
	((${#DAEMON_SAMPLES[@]} <= ${#BEST[@]})) || BEST=("${DAEMON_SAMPLES[@]}")
	if ((ROUNDS % 4 == 2 && SECONDS - start < SECONDS_TOTAL - 30)); then
		op sigkill; KILLS=$((KILLS + 1))
		kill -KILL "$NETSTICKD_PID"
		pid_exited "$NETSTICKD_PID" 20 || break
		disk_wait_gone 30 || break
		daemon_up || break
	fi
done
ALIVE=0
netstickd_alive && ALIVE=1
netstickd_stop >/dev/null 2>&1 || true
nbd_stop
sleep 1

step "rounds $ROUNDS, faults $OPS (SIGKILLs $KILLS)"
verdict soak_daemon_alive "$ALIVE" "the daemon died or did not come back"
verdict soak_no_stale "$((STALE_RC == 0))" "a read returned a stale block ($OPS_LOG)"
lost=0
python3 "$HOST" verify "$STATE/lun0.json" "$IMG/lun0.img" | tee -a "$OPS_LOG" || lost=1
python3 "$HOST" verify "$STATE/lun1.json" "$IMG/lun1.img" | tee -a "$OPS_LOG" || lost=1
verdict soak_no_lost "$((lost == 0))" "a flushed write is not on the media"
read -r f0 r0 <<<"${BEST[0]:-0 0}"
read -r f1 r1 <<<"${BEST[-1]:-0 0}"
echo "# fds ${f0} -> ${f1}, RSS ${r0} -> ${r1} KiB over ${#BEST[@]} rounds of one daemon"
verdict soak_fds_flat "$((${#BEST[@]} >= 2 && f1 <= f0 + 4))" "fds $f0 -> $f1"
verdict soak_rss_flat "$((${#BEST[@]} >= 2 && r1 <= r0 + 16384))" "RSS $r0 -> $r1 KiB"
grep -h "^soak-host" "$OPS_LOG" | awk '{ w += $4; r += $6; f += $8; e += $10; s += $12 } END { printf "# host: writes %d reads %d flushes %d errors %d stale %d\n", w, r, f, e, s }' || true
echo "soak: $(summary "$CHECK_SIDE")"
