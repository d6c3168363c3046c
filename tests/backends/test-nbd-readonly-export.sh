#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A read-only export opens write-protected; writes get BE_EROFS.

requires nbdkit
make_image "$tmp/img" 1M
start_nbdkit -r file "$tmp/img"
betool nbd://127.0.0.1:$NBD_PORT/ info write 0 4096 "$tmp/img" && fail "write succeeded"
expect "^size 1048576 readonly 1"
expect "^write: BE_EROFS"
