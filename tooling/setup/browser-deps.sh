#!/usr/bin/env sh
# The browser the dashboard's end-to-end tests drive (apps/llm-serve/test/e2e, through playwright-core): Debian's
# `chromium` package. Installed with apt where missing and we are root; otherwise the browser tests skip with a
# visible reason (or set CHROMIUM_PATH to a Chromium/Chrome binary). Never fails the command it runs in.
if [ "$(uname -s)" != "Linux" ]; then exit 0; fi
if [ -n "$CHROMIUM_PATH" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "browser tests: installing Chromium (Debian's chromium package)…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null) ||
    echo "browser tests: apt-get failed; the dashboard's browser tests will be skipped (they say why)."
else
  echo "browser tests: Chromium is missing and apt-get is not available as root;"
  echo "               install chromium (or set CHROMIUM_PATH) to run the dashboard's browser tests (they skip otherwise)."
fi
exit 0
