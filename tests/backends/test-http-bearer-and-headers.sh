#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# Bearer token and extra headers from options reach the server.

requires python3
make_image "$tmp/img" 1M
start_badhttp auth "$tmp/img"
betool http://127.0.0.1:$HTTP_PORT/disk.img info && fail 'opened without a token'
expect 'HTTP 401'
betool -o bearer=s3cret -o 'header=X-Test: yes' http://127.0.0.1:$HTTP_PORT/disk.img readall 256K "$tmp/got" ||
	fail 'betool failed'
cmp "$tmp/img" "$tmp/got" || fail 'data differs'
