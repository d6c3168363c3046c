#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# HTTPS with a certificate from an unknown CA is refused (no silent insecure).

requires nginx openssl
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
gen_certs 127.0.0.1
start_nginx ssl
betool https://127.0.0.1:$HTTP_PORT/disk.img info && fail 'opened'
expect '^open: https://127.0.0.1:[0-9]+/disk.img: HEAD: SSL certificate problem'
