#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# backend_redact hides userinfo and secret-looking parameters, keeps the rest.

check() {
	got=$("$BETOOL" redact "$1")
	[ "$got" = "$2" ] || fail "redact \"$1\": got \"$got\", want \"$2\""
}
check "/var/lib/disk.img" "/var/lib/disk.img"
check "memory:64M" "memory:64M"
check "https://host/a.img" "https://host/a.img"
check "https://bob:pw@host:8443/a.img" "https://***@host:8443/a.img"
check "https://h/a?X-Amz-Signature=abc&X-Amz-Date=1&token=t" "https://h/a?X-Amz-Signature=***&X-Amz-Date=1&token=***"
check "nbds://alice@h/e?tls-psk-file=/k" "nbds://***@h/e?tls-psk-file=***"
check "https://h/a#ca-file=/ca.pem&password=x" "https://h/a#ca-file=/ca.pem&password=***"
check "http://h/p@q" "http://h/p@q"
# Issue 15: the parser every backend uses decides what is userinfo.
check "http:/user:pw@127.0.0.1:18081/disk.img" "http://***@127.0.0.1:18081/disk.img"
check "HTTPS://user:pw@Example.COM/x" "https://***@example.com/x"
check "https:///user:pw@h/x" "https://***@h/x"
check "NBD://bob:pw@h/e" "nbd://***@h/e"
check "https://h/a?bearer=abc&x=1" "https://h/a?bearer=***&x=1"
check "http://a@b@c/x" "http:***"
check "mystery:user:pw@host" "mystery:***"
check "user:pw@host/x" "user:***"
