# shellcheck shell=bash
# lib.sh — helpers for scripts that run inside the test VM (run-vm.sh).
# Source it from a bash script that uses `set -euo pipefail`.
#
# Checks
#   check NAME CMD...     run CMD (usually a shell function) in a subshell
#                         with errexit, bounded by $CHECK_TIMEOUT seconds;
#                         records PASS, FAIL, or SKIP (exit 77, see skip).
#                         Output goes to $LOG_DIR/$CHECK_SIDE/NAME.log and its
#                         tail is shown on failure.  Never fails itself.
#   record NAME STATUS [WHY]   record a result computed by the caller
#   skip WHY / requires CMD... / fail WHY   inside a check body
#   summary               "N passed, N failed[, N skipped]" for $CHECK_SIDE
# Results are appended to $RESULTS_TSV as "side<TAB>name<TAB>status<TAB>why".
# NETSTICK_CHECKS=REGEX runs only the checks whose names match.
#
# Gadgets (one at a time; LUN specs are comma-separated key=value lists:
# media=PATH,ro=0|1,removable=0|1,product=STR,block_size=512,type=disk|cdrom)
#   gadget_start SIDE LUNSPEC...   SIDE is "kernel" (f_mass_storage via
#                                  configfs) or "netstickd" (build/netstickd)
#   gadget_stop SIDE
# Host side (the same VM enumerates the gadget through dummy_hcd)
#   disk_wait [LUN] [TIMEOUT]      print sdX once the disk is there
#   disk_wait_gone [TIMEOUT]
#   sg_of sdX / usbdev_of sdX      /dev/sgN, /sys/bus/usb/devices/N-M

NSVM_TMP=${NSVM_TMP:-/run/nsvm}
NSVM_RESULTS=${NETSTICK_VM_RESULTS:-$NSVM_TMP}
LOG_DIR=${LOG_DIR:-$NSVM_RESULTS/logs}
RESULTS_TSV=${RESULTS_TSV:-$NSVM_RESULTS/results.tsv}
CHECK_SIDE=${CHECK_SIDE:-main}
CHECK_TIMEOUT=${CHECK_TIMEOUT:-120}
REPO=${REPO:-$(pwd)}
# NETSTICK_VM_DAEMON (passed into the guest like every NETSTICK_* variable)
# runs the suite against another binary, e.g. the packaged /usr/sbin/netstickd.
NETSTICKD=${NETSTICK_VM_DAEMON:-${NETSTICKD:-$REPO/build/netstickd}}

GADGET_VENDOR=${GADGET_VENDOR:-netstick}
GADGET_PRODUCT=${GADGET_PRODUCT:-Test Disk}
GADGET_UDC=${GADGET_UDC:-dummy_udc.0}
GADGET_NAME=nstest		# configfs gadget directory, both sides
CONFIGFS=/sys/kernel/config/usb_gadget
FFS_DIR=$NSVM_TMP/ffs
NETSTICKD_PID=
NETSTICKD_LOG=

mkdir -p "$NSVM_TMP" "$LOG_DIR"

log() { echo "# $*"; }

# ---------------------------------------------------------------- checks

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; return 1; }
requires() {
	local c
	for c; do
		command -v "$c" >/dev/null || skip "$c is not installed"
	done
}

# All process ids below $1 (children first-level, then theirs).
descendants() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

kill_tree() {
	local p
	for p in $(descendants "$1") "$1"; do
		kill -KILL "$p" 2>/dev/null || true
	done
}

# Wait for $1 at most $2 seconds; 124 on timeout (and the tree is killed).
wait_bounded() {
	local pid=$1 limit=$2 wd rc=0
	(
		sleep "$limit" &
		trap 'kill $! 2>/dev/null; exit 0' TERM
		wait $!
		echo "TIMEOUT after ${limit}s" >&2
		kill_tree "$pid"
	) &
	wd=$!
	wait "$pid" || rc=$?
	if kill -0 "$wd" 2>/dev/null; then
		kill -TERM "$wd" 2>/dev/null || true
		wait "$wd" 2>/dev/null || true
	else
		rc=124
	fi
	return "$rc"
}

