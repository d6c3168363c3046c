#!/usr/bin/env bash
# redfish.sh — runs inside the test VM (tests/vm/run-vm.sh): Redfish
# VirtualMedia (docs/redfish.md) driven by python3-sushy, as Ironic's
# redfish-virtual-media boot interface does, while the guest's Linux USB
# host watches the gadget.  The image is served by nginx on the guest's
# loopback.
#
#   tests/vm/run-vm.sh tests/vm/redfish.sh
#
# Checks (one behaviour each):
#   redfish_insert_host_sees_medium  InsertMedia (sushy, session auth) of an
#                                    http:// image into the empty disk LUN:
#                                    the action returns once /dev/sdX has
#                                    the medium, whose bytes are the
#                                    image's; VirtualMedia reads back
#                                    Inserted/Image; the REST API shows it
#                                    ready and its event stream said so
#   redfish_eject_host_loses_medium  EjectMedia: the host gets MEDIUM NOT
#                                    PRESENT, /dev/sdX is size 0, Inserted
#                                    false, the REST API and the event
#                                    stream show it empty
#   redfish_cd_insert_host_sees_disc with a netstickd that has cdrom LUNs (LUN 1
#                                    then is one): the member whose
#                                    MediaTypes has CD, as Ironic picks it,
#                                    gets the ISO: /dev/srN has its bytes;
#                                    eject: no medium (else skipped)
#   redfish_daemon_survived          netstickd alive, both APIs answering
#   redfish_clean_exit               netstickd exits 0 on SIGTERM
#
# Closing line: "vm-redfish: N passed, N failed".
set -euo pipefail
. tests/vm/lib.sh

CHECK_SIDE=redfish
# Python and sushy start slowly under TCG (tens of seconds per client).
CHECK_TIMEOUT=${CHECK_TIMEOUT_REDFISH:-300}
API_TOKEN=vm-redfish-token-0123456789
RF_USER=ironic
RF_PASS=vm-redfish-pass
WWW=$NSVM_TMP/www
IMG_MIB=8
PY=/usr/bin/python3

ip link set lo up 2>/dev/null || true
modprobe dummy_hcd 2>/dev/null || true
modprobe sg 2>/dev/null || true

api() { curl -sS --max-time 20 -H "Authorization: Bearer $API_TOKEN" "http://127.0.0.1:$API_PORT$1"; }

start_nginx() {
	local conf=$NSVM_TMP/nginx
	mkdir -p "$conf"
	HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$conf/nginx.conf" <<-EOF
	user root root;
	daemon off;
	worker_processes 1;
	pid $conf/nginx.pid;
	error_log $conf/error.log;
	events { worker_connections 64; }
	http {
	  access_log $conf/access.log;
	  client_body_temp_path $conf/body;
	  proxy_temp_path $conf/proxy;
	  fastcgi_temp_path $conf/fastcgi;
	  uwsgi_temp_path $conf/uwsgi;
	  scgi_temp_path $conf/scgi;
	  types { application/octet-stream iso img; }
	  server { listen 127.0.0.1:$HTTP_PORT; root $WWW; }
	}
	EOF
	nginx -c "$conf/nginx.conf" -p "$conf" &
	NGINX_PID=$!
	for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null && return 0; sleep 0.1; done
	return 1
}

# sushy [--cd] ACTION [URL]: insert / eject on the Manager's member 0, or
# (--cd) on the member whose MediaTypes has CD, as Ironic chooses it.
sushy_do() {
	"$PY" - "$API_PORT" "$RF_USER" "$RF_PASS" "$@" <<-'EOF'
	import json, sys, sushy
	from sushy import auth
	port, user, pw = sys.argv[1:4]
	args = sys.argv[4:]
	cd = args[0] == "--cd"
	action = args[1] if cd else args[0]
	url = args[-1]
	s = sushy.Sushy("http://127.0.0.1:%s/redfish/v1" % port,
	                auth=auth.SessionAuth(username=user, password=pw))
	members = s.get_manager().virtual_media.get_members()
	if cd:
	    vm = [v for v in members if sushy.VIRTUAL_MEDIA_CD in v.media_types][0]
	else:
	    vm = [v for v in members if v.identity == "0"][0]
	if action == "insert":
	    vm.insert_media(url, inserted=True, write_protected=True)
	elif action == "eject":
	    vm.eject_media()
	vm.refresh()
	print(json.dumps({"inserted": vm.inserted, "image": vm.image}))
	s._auth.close()
	EOF
}

