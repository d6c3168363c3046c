#!/usr/bin/env bash
# fwboot-guest.sh — runs inside the test VM (VM1) for tests/vm/fwboot.sh:
# serves the boot image with netstickd and exports the gadget to the
# second QEMU (VM2, on the build machine) with usbredirect, one run after
# the other, in step with the build machine through files in $CTL.
#
#   fwboot-guest.sh IMAGE RUN...      RUN is NAME:KIND
#
# KIND (what netstickd serves):
#   flash        LUN 0, a removable disk (512-byte blocks) on the image file
#   cd           LUN 0, a CD-ROM (type: cdrom) on the image file
#   cd-lun1      LUN 0 an empty removable disk, LUN 1 a CD-ROM on the image
#   http-slow    LUN 0, a removable disk, empty at start; inserted through
#                the admin API from http://127.0.0.1 (nginx on this VM's
#                loopback) behind the inject layer's open-delay-ms=2000, in
#                step with the firmware (see http_gate)
#
# For each run, in order:
#   1. netstickd starts (log level debug, stderr stamped by fwboot-log.py),
#      the gadget's USB device appears on this VM's bus (no usb-storage
#      here: it is unloaded, VM2 is the only host that talks SCSI to it)
#   2. usbredirect --device 1d6b:0104 --as 127.0.0.1:4000 and
#      fwboot-bridge.py (usbredirect <-> the virtio-serial port "redir")
#   3. $CTL/NAME.ready: the build machine starts VM2, which boots from the
#      gadget, and writes $CTL/NAME.done when VM2 is gone
#   4. the bridge and usbredirect end, netstickd's log from the export on
#      is analysed (fwboot-log.py analyze), netstickd is stopped, and
#      $CTL/NAME.guest gets key=value lines: the analysis, alive=0|1,
#      exit=N, gate_ms (http-slow), setup=ok|WHY
# Every wait is bounded; a run whose setup fails still writes .ready (with
# setup=WHY in .guest) so the build machine never waits for nothing.
set -euo pipefail
. tests/vm/lib.sh

CTL=$NETSTICK_VM_RESULTS/ctl
LOGS=$NETSTICK_VM_RESULTS/logs
HERE=$REPO/tests/vm
REDIR_PORT=4000
REDIR_NAME=redir
USB_ID=1d6b:0104
HTTP_PORT=8080
API_TOKEN=fwboot-token-0123456789abcdef
DONE_WAIT=${NETSTICK_FWBOOT_DONE_WAIT:-300}
CHECK_SIDE=fwboot
mkdir -p "$CTL" "$LOGS"

say() { step "fwboot-guest: $*"; }

setup_vm() {
	ip link set lo up 2>/dev/null || true
	modprobe dummy_hcd 2>/dev/null || true
	modprobe virtio_console 2>/dev/null || true   # kernel.sh loads it
	# usbredirect is VM2's only way to the gadget: no host driver here.
	rmmod uas usb_storage 2>/dev/null || true
	IMG=$NSVM_TMP/fwboot.img
	cp "$1" "$IMG"
}

# ---------------------------------------------------------------- netstickd

# The config lib.sh writes (a LUN spec's type=cdrom makes a CD drive),
# plus the admin API (port 0: its port is in the log).
NETSTICKD_EXTRA_CONFIG="$(vm_api_config)
  allowed_dir: $NSVM_TMP
  allowed_hosts: [127.0.0.1]"

# fwb_start NAME LUNSPEC...: netstickd with its stderr stamped.
fwb_start() {
	local name=$1 cfg=$NSVM_TMP/netstickd.yaml
	shift
	NETSTICKD_LOG_LEVEL=debug
	netstickd_config "$@" >"$cfg"
	mkdir -p "$FFS_DIR"
	NETSTICKD_LOG=$LOGS/netstickd-$name.log
	cp "$cfg" "$LOGS/netstickd-$name.yaml"
	"$NETSTICKD" -c "$cfg" -f 2> >(python3 "$HERE/fwboot-log.py" stamp >"$NETSTICKD_LOG") >/dev/null &
	NETSTICKD_PID=$!
}

