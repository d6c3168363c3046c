#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# HTTPS verified against a test CA given as ca-file (URI fragment and option).

requires nginx openssl
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
gen_certs 127.0.0.1
start_nginx ssl
betool -o ca-file="$tmp/tls/ca.pem" https://127.0.0.1:$HTTP_PORT/disk.img readall 1M "$tmp/got" || fail 'betool failed'
cmp "$tmp/www/disk.img" "$tmp/got" || fail 'data differs'
betool "https://127.0.0.1:$HTTP_PORT/disk.img#ca-file=$tmp/tls/ca.pem" info || fail 'fragment option failed'
