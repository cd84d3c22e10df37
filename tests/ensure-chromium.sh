#!/bin/sh
# Make sure Debian's Chromium is there for tests/integration/test_campaign_page_browser.py.
# Playwright drives it through executable_path; "playwright install" would download a
# browser of its own, which this project never does.
set -u

# The names the test looks for: Debian's package, and other systems' Chromium builds.
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: installing Debian's chromium"
    # Quiet: the package list and the install each print hundreds of lines otherwise;
    # on failure the last lines are shown, since they name the cause.
    log=$(mktemp)
    if apt-get update -q >"$log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            chromium >>"$log" 2>&1; then
        rm -f "$log"
        exit 0
    else
        status=$?
    fi
    tail -n 20 "$log" >&2
    rm -f "$log"
    exit "$status"
fi

echo "ensure-chromium: no chromium; the campaign page browser test will skip" \
    "(as root: apt-get install --no-install-recommends chromium)"
exit 0
