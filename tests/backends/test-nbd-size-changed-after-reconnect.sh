#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# An export back with another size after a reconnect is a media change.

requires nbdkit
start_nbdkit memory 4M
port=$NBD_PORT
"$BETOOL" nbd://127.0.0.1:$port/ read 0 4096 "$tmp/a" signal "$tmp/s" wait "$tmp/w" \
	retry 40 100 read 0 4096 "$tmp/b" ready > "$tmp/out" 2>&1 &
bt=$!; _pids+=("$bt")
for i in $(seq 100); do [ -e "$tmp/s" ] && break; sleep 0.05; done
stop_pid "$NBD_PID"
start_nbdkit -p "$port" memory 8M
touch "$tmp/w"
wait "$bt"
cat "$tmp/out"
expect "^read: BE_ECHANGED"
expect "^ready: BE_ECHANGED"
