#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A 1 MiB read is split into several range requests in flight.

requires nginx
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
start_nginx
betool -o connections=4 http://127.0.0.1:$HTTP_PORT/disk.img read 0 1M "$tmp/got" || fail 'betool failed'
n=$(grep -c 'GET /disk.img' "$tmp/nginx/access.log")
[ "$n" -ge 5 ] || fail "expected the probe + 4 pieces, nginx saw $n GETs"
