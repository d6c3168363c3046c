#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# The inject layer over a file image: delay-ms slows each read, write
# delays and open delays too, and error-rate fails about that fraction of
# reads with BE_EIO_READ, the same ones for the same seed.

make_image "$tmp/img" 1M
betool -l inject:open-delay-ms=300,delay-ms=100,write-delay-ms=150 "$tmp/img" \
	read 0 4K "$tmp/a" write 0 4K "$tmp/a" || fail 'betool failed'
t() { sed -nE "s/^$1: ok \(([0-9]+) ms\)/\1/p" "$tmp/out"; }
[ "$(t open)" -ge 300 ] || fail "open took $(t open) ms, expected >= 300"
[ "$(t read)" -ge 100 ] || fail "read took $(t read) ms, expected >= 100"
[ "$(t write)" -ge 150 ] || fail "write took $(t write) ms, expected >= 150"

fails() { sed -nE 's/^readmt: ([0-9]+) x BE_EIO_READ/\1/p' "$tmp/out"; }
betool -l inject:error-rate=0.25,seed=42 "$tmp/img" readmt 4 4K "$tmp/b"
a=$(fails)
betool -l inject:error-rate=0.25,seed=42 "$tmp/img" readmt 4 4K "$tmp/b"
b=$(fails)
echo "failed reads: $a and $b of 256"
[ -n "$a" ] && [ "$a" -ge 40 ] && [ "$a" -le 90 ] || fail "expected ~64 of 256 reads to fail, got '$a'"
[ "$a" = "$b" ] || fail "same seed, different failures: $a vs $b"
betool -l inject:error-rate=0 "$tmp/img" readmt 4 4K "$tmp/c" || fail 'error-rate=0 failed'
cmp "$tmp/img" "$tmp/c" || fail 'data differs through the layer'
betool -l inject:bogus=1 "$tmp/img" info
[ $? -eq 2 ] || fail 'a bad layer option must fail the open'
expect '^open: layer inject: unknown option "bogus"'
