#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# An export without multi-conn gets exactly one connection.

requires nbdkit
start_nbdkit --filter=multi-conn memory 4M multi-conn-mode=disable
betool -d -o connections=4 nbd://127.0.0.1:$NBD_PORT/ info || fail "betool failed"
expect "1 connection\\(s\\)"
