#!/usr/bin/env bash
. "$(dirname "$0")/functions.sh"
# Malformed URLs and bad options are clear open errors.

betool 'http://' info && fail 'opened'
expect '^open: (malformed http URL|no host)'
betool 'https://exa mple.com/x' info && fail 'opened'
expect '^open: .*malformed (https )?URL'
betool 'http://127.0.0.1:1/x#colour=1' info && fail 'opened'
expect 'unknown option "colour"'
betool -o 'insecure=perhaps' 'https://127.0.0.1:1/x' info && fail 'opened'
expect 'option insecure: must be true or false'
betool 'gopher://127.0.0.1/x' info && fail 'opened'
expect '^open: unsupported media source scheme'
