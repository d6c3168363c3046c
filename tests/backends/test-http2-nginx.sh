#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# HTTPS with HTTP/2 offered by nginx is used as HTTP/2, data correct.

requires nginx openssl
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
gen_certs 127.0.0.1
start_nginx ssl http2
betool -d -o ca-file="$tmp/tls/ca.pem" https://127.0.0.1:$HTTP_PORT/disk.img readall 512K "$tmp/got" || fail 'betool failed'
expect 'HTTP/2'
cmp "$tmp/www/disk.img" "$tmp/got" || fail 'data differs'
grep -q 'HTTP/2.0" 206' "$tmp/nginx/access.log" || fail 'nginx saw no HTTP/2 range request'
