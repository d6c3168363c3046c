#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# A qcow2 image served by qemu-nbd reads back as the raw data.

requires qemu-nbd qemu-img
make_image "$tmp/raw" 4M
qemu-img convert -f raw -O qcow2 "$tmp/raw" "$tmp/img.qcow2" || fail "qemu-img"
port=$(free_port)
qemu-nbd -f qcow2 -b 127.0.0.1 -p "$port" -t -e 4 "$tmp/img.qcow2" 2>"$tmp/qemu.log" & _pids+=("$!")
wait_port "$port"
betool nbd://127.0.0.1:$port/ info readall 128K "$tmp/got" write 0 4096 "$tmp/raw" || fail "betool failed"
cmp "$tmp/raw" "$tmp/got" || fail "data differs"
