#!/bin/bash
# bench-net-guest.sh — runs inside the VM (started by bench-net.sh): reading
# a remote image through the USB host, netstickd vs the kernel's stack, over
# a loopback with added latency.
#
# One random image on tmpfs, served on 127.0.0.1 by nginx (HTTP) and by
# nbdkit's file plugin (NBD).  For each delay D (ms each way, tc netem on
# lo, so the round trip is 2D) and each stack, in turns:
#   curl            the whole image from nginx to /dev/null: the link's ceiling
#   nbdkit-stack    nbdkit's curl plugin (reading from nginx) -> nbd-client
#                   (/dev/nbd0, kernel nbd) -> the kernel's f_mass_storage
#                   (file=/dev/nbd0) -> the host's usb-storage disk
#   netstickd-http  netstickd, LUN media http://127.0.0.1:PORT/bench.img,
#                   default configuration (network_layers: the read cache)
#   netstickd-nbd   netstickd, LUN media nbd://127.0.0.1:PORT/ (nbdkit file)
#   netstickd-http-bare, netstickd-nbd-bare  the same with no layers at all
#                   (network_layers: []): every host command goes to the
#                   server as it comes
#   netstickd-http-cold  netstickd-http behind the cache layer (read-ahead
#                   on, $NETSTICK_BENCH_CACHE): a fresh daemon, cold cache;
#                   then the whole disk is read once (dd) and both jobs run
#                   again on the same daemon, reported as
#   netstickd-http-warm  (the second pass, every block in the cache)
#   netstickd-local-file netstickd serving the image file itself over the
#                   same USB link: the ceiling of the USB side
#   netstickd-http-pcache  netstickd-http behind pcache (on tmpfs) and
#                   the cache layer: the disk read whole once, the daemon
#                   restarted, then the jobs (warm from the persistent
#                   cache alone)
# fio on the host's /dev/sdX: 1 MiB O_DIRECT sequential read (one pass at
# most, stopped after $NETSTICK_BENCH_SECONDS) and 4 KiB QD1 O_DIRECT random
# read (time based); the page cache is dropped before each job and the
# kernel stack gets a fresh nbdkit and nbd-client connection every run, so
# no run is served from what an earlier one cached.  Server-side requests
# per MiB read come from nginx's access log (curl, nbdkit-stack,
# netstickd-http) or nbdkit's log filter (netstickd-nbd), counted over each
# job only.  netstickd's VmRSS/VmHWM are read at the end of its runs.
#
#   NETSTICK_BENCH_DELAYS   "0 10 25"   ms each way
#   NETSTICK_BENCH_SECONDS  10          per fio job
#   NETSTICK_BENCH_REPS     2           turns per delay (medians reported)
#   NETSTICK_BENCH_MIB      512         image size
#   NETSTICK_BENCH_STACKS   all nine    a subset, e.g. "curl netstickd-http"
#   NETSTICK_BENCH_CACHE    cache:size-mib=640+block-kib=16   the layer spec
#                           of netstickd-http-cold ('+' for ',')
# Output: $NETSTICK_VM_RESULTS/bench-net.tsv (delay stack figure value),
# raw.tsv (delay stack rep figure value), logs/STACK.log.  A stack that fails
# or hangs (each run is bounded) gets n/a; the others still run.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=../backends/functions.sh
source "$HERE/../backends/functions.sh"
# shellcheck source=bench-lib.sh
source "$HERE/bench-lib.sh"
set -euo pipefail

read -ra DELAYS <<<"${NETSTICK_BENCH_DELAYS:-0 10 25}"
read -ra STACKS <<<"${NETSTICK_BENCH_STACKS:-curl nbdkit-stack netstickd-http netstickd-nbd netstickd-http-cold netstickd-local-file netstickd-http-pcache netstickd-http-bare netstickd-nbd-bare}"
CACHE_SPEC=${NETSTICK_BENCH_CACHE:-cache:size-mib=640+block-kib=16}
# Over the pcache in netstickd-http-pcache (real commas: NETSTICK_VM_LAYERS).
PCACHE_TOP=${NETSTICK_BENCH_PCACHE_TOP:-cache:size-mib=640,block-kib=16}
FIO_SECONDS=${NETSTICK_BENCH_SECONDS:-10}
REPS=${NETSTICK_BENCH_REPS:-2}
IMG_MIB=${NETSTICK_BENCH_MIB:-512}
FIO_SIZE_MIB=$((IMG_MIB - 1))
# A run: setup, two jobs, a curl of the image at most, teardown.
STACK_LIMIT=$((2 * FIO_SECONDS + 420))
IMG=$NSVM_TMP/bench-net.img
TSV=$NSVM_RESULTS/bench-net.tsv
RAW=$NSVM_RESULTS/raw.tsv
NGINX_LOG=$tmp/nginx/bench.log
NBDKIT_LOG=$tmp/nbdkit-file.log
NBD_DEV=/dev/nbd0
export GADGET_PRODUCT="Bench Net Disk"
DELAY=0 REP=0 STACK=
URL='' NBD_FILE_PORT='' CURL_NBDKIT_PID=''

