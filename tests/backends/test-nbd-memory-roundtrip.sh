#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# Write, read back, flush and trim on an nbdkit memory export.

requires nbdkit
make_image "$tmp/ref" 1M
start_nbdkit memory 8M
betool nbd://127.0.0.1:$NBD_PORT/ info write 0 1M "$tmp/ref" writefua 4096 8192 "$tmp/ref" \
	read 0 1M "$tmp/got" flush trim 64K 64K || fail "betool failed"
expect "^size 8388608 readonly 0 flush 1 fua 1 trim 1"
cmp "$tmp/ref" "$tmp/got" || fail "data read back differs"
