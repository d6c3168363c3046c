# functions.sh — shared helpers for tests/backends/test-*.sh.
#
# Every test sources this first.  It gives the test a private temp dir
# ($tmp), kills whatever the test started when it exits (however it
# exits), and starts real servers on loopback at free ports:
#
#   requires CMD...            skip (exit 77) with a reason when missing
#   free_port                  prints a free TCP port on 127.0.0.1
#   start_nbdkit [-p PORT|-U SOCKET] ARGS...   nbdkit on 127.0.0.1 (or a Unix
#                              socket); sets NBD_PORT, NBD_PID
#   stop_pid PID               kills one server started here and waits for it
#   make_image FILE SIZE       random bytes (SIZE like 8M)
#   gen_certs NAME             test CA + server cert for NAME (IP or DNS)
#                              into $tmp/tls/{ca.pem,server.pem,server.key}
#   start_nginx [ssl] [http2] [EXTRA]  nginx serving $tmp/www; sets HTTP_PORT
#                              ($NGINX_HTTP_EXTRA: directives for http {})
#   start_badhttp MODE FILE    tests/backends/badhttp.py; sets HTTP_PORT
#   betool ARGS...             build/tests/betool, output also in $tmp/out
#   expect REGEX               fails unless $tmp/out has a line matching
#   fail MSG                   prints the betool output and exits 1
#
# Bounded everything: waits give up after a few seconds, the runner kills a
# test after 90 s.
set -u
tmp=$(mktemp -d /tmp/netstick-be.XXXXXX)
chmod 755 "$tmp"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${BETOOL:=$here/../../build/tests/betool}"
_pids=()

# Never fails: under `set -e` (the VM scripts) a server's exit status
# seen by wait (143 for a python server SIGTERM ends) would otherwise end
# the EXIT trap, and with it the script, non-zero after all its checks
# passed.
_cleanup() {
	local p
	for p in "${_pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap _cleanup EXIT
trap 'exit 1' INT TERM

requires() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || {
			echo "SKIP: $c not installed"
			exit 77
		}
	done
}

fail() {
	echo "FAIL: $*"
	[ -f "$tmp/out" ] && sed 's/^/  | /' "$tmp/out"
	exit 1
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (at most 10 s) until something listens on 127.0.0.1:$1.
wait_port() {
	local i
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	fail "nothing listens on port $1"
}

# SIGKILL: a crash.  (nbdkit's orderly SIGTERM waits for idle clients.)
stop_pid() {
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

make_image() {
	head -c "$(numfmt --from=iec "$2")" /dev/urandom > "$1"
}

start_nbdkit() {
	local port listen
	case ${1:-} in
	-p) port=$2; shift 2 ;;
	-U) port=; listen=(-U "$2"); shift 2 ;;
	*) port=$(free_port) ;;
	esac
	[ -z "$port" ] || listen=(-i 127.0.0.1 -p "$port")
	rm -f "$tmp/nbdkit.pid"
	nbdkit -f "${listen[@]}" --pidfile "$tmp/nbdkit.pid" "$@" \
		2>>"$tmp/nbdkit.log" &
	NBD_PID=$!
	_pids+=("$NBD_PID")
	NBD_PORT=$port
	local i
	for i in $(seq 100); do
		[ -s "$tmp/nbdkit.pid" ] && return 0
		kill -0 "$NBD_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$tmp/nbdkit.log"
	fail "nbdkit did not start"
}

gen_certs() {
	local d=$tmp/tls san
	mkdir -p "$d"
	case $1 in
	[0-9]*|*:*) san="IP:$1" ;;
	*) san="DNS:$1" ;;
	esac
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=netstick test CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || fail "openssl CA"
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" \
		-keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null || fail "openssl csr"
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$san" > "$d/ext.cnf"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/ext.cnf" -out "$d/server.pem" \
		2>/dev/null || fail "openssl sign"
}

# start_nginx [ssl] [http2] [-- EXTRA-SERVER-DIRECTIVES]
start_nginx() {
	local ssl="" extra="" user="" certs=""
	while [ $# -gt 0 ]; do
		case $1 in
		ssl) ssl=" ssl"
		     certs="ssl_certificate $tmp/tls/server.pem; ssl_certificate_key $tmp/tls/server.key;" ;;
		http2) ssl="$ssl http2" ;;
		--) shift; extra=$*; break ;;
		esac
		shift
	done
	HTTP_PORT=$(free_port)
	mkdir -p "$tmp/nginx" "$tmp/www"
	[ "$(id -u)" -eq 0 ] && user="user root root;"
	cat > "$tmp/nginx/nginx.conf" <<CONF
$user
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 64; }
http {
	access_log $tmp/nginx/access.log;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	types { application/octet-stream img; }
	${NGINX_HTTP_EXTRA:-}
	server {
		listen 127.0.0.1:$HTTP_PORT$ssl;
		root $tmp/www;
		$certs
		$extra
	}
}
CONF
	nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" 2>>"$tmp/nginx/stderr" &
	_pids+=("$!")
	wait_port "$HTTP_PORT"
}

start_badhttp() {
	HTTP_PORT=$(free_port)
	python3 "$here/badhttp.py" "$HTTP_PORT" "$1" "$2" 2>>"$tmp/badhttp.log" &
	_pids+=("$!")
	wait_port "$HTTP_PORT"
}

betool() {
	"$BETOOL" "$@" > "$tmp/out" 2>&1
	local rc=$?
	cat "$tmp/out"
	return $rc
}

expect() {
	grep -Eq "$1" "$tmp/out" || fail "expected a line matching: $1"
}