# ---------------------------------------------------------------- bounded steps
# For checks that may leave a task stuck in the kernel (SIGKILL under I/O):
# `wait`, and `timeout` itself, never return while a child sleeps in D state,
# so these poll /proc instead, say where time goes, and show the stuck tasks.

# A progress line stamped with the uptime, as dmesg stamps its lines.
step() {
	local up
	read -r up _ </proc/uptime
	printf '[%10s] %s\n' "$up" "$*"
}

# pid_state PID: PID_STATE = its state letter (R, S, D, Z...), empty once
# it is gone.  No subshell: it is polled.
pid_state() {
	local line
	PID_STATE=
	read -r line 2>/dev/null <"/proc/$1/stat" || return 0
	line=${line##*) }
	PID_STATE=${line%% *}
}

# pid_exited PID SECONDS: 0 once PID is a zombie or gone, 1 after SECONDS of
# wall time (counted by the clock: polls slow down on a loaded machine).
pid_exited() {
	local end=$((SECONDS + $2 + 1))
	while ((SECONDS < end)); do
		pid_state "$1"
		[[ -z $PID_STATE || $PID_STATE == Z ]] && return 0
		sleep 0.1
	done
	return 1
}

# Every task in uninterruptible sleep with its kernel stack, then the end of
# dmesg; also appended to $LOG_DIR/stuck.txt, which outlives a check's log.
dump_stuck() {
	local p
	{
		step "tasks in D state:"
		for p in /proc/[0-9]*; do
			pid_state "${p#/proc/}"
			[[ $PID_STATE == D ]] || continue
			echo "  pid ${p#/proc/} ($(cat "$p/comm" 2>/dev/null)):"
			sed 's/^/      /' "$p/stack" 2>/dev/null || true
		done
		echo "  dmesg:"
		dmesg | tail -n 40 | sed 's/^/    /'
	} | tee -a "$LOG_DIR/stuck.txt"
}

# bounded SECONDS WHAT CMD...: CMD in the background, at most SECONDS; its
# status, or 124 (with dump_stuck) when it did not finish: then it is sent
# SIGKILL but not waited for, as it may never die.
bounded() {
	local secs=$1 what=$2 pid rc=0
	shift 2
	step "$what"
	"$@" &
	pid=$!
	if ! pid_exited "$pid" "$secs"; then
		step "$what: not done after ${secs} s"
		dump_stuck
		kill_tree "$pid"
		return 124
	fi
	wait "$pid" || rc=$?
	return "$rc"
}

selected() {
	[[ -z ${NETSTICK_CHECKS:-} ]] || [[ $1 =~ $NETSTICK_CHECKS ]]
}

# record NAME STATUS [WHY [SECONDS]]
record() {
	local name=$1 status=$2 why=${3:-} secs=${4:-}
	printf '%s\t%s\t%s\t%s\t%s\n' "$CHECK_SIDE" "$name" "$status" "$why" "$secs" >>"$RESULTS_TSV"
	printf '%-4s [%s] %s%s%s\n' "$status" "$CHECK_SIDE" "$name" "${why:+ ($why)}" "${secs:+ ${secs}s}"
}

# Seconds since $1 (an $EPOCHREALTIME), one decimal.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

check() {
	local name=$1 logf rc=0 why='' t0=$EPOCHREALTIME secs
	shift
	selected "$name" || return 0
	mkdir -p "$LOG_DIR/$CHECK_SIDE"
	logf=$LOG_DIR/$CHECK_SIDE/$name.log
	("$@") >"$logf" 2>&1 </dev/null &
	wait_bounded $! "$CHECK_TIMEOUT" 2>>"$logf" || rc=$?
	secs=$(elapsed "$t0")
	case $rc in
	0) record "$name" PASS "" "$secs" ;;
	77) record "$name" SKIP "$(sed -n 's/^SKIP: //p' "$logf" | tail -n 1)" "$secs" ;;
	*)
		((rc == 124)) && why="timed out after ${CHECK_TIMEOUT}s"
		record "$name" FAIL "$why" "$secs"
		tail -n 15 "$logf" | sed 's/^/    | /'
		;;
	esac
	return 0
}

# Counts for one side from $RESULTS_TSV: "P F S".
count_side() {
	awk -F'\t' -v s="$1" '$1 == s { n[$3]++ }
		END { printf "%d %d %d\n", n["PASS"], n["FAIL"], n["SKIP"] }' \
		"$RESULTS_TSV" 2>/dev/null || echo "0 0 0"
}

