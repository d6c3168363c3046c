#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# Reading a whole nbdkit file export in 128 KiB calls gives the file.

requires nbdkit
make_image "$tmp/img" 16M
start_nbdkit file "$tmp/img"
betool nbd://127.0.0.1:$NBD_PORT/ readall 128K "$tmp/got" || fail "betool failed"
cmp "$tmp/img" "$tmp/got" || fail "data differs"
