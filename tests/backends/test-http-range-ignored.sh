#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A server that ignores Range (200, whole body) is refused at open, no full download.

requires python3
make_image "$tmp/img" 64M
start_badhttp ignore-range "$tmp/img"
betool http://127.0.0.1:$HTTP_PORT/disk.img info && fail 'opened'
expect '^open: .*ignored the Range header .* \([0-9]{1,4} ms\)$'
