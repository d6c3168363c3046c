#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# Plain HTTP from nginx: whole image read in 128 KiB calls equals the file.

requires nginx
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
start_nginx
betool http://127.0.0.1:$HTTP_PORT/disk.img info readall 128K "$tmp/got" || fail "betool failed"
expect '^size 8388608 readonly 1 flush 0 fua 0 trim 0'
cmp "$tmp/www/disk.img" "$tmp/got" || fail 'data differs'