put() { bench_put "$DELAY" "$STACK" "$REP" "$1" "$2"; }

# Progress, on the bench's output even from inside a run (fd 3).
say() { step "$*" >&3; }

# server_tally nginx|nbdkit: "REQUESTS BYTES" served so far (%.0f: mawk's
# %d stops at 2^31 - 1).
server_tally() {
	if [[ $1 == nginx ]]; then
		awk '{ n++; b += $2 } END { printf "%d %.0f\n", n, b }' "$NGINX_LOG"
		return
	fi
	awk 'function hex(s,  v, i) {
			s = tolower(s); v = 0
			for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
			return v
		}
		/ Read id=[0-9]+ offset=/ && match($0, /count=0x[0-9a-fA-F]+/) {
			n++; b += hex(substr($0, RSTART + 8, RLENGTH - 8))
		}
		END { printf "%d %.0f\n", n, b }' "$NBDKIT_LOG"
}

# per_mib COUNT KIB
per_mib() { awk -v n="$1" -v k="$2" 'BEGIN { printf "%.3g", (k > 0 ? n * 1024 / k : 0) }'; }

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# job SERVER PREFIX NAME RW BS [FIO-ARGS]: one fio job and what the server
# saw meanwhile; sets JOB_MBPS JOB_IOPS JOB_KIB JOB_REQ JOB_BYTES.
job() {
	local srv=$1 prefix=$2 n0 b0 n1 b1
	shift 2
	drop_caches
	read -r n0 b0 < <(server_tally "$srv")
	say "$STACK: $prefix"
	read -r JOB_MBPS JOB_IOPS JOB_KIB < <(fio_job "$@")
	read -r n1 b1 < <(server_tally "$srv")
	JOB_REQ=$((n1 - n0)) JOB_BYTES=$((b1 - b0))
	put "$prefix-req-per-MiB" "$(per_mib "$JOB_REQ" "$JOB_KIB")"
}

# measure SERVER: both fio jobs on the disk of LUN 0.
measure() {
	local srv=$1 disk
	disk=$(disk_wait 0 30) || { echo "no disk"; return 1; }
	disk_wait_size "$disk" 20 || { echo "no medium"; return 1; }
	DEV=/dev/$disk
	say "$STACK: $DEV, USB link at $(cat "$(usbdev_of "$disk")/speed" 2>/dev/null || echo '?') Mb/s"
	FIO_TERSE=$LOG_DIR/fio-$DELAY-$STACK.terse
	job "$srv" seq seq-read read 1M
	put seq-MBps "$JOB_MBPS"
	job "$srv" rand rand-read-4k randread 4k --time_based
	put rand-4k-IOPS "$JOB_IOPS"
	put rand-read-amplification "$(awk -v b="$JOB_BYTES" -v k="$JOB_KIB" \
		'BEGIN { printf "%.2f", (k > 0 ? b / (k * 1024) : 0) }')"
}

