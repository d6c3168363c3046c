#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# Odd offsets and lengths: the inclusive range end is right and the copy capped.

requires nginx
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
start_nginx
betool -b 512 http://127.0.0.1:$HTTP_PORT/disk.img read 1 1 "$tmp/got" read 4095 2 "$tmp/got" \
	read 8388607 1 "$tmp/got" read 100000 300001 "$tmp/got" || fail 'betool failed'
for r in '1 1' '4095 2' '8388607 1' '100000 300001'; do
	set -- $r
	cmp <(tail -c +$(($1+1)) "$tmp/www/disk.img" | head -c $2) <(tail -c +$(($1+1)) "$tmp/got" | head -c $2) ||
		fail "bytes $1+$2 differ"
done
grep -q 'Range' "$tmp/nginx/error.log" && fail 'nginx complained about a range'
true
