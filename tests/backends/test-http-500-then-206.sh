#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A 500 on each range, then 206 on the retry: reads succeed with correct data.

requires python3
make_image "$tmp/img" 2M
start_badhttp flaky500 "$tmp/img"
betool http://127.0.0.1:$HTTP_PORT/disk.img readall 128K "$tmp/got" || fail 'betool failed'
cmp "$tmp/img" "$tmp/got" || fail 'data differs'
grep -q '" 500 ' "$tmp/badhttp.log" || fail 'the server never sent a 500'
