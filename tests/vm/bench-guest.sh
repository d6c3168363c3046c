#!/bin/bash
# bench-guest.sh — runs inside the VM (started by bench.sh).
#
# For each speed (high, then super: dummy_hcd is reloaded in the same boot)
# and each side (netstickd, kernel f_mass_storage), serving the same tmpfs
# image, measure with fio on the host's /dev/sdX:
#   seq-read, seq-write   MB/s, 1 MiB blocks, O_DIRECT
#   rand-read-4k-qd1      IOPS, 4 KiB random reads at queue depth 1
#   cpu-s-per-gib         CPU seconds (utime+stime) of the serving process
#                         per GiB moved, over the three jobs: netstickd's
#                         PID, or the kernel's "file-storage" thread
#   guest-cpu-s-per-gib   busy CPU seconds of the whole guest per GiB, over
#                         the same jobs: the host side, dummy_hcd and
#                         whatever works for the device side (FunctionFS
#                         completion workers, softirqs), which per-process
#                         times do not attribute fairly
# The sides take turns, NETSTICK_BENCH_REPS times (default 3), so that a
# noisy neighbour on the machine hits both; bench.tsv has the medians:
#   $NETSTICK_VM_RESULTS/bench.tsv   speed side figure value
#   $NETSTICK_VM_RESULTS/raw.tsv     speed side rep figure value
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=bench-lib.sh
source "$HERE/bench-lib.sh"

FIO_SECONDS=${NETSTICK_BENCH_SECONDS:-5}
REPS=${NETSTICK_BENCH_REPS:-3}
IMG_MIB=${NETSTICK_BENCH_MIB:-512}
FIO_SIZE_MIB=$((IMG_MIB - 1))
IMG=$NSVM_TMP/bench.img
TSV=$NSVM_RESULTS/bench.tsv
RAW=$NSVM_RESULTS/raw.tsv
CLK_TCK=$(getconf CLK_TCK)
export GADGET_PRODUCT="Bench Disk"

# utime+stime of a process, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# per_gib TICKS KIB: CPU seconds per GiB moved.
per_gib() {
	awk -v t="$1" -v hz="$CLK_TCK" -v k="$2" \
		'BEGIN { printf "%.2f", (t / hz) / (k / 1048576) }'
}

# Busy time of all CPUs (user nice system irq softirq steal), in ticks.
guest_busy_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# The process that serves the data: netstickd, or f_mass_storage's kthread.
server_pid() {
	local p
	if [[ $1 == netstickd ]]; then
		echo "$NETSTICKD_PID"
		return
	fi
	for p in /proc/[0-9]*; do
		if [[ $(cat "$p/comm" 2>/dev/null) == file-storage ]]; then
			echo "${p#/proc/}"
			return
		fi
	done
}

put() { bench_put "$SPEED" "$SIDE" "$REP" "$1" "$2"; }

bench_side() {
	local pid c0 c1 g0 g1 kib=0 mbps iops k
	SIDE=$1
	log "$SIDE at $SPEED speed, run $REP of $REPS"
	gadget_start "$SIDE" "media=$IMG"
	DISK=$(disk_wait 0 30) || { log "$SIDE: no disk"; gadget_stop "$SIDE" || true; return 0; }
	disk_wait_size "$DISK" 20
	DEV=/dev/$DISK
	FIO_TERSE=$LOG_DIR/fio-$SPEED-$SIDE.terse
	pid=$(server_pid "$SIDE")
	c0=$( [[ -n $pid ]] && cpu_ticks "$pid" || echo 0)
	g0=$(guest_busy_ticks)
	read -r mbps iops k < <(fio_job seq-read read 1M --time_based)
	put seq-read-MBps "$mbps"; kib=$((kib + k))
	read -r mbps iops k < <(fio_job seq-write write 1M --time_based)
	put seq-write-MBps "$mbps"; kib=$((kib + k))
	read -r mbps iops k < <(fio_job rand-read-4k randread 4k --time_based)
	put rand-read-4k-qd1-IOPS "$iops"; kib=$((kib + k))
	g1=$(guest_busy_ticks)
	put guest-cpu-s-per-GiB "$(per_gib $((g1 - g0)) "$kib")"
	if [[ -n $pid ]] && [[ -e /proc/$pid ]]; then
		c1=$(cpu_ticks "$pid")
		put cpu-s-per-GiB "$(per_gib $((c1 - c0)) "$kib")"
	else
		put cpu-s-per-GiB n/a
	fi
	gadget_stop "$SIDE" || log "$SIDE: stop failed"
	disk_wait_gone 10 || true
}

set_speed() {
	SPEED=$1
	[[ $(cat /sys/module/dummy_hcd/parameters/is_super_speed 2>/dev/null) == Y && $SPEED == super ]] && return
	[[ $(cat /sys/module/dummy_hcd/parameters/is_super_speed 2>/dev/null) == N && $SPEED == high ]] && return
	rmmod dummy_hcd
	if [[ $SPEED == super ]]; then
		modprobe dummy_hcd is_super_speed=1
	else
		modprobe dummy_hcd
	fi
	for ((i = 0; i < 50; i++)); do
		[[ -e /sys/class/udc/$GADGET_UDC ]] && return
		sleep 0.1
	done
}

main() {
	local speeds=(high super) sides=(netstickd kernel)
	: >"$RAW"
	echo 0 >/sys/module/usb_storage/parameters/delay_use
	if ! netstickd_available; then
		echo "# $NETSTICKD missing (run make): kernel gadget only"
		sides=(kernel)
	fi
	head -c "$((IMG_MIB << 20))" /dev/urandom >"$IMG"
	bench_turns set_speed bench_side "${speeds[@]}" -- "${sides[@]}"
	medians >"$TSV"
	cat "$TSV"
}

main "$@"
