#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A multi-conn export gets several connections, used round robin.

requires nbdkit
make_image "$tmp/img" 4M
start_nbdkit --filter=log file "$tmp/img" logfile="$tmp/log"
betool -d -o connections=4 nbd://127.0.0.1:$NBD_PORT/ readall 256K "$tmp/got" || fail "betool failed"
expect "4 connection\\(s\\)"
cmp "$tmp/img" "$tmp/got" || fail "data differs"
n=$(grep -o "connection=[0-9]*" "$tmp/log" | sort -u | wc -l)
[ "$n" -ge 4 ] || fail "reads went over $n connection(s), expected 4"
