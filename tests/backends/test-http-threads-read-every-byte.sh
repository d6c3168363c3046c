#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# Eight threads read one HTTP image at once (120 KiB pieces, interleaved):
# every byte arrives where it belongs.

requires nginx
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
start_nginx
betool http://127.0.0.1:$HTTP_PORT/disk.img readmt 8 120K "$tmp/got" ||
	fail 'betool failed'
cmp "$tmp/www/disk.img" "$tmp/got" || fail 'data differs'
