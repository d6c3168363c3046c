#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# Basic auth from options opens; without it the 401 is clear; the password is never printed.

requires nginx openssl
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
printf 'bob:%s\n' "$(openssl passwd -apr1 hunter2)" > "$tmp/htpasswd"
start_nginx -- "auth_basic netstick; auth_basic_user_file $tmp/htpasswd;"
betool http://127.0.0.1:$HTTP_PORT/disk.img info && fail 'opened without credentials'
expect '^open: .*HTTP 401'
betool -d -o user=bob -o password=hunter2 http://127.0.0.1:$HTTP_PORT/disk.img readall 1M "$tmp/got" || fail 'betool failed'
cmp "$tmp/www/disk.img" "$tmp/got" || fail 'data differs'
betool -d http://bob:hunter2@127.0.0.1:$HTTP_PORT/disk.img read 0 4096 "$tmp/got" || fail 'userinfo failed'
grep -q hunter2 "$tmp/out" && fail 'password printed'
betool "http://127.0.0.1:$HTTP_PORT/disk.img#password=hunter2" info && fail 'accepted a password in the URI fragment'
expect 'is a credential'
