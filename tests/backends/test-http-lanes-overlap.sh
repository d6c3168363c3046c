#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# Concurrent reads run at the same time, one lane each: against a server
# that sends 1 MiB/s per connection, 4 threads read 2 MiB about 4 times
# faster with lanes=4 than with lanes=1 (where calls queue for the lane).

requires nginx
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 2M
start_nginx -- "limit_rate 1m;"
ms() { sed -nE 's/^readmt: ok \(([0-9]+) ms\)/\1/p' "$tmp/out"; }
betool -o lanes=1 http://127.0.0.1:$HTTP_PORT/disk.img readmt 4 128K "$tmp/got1" ||
	fail 'betool lanes=1 failed'
one=$(ms)
betool -o lanes=4 http://127.0.0.1:$HTTP_PORT/disk.img readmt 4 128K "$tmp/got4" ||
	fail 'betool lanes=4 failed'
four=$(ms)
cmp "$tmp/www/disk.img" "$tmp/got4" || fail 'data differs'
echo "lanes=1: $one ms, lanes=4: $four ms"
[ "$one" -ge 1500 ] || fail "lanes=1 took $one ms: expected >= 1500 (2 MiB at 1 MiB/s)"
[ $((four * 2)) -lt "$one" ] || fail "lanes=4 took $four ms, not under half of $one ms"
