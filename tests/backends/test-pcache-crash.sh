#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# The persistent cache survives SIGKILL while it fills: nginx serves an
# image, a betool with pcache reads it and is killed -9 at random points
# (five times); then a fresh one reads it all, and every byte must match
# the source, with what was stored before the kills served from the cache
# (hits > 0, fewer bytes from nginx than the image).

requires nginx
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 32M
start_nginx
url=http://127.0.0.1:$HTTP_PORT/disk.img
spec="pcache:dir=$tmp/cache,size-mib=64,block-kib=64"
for i in 1 2 3 4 5; do
	"$BETOOL" -l "inject:delay-ms=3" -l "$spec" "$url" readmt 4 192K "$tmp/part" \
		>"$tmp/kill.out" 2>&1 &
	pid=$!; _pids+=("$pid")
	sleep "0.$((RANDOM % 4 + 2))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
ls "$tmp/cache"/*.map >/dev/null 2>&1 || fail "nothing stored before the kills"
"$BETOOL" -l "$spec" "$url" readall 1M "$tmp/got" pcache-stats >"$tmp/out" 2>&1 ||
	fail "read after the kills"
cmp "$tmp/got" "$tmp/www/disk.img" || fail "served bytes differ from the source"
grep -q '^pcache: hits [1-9]' "$tmp/out" || fail "nothing served from the cache"
next=$(sed -n 's/^pcache: .*bytes-next \([0-9]*\).*/\1/p' "$tmp/out")
[ "$next" -lt $((32 << 20)) ] || fail "everything fetched again ($next bytes)"
# And once more, all from the cache.
"$BETOOL" -l "$spec" "$url" readall 1M "$tmp/got2" pcache-stats >"$tmp/out" 2>&1 ||
	fail "third read"
cmp "$tmp/got2" "$tmp/www/disk.img" || fail "third read differs"
expect '^pcache: hits .* bytes-next 0 '
echo ok
