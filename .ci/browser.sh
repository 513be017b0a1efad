#!/usr/bin/env bash
# Sourced by .ci/run: a real browser for the moderation page's test (tests/test_ui_browser.py). Idempotent.
# Debian's chromium and chromium-driver (apt is skipped when both are there), and axe-core from the npm
# registry into tests/fixtures/axe (gitignored), so the accessibility check needs no CDN at run time.
AXE_CORE_VERSION=4.14.1
AXE_DIR=tests/fixtures/axe
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi
if ! grep -qs "\"version\": \"$AXE_CORE_VERSION\"" "$AXE_DIR/node_modules/axe-core/package.json"; then
    if ! command -v npm >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
    fi
    mkdir -p "$AXE_DIR"
    npm install --prefix "$AXE_DIR" --no-save --no-audit --no-fund --loglevel=error "axe-core@$AXE_CORE_VERSION"
fi
