#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A closed port fails the open at once with a clear message.

port=$(free_port)
betool nbd://127.0.0.1:$port/ info && fail "opened"
expect "^open: nbd://127.0.0.1:$port/: .*[Cc]onnection refused \\([0-9]{1,3} ms\\)"
