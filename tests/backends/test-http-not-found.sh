#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A 404 at open is a clear open error.

requires nginx
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
start_nginx
betool http://127.0.0.1:$HTTP_PORT/nope.img info && fail 'opened'
expect '^open: http://127.0.0.1:[0-9]+/nope.img: HEAD: HTTP 404'
