#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# FUA writes carry the NBD FUA flag; flush and trim reach the server.

requires nbdkit
make_image "$tmp/ref" 64K
start_nbdkit --filter=log memory 4M logfile="$tmp/log"
betool nbd://127.0.0.1:$NBD_PORT/ writefua 0 64K "$tmp/ref" flush trim 0 64K || fail "betool failed"
grep -q "Write id=.*fua=1" "$tmp/log" || fail "no FUA write in the server log"
grep -q "Flush id=" "$tmp/log" || fail "no flush in the server log"
grep -q "Trim id=" "$tmp/log" || fail "no trim in the server log"
