#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# HTTP media is read-only: writes and trims are refused with BE_EROFS.

requires nginx
mkdir -p "$tmp/www"; make_image "$tmp/www/disk.img" 8M
start_nginx
betool http://127.0.0.1:$HTTP_PORT/disk.img write 0 4096 "$tmp/www/disk.img" trim 0 4096
expect '^write: BE_EROFS'
expect '^trim: BE_EROFS'
