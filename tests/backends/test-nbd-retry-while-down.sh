#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# While the server is down, reads return BE_ERETRY at once (no hang).

requires nbdkit
make_image "$tmp/img" 1M
start_nbdkit file "$tmp/img"
"$BETOOL" nbd://127.0.0.1:$NBD_PORT/ read 0 4096 "$tmp/a" signal "$tmp/s" wait "$tmp/w" \
	read 0 4096 "$tmp/b" ready > "$tmp/out" 2>&1 &
bt=$!; _pids+=("$bt")
for i in $(seq 100); do [ -e "$tmp/s" ] && break; sleep 0.05; done
stop_pid "$NBD_PID"
touch "$tmp/w"
wait "$bt"
cat "$tmp/out"
expect "^read: BE_ERETRY \\(([0-9]|[0-9][0-9]|[0-9][0-9][0-9]) ms\\)"
expect "^ready: BE_ERETRY"
