#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# An EIO from the server is BE_EIO_READ / BE_EIO_WRITE, not a retry.

requires nbdkit
make_image "$tmp/ref" 4096
start_nbdkit --filter=error memory 4M error=EIO error-pread-rate=100% error-pwrite-rate=100%
betool nbd://127.0.0.1:$NBD_PORT/ read 0 4096 "$tmp/a" write 0 4096 "$tmp/ref" ready
expect "^read: BE_EIO_READ"
expect "^write: BE_EIO_WRITE"
expect "^ready: ok"
