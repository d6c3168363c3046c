#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A write cut by a lost connection is never reported as done.

requires nbdkit
make_image "$tmp/ref" 1M
start_nbdkit --filter=delay memory 4M wdelay=3
"$BETOOL" nbd://127.0.0.1:$NBD_PORT/ write 0 1M "$tmp/ref" > "$tmp/out" 2>&1 &
bt=$!; _pids+=("$bt")
sleep 1
stop_pid "$NBD_PID"
wait "$bt" && fail "betool reported success"
cat "$tmp/out"
expect "^write: BE_ERETRY"
