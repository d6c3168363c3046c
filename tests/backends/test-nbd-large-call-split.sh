#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# One 4 MiB call is split into many requests in flight and reassembled.

requires nbdkit
make_image "$tmp/img" 8M
start_nbdkit --filter=log file "$tmp/img" logfile="$tmp/log"
betool -o chunk-size=65536 nbd://127.0.0.1:$NBD_PORT/ read 2M 4M "$tmp/got" || fail "betool failed"
cmp <(tail -c +$((2*1048576+1)) "$tmp/img" | head -c 4194304) <(tail -c +$((2*1048576+1)) "$tmp/got") ||
	fail "data differs"
n=$(grep -c "Read id=" "$tmp/log")
[ "$n" -ge 64 ] || fail "expected >= 64 NBD reads for 4 MiB in 64 KiB chunks, log has $n"
