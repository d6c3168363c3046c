#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A call needing more than 64 chunks of the server's maximum block size is
# run in several rounds of 64, never with chunks above that maximum (the
# server refuses them: blocksize-error-policy=error).

requires nbdkit
make_image "$tmp/img" 8M
start_nbdkit --filter=log --filter=blocksize-policy file "$tmp/img" \
	blocksize-maximum=16K blocksize-error-policy=error logfile="$tmp/log"
betool nbd://127.0.0.1:$NBD_PORT/ read 1M 4M "$tmp/got" \
	write 0 2M "$tmp/img" || fail "betool failed"
cmp <(tail -c +$((1048576+1)) "$tmp/img" | head -c 4194304) <(tail -c +$((1048576+1)) "$tmp/got") ||
	fail "data differs"
n=$(grep -c " Read id=[0-9]* offset=" "$tmp/log")
[ "$n" -eq 256 ] || fail "expected 256 NBD reads of 16 KiB for 4 MiB, log has $n"
for c in $(grep -Eo "count=0x[0-9a-f]+" "$tmp/log" | sort -u); do
	[ $((${c#count=})) -le 16384 ] || fail "a request of $((${c#count=})) bytes, above the 16 KiB maximum"
done
