#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A closed port fails the open with a clear message.

port=$(free_port)
betool -o timeout-ms=1000 http://127.0.0.1:$port/disk.img info && fail 'opened'
expect '^open: http://127.0.0.1:'$port'/disk.img: HEAD: .*(refused|Failed to connect)'
