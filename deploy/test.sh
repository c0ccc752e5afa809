#!/usr/bin/env bash
# Installs what is missing (Debian packages), builds everything with warnings
# as errors, and runs the whole test suite. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib.sh

need_packages pkg-config libsqlite3-dev libcurl4-openssl-dev libssl-dev sqlite3 nginx openssl \
    python3 python3-venv chromium chromium-driver prometheus \
    systemd jq iproute2 nftables   # prometheus: promtool; systemd: systemd-analyze verify of the unit; jq: deploy/install.sh;
    # iproute2, nftables: the network namespace region tests
need_swift

echo "==> building (warnings are errors)"
swift build --build-tests -Xswiftc -warnings-as-errors

# One process per test target: suites that spawn daemons or time network
# behaviour do not share Swift's cooperative threads with CPU-heavy suites.
mkdir -p .build
failed=()
for target in $(ls Tests | grep "Tests$"); do   # KotoTestSupport is a helper target, not a test target
    echo "==> running $target"
    set +e
    swift test --skip-build --filter "^$target\\." 2>&1 | tee ".build/test-$target.log" \
        | grep -v -E ' started\.?$|^Test (Case|Suite) .* (started|passed)|^✔ Test ("|[^r]|r[^u]).* passed after'
    status=${PIPESTATUS[0]}
    set -e
    [ "$status" -eq 0 ] || failed+=("$target")
done
# End-to-end suites driven from Python (headless Chromium, OpenAPI checks)
# against real daemons, with pinned PyPI packages in a virtual environment.
echo "==> running Tests/python (end to end)"
need_venv .build/venv Tests/python/requirements.txt
set +e
.build/venv/bin/python -m pytest -q -p no:cacheprovider Tests/python 2>&1 | tee .build/test-python.log
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || failed+=("Tests/python")

# libFuzzer on the parsers (HTTP request head, JSON, wire batches, config):
# 60 s each with no crash, leak or hang (deploy/fuzz.sh builds the harnesses).
echo "==> fuzzing the parsers (4 harnesses, 60 s each)"
set +e
deploy/fuzz.sh 60 2>&1 | tee .build/test-fuzz.log
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || failed+=("fuzz")

if [ ${#failed[@]} -gt 0 ]; then
    echo "==> tests FAILED in: ${failed[*]} (logs: .build/test-<target>.log)" >&2
    exit 1
fi
echo "==> all tests passed"
