#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# nbds:// with a PSK file (TLS required by the server) reads the export.

requires nbdkit
nbdkit --dump-config | grep -q "^tls=yes" || { echo "SKIP: nbdkit without TLS"; exit 77; }
make_image "$tmp/img" 1M
printf "alice:%s\n" "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n")" > "$tmp/keys.psk"
start_nbdkit --tls=require --tls-psk="$tmp/keys.psk" file "$tmp/img"
betool -o tls-psk-file="$tmp/keys.psk" nbds://alice@127.0.0.1:$NBD_PORT/ readall 128K "$tmp/got" ||
	fail "betool failed"
cmp "$tmp/img" "$tmp/got" || fail "data differs"
betool nbd://127.0.0.1:$NBD_PORT/ info && fail "plain NBD to a TLS-only server opened"
expect "^open: "
