#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A server that never sends Accept-Ranges: bytes is refused at open.

requires python3
make_image "$tmp/img" 1M
start_badhttp no-accept "$tmp/img"
betool http://127.0.0.1:$HTTP_PORT/disk.img info && fail 'opened'
expect '^open: .*Accept-Ranges'
