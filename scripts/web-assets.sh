#!/usr/bin/env bash
# Install the WebUI's browser libraries from the npm registry (names and versions from
# web/package.json and web/package-lock.json) and copy what the pages load into
# web/static/vendor/ (git-ignored). Installs nodejs/npm with apt when missing (as root).
# Safe to run again: it does nothing when the vendor folder matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/../web"

vendor=static/vendor
stamp="$vendor/.lock-sha256"
want=$(sha256sum package-lock.json | cut -c1-64)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "web-assets: npm is missing; install it as root: apt-get install -y nodejs npm" >&2
    exit 1
  fi
  echo "web-assets: installing nodejs and npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

echo "web-assets: npm ci (web/package-lock.json)"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

rm -rf "$vendor"
mkdir -p "$vendor/novnc" "$vendor/xterm"
cp node_modules/htmx.org/dist/htmx.min.js "$vendor/htmx.min.js"
# noVNC is a set of ES modules: its core (and the vendored pako it imports) as shipped.
cp -r node_modules/@novnc/novnc/core "$vendor/novnc/core"
cp -r node_modules/@novnc/novnc/vendor "$vendor/novnc/vendor"
cp node_modules/@xterm/xterm/lib/xterm.js node_modules/@xterm/xterm/css/xterm.css "$vendor/xterm/"
cp node_modules/@xterm/addon-fit/lib/addon-fit.js "$vendor/xterm/"
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css "$vendor/"
echo "$want" > "$stamp"
echo "web-assets: done: web/static/vendor"
