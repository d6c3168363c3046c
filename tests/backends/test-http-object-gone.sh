#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# The object deleted mid-session: reads report the medium gone.

requires nginx
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
start_nginx
"$BETOOL" http://127.0.0.1:$HTTP_PORT/disk.img signal "$tmp/s" wait "$tmp/w" \
	read 0 4096 "$tmp/b" > "$tmp/out" 2>&1 &
bt=$!; _pids+=("$bt")
for i in $(seq 100); do [ -e "$tmp/s" ] && break; sleep 0.05; done
rm "$tmp/www/disk.img"; touch "$tmp/w"
wait "$bt"
cat "$tmp/out"
expect '^read: BE_ENOMEDIUM'
