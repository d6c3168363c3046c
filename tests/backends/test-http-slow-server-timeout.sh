#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A server slower than the deadline: BE_ERETRY after ~timeout, not a hang.

requires python3
make_image "$tmp/img" 1M
start_badhttp slow "$tmp/img"
betool -o timeout-ms=2000 http://127.0.0.1:$HTTP_PORT/disk.img read 0 64K "$tmp/got" && fail 'read succeeded'
expect '^read: BE_ERETRY \((19[0-9][0-9]|2[0-9][0-9][0-9]) ms\)'
