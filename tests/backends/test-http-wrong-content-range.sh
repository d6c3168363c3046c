#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A 206 whose Content-Range is not the range asked for is BE_EIO_READ at once.

requires python3
make_image "$tmp/img" 1M
start_badhttp wrong-range "$tmp/img"
betool http://127.0.0.1:$HTTP_PORT/disk.img read 0 64K "$tmp/got" && fail 'read succeeded'
expect '^read: BE_EIO_READ'
expect 'Content-Range is not the range'
