#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# Malformed and unsupported NBD URIs are clear open errors that leak no password.

betool "nbd://bob:hunter2@[::1" info && fail "opened a malformed URI"
expect "^open: (malformed NBD URI|.*unable to parse URI)"
grep -q hunter2 "$tmp/out" && fail "password in the message"
betool "nbd+vsock:///" info && fail "opened vsock"
expect "^open: unsupported media source scheme"
betool "nbd+unix:///export" info && fail "opened unix without socket"
expect "^open: .*socket"
betool -o colour=blue "nbd://127.0.0.1:1/" info && fail "accepted an unknown option"
expect "^open: unknown option \"colour\""
betool "nbd://127.0.0.1:1/#connections=99" info && fail "accepted 99 connections"
expect "^open: option connections: must be a number in 1..16"