netstickd_memory() {
	local rss hwm
	read -r rss hwm < <(awk '$1 == "VmRSS:" { r = $2 } $1 == "VmHWM:" { h = $2 }
		END { printf "%.1f %.1f\n", r / 1024, h / 1024 }' "/proc/$NETSTICKD_PID/status")
	put rss-MiB "$rss"
	put hwm-MiB "$hwm"
}

# ---------------------------------------------------------------- stacks

stack_curl() {
	local n0 b0 n1 b1 speed size conn
	read -r n0 b0 < <(server_tally nginx)
	say "curl: the whole image"
	read -r speed size conn < <(curl -sS --max-time 300 -o /dev/null \
		-w '%{speed_download} %{size_download} %{time_connect}\n' "$URL")
	read -r n1 b1 < <(server_tally nginx)
	put seq-MBps "$(awk -v s="$speed" 'BEGIN { printf "%.1f", s / 1e6 }')"
	put seq-req-per-MiB "$(per_mib $((n1 - n0)) $((size / 1024)))"
	put connect-ms "$(awk -v c="$conn" 'BEGIN { printf "%.1f", c * 1000 }')"
}

nbd_connect() {
	local i
	timeout 30 nbd-client -N bench -u "$1" "$NBD_DEV" -R -t 60
	for ((i = 0; i < 100; i++)); do
		(($(blockdev --getsize64 "$NBD_DEV" 2>/dev/null || echo 0) > 0)) && return 0
		sleep 0.1
	done
	echo "$NBD_DEV has no size"
	return 1
}

nbd_disconnect() {
	[[ -e /sys/block/${NBD_DEV#/dev/}/pid ]] || return 0
	timeout 30 nbd-client -d "$NBD_DEV" || true
}

# nbd-client reaches the curl plugin over a Unix socket: only the HTTP hop
# is on the delayed loopback, as only the HTTP hop is netstickd-http's.
stack_nbdkit_stack() {
	local sock=$tmp/curl-plugin.sock
	rm -f "$sock"
	start_nbdkit -U "$sock" -r curl "url=$URL"
	CURL_NBDKIT_PID=$NBD_PID
	nbd_connect "$sock"
	say "$STACK: nbd-client on $NBD_DEV, read_ahead_kb $(cat "/sys/block/${NBD_DEV#/dev/}/queue/read_ahead_kb")"
	gadget_start kernel "media=$NBD_DEV,ro=1"
	measure nginx
}

# $1: more of the LUN spec (the bare stacks' ",netlayer=none").
stack_netstickd_http() {
	gadget_start netstickd "media=$URL,ro=1${1:-}"
	measure nginx
	netstickd_memory
}

# Cold: the jobs on a fresh daemon.  Warm: the whole disk read once, then
# the same jobs again, reported as netstickd-http-warm.
stack_netstickd_http_cold() {
	gadget_start netstickd "media=$URL,ro=1,layer=$CACHE_SPEC"
	measure nginx
	netstickd_memory
	say "$STACK: filling the cache (dd of the whole disk)"
	dd if="$DEV" of=/dev/null bs=1M iflag=direct status=none
	STACK=netstickd-http-warm
	measure nginx
	netstickd_memory
	# The cache's figures (hits, window, RTT, bandwidth) into this log.
	netstickd_stop >/dev/null 2>&1 || true
	grep -h "closing," "$NETSTICKD_LOG" || true
}

# Warm after a daemon restart: the persistent cache (on the guest's
# tmpfs, as on a board's eMMC) filled by one whole-disk read, the daemon
# stopped and started again, then the jobs: only the pcache remembers,
# the memory cache above it starts empty.
stack_netstickd_http_pcache() {
	local dir=$tmp/bench-pcache
	rm -rf "$dir"
	NETSTICK_VM_LAYERS=$PCACHE_TOP gadget_start netstickd \
		"media=$URL,ro=1,layer=pcache:dir=$dir+size-mib=1024"
	DEV=/dev/$(disk_wait 0 30) || { echo "no disk"; return 1; }
	disk_wait_size "${DEV#/dev/}" 20 || { echo "no medium"; return 1; }
	say "$STACK: filling the persistent cache (dd of the whole disk)"
	dd if="$DEV" of=/dev/null bs=1M iflag=direct status=none
	netstickd_stop >/dev/null 2>&1 || true
	grep -h "closing," "$NETSTICKD_LOG" || true
	gadget_force_cleanup
	disk_wait_gone 10 || echo "the host's disk is still there"
	say "$STACK: netstickd restarted on the filled cache"
	NETSTICK_VM_LAYERS=$PCACHE_TOP gadget_start netstickd \
		"media=$URL,ro=1,layer=pcache:dir=$dir+size-mib=1024"
	measure nginx
	netstickd_memory
	netstickd_stop >/dev/null 2>&1 || true
	grep -h "closing," "$NETSTICKD_LOG" || true
}

stack_netstickd_local_file() {
	gadget_start netstickd "media=$IMG,ro=1"
	measure nginx
	netstickd_memory
}

stack_netstickd_nbd() {
	gadget_start netstickd "media=nbd://127.0.0.1:$NBD_FILE_PORT/,ro=1${1:-}"
	measure nbdkit
	netstickd_memory
}

stack_netstickd_http_bare() { stack_netstickd_http ,netlayer=none; }
stack_netstickd_nbd_bare() { stack_netstickd_nbd ,netlayer=none; }

# Gadget down (the host's disk gone), then nbd-client, then the curl
# plugin.  Safe to repeat, and in the parent after a run was killed.
stack_cleanup() {
	netstickd_stop >/dev/null 2>&1 || true
	[[ ! -d $CONFIGFS/$GADGET_NAME/functions/mass_storage.0 ]] || kgadget_stop 2>/dev/null || true
	gadget_force_cleanup
	disk_wait_gone 10 || echo "the host's disk is still there"
	nbd_disconnect
	if [[ -n $CURL_NBDKIT_PID ]]; then
		stop_pid "$CURL_NBDKIT_PID" || true
		CURL_NBDKIT_PID=
	fi
}

expected_figures() {
	case $1 in
	curl) echo seq-MBps seq-req-per-MiB connect-ms ;;
	netstickd-*) echo seq-MBps rand-4k-IOPS seq-req-per-MiB rand-req-per-MiB \
		rand-read-amplification rss-MiB hwm-MiB ;;
	*) echo seq-MBps rand-4k-IOPS seq-req-per-MiB rand-req-per-MiB rand-read-amplification ;;
	esac
}

# What this run did not measure is n/a (the cold run measures warm too).
fill_missing() {
	fill_missing_of
	[[ $STACK != netstickd-http-cold ]] || (STACK=netstickd-http-warm; fill_missing_of)
}

fill_missing_of() {
	local f
	for f in $(expected_figures "$STACK"); do
		awk -F'\t' -v d="$DELAY" -v s="$STACK" -v r="$REP" -v f="$f" \
			'$1 == d && $2 == s && $3 == r && $4 == f { found = 1 } END { exit !found }' \
			"$RAW" || put "$f" n/a
	done
}

# run_stack STACK: one bounded run in a subshell; its output in logs/STACK.log.
run_stack() {
	local log=$LOG_DIR/$1.log rc=0
	STACK=$1
	step "delay $DELAY ms each way, run $REP of $REPS: $STACK"
	echo "=== delay $DELAY ms, run $REP" >>"$log"
	(
		trap stack_cleanup EXIT
		set -x
		"stack_${STACK//-/_}"
	) 3>&1 >>"$log" 2>&1 </dev/null &
	wait_bounded $! "$STACK_LIMIT" 2>>"$log" || rc=$?
	stack_cleanup >>"$log" 2>&1 || true
	((rc == 0)) || step "$STACK: failed (exit $rc), n/a; see logs/$STACK.log"
	fill_missing
	awk -F'\t' -v d="$DELAY" -v s="$STACK" -v r="$REP" \
		'$1 == d && $2 == s && $3 == r { printf "  %s=%s", $4, $5 } END { print "" }' "$RAW"
}

set_delay() {
	DELAY=$1
	tc qdisc replace dev lo root netem delay "${DELAY}ms" limit 100000
	step "lo: $(tc qdisc show dev lo)"
}

start_servers() {
	make_image "$IMG" "${IMG_MIB}M"
	mkdir -p "$tmp/www"
	ln -s "$IMG" "$tmp/www/bench.img"
	# One line a request: status, body bytes.  Connections are kept for the
	# whole run, so no stack pays a reconnect every 1,000 requests.
	NGINX_HTTP_EXTRA="log_format bench '\$status \$body_bytes_sent';
		keepalive_requests 10000000; keepalive_timeout 600s;"
	start_nginx -- "access_log $NGINX_LOG bench;"
	URL=http://127.0.0.1:$HTTP_PORT/bench.img
	start_nbdkit -r --filter=log file "$IMG" "logfile=$NBDKIT_LOG"
	NBD_FILE_PORT=$NBD_PORT
	: >>"$NGINX_LOG"
	: >>"$NBDKIT_LOG"
	step "image $IMG_MIB MiB; nginx $URL; nbdkit file nbd://127.0.0.1:$NBD_FILE_PORT/"
}

main() {
	: >"$RAW"
	trap 'stack_cleanup >/dev/null 2>&1; tc qdisc del dev lo root 2>/dev/null; _cleanup' EXIT
	ip link set lo up
	modprobe nbd
	modprobe sch_netem
	echo 0 >/sys/module/usb_storage/parameters/delay_use
	requires nginx nbdkit nbd-client curl fio tc
	netstickd_available || echo "# $NETSTICKD missing (run make): its stacks will say n/a"
	step "USB speed $NETSTICK_VM_SPEED; delays ${DELAYS[*]} ms each way; $REPS run(s) of ${FIO_SECONDS} s jobs"
	printf 'speed\t%s\nseconds\t%s\nreps\t%s\nmib\t%s\ndelays\t%s\nkernel\t%s\n' \
		"$NETSTICK_VM_SPEED" "$FIO_SECONDS" "$REPS" "$IMG_MIB" "${DELAYS[*]}" \
		"$(uname -r)" >"$NSVM_RESULTS/meta.tsv"
	start_servers
	bench_turns set_delay run_stack "${DELAYS[@]}" -- "${STACKS[@]}"
	medians >"$TSV"
	step "done"
}

main "$@"