# size_of DEV [WANT]: DEV's size in bytes once it is WANT (default: not 0),
# opening it each time (the open is what makes sd and sr look for a
# medium change); at most 30 tries.
size_of() {
	local dev=/dev/$1 want=${2:-} size=0
	for _ in $(seq 30); do
		size=$(blockdev --getsize64 "$dev" 2>/dev/null || echo 0)
		if [[ -n $want ]]; then ((size == want)) && break
		else ((size > 0)) && break; fi
		sleep 0.2
	done
	echo "$size"
}

# Whether this netstickd and lib.sh know LUNs of type cdrom.
cdrom_supported() {
	printf 'luns: [{type: cdrom}]\n' >"$NSVM_TMP/probe.yaml"
	"$NETSTICKD" --check-config -c "$NSVM_TMP/probe.yaml" >/dev/null 2>&1 &&
		declare -f netstickd_config | grep -q 'spec" type'
}

# srN of the gadget's LUN $1.
sr_wait() {
	local lun=$1 d addr i
	for ((i = 0; i < 300; i++)); do
		for d in /sys/block/sr*; do
			[[ -e $d/device ]] || continue
			addr=$(basename "$(readlink -f "$d/device")")
			[[ ${addr##*:} == "$lun" ]] && { echo "${d##*/}"; return 0; }
		done
		sleep 0.1
	done
	return 1
}

setup() {
	requires nginx curl openssl "$PY"
	"$PY" -c 'import sushy' || { echo "python3-sushy missing"; return 1; }
	mkdir -p "$WWW"
	make_image "$WWW/deploy.iso" $IMG_MIB
	start_nginx || { echo "nginx did not start"; return 1; }
	NETSTICKD_EXTRA_CONFIG="$(vm_api_config)
  allowed_schemes: [http]
redfish:
  users:
    - {name: $RF_USER, password_hash: '$(openssl passwd -6 "$RF_PASS")'}"
	if cdrom_supported; then
		CD=1
		gadget_start netstickd "media=" "media=,type=cdrom"
		SR=$(sr_wait 1) || { echo "no /dev/sr for LUN 1"; return 1; }
	else
		CD=0
		gadget_start netstickd "media="
	fi
	SD=$(disk_wait 0 30) || { echo "disk did not appear"; return 1; }
	SG=$(sg_of "$SD")
	for _ in $(seq 50); do API_PORT=$(api_port); [[ -n $API_PORT ]] && break; sleep 0.1; done
	[[ -n $API_PORT ]] || { echo "API did not start"; return 1; }
	curl -sS -N --max-time 600 -H "Authorization: Bearer $API_TOKEN" \
		"http://127.0.0.1:$API_PORT/api/v1/events" >"$NSVM_TMP/events.txt" &
	SSE_PID=$!
	for _ in $(seq 100); do
		grep -q '^event: hello' "$NSVM_TMP/events.txt" && return 0
		sleep 0.1
	done
	echo "no hello event"
	return 1
}

# The LUN 0 states the event stream carried, in order.
sse_states() {
	grep '^data: ' "$NSVM_TMP/events.txt" | sed 's/^data: //' |
		"$PY" -c 'import json, sys
for line in sys.stdin:
    d = json.loads(line).get("lun")
    if d and d["id"] == 0:
        print(d["state"])'
}

sse_saw() {
	local want=$1 i
	for ((i = 0; i < 50; i++)); do
		sse_states | grep -qx "$want" && return 0
		sleep 0.1
	done
	return 1
}

check_insert() {
	local out url="http://127.0.0.1:$HTTP_PORT/deploy.iso"
	log "$(date +%T) sushy insert"
	out=$(sushy_do insert "$url") || fail "sushy insert failed"
	echo "$out"
	log "$(date +%T) host side"
	[[ $out == *'"inserted": true'* && $out == *"\"image\": \"$url\""* ]] ||
		fail "VirtualMedia does not read back Inserted/Image"
	# Answered once presented: the host's next TEST UNIT READY sees it.
	sg_turs "$SG" >/dev/null 2>&1 || true
	sg_turs "$SG" || fail "the medium is not ready right after the action"
	# sd notices a medium in a drive that was empty at probe when the
	# device is opened (its media-change check), as a desktop would.
	log "$(date +%T) ready; opening /dev/$SD"
	[[ $(size_of "$SD") -eq $((IMG_MIB << 20)) ]] ||
		fail "/dev/$SD is $(size_of "$SD") bytes, not the image's"
	log "$(date +%T) reading /dev/$SD"
	[[ $(sha_range "/dev/$SD" 0 $((IMG_MIB << 20))) == $(sha <"$WWW/deploy.iso") ]] ||
		fail "/dev/$SD bytes are not the image's"
	log "$(date +%T) REST API and events"
	api /api/v1/luns/0 | grep -q '"state": *"ready"' || fail "REST API: not ready"
	api /api/v1/luns/0 | grep -q "\"source\": *\"$url\"" || fail "REST API: wrong source"
	sse_saw ready || fail "the event stream never said ready"
}

check_eject() {
	local out rc=0
	out=$(sushy_do eject) || fail "sushy eject failed"
	echo "$out"
	[[ $out == *'"inserted": false'* && $out == *'"image": null'* ]] ||
		fail "VirtualMedia still inserted"
	sg_turs "$SG" >/dev/null 2>&1 || true
	sg_turs -v "$SG" >"$NSVM_TMP/turs.out" 2>&1 || rc=$?
	cat "$NSVM_TMP/turs.out"
	((rc == 2)) && grep -qi "not present" "$NSVM_TMP/turs.out" ||
		fail "the host still has a medium (TUR $rc)"
	[[ $(size_of "$SD" 0) -eq 0 ]] || fail "/dev/$SD still has a medium"
	api /api/v1/luns/0 | grep -q '"state": *"empty"' || fail "REST API: not empty"
	sse_saw empty || fail "the event stream never said empty"
}

check_cd_insert() {
	local out size=0 url="http://127.0.0.1:$HTTP_PORT/deploy.iso"
	((CD)) || skip "this netstickd has no cdrom LUNs"
	out=$(sushy_do --cd insert "$url") || fail "sushy insert failed"
	echo "$out"
	[[ $out == *'"inserted": true'* ]] || fail "the CD member is not inserted"
	size=$(size_of "$SR")
	((size == IMG_MIB << 20)) || fail "/dev/$SR is $size bytes, not the ISO's"
	[[ $(sha_range "/dev/$SR" 0 $((IMG_MIB << 20))) == $(sha <"$WWW/deploy.iso") ]] ||
		fail "/dev/$SR bytes are not the ISO's"
	api /api/v1/luns/1 | grep -q '"state": *"ready"' || fail "REST API: LUN 1 not ready"
	out=$(sushy_do --cd eject) || fail "sushy eject failed"
	echo "$out"
	[[ $out == *'"inserted": false'* ]] || fail "the CD member is still inserted"
	size=$(size_of "$SR" 0)
	((size == 0)) || fail "/dev/$SR still has a disc ($size bytes)"
}

check_daemon_survived() {
	netstickd_alive || fail "netstickd died: $(tail -n 20 "$NETSTICKD_LOG")"
	api /api/v1/status >/dev/null || fail "REST API not answering"
	curl -sS --max-time 20 "http://127.0.0.1:$API_PORT/redfish/v1/" |
		grep -q RootService || fail "Redfish not answering"
}

# ---------------------------------------------------------------- main

export SD SG SR CD API_PORT HTTP_PORT RF_USER RF_PASS
trap 'kill "${SSE_PID:-}" "${NGINX_PID:-}" 2>/dev/null || true' EXIT
suite_run redfish vm-redfish \
	redfish_insert_host_sees_medium check_insert \
	redfish_eject_host_loses_medium check_eject \
	redfish_cd_insert_host_sees_disc check_cd_insert \
	redfish_daemon_survived check_daemon_survived
