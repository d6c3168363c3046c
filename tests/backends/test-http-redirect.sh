#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A redirect is followed; a redirect loop is a clear error.

requires nginx
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
start_nginx -- 'location = /old.img { return 302 /disk.img; } location = /loop.img { return 302 /loop.img; }'
betool http://127.0.0.1:$HTTP_PORT/old.img readall 1M "$tmp/got" || fail 'betool failed'
cmp "$tmp/www/disk.img" "$tmp/got" || fail 'data differs'
betool http://127.0.0.1:$HTTP_PORT/loop.img info && fail 'opened a loop'
expect '^open: .*([Mm]aximum|redirect)'
