#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A certificate for another name is refused even from a trusted CA.

requires nginx openssl
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
gen_certs wrong.example
start_nginx ssl
betool -o ca-file="$tmp/tls/ca.pem" https://127.0.0.1:$HTTP_PORT/disk.img info && fail 'opened'
expect '^open: .*(subject name|does not match|no alternative)'