summary() {
	local p f s
	read -r p f s < <(count_side "${1:-$CHECK_SIDE}")
	if ((s)); then
		echo "$p passed, $f failed, $s skipped"
	else
		echo "$p passed, $f failed"
	fi
}

# ---------------------------------------------------------------- host side

trim() { sed -e 's/[[:space:]]*$//' -e 's/^[[:space:]]*//'; }

# Our disks: sdX whose INQUIRY vendor/model match, with their LUN number.
disk_list() {
	local d addr v m
	for d in /sys/block/sd*; do
		[[ -e $d/device/vendor ]] || continue
		v=$(trim <"$d/device/vendor")
		m=$(trim <"$d/device/model")
		[[ $v == "$GADGET_VENDOR" ]] || continue
		[[ -z ${DISK_MODEL:-} || $m == "$DISK_MODEL" ]] || continue
		addr=$(basename "$(readlink -f "$d/device")")
		echo "${d##*/} ${addr##*:}"
	done
}

# disk_wait [LUN] [TIMEOUT]: print sdX of LUN (default 0) once it exists
# with its /dev node; 1 after TIMEOUT seconds (default 30).
disk_wait() {
	local lun=${1:-0} limit=${2:-30} i sd
	for ((i = 0; i < limit * 10; i++)); do
		sd=$(disk_list | awk -v l="$lun" '$2 == l { print $1; exit }')
		if [[ -n $sd && -b /dev/$sd && -n $(ls "/sys/block/$sd/device/scsi_generic" 2>/dev/null) ]]; then
			echo "$sd"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

disk_wait_gone() {
	local limit=${1:-30} i
	for ((i = 0; i < limit * 10; i++)); do
		[[ -z $(disk_list) ]] && return 0
		sleep 0.1
	done
	return 1
}

# disk_wait_size sdX [TIMEOUT]: wait until the medium is visible (size > 0).
disk_wait_size() {
	local sd=$1 limit=${2:-30} i
	for ((i = 0; i < limit * 10; i++)); do
		(($(cat "/sys/block/$sd/size" 2>/dev/null || echo 0) > 0)) && return 0
		sleep 0.1
	done
	return 1
}

sg_of() { echo "/dev/$(ls "/sys/block/$1/device/scsi_generic")"; }

# The USB device (not the interface) the disk hangs off.
usbdev_of() {
	local p
	p=$(readlink -f "/sys/block/$1/device")
	while [[ $p == /sys/* && ! -e $p/idVendor ]]; do
		p=${p%/*}
	done
	[[ -e $p/idVendor ]] && echo "$p"
}

# ---------------------------------------------------------------- gadgets

# lun_get SPEC KEY DEFAULT
lun_get() {
	local kv
	IFS=, read -ra kv <<<"$1"
	for kv in "${kv[@]}"; do
		if [[ ${kv%%=*} == "$2" ]]; then
			echo "${kv#*=}"
			return
		fi
	done
	echo "$3"
}

gadget_start() {
	local side=$1
	shift
	case $side in
	kernel) kgadget_start "$@" ;;
	netstickd) netstickd_start "$@" ;;
	*) echo "unknown side $side" >&2; return 1 ;;
	esac
}

gadget_stop() {
	case $1 in
	kernel) kgadget_stop ;;
	netstickd) netstickd_stop ;;
	esac
}

# The kernel's f_mass_storage, the reference peer.
kgadget_start() {
	local g=$CONFIGFS/$GADGET_NAME f i=0 spec l
	mkdir "$g"
	echo 0x1d6b >"$g/idVendor"
	echo 0x0104 >"$g/idProduct"
	mkdir "$g/strings/0x409"
	echo "kernel-ref-0001" >"$g/strings/0x409/serialnumber"
	echo "$GADGET_VENDOR" >"$g/strings/0x409/manufacturer"
	echo "f_mass_storage reference" >"$g/strings/0x409/product"
	mkdir -p "$g/configs/c.1/strings/0x409"
	echo "mass storage" >"$g/configs/c.1/strings/0x409/configuration"
	echo 100 >"$g/configs/c.1/MaxPower"
	f=$g/functions/mass_storage.0
	mkdir "$f"
	for spec; do
		l=$f/lun.$i
		[[ -d $l ]] || mkdir "$l"
		echo "$(lun_get "$spec" removable 1)" >"$l/removable"
		echo "$(lun_get "$spec" ro 0)" >"$l/ro"
		printf '%-8.8s%-16.16s%-4.4s' "$GADGET_VENDOR" \
			"$(lun_get "$spec" product "$GADGET_PRODUCT")" "0.1" >"$l/inquiry_string"
		echo "$(lun_get "$spec" media "")" >"$l/file"
		i=$((i + 1))
	done
	ln -s "$f" "$g/configs/c.1/"
	echo "$GADGET_UDC" >"$g/UDC"
}

kgadget_stop() {
	local g=$CONFIGFS/$GADGET_NAME l
	[[ -d $g ]] || return 0
	echo "" >"$g/UDC" 2>/dev/null || true
	rm -f "$g/configs/c.1/mass_storage.0"
	rmdir "$g/configs/c.1/strings/0x409" "$g/configs/c.1" 2>/dev/null || true
	for l in "$g"/functions/mass_storage.0/lun.[1-9]*; do
		[[ -d $l ]] && rmdir "$l"
	done
	rmdir "$g/functions/mass_storage.0" 2>/dev/null || true
	rmdir "$g/strings/0x409" "$g"
}

netstickd_available() { [[ -x $NETSTICKD ]]; }

# netstickd_config LUNSPEC...: YAML in the format of the repo's config.yaml.
# NETSTICK_USB_TRANSFER_SIZE / NETSTICK_USB_QUEUE_DEPTH set the usb: section.
netstickd_config() {
	local spec
	cat <<-EOF
	log:
	  level: ${NETSTICKD_LOG_LEVEL:-info}
	gadget:
	  name: $GADGET_NAME
	  udc: $GADGET_UDC
	  serial: "NSTEST0001"
	  functionfs_dir: $FFS_DIR
	EOF
	if [[ -n ${NETSTICK_USB_TRANSFER_SIZE:-}${NETSTICK_USB_QUEUE_DEPTH:-} ]]; then
		echo "usb:"
		[[ -z ${NETSTICK_USB_TRANSFER_SIZE:-} ]] || echo "  transfer_size: $NETSTICK_USB_TRANSFER_SIZE"
		[[ -z ${NETSTICK_USB_QUEUE_DEPTH:-} ]] || echo "  queue_depth: $NETSTICK_USB_QUEUE_DEPTH"
	fi
	echo "luns:"
	for spec; do
		cat <<-EOF
		  - type: $(lun_get "$spec" type disk)
		    media: "$(lun_get "$spec" media "")"
		    readonly: $( (($(lun_get "$spec" ro 0))) && echo true || echo false)
		    removable: $( (($(lun_get "$spec" removable 1))) && echo true || echo false)
		    block_size: $(lun_get "$spec" block_size 512)
		    vendor: "$GADGET_VENDOR"
		    product: "$(lun_get "$spec" product "$GADGET_PRODUCT")"
		EOF
		netstickd_layers "$spec"
	done
	# More top-level sections (api:, images:) a script needs, verbatim.
	[[ -z ${NETSTICKD_EXTRA_CONFIG:-} ]] || printf '%s\n' "$NETSTICKD_EXTRA_CONFIG"
}

# The api: section of a script that drives the admin API, for the start
# of NETSTICKD_EXTRA_CONFIG: any free port (read back from the log) and
# the token $API_TOKEN; the script's own api: keys (indented) and further
# sections follow it.
vm_api_config() {
	printf 'api:\n  port: 0\n  token: "%s"' "$API_TOKEN"
}

# The layers: of one LUN: the spec's layer=NAME:K=V+K=V ('+' for the
# commas a spec cannot hold), then NETSTICK_VM_LAYERS (one spec with real
# commas, put on every LUN: the battery behind the inject layer).
# netlayer=SPEC (or none): the LUN's network_layers instead of the default.
netstickd_layers() {
	local one net
	one=$(lun_get "$1" layer "")
	net=$(lun_get "$1" netlayer "")
	if [[ $net == none ]]; then
		echo "    network_layers: []"
	elif [[ -n $net ]]; then
		echo "    network_layers: [\"${net//+/,}\"]"
	fi
	[[ -n $one || -n ${NETSTICK_VM_LAYERS:-} ]] || return 0
	echo "    layers:"
	[[ -z $one ]] || echo "      - \"${one//+/,}\""
	[[ -z ${NETSTICK_VM_LAYERS:-} ]] || echo "      - \"$NETSTICK_VM_LAYERS\""
}

# NETSTICK_VM_MEDIA_VIA=nbd: netstickd reads every image through a real
# NBD server instead of opening the file (nbdkit's file plugin on loopback,
# serving the same file, so checks that look at the image still see what
# the host wrote).  One nbdkit per image, restarted with the daemon.
NBD_MEDIA_PIDS=()
NBD_MEDIA_PORT=10900
nbd_media_stop() {
	local p
	for p in "${NBD_MEDIA_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	NBD_MEDIA_PIDS=()
}

# Rewrites the LUN specs in NETSTICKD_SPECS: media=PATH -> media=nbd://...
nbd_media_specs() {
	local i path pidf
	ip link set lo up 2>/dev/null || true
	for i in "${!NETSTICKD_SPECS[@]}"; do
		path=$(lun_get "${NETSTICKD_SPECS[i]}" media "")
		[[ -n $path && $path != *://* ]] || continue
		NBD_MEDIA_PORT=$((NBD_MEDIA_PORT + 1))
		pidf=$NSVM_TMP/nbdkit-$NBD_MEDIA_PORT.pid
		nbdkit -i 127.0.0.1 -p "$NBD_MEDIA_PORT" -P "$pidf" file "$path" \
			>>"$LOG_DIR/nbdkit.log" 2>&1 || return 1
		NBD_MEDIA_PIDS+=("$(cat "$pidf")")
		NETSTICKD_SPECS[i]=${NETSTICKD_SPECS[i]/media=$path/media=nbd://127.0.0.1:$NBD_MEDIA_PORT/}
	done
}

NETSTICKD_RUNS=0
netstickd_start() {
	local cfg=$NSVM_TMP/netstickd.yaml
	netstickd_available || { echo "$NETSTICKD not built" >&2; return 1; }
	NETSTICKD_SPECS=("$@")
	if [[ ${NETSTICK_VM_MEDIA_VIA:-file} == nbd ]]; then
		mkdir -p "$LOG_DIR"
		nbd_media_stop
		nbd_media_specs || { echo "nbdkit did not start" >&2; return 1; }
	fi
	netstickd_config "${NETSTICKD_SPECS[@]}" >"$cfg"
	mkdir -p "$FFS_DIR" "$LOG_DIR"
	NETSTICKD_RUNS=$((NETSTICKD_RUNS + 1))
	NETSTICKD_LOG=$LOG_DIR/netstickd-$CHECK_SIDE-$NETSTICKD_RUNS.log
	cp "$cfg" "${NETSTICKD_LOG%.log}.yaml"
	"$NETSTICKD" -c "$cfg" -f >"$NETSTICKD_LOG" 2>&1 &
	NETSTICKD_PID=$!
}

netstickd_alive() { [[ -n $NETSTICKD_PID ]] && kill -0 "$NETSTICKD_PID" 2>/dev/null; }

# The admin API's port, from the daemon's log (config api.port: 0).
api_port() { sed -n 's/.*api: listening on http:\/\/[^:]*:\([0-9]*\)\/.*/\1/p' "$NETSTICKD_LOG" | tail -n 1; }

# clean_exit_check NAME: netstickd exits 0 on SIGTERM, recorded as NAME.
# Not in a check(): only the shell that started the daemon can wait for it.
clean_exit_check() {
	local rc=0
	selected "$1" || return 0
	netstickd_stop || rc=$?
	if ((rc == 0)); then record "$1" PASS
	else record "$1" FAIL "exit status $rc"; fi
}

# suite_run SIDE TITLE [--cli] NAME FN [NAME FN ...]: the main of a script
# that runs its own netstickd.  The script's setup() (output in
# $LOG_DIR/SIDE-setup.log), then `check NAME FN` for each pair and the
# clean-exit check SIDE_clean_exit; --cli: build/netstick is needed too.
# Prints "TITLE: P passed, F failed"; returns 1 when a check failed.
suite_run() {
	local side=$1 title=$2 cli=0 f
	shift 2
	[[ ${1:-} == --cli ]] && { cli=1; shift; }
	if ! netstickd_available; then
		record "${side}_setup" FAIL "build/netstickd missing"
	elif ((cli)) && [[ ! -x $NETSTICK ]]; then
		record "${side}_setup" FAIL "build/netstick missing"
	elif ! setup >"$LOG_DIR/$side-setup.log" 2>&1; then
		record "${side}_setup" FAIL "$(tail -n 1 "$LOG_DIR/$side-setup.log")"
		tail -n 20 "$LOG_DIR/$side-setup.log"
		tail -n 20 "$NETSTICKD_LOG" 2>/dev/null || true
	else
		while (($# >= 2)); do
			check "$1" "$2"
			shift 2
		done
		clean_exit_check "${side}_clean_exit"
	fi
	netstickd_stop >/dev/null 2>&1 || true
	echo "$title: $(summary "$side")"
	read -r _ f _ < <(count_side "$side")
	((f == 0))
}

# SIGTERM, then wait up to 10 s; returns the daemon's exit status (137 when
# it had to be killed).  Leftover configfs state is removed so the next
# gadget can bind.
netstickd_stop() {
	local rc=0 i
	if [[ -n $NETSTICKD_PID ]]; then
		kill -TERM "$NETSTICKD_PID" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$NETSTICKD_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$NETSTICKD_PID" 2>/dev/null; then
			echo "netstickd did not exit 10 s after SIGTERM: killed" >>"$NETSTICKD_LOG"
			kill -KILL "$NETSTICKD_PID" 2>/dev/null || true
		fi
		# SIGKILL cannot stop a task stuck in the kernel: do not wait
		# for it forever.
		if ! pid_exited "$NETSTICKD_PID" 30; then
			echo "netstickd still there 30 s after SIGKILL" >>"$NETSTICKD_LOG"
			dump_stuck >>"$NETSTICKD_LOG"
			NETSTICKD_PID=
			return 137
		fi
		wait "$NETSTICKD_PID" 2>/dev/null || rc=$?
		NETSTICKD_PID=
	fi
	nbd_media_stop
	gadget_force_cleanup
	return "$rc"
}

# Remove whatever a crashed daemon left behind (gadget dir, ffs mount).
gadget_force_cleanup() {
	local g=$CONFIGFS/$GADGET_NAME c f
	if [[ -d $g ]]; then
		echo "" >"$g/UDC" 2>/dev/null || true
		for c in "$g"/configs/*/; do
			[[ -d $c ]] || continue
			find "$c" -maxdepth 1 -type l -delete
			rmdir "$c"strings/* 2>/dev/null || true
			rmdir "$c" 2>/dev/null || true
		done
		mountpoint -q "$FFS_DIR" && umount "$FFS_DIR" 2>/dev/null
		for f in "$g"/functions/*; do
			[[ -d $f ]] || continue
			rmdir "$f"/lun.[1-9]* 2>/dev/null || true
			rmdir "$f" 2>/dev/null || true
		done
		rmdir "$g"/strings/* "$g"/os_desc/* "$g" 2>/dev/null || true
	fi
	mountpoint -q "$FFS_DIR" 2>/dev/null && umount "$FFS_DIR" 2>/dev/null
	return 0
}

gadget_leftovers() {
	[[ -d $CONFIGFS/$GADGET_NAME ]] || mountpoint -q "$FFS_DIR" 2>/dev/null
}

# ---------------------------------------------------------------- data

# make_image PATH MIB: random data (tmpfs recommended).
make_image() {
	head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}

sha() { sha256sum | cut -d' ' -f1; }

# Bytes [off, off+len) of a file or device, hashed.  Devices are read
# O_DIRECT so the host's page cache cannot answer for the gadget.
sha_range() {
	local f=$1 off=$2 len=$3 flag=skip_bytes,count_bytes
	[[ -b $f ]] && flag+=,direct
	dd if="$f" bs=1M iflag="$flag" skip="$off" count="$len" status=none | sha
}
