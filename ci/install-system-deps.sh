#!/bin/sh
# System packages the test suite needs beyond PyPI: Debian's chromium, for the tests that look at the HTML
# certification in a browser (tests/report/). Idempotent, and never fails `make test`: where it cannot
# install (not root, no apt-get, no network) it says so and the browser tests skip - or fail under CI=true.
# Usage: sh ci/install-system-deps.sh
set -u

if [ -x /usr/bin/chromium ]; then
    echo "install-system-deps: chromium already installed (/usr/bin/chromium)"
    exit 0
fi
if [ "$(id -u 2>/dev/null)" != 0 ]; then
    echo "install-system-deps: not root, chromium not installed; the browser tests will skip (fail under CI=true)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: no apt-get, chromium not installed; the browser tests will skip (fail under CI=true)"
    exit 0
fi

echo "install-system-deps: installing chromium with apt-get (once; about 30 s)"
log="${TMPDIR:-/tmp}/install-system-deps.log"
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
if { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } </dev/null >"$log" 2>&1 \
    && [ -x /usr/bin/chromium ]; then
    echo "install-system-deps: chromium installed in $(($(date +%s) - start)) s: $(/usr/bin/chromium --version 2>/dev/null)"
else
    echo "install-system-deps: apt-get could not install chromium (log: $log);" \
        "the browser tests will skip (fail under CI=true)"
    tail -n 5 "$log" | sed 's/^/install-system-deps:   /'
fi
exit 0
