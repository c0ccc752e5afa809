#!/usr/bin/env bash
# Installs what is missing (Debian packages), builds everything with warnings
# as errors, and runs the whole test suite. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib.sh

need_packages pkg-config libsqlite3-dev libcurl4-openssl-dev
need_swift

echo "==> building (warnings are errors)"
swift build --build-tests -Xswiftc -warnings-as-errors

echo "==> running tests"
mkdir -p .build
set +e
swift test --skip-build 2>&1 | tee .build/test-output.log | grep -v -E ' started\.?$|^Test (Case|Suite) .* (started|passed)'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "==> tests FAILED (full log: .build/test-output.log)" >&2
    exit "$status"
fi
echo "==> all tests passed"
