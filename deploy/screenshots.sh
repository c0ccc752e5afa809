#!/usr/bin/env bash
# Saves a PNG (1280×800) of each view of the web page to docs/screenshots/:
# runs the browser tests (Tests/python/test_web.py) against the five-node demo
# region in headless Chromium, with KOTOSYNC_SCREENSHOTS pointing there.
# Installs what is missing. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib.sh

need_packages pkg-config libsqlite3-dev libcurl4-openssl-dev libssl-dev python3 python3-venv chromium chromium-driver
need_swift

echo "==> building kotosyncd"
swift build --product kotosyncd
need_venv .build/venv Tests/python/requirements.txt
mkdir -p docs/screenshots
echo "==> taking the screenshots (browser tests)"
KOTOSYNC_SCREENSHOTS="$PWD/docs/screenshots" .build/venv/bin/python -m pytest -q -p no:cacheprovider Tests/python/test_web.py
ls -l docs/screenshots
