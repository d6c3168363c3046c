#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A server that always cuts bodies short: BE_EIO_READ within the deadline.

requires python3
make_image "$tmp/img" 1M
start_badhttp short "$tmp/img"
betool -o timeout-ms=2000 http://127.0.0.1:$HTTP_PORT/disk.img read 0 64K "$tmp/got" && fail 'read succeeded'
expect '^read: BE_EIO_READ \(([0-9]|[0-9][0-9]|[0-9][0-9][0-9]|1[0-9][0-9][0-9]|2[0-4][0-9][0-9]) ms\)'
expect 'short body'
