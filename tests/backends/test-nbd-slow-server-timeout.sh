#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A server slower than the deadline gives BE_ERETRY within ~timeout, not a hang.

requires nbdkit
start_nbdkit --filter=delay memory 4M rdelay=8
betool -o timeout-ms=2000 nbd://127.0.0.1:$NBD_PORT/ read 0 4096 "$tmp/a" && fail "read succeeded"
expect "^read: BE_ERETRY \\((19[0-9][0-9]|2[0-9][0-9][0-9]) ms\\)"
