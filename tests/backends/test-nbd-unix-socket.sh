#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# nbd+unix:// with ?socket= reaches an nbdkit on a Unix socket.

requires nbdkit
make_image "$tmp/img" 2M
nbdkit -f -U "$tmp/sock" file "$tmp/img" & _pids+=("$!")
for i in $(seq 100); do [ -S "$tmp/sock" ] && break; sleep 0.1; done
betool "nbd+unix:///?socket=$tmp/sock" readall 128K "$tmp/got" || fail "betool failed"
cmp "$tmp/img" "$tmp/got" || fail "data differs"
