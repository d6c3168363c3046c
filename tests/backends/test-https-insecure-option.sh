#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# insecure=1 is the explicit way to skip verification, and it is logged.

requires nginx openssl
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
gen_certs wrong.example
start_nginx ssl
betool -o insecure=1 https://127.0.0.1:$HTTP_PORT/disk.img read 0 4096 "$tmp/got" || fail 'betool failed'
expect 'verification is OFF'