# The gadget's USB device on this VM's bus (sysfs), within 30 s.
usb_device_wait() {
	local i d
	for ((i = 0; i < 300; i++)); do
		for d in /sys/bus/usb/devices/*; do
			[[ -e $d/idVendor && -e $d/idProduct ]] || continue
			[[ $(cat "$d/idVendor"):$(cat "$d/idProduct") == "$USB_ID" ]] && return 0
		done
		netstickd_alive || return 1
		sleep 0.1
	done
	return 1
}

api() {	# api METHOD PATH [JSON]: the reply's body; fails unless 2xx
	curl -sf --max-time 60 -X "$1" -H "Authorization: Bearer $API_TOKEN" \
		${3:+-H 'Content-Type: application/json' -d "$3"} \
		"http://127.0.0.1:$API_PORT$2"
}

api_wait() {
	local i
	for ((i = 0; i < 100; i++)); do
		API_PORT=$(api_port)
		[[ -n $API_PORT ]] && return 0
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------- nginx

NGINX_PID=
nginx_start() {
	local d=$NSVM_TMP/nginx
	mkdir -p "$d/www"
	ln -sf "$IMG" "$d/www/fwboot.img"
	cat >"$d/nginx.conf" <<-EOF
	user root root;
	daemon off;
	worker_processes 1;
	pid $d/nginx.pid;
	error_log $d/error.log;
	events { worker_connections 64; }
	http {
	  access_log $d/access.log;
	  client_body_temp_path $d/body;
	  proxy_temp_path $d/proxy;
	  fastcgi_temp_path $d/fastcgi;
	  uwsgi_temp_path $d/uwsgi;
	  scgi_temp_path $d/scgi;
	  server {
	    listen 127.0.0.1:$HTTP_PORT;
	    root $d/www;
	  }
	}
	EOF
	nginx -c "$d/nginx.conf" &
	NGINX_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$HTTP_PORT/fwboot.img" && return 0
		sleep 0.1
	done
	return 1
}

# nginx's master and its worker, stopped or resumed (SIGSTOP/SIGCONT).
nginx_signal() {
	local p
	for p in $(descendants "$NGINX_PID") "$NGINX_PID"; do
		kill "-$1" "$p" 2>/dev/null || true
	done
}

nginx_stop() {
	[[ -n $NGINX_PID ]] || return 0
	nginx_signal CONT
	kill "$NGINX_PID" 2>/dev/null || true
	pid_exited "$NGINX_PID" 10 || kill_tree "$NGINX_PID"
	wait "$NGINX_PID" 2>/dev/null || true
	NGINX_PID=
	cp "$NSVM_TMP/nginx/access.log" "$LOGS/nginx-access.log" 2>/dev/null || true
}

# ---------------------------------------------------------------- runs

# setup_KIND: netstickd serving the image the way KIND says; 0 once the
# gadget is on the bus (and, for http-slow, the insert is under way).
setup_flash() {
	fwb_start "$RUN" "media=$IMG,ro=1"
}

setup_cd() {
	fwb_start "$RUN" "type=cdrom,media=$IMG,product=Test CD"
}

setup_cd-lun1() {
	fwb_start "$RUN" "media=" "type=cdrom,media=$IMG,product=Test CD"
}

# The firmware must see the media loading, whenever it first looks: the
# insert starts at once with nginx stopped (SIGSTOP), so the backend's
# first request waits and the LUN stays loading; http_gate resumes nginx
# when netstickd first answers the firmware 02/04/01, and the inject
# layer's open-delay-ms=2000 then keeps the media loading 2 s more.
setup_http-slow() {
	nginx_start || { echo "nginx did not start"; return 1; }
	fwb_start "$RUN" "media=,ro=1,layer=inject:open-delay-ms=2000"
	api_wait || { echo "no API port in the log"; return 1; }
	nginx_signal STOP
	api PUT /api/v1/luns/0/media \
		"{\"source\": \"http://127.0.0.1:$HTTP_PORT/fwboot.img\", \"readonly\": true,
		  \"options\": {\"timeout-ms\": \"60000\"}}" \
		>"$LOGS/$RUN-insert.json" 2>&1 &
	INSERT_PID=$!
}

# Runs during VM2's boot (http-slow): resumes nginx once netstickd has
# answered a command 02/04/01 after the export (line $MARK on), and says
# when in $GATE_MS (ms after the export).
http_gate() {
	local t0=$EPOCHREALTIME
	while [[ ! -e $CTL/$RUN.done ]] && (( ${SECONDS} < GATE_END )); do
		if tail -n "+$MARK" "$NETSTICKD_LOG" | grep -q 'failed: not ready, becoming ready'; then
			nginx_signal CONT
			GATE_MS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
			say "$RUN: 02/04/01 seen, nginx resumed ${GATE_MS} ms after the export"
			return 0
		fi
		sleep 0.05
	done
	nginx_signal CONT
	return 1
}

REDIR_PIDS=()
export_start() {
	usbredirect --device "$USB_ID" --as "127.0.0.1:$REDIR_PORT" \
		>"$LOGS/usbredirect-$RUN.log" 2>&1 &
	REDIR_PIDS=($!)
	python3 "$HERE/fwboot-bridge.py" "$REDIR_NAME" "$REDIR_PORT" "$DONE_WAIT" \
		>"$LOGS/bridge-$RUN.log" 2>&1 &
	REDIR_PIDS+=($!)
}

export_stop() {
	local p
	for p in "${REDIR_PIDS[@]}"; do
		pid_exited "$p" 5 || kill_tree "$p"
		wait "$p" 2>/dev/null || true
	done
	REDIR_PIDS=()
}

# Waits for the build machine's NAME.done (VM2 gone), bounded.
wait_done() {
	local end=$((SECONDS + DONE_WAIT))
	while [[ ! -e $CTL/$RUN.done ]]; do
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}

run_one() {
	local kind=$1 setup=ok alive=0 rc=0
	GATE_MS=-1 INSERT_PID=
	say "$RUN ($kind): start"
	if ! "setup_$kind" >"$LOGS/$RUN-setup.log" 2>&1; then
		setup="$(tail -n 1 "$LOGS/$RUN-setup.log")"
	elif ! usb_device_wait; then
		setup="the gadget's USB device did not appear"
	fi
	MARK=$(($(wc -l <"$NETSTICKD_LOG") + 1))
	[[ $setup == ok ]] && export_start
	# Written whole, then renamed: the build machine reads it at once.
	echo "$setup" >"$CTL/$RUN.ready.tmp"
	mv "$CTL/$RUN.ready.tmp" "$CTL/$RUN.ready"
	say "$RUN: exported ($setup), waiting for VM2"
	if [[ $kind == http-slow && $setup == ok ]]; then
		GATE_END=$((SECONDS + DONE_WAIT))
		http_gate || say "$RUN: no 02/04/01 answered"
	fi
	wait_done || say "$RUN: no word from the build machine in ${DONE_WAIT} s"
	export_stop
	netstickd_alive && alive=1
	{
		python3 "$HERE/fwboot-log.py" analyze "$NETSTICKD_LOG" "$MARK"
		echo "setup=$setup"
		echo "alive=$alive"
		echo "gate_ms=$GATE_MS"
	} >"$CTL/$RUN.guest.tmp"
	netstickd_stop || rc=$?
	if [[ -n $INSERT_PID ]]; then
		pid_exited "$INSERT_PID" 10 || kill_tree "$INSERT_PID"
		wait "$INSERT_PID" 2>/dev/null || true
	fi
	nginx_stop
	echo "exit=$rc" >>"$CTL/$RUN.guest.tmp"
	mv "$CTL/$RUN.guest.tmp" "$CTL/$RUN.guest"
	say "$RUN: done (netstickd exit $rc)"
}

main() {
	local image=$1 r
	shift
	setup_vm "$image"
	for r; do
		RUN=${r%%:*}
		run_one "${r#*:}"
	done
}

main "$@"; exit  # one line: an edit while it runs cannot change what comes next
