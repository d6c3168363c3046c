#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A server that ignores Range, with no-range=download: refused without a
# pcache layer; with one, the image is downloaded once into the cache and
# served as it arrives (ready says BE_ERETRY, i.e. BECOMING READY, until
# the first blocks are in; a read past what has arrived waits), every byte
# right; a second open serves it all from the cache without a download.

requires python3
make_image "$tmp/img" 8M
start_badhttp trickle "$tmp/img"
url=http://127.0.0.1:$HTTP_PORT/disk.img
spec="pcache:dir=$tmp/cache,size-mib=32,block-kib=64"
betool -o no-range=download "$url" info && fail 'opened without a cache'
expect '^open: .*needs a pcache layer'
betool -o no-range=bogus -l "$spec" "$url" info && fail 'bad option value'
expect '^open: option no-range: must be refuse or download'
# The last MiB first: it arrives last (about 3 s at 2.6 MB/s).
betool -o no-range=download -l "$spec" "$url" ready retry 100 100 \
	read 7M 1M "$tmp/tail" readall 1M "$tmp/got" pcache-stats
expect '^ready: BE_ERETRY'     # the exit status says so too
expect '^read: ok'
expect '^readall: ok'
cmp "$tmp/got" "$tmp/img" || fail "served bytes differ"
cmp <(tail -c 1048576 "$tmp/img") <(tail -c 1048576 "$tmp/tail") || fail "tail differs"
gets=$(grep -c '"GET ' "$tmp/badhttp.log")
betool -o no-range=download -l "$spec" "$url" ready readall 1M "$tmp/got2" pcache-stats ||
	fail "second open"
expect '^ready: ok'
expect '^pcache: hits 128 misses 0 bytes-next 0 '
cmp "$tmp/got2" "$tmp/img" || fail "second read differs"
# One GET more: the open's range probe, cut after its first bytes.
[ "$(grep -c '"GET ' "$tmp/badhttp.log")" -eq $((gets + 1)) ] || fail "downloaded again"
echo ok
