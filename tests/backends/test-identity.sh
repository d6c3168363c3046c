#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# backend_identity(): HTTP names the object without its secrets and pins
# size + ETag + Last-Modified; a replaced object has another identity with
# the same source line.  NBD: export URI + size + a content sample that a
# different image changes.  Files: device, inode, size, mtime.

requires nginx nbdkit
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
start_nginx
"$BETOOL" "http://user:hunter2@127.0.0.1:$HTTP_PORT/disk.img?token=s3cret" identity >"$tmp/out" 2>&1 ||
	fail "identity failed"
expect "^identity: source=http://\*\*\*@127.0.0.1:$HTTP_PORT/disk.img\?token=\*\*\*$"
expect '^identity: size=8388608$'
expect '^identity: etag="'
expect '^identity: last-modified='
expect '^identity-strength: strong'
grep -q 'hunter2\|s3cret' "$tmp/out" && fail "a secret in the identity"
grep '^identity: ' "$tmp/out" >"$tmp/id1"
make_image "$tmp/new" 8M; touch -d '2001-01-01' "$tmp/new"; mv "$tmp/new" "$tmp/www/disk.img"
"$BETOOL" "http://127.0.0.1:$HTTP_PORT/disk.img" identity >"$tmp/out" 2>&1 || fail "identity 2"
grep '^identity: ' "$tmp/out" >"$tmp/id2"
cmp -s "$tmp/id1" "$tmp/id2" && fail "a replaced object kept its identity"
[ "$(sed -n 2p "$tmp/id1")" = "$(sed -n 2p "$tmp/id2")" ] || fail "size line differs"

make_image "$tmp/a.img" 4M; make_image "$tmp/b.img" 4M
start_nbdkit -r file "$tmp/a.img"
"$BETOOL" "nbd://127.0.0.1:$NBD_PORT" identity >"$tmp/out" 2>&1 || fail "nbd identity"
expect "^identity: source=nbd://127.0.0.1:$NBD_PORT$"
expect '^identity: size=4194304$'
expect '^identity: sample=[0-9a-f]{32}$'
sa=$(grep sample= "$tmp/out")
stop_pid "$NBD_PID"
start_nbdkit -r file "$tmp/b.img"
"$BETOOL" "nbd://127.0.0.1:$NBD_PORT" identity >"$tmp/out" 2>&1 || fail "nbd identity 2"
[ "$sa" != "$(grep sample= "$tmp/out")" ] || fail "another image, same NBD sample"

"$BETOOL" -r "$tmp/a.img" identity >"$tmp/out" 2>&1 || fail "file identity"
expect '^identity: source=file:[0-9]+:[0-9]+$'
expect '^identity: mtime=[0-9]+\.[0-9]{9}$'
"$BETOOL" memory:1M identity >"$tmp/out" 2>&1 && fail "RAM has an identity"
expect '^identity: BE_EUNSUPP'
echo "ok"
