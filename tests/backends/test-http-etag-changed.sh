#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# The object replaced mid-session: reads fail with BE_ECHANGED, never mixed data.

requires nginx
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
start_nginx
"$BETOOL" http://127.0.0.1:$HTTP_PORT/disk.img read 0 64K "$tmp/a" signal "$tmp/s" wait "$tmp/w" \
	read 0 64K "$tmp/b" ready read 1M 4096 "$tmp/b" > "$tmp/out" 2>&1 &
bt=$!; _pids+=("$bt")
for i in $(seq 100); do [ -e "$tmp/s" ] && break; sleep 0.05; done
make_image "$tmp/new" 8M
touch -d '2001-01-01' "$tmp/new"
mv "$tmp/new" "$tmp/www/disk.img"
touch "$tmp/w"
wait "$bt"
cat "$tmp/out"
expect '^read: ok'
expect '^read: BE_ECHANGED'
expect '^ready: BE_ECHANGED'
[ "$(grep -c '^read: BE_ECHANGED' "$tmp/out")" -eq 2 ] || fail 'the change did not stick'
