#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# Server killed and restarted mid-read: BE_ERETRY while down, data correct after.

requires nbdkit
make_image "$tmp/img" 8M
start_nbdkit --filter=delay file "$tmp/img" rdelay=20ms
port=$NBD_PORT
"$BETOOL" nbd://127.0.0.1:$port/ retry 200 50 signal "$tmp/started" readall 128K "$tmp/got" \
	> "$tmp/out" 2>&1 &
bt=$!; _pids+=("$bt")
for i in $(seq 100); do [ -e "$tmp/started" ] && break; sleep 0.05; done
sleep 0.3
stop_pid "$NBD_PID"
sleep 1
start_nbdkit -p "$port" --filter=delay file "$tmp/img" rdelay=20ms
wait "$bt" || fail "betool failed after the restart"
cmp "$tmp/img" "$tmp/got" || fail "data differs after reconnect"
grep -q "connection .* lost" "$tmp/out" || fail "the connection was never lost"
