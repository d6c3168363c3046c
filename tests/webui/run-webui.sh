#!/bin/bash
# run-webui.sh — `make check-webui`: the web UI in headless Debian chromium
# with playwright-core (installed here from package-lock.json; no browser
# download).  Screenshots: build/webui-artifacts/.
#
#   tests/webui/run-webui.sh [NAME_REGEX]
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fail() { echo "run-webui: $*"; echo "webui: 0 passed, 1 failed"; exit 1; }
command -v node >/dev/null || fail "node is not installed (tests/install-deps.sh)"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || fail "chromium is not installed (tests/install-deps.sh)"
if [ ! -d "$here/node_modules/playwright-core" ]; then
	(cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent) ||
		fail "npm ci failed"
fi
exec timeout -k 10 300 node "$here/webui.test.mjs" "$@"
